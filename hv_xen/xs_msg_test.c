#include <string.h>

#include "hv_xen/xs_msg.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

static struct xenstore_domain_interface ring;

TEST(xs_ring_wraps_and_fills)
{
	char big[XENSTORE_RING_SIZE + 10], out[64];

	memset(&ring, 0, sizeof(ring));
	memset(big, 'x', sizeof(big));
	ring.req_prod = ring.req_cons = 0xfffffff0u; /* indices about to wrap */
	CHECK_EQ(xs_ring_put(&ring, big, sizeof(big)), XENSTORE_RING_SIZE);
	CHECK_EQ(xs_ring_put(&ring, "y", 1), 0); /* full */
	ring.req_cons += 5;
	CHECK_EQ(xs_ring_put(&ring, "hello", 5), 5);
	for (int i = 0; i < 5; i++) /* they land where the wrapped index says */
		CHECK_EQ(ring.req[MASK_XENSTORE_IDX(ring.req_prod - 5 + i)], "hello"[i]);
	ring.req_cons = ring.req_prod - XENSTORE_RING_SIZE - 1; /* a lying consumer */
	CHECK_EQ(xs_ring_put(&ring, "z", 1), -EIO);

	ring.rsp_cons = 0xfffffffeu;
	for (int i = 0; i < 6; i++)
		ring.rsp[MASK_XENSTORE_IDX(ring.rsp_cons + i)] = "abcdef"[i];
	ring.rsp_prod = ring.rsp_cons + 6;
	CHECK_EQ(xs_ring_avail(&ring), 6);
	xs_ring_get(&ring, out, 6);
	CHECK(!memcmp(out, "abcdef", 6));
	CHECK_EQ(xs_ring_avail(&ring), 0);
	ring.rsp_prod = ring.rsp_cons + XENSTORE_RING_SIZE + 1;
	CHECK_EQ(xs_ring_avail(&ring), -EIO);
}

TEST(xs_replies_are_checked)
{
	struct xsd_sockmsg h = { .type = XS_READ, .len = 3 };

	CHECK_EQ(xs_check_reply(&h, "abc", XS_READ), 0);
	CHECK_EQ(xs_check_reply(&h, "abc", XS_WRITE), -EIO); /* wrong type */
	h.len = XENSTORE_PAYLOAD_MAX + 1;
	CHECK_EQ(xs_check_header(&h), -EIO);
	CHECK_EQ(xs_check_reply(&h, "abc", XS_READ), -EIO);
	h = (struct xsd_sockmsg){ .type = 999, .len = 0 };
	CHECK_EQ(xs_check_header(&h), -EIO);
	h = (struct xsd_sockmsg){ .type = XS_ERROR, .len = 7 };
	CHECK_EQ(xs_check_reply(&h, "ENOENT", XS_READ), -ENOENT);
	h.len = 7;
	CHECK_EQ(xs_check_reply(&h, "EAGAIN", XS_TRANSACTION_END), -EAGAIN);
	h.len = 6; /* no NUL */
	CHECK_EQ(xs_check_reply(&h, "EAGAINx", XS_READ), -EIO);
	h.len = 5;
	CHECK_EQ(xs_check_reply(&h, "EWHY", XS_READ), -EIO); /* unknown */
	h.len = 0;
	CHECK_EQ(xs_check_reply(&h, "", XS_READ), -EIO);
	h.len = 4;
	CHECK_EQ(xs_check_reply(&h, "ENO", XS_READ), -EIO); /* a prefix is not a match */
}

TEST(xs_split_strings)
{
	const char *s[4];

	CHECK_EQ(xs_split("a\0bc\0\0", 6, s, 4), 3);
	CHECK(!strcmp(s[0], "a") && !strcmp(s[1], "bc") && !strcmp(s[2], ""));
	CHECK_EQ(xs_split("a\0b", 3, s, 4), -EIO); /* unterminated */
	CHECK_EQ(xs_split("", 0, s, 4), 0);
	CHECK_EQ(xs_split("a\0b\0c\0d\0e\0", 10, s, 2), 5); /* counts past max */
	CHECK(!strcmp(s[1], "b"));
}
