/* lwIP's configuration for Amphi (see net/README.md).
 *
 * NO_SYS=1: lwIP runs no threads of its own. Amphi serialises every call into lwIP with
 * one sleeping mutex, the core lock (net/core.c): the threads that consume net channels
 * run lwIP's input under it, the net thread runs lwIP's timers under it, and the socket
 * calls take it around the raw API. No spinlock is ever held across a preemption point. */
#ifndef AMPHI_LWIPOPTS_H
#define AMPHI_LWIPOPTS_H

#include <stddef.h>

void *kmalloc(size_t size);
void *kcalloc(size_t n, size_t size);
void kfree(void *p);

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0

/* memory: lwIP's heap and pools from the kernel heap */
#define MEM_LIBC_MALLOC 1
#define mem_clib_malloc kmalloc
#define mem_clib_free kfree
#define mem_clib_calloc kcalloc
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define MEMP_NUM_PBUF 512
#define MEMP_NUM_UDP_PCB 32
#define MEMP_NUM_TCP_PCB 64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_TCP_SEG 1024
#define MEMP_NUM_REASSDATA 16
#define MEMP_NUM_SYS_TIMEOUT 16
#define PBUF_POOL_SIZE 256
#define PBUF_POOL_BUFSIZE 1536

/* protocols: IPv4, ARP, ICMP, UDP, TCP, DHCP */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
/* SO_REUSEADDR (SOF_REUSEADDR, set by sock_reuseaddr): a TCP port whose last connections
 * are still closing or in TIME_WAIT can be bound and listened on again, as on Linux */
#define SO_REUSE 1
#define LWIP_DHCP 1
/* No ARP probe of the offered address before using it: lwIP's probe (RFC 2131's SHOULD)
 * waits for 2 ARP requests of 500 ms to go unanswered, a second on every boot with
 * ip=dhcp. The DHCP server of a VM's network (the hypervisor's or the cloud's) hands out
 * addresses it manages; a conflict still shows as lost traffic, not as a silent success. */
#define DHCP_DOES_ARP_CHECK 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_AUTOIP 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
/* Packets for a next hop still being resolved wait in ARP's queue. lwIP's default keeps 3
 * per address and silently frees older ones: an echo server answering a window of 32
 * datagrams from a peer it has not resolved yet lost 29 replies (issue 17). Per address
 * as many as the pool holds, so the pool is the limit, and a full pool refuses the packet
 * with ERR_MEM, which its sender sees and net/core.c counts. */
#define ARP_QUEUEING 1
#define MEMP_NUM_ARP_QUEUE 128
#define ARP_QUEUE_LEN MEMP_NUM_ARP_QUEUE
#define ETHARP_TABLE_MATCH_NETIF 1

/* TCP: 256 KiB windows each way, scaled (net/README.md) */
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2
#define TCP_WND (176 * TCP_MSS)
#define TCP_SND_BUF (176 * TCP_MSS)
#define TCP_SNDLOWAT (16 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 0
#define TCP_LISTEN_BACKLOG 1
#define LWIP_TCP_KEEPALIVE 0
/* initial sequence numbers by RFC 6528 (a clock and a keyed hash of the connection, whose
 * key each boot makes), not lwIP's 6,510 and ticks, which every boot repeats: anyone could
 * predict them and inject into a connection */
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) net_tcp_isn(lip, lport, rip, rport)
/* lwIP counts retransmission timeouts in ticks of its slow timer (2 * TCP_TMR_INTERVAL),
 * and its RTO never falls below 3 ticks however short the round trip: with the default
 * 250 ms timer a lost last segment cost 1.5-2 s (likely why a 16 MiB transfer that takes
 * 0.2 s took 1.7 s now and then; the loss itself was not caught). A 50 ms timer makes the
 * floor 300 ms (Linux: 200 ms) and sends a delayed ACK within 50 ms, as Linux's 40 ms; the
 * timer runs only while TCP is in use. */
#define TCP_TMR_INTERVAL 50

/* checksums generated and checked in software, except where a netif's device does it
 * (net/core.c sets each netif's flags) */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1

#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_HOSTNAME 1
#define LWIP_SINGLE_NETIF 0

/* counters: what was dropped, and why (test=malformed reads them) */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define LINK_STATS 1
#define ETHARP_STATS 1
#define IP_STATS 1
#define ICMP_STATS 1
#define UDP_STATS 1
#define TCP_STATS 1
#define MEM_STATS 0
#define MEMP_STATS 0
#define SYS_STATS 0

#endif
