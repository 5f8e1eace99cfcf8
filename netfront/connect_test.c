/* netfront.c's connection against a fake xenbus, xenstore and event channels: until the
 * backend says Connected, no queue has anything on its rings (no receive buffer, no
 * transmit request) and the backend is never notified, whatever xmit and poll are asked
 * meanwhile; then every queue's receive ring is filled and its receive channel notified,
 * and frames go out. Linux's netback loses a late EOI when a ring has work at the moment
 * it binds the queue's channel (README.md, "Connection"), so this order is what keeps a
 * Debian dom0 from masking our channel for good.
 *
 * netfront.c is compiled into this file, its kernel services renamed to the fakes below
 * (the host tests' shared fakes serve the rest: kmalloc, kprintf, pkt_free, the mutex). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>

#include "common/console.h"
#include "common/hal.h"
#include "common/netdev.h"
#include "hv_xen/events.h"
#include "hv_xen/grant.h"
#include "hv_xen/hypercall.h"
#include "hv_xen/platform.h"
#include "hv_xen/ring.h"
#include "hv_xen/xenbus.h"
#include "hv_xen/xenstore.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"
#include "tools/unit/unit.h"

#define NPORTS 64

int sync_test_run(int n, void (*fn)(int id, void *arg), void *arg); /* sched/sync_test.c */

static struct {
	const char *cmdline;
	uint64_t max_queues, split;
	uint64_t no_csum; /* the backend's feature-no-csum-offload, when not ~0 */
	unsigned next_port;
	unsigned sends[NPORTS]; /* notifications per port */
	unsigned sends_total;
	bool open[NPORTS];
	char removed[512]; /* the keys xs_rm took, each with a space after it */
} fk;

/* the frontend directory's names for xs_directory (NUL after each), or its error (< 0);
 * set before start_with, which leaves them */
static const char *listing = "backend\0backend-id\0mac\0state\0handle\0";
static int listing_n = 5;

static int64_t fake_frame_alloc(void)
{
	void *p = aligned_alloc(PAGE_SIZE, PAGE_SIZE);

	return p ? (int64_t)((uintptr_t)p / PAGE_SIZE) : -1;
}

static void *fake_frame_va(uint64_t pfn)
{
	return (void *)(uintptr_t)(pfn * PAGE_SIZE);
}

static struct pkt *fake_pkt_alloc(void)
{
	struct pkt *p = malloc(sizeof(*p));
	int64_t pfn = fake_frame_alloc();

	if (!p || pfn < 0) {
		free(p);
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->page = fake_frame_va((uint64_t)pfn);
	p->data = (uint8_t *)p->page + PKT_HEADROOM;
	return p;
}

static int fake_xs_read_u64(uint32_t tx, const char *path, uint64_t *v)
{
	if (strstr(path, "/feature-rx-copy"))
		*v = 1;
	else if (strstr(path, "/multi-queue-max-queues"))
		*v = fk.max_queues;
	else if (strstr(path, "/feature-split-event-channels"))
		*v = fk.split;
	else if (strstr(path, "/feature-no-csum-offload") && fk.no_csum != ~0ull)
		*v = fk.no_csum;
	else
		return -ENOENT;
	return 0;
}

static int fake_xs_transaction(int (*fn)(uint32_t tx, void *arg), void *arg, unsigned *tries)
{
	return fn(1, arg);
}

static int fake_xs_write(uint32_t tx, const char *path, const char *value)
{
	return 0;
}

static int fake_xs_printf(uint32_t tx, const char *path, const char *fmt, ...)
{
	return 0;
}

static int fake_xs_rm(uint32_t tx, const char *path)
{
	const char *leaf = strrchr(path, '/');
	size_t n = strlen(fk.removed);

	snprintf(fk.removed + n, sizeof(fk.removed) - n, "%s ", leaf ? leaf + 1 : path);
	return 0;
}

static int fake_xs_directory(uint32_t tx, const char *path, char *buf, size_t size)
{
	size_t len = 0;

	if (strcmp(path, "device/vif/0") || listing_n < 0)
		return listing_n < 0 ? listing_n : -ENOENT;
	for (int i = 0; i < listing_n; i++)
		len += strlen(listing + len) + 1;
	if (len > size)
		return -E2BIG;
	memcpy(buf, listing, len);
	return listing_n;
}

static int fake_xs_read(uint32_t tx, const char *path, char *buf, size_t size)
{
	if (!strstr(path, "/mac"))
		return -ENOENT;
	return snprintf(buf, size, "00:16:3e:00:09:02");
}

static int fake_switch_state(struct xenbus_dev *dev, enum xenbus_state s)
{
	dev->state = s;
	return 0;
}

static void fake_xenbus_path(const struct xenbus_dev *dev, const char *leaf, char *buf,
			     size_t size)
{
	snprintf(buf, size, "%s/%s", dev->nodename, leaf);
}

static const char *fake_cmdline(void)
{
	return fk.cmdline;
}

static unsigned fake_cpus_online(void)
{
	return 2;
}

static uint64_t fake_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void fake_evtchn_send(unsigned port)
{
	if (port < NPORTS)
		fk.sends[port]++;
	fk.sends_total++;
}

static long fake_event_channel_op(int cmd, void *arg)
{
	if (cmd == EVTCHNOP_alloc_unbound) {
		struct evtchn_alloc_unbound *a = arg;

		if (fk.next_port >= NPORTS)
			return -ENOSPC;
		a->port = fk.next_port++;
		fk.open[a->port] = true;
		return 0;
	}
	if (cmd == EVTCHNOP_close) {
		struct evtchn_close *c = arg;

		if (c->port < NPORTS)
			fk.open[c->port] = false;
		return 0;
	}
	return -ENOSYS;
}

static int fake_irq_bind(struct irq *irq)
{
	return 0;
}

static void fake_irq_unbind(struct irq *irq)
{
}

static const struct hal fake_hal = { .name = "xen-test", .irq_bind = fake_irq_bind,
				     .irq_unbind = fake_irq_unbind };
static const struct hal *fake_halp = &fake_hal;

static void fake_netdev_register(struct netdev *d)
{
}

/* a frame number a v1 grant can hold (the heap's are past 32 bits) */
static uint64_t fake_xen_gfn(const void *va)
{
	return ((uintptr_t)va / PAGE_SIZE) & 0xfffffff;
}

#define mm_frame_alloc fake_frame_alloc
#define mm_frame_va fake_frame_va
#define pkt_alloc fake_pkt_alloc
#define xs_read_u64 fake_xs_read_u64
#define xs_read fake_xs_read
#define xs_transaction fake_xs_transaction
#define xs_write fake_xs_write
#define xs_printf fake_xs_printf
#define xs_rm fake_xs_rm
#define xs_directory fake_xs_directory
#define xenbus_switch_state fake_switch_state
#define xenbus_path fake_xenbus_path
#define xen_cmdline fake_cmdline
#define sched_cpus_online fake_cpus_online
#define clock_ns fake_clock_ns
#define evtchn_send fake_evtchn_send
#define xen_event_channel_op fake_event_channel_op
#define hal fake_halp
#define netdev_register fake_netdev_register
#define xen_gfn fake_xen_gfn

#include "netfront/netfront.c"

static struct grant_entry_v1 table[8 * (TX_SIZE + RX_SIZE)];

static void free_page(uint64_t pfn)
{
	free((void *)(uintptr_t)(pfn * PAGE_SIZE));
}

/* a device probed, its backend (domain 0) at InitWait */
static struct xenbus_dev *start_with(const char *cmdline, uint64_t split, uint64_t no_csum)
{
	struct xenbus_dev *xb = calloc(1, sizeof(*xb));

	memset(&fk, 0, sizeof(fk));
	fk.no_csum = no_csum;
	fk.cmdline = cmdline;
	fk.max_queues = 4;
	fk.split = split;
	fk.next_port = 1;
	memset(table, 0, sizeof(table));
	gnttab_use(table, sizeof(table) / sizeof(table[0]));
	gnttab_free_page = free_page;
	strcpy(xb->nodename, "device/vif/0");
	strcpy(xb->otherend, "/local/domain/0/backend/vif/9/0");
	xb->state = XenbusStateInitialising;
	CHECK_EQ(nf_probe(xb), 0);
	xb->otherend_state = XenbusStateInitWait;
	nf_otherend_changed(xb);
	return xb;
}

static struct xenbus_dev *start(const char *cmdline, uint64_t split)
{
	return start_with(cmdline, split, ~0ull);
}

static void finish(struct xenbus_dev *xb)
{
	struct nf *nf = xb->priv;

	nf_stop(xb);
	CHECK(!nf->connected);
	for (unsigned p = 0; p < NPORTS; p++)
		CHECK(!fk.open[p]);
	free(nf);
	free(xb);
}

/* an Ethernet frame of 60 bytes, broadcast */
static struct pkt *frame(void)
{
	struct pkt *p = fake_pkt_alloc();

	memset(p->data, 0xff, 6);
	p->data[12] = 0x08;
	p->data[13] = 0x06;
	p->len = 60;
	return p;
}

/* what the backend would find at the moment it binds our channels: nothing */
static void check_rings_empty(struct nf *nf)
{
	for (unsigned i = 0; i < nf->nq; i++) {
		CHECK_EQ(nf->q[i].rx.sring->req_prod, 0);
		CHECK_EQ(nf->q[i].tx.sring->req_prod, 0);
	}
	CHECK_EQ(fk.sends_total, 0);
}

struct order_case {
	const char *cmdline;
	uint64_t split;
	unsigned nq;
};

/* on one of sync_test.c's stand-in threads (the device's mutex wants one) */
static void connect_in_order(int id, void *arg)
{
	const struct order_case *c = arg;
	const char *cmdline = c->cmdline;
	uint64_t split = c->split;
	unsigned nq = c->nq;
	struct xenbus_dev *xb = start(cmdline, split);
	struct nf *nf = xb->priv;
	struct pkt *got[8];

	CHECK(nf->connected);
	CHECK_EQ(xb->state, XenbusStateConnected);
	CHECK_EQ(nf->nq, nq);
	CHECK_EQ(nf->split, split && !strstr(cmdline, "xnet_split=0"));
	CHECK(!nf->nd.link_up);
	check_rings_empty(nf);

	/* the stack tries before the backend is there: nothing goes on a ring */
	struct pkt *p = frame();

	unsigned took = nf_xmit(&nf->nd, &p, 1);

	CHECK_EQ(took, 0);
	if (took) /* the driver's now */
		p = frame();
	CHECK_EQ(nf_poll(&nf->nd, got, 8), 0);
	check_rings_empty(nf);

	/* the backend connects: buffers posted, each queue's receive channel notified once */
	xb->otherend_state = XenbusStateConnected;
	nf_otherend_changed(xb);
	CHECK(nf->nd.link_up);
	for (unsigned i = 0; i < nf->nq; i++) {
		struct nfq *q = &nf->q[i];

		CHECK_EQ(q->rx.sring->req_prod, RX_FILL);
		CHECK_EQ(q->tx.sring->req_prod, 0);
		CHECK_EQ(fk.sends[q->rx_port], 1);
		if (nf->split)
			CHECK_EQ(fk.sends[q->tx_port], 0);
	}
	CHECK_EQ(fk.sends_total, nf->nq);

	/* and frames go out */
	RING_IDX before = 0, after = 0;

	for (unsigned i = 0; i < nf->nq; i++)
		before += nf->q[i].tx.sring->req_prod;
	CHECK_EQ(nf_xmit(&nf->nd, &p, 1), 1);
	for (unsigned i = 0; i < nf->nq; i++)
		after += nf->q[i].tx.sring->req_prod;
	CHECK_EQ(after - before, 1);
	finish(xb);
}

TEST(netfront_split_queues_post_nothing_before_the_backend_connects)
{
	struct order_case c = { "", 1, 2 };

	CHECK_EQ(sync_test_run(1, connect_in_order, &c), 0);
}

TEST(netfront_shared_channel_posts_nothing_before_the_backend_connects)
{
	struct order_case c = { "xnet_queues=1 xnet_split=0", 1, 1 };

	CHECK_EQ(sync_test_run(1, connect_in_order, &c), 0);
}

/* a backend that goes back to InitWait (restarted) and connects again: the same order */
static void reconnect_in_order(int id, void *arg)
{
	struct xenbus_dev *xb = start("xnet_split=0", 1);
	struct nf *nf = xb->priv;

	xb->otherend_state = XenbusStateConnected;
	nf_otherend_changed(xb);
	CHECK(nf->nd.link_up);
	xb->otherend_state = XenbusStateInitWait;
	memset(fk.sends, 0, sizeof(fk.sends));
	fk.sends_total = 0;
	nf_otherend_changed(xb);
	CHECK(nf->connected);
	CHECK(!nf->nd.link_up);
	check_rings_empty(nf);
	xb->otherend_state = XenbusStateConnected;
	nf_otherend_changed(xb);
	CHECK(nf->nd.link_up);
	CHECK_EQ(nf->q[0].rx.sring->req_prod, RX_FILL);
	finish(xb);
}

TEST(netfront_reconnect_posts_nothing_before_the_backend_connects)
{
	CHECK_EQ(sync_test_run(1, reconnect_in_order, NULL), 0);
}

/* checksum offload: a TCP segment whose checksum the stack left to the device goes out
 * with csum_blank (the backend completes it), others as they are; not when the backend
 * says it cannot (feature-no-csum-offload 1) */
static void csum_offload(int id, void *arg)
{
	for (uint64_t no_csum = 0; no_csum < 3; no_csum++) { /* 2: the key missing */
		struct xenbus_dev *xb = start_with("xnet_queues=1", 1, no_csum == 2 ? ~0ull : no_csum);
		struct nf *nf = xb->priv;
		bool offload = no_csum != 1;

		xb->otherend_state = XenbusStateConnected;
		nf_otherend_changed(xb);
		CHECK(nf->nd.link_up);
		CHECK_EQ(nf->nd.features & NETDEV_F_CSUM_RX, NETDEV_F_CSUM_RX);
		CHECK_EQ(!!(nf->nd.features & NETDEV_F_CSUM_TX), offload);
		struct pkt *p[2] = { frame(), frame() };

		p[0]->flags = PKT_CSUM_PARTIAL;
		CHECK_EQ(nf_xmit(&nf->nd, p, 2), 2);
		struct nfq *q = &nf->q[0];

		CHECK_EQ(q->tx.sring->req_prod, 2);
		CHECK_EQ(RING_GET_REQUEST(&q->tx, 0)->flags,
			 offload ? NETTXF_csum_blank | NETTXF_data_validated : 0);
		CHECK_EQ(RING_GET_REQUEST(&q->tx, 1)->flags, 0);
		finish(xb);
	}
}

TEST(netfront_checksum_offload_unless_the_backend_refuses)
{
	CHECK_EQ(sync_test_run(1, csum_offload, NULL), 0);
}

/* Keys of another layout left by an earlier connection are removed, and only those the
 * directory holds (each removal is a round trip to xenstored); when the directory cannot
 * be listed, every one that could be there */
static void stale_keys(int id, void *arg)
{
	static const struct {
		const char *cmdline, *names;
		int n;
		uint64_t split;
		const char *removed;
	} cases[] = {
		/* a first connect: nothing to remove */
		{ "xnet_queues=2", "backend\0mac\0state\0", 3, 1, "" },
		{ "xnet_queues=1", "backend\0mac\0state\0", 3, 1, "" },
		/* two queues after one: the top-level ring keys go, and a queue too many */
		{ "xnet_queues=2", "tx-ring-ref\0state\0event-channel\0queue-3\0queue-1\0", 5, 1,
		  "tx-ring-ref event-channel queue-3 " },
		/* one queue, split, after a shared channel: event-channel goes, queues too */
		{ "xnet_queues=1", "event-channel\0queue-0\0queue-1\0event-channel-rx\0", 4, 1,
		  "queue-0 queue-1 event-channel " },
		/* no listing: every key another layout could have */
		{ "xnet_queues=2", "", -EIO, 1,
		  "tx-ring-ref rx-ring-ref event-channel event-channel-tx event-channel-rx queue-2 "
		  "queue-3 queue-4 queue-5 queue-6 queue-7 " },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		listing = cases[i].names;
		listing_n = cases[i].n;
		struct xenbus_dev *xb = start(cases[i].cmdline, cases[i].split);

		if (strcmp(fk.removed, cases[i].removed))
			printf("case %u: removed '%s', expected '%s'\n", i, fk.removed,
			       cases[i].removed);
		CHECK(!strcmp(fk.removed, cases[i].removed));
		finish(xb);
	}
	listing = "backend\0backend-id\0mac\0state\0handle\0";
	listing_n = 5;
}

TEST(netfront_removes_only_the_stale_keys_there)
{
	CHECK_EQ(sync_test_run(1, stale_keys, NULL), 0);
}
