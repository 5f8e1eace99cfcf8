/* The xenstore client: requests over the shared ring, one at a time, each answered within
 * a deadline; watches delivered to a thread of their own, so a watch callback may make
 * requests. Paths without a leading '/' are relative to our domain's home
 * (/local/domain/<id>/). Every reply is checked (xs_msg.c) before use.
 *
 * Results are 0 or a length, or a negative errno: -ENOENT and the other XS_ERROR codes as
 * xenstored says them, -EIO for a malformed reply, -E2BIG when a value does not fit,
 * -ETIMEDOUT when xenstored did not answer, -ENODEV when there is no xenstore. */
#ifndef HV_XEN_XENSTORE_H
#define HV_XEN_XENSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/compiler.h"

#define XS_NO_TX 0

/* Starts the client (ring, event channel, reader and watch threads). */
int xs_init(void);
/* The value at path, NUL-terminated, in buf; returns its length. */
int xs_read(uint32_t tx, const char *path, char *buf, size_t size);
/* A decimal (or 0x hex) unsigned number at path. */
int xs_read_u64(uint32_t tx, const char *path, uint64_t *v);
int xs_write(uint32_t tx, const char *path, const char *value);
int xs_printf(uint32_t tx, const char *path, const char *fmt, ...) __printf(3, 4);
int xs_rm(uint32_t tx, const char *path);
/* The children of path as consecutive NUL-terminated names in buf; returns how many. */
int xs_directory(uint32_t tx, const char *path, char *buf, size_t size);

int xs_transaction_start(uint32_t *tx);
/* commit false aborts. A conflicting commit returns -EAGAIN. */
int xs_transaction_end(uint32_t tx, bool commit);
/* Runs fn in a transaction and commits; starts over on -EAGAIN (up to 16 times). fn's
 * non-zero result aborts and is returned. *tries (may be NULL) says how many it took. */
int xs_transaction(int (*fn)(uint32_t tx, void *arg), void *arg, unsigned *tries);

struct xs_watch {
	const char *path;
	/* runs on the watch thread, once when the watch is set and after every change at or
	 * below path; `changed` is lent for the call (copy what is kept) */
	void (*fn)(struct xs_watch *w, const char *changed);
	void *arg;
	/* the client's */
	struct xs_watch *next;
	char token[24];
};
int xs_watch(struct xs_watch *w);
int xs_unwatch(struct xs_watch *w);

struct xs_stats {
	uint64_t requests, events, dropped_replies, bad_replies, timeouts;
};
void xs_stats(struct xs_stats *s);

#endif
