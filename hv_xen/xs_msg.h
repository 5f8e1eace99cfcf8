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

/* A reply header: 0 when it may be read (len within XENSTORE_PAYLOAD_MAX), else -EIO. */
int xs_check_header(const struct xsd_sockmsg *h);
/* The reply to a request of type `want`: 0, the error XS_ERROR names (negative errno; an
 * unknown or malformed one is -EIO), or -EIO for a reply of the wrong type. */
int xs_check_reply(const struct xsd_sockmsg *h, const char *body, uint32_t want);
/* Splits a body of NUL-terminated strings (a directory listing, a watch event) into at
 * most max pointers: returns how many, or -EIO when it does not end in NUL. */
int xs_split(const char *body, uint32_t len, const char **out, unsigned max);

#endif
