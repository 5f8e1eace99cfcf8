/* The C half of the two entries: pick the CPU mode, describe the boot in a boot_info,
 * hand over to boot_main(). A boot structure that fails to parse still reaches boot_main,
 * which finds a console and reports bi->error instead of hanging. */
#include <stdint.h>

#include <xen/xen.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/bootinfo.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "arch_x86_64/phys.h"

void __noreturn boot_main(struct boot_info *bi);
void __noreturn pvh_start(uint32_t start_info_pa);
void __noreturn xenpv_start(const struct start_info *si);

static struct boot_info boot_info;

static void reserve_kernel(struct boot_info *bi)
{
	uint64_t start = kernel_pa(__kernel_start);

	bi->reserved[0] = (struct mem_range){ start, kernel_pa(__kernel_end) - start,
					      MEM_RESERVED };
	bi->reserved_count = 1;
}

void pvh_start(uint32_t start_info_pa)
{
	arch = &arch_native;
	reserve_kernel(&boot_info);
	boot_parse_pvh(&boot_info, start_info_pa, phys_map);
	boot_main(&boot_info);
}

void xenpv_start(const struct start_info *si)
{
	arch = &arch_xenpv;
	reserve_kernel(&boot_info);
	if (boot_parse_xenpv(&boot_info, si, KERNEL_VBASE) == 0)
		paging_xenpv_setup(&boot_info);
	boot_main(&boot_info);
}
