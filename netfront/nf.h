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
#define NF_MAX_QUEUES 8
/* the data slots of one received packet we take: 64 KiB in pages, and one more for an
 * offset (Xen's XEN_NETIF_NR_SLOTS_MIN is 18) */
#define NF_RX_MAX_SLOTS 18

struct nf;

/* One queue pair (xen/io/netif.h "Multiple transmit and receive queues"): a tx and an rx
 * ring, and one event channel for both or one each (feature-split-event-channels). */
struct nfq {
	struct nf *nf;
	unsigned index;
	netif_tx_front_ring_t tx;
	netif_rx_front_ring_t rx;
	void *tx_page, *rx_page;
	int tx_ring_ref, rx_ring_ref;
	unsigned tx_port, rx_port; /* the same port unless split */
	struct irq tx_irq, rx_irq;
	bool tx_bound, rx_bound;
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
	/* the buffer id posted at each request slot: an extra-info response takes a slot's
	 * request without naming its buffer, which then goes back to the free list */
	uint16_t rx_id_at[RX_SIZE];
	bool rx_skip_extra; /* the next response slot is an extra-info, not a packet */
	bool rx_drop_frags; /* the next slots continue a dropped packet (more-data) */
	/* a packet in several slots being put together (feature-sg): its buffers so far,
	 * chained by frag, their grants ended */
	struct pkt *rx_head, *rx_tail;
	unsigned rx_slots;
	uint64_t tx_packets, rx_packets;
};

struct nf {
	struct netdev nd;
	struct xenbus_dev *xb;
	struct mutex lock;
	bool connected;
	bool broken; /* the backend lied about a ring's indexes: nothing it says is taken */
	bool gave_up; /* ... and it was told (our state Closing) */
	bool split;  /* separate tx and rx event channels */
	bool multi_queue_offered; /* the backend says multi-queue-max-queues */
	bool sg; /* we offer feature-sg and feature-gso-tcpv4: large packets in several slots */
	bool irq_on;
	unsigned rx_next; /* the queue poll looks at first */
	unsigned nq; /* queue pairs in q (kcalloc'd while connected) */
	struct nfq *q;
	unsigned want_queues; /* the xnet_queues option: 0 = one per vCPU */
	bool want_split;      /* the xnet_split option */
	unsigned connects;
	char info[160];
};

/* With the lock held. The transmit responses: each answered packet's grant ends and the
 * packet is freed (its page later, if the backend still maps it). */
void netfront_reap_tx(struct nfq *q);
/* With the lock held. Up to max received packets into pkts (now the caller's), until
 * the ring has no more responses; re-arms the event. With nf->sg a packet may take
 * several slots (and extra-info slots after its first): it comes as one struct pkt
 * chained by frag, at most NF_RX_MAX_SLOTS slots and NETDEV_LRO_MAX bytes, else dropped
 * whole (counted in rx_bad), as one with a bad slot. */
unsigned netfront_take_rx(struct nfq *q, struct pkt **pkts, unsigned max);
/* A packet whose grant is over: freed now, or its page when the backend lets go. */
void netfront_end_pkt_grant(int ref, struct pkt *p);
/* The transmit queue of an Ethernet frame of len bytes among nq: IPv4 TCP and UDP by
 * addresses and ports (fragments by addresses only), other IPv4 by addresses, anything
 * else queue 0. One flow always takes one queue, so its packets stay in order. */
unsigned netfront_flow_queue(const uint8_t *frame, uint32_t len, unsigned nq);

#endif
