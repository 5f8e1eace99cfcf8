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
#define NF_TX_END 0xffff
#define NF_TX_ANSWERED 1 /* the slot's response came */
#define NF_TX_FAILED 2	 /* at the head: a slot of the packet was refused */

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
	/* Each transmit slot's buffer id: the packet it is part of, its page's grant. A large
	 * packet takes a slot (an id) per page, chained from its first by tx_next; the first
	 * id (the head) counts its slots not yet answered. All its ids are held until every
	 * slot is answered: the pages may be the backend's until then. */
	struct pkt *tx_pkt[TX_SIZE];
	int tx_ref[TX_SIZE];
	uint16_t tx_next[TX_SIZE]; /* the packet's next slot's id, or NF_TX_END */
	uint16_t tx_head[TX_SIZE]; /* the packet's first slot's id */
	uint8_t tx_left[TX_SIZE];  /* at the head: slots not yet answered */
	uint8_t tx_state[TX_SIZE]; /* NF_TX_* */
	uint16_t tx_free[TX_SIZE];
	unsigned tx_nfree;
	unsigned tx_extras; /* extra-info slots sent and not yet answered (NETIF_RSP_NULL) */
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
	bool tso; /* the backend takes feature-sg and feature-gso-tcpv4: we send large packets */
	bool want_tso; /* the xnet_tso option */
	bool irq_on;
	/* busy polling's looks from an idle CPU (nf_rx_pending, nf_rx_arm), without the
	 * lock: each queue's receive ring (NULL while down) and how far we took it */
	netif_rx_sring_t *pend_ring[NF_MAX_QUEUES];
	RING_IDX pend_cons[NF_MAX_QUEUES];
	unsigned rx_next; /* the queue poll looks at first */
	unsigned nq; /* queue pairs in q (kcalloc'd while connected) */
	struct nfq *q;
	unsigned want_queues; /* the xnet_queues option: 0 = one per vCPU */
	bool want_split;      /* the xnet_split option */
	unsigned connects;
	char info[160];
};

/* With the lock held. The transmit responses: a packet whose slots are all answered has
 * its grants ended and is freed (netfront_tx_free). */
void netfront_reap_tx(struct nfq *q);
/* Buffer id, granted by ref, in flight as a slot of packet p after the slot of id prev
 * (NF_TX_END: its first). */
static inline void netfront_tx_slot(struct nfq *q, uint16_t id, uint16_t prev, struct pkt *p,
				    int ref)
{
	uint16_t head = prev == NF_TX_END ? id : q->tx_head[prev];

	q->tx_pkt[id] = p;
	q->tx_ref[id] = ref;
	q->tx_next[id] = NF_TX_END;
	q->tx_head[id] = head;
	q->tx_state[id] = 0;
	if (prev == NF_TX_END) {
		q->tx_left[id] = 1;
	} else {
		q->tx_next[prev] = id;
		q->tx_left[head]++;
	}
}
/* With the lock held: the packet whose first slot is head goes, answered or not (a queue
 * torn down): its grants end and it is freed, or each page the backend still maps is kept
 * until it lets go; its ids are free again. */
void netfront_tx_free(struct nfq *q, uint16_t head);
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
