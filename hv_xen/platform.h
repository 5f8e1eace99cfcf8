/* What the Xen platform's parts (xen.c, grants, xenstore, xenbus, the frontends) share.
 * Private to the Xen side: hv_xen/, netfront/, blkfront/. */
#ifndef HV_XEN_PLATFORM_H
#define HV_XEN_PLATFORM_H

#include <stdint.h>

#include "lib/compiler.h"

/* true on xen-pv (machine frames, mapping by hypercall), false on xen-pvh */
bool xen_is_pv(void);
/* The frame number a backend uses for our page at va: PV its machine frame, PVH its guest
 * frame. */
uint64_t xen_gfn(const void *va);
/* The kernel command line, for the frontends' options. */
const char *xen_cmdline(void);
/* Xenstore's ring and event channel, from start_info (PV) or HVM params (PVH). */
void *xen_store_ring(void);
unsigned xen_store_port(void);

#endif
