/* Grant tables, v1 (xen/grant_table.h): giving a backend domain access to one of our
 * pages. A grant is ended only when Xen says the backend no longer has it mapped; a busy
 * one waits on a deferred list (with the page it covers, which is not freed either), so a
 * reference or a page is never reused while a backend may still read or write it.
 *
 * The allocator (this file's pure half) works on any table, so the host tests run it on
 * a fake one; gnttab_setup() maps the real table. */
#ifndef HV_XEN_GRANT_H
#define HV_XEN_GRANT_H

#include <stdint.h>

#include "lib/compiler.h"

#define GNT_RESERVED 8 /* refs 0-7 belong to the toolstack (console, xenstore) */

struct grant_entry_v1;

/* Uses `table` (n entries) from now on. */
void gnttab_use(struct grant_entry_v1 *table, uint32_t n);
/* Maps the domain's grant table (PV: GNTTABOP_setup_table; PVH: add_to_physmap) and uses
 * it. 0 or a negative error. */
int gnttab_setup(void);
/* A reference giving domain `dom` access to frame `gfn` (PV: machine frame; PVH: guest
 * frame), or -ENOSPC. */
int gnttab_grant(uint16_t dom, uint64_t gfn, bool readonly);
/* Ends a grant if the backend no longer has it mapped: true, and ref is free again. false:
 * nothing changed, the grant stands (give it up with gnttab_release). */
bool gnttab_end(int ref);
/* Gives a grant up for good: it ends now or, while the backend still has it mapped, on a
 * later gnttab_reclaim(); page `free_pfn` (UINT64_MAX: none) is freed when it does. The
 * caller is done with ref (and with the page) either way. */
void gnttab_release(int ref, uint64_t free_pfn);
/* Tries the deferred grants again; returns how many are still held. */
unsigned gnttab_reclaim(void);
/* Frees a page on gnttab_reclaim's behalf (the kernel: mm_frame_free; tests: a fake). */
extern void (*gnttab_free_page)(uint64_t pfn);

struct gnttab_stats {
	uint32_t total, free, deferred;
	uint64_t granted, ended, ended_late;
};
void gnttab_stats(struct gnttab_stats *s);

#endif
