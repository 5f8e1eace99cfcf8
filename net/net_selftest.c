/* Guest tests of the network stack, the same on every platform (lwIP over any netdev):
 *   udp_echo: an echo server on UDP port 7 until the host side says "BYE"; passes when
 *             udp_count= (default 10000) datagrams were echoed.
 * The host side (test_matrix/netclient.py, or dom0) starts once the guest prints
 * "net: udp echo ready". */
#include "common/console.h"
#include "common/netdev.h"
#include "common/selftest.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "net/net.h"
#include "net/socket.h"
#include "sched/sched.h"

#define MS 1000000ull

static void report(struct result *r)
{
	struct net_stats s;
	struct netdev *d = netdev_get(0);

	net_stats(&s);
	uint64_t pk = d ? d->st.rx_packets + d->st.tx_packets : 0;

	kprintf("net: %lu frames in (%lu to flow channels, %lu to the default one, %lu channel "
		"drops), %lu out (%lu dropped); %lu kicks and %lu interrupts per 1000 packets\n",
		s.rx_frames, s.classified, s.to_default, s.chan_drops, s.tx_frames, s.tx_drops,
		pk ? d->st.kicks * 1000 / pk : 0, pk ? d->st.irqs * 1000 / pk : 0);
	kprintf("net: lwIP dropped: ip %lu (checksum %lu, length %lu, protocol %lu), udp %lu "
		"(checksum %lu), tcp %lu (checksum %lu), icmp %lu, link %lu\n",
		s.ip_drop, s.ip_chkerr, s.ip_lenerr, s.ip_proterr, s.udp_drop, s.udp_chkerr,
		s.tcp_drop, s.tcp_chkerr, s.icmp_drop, s.link_drop);
}

void selftest_udp_echo(struct result *r, const struct boot_info *bi)
{
	uint64_t want = 10000, n = 0, bytes = 0;
	static uint8_t buf[2048];
	int rc = net_start(bi->cmdline, clock_ns() + 30000 * MS);

	cmdline_get_u64(bi->cmdline, "udp_count", &want);
	EXPECT(r, rc == 0, "the network did not come up: %d", rc);
	if (rc)
		return;
	int s = sock_socket(SOCK_DGRAM);

	EXPECT(r, s >= 0, "socket: %d", s);
	if (s < 0)
		return;
	rc = sock_bind(s, 0, 7);
	EXPECT(r, rc == 0, "bind to port 7: %d", rc);
	sock_set_timeout(s, 60000);
	kprintf("net: udp echo ready on port 7\n");
	while (r->ok) {
		uint32_t ip;
		uint16_t port;
		long len = sock_recvfrom(s, buf, sizeof(buf), &ip, &port);

		if (len < 0) {
			EXPECT(r, false, "recvfrom after %lu datagrams: %ld", n, len);
			break;
		}
		if (len == 3 && !memcmp(buf, "BYE", 3))
			break;
		long sent = sock_sendto(s, buf, (size_t)len, ip, port);

		EXPECT(r, sent == len, "sendto: %ld", sent);
		n++;
		bytes += (uint64_t)len;
	}
	sock_close(s);
	kprintf("net: udp echoed %lu datagrams, %lu bytes\n", n, bytes);
	report(r);
	EXPECT(r, n >= want, "echoed %lu datagrams, %lu expected", n, want);
	result_note(r, "echoed=%lu bytes=%lu", n, bytes);
}
