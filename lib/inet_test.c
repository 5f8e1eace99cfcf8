#include <string.h>

#include "lib/errno.h"
#include "lib/inet.h"
#include "tools/unit/unit.h"

static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0, 0, 2 };
static const uint8_t ip[4] = { 10, 0, 9, 2 };
static const uint8_t peer_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

TEST(inet_checksum_rfc1071)
{
	/* RFC 1071's example bytes: sum 0xddf2, checksum its complement */
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	CHECK_EQ(inet_csum(b, sizeof(b)), (uint16_t)~0xddf2);
	static const uint8_t odd[] = { 0x01 };

	CHECK_EQ(inet_csum(odd, 1), (uint16_t)~0x0100);
}

static size_t echo_request(uint8_t *f, size_t payload)
{
	memset(f, 0, 1600);
	memcpy(f, mac, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08;
	uint8_t *h = f + 14;
	size_t total = 20 + 8 + payload;

	h[0] = 0x45;
	h[2] = total >> 8;
	h[3] = total & 0xff;
	h[8] = 64;
	h[9] = 1;
	memcpy(h + 12, (uint8_t[]){ 10, 0, 9, 1 }, 4);
	memcpy(h + 16, ip, 4);
	uint16_t c = inet_csum(h, 20);

	h[10] = c >> 8;
	h[11] = c & 0xff;
	uint8_t *icmp = h + 20;

	icmp[0] = 8;
	icmp[4] = 0x12;
	icmp[6] = 0x00;
	icmp[7] = 0x01;
	for (size_t i = 0; i < payload; i++)
		icmp[8 + i] = (uint8_t)i;
	c = inet_csum(icmp, 8 + payload);
	icmp[2] = c >> 8;
	icmp[3] = c & 0xff;
	return 14 + total;
}

TEST(inet_answers_echo_and_arp)
{
	uint8_t f[1600];
	size_t len = echo_request(f, 56), out = 0;

	CHECK_EQ(inet_answer(f, len + 10 /* Ethernet padding */, mac, ip, &out), INET_ECHO_REPLY);
	CHECK_EQ(out, len);
	CHECK(!memcmp(f, peer_mac, 6) && !memcmp(f + 6, mac, 6));
	CHECK(!memcmp(f + 14 + 12, ip, 4));
	CHECK_EQ(f[14 + 20], 0); /* echo reply */
	CHECK_EQ(inet_csum(f + 14, 20), 0);
	CHECK_EQ(inet_csum(f + 14 + 20, 8 + 56), 0);

	len = echo_request(f, 56);
	f[14 + 20 + 9] ^= 1; /* corrupt the payload: the checksum no longer fits */
	CHECK_EQ(inet_answer(f, len, mac, ip, &out), INET_BAD);
	len = echo_request(f, 56);
	f[14 + 3] += 100; /* an IP length past the frame */
	CHECK_EQ(inet_answer(f, len, mac, ip, &out), INET_BAD);
	len = echo_request(f, 56);
	f[14 + 19] = 3; /* for someone else */
	CHECK_EQ(inet_answer(f, len, mac, ip, &out), INET_IGNORED);
	CHECK_EQ(inet_answer(f, 10, mac, ip, &out), INET_IGNORED);

	/* ARP who-has 10.0.9.2 tell 10.0.9.1 */
	memset(f, 0, sizeof(f));
	memset(f, 0xff, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	uint8_t *a = f + 14;

	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = 1;
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, (uint8_t[]){ 10, 0, 9, 1 }, 4);
	memcpy(a + 24, ip, 4);
	CHECK_EQ(inet_answer(f, 60, mac, ip, &out), INET_ARP_REPLY);
	CHECK_EQ(a[7], 2);
	CHECK(!memcmp(a + 8, mac, 6) && !memcmp(a + 14, ip, 4));
	CHECK(!memcmp(a + 18, peer_mac, 6) && a[24] == 10 && a[27] == 1);
	CHECK(!memcmp(f, peer_mac, 6));
	CHECK_EQ(inet_answer(f, 30, mac, ip, &out), INET_IGNORED); /* truncated */
}

TEST(inet_ip_addresses_parse)
{
	uint8_t b[4];

	CHECK_EQ(inet_parse_ip("10.0.9.2", b), 0);
	CHECK(b[0] == 10 && b[1] == 0 && b[2] == 9 && b[3] == 2);
	CHECK_EQ(inet_parse_ip("256.0.0.1", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("1.2.3", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("1.2.3.4.5", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("1..3.4", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("", b), -EINVAL);
}

/* an Ethernet IPv4 TCP frame 10.0.9.2:5001 -> 10.0.9.1:40000 with payload bytes of i*7 */
static size_t tcp_frame(uint8_t *f, size_t payload)
{
	memset(f, 0, 1600);
	f[12] = 0x08;
	uint8_t *h = f + 14, *t = h + 20;
	size_t total = 20 + 20 + payload;

	h[0] = 0x45;
	h[2] = (uint8_t)(total >> 8);
	h[3] = (uint8_t)total;
	h[6] = 0x40; /* DF */
	h[8] = 64;
	h[9] = 6;
	memcpy(h + 12, ip, 4);
	memcpy(h + 16, (uint8_t[]){ 10, 0, 9, 1 }, 4);
	t[0] = 5001 >> 8;
	t[1] = 5001 & 255;
	t[2] = 40000 >> 8;
	t[3] = 40000 & 255;
	t[12] = 5 << 4;
	t[13] = 0x18;
	for (size_t i = 0; i < payload; i++)
		t[20 + i] = (uint8_t)(i * 7);
	return 14 + total;
}

/* the TCP checksum as a sender computes it: pseudo-header and segment, field 0 */
static uint16_t tcp_csum_ref(const uint8_t *f, size_t len)
{
	static uint8_t b[1600 + 12];
	size_t seg = len - 34;

	memcpy(b, f + 26, 8); /* source, destination */
	b[8] = 0;
	b[9] = 6;
	b[10] = (uint8_t)(seg >> 8);
	b[11] = (uint8_t)seg;
	memcpy(b + 12, f + 34, seg);
	b[12 + 16] = b[12 + 17] = 0;
	return inet_csum(b, 12 + seg);
}

static void f_ip_csum(uint8_t *f)
{
	uint16_t c;

	f[14 + 10] = f[14 + 11] = 0;
	c = inet_csum(f + 14, 20);
	f[14 + 10] = (uint8_t)(c >> 8);
	f[14 + 11] = (uint8_t)c;
}

TEST(inet_tcp_checksum_offload_prepares_what_a_device_completes)
{
	static uint8_t f[1600];
	uint16_t start = 0, off = 0;

	for (size_t payload = 0; payload <= 1460; payload += 487) { /* 0, 487, 974, 1461-1 */
		size_t len = tcp_frame(f, payload);
		uint16_t want = tcp_csum_ref(f, len);

		f[34 + 16] = 0xab; /* whatever the field held */
		CHECK(inet_tcp_csum_offload(f, len, &start, &off));
		CHECK_EQ(start, 34);
		CHECK_EQ(off, 16);
		/* the device: the complement of the sum from start, into the field */
		uint16_t c = inet_csum(f + start, len - start);

		CHECK_EQ(c, want);
		f[start + off] = (uint8_t)(c >> 8);
		f[start + off + 1] = (uint8_t)c;
		/* a receiver's check over pseudo-header and segment holds */
		CHECK_EQ(tcp_csum_ref(f, len), want);
	}
	size_t len = tcp_frame(f, 100);

	CHECK(!inet_tcp_csum_offload(f, len - 1, &start, &off)); /* IP length past the frame */
	CHECK(!inet_tcp_csum_offload(f, 30, &start, &off));
	f[14 + 9] = 17; /* UDP: not offloaded here */
	CHECK(!inet_tcp_csum_offload(f, len, &start, &off));
	f[14 + 9] = 6;
	f[14 + 6] = 0x20; /* more fragments */
	CHECK(!inet_tcp_csum_offload(f, len, &start, &off));
	f[14 + 6] = 0x40;
	f[14] = 0x44; /* a header length of 16 */
	CHECK(!inet_tcp_csum_offload(f, len, &start, &off));
	f[14] = 0x45;
	f[12] = 0x86; /* not IPv4 */
	CHECK(!inet_tcp_csum_offload(f, len, &start, &off));
}

static void set_ack(uint8_t *f, uint32_t ack, uint8_t flags)
{
	uint8_t *t = f + 34;

	t[8] = (uint8_t)(ack >> 24);
	t[9] = (uint8_t)(ack >> 16);
	t[10] = (uint8_t)(ack >> 8);
	t[11] = (uint8_t)ack;
	t[13] = flags;
}

TEST(inet_a_pure_ack_supersedes_an_older_one_of_its_connection_only)
{
	static uint8_t a[1600], b[1600];
	size_t la = tcp_frame(a, 0), lb = tcp_frame(b, 0);

	set_ack(a, 1000, 0x10);
	set_ack(b, 2460, 0x10);
	CHECK(inet_tcp_pure_ack(a, la));
	struct inet_tcp sa = { 0 };

	CHECK(inet_tcp_parse(a, la, &sa) && inet_tcp_is_pure_ack(&sa) && sa.data == 0);
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_ACK_SUPERSEDES);
	CHECK_EQ(inet_ack_relation(a, la, b, lb), INET_SAME_FLOW); /* older acknowledges less */
	set_ack(b, 1000, 0x10);
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_SAME_FLOW); /* a duplicate: counted */
	set_ack(a, 0xfffffff0u, 0x10);
	set_ack(b, 0x10, 0x10);
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_ACK_SUPERSEDES); /* across the wrap */
	set_ack(b, 0x10, 0x11);
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_SAME_FLOW); /* a FIN */
	set_ack(b, 0x10, 0x18);
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_SAME_FLOW); /* PSH */
	set_ack(b, 0x10, 0x10);
	lb = tcp_frame(b, 10);
	set_ack(b, 0x10, 0x10);
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_SAME_FLOW); /* data */
	CHECK(!inet_tcp_pure_ack(b, lb));
	struct inet_tcp s = { 0 };

	CHECK(inet_tcp_parse(b, lb, &s)); /* what linkoutput reads of every frame, once */
	CHECK_EQ(s.tcp, 34);
	CHECK_EQ(s.data, 10);
	CHECK_EQ(s.flags, 0x10);
	CHECK(!inet_tcp_is_pure_ack(&s));
	set_ack(b, 0x10, 0x14); /* a reset (net_report counts those sent) */
	CHECK(inet_tcp_parse(b, lb, &s));
	CHECK_EQ(s.flags, 0x14);
	CHECK(!inet_tcp_parse(b, 14 + 20 + 10, &s)); /* its TCP header cut short */
	b[14 + 9] = 17; /* UDP */
	CHECK(!inet_tcp_parse(b, lb, &s));
	b[14 + 9] = 6;
	lb = tcp_frame(b, 0);
	set_ack(b, 0x10, 0x10);
	b[34 + 1] ^= 1; /* another source port */
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_OTHER_FLOW);
	b[34 + 1] ^= 1;
	b[14 + 19] = 7; /* another destination */
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_OTHER_FLOW);
	b[14 + 19] = 1;
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_ACK_SUPERSEDES);
	b[14 + 9] = 17; /* UDP */
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_OTHER_FLOW);
	b[14 + 9] = 6;
	b[34 + 12] = 4 << 4; /* a TCP header of 16 bytes */
	CHECK_EQ(inet_ack_relation(b, lb, a, la), INET_OTHER_FLOW);
}

static void set_seq(uint8_t *f, uint32_t seq)
{
	uint8_t *t = f + 34;

	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
}

TEST(inet_tcp_append_gathers_the_segments_a_device_cuts_again)
{
	static uint8_t super[70000], seg[1600];
	size_t len = tcp_frame(super, 1460), seglen;
	uint16_t gso = 0, start, off;

	set_seq(super, 0xfffff000u); /* the sequence numbers wrap on the way */
	set_ack(super, 777, 0x10);
	f_ip_csum(super);
	for (unsigned i = 1; i <= 4; i++) {
		seglen = tcp_frame(seg, i == 4 ? 300 : 1460);
		for (size_t k = 0; k < seglen - 54; k++)
			seg[54 + k] = (uint8_t)(i * 31 + k);
		set_seq(seg, 0xfffff000u + i * 1460);
		set_ack(seg, 777, i == 4 ? 0x18 : 0x10);
		seg[34 + 14] = (uint8_t)i; /* a window that grows */
		CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
			 INET_APPENDED);
	}
	CHECK_EQ(gso, 1460);
	CHECK_EQ(len, 54 + 4 * 1460 + 300);
	CHECK_EQ(super[14 + 2] << 8 | super[14 + 3], 40 + 4 * 1460 + 300); /* IP length */
	CHECK_EQ(inet_csum(super + 14, 20), 0);				   /* IP header */
	CHECK_EQ(super[34 + 13], 0x18);					   /* PSH now */
	CHECK_EQ(super[34 + 14], 4);					   /* the last window */
	CHECK_EQ(super[54 + 1460 + 5], (uint8_t)(31 + 5));
	CHECK_EQ(super[54 + 4 * 1460 + 299], (uint8_t)(4 * 31 + 299));
	/* the pseudo-header sum is what inet_tcp_csum_offload writes: the device completes a
	 * right checksum */
	uint8_t field[2] = { super[34 + 16], super[34 + 17] };

	CHECK(inet_tcp_csum_offload(super, len, &start, &off));
	CHECK(field[0] == super[34 + 16] && field[1] == super[34 + 17]);

	/* what does not continue it */
	seglen = tcp_frame(seg, 100);
	set_ack(seg, 777, 0x10);
	set_seq(seg, 0xfffff000u + 4 * 1460 + 300);
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED); /* super has PSH: its end */
	super[34 + 13] = 0x10;
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED); /* super's data is no whole number of segments */
	len = tcp_frame(super, 1460);
	gso = 0;
	set_ack(super, 777, 0x10);
	set_seq(seg, 1460);
	CHECK_EQ(inet_tcp_append(super, &len, 1600, &gso, seg, seglen), INET_NO_ROOM);
	CHECK_EQ(gso, 0);
	set_seq(seg, 1461); /* a gap */
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED);
	set_seq(seg, 1460);
	set_ack(seg, 778, 0x10); /* another acknowledgement */
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED);
	set_ack(seg, 777, 0x11); /* FIN */
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED);
	set_ack(seg, 777, 0x10);
	seg[34 + 1] ^= 1; /* another connection */
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED);
	seg[34 + 1] ^= 1;
	seglen = tcp_frame(seg, 1461); /* more than a segment */
	set_ack(seg, 777, 0x10);
	set_seq(seg, 1460);
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED);
	seglen = tcp_frame(seg, 0); /* no data */
	set_ack(seg, 777, 0x10);
	set_seq(seg, 1460);
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen),
		 INET_NOT_CONTINUED);
	/* 64 KiB at most: 44 segments of 1460 fit (64,240 + 40), the 45th does not */
	seglen = tcp_frame(seg, 1460);
	set_ack(seg, 777, 0x10);
	unsigned n = 1;

	for (;; n++) {
		set_seq(seg, n * 1460);
		if (inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen) != INET_APPENDED)
			break;
	}
	CHECK_EQ(n, 44);
	CHECK_EQ(inet_tcp_append(super, &len, sizeof(super), &gso, seg, seglen), INET_NO_ROOM);
	CHECK_EQ(len, 54 + 44 * 1460);
}

TEST(inet_tcp_isn_is_keyed_per_connection_and_rises_with_the_clock)
{
	const uint64_t key[2] = { 0x0123456789abcdefull, 0xfedcba9876543210ull };
	const uint64_t other[2] = { key[0], key[1] ^ 1 };
	uint32_t a = inet_tcp_isn(key, 0x0a000902, 5001, 0x0a000901, 40000, 0);

	/* another port, address or key: another number (a hash: not the clock's step) */
	CHECK(inet_tcp_isn(key, 0x0a000902, 5001, 0x0a000901, 40001, 0) != a);
	CHECK(inet_tcp_isn(key, 0x0a000902, 5002, 0x0a000901, 40000, 0) != a);
	CHECK(inet_tcp_isn(key, 0x0a000902, 5001, 0x0a000903, 40000, 0) != a);
	CHECK(inet_tcp_isn(other, 0x0a000902, 5001, 0x0a000901, 40000, 0) != a);
	/* the same connection later: further on by the clock's 4-us ticks (RFC 6528) */
	CHECK_EQ(inet_tcp_isn(key, 0x0a000902, 5001, 0x0a000901, 40000, 4096 * 1000), a + 1000);
	CHECK_EQ(inet_tcp_isn(key, 0x0a000902, 5001, 0x0a000901, 40000, 4095), a);
	/* lwIP's own (6,510 and the ticks) is the same in every boot: this one differs
	 * per key, and so per boot */
	CHECK(a != 6510);
}
