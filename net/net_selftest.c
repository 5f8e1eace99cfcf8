/* Guest tests of the network stack, the same on every platform (lwIP over any netdev):
 *   udp_echo: an echo server on UDP port 7 until the host side says "BYE"; passes when
 *             udp_count= (default 10000) datagrams were echoed.
 * The host side (tools/netclient.c in the test's namespace or in dom0) starts once the guest prints
 * "net: udp echo ready". */
#include "common/console.h"
#include "common/netdev.h"
#include "common/selftest.h"
#include "mm/mm.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "net/net.h"
#include "net/frame.h"
#include "net/http.h"
#include "net/socket.h"
#include "net/tcp_job.h"
#include "sched/sched.h"

#define MS 1000000ull

/* test=udp_echo: one thread serves UDP ports 7 and 9 through sock_poll and echoes every
 * datagram from the port it came to, until "BYE"; the client alternates between the two
 * ports, so both must be seen ready, one at a time and together. */
void selftest_udp_echo(struct result *r, const struct boot_info *bi)
{
	static const uint16_t ports[2] = { 7, 9 };
	uint64_t want = 10000, n = 0, bytes = 0, per[2] = { 0, 0 }, polls = 0, both = 0;
	static uint8_t buf[2048];
	struct sock_pollfd pf[2];
	int rc = net_start(bi->cmdline, clock_ns() + 30000 * MS);
	bool bye = false;

	cmdline_get_u64(bi->cmdline, "udp_count", &want);
	EXPECT(r, rc == 0, "the network did not come up: %d", rc);
	if (rc)
		return;
	for (unsigned i = 0; i < 2; i++) {
		int s = sock_socket(SOCK_DGRAM);

		pf[i] = (struct sock_pollfd){ .fd = s, .events = POLLIN };
		EXPECT(r, s >= 0, "socket: %d", s);
		if (s < 0)
			return;
		rc = sock_bind(s, 0, ports[i]);
		EXPECT(r, rc == 0, "bind to port %u: %d", ports[i], rc);
	}
	kprintf("net: udp echo ready on ports 7 and 9\n");
	while (r->ok && !bye) {
		int ready = sock_poll(pf, 2, 60000);

		polls++;
		if (ready <= 0) {
			EXPECT(r, false, "poll after %lu datagrams: %d", n, ready);
			break;
		}
		EXPECT(r, ready == (pf[0].revents != 0) + (pf[1].revents != 0),
		       "poll said %d, revents %x %x", ready, pf[0].revents, pf[1].revents);
		both += ready == 2;
		for (unsigned i = 0; i < 2 && !bye; i++) {
			if (!pf[i].revents)
				continue;
			EXPECT(r, pf[i].revents == POLLIN, "port %u: revents %x", ports[i],
			       pf[i].revents);
			uint32_t ip;
			uint16_t port;
			long len = sock_recvfrom(pf[i].fd, buf, sizeof(buf), &ip, &port);

			if (len < 0) {
				EXPECT(r, false, "recvfrom after %lu datagrams: %ld", n, len);
				break;
			}
			if (len == 3 && !memcmp(buf, "BYE", 3)) {
				bye = true;
				break;
			}
			long sent = sock_sendto(pf[i].fd, buf, (size_t)len, ip, port);

			EXPECT(r, sent == len, "sendto: %ld", sent);
			n++;
			per[i]++;
			bytes += (uint64_t)len;
		}
	}
	sock_close(pf[0].fd);
	sock_close(pf[1].fd);
	kprintf("net: udp echoed %lu datagrams (port 7: %lu, port 9: %lu), %lu bytes; %lu polls, "
		"%lu with both ports ready\n", n, per[0], per[1], bytes, polls, both);
	net_report();
	EXPECT(r, n >= want, "echoed %lu datagrams, %lu expected", n, want);
	EXPECT(r, per[0] && per[1], "a port saw nothing: %lu and %lu", per[0], per[1]);
	result_note(r, "echoed=%lu bytes=%lu polls=%lu", n, bytes, polls);
}

/* test=tcp: a server on port 5001 takes tcp_conns= (10) connections, each on its own
 * thread, with tcp_kib= (8192) KiB each way of the protocol in net/tcp_job.h. The client's
 * summary line says how it went from its side. */
#define TCP_PORT 5001

static uint64_t tcp_progress(const struct net_tcp_job *jobs, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += __atomic_load_n(&jobs[i].got, __ATOMIC_RELAXED) +
		       __atomic_load_n(&jobs[i].sent, __ATOMIC_RELAXED);
	return sum;
}

/* Waits for the workers. Whenever no byte has moved for 20 s it prints every open
 * connection's state; after TCP_GIVE_UP_S without progress it gives up on the rest (their
 * sockets time out after 60 s of silence, so this means a worker is stuck elsewhere). */
#define TCP_GIVE_UP_S 150

static void tcp_wait(struct result *r, struct net_tcp_job *jobs, struct thread **t, unsigned n)
{
	uint64_t last = tcp_progress(jobs, n), since = clock_ns();
	unsigned dumps = 0;
	char line[320];

	for (unsigned i = 0; i < n;) {
		if (thread_join(t[i], clock_ns() + 1000 * MS, NULL) == 0) {
			EXPECT(r, jobs[i].err == 0, "connection %u: %s: %d (%s)", i, jobs[i].what,
			       jobs[i].err, jobs[i].state);
			i++;
			continue;
		}
		uint64_t now = clock_ns(), p = tcp_progress(jobs, n);

		if (p != last) {
			last = p;
			since = now;
			dumps = 0;
			continue;
		}
		if ((now - since) / (1000 * MS) >= 20 * (dumps + 1)) {
			dumps++;
			kprintf("net: tcp: no progress for %lu s\n", (uint64_t)((now - since) / (1000 * MS)));
			for (unsigned c = 0; c < n; c++) {
				if (__atomic_load_n(&jobs[c].finished, __ATOMIC_ACQUIRE))
					continue;
				sock_describe(jobs[c].fd, line, sizeof(line));
				kprintf("net: tcp: connection %u: got %lu sent %lu; %s\n", c,
					__atomic_load_n(&jobs[c].got, __ATOMIC_RELAXED),
					__atomic_load_n(&jobs[c].sent, __ATOMIC_RELAXED), line);
				if (dumps == 1)
					sched_dump(t[c]);
			}
		}
		if (now - since >= TCP_GIVE_UP_S * 1000 * MS) {
			EXPECT(r, false, "connection %u stalled for %u s: got %lu sent %lu", i,
			       TCP_GIVE_UP_S, jobs[i].got, jobs[i].sent);
			return;
		}
	}
}

void selftest_tcp(struct result *r, const struct boot_info *bi)
{
	uint64_t conns = 10, kib = 8192;
	int rc = net_start(bi->cmdline, clock_ns() + 30000 * MS);

	cmdline_get_u64(bi->cmdline, "tcp_conns", &conns);
	cmdline_get_u64(bi->cmdline, "tcp_kib", &kib);
	EXPECT(r, rc == 0, "the network did not come up: %d", rc);
	EXPECT(r, conns >= 1 && conns <= 32, "tcp_conns=%lu: 1-32", conns);
	if (!r->ok)
		return;
	int s = sock_socket(SOCK_STREAM);

	EXPECT(r, s >= 0 && sock_bind(s, 0, TCP_PORT) == 0 && sock_listen(s, 16) == 0,
	       "no listening socket on port %u", TCP_PORT);
	if (!r->ok)
		return;
	sock_set_timeout(s, 60000);
	/* on the heap: 32 jobs are 12 KiB, which on the main thread's 16 KiB stack left too
	 * little for a page-table update and an event upcall below it (xen-pv tcp: Xen
	 * crashed the guest, its stack overrun into the guard page) */
	struct net_tcp_job *jobs = kcalloc(32, sizeof(*jobs));
	struct thread *t[32];
	uint64_t t0 = clock_ns();

	EXPECT(r, jobs != NULL, "no memory for the connections");
	if (!jobs) {
		sock_close(s);
		return;
	}

	kprintf("net: tcp ready on port %u\n", TCP_PORT);
	unsigned started = 0;

	for (; started < conns; started++) {
		int c = sock_accept(s, NULL, NULL);

		if (c < 0) {
			EXPECT(r, false, "accept %u: %d", started, c);
			break;
		}
		jobs[started] = (struct net_tcp_job){ .fd = c, .bytes = kib * 1024 };
		t[started] = thread_create("tcpconn", net_tcp_job_run, &jobs[started], CPU_ANY);
		EXPECT(r, t[started] != NULL, "no thread");
		if (!t[started]) {
			sock_close(c);
			break;
		}
	}
	uint64_t bad = 0, total = 0;

	tcp_wait(r, jobs, t, started);
	for (unsigned i = 0; i < started; i++) {
		bad += jobs[i].bad;
		total += jobs[i].got + jobs[i].sent;
	}
	sock_close(s);
	uint64_t ms = (clock_ns() - t0) / MS;

	bool all_done = true;

	for (unsigned i = 0; i < started; i++)
		all_done &= __atomic_load_n(&jobs[i].finished, __ATOMIC_ACQUIRE);
	if (all_done) /* a worker given up on (tcp_wait) may still write into its job */
		kfree(jobs);
	EXPECT(r, bad == 0, "%lu bytes received wrong", bad);
	kprintf("net: tcp %lu connections, %lu KiB each way, %lu bytes in %lu ms\n", conns, kib,
		total, ms);
	net_report();
	result_note(r, "conns=%lu kib_each_way=%lu bytes=%lu ms=%lu", conns, kib, total, ms);
}

/* test=http: the default HTTP server answers http_requests= (3) requests on port 80 */
void selftest_http(struct result *r, const struct boot_info *bi)
{
	uint64_t want = 3;
	int rc = net_start(bi->cmdline, clock_ns() + 30000 * MS);

	cmdline_get_u64(bi->cmdline, "http_requests", &want);
	EXPECT(r, rc == 0, "the network did not come up: %d", rc);
	if (rc)
		return;
	long served = http_serve(80, (unsigned long)want);

	EXPECT(r, served == (long)want, "served %ld of %lu requests", served, want);
	net_report();
	result_note(r, "served=%ld", served);
}

/* test=malformed: a UDP echo server on port 7 while the host side sends broken frames
 * (truncated headers, bad lengths, bad checksums, nonsense) between valid datagrams; it
 * ends with "BYE <n>", n the broken frames it sent. Passes when the guest is still
 * echoing, at least malformed_valid= (100) valid datagrams came back, and at least n
 * frames were counted as dropped. */
void selftest_malformed(struct result *r, const struct boot_info *bi)
{
	uint64_t want = 100, n = 0, sent_bad = 0;
	static char buf[2048];
	struct net_stats before, after;
	int rc = net_start(bi->cmdline, clock_ns() + 30000 * MS);

	cmdline_get_u64(bi->cmdline, "malformed_valid", &want);
	EXPECT(r, rc == 0, "the network did not come up: %d", rc);
	if (rc)
		return;
	int s = sock_socket(SOCK_DGRAM);

	EXPECT(r, s >= 0 && sock_bind(s, 0, 7) == 0, "no UDP socket on port 7");
	if (!r->ok)
		return;
	sock_set_timeout(s, 60000);
	net_stats(&before);
	kprintf("net: malformed echo ready on port 7\n");
	while (r->ok) {
		uint32_t ip;
		uint16_t port;
		long len = sock_recvfrom(s, buf, sizeof(buf) - 1, &ip, &port);

		if (len < 0) {
			EXPECT(r, false, "recvfrom after %lu datagrams: %ld", n, len);
			break;
		}
		buf[len] = 0;
		if (len > 4 && !memcmp(buf, "BYE ", 4)) {
			parse_u64(buf + 4, &sent_bad);
			break;
		}
		sock_sendto(s, buf, (size_t)len, ip, port);
		n++;
	}
	sock_close(s);
	net_quiesce(clock_ns() + 2000 * MS); /* broken frames still queued for the net thread */
	net_stats(&after);
	uint64_t dropped = after.dropped - before.dropped;

	net_report();
	kprintf("net: %lu broken frames sent, %lu frames dropped and counted; %lu valid "
		"datagrams echoed\n", sent_bad, dropped, n);
	EXPECT(r, sent_bad > 0, "the host side sent no broken frames");
	EXPECT(r, dropped >= sent_bad, "%lu broken frames sent, only %lu counted as dropped",
	       sent_bad, dropped);
	EXPECT(r, n >= want, "echoed %lu valid datagrams, %lu expected", n, want);
	result_note(r, "broken=%lu dropped=%lu echoed=%lu", sent_bad, dropped, n);
}
