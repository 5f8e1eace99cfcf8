/* Network guest tests over struct netdev, the same on every platform (virtio-net,
 * netfront): a minimal ARP and ICMP-echo responder (lib/inet.c) that the host side pings.
 *   net_raw:   answer net_pings= echo requests (default 100) and report.
 *   reconnect: answer 20, see the link go down and come back (the rig detaches and
 *              re-attaches the NIC meanwhile), answer 20 more.
 *   tx_stall:  answer 20, send a frame every 50 ms for 8 s while the backend takes none
 *              for 3 s (the rig takes the vif down in dom0 and up again): the driver
 *              must report the stall, notify the backend again and see it end; answer
 *              20 more.
 *   net_lie:   the driver makes its own ring lie (ops->lie: a response index past our
 *              requests): the device must count it, stop (link down, nothing taken or
 *              sent) and let go of its backend (Xen: it tells the backend, which closes).
 * The guest's address is ip= (default 10.0.9.2). "net: ready" and "net: link up again" tell
 * the host side when to ping. */
#include "common/console.h"
#include "common/netdev.h"
#include "common/selftest.h"
#include "lib/cmdline.h"
#include "lib/inet.h"
#include "lib/string.h"
#include "lib/time.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define MS 1000000ull
#define BATCH 32

struct responder {
	struct netdev *d;
	struct sem wake;
	uint8_t ip[4];
	unsigned replies, arps, bad, ignored, tx_refused;
};

static void wake(struct netdev *d)
{
	struct responder *r = d->owner;

	sem_up(&r->wake);
}

/* Answers until `want` echo replies went out, the deadline, or (until_down) the link
 * going down. Replies go out in one xmit per received batch: one kick per burst. */
static void respond(struct responder *r, unsigned want, uint64_t deadline, bool until_down)
{
	struct netdev *d = r->d;
	struct pkt *in[BATCH], *out[BATCH];

	while (r->replies < want && clock_ns() < deadline) {
		unsigned n = d->ops->poll(d, in, BATCH), k = 0;

		for (unsigned i = 0; i < n; i++) {
			size_t len;

			switch (inet_answer(in[i]->data, in[i]->len, d->mac, r->ip, &len)) {
			case INET_ECHO_REPLY:
				r->replies++;
				in[i]->len = len;
				out[k++] = in[i];
				continue;
			case INET_ARP_REPLY:
				r->arps++;
				out[k++] = in[i];
				continue;
			case INET_BAD:
				r->bad++;
				break;
			default:
				r->ignored++;
				break;
			}
			pkt_free(in[i]);
		}
		unsigned sent = k ? d->ops->xmit(d, out, k) : 0;

		for (; sent < k; sent++, r->tx_refused++)
			pkt_free(out[sent]);
		if (n)
			continue;
		if (until_down && !d->link_up)
			return;
		uint64_t now = clock_ns();

		sem_down(&r->wake, MIN(deadline, now + 100 * MS)); /* also looks at the link */
	}
}

/* the first network device, once its link is up */
static struct netdev *wait_link(uint64_t deadline)
{
	while (clock_ns() < deadline) {
		struct netdev *d = netdev_get(0);

		if (d && d->link_up)
			return d;
		thread_sleep(20 * MS);
	}
	return NULL;
}

static bool wait_state(struct netdev *d, bool up, uint64_t deadline)
{
	while (d->link_up != up && clock_ns() < deadline)
		thread_sleep(10 * MS);
	return d->link_up == up;
}

/* The responder becomes the device's owner for the rest of the boot: the device's events
 * (on any vCPU, netfront's queues each on their own) go on calling notify after the test
 * returns, so rs must outlive it (the tests' responders are static; a test runs once per
 * boot). One on the test's stack was woken after its frame was gone: a page fault in
 * sem_up on cpu1 (xen-pvh net_raw, an event of queue 1 after "TEST net_raw PASS"). */
static bool setup(struct result *r, const struct boot_info *bi, struct responder *rs)
{
	char ipbuf[20] = "10.0.9.2";

	cmdline_get(bi->cmdline, "ip", ipbuf, sizeof(ipbuf));
	if (inet_parse_ip(ipbuf, rs->ip)) {
		EXPECT(r, false, "ip=%s is not an IPv4 address", ipbuf);
		return false;
	}
	rs->d = wait_link(clock_ns() + 30000 * MS);
	EXPECT(r, rs->d, "no network device came up in 30 s (%u registered)", netdev_count());
	if (!rs->d)
		return false;
	sem_init(&rs->wake, 0);
	rs->d->owner = rs;
	rs->d->notify = wake;
	rs->d->ops->irq(rs->d, true);
	const uint8_t *m = rs->d->mac;

	kprintf("net: ready %s mac=%02x:%02x:%02x:%02x:%02x:%02x ip=%u.%u.%u.%u (%s)\n",
		rs->d->name, m[0], m[1], m[2], m[3], m[4], m[5], rs->ip[0], rs->ip[1], rs->ip[2],
		rs->ip[3], rs->d->info ? rs->d->info : "");
	return true;
}

static void report(struct result *r, struct responder *rs)
{
	const struct netdev_stats *s = &rs->d->st;
	uint64_t pk = s->rx_packets + s->tx_packets;

	kprintf("net: %lu packets in, %lu out; %lu kicks and %lu interrupts per 1000 packets; "
		"%lu bad from the device, %lu tx dropped\n",
		s->rx_packets, s->tx_packets, pk ? s->kicks * 1000 / pk : 0,
		pk ? s->irqs * 1000 / pk : 0, s->rx_bad, s->tx_dropped);
	EXPECT(r, s->rx_bad == 0, "%lu bad responses from the device", s->rx_bad);
	EXPECT(r, rs->bad == 0, "%u malformed packets for us", rs->bad);
	result_note(r, "echo=%u arp=%u ignored=%u kicks/1000=%lu irqs/1000=%lu", rs->replies,
		    rs->arps, rs->ignored, pk ? s->kicks * 1000 / pk : 0,
		    pk ? s->irqs * 1000 / pk : 0);
}

void selftest_net_raw(struct result *r, const struct boot_info *bi)
{
	static struct responder rs; /* see setup */
	uint64_t want = 100;

	cmdline_get_u64(bi->cmdline, "net_pings", &want);
	if (!setup(r, bi, &rs))
		return;
	respond(&rs, (unsigned)want, clock_ns() + 120000 * MS, false);
	EXPECT(r, rs.replies == want, "answered %u of %lu echo requests in 120 s", rs.replies, want);
	report(r, &rs);
}

void selftest_reconnect(struct result *r, const struct boot_info *bi)
{
	static struct responder rs; /* see setup */
	const unsigned phase = 20;

	if (!setup(r, bi, &rs))
		return;
	respond(&rs, phase, clock_ns() + 60000 * MS, false);
	EXPECT(r, rs.replies == phase, "phase 1: %u of %u echo replies", rs.replies, phase);
	kprintf("net: phase 1 done: %u echo replies\n", rs.replies);
	/* the host side takes the NIC away now and gives it back */
	bool down = wait_state(rs.d, false, clock_ns() + 60000 * MS);

	EXPECT(r, down, "the link never went down");
	if (down)
		kprintf("net: link down\n");
	bool up = down && wait_state(rs.d, true, clock_ns() + 60000 * MS);

	EXPECT(r, up, "the link did not come back within 60 s");
	if (!up)
		return;
	kprintf("net: link up again\n");
	respond(&rs, 2 * phase, clock_ns() + 60000 * MS, false);
	EXPECT(r, rs.replies == 2 * phase, "phase 2: %u of %u echo replies", rs.replies - phase,
	       phase);
	report(r, &rs);
}

/* a gratuitous ARP request from us: harmless to everyone, and it needs no answer */
static struct pkt *garp(const struct netdev *d, const uint8_t ip[4])
{
	struct pkt *p = pkt_alloc();

	if (!p)
		return NULL;
	uint8_t *f = p->data;

	memset(f, 0xff, 6);
	memcpy(f + 6, d->mac, 6);
	f[12] = 0x08, f[13] = 0x06;			 /* ARP */
	f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0; /* Ethernet, IPv4 */
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;	 /* sizes, request */
	memcpy(f + 22, d->mac, 6);
	memcpy(f + 28, ip, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, ip, 4);
	p->len = 42;
	p->flags = 0;
	return p;
}

void selftest_tx_stall(struct result *r, const struct boot_info *bi)
{
	static struct responder rs; /* see setup */
	const unsigned phase = 20;
	unsigned sent = 0, refused = 0;

	if (!setup(r, bi, &rs))
		return;
	struct netdev *d = rs.d;

	respond(&rs, phase, clock_ns() + 60000 * MS, false);
	EXPECT(r, rs.replies == phase, "phase 1: %u of %u echo replies", rs.replies, phase);
	uint64_t stalls = d->st.tx_stalls, end = clock_ns() + 8000 * MS;

	kprintf("net: phase 1 done: %u echo replies; sending a frame every 50 ms for 8 s\n",
		rs.replies);
	/* the host side takes the backend's vif down now, and up again 3 s later */
	while (clock_ns() < end) {
		struct pkt *p = garp(d, rs.ip), *in[BATCH];

		if (p && d->ops->xmit(d, &p, 1) == 1) {
			sent++;
		} else {
			refused++;
			if (p)
				pkt_free(p);
		}
		/* nothing is answered meanwhile; the poll also runs the driver's watchdog */
		for (unsigned n = d->ops->poll(d, in, BATCH), i = 0; i < n; i++)
			pkt_free(in[i]);
		thread_sleep(50 * MS);
	}
	stalls = d->st.tx_stalls - stalls;
	kprintf("net: phase 2: %u frames sent, %u refused; %lu transmit stalls seen\n", sent,
		refused, stalls);
	EXPECT(r, stalls >= 1, "the driver saw no transmit stall while the backend took nothing");
	EXPECT(r, refused == 0, "%u of %u frames refused", refused, sent + refused);
	respond(&rs, 2 * phase, clock_ns() + 60000 * MS, false);
	EXPECT(r, rs.replies == 2 * phase, "phase 2: %u of %u echo replies", rs.replies - phase,
	       phase);
	report(r, &rs);
}

void selftest_net_lie(struct result *r, const struct boot_info *bi)
{
	static struct responder rs; /* see setup */
	struct pkt *in[BATCH];
	char buf[64] = "";
	bool closed = false;

	if (!setup(r, bi, &rs))
		return;
	struct netdev *d = rs.d;
	uint64_t bad = d->st.rx_bad;

	if (!d->ops->lie || !d->ops->rings) {
		EXPECT(r, false, "%s cannot make its ring lie", d->name);
		return;
	}
	EXPECT(r, d->ops->lie(d) == 0, "%s is not connected", d->name);
	/* the next poll meets the lie */
	for (unsigned n = d->ops->poll(d, in, BATCH), i = 0; i < n; i++)
		pkt_free(in[i]);
	EXPECT(r, d->st.rx_bad > bad, "the lie was not counted");
	EXPECT(r, !d->link_up, "the link is still up after the lie");
	struct pkt *p = garp(d, rs.ip);
	unsigned sent = p ? d->ops->xmit(d, &p, 1) : 1;

	if (!sent)
		pkt_free(p);
	EXPECT(r, sent == 0, "the device still takes frames after the lie");
	/* the backend is told, closes, and the driver lets go of the rings */
	for (uint64_t end = clock_ns() + 10000 * MS; clock_ns() < end && !closed;) {
		d->ops->rings(d, buf, sizeof(buf));
		closed = !strcmp(buf, "not connected");
		if (!closed)
			thread_sleep(50 * MS);
	}
	EXPECT(r, closed, "the device did not let go of its backend in 10 s (%s)", buf);
	result_note(r, "counted %lu bad, link down, %s", d->st.rx_bad - bad, buf);
}
