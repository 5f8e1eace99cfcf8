#include "netfront/check.h"
#include "tools/unit/unit.h"

static netif_rx_response_t rsp(uint16_t id, uint16_t off, uint16_t flags, int16_t status)
{
	return (netif_rx_response_t){ .id = id, .offset = off, .flags = flags, .status = status };
}

TEST(netfront_rx_responses_are_checked)
{
	netif_rx_response_t r;

	r = rsp(3, 0, 0, 60);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_OK);
	r = rsp(3, 4096 - 1514, NETRXF_data_validated, 1514);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_OK);
	r = rsp(3, 4000, 0, 1514); /* runs off the page */
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_BAD_LENGTH);
	r = rsp(3, 0xffff, 0, 0x7fff);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_BAD_LENGTH);
	r = rsp(3, 0, 0, 0);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_BAD_LENGTH);
	r = rsp(256, 0, 0, 60); /* past the ring */
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_BAD_ID);
	r = rsp(7, 0, 0, 60); /* not posted (a duplicate) */
	CHECK_EQ(netif_rx_verdict(&r, 256, false, 4096, false), RX_BAD_ID);
	r = rsp(3, 0, 0, NETIF_RSP_ERROR);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_ERROR);
	r = rsp(3, 0, NETRXF_more_data, 100);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_MULTI);
	r = rsp(3, 0, NETRXF_extra_info, 100);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, false), RX_MULTI);
	/* with feature-sg offered both are a packet's slots; the rest is checked the same */
	r = rsp(3, 0, NETRXF_more_data | NETRXF_extra_info, 4096);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, true), RX_OK);
	r = rsp(3, 1, NETRXF_more_data, 4096);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, true), RX_BAD_LENGTH);
	r = rsp(3, 0, NETRXF_more_data, 0);
	CHECK_EQ(netif_rx_verdict(&r, 256, true, 4096, true), RX_BAD_LENGTH);
}
