#include "lib/inet.h"

#include "lib/errno.h"
#include "lib/siphash.h"
#include "lib/string.h"

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

uint16_t inet_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += be16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* an unfragmented IPv4 TCP segment's TCP header, *data its payload's length; or NULL */
static const uint8_t *tcp_header(const uint8_t *f, size_t len, size_t *data)
{
	if (len < 14 + 20 || be16(f + 12) != ETH_P_IP)
		return NULL;
	const uint8_t *h = f + 14;
	size_t ihl = (h[0] & 15u) * 4, total = be16(h + 2);

	if ((h[0] >> 4) != 4 || ihl < 20 || total < ihl + 20 || total > len - 14 || h[9] != 6 ||
	    (be16(h + 6) & 0x3fff))
		return NULL;
	const uint8_t *t = h + ihl;
	size_t thl = (t[12] >> 4) * 4u;

	if (thl < 20 || ihl + thl > total)
		return NULL;
	*data = total - ihl - thl;
	return t;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

uint32_t inet_tcp_isn(const uint64_t key[2], uint32_t laddr, uint16_t lport, uint32_t raddr,
		      uint16_t rport, uint64_t ns)
{
	const uint32_t t[3] = { laddr, raddr, (uint32_t)lport << 16 | rport };

	return (uint32_t)(ns >> 12) + (uint32_t)siphash24(key, t, sizeof(t));
}

bool inet_tcp_parse(const uint8_t *f, size_t len, struct inet_tcp *seg)
{
	size_t data;
	const uint8_t *t = tcp_header(f, len, &data);

	if (!t)
		return false;
	seg->tcp = (uint16_t)(t - f); /* (tcp_header: within an IPv4 packet's 64 KiB) */
	seg->data = (uint16_t)data;
	seg->flags = t[13];
	return true;
}

bool inet_tcp_pure_ack(const uint8_t *f, size_t len)
{
	struct inet_tcp s;

	return inet_tcp_parse(f, len, &s) && inet_tcp_is_pure_ack(&s);
}

enum inet_ack_relation inet_ack_relation(const uint8_t *newer, size_t nlen,
					 const uint8_t *older, size_t olen)
{
	size_t nd, od;
	const uint8_t *n = tcp_header(newer, nlen, &nd), *o = tcp_header(older, olen, &od);

	if (!n || !o || !same(n, o, 4) || !same(newer + 26, older + 26, 8))
		return INET_OTHER_FLOW; /* ports, then addresses */
	if (!inet_tcp_pure_ack(newer, nlen) || !inet_tcp_pure_ack(older, olen) ||
	    (int32_t)(be32(n + 8) - be32(o + 8)) <= 0)
		return INET_SAME_FLOW;
	return INET_ACK_SUPERSEDES;
}

void inet_tcp_pseudo_sum(uint8_t *f, const struct inet_tcp *seg)
{
	const uint8_t *h = f + 14;
	uint32_t sum = be16(h + 12) + be16(h + 14) + be16(h + 16) + be16(h + 18) + 6 +
		       (uint32_t)(be16(h + 2) - (seg->tcp - 14));

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(f + seg->tcp + INET_TCP_CSUM_OFFSET, (uint16_t)sum);
}

bool inet_tcp_csum_offload(uint8_t *f, size_t len, uint16_t *start, uint16_t *offset)
{
	struct inet_tcp s;

	if (!inet_tcp_parse(f, len, &s))
		return false;
	inet_tcp_pseudo_sum(f, &s);
	*start = s.tcp;
	*offset = INET_TCP_CSUM_OFFSET;
	return true;
}

static void copy(uint8_t *d, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
}

enum inet_append inet_tcp_append(uint8_t *super, size_t *len, size_t room, uint16_t *gso_size,
				 const uint8_t *seg, size_t seglen)
{
	size_t ds, dk;
	const uint8_t *ts = tcp_header(super, *len, &ds), *tk = tcp_header(seg, seglen, &dk);

	if (!ts || !tk || !ds || !dk)
		return INET_NOT_CONTINUED;
	const uint8_t *hs = super + 14, *hk = seg + 14;
	size_t ihl = (size_t)(ts - hs), thl = (ts[12] >> 4) * 4u, g = *gso_size ? *gso_size : ds;

	if ((size_t)(tk - hk) != ihl || (tk[12] >> 4) * 4u != thl || *len != 14 + ihl + thl + ds ||
	    !same(ts, tk, 4) || !same(hs + 12, hk + 12, 8) || !same(ts + 8, tk + 8, 4) ||
	    !same(ts + 20, tk + 20, thl - 20) || ts[13] != 0x10 ||
	    (tk[13] != 0x10 && tk[13] != 0x18) || ds % g || dk > g ||
	    be32(tk + 4) != be32(ts + 4) + (uint32_t)ds)
		return INET_NOT_CONTINUED;
	size_t total = ihl + thl + ds + dk;

	if (total > 0xffff || 14 + total > room)
		return INET_NO_ROOM;
	uint8_t *h = super + 14, *t = h + ihl;

	memcpy(super + *len, tk + thl, dk);
	*len += dk;
	*gso_size = (uint16_t)g;
	put16(h + 2, (uint16_t)total);
	put16(h + 10, 0);
	put16(h + 10, inet_csum(h, ihl));
	t[13] |= tk[13];
	put16(t + 14, be16(tk + 14));
	uint16_t start, off;

	inet_tcp_csum_offload(super, *len, &start, &off);
	return INET_APPENDED;
}

/* Ethernet: the reply goes back to the sender, from us */
static void eth_turn(uint8_t *f, const uint8_t mac[6])
{
	copy(f, f + 6, 6);
	copy(f + 6, mac, 6);
}

static enum inet_answer arp(uint8_t *f, size_t len, const uint8_t mac[6], const uint8_t ip[4])
{
	uint8_t *a = f + 14;

	if (len < 14 + 28)
		return INET_IGNORED; /* too short to be anyone's */
	/* Ethernet/IPv4, a request, for our address */
	if (be16(a) != 1 || be16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4 ||
	    be16(a + 6) != 1 || !same(a + 24, ip, 4))
		return INET_IGNORED;
	uint8_t sha[6], spa[4];

	copy(sha, a + 8, 6);
	copy(spa, a + 14, 4);
	put16(a + 6, 2);
	copy(a + 8, mac, 6);
	copy(a + 14, ip, 4);
	copy(a + 18, sha, 6);
	copy(a + 24, spa, 4);
	eth_turn(f, mac);
	return INET_ARP_REPLY;
}

static enum inet_answer ipv4(uint8_t *f, size_t len, const uint8_t mac[6], const uint8_t ip[4],
			     size_t *out_len)
{
	uint8_t *h = f + 14;
	size_t avail = len - 14;

	if (avail < 20 || (h[0] >> 4) != 4)
		return INET_IGNORED;
	size_t ihl = (h[0] & 15) * 4, total = be16(h + 2);

	if (!same(h + 16, ip, 4) || h[9] != 1 /* ICMP */)
		return INET_IGNORED;
	if (ihl < 20 || total < ihl + 8 || total > avail || inet_csum(h, ihl))
		return INET_BAD;
	if (be16(h + 6) & 0x3fff)
		return INET_IGNORED; /* a fragment: not for this responder */
	uint8_t *icmp = h + ihl;
	size_t ilen = total - ihl;

	if (icmp[0] != 8 || icmp[1] != 0)
		return INET_IGNORED; /* not an echo request */
	if (inet_csum(icmp, ilen))
		return INET_BAD;
	/* swapping the addresses leaves the header checksum as it is */
	uint8_t src[4];

	copy(src, h + 12, 4);
	copy(h + 12, h + 16, 4);
	copy(h + 16, src, 4);
	icmp[0] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 2, inet_csum(icmp, ilen));
	eth_turn(f, mac);
	*out_len = 14 + total;
	return INET_ECHO_REPLY;
}

enum inet_answer inet_answer(uint8_t *f, size_t len, const uint8_t mac[6], const uint8_t ip[4],
			     size_t *out_len)
{
	if (len < 14)
		return INET_IGNORED;
	*out_len = len;
	switch (be16(f + 12)) {
	case ETH_P_ARP:
		return arp(f, len, mac, ip);
	case ETH_P_IP:
		return ipv4(f, len, mac, ip, out_len);
	default:
		return INET_IGNORED;
	}
}

int inet_parse_ip(const char *s, uint8_t ip[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned v = 0, digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
			v = v * 10 + (*s - '0');
		if (!digits || v > 255 || *s != (i == 3 ? 0 : '.'))
			return -EINVAL;
		ip[i] = v;
		if (*s)
			s++;
	}
	return 0;
}
