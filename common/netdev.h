/* Network devices: what every driver (virtio-net, netfront) offers and everything above
 * (the network stack, the tests) uses. One interface on every platform.
 *
 * A packet lives in a page of its own (struct pkt points at it), so a driver can hand the
 * whole page to a device or grant it to a backend without exposing anything else. Each
 * side is single-threaded: one thread transmits and one polls a given device at a time
 * (the net-channel design: the owner thread does the work, interrupts only wake it). */
#ifndef COMMON_NETDEV_H
#define COMMON_NETDEV_H

#include "lib/compiler.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define PKT_HEADROOM 64 /* room in front of data for headers a driver or stack prepends */

struct pkt {
	struct pkt *next; /* free for the owner's lists */
	uint8_t *data;	  /* the frame, from the Ethernet header */
	uint32_t len;
	uint32_t flags;	  /* PKT_* */
	void *page;	  /* the page holding data (page-aligned, PAGE_SIZE << order bytes) */
	uint16_t csum_start, csum_offset; /* PKT_CSUM_PARTIAL: the device completes it */
	uint16_t gso_size; /* tx, non-zero: a TCP segment the device cuts into segments of
			    * this many data bytes (NETDEV_F_TSO4; PKT_CSUM_PARTIAL too) */
	uint8_t order;	   /* pkt_alloc_big's: 2^order pages */
	struct pkt *frag;  /* rx: the frame's next buffer, when the device spread a large
			    * frame over several (NETDEV_F_LRO); len is this buffer's part */
};

/* the whole frame's length: its buffers' together */
static inline uint32_t pkt_frame_len(const struct pkt *p)
{
	uint32_t n = 0;

	for (; p; p = p->frag)
		n += p->len;
	return n;
}

#define PKT_CSUM_PARTIAL 1 /* tx: checksum from csum_start, stored at +csum_offset */
#define PKT_CSUM_OK 2	   /* rx: the device checked it */

/* A packet with an empty frame at PKT_HEADROOM, or NULL when out of memory. pkt_free
 * frees its frag buffers too. */
struct pkt *pkt_alloc(void);
/* The same in 2^order contiguous pages (a segment for TSO), or NULL. */
struct pkt *pkt_alloc_big(unsigned order);
void pkt_free(struct pkt *p);
/* the frame's room: PAGE_SIZE - PKT_HEADROOM (a big packet's: PKT_ROOM) */
#define PKT_MAX (4096 - PKT_HEADROOM)
#define PKT_ROOM(p) ((4096u << (p)->order) - PKT_HEADROOM)

#define NETDEV_F_CSUM_TX 1 /* takes PKT_CSUM_PARTIAL */
#define NETDEV_F_CSUM_RX 2 /* may set PKT_CSUM_OK */
#define NETDEV_F_TSO4 4	   /* takes big packets with gso_size (TCP over IPv4) */
#define NETDEV_F_LRO 8	   /* may receive TCP frames of up to 64 KiB in several buffers
			    * (virtio's GUEST_TSO4, netfront's feature-gso-tcpv4): struct
			    * pkt's frag */
/* the largest such frame: an IPv4 datagram's 64 KiB and the Ethernet header */
#define NETDEV_LRO_MAX (ETH_HLEN + 0xffff)

struct netdev_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t rx_dropped; /* no buffer or no taker */
	uint64_t rx_bad;     /* the device or backend handed back something invalid */
	uint64_t tx_dropped; /* refused: link down, or not sendable */
	uint64_t kicks;	     /* notifications to the device/backend */
	uint64_t irqs;	     /* interrupts or events taken */
	uint64_t rx_large;   /* frames received in more than one buffer (NETDEV_F_LRO) */
	uint64_t tx_stalls;  /* the device took none of our waiting transmissions for 1 s:
			      * reported and notified again (netfront) */
};

struct netdev;

struct netdev_ops {
	/* Queues up to n packets and notifies the device once; takes ownership of those it
	 * queued (it frees them when sent) and returns how many. Fewer than n: the ring is
	 * full (try again after a poll) or the link is down. Completed transmissions are
	 * reaped here and in poll, not by an interrupt per packet. */
	unsigned (*xmit)(struct netdev *d, struct pkt **p, unsigned n);
	/* Up to max received packets, now the caller's; refills the receive ring. */
	unsigned (*poll)(struct netdev *d, struct pkt **p, unsigned max);
	/* Receive interrupts on or off. On: d->notify runs (interrupt context) when packets
	 * may be waiting; the owner then polls until poll returns 0. */
	void (*irq)(struct netdev *d, bool on);
	/* Optional, for busy polling: whether received packets wait for poll. No lock, any
	 * CPU (the idle loop); a wrong "true" costs a poll that finds nothing. */
	bool (*rx_pending)(struct netdev *d);
	/* Optional, for busy polling: an interrupt at the next packet, though the owner
	 * turned them off (a CPU is about to halt while the owner polls: the packet must not
	 * wait for the owner's next look). No lock, any CPU, interrupts off. */
	void (*rx_arm)(struct netdev *d);
	/* Optional, for reports: the rings' indexes as the device and the driver see them,
	 * one line into buf (a stalled ring shows which side stopped). */
	void (*rings)(struct netdev *d, char *buf, unsigned len);
	/* Optional, for test=net_lie: makes the device's shared ring lie as a broken device
	 * or backend would (a response index past our requests), so the test can see the
	 * driver stop, report and let go. 0, or -ENOTCONN while not connected. */
	int (*lie)(struct netdev *d);
};

struct netdev {
	char name[16];
	uint8_t mac[ETH_ALEN];
	uint16_t mtu;
	uint32_t features; /* NETDEV_F_* */
	const struct netdev_ops *ops;
	void (*notify)(struct netdev *d); /* set by the owner */
	void *owner;
	bool link_up; /* false while a backend is away (the driver reconnects) */
	struct netdev_stats st;
	const char *info; /* what the driver negotiated, for reports */
};

/* Drivers register what they found; everything else looks devices up here. */
void netdev_register(struct netdev *d);
unsigned netdev_count(void);
struct netdev *netdev_get(unsigned i);

#endif
