/* Device discovery and the per-device backend watch. */
#include "hv_xen/xenbus.h"

#include "common/console.h"
#include "lib/errno.h"
#include "lib/cmdline.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"

extern const struct xenbus_driver __xenbus_drivers_start[], __xenbus_drivers_end[];

static struct mutex lock; /* the device list; taken on the watch thread and at boot */
static struct xenbus_dev *devs;
static struct xs_watch device_watch;
static bool started;
static struct sem settled; /* up once the device watch's first event has been handled */

const char *xenbus_state_name(enum xenbus_state s)
{
	static const char *const names[] = { "Unknown",	 "Initialising", "InitWait",
					      "Initialised", "Connected",    "Closing",
					      "Closed",	     "Reconfiguring", "Reconfigured" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "invalid";
}

void xenbus_path(const struct xenbus_dev *dev, const char *leaf, char *buf, size_t size)
{
	ksnprintf(buf, size, "%s/%s", dev->nodename, leaf);
}

int xenbus_switch_state(struct xenbus_dev *dev, enum xenbus_state s)
{
	char path[64];

	xenbus_path(dev, "state", path, sizeof(path));
	int rc = xs_printf(XS_NO_TX, path, "%d", s);

	if (!rc)
		dev->state = s;
	return rc;
}

static void tell(struct xenbus_dev *dev, enum xenbus_state otherend)
{
	dev->otherend_state = otherend;
	if (dev->drv->otherend_changed && !dev->stopping)
		dev->drv->otherend_changed(dev);
	sem_up(&dev->changed);
}

/* watch thread: the backend's state changed */
static void otherend_event(struct xs_watch *w, const char *changed)
{
	struct xenbus_dev *dev = w->arg;
	uint64_t v;

	if (dev->gone)
		return;
	if (xs_read_u64(XS_NO_TX, dev->watch_path, &v) || v > XenbusStateReconfigured)
		v = XenbusStateClosed; /* no backend (any more), or nonsense */
	if (v != dev->otherend_state)
		tell(dev, v);
}

static struct xenbus_dev *find(const char *nodename)
{
	for (struct xenbus_dev *d = devs; d; d = d->next)
		if (!strcmp(d->nodename, nodename))
			return d;
	return NULL;
}

/* a node of type drv: a new device, or one that was gone and is back (re-attached) */
static int add(const struct xenbus_driver *drv, const char *id)
{
	char node[48], path[96], back[96];
	uint64_t backend_id, devid;

	ksnprintf(node, sizeof(node), "device/%s/%s", drv->type, id);
	struct xenbus_dev *dev = find(node);

	if (dev && !dev->gone)
		return 0;
	ksnprintf(path, sizeof(path), "%s/backend", node);
	if (xs_read(XS_NO_TX, path, back, sizeof(back)) < 0)
		return -ENOENT; /* half-written by the toolstack: the watch brings us back */
	ksnprintf(path, sizeof(path), "%s/backend-id", node);
	if (xs_read_u64(XS_NO_TX, path, &backend_id) || backend_id > 0x7fef ||
	    parse_u64(id, &devid)) {
		kprintf("xenbus: %s: no usable backend-id or device id: ignored\n", node);
		return -EINVAL;
	}
	bool fresh = !dev;

	if (fresh) {
		dev = kcalloc(1, sizeof(*dev));
		if (!dev)
			return -ENOMEM;
		strlcpy(dev->nodename, node, sizeof(dev->nodename));
		dev->drv = drv;
		dev->devid = (unsigned)devid;
		sem_init(&dev->changed, 0);
	}
	strlcpy(dev->otherend, back, sizeof(dev->otherend));
	dev->otherend_id = (uint16_t)backend_id;
	dev->otherend_state = XenbusStateUnknown;
	dev->state = XenbusStateInitialising; /* what the toolstack wrote for a new node */
	dev->gone = false;
	if (fresh) {
		if (drv->probe(dev)) {
			kfree(dev);
			return -EIO;
		}
		dev->next = devs;
		devs = dev;
	}
	/* the watch fires once when set: the driver hears the backend's current state */
	ksnprintf(dev->watch_path, sizeof(dev->watch_path), "%s/state", dev->otherend);
	dev->watch = (struct xs_watch){ .path = dev->watch_path, .fn = otherend_event, .arg = dev };
	return xs_watch(&dev->watch);
}

/* a device whose node was removed (xl network-detach): its backend is gone with it */
static void check_gone(struct xenbus_dev *dev)
{
	char path[64];
	uint64_t id;

	xenbus_path(dev, "backend-id", path, sizeof(path));
	if (dev->gone || xs_read_u64(XS_NO_TX, path, &id) != -ENOENT)
		return;
	xs_unwatch(&dev->watch);
	dev->gone = true;
	tell(dev, XenbusStateClosed);
}

static int scan(void)
{
	static char names[1024];
	int found = 0;

	for (struct xenbus_dev *d = devs; d; d = d->next)
		check_gone(d);
	for (const struct xenbus_driver *drv = __xenbus_drivers_start; drv < __xenbus_drivers_end;
	     drv++) {
		char dir[32];
		int n;

		ksnprintf(dir, sizeof(dir), "device/%s", drv->type);
		if ((n = xs_directory(XS_NO_TX, dir, names, sizeof(names))) < 0)
			continue;
		const char *p = names;

		for (int i = 0; i < n; i++, p += strlen(p) + 1)
			if (!add(drv, p))
				found++;
	}
	return found;
}

static void device_event(struct xs_watch *w, const char *changed)
{
	mutex_lock(&lock, NO_DEADLINE);
	scan();
	mutex_unlock(&lock);
	sem_up(&settled);
}

unsigned xenbus_stop(uint64_t ns, unsigned *total)
{
	uint64_t deadline = clock_ns() + ns;
	unsigned n = 0, closed = 0;

	if (!started) {
		*total = 0;
		return 0;
	}
	xs_unwatch(&device_watch);
	mutex_lock(&lock, NO_DEADLINE);
	for (struct xenbus_dev *d = devs; d; d = d->next) {
		if (d->gone)
			continue;
		n++;
		d->stopping = true;
		if (d->drv->stop)
			d->drv->stop(d);
	}
	mutex_unlock(&lock);
	/* the handshake (xen/io/xenbus.h): our Closing, the backend's Closing, our Closed, the
	 * backend's Closed. Devices are never freed, so the list can be walked without the
	 * lock (the watch thread may need it meanwhile). */
	for (struct xenbus_dev *d = __atomic_load_n(&devs, __ATOMIC_ACQUIRE); d; d = d->next) {
		if (d->gone)
			continue;
		while (d->otherend_state < XenbusStateClosing && !sem_down(&d->changed, deadline))
			;
		xenbus_switch_state(d, XenbusStateClosed);
		while (d->otherend_state != XenbusStateClosed && !sem_down(&d->changed, deadline))
			;
		closed += d->otherend_state == XenbusStateClosed;
		xs_unwatch(&d->watch);
	}
	*total = n;
	return closed;
}

int xenbus_probe(void)
{
	if (!started) {
		mutex_init(&lock);
		sem_init(&settled, 0);
		started = true;
	}
	mutex_lock(&lock, NO_DEADLINE);
	scan();
	int n = 0;

	for (struct xenbus_dev *d = devs; d; d = d->next)
		n++;
	mutex_unlock(&lock);
	device_watch = (struct xs_watch){ .path = "device", .fn = device_event };
	/* the watch fires once when set and rescans on the watch thread: wait for that, so
	 * the boot goes on with the device list settled and nothing running behind it */
	if (!xs_watch(&device_watch) && sem_down(&settled, clock_ns() + 2000000000ull))
		kprintf("xenbus: the device watch did not fire within 2 s\n");
	return n;
}
