/* Xen hypercalls through the hypercall page (xen/xen.h numbers; x86_64 ABI: %rdi %rsi
 * %rdx %r10 %r8, result in %rax). One definition for both users: the Xen PV CPU mode in
 * arch_x86_64/ and the Xen platform in hv_xen/. The page is filled by Xen (PV: ELF note;
 * PVH: xen_pvh_init_hypercalls()). */
#ifndef HV_XEN_HYPERCALL_H
#define HV_XEN_HYPERCALL_H

#include <stdint.h>

#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/memory.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/callback.h>
#include <xen/grant_table.h>

extern char hypercall_page[];

/* The stub at hypercall_page + 32 * nr loads %eax and traps; syscall (PV) clobbers %rcx
 * and %r11, and Xen may scribble on argument registers, so all are outputs. */
#define XEN_HYPERCALL(nr, a1, a2, a3, a4, a5)                                            \
	({                                                                              \
		register uint64_t rdi_ __asm__("rdi") = (uint64_t)(a1);                \
		register uint64_t rsi_ __asm__("rsi") = (uint64_t)(a2);                \
		register uint64_t rdx_ __asm__("rdx") = (uint64_t)(a3);                \
		register uint64_t r10_ __asm__("r10") = (uint64_t)(a4);                \
		register uint64_t r8_ __asm__("r8") = (uint64_t)(a5);                  \
		long ret_;                                                             \
		__asm__ __volatile__("call hypercall_page + %c[off]"                   \
				     : "=a"(ret_), "+r"(rdi_), "+r"(rsi_), "+r"(rdx_), \
				       "+r"(r10_), "+r"(r8_)                           \
				     : [off] "i"((nr) * 32)                            \
				     : "memory", "rcx", "r11");                        \
		ret_;                                                                  \
	})

static inline long xen_console_io(int cmd, int count, const char *buf)
{
	return XEN_HYPERCALL(__HYPERVISOR_console_io, cmd, count, buf, 0, 0);
}

static inline long xen_version(int cmd, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_xen_version, cmd, arg, 0, 0, 0);
}

static inline long xen_sched_op(int cmd, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_sched_op, cmd, arg, 0, 0, 0);
}

static inline long xen_event_channel_op(int cmd, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_event_channel_op, cmd, arg, 0, 0, 0);
}

static inline long xen_vcpu_op(int cmd, unsigned vcpu, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_vcpu_op, cmd, vcpu, arg, 0, 0);
}

static inline long xen_hvm_op(int op, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_hvm_op, op, arg, 0, 0, 0);
}

static inline long xen_memory_op(int cmd, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_memory_op, cmd, arg, 0, 0, 0);
}

static inline long xen_mmu_update(struct mmu_update *req, unsigned count, unsigned *done)
{
	return XEN_HYPERCALL(__HYPERVISOR_mmu_update, req, count, done, DOMID_SELF, 0);
}

static inline long xen_mmuext_op(struct mmuext_op *op, unsigned count, unsigned *done)
{
	return XEN_HYPERCALL(__HYPERVISOR_mmuext_op, op, count, done, DOMID_SELF, 0);
}

static inline long xen_update_va_mapping(uint64_t va, uint64_t pte, uint64_t flags)
{
	return XEN_HYPERCALL(__HYPERVISOR_update_va_mapping, va, pte, flags, 0, 0);
}

static inline long xen_grant_table_op(int cmd, void *arg, unsigned count)
{
	return XEN_HYPERCALL(__HYPERVISOR_grant_table_op, cmd, arg, count, 0, 0);
}

static inline long xen_callback_op(int cmd, void *arg)
{
	return XEN_HYPERCALL(__HYPERVISOR_callback_op, cmd, arg, 0, 0, 0);
}

static inline long xen_set_segment_base(int which, uint64_t base)
{
	return XEN_HYPERCALL(__HYPERVISOR_set_segment_base, which, base, 0, 0, 0);
}

static inline long xen_set_trap_table(const struct trap_info *table)
{
	return XEN_HYPERCALL(__HYPERVISOR_set_trap_table, table, 0, 0, 0, 0);
}

#endif
