/* The kvm and qemu (TCG) platforms. Both are a PC under QEMU: COM1 console, isa-debug-exit
 * to leave with a code, CPUs from the ACPI MADT and started with INIT-SIPI-SIPI, the LAPIC
 * for timers and IPIs. kvm adds kvmclock, its wall clock and PV EOI; under TCG there is no
 * PV clock (KVM's MSRs are silently ignored there), so the TSC is calibrated instead and
 * the wall clock comes from the CMOS RTC. */
#include "arch_x86_64/acpi_cpus.h"
#include "arch_x86_64/arch.h"
#include "arch_x86_64/bootinfo.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/lapic.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/percpu.h"
#include "arch_x86_64/rtc.h"
#include "arch_x86_64/uart.h"
#include "common/console.h"
#include "common/hal.h"
#include "hv_kvm/kvm_reg.h"
#include "hv_kvm/pc.h"
#include "hv_kvm/tsc.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/pvclock.h"
#include "lib/string.h"
#include "lib/time.h"
#include "common/vclock.h"
#include "mm/mm.h"
#include "mm/vm.h"
#include "virtio/virtio.h"

extern struct hal hal_kvm, hal_qemu;
extern const char ap_tramp[], ap_tramp_end[], ap_cr3[], ap_efer[], ap_stack[], ap_arg[],
	ap_entry[];

static uint32_t kvm_base, kvm_features;
static uint32_t clock_msr; /* kvmclock's MSR, 0 when there is none */
/* every vCPU's kvmclock record, in the page apps' vDSO reads (common/vclock.h) */
#define kvmclock vclock_page.rec
static uint64_t clock_last; /* pvclock_read_mono's shared latest time */
static struct {
	uint32_t version, sec, nsec;
} kvm_wall __aligned(16);
static uint64_t wall_base_ns; /* TCG: the RTC's time at clock 0 */
/* PV EOI (kvm): the host sets bit 0 of a CPU's word when that CPU may skip its EOI */
static struct {
	uint32_t word;
} __aligned(64) pv_eoi[MAX_CPUS];
static bool pv_eoi_on;
static uint64_t eois, eois_skipped;
uint32_t apic_ids[MAX_CPUS];
static uint64_t rsdp, low_top; /* the ACPI root; the end of RAM below 4 GiB */
static uint64_t tsc_khz, lapic_hz;
static bool tsc_deadline;

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

/* The MADT's CPUs, the boot CPU first: cpu i is started at apic_ids[i]. */
static void count_vcpus(const struct boot_info *bi, char *note, size_t n)
{
	static uint32_t ids[MAX_CPUS];
	const char *why;
	int cpus = acpi_count_cpus(bi, ids, MAX_CPUS, &why);
	uint32_t me = cpuid(1, 0).ebx >> 24; /* the initial APIC id: no MMIO before mm */
	unsigned k = 1;

	if (cpus > MAX_CPUS)
		cpus = MAX_CPUS;
	hal_info.vcpus = cpus > 0 ? cpus : 1;
	if (cpus <= 0)
		ksnprintf(note, n, "; no usable ACPI MADT (%s): assuming 1 vCPU", why);
	apic_ids[0] = me;
	for (int i = 0; i < cpus && k < MAX_CPUS; i++)
		if (ids[i] != me)
			apic_ids[k++] = ids[i];
}

static const char *cmdline;

/* The console's input: what the UART received, at its interrupt (ISA IRQ 4); a burst is
 * taken in bounded reads, so that a UART that always says "data ready" cannot hold the
 * CPU. */
static struct irq uart_irq;

static void uart_received(void *arg)
{
	char buf[64];
	size_t n;

	(void)arg;
	for (int i = 0; i < 16 && (n = uart_read(buf, sizeof(buf))); i++)
		console_received(buf, n);
}

static void pc_probe_devices(void)
{
	virtio_probe(cmdline, rsdp);
	kprintf("devices: virtio: %u found\n", virtio_count());
	uart_irq = (struct irq){.kind = IRQ_ISA, .num = 4, .fn = uart_received};
	if (uart_rx_enable()) {
		int rc = pc_irq_bind(&uart_irq);

		if (rc)
			kprintf("console: no input (IRQ 4: %d)\n", rc);
	}
}

static void pc_init(const struct boot_info *bi, char *note, size_t n)
{
	cmdline = bi->cmdline;
	uart_init();
	count_vcpus(bi, note, n);
	rsdp = acpi_rsdp(bi);
	for (unsigned i = 0; i < bi->mem_count; i++)
		if (bi->mem[i].type == MEM_RAM && bi->mem[i].base < (1ull << 32))
			low_top = MAX(low_top, bi->mem[i].base + bi->mem[i].len);
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

static uint64_t kvmclock_ns(void)
{
	return pvclock_read_mono(&kvmclock[arch_cpu_id()], rdtsc_ordered, &clock_last);
}

/* the wall clock at kvmclock's 0 */
static uint64_t kvm_wall_base_ns(void)
{
	uint32_t v, sec, nsec;

	do {
		v = READ_ONCE(kvm_wall.version);
		barrier();
		sec = kvm_wall.sec;
		nsec = kvm_wall.nsec;
		barrier();
	} while ((v & 1) || v != READ_ONCE(kvm_wall.version));
	return sec * NSEC_PER_SEC + nsec;
}

static uint64_t kvm_wallclock_ns(void)
{
	return kvm_wall_base_ns() + kvmclock_ns();
}

static uint64_t rtc_wallclock_ns(void)
{
	return wall_base_ns + hal->clock_ns();
}

/* The clock without a pvclock: the calibrated TSC (0 kHz: no clock at all). */
static uint64_t use_tsc(struct hal *self, const char **method)
{
	uint64_t khz = tsc_calibrate(method);

	if (khz) {
		tsc_clock_start(khz);
		self->clock_ns = tsc_clock_ns;
		tsc_khz = khz;
		uint64_t rtc = rtc_read_epoch();

		if (rtc) {
			wall_base_ns = rtc * NSEC_PER_SEC - tsc_clock_ns();
			self->wallclock_ns = rtc_wallclock_ns;
			vclock_page.wall_ns = (int64_t)wall_base_ns;
		}
		vclock_page.mode = VCLOCK_PVCLOCK; /* (tsc.c's record: rec[0]) */
	}
	return khz;
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
	clock_msr = kvm_features & (1u << KVM_FEATURE_CLOCKSOURCE2) ? MSR_KVM_SYSTEM_TIME_NEW :
		    kvm_features & (1u << KVM_FEATURE_CLOCKSOURCE)  ? MSR_KVM_SYSTEM_TIME :
								      0;
	if (clock_msr)
		wrmsr(clock_msr, kernel_pa(&kvmclock[0]) | 1);
	if (clock_msr && READ_ONCE(kvmclock[0].version) && kvmclock[0].tsc_to_system_mul) {
		uint64_t ns = kvmclock_ns();

		hal_kvm.clock_ns = kvmclock_ns;
		tsc_khz = pvclock_tsc_khz(&kvmclock[0]);
		wrmsr(clock_msr == MSR_KVM_SYSTEM_TIME_NEW ? MSR_KVM_WALL_CLOCK_NEW :
							     MSR_KVM_WALL_CLOCK,
		      kernel_pa(&kvm_wall));
		hal_kvm.wallclock_ns = kvm_wallclock_ns;
		/* apps read vCPU 0's record (their vDSO checks that it stays stable) */
		vclock_page.wall_ns = (int64_t)kvm_wall_base_ns();
		vclock_page.mode = VCLOCK_PVCLOCK;
		ksnprintf(hal_info.detail, sizeof(hal_info.detail),
			  "features 0x%x [%s]; kvmclock %lu.%06lu s since VM start, TSC %lu kHz%s%s",
			  kvm_features, feats, ns / 1000000000, ns / 1000 % 1000000, tsc_khz,
			  kvmclock[0].flags & PVCLOCK_TSC_STABLE ? ", stable" : "", vcpu_note);
		return 0;
	}
	/* a KVM without a working kvmclock: use the TSC like TCG does */
	clock_msr = 0;
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

/* An EOI the host says we may skip (PV EOI) costs nothing; otherwise the APIC's. */
void pc_eoi(void)
{
	__atomic_add_fetch(&eois, 1, __ATOMIC_RELAXED);
	if (pv_eoi_on &&
	    (__atomic_exchange_n(&pv_eoi[arch_cpu_id()].word, 0, __ATOMIC_ACQ_REL) & 1)) {
		__atomic_add_fetch(&eois_skipped, 1, __ATOMIC_RELAXED);
		return;
	}
	lapic_eoi();
}

static void timer_irq(void *arg)
{
	pc_eoi();
	hal_events.timer();
}

static void ipi_irq(void *arg)
{
	pc_eoi();
	hal_events.ipi();
}

static uint64_t now_ns(void)
{
	return hal->clock_ns();
}

static int pc_cpu_setup(unsigned cpu)
{
	if (cpu && clock_msr)
		wrmsr(clock_msr, kernel_pa(&kvmclock[cpu]) | 1);
	lapic_init();
	cpus[cpu].apic_id = lapic_id();
	if (hal == &hal_kvm && (kvm_features & (1u << KVM_FEATURE_PV_EOI))) {
		wrmsr(MSR_KVM_PV_EOI_EN, kernel_pa(&pv_eoi[cpu]) | 1);
		pv_eoi_on = true;
	}
	if (cpu)
		return 0;
	arch_irq_set_handler(VEC_TIMER, timer_irq, NULL);
	arch_irq_set_handler(VEC_IPI, ipi_irq, NULL);
	const char *why = pc_devices_init(rsdp, low_top);

	if (*why)
		kprintf("devices: %s\n", why);
	tsc_deadline = tsc_khz && lapic_has_tsc_deadline();
	if (tsc_deadline) {
		ksnprintf(hal_info.timer, sizeof(hal_info.timer), "LAPIC in TSC-deadline mode");
	} else if (hal == &hal_qemu) {
		/* TCG's LAPIC timer rate is QEMU's constant: no 10 ms calibration at boot */
		lapic_hz = QEMU_LAPIC_HZ;
		ksnprintf(hal_info.timer, sizeof(hal_info.timer),
			  "LAPIC one-shot at QEMU's 1 GHz");
	} else {
		lapic_hz = lapic_timer_calibrate(now_ns);
		if (!lapic_hz)
			return -EIO;
		ksnprintf(hal_info.timer, sizeof(hal_info.timer),
			  "LAPIC one-shot, %lu.%03lu MHz by the clock", lapic_hz / 1000000,
			  lapic_hz / 1000 % 1000);
	}
	return 0;
}

static void pc_timer_arm(uint64_t deadline)
{
	if (!deadline) {
		lapic_timer_stop();
		return;
	}
	uint64_t now = hal->clock_ns(), delta = deadline > now ? deadline - now : 0;

	if (tsc_deadline) {
		lapic_timer_deadline(VEC_TIMER, rdtsc_ordered() + delta * tsc_khz / 1000000 + 1);
		return;
	}
	/* in kHz, with delta held below 1000 s, the product stays within 64 bits */
	uint64_t count = MIN(delta, 1000 * NSEC_PER_SEC) * (lapic_hz / 1000) / 1000000;

	/* a deadline too far for the counter fires early; the scheduler arms it again */
	lapic_timer_oneshot(VEC_TIMER, count > 0xffffffff ? 0xffffffff : count ? count : 1);
}

static void pc_ipi_send(unsigned cpu)
{
	lapic_send_ipi(apic_ids[cpu], VEC_IPI);
}

static void delay(uint64_t ns)
{
	for (uint64_t t0 = hal->clock_ns(); hal->clock_ns() - t0 < ns;)
		cpu_relax();
}

/* INIT-SIPI-SIPI into ap_boot.S, copied to AP_TRAMP and mapped there (executable) for as
 * long as CPUs are starting. */
static int pc_cpu_start(unsigned cpu, void (*entry)(void *), void *arg, void *stack_top)
{
	static bool mapped;
	uint8_t *t = mm_frame_va(AP_TRAMP / PAGE_SIZE);

	if (cpu >= hal_info.vcpus)
		return -EINVAL;
	if (!mapped) {
		memcpy(t, ap_tramp, ap_tramp_end - ap_tramp);
		if (vm_map(AP_TRAMP, AP_TRAMP / PAGE_SIZE, 1, 0, false))
			return -ENOMEM;
		mapped = true;
	}
	*(uint64_t *)(t + (ap_cr3 - ap_tramp)) = vm.root * PAGE_SIZE;
	*(uint64_t *)(t + (ap_efer - ap_tramp)) = 0x100 | (rdmsr(MSR_EFER) & EFER_NXE);
	*(uint64_t *)(t + (ap_stack - ap_tramp)) = (uint64_t)stack_top;
	*(uint64_t *)(t + (ap_arg - ap_tramp)) = (uint64_t)arg;
	*(uint64_t *)(t + (ap_entry - ap_tramp)) = (uint64_t)entry;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* The SDM's 10 ms after INIT is for physical CPUs of old families; the LAPICs here
	 * are QEMU's and KVM's, which act on INIT before the STARTUP that follows it (Linux
	 * waits 0 on every Intel family 6 and AMD family 0xF or later CPU: init_udelay).
	 * 10 ms per CPU was a fifth of the boot under TCG. */
	lapic_start_cpu(apic_ids[cpu], AP_TRAMP / PAGE_SIZE, 100000, delay);
	return 0;
}

static void pc_cpus_started(void)
{
	vm_unmap(AP_TRAMP, 1);
}

static void pc_irq_stats(char *buf, size_t size)
{
	if (pv_eoi_on)
		ksnprintf(buf, size, "PV EOI registered: %lu of %lu EOIs skipped (the host sets the bit)",
			  eois_skipped, eois);
	else
		ksnprintf(buf, size, "%lu EOIs, no PV EOI", eois);
}

#define PC_OPS                                  \
	.console_write = pc_console_write,      \
	.shutdown = pc_shutdown,                \
	.cpu_setup = pc_cpu_setup,              \
	.cpu_start = pc_cpu_start,              \
	.cpus_started = pc_cpus_started,        \
	.timer_arm = pc_timer_arm,              \
	.ipi_send = pc_ipi_send,                \
	.irq_stats = pc_irq_stats,              \
	.irq_bind = pc_irq_bind,                \
	.irq_mask = pc_irq_mask,                \
	.irq_unbind = pc_irq_unbind,            \
	.probe_devices = pc_probe_devices,      \
	.stop_devices = virtio_stop,            \
	.selftest = pc_selftest

struct hal hal_kvm = {
	.name = "kvm",
	.detect = kvm_detect,
	.init = kvm_init,
	PC_OPS,
};

struct hal hal_qemu = {
	.name = "qemu",
	.detect = qemu_detect,
	.init = qemu_init,
	PC_OPS,
};
