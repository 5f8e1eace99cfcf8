/* Network guest tests over struct netdev, the same on every platform (virtio-net,
 * netfront): a minimal ARP and ICMP-echo responder (lib/inet.c) that the host side pings.
 *   net_raw:   answer net_pings= echo requests (default 100) and report.
 *   reconnect: answer 20, see the link go down and come back (the rig detaches and
 *              re-attaches the NIC meanwhile), answer 20 more.
 * The guest's address is ip= (default 10.0.9.2). "net: ready" and "net: link up again" tell
 * the host side when to ping. */
#include "common/console.h"
#include "common/netdev.h"
#include "common/selftest.h"
#include "lib/cmdline.h"
#include "lib/inet.h"
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
	struct responder rs = { 0 };
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
	struct responder rs = { 0 };
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
