/* The xenbus device model: frontend devices listed under our xenstore home's device/<type>
 * (device/vif/0, device/vbd/51712, ...), each with a backend domain and path, and the
 * state handshake (xen/io/xenbus.h: Initialising -> InitWait -> Connected -> Closing ->
 * Closed). A driver registers for a type with XENBUS_DRIVER; xenbus creates a device for
 * every node of that type, also nodes that appear later (a re-attached vif), and calls
 * the driver when the backend's state changes. Those calls come from the xenstore watch
 * thread, one at a time: a driver reacts to a state and returns, it never waits there
 * for the next one. */
#ifndef HV_XEN_XENBUS_H
#define HV_XEN_XENBUS_H

#include <stdint.h>

#include <xen/io/xenbus.h>

#include "hv_xen/xenstore.h"
#include "lib/compiler.h"
#include "sched/sync.h"

struct xenbus_dev {
	const struct xenbus_driver *drv;
	char nodename[48];  /* device/vif/0 */
	char otherend[96];  /* the backend's path */
	uint16_t otherend_id; /* the backend's domain */
	unsigned devid;
	enum xenbus_state state; /* ours, as last written */
	enum xenbus_state otherend_state;
	bool gone;	       /* the node was removed (detached) */
	bool stopping;	       /* shutdown: the driver hears nothing more */
	struct xs_watch watch; /* the backend's state */
	char watch_path[112];
	struct sem changed;    /* up on every state change: for waiters elsewhere */
	void *priv;	       /* the driver's */
	struct xenbus_dev *next;
};

struct xenbus_driver {
	const char *type; /* "vif", "vbd" */
	/* A device appeared: set up (no backend handshake yet; state watching starts after).
	 * Non-zero: the device is left alone. */
	int (*probe)(struct xenbus_dev *dev);
	/* The backend's state is now dev->otherend_state (XenbusStateClosed also when the
	 * backend or our node went away: dev->gone). */
	void (*otherend_changed)(struct xenbus_dev *dev);
	/* Shutdown: fail what is in flight, give everything back, switch to Closing. */
	void (*stop)(struct xenbus_dev *dev);
};

#define XENBUS_DRIVER(name)                                                         \
	static const struct xenbus_driver name                                      \
		__attribute__((used, section(".xenbus_drivers"), aligned(8)))

/* Finds every device of every registered type and watches for more. Returns how many. */
int xenbus_probe(void);
/* Shutdown: stops every device and waits (up to `ns`) for their backends to close.
 * Returns how many closed cleanly; *total says of how many. */
unsigned xenbus_stop(uint64_t ns, unsigned *total);
/* Writes our state (device/.../state). */
int xenbus_switch_state(struct xenbus_dev *dev, enum xenbus_state s);
/* path under the device's node, into buf */
void xenbus_path(const struct xenbus_dev *dev, const char *leaf, char *buf, size_t size);
const char *xenbus_state_name(enum xenbus_state s);

#endif
