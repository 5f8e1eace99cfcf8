#include "lib/errno.h" /* before xs_wire.h: its error table needs the numbers */

#include "hv_xen/xs_msg.h"

/* indices are free-running; a distance above the ring's size cannot happen honestly */
long xs_ring_put(struct xenstore_domain_interface *r, const void *data, size_t len)
{
	XENSTORE_RING_IDX cons = __atomic_load_n(&r->req_cons, __ATOMIC_ACQUIRE);
	XENSTORE_RING_IDX prod = r->req_prod;
	const char *p = data;
	size_t n = 0;

	if (prod - cons > XENSTORE_RING_SIZE)
		return -EIO;
	for (; n < len && prod - cons < XENSTORE_RING_SIZE; n++, prod++)
		r->req[MASK_XENSTORE_IDX(prod)] = p[n];
	__atomic_store_n(&r->req_prod, prod, __ATOMIC_RELEASE); /* the bytes, then the index */
	return (long)n;
}

long xs_ring_avail(const struct xenstore_domain_interface *r)
{
	XENSTORE_RING_IDX prod = __atomic_load_n(&r->rsp_prod, __ATOMIC_ACQUIRE);
	XENSTORE_RING_IDX n = prod - r->rsp_cons;

	return n > XENSTORE_RING_SIZE ? -EIO : (long)n;
}

void xs_ring_get(struct xenstore_domain_interface *r, void *data, size_t len)
{
	XENSTORE_RING_IDX cons = r->rsp_cons;
	char *p = data;

	for (size_t i = 0; i < len; i++, cons++)
		p[i] = r->rsp[MASK_XENSTORE_IDX(cons)];
	/* the bytes are read before the space is handed back */
	__atomic_store_n(&r->rsp_cons, cons, __ATOMIC_RELEASE);
}

void xs_ring_skip(struct xenstore_domain_interface *r, size_t n)
{
	__atomic_store_n(&r->rsp_cons, r->rsp_cons + (XENSTORE_RING_IDX)n, __ATOMIC_RELEASE);
}

int xs_read_msg(struct xs_reader *rd, struct xenstore_domain_interface *r)
{
	long avail = xs_ring_avail(r);

	rd->consumed = 0;
	if (avail < 0)
		return -EIO;
	if (!rd->in_msg) {
		if ((size_t)avail < sizeof(rd->h))
			return 0;
		xs_ring_get(r, &rd->h, sizeof(rd->h));
		avail -= sizeof(rd->h);
		rd->consumed = sizeof(rd->h);
		rd->in_msg = true;
		rd->got = 0;
	}
	/* a body may be larger than the ring (a long one, or a lie): take it as it comes */
	uint32_t n = (uint32_t)MIN((uint64_t)avail, (uint64_t)(rd->h.len - rd->got));

	if (rd->h.len <= XENSTORE_PAYLOAD_MAX)
		xs_ring_get(r, rd->body + rd->got, n);
	else
		xs_ring_skip(r, n);
	rd->got += n;
	rd->consumed += n;
	if (rd->got < rd->h.len)
		return 0;
	if (rd->h.len <= XENSTORE_PAYLOAD_MAX)
		rd->body[rd->h.len] = 0;
	rd->in_msg = false;
	return 1;
}

enum xs_kind xs_classify(const struct xsd_sockmsg *h, uint32_t awaited, uint32_t last_id)
{
	if (h->len > XENSTORE_PAYLOAD_MAX)
		return XS_MSG_TOO_LONG;
	if (h->type >= XS_TYPE_COUNT)
		return XS_MSG_BAD_TYPE;
	if (h->type == XS_WATCH_EVENT)
		return XS_MSG_EVENT;
	if (awaited && h->req_id == awaited)
		return XS_MSG_REPLY;
	/* sent already: among the 2^31 ids up to last_id (ids wrap; 0 is never sent) */
	if (h->req_id && last_id - h->req_id < 0x80000000u)
		return XS_MSG_LATE;
	return XS_MSG_STRAY;
}

int xs_check_header(const struct xsd_sockmsg *h)
{
	return h->len <= XENSTORE_PAYLOAD_MAX && h->type < XS_TYPE_COUNT ? 0 : -EIO;
}

static int error_of(const char *body, uint32_t len)
{
	if (!len || body[len - 1])
		return -EIO;
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++) {
		const char *a = xsd_errors[i].errstring, *b = body;

		while (*a && *a == *b)
			a++, b++;
		if (!*a && !*b)
			return -xsd_errors[i].errnum;
	}
	return -EIO;
}

int xs_check_reply(const struct xsd_sockmsg *h, const char *body, uint32_t want)
{
	if (xs_check_header(h))
		return -EIO;
	if (h->type == XS_ERROR)
		return error_of(body, h->len);
	return h->type == want ? 0 : -EIO;
}

int xs_split(const char *body, uint32_t len, const char **out, unsigned max)
{
	unsigned n = 0;

	if (len && body[len - 1])
		return -EIO;
	for (uint32_t i = 0; i < len; n++) {
		if (n < max)
			out[n] = body + i;
		while (body[i])
			i++;
		i++;
	}
	return (int)n;
}
