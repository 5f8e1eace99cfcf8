/* Mapping the real grant table (the allocator is grant.c). The table's frames replace
 * pages of our own image: on PV by pointing their mapping at the frames Xen lists
 * (GNTTABOP_setup_table), on PVH by putting the frames at those pages' guest frames
 * (XENMEM_add_to_physmap), as with shared_info. */
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/memory.h>

#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "hv_xen/grant.h"
#include "hv_xen/hypercall.h"
#include "hv_xen/platform.h"
#include "lib/errno.h"
#include "mm/mm.h"

#define GNT_FRAMES 4 /* 2048 references */

static uint8_t gnt_pages[GNT_FRAMES][PAGE_SIZE] __aligned(PAGE_SIZE);

static void free_frame(uint64_t pfn)
{
	mm_frame_free(pfn);
}

int gnttab_setup(void)
{
	struct gnttab_query_size q = { .dom = DOMID_SELF };
	long rc = xen_grant_table_op(GNTTABOP_query_size, &q, 1);
	unsigned frames = GNT_FRAMES;

	if (!rc && q.status == GNTST_okay && q.max_nr_frames < frames)
		frames = q.max_nr_frames;
	if (!frames)
		return -ENOSPC;
	if (xen_is_pv()) {
		xen_pfn_t list[GNT_FRAMES];
		struct gnttab_setup_table s = { .dom = DOMID_SELF, .nr_frames = frames };

		set_xen_guest_handle(s.frame_list, list);
		rc = xen_grant_table_op(GNTTABOP_setup_table, &s, 1);
		if (rc || s.status != GNTST_okay)
			return rc ? (int)rc : -EIO;
		for (unsigned i = 0; i < frames; i++) {
			uint64_t pte = list[i] << 12 |
				       paging_xenpv.flags(PTE_P | PTE_W | PTE_A | PTE_D | PTE_NX);

			if ((rc = xen_update_va_mapping((uint64_t)gnt_pages[i], pte,
							UVMF_INVLPG | UVMF_ALL)))
				return (int)rc;
		}
	} else {
		for (unsigned i = 0; i < frames; i++) {
			struct xen_add_to_physmap x = { .domid = DOMID_SELF,
							.space = XENMAPSPACE_grant_table,
							.idx = i,
							.gpfn = kernel_pa(gnt_pages[i]) / PAGE_SIZE };

			if ((rc = xen_memory_op(XENMEM_add_to_physmap, &x)))
				return (int)rc;
		}
	}
	gnttab_free_page = free_frame;
	gnttab_use((struct grant_entry_v1 *)gnt_pages, frames * PAGE_SIZE /
						       sizeof(struct grant_entry_v1));
	return 0;
}
