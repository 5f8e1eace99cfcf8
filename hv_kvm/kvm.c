/* The kvm and qemu (TCG) platforms. Both are a PC under QEMU: COM1 console, isa-debug-exit
 * to leave with a code, vCPUs from the ACPI MADT. kvm adds kvmclock; under TCG there is no
 * PV clock (KVM's MSRs are silently ignored there), so the TSC is calibrated instead. */
#include "arch_x86_64/acpi_cpus.h"
#include "arch_x86_64/bootinfo.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/uart.h"
#include "common/hal.h"
#include "hv_kvm/kvm_reg.h"
#include "hv_kvm/tsc.h"
#include "lib/format.h"
#include "lib/pvclock.h"

#define MAX_CPUS 256

extern struct hal hal_kvm, hal_qemu;

static uint32_t kvm_base, kvm_features;
static struct pvclock_time kvmclock __aligned(64);

static bool kvm_detect(const struct boot_info *bi)
{
	return bi->entry == BOOT_PVH && (kvm_base = hypervisor_cpuid_base(KVM_CPUID_SIGNATURE));
}

static bool qemu_detect(const struct boot_info *bi)
{
	return bi->entry == BOOT_PVH;
}

static void pc_console_write(const char *s, size_t n)
{
	uart_write(s, n);
}

/* QEMU's isa-debug-exit (iobase 0xf4) exits with status 2 * code + 1. Without that device
 * there is no way out but to stop the CPU; the runner's timeout catches that. */
static void pc_shutdown(int code)
{
	outl(0xf4, code);
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

static void count_vcpus(const struct boot_info *bi, char *note, size_t n)
{
	static uint32_t ids[MAX_CPUS];
	const char *why;
	int cpus = acpi_count_cpus(bi, ids, MAX_CPUS, &why);

	hal_info.vcpus = cpus > 0 ? cpus : 1;
	if (cpus <= 0)
		ksnprintf(note, n, "; no usable ACPI MADT (%s): assuming 1 vCPU", why);
}

static void pc_init(const struct boot_info *bi, char *note, size_t n)
{
	uart_init();
	count_vcpus(bi, note, n);
}

static const char *const kvm_feature_names[32] = {
	[KVM_FEATURE_CLOCKSOURCE] = "clocksource",
	[KVM_FEATURE_NOP_IO_DELAY] = "nop-io-delay",
	[KVM_FEATURE_CLOCKSOURCE2] = "clocksource2",
	[KVM_FEATURE_ASYNC_PF] = "async-pf",
	[KVM_FEATURE_STEAL_TIME] = "steal-time",
	[KVM_FEATURE_PV_EOI] = "pv-eoi",
	[KVM_FEATURE_PV_UNHALT] = "pv-unhalt",
	[KVM_FEATURE_PV_TLB_FLUSH] = "pv-tlb-flush",
	[KVM_FEATURE_ASYNC_PF_VMEXIT] = "async-pf-vmexit",
	[KVM_FEATURE_PV_SEND_IPI] = "pv-send-ipi",
	[KVM_FEATURE_POLL_CONTROL] = "poll-control",
	[KVM_FEATURE_PV_SCHED_YIELD] = "pv-sched-yield",
	[KVM_FEATURE_ASYNC_PF_INT] = "async-pf-int",
	[KVM_FEATURE_MSI_EXT_DEST_ID] = "msi-ext-dest-id",
	[KVM_FEATURE_HC_MAP_GPA_RANGE] = "hc-map-gpa-range",
	[KVM_FEATURE_MIGRATION_CONTROL] = "migration-control",
	[KVM_FEATURE_CLOCKSOURCE_STABLE_BIT] = "clocksource-stable",
};

/* The clock without a pvclock: the calibrated TSC (0 kHz: no clock at all). */
static uint64_t use_tsc(struct hal *self, const char **method)
{
	uint64_t khz = tsc_calibrate(method);

	if (khz) {
		tsc_clock_start(khz);
		self->clock_ns = tsc_clock_ns;
	}
	return khz;
}

static uint64_t kvmclock_ns(void)
{
	return pvclock_read(&kvmclock, rdtsc_ordered);
}

static int kvm_init(struct boot_info *bi)
{
	char vcpu_note[96] = "", feats[160] = "";
	size_t len = 0;

	pc_init(bi, vcpu_note, sizeof(vcpu_note));
	kvm_features = cpuid(kvm_base + 1, 0).eax;
	for (int b = 0; b < 32; b++)
		if (kvm_features & (1u << b) && len < sizeof(feats))
			len += ksnprintf(feats + len, sizeof(feats) - len, "%s%s", len ? " " : "",
					 kvm_feature_names[b] ? kvm_feature_names[b] : "?");
	ksnprintf(hal_info.hv, sizeof(hal_info.hv), "KVM (CPUID leaf %#x)", kvm_base);

	/* kvmclock: the hypervisor fills the record at the physical address we hand it */
	uint32_t msr = kvm_features & (1u << KVM_FEATURE_CLOCKSOURCE2) ? MSR_KVM_SYSTEM_TIME_NEW :
		       kvm_features & (1u << KVM_FEATURE_CLOCKSOURCE)  ? MSR_KVM_SYSTEM_TIME :
									 0;
	if (msr)
		wrmsr(msr, kernel_pa(&kvmclock) | 1);
	if (msr && READ_ONCE(kvmclock.version) && kvmclock.tsc_to_system_mul) {
		uint64_t ns = kvmclock_ns();

		hal_kvm.clock_ns = kvmclock_ns;
		ksnprintf(hal_info.detail, sizeof(hal_info.detail),
			  "features 0x%x [%s]; kvmclock %lu.%06lu s since VM start, TSC %lu kHz%s%s",
			  kvm_features, feats, ns / 1000000000, ns / 1000 % 1000000,
			  pvclock_tsc_khz(&kvmclock),
			  kvmclock.flags & PVCLOCK_TSC_STABLE ? ", stable" : "", vcpu_note);
		return 0;
	}
	/* a KVM without a working kvmclock: use the TSC like TCG does */
	const char *method;
	uint64_t khz = use_tsc(&hal_kvm, &method);

	ksnprintf(hal_info.detail, sizeof(hal_info.detail),
		  "features 0x%x [%s]; no kvmclock: TSC %lu kHz (%s)%s", kvm_features, feats, khz,
		  method, vcpu_note);
	return 0;
}

static int qemu_init(struct boot_info *bi)
{
	char vcpu_note[96] = "";
	struct cpuid_regs r = cpuid(0x40000000, 0);
	uint32_t sig[4] = { r.ebx, r.ecx, r.edx, 0 };
	const char *method;
	uint64_t khz;

	pc_init(bi, vcpu_note, sizeof(vcpu_note));
	ksnprintf(hal_info.hv, sizeof(hal_info.hv), "QEMU, CPUID signature \"%.12s\"",
		  (cpuid(1, 0).ecx & (1u << 31)) ? (const char *)sig : "");
	khz = use_tsc(&hal_qemu, &method);
	ksnprintf(hal_info.detail, sizeof(hal_info.detail),
		  "no PV clock (TCG): falling back to the TSC, %lu kHz by %s%s", khz, method,
		  vcpu_note);
	return 0;
}

struct hal hal_kvm = {
	.name = "kvm",
	.detect = kvm_detect,
	.init = kvm_init,
	.console_write = pc_console_write,
	.shutdown = pc_shutdown,
};

struct hal hal_qemu = {
	.name = "qemu",
	.detect = qemu_detect,
	.init = qemu_init,
	.console_write = pc_console_write,
	.shutdown = pc_shutdown,
};
