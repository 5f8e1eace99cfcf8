/* Block devices: what every driver (virtio-blk, blkfront) offers and everything above
 * uses. Requests are asynchronous with a completion callback; several may be in flight.
 * Buffers are page-aligned (a driver hands whole pages to the device or grants them). */
#ifndef COMMON_BLKDEV_H
#define COMMON_BLKDEV_H

#include "lib/compiler.h"

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH };

struct blk_req {
	enum blk_op op;
	uint64_t sector;	 /* in the device's sectors */
	uint32_t count;		 /* sectors; 0 for a flush */
	void *buf;		 /* page-aligned, count * sector_size bytes */
	void (*done)(struct blk_req *r); /* interrupt context; r->status says how it went */
	void *arg;
	int status; /* 0, or -EIO (the device failed it), -ENODEV (the device went away) */
	/* the driver's */
	struct blk_req *next;
	uint64_t cookie;
};

struct blkdev;

struct blkdev_ops {
	/* 0: queued, r->done will run exactly once. Negative: refused now (-EINVAL: out of
	 * range, unaligned or too large; -ENODEV: gone; -EOPNOTSUPP: no flush), and done will
	 * not run. A full ring queues in the driver. */
	int (*submit)(struct blkdev *d, struct blk_req *r);
	/* Optional, for test=blk_lie: makes the device's shared ring lie as a broken device
	 * or backend would (a response index past our requests) and has the driver look at
	 * it. 0, or -ENOTCONN while not connected. */
	int (*lie)(struct blkdev *d);
};

struct blkdev_stats {
	uint64_t reads, writes, flushes, errors, bad_responses, kicks, irqs;
	uint64_t held; /* requests whose pages the device still had when they ended: their
			* completion waited until it let go (blkfront) */
};

struct blkdev {
	char name[16];
	uint32_t sector_size;
	uint64_t sectors;
	uint32_t max_bytes; /* the largest request */
	bool flush;	    /* BLK_FLUSH makes earlier writes durable */
	bool read_only;
	const struct blkdev_ops *ops;
	struct blkdev_stats st;
	const char *info;
};

void blkdev_register(struct blkdev *d);
unsigned blkdev_count(void);
/* Disks a driver has found but not yet registered (Xen's blkfront connects after its
 * probe): +1 when it finds one, -1 when that one is registered or given up. Users that
 * want every disk (an app opening /dev/vdb) wait a little while this is above 0. */
void blkdev_expect(int delta);
unsigned blkdev_pending(void);
struct blkdev *blkdev_get(unsigned i);
/* For drivers: whether r is a request d can take (0; -EOPNOTSUPP: a flush without flush
 * support; -EINVAL: out of range, empty, too large or unaligned; -EROFS: a write to a
 * read-only disk), and completing one (status set, errors counted, done called). */
int blkdev_check(const struct blkdev *d, const struct blk_req *r);
void blkdev_complete(struct blkdev *d, struct blk_req *r, int status);
/* Submits and waits (until the deadline: -ETIMEDOUT, after which the request may still
 * complete, so buf must stay valid: callers pass buffers that live on). */
int blk_sync(struct blkdev *d, enum blk_op op, uint64_t sector, uint32_t count, void *buf,
	     uint64_t deadline);
/* blk_sync for a buf inside `block`, from kmalloc, that the caller would free on an error:
 * on -ETIMEDOUT the block is no longer the caller's, and is freed once the request has
 * completed (never, if it never does). On any other return it is still the caller's. */
int blk_sync_or_free(struct blkdev *d, enum blk_op op, uint64_t sector, uint32_t count, void *buf,
		     uint64_t deadline, void *block);

#endif
