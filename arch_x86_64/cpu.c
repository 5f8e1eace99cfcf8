#include "arch_x86_64/cpu.h"

uint32_t hypervisor_cpuid_base(const char sig[12])
{
	/* CPUID.1:ECX[31]: a hypervisor is present; its leaves sit at 0x40000000 in steps of
	 * 0x100 (Xen moves to 0x40000100 when it also offers Viridian) */
	if (!(cpuid(1, 0).ecx & (1u << 31)))
		return 0;
	for (uint32_t base = 0x40000000; base < 0x40010000; base += 0x100) {
		struct cpuid_regs r = cpuid(base, 0);
		uint32_t s[3] = { r.ebx, r.ecx, r.edx };

		if (!__builtin_memcmp(s, sig, 12) && r.eax >= base + 1)
			return base;
	}
	return 0;
}

bool cpu_rdrand(uint64_t *v)
{
	static int known; /* 1: RDRAND, 2: none (a race only asks twice) */

	if (!known)
		__atomic_store_n(&known, cpuid(1, 0).ecx & (1u << 30) ? 1 : 2, __ATOMIC_RELAXED);
	if (__atomic_load_n(&known, __ATOMIC_RELAXED) != 1)
		return false;
	for (int i = 0; i < 10; i++) {
		uint64_t r;
		uint8_t ok;

		__asm__ __volatile__("rdrand %0; setc %1" : "=r"(r), "=qm"(ok));
		if (ok) {
			*v = r;
			return true;
		}
	}
	return false;
}
