/* What netfront believes of a receive response (xen/io/netif.h), as a pure function the
 * host tests exercise with lying backends. */
#ifndef NETFRONT_CHECK_H
#define NETFRONT_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "hv_xen/ring.h"

#include <xen/io/netif.h>

enum rx_verdict {
	RX_OK,
	RX_BAD_ID,     /* not a buffer we posted: ignore it entirely */
	RX_ERROR,      /* the backend failed this buffer (NETIF_RSP_*): drop */
	RX_BAD_LENGTH, /* empty, or offset + length past the page: drop, count */
	RX_MULTI,      /* more-data or extra-info, not asked for (no sg): drop, count */
};

/* posted: whether id names a buffer of ours on the ring; sg: we offered feature-sg (and
 * GSO), so a packet may continue in more slots and carry extra-info slots */
static inline enum rx_verdict netif_rx_verdict(const netif_rx_response_t *r, unsigned ring_size,
					       bool posted, unsigned page_size, bool sg)
{
	if (r->id >= ring_size || !posted)
		return RX_BAD_ID;
	if (r->status < 0)
		return RX_ERROR;
	if (r->status == 0 || (uint32_t)r->offset + (uint32_t)r->status > page_size)
		return RX_BAD_LENGTH;
	if (!sg && (r->flags & (NETRXF_more_data | NETRXF_extra_info)))
		return RX_MULTI;
	return RX_OK;
}

#endif
