/* netfront's device state, shared by the driver (netfront.c: connection, requests) and
 * the code that takes the backend's responses (resp.c), which the host tests run against
 * a fake ring. */
#ifndef NETFRONT_NF_H
#define NETFRONT_NF_H

#include "common/hal.h"
#include "common/netdev.h"
#include "hv_xen/ring.h"
#include "sched/sync.h"

#include <xen/io/netif.h>

#define TX_SIZE __CONST_RING_SIZE(netif_tx, PAGE_SIZE)
#define RX_SIZE __CONST_RING_SIZE(netif_rx, PAGE_SIZE)

struct nf {
	struct netdev nd;
	struct xenbus_dev *xb;
	struct mutex lock;
	bool connected;
	netif_tx_front_ring_t tx;
	netif_rx_front_ring_t rx;
	void *tx_page, *rx_page;
	int tx_ring_ref, rx_ring_ref;
	unsigned port;
	struct irq irq;
	bool irq_on;
	struct pkt *tx_pkt[TX_SIZE];
	int tx_ref[TX_SIZE];
	uint16_t tx_free[TX_SIZE];
	unsigned tx_nfree;
	/* the transmit watchdog (tx_watch) */
	RING_IDX tx_seen;	 /* the backend's answers at the last look */
	uint64_t tx_quiet_since; /* since then none, with requests waiting; 0: not waiting */
	uint64_t tx_stall_since; /* a stall was reported (and the backend notified again) */
	struct pkt *rx_pkt[RX_SIZE];
	int rx_ref[RX_SIZE];
	uint16_t rx_free[RX_SIZE];
	unsigned rx_nfree;
	bool rx_skip_extra;
	bool broken; /* the backend lied about a ring's indexes: nothing it says is taken */
	unsigned connects;
	char info[128];
};

/* With the lock held. The transmit responses: each answered packet's grant ends and the
 * packet is freed (its page later, if the backend still maps it). */
void netfront_reap_tx(struct nf *nf);
/* With the lock held. Up to max received packets into pkts (now the caller's), until
 * the ring has no more responses; re-arms the event. */
unsigned netfront_take_rx(struct nf *nf, struct pkt **pkts, unsigned max);
/* A packet whose grant is over: freed now, or its page when the backend lets go. */
void netfront_end_pkt_grant(int ref, struct pkt *p);

#endif
