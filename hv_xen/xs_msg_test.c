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

/* A fake xenstored writing a byte stream into the response ring as room allows. */
struct stream {
	char buf[8192];
	size_t len, sent;
};

static void put_msg(struct stream *s, uint32_t type, uint32_t req_id, const char *body,
		    uint32_t len, uint32_t claimed_len)
{
	struct xsd_sockmsg h = { .type = type, .req_id = req_id, .len = claimed_len };

	memcpy(s->buf + s->len, &h, sizeof(h));
	s->len += sizeof(h);
	memcpy(s->buf + s->len, body, len);
	s->len += len;
}

static void produce(struct stream *s)
{
	while (s->sent < s->len && ring.rsp_prod - ring.rsp_cons < XENSTORE_RING_SIZE) {
		ring.rsp[MASK_XENSTORE_IDX(ring.rsp_prod)] = s->buf[s->sent++];
		ring.rsp_prod++;
	}
}

/* Request 5 timed out and request 6 waits: the late reply to 5, a message of an unknown
 * type, one longer than the payload limit (longer than the ring, too), a stray reply and
 * a watch event come first. Each is told apart by what it is, not by where it is, and the
 * reply to 6 still reaches 6 with its own body. */
TEST(xs_reader_stays_in_step_and_matches_by_id)
{
	static struct xs_reader rd;
	static struct stream s;
	static char junk[XENSTORE_PAYLOAD_MAX + 100];
	enum xs_kind want[] = { XS_MSG_LATE,  XS_MSG_BAD_TYPE, XS_MSG_TOO_LONG,
				XS_MSG_STRAY, XS_MSG_STRAY,    XS_MSG_EVENT, XS_MSG_REPLY };
	unsigned got = 0;

	memset(&ring, 0, sizeof(ring));
	memset(&rd, 0, sizeof(rd));
	memset(&s, 0, sizeof(s));
	memset(junk, 'j', sizeof(junk));
	ring.rsp_prod = ring.rsp_cons = 0xfffffe00u; /* about to wrap */
	put_msg(&s, XS_READ, 5, "old", 4, 4);
	put_msg(&s, 999, 6, "abc", 3, 3);
	put_msg(&s, XS_READ, 6, junk, sizeof(junk), sizeof(junk));
	put_msg(&s, XS_READ, 100, "x", 2, 2); /* an id never sent */
	put_msg(&s, XS_READ, 0, "x", 2, 2);
	put_msg(&s, XS_WATCH_EVENT, 0, "a/b\0tok", 8, 8);
	put_msg(&s, XS_READ, 6, "new", 4, 4);
	for (unsigned rounds = 0; got < 7 && rounds < 100; rounds++) {
		produce(&s);
		int rc;

		while ((rc = xs_read_msg(&rd, &ring)) == 1) {
			enum xs_kind k = xs_classify(&rd.h, 6, 6);

			CHECK_EQ(k, want[got]);
			if (k == XS_MSG_REPLY)
				CHECK(rd.h.len == 4 && !strcmp(rd.body, "new"));
			if (k == XS_MSG_EVENT)
				CHECK(rd.h.len == 8 && !strcmp(rd.body + 4, "tok"));
			got++;
		}
		CHECK_EQ(rc, 0);
	}
	CHECK_EQ(got, 7);
	CHECK_EQ(s.sent, s.len);
	CHECK_EQ(xs_ring_avail(&ring), 0);
	/* impossible indices are still the end */
	ring.rsp_prod = ring.rsp_cons + XENSTORE_RING_SIZE + 1;
	CHECK_EQ(xs_read_msg(&rd, &ring), -EIO);
}

TEST(xs_classify_by_req_id)
{
	struct xsd_sockmsg h = { .type = XS_READ, .req_id = 7 };

	CHECK_EQ(xs_classify(&h, 7, 7), XS_MSG_REPLY);
	CHECK_EQ(xs_classify(&h, 0, 7), XS_MSG_LATE); /* nobody waits any more */
	CHECK_EQ(xs_classify(&h, 8, 8), XS_MSG_LATE);
	CHECK_EQ(xs_classify(&h, 6, 6), XS_MSG_STRAY); /* not sent yet */
	h.req_id = 0xfffffffeu;				/* sent before the ids wrapped */
	CHECK_EQ(xs_classify(&h, 3, 3), XS_MSG_LATE);
	h.req_id = 0;
	CHECK_EQ(xs_classify(&h, 0, 3), XS_MSG_STRAY);
	h.type = XS_ERROR;
	h.req_id = 3;
	CHECK_EQ(xs_classify(&h, 3, 3), XS_MSG_REPLY); /* an error answers its request */
	h.type = XS_TYPE_COUNT;
	CHECK_EQ(xs_classify(&h, 3, 3), XS_MSG_BAD_TYPE);
	h.len = XENSTORE_PAYLOAD_MAX + 1;
	CHECK_EQ(xs_classify(&h, 3, 3), XS_MSG_TOO_LONG);
}
