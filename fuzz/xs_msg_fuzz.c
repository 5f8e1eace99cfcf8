/* hv_xen/xs_msg.c: the xenstore ring and messages as a lying xenstored writes them
 * (xen/io/xs_wire.h). Input: the response ring's indexes and bytes, the request ring's
 * indexes, then a request to put, then the type the reply should have. The consumer is
 * xenstore.c's: a header, then its body, checked, then split. The ring is a heap block of
 * exactly its size; bodies are blocks of exactly their length. */
#include "lib/errno.h" /* before xs_wire.h: its error table needs the numbers */

#include "fuzz/fuzz.h"
#include "hv_xen/xs_msg.h"

typedef struct xenstore_domain_interface ring_t;

static bool known_error(int rc)
{
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (rc == -xsd_errors[i].errnum)
			return true;
	return false;
}

static void check_split(const char *body, uint32_t len)
{
	const char *out[4];
	unsigned max = len % 5, nuls = 0;
	int n = xs_split(body, len, max ? out : NULL, max);

	for (uint32_t i = 0; i < len; i++)
		nuls += !body[i];
	if (len && body[len - 1]) {
		FUZZ_CHECK(n == -EIO);
		return;
	}
	FUZZ_CHECK(n == (int)nuls);
	for (int i = 0; i < n && (unsigned)i < max; i++) {
		/* each string starts inside the body, right after the previous one's NUL */
		FUZZ_CHECK(out[i] >= body && out[i] < body + len);
		FUZZ_CHECK(i == 0 ? out[i] == body : out[i] == out[i - 1] + strlen(out[i - 1]) + 1);
	}
}

/* takes messages off the response ring as xenstore.c does, while there are whole ones */
static void consume(ring_t *r, uint32_t want)
{
	for (int k = 0; k < 8; k++) {
		XENSTORE_RING_IDX before = r->rsp_cons;
		long avail = xs_ring_avail(r);
		uint32_t dist = r->rsp_prod - r->rsp_cons;
		struct xsd_sockmsg h;

		FUZZ_CHECK(avail == (dist > XENSTORE_RING_SIZE ? -EIO : (long)dist));
		if (avail < (long)sizeof(h))
			return;
		xs_ring_get(r, &h, sizeof(h));
		FUZZ_CHECK(r->rsp_cons == (XENSTORE_RING_IDX)(before + sizeof(h)));
		for (unsigned i = 0; i < sizeof(h); i++)
			FUZZ_CHECK(((char *)&h)[i] == r->rsp[MASK_XENSTORE_IDX(before + i)]);
		int hc = xs_check_header(&h);

		FUZZ_CHECK(hc ==
			   (h.len <= XENSTORE_PAYLOAD_MAX && h.type < XS_TYPE_COUNT ? 0 : -EIO));
		if (hc)
			return; /* xenstore.c gives up on the ring */
		if (xs_ring_avail(r) < (long)h.len)
			return;
		char *body = malloc(h.len ? h.len : 1);

		xs_ring_get(r, body, h.len);
		int rc = xs_check_reply(&h, body, want);

		if (h.type == XS_ERROR)
			FUZZ_CHECK(rc == -EIO || known_error(rc));
		else
			FUZZ_CHECK(rc == (h.type == want ? 0 : -EIO));
		check_split(body, h.len);
		free(body);
	}
}

static void produce(ring_t *r, const uint8_t *data, size_t len)
{
	static ring_t before;
	XENSTORE_RING_IDX prod = r->req_prod, used = r->req_prod - r->req_cons;

	memcpy(&before, r, sizeof(before));
	long n = xs_ring_put(r, data, len);

	if (used > XENSTORE_RING_SIZE) {
		FUZZ_CHECK(n == -EIO && !memcmp(&before, r, sizeof(before)));
		return;
	}
	size_t room = XENSTORE_RING_SIZE - used;

	FUZZ_CHECK(n == (long)(len < room ? len : room));
	FUZZ_CHECK(r->req_prod == prod + (uint32_t)n);
	for (long i = 0; i < n; i++) {
		FUZZ_CHECK(r->req[MASK_XENSTORE_IDX(prod + i)] == (char)data[i]);
		before.req[MASK_XENSTORE_IDX(prod + i)] = (char)data[i];
	}
	before.req_prod = r->req_prod;
	FUZZ_CHECK(!memcmp(&before, r, sizeof(before))); /* nothing else written */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	ring_t *r = calloc(1, sizeof(*r));
	uint8_t req[XENSTORE_RING_SIZE + 64];

	/* indexes near each other mostly, anywhere sometimes */
	r->rsp_cons = fz_u32(&f);
	r->rsp_prod = r->rsp_cons + (fz_u8(&f) & 0x80 ? fz_u32(&f) : fz_u16(&f) % 1200);
	fz_bytes(&f, r->rsp, fz_u16(&f) % (XENSTORE_RING_SIZE + 1));
	r->req_cons = fz_u32(&f);
	r->req_prod = r->req_cons + (fz_u8(&f) & 0x80 ? fz_u32(&f) : fz_u16(&f) % 1200);
	size_t rlen = fz_bytes(&f, req, fz_u16(&f) % sizeof(req));
	uint32_t want = fz_u8(&f) % (XS_TYPE_COUNT + 1);

	consume(r, want);
	produce(r, req, rlen);
	free(r);
	return 0;
}
