#include "arch_x86_64/phys.h"

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"

const void *phys_map(uint64_t pa, size_t len)
{
	if (arch != &arch_native || pa < PAGE_SIZE || pa + len < pa || pa + len > (4ULL << 30))
		return NULL;
	return (const void *)pa;
}
