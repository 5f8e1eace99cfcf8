/* The ELF notes that make one image bootable everywhere (xen/elfnote.h):
 * - PHYS32_ENTRY: the PVH entry QEMU (-kernel) and Xen (type="pvh") jump to, 32-bit;
 * - the PV notes Xen's PV domain builder needs (type="pv").
 * No multiboot header: QEMU would prefer it over the PVH note (PLATFORM.md).
 * tools/check_notes.sh verifies all of them with readelf -n. */
#include <xen/elfnote.h>

#include "arch_x86_64/layout.h"

#define NOTE(type, desc)                                           \
	.pushsection .note.Xen, "a", @note;                        \
	.balign 4;                                                 \
	.long 2f - 1f;                                             \
	.long 4f - 3f;                                             \
	.long type;                                                \
1:	.asciz "Xen";                                              \
2:	.balign 4;                                                 \
3:	desc;                                                      \
4:	.balign 4;                                                 \
	.popsection

NOTE(XEN_ELFNOTE_GUEST_OS, .asciz "Amphi")
NOTE(XEN_ELFNOTE_GUEST_VERSION, .asciz "0.1")
NOTE(XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0")
NOTE(XEN_ELFNOTE_LOADER, .asciz "generic")
/* PV: the image is mapped at VIRT_BASE + p_paddr, which is exactly its link address */
NOTE(XEN_ELFNOTE_VIRT_BASE, .quad KERNEL_VBASE)
NOTE(XEN_ELFNOTE_PADDR_OFFSET, .quad 0)
NOTE(XEN_ELFNOTE_ENTRY, .quad xenpv_entry)
NOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page)
/* we update page tables by hypercall only, never by trapped writes */
NOTE(XEN_ELFNOTE_FEATURES, .asciz "!writable_page_tables")
NOTE(XEN_ELFNOTE_PAE_MODE, .asciz "yes")
/* start_info.mod_start is a pfn: modules need not sit inside the initial mapping */
NOTE(XEN_ELFNOTE_MOD_START_PFN, .long 1)
/* 8-byte descriptor: QEMU's ELF64 note reader reads a size_t */
NOTE(XEN_ELFNOTE_PHYS32_ENTRY, .quad pvh_entry - KERNEL_VBASE)

	.section .note.GNU-stack, "", @progbits
