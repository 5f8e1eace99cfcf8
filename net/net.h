/* The network stack: lwIP on every struct netdev, fed through net channels.
 *
 * net_start brings up one lwIP netif per registered netdev (static address from
 * `ip=A.B.C.D[/prefix] gw=A.B.C.D`, else DHCP) and its threads. Then the socket API
 * (net/socket.h) works on any platform. */
#ifndef NET_NET_H
#define NET_NET_H

#include "lib/compiler.h"
#include "net/chan.h"

struct sem;

/* 0 once every netdev has a netif with an address, or -ENODEV (no netdev),
 * -ETIMEDOUT (no DHCP lease in time), -EINVAL (a malformed ip=/gw=). Idempotent. */
int net_start(const char *cmdline, uint64_t deadline);
/* the first netif's address (network order), or 0 */
uint32_t net_addr(void);

/* The core lock: every call into lwIP holds it (a sleeping mutex). net_unlock also sends
 * what lwIP queued for transmission meanwhile, one xmit (one kick) per device. */
void net_lock(void);
void net_unlock(void);

/* Flows: a channel receives the frames of one TCP/UDP flow (remote ip/port 0: any), which
 * the device's receive thread classifies; everything else goes to the net thread. The
 * owner drains it with net_drain (under no lock: it takes the core lock itself). */
#define NET_POLLERS 4

struct flow {
	uint8_t proto;	     /* 6 TCP, 17 UDP */
	uint16_t lport;	     /* network order */
	uint32_t rip;	     /* network order; 0: any */
	uint16_t rport;	     /* network order; 0: any */
	struct chan ch;
	struct sem *wake;    /* upped after a push */
	/* also upped after a push while set: the waits polling this flow's socket at once
	 * (sock_poll_arm; a slot each, atomic) */
	struct sem *poller[NET_POLLERS];
	uint64_t drops;	     /* the channel was full */
};
int net_flow_add(struct flow *f); /* 0, -ENOSPC, or -EEXIST when f is in already */
/* Takes it out of the table; once this returns the receive threads no longer see it.
 * What is left in the channel is processed. */
void net_flow_del(struct flow *f);
/* Returns once no receive thread can still be using a flow's wake or poller pointer
 * read before this call (they finish the batch in hand). */
void net_rx_barrier(void);
/* Feeds what the channel holds to lwIP; returns how many frames. */
unsigned net_drain(struct flow *f);
struct tcp_pcb;
/* The segment size lwIP should make for pcb's data now (socket.c sets it as the pcb's
 * MSS around tcp_write): over a device that cuts TCP segments, as many MSS as one packet
 * holds and a quarter of the congestion window allows, so that a shrinking window still
 * takes whole segments (core.c, TSO_MAX_IP); else the MSS. Under the core lock. */
uint16_t net_tcp_segment(const struct tcp_pcb *pcb);

struct net_stats {
	uint64_t rx_frames, classified, to_default, chan_drops, tx_frames, tx_drops;
	uint64_t tx_waits; /* 1 ms waits for room in a full transmit ring */
	uint64_t feed_drops; /* received frames lwIP could not take (no memory for them) */
	uint64_t tso_gathered; /* TCP segments put into the one before them (core.c: gather) */
	/* TCP segments of many MSS sent (core.c: TSO_MAX_IP), and such split (tcp_unstick) */
	uint64_t big_tcp, big_tcp_split;
	uint64_t acks_merged; /* pure ACKs replaced by a later one while queued (linkoutput) */
	uint64_t tw_reopened; /* SYNs that reopened a connection lwIP kept in TIME_WAIT */
	uint64_t tw_dropped; /* TIME_WAIT connections ended early: more than TW_MAX (core.c) */
	uint64_t large_in;   /* frames in several buffers fed whole (NETDEV_F_LRO) */
	uint64_t large_refused; /* ... refused: not IPv4 to this netif, or over 64 KiB */
	uint64_t arp_refused; /* packets refused with ERR_MEM: the ARP queue was full */
	uint64_t lost_on_purpose; /* TCP frames net_drop_tx=N threw away (a lossy network) */
	uint64_t tcp_isns; /* initial sequence numbers made by RFC 6528 (net_tcp_isn) */
	uint64_t tcp_resets; /* TCP resets sent: connections this end ended at once (linkoutput) */
	uint64_t fin_splits; /* split segments whose first part kept the FIN (tcp_split_unsent_seg) */
	/* net_rx_barrier's waits for a receive thread's batch (poll's end, a flow's removal) */
	uint64_t rx_barrier_waits;
	/* lwIP's: frames it threw away, by reason (etharp_drop: frames of an ethertype lwIP
	 * does not speak, such as the peer's IPv6, which lwIP 2.1 counts there) */
	uint64_t ip_drop, ip_chkerr, ip_lenerr, ip_proterr, udp_chkerr, udp_drop, tcp_chkerr,
		tcp_drop, icmp_drop, link_drop, etharp_drop;
	uint64_t icmp_chkerr;
	uint64_t malformed;		    /* refused by frame_check (net/frame.h) */
	uint64_t malformed_by[16];	    /* ... by verdict */
	/* every broken frame, counted once: malformed + transport checksum errors + what the
	 * devices refused + large frames refused */
	uint64_t dropped;
};
void net_stats(struct net_stats *s);
/* The counters above and each device's, on the console ("net: ..." lines). */
void net_report(void);
/* Waits (until the deadline) for the net thread to have processed what the default
 * channels hold now, so that counters read next include it. */
void net_quiesce(uint64_t deadline);
/* After the app: waits (until the deadline) for every TCP connection to have what was
 * sent on it acknowledged by its peer, its FIN too once closed, as a Linux host keeps
 * sending after close() while the VM here would end at once, losing it. Reports on the
 * console how long it waited and what was left. */
void net_linger(uint64_t deadline);
/* how long the VM waits after an app for its peers (a peer that is there answers in
 * milliseconds) */
#define NET_LINGER_NS (10 * 1000000000ull)

#endif
