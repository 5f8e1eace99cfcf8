/* A small socket API over lwIP and the net channels, for kernel code and apps. Errors are
 * negative errno values (lib/errno.h). Addresses and ports are in host order here.
 *
 * Each socket owns a net channel for its flow (a bound UDP port, a listening TCP port, or
 * one TCP connection); the thread that calls into the socket drains it, so lwIP's input
 * for that flow runs in the caller's thread, under the core lock (net/README.md). */
#ifndef NET_SOCKET_H
#define NET_SOCKET_H

#include "lib/compiler.h"

#define SOCK_STREAM 1
#define SOCK_DGRAM 2

#define POLLIN 1
#define POLLOUT 4
#define POLLERR 8
#define POLLHUP 16
#define POLLRDHUP 0x2000 /* TCP: the peer has shut down its side (a FIN came) */

struct sem;

/* sockets at most, open at once in the whole kernel */
#define SOCK_MAX 4096

/* the sockets a wait armed (sock_poll_arm, for sock_poll_disarm); zeroed by its owner */
struct sock_armed {
	uint64_t bits[SOCK_MAX / 64];
};

struct sock_pollfd {
	int fd;
	short events, revents;
	unsigned gen; /* (out) bumped at every event of the socket: a change since the last look */
};

int sock_socket(int type);
int sock_bind(int s, uint32_t ip, uint16_t port);
/* SO_REUSEADDR on a TCP socket (before bind): its port may be bound while connections of
 * an earlier socket on it are still closing or in TIME_WAIT; a second listener on it is
 * still refused (EADDRINUSE at listen). 0, or -EBADF. A UDP socket: nothing. */
int sock_reuseaddr(int s, bool on);
int sock_listen(int s, int backlog);
int sock_accept(int s, uint32_t *ip, uint16_t *port);
int sock_connect(int s, uint32_t ip, uint16_t port);
long sock_send(int s, const void *buf, size_t len);
long sock_recv(int s, void *buf, size_t len);
long sock_sendto(int s, const void *buf, size_t len, uint32_t ip, uint16_t port);
long sock_recvfrom(int s, void *buf, size_t len, uint32_t *ip, uint16_t *port);
int sock_close(int s);
/* A receive with flags: SOCK_PEEK leaves the data there, SOCK_DONTWAIT returns -EAGAIN
 * rather than wait. *full (may be NULL): a datagram's whole length (more than len when it
 * was cut short); for TCP what was returned. */
#define SOCK_PEEK     1
#define SOCK_DONTWAIT 2
long sock_recvmsg(int s, void *buf, size_t len, unsigned flags, uint32_t *ip, uint16_t *port,
		  size_t *full);
/* TCP: how 0 ends reads (what is unread and what comes is dropped; reads give 0), 1 sends
 * a FIN after what is queued (sends give -EPIPE), 2 both. -ENOTCONN when not connected. */
int sock_shutdown(int s, int how);
/* Frees the memory of closed sockets at the end of the table (it is kept while any thread
 * may still hold a closed socket's descriptor: call when none can, as at an app's end). */
void sock_trim(void);
/* timeout_ms < 0: for ever. Returns how many fds have revents, 0 on timeout. */
int sock_poll(struct sock_pollfd *fds, unsigned n, int timeout_ms);
/* sock_poll in parts, for a caller that waits on more than sockets: arm makes every event
 * of these sockets up ps (up to NET_POLLERS waits per socket at once; past that the
 * first one's slot is taken over, and that wait sees the socket when it looks again, as
 * the app's waits do every 50 ms); scan looks without
 * waiting (revents and gen; how many have revents); disarm, before ps goes away, makes
 * sure nothing ups it any more (every socket armed since `armed` was zeroed). */
void sock_poll_arm(const struct sock_pollfd *fds, unsigned n, struct sem *ps,
		   struct sock_armed *armed);
int sock_poll_scan(struct sock_pollfd *fds, unsigned n);
void sock_poll_disarm(struct sem *ps, const struct sock_armed *armed);
/* Blocking calls give up with -ETIMEDOUT after ms (0: never, the default). A connect
 * that timed out stays under way: calling sock_connect again waits for it again. */
int sock_set_timeout(int s, unsigned ms);
/* Datagrams dropped because a socket's queue was full (UDP_Q), all sockets so far. */
uint64_t sock_udp_drops(void);
/* A connection's error (-ECONNREFUSED, -ECONNRESET), 0 when it has none, -EBADF. */
int sock_error(int s);
/* One line of a socket's state (channel, lwIP's TCP state) for diagnostics. */
int sock_describe(int s, char *buf, size_t size);

#endif
