/* The xenstore wire protocol (xen/io/xs_wire.h) as pure functions: the shared rings, and
 * checking what xenstored sends before anything uses it. Host-tested (xs_msg_test.c);
 * xenstore.c is the transport. */
#ifndef HV_XEN_XS_MSG_H
#define HV_XEN_XS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <xen/io/xs_wire.h>

#include "lib/compiler.h"

/* Copies up to len bytes into the request ring; returns how many, or -EIO when the ring's
 * indices are impossible (the other side is broken). */
long xs_ring_put(struct xenstore_domain_interface *r, const void *data, size_t len);
/* Bytes waiting in the response ring, or -EIO for impossible indices. */
long xs_ring_avail(const struct xenstore_domain_interface *r);
/* Copies exactly len bytes out of the response ring (the caller checked xs_ring_avail). */
void xs_ring_get(struct xenstore_domain_interface *r, void *data, size_t len);

/* Drops n bytes of the response ring (the caller checked xs_ring_avail). */
void xs_ring_skip(struct xenstore_domain_interface *r, size_t n);

/* The reader's side of the response ring: messages taken whole, whatever arrives. A body
 * longer than XENSTORE_PAYLOAD_MAX is read past (not kept), so one bad message does not
 * leave the reader in the middle of the stream. */
struct xs_reader {
	struct xsd_sockmsg h;
	uint32_t got;	   /* body bytes taken so far */
	bool in_msg;	   /* h is read; the body is coming */
	size_t consumed;   /* bytes the last xs_read_msg took (room for xenstored) */
	char body[XENSTORE_PAYLOAD_MAX + 1]; /* NUL-terminated, when h.len fits */
};
/* Takes what the ring holds of the next message: 1 when a whole one is in rd (h, body),
 * 0 when more must arrive first, -EIO when the ring's indices are impossible. */
int xs_read_msg(struct xs_reader *rd, struct xenstore_domain_interface *r);

/* What a whole message from xenstored is (xen/io/xs_wire.h: replies carry the req_id
 * of their request; watch events come unasked). */
enum xs_kind {
	XS_MSG_EVENT,	/* XS_WATCH_EVENT: for the watches */
	XS_MSG_REPLY,	/* the reply the requester waits for (req_id == awaited) */
	XS_MSG_LATE,	/* a reply to a request we sent and gave up on (timed out) */
	XS_MSG_STRAY,	/* a reply to no request we sent */
	XS_MSG_TOO_LONG, /* len > XENSTORE_PAYLOAD_MAX (its body was read past) */
	XS_MSG_BAD_TYPE, /* a type xs_wire.h does not know */
};
/* awaited: the req_id a requester waits for, 0 for none; last_id: the last req_id sent
 * (ids are handed out 1, 2, ... and wrap, skipping 0). */
enum xs_kind xs_classify(const struct xsd_sockmsg *h, uint32_t awaited, uint32_t last_id);

/* A reply header: 0 when it may be read (len within XENSTORE_PAYLOAD_MAX), else -EIO. */
int xs_check_header(const struct xsd_sockmsg *h);
/* The reply to a request of type `want`: 0, the error XS_ERROR names (negative errno; an
 * unknown or malformed one is -EIO), or -EIO for a reply of the wrong type. */
int xs_check_reply(const struct xsd_sockmsg *h, const char *body, uint32_t want);
/* Splits a body of NUL-terminated strings (a directory listing, a watch event) into at
 * most max pointers: returns how many, or -EIO when it does not end in NUL. */
int xs_split(const char *body, uint32_t len, const char **out, unsigned max);

#endif
