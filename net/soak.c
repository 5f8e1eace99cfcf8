/* test=soak: the guest's side of `make soak` (test_matrix/soak.py). The host drives UDP,
 * TCP and HTTP traffic at this one guest at once for up to an hour; the guest serves all
 * three and reports its memory and counters every minute, so that a leak, an error or a
 * drop nobody can account for shows:
 *   UDP echo on ports 7 and 9 (one thread on sock_poll, as test=udp_echo);
 *   the TCP test's server on port 5001 (net/tcp_job.h, tcp_kib= KiB each way, default
 *   256), a thread per connection, at most SOAK_CONNS at a time;
 *   the default HTTP server on port 80 (net/http.h).
 * It prints "soak: serving ..." once all three listen, then "soak: sample ..." lines: one
 * then (ready), one every 60 s after it (1, 2, ...) and one once the servers have stopped
 * (final), each a line of name=value figures (sample()). It stops when the host sends
 * "SOAK END" to port 7 or 9, or after soak_s= seconds (default 3600). Passes when no
 * server saw an error: every connection's data checked, every datagram echoed, no bad
 * frame from the device. */
#include "common/console.h"
#include "common/netdev.h"
#include "common/selftest.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "net/http.h"
#include "net/net.h"
#include "net/socket.h"
#include "net/tcp_job.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define MS 1000000ull
#define SOAK_CONNS 8
#define SOAK_TCP_PORT 5001
#define SAMPLE_MS 60000
#define REPORT_ERRORS 10 /* the first connection errors are printed, the rest counted */

/* the servers' counters: each written by one thread, read by the sampler */
struct soak {
	bool stop, told;
	struct sem wake; /* the main thread's: the host said "SOAK END" */
	uint64_t t0;	 /* clock_ns() when the servers were ready */
	uint64_t kib;
	int udp_fd[2], tcp_fd;
	uint64_t udp, udp_fail;
	uint64_t tcp_conns, tcp_bytes, tcp_wrong, tcp_err;
	struct http_ctl http;
	long http_rc;
};

static struct soak sk;

static void add(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static bool stopping(void)
{
	return __atomic_load_n(&sk.stop, __ATOMIC_ACQUIRE);
}

/* One line the host's script parses: where memory and every counter stand. */
static void sample(const char *what)
{
	struct mm_stats m;
	struct net_stats n;
	uint64_t heap_kib, objs = 0, rx = 0, tx = 0, rx_drop = 0, tx_refused = 0, bad = 0;
	uint64_t t = (clock_ns() - sk.t0) / MS, up = clock_ns() / MS;

	mm_stats(&m);
	net_stats(&n);
	heap_kib = m.heap_large_kib;
	for (unsigned c = 0; c < ARRAY_SIZE(m.heap_slabs); c++) {
		heap_kib += m.heap_slabs[c] * 4;
		objs += m.heap_objects[c];
	}
	for (unsigned i = 0; i < netdev_count(); i++) {
		const struct netdev_stats *s = &netdev_get(i)->st;

		rx += s->rx_packets;
		tx += s->tx_packets;
		rx_drop += s->rx_dropped;
		tx_refused += s->tx_dropped;
		bad += s->rx_bad;
	}
	kprintf("soak: sample %s t=%lu.%03lu up=%lu.%03lu free_pages=%lu free_kib=%lu heap_kib=%lu "
		"heap_objs=%lu rx=%lu tx=%lu rx_drop=%lu tx_refused=%lu bad=%lu malformed=%lu "
		"chan_drop=%lu tx_drop=%lu feed_drop=%lu lwip_drop=%lu sock_drop=%lu other_proto=%lu "
		"udp=%lu "
		"udp_fail=%lu tcp_conns=%lu tcp_kib=%lu tcp_wrong=%lu tcp_err=%lu http=%lu "
		"http_err=%lu tw_reopened=%lu\n",
		what, t / 1000, t % 1000, up / 1000, up % 1000, m.free_kib / 4, m.free_kib,
		heap_kib, objs, rx, tx, rx_drop, tx_refused, bad, n.malformed, n.chan_drops,
		n.tx_drops, n.feed_drops,
		n.ip_drop + n.udp_drop + n.tcp_drop + n.icmp_drop + n.link_drop, sock_udp_drops(),
		n.etharp_drop, get(&sk.udp), get(&sk.udp_fail), get(&sk.tcp_conns),
		get(&sk.tcp_bytes) / 1024, get(&sk.tcp_wrong), get(&sk.tcp_err),
		get(&sk.http.served), get(&sk.http.dropped), n.tw_reopened);
}

/* UDP echo on both ports until stop; "SOAK END" from the host ends the soak */
static int udp_server(void *arg)
{
	static uint8_t buf[2048];
	struct sock_pollfd pf[2] = { { .fd = sk.udp_fd[0], .events = POLLIN },
				     { .fd = sk.udp_fd[1], .events = POLLIN } };

	while (!stopping()) {
		int ready = sock_poll(pf, 2, 1000);

		if (ready < 0) {
			add(&sk.udp_fail, 1);
			thread_sleep(100 * MS);
			continue;
		}
		for (unsigned i = 0; i < 2 && ready > 0; i++) {
			if (!pf[i].revents)
				continue;
			uint32_t ip;
			uint16_t port;
			long len = sock_recvfrom(pf[i].fd, buf, sizeof(buf), &ip, &port);

			if (len < 0) {
				add(&sk.udp_fail, 1);
				continue;
			}
			if (len == 8 && !memcmp(buf, "SOAK END", 8)) {
				if (!__atomic_exchange_n(&sk.told, true, __ATOMIC_ACQ_REL))
					sem_up(&sk.wake);
				continue;
			}
			if (sock_sendto(pf[i].fd, buf, (size_t)len, ip, port) == len)
				add(&sk.udp, 1);
			else
				add(&sk.udp_fail, 1);
		}
	}
	return 0;
}

/* Joins the finished connection threads (all of them, waiting up to 120 s, when `all`):
 * their figures go to the counters, their slots are free again. Returns how many are
 * still running. */
static unsigned reap(struct net_tcp_job *jobs, struct thread **t, bool all)
{
	static unsigned reported;
	unsigned running = 0;

	for (unsigned i = 0; i < SOAK_CONNS; i++) {
		if (!t[i])
			continue;
		bool done = __atomic_load_n(&jobs[i].finished, __ATOMIC_ACQUIRE);

		if (!done && !all) {
			running++;
			continue;
		}
		if (thread_join(t[i], clock_ns() + (done ? 5000 : 120000) * MS, NULL)) {
			kprintf("soak: tcp connection %u still runs after 120 s: got %lu, "
				"sent %lu\n", i, jobs[i].got, jobs[i].sent);
			add(&sk.tcp_err, 1);
			running++;
			continue;
		}
		t[i] = NULL;
		add(&sk.tcp_conns, 1);
		add(&sk.tcp_bytes, jobs[i].got + jobs[i].sent);
		add(&sk.tcp_wrong, jobs[i].bad);
		if (jobs[i].err) {
			add(&sk.tcp_err, 1);
			if (reported++ < REPORT_ERRORS)
				kprintf("soak: tcp connection: %s: %d (%s)\n", jobs[i].what,
					jobs[i].err, jobs[i].state);
		}
	}
	return running;
}

/* The TCP test's server: a connection thread per connection, at most SOAK_CONNS */
static int tcp_server(void *arg)
{
	struct net_tcp_job *jobs = arg;
	struct thread *t[SOAK_CONNS] = { NULL };

	while (!stopping()) {
		reap(jobs, t, false);
		int c = sock_accept(sk.tcp_fd, NULL, NULL);

		if (c == -ETIMEDOUT)
			continue;
		if (c < 0) {
			add(&sk.tcp_err, 1);
			thread_sleep(100 * MS);
			continue;
		}
		unsigned i = 0;

		while (i < SOAK_CONNS && t[i])
			i++;
		if (i == SOAK_CONNS) { /* the host runs fewer: a thread that does not end */
			kprintf("soak: tcp: %u connections at once; refusing one\n", SOAK_CONNS);
			add(&sk.tcp_err, 1);
			sock_close(c);
			continue;
		}
		jobs[i] = (struct net_tcp_job){ .fd = c, .bytes = sk.kib * 1024 };
		t[i] = thread_create("soaktcp", net_tcp_job_run, &jobs[i], CPU_ANY);
		if (!t[i]) {
			add(&sk.tcp_err, 1);
			sock_close(c);
		}
	}
	/* the host has stopped its clients before it said so: what is left ends soon */
	return (int)reap(jobs, t, true);
}

static int http_server(void *arg)
{
	sk.http_rc = http_serve_ctl(80, 0, &sk.http);
	return 0;
}

/* the sockets the servers use: 0 or a negative error */
static int open_sockets(void)
{
	static const uint16_t ports[2] = { 7, 9 };
	int rc;

	for (unsigned i = 0; i < 2; i++) {
		sk.udp_fd[i] = sock_socket(SOCK_DGRAM);
		if (sk.udp_fd[i] < 0)
			return sk.udp_fd[i];
		if ((rc = sock_bind(sk.udp_fd[i], 0, ports[i])))
			return rc;
	}
	sk.tcp_fd = sock_socket(SOCK_STREAM);
	if (sk.tcp_fd < 0)
		return sk.tcp_fd;
	if ((rc = sock_bind(sk.tcp_fd, 0, SOAK_TCP_PORT)) || (rc = sock_listen(sk.tcp_fd, 16)))
		return rc;
	return sock_set_timeout(sk.tcp_fd, 1000); /* accept gives up, so stop is seen */
}

/* Samples once a minute until the host says so or time is up. Returns the last sample's
 * number. */
static unsigned run(uint64_t secs)
{
	uint64_t end = sk.t0 + secs * 1000 * MS;
	unsigned n = 0;

	for (;;) {
		uint64_t next = MIN(end, sk.t0 + (n + 1) * SAMPLE_MS * MS);

		while (!__atomic_load_n(&sk.told, __ATOMIC_ACQUIRE) && clock_ns() < next)
			sem_down(&sk.wake, next);
		uint64_t t = (clock_ns() - sk.t0) / MS;

		if (__atomic_load_n(&sk.told, __ATOMIC_ACQUIRE)) {
			kprintf("soak: the host said SOAK END at t=%lu.%03lu\n", t / 1000,
				t % 1000);
			return n;
		}
		if (clock_ns() >= end) {
			kprintf("soak: time is up at t=%lu.%03lu (soak_s=%lu)\n", t / 1000,
				t % 1000, secs);
			return n;
		}
		char what[16];

		ksnprintf(what, sizeof(what), "%u", ++n);
		sample(what);
	}
}

void selftest_soak(struct result *r, const struct boot_info *bi)
{
	uint64_t secs = 3600;
	struct thread *t[3] = { NULL };
	int (*const fn[3])(void *) = { udp_server, tcp_server, http_server };
	static const char *const names[3] = { "soakudp", "soaktcpd", "soakhttp" };
	int rc = net_start(bi->cmdline, clock_ns() + 30000 * MS);
	struct net_tcp_job *jobs = kcalloc(SOAK_CONNS, sizeof(*jobs));

	sk.kib = 256;
	cmdline_get_u64(bi->cmdline, "soak_s", &secs);
	cmdline_get_u64(bi->cmdline, "tcp_kib", &sk.kib);
	sem_init(&sk.wake, 0);
	EXPECT(r, rc == 0, "the network did not come up: %d", rc);
	EXPECT(r, jobs != NULL, "no memory for the connections");
	if (!r->ok) {
		kfree(jobs);
		return;
	}
	rc = open_sockets();
	EXPECT(r, rc == 0, "the servers' sockets: %d", rc);
	for (unsigned i = 0; i < 3 && r->ok; i++) {
		t[i] = thread_create(names[i], fn[i], i == 1 ? jobs : NULL, CPU_ANY);
		EXPECT(r, t[i] != NULL, "no thread for %s", names[i]);
	}
	for (uint64_t until = clock_ns() + 10000 * MS;
	     r->ok && !__atomic_load_n(&sk.http.ready, __ATOMIC_ACQUIRE) && clock_ns() < until;)
		thread_sleep(10 * MS);
	EXPECT(r, __atomic_load_n(&sk.http.ready, __ATOMIC_ACQUIRE),
	       "the http server did not listen: %ld", sk.http_rc);
	sk.t0 = clock_ns();
	unsigned minutes = 0;

	if (r->ok) {
		sample("ready");
		kprintf("soak: serving udp 7,9, tcp %u (%lu KiB each way), http 80 for at most "
			"%lu s; a sample every %u s\n", SOAK_TCP_PORT, sk.kib, secs,
			SAMPLE_MS / 1000);
		minutes = run(secs);
		/* the listeners as the traffic left them (a leaked backlog slot shows here) */
		char line[320];

		sock_describe(sk.tcp_fd, line, sizeof(line));
		kprintf("soak: tcp listener: %s\n", line);
		sock_describe(sk.http.fd, line, sizeof(line));
		kprintf("soak: http listener: %s\n", line);
	}
	__atomic_store_n(&sk.stop, true, __ATOMIC_RELEASE);
	__atomic_store_n(&sk.http.stop, true, __ATOMIC_RELEASE);
	bool joined = true;

	for (unsigned i = 0; i < 3; i++) {
		int left = 0;

		if (!t[i])
			continue;
		if (thread_join(t[i], clock_ns() + 150000 * MS, &left) || left) {
			EXPECT(r, false, "%s did not end (%d connections left)", names[i], left);
			joined = false;
		}
	}
	for (unsigned i = 0; i < 2; i++)
		sock_close(sk.udp_fd[i]);
	sock_close(sk.tcp_fd);
	if (joined) /* a connection thread that did not end may still write into its job */
		kfree(jobs);
	net_quiesce(clock_ns() + 2000 * MS);
	sample("final");
	net_report();
	uint64_t bad = 0;

	for (unsigned i = 0; i < netdev_count(); i++)
		bad += netdev_get(i)->st.rx_bad;
	EXPECT(r, sk.tcp_wrong == 0, "%lu bytes received wrong", sk.tcp_wrong);
	EXPECT(r, sk.tcp_err == 0, "%lu tcp connections failed", sk.tcp_err);
	EXPECT(r, sk.udp_fail == 0, "%lu datagrams not echoed (a socket error)", sk.udp_fail);
	EXPECT(r, sk.http.dropped == 0, "%lu http requests incomplete", sk.http.dropped);
	EXPECT(r, sk.http_rc >= 0, "the http server failed: %ld", sk.http_rc);
	EXPECT(r, bad == 0, "%lu bad frames from the device", bad);
	result_note(r, "minutes=%u udp=%lu tcp_conns=%lu http=%lu ended_by=%s", minutes, sk.udp,
		    sk.tcp_conns, sk.http.served, sk.told ? "host" : "time");
}
