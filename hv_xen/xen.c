/* The xen-pv and xen-pvh platforms: hypercalls, the PV console ring, version, vCPUs and
 * shutdown. They differ only in how they find things: PV reads start_info (via boot_info),
 * PVH asks with CPUID, an MSR and HVM params. */
#include <stdint.h>

#include <xen/io/console.h>

#include "arch_x86_64/acpi_cpus.h"
#include "arch_x86_64/bootinfo.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/phys.h"
#include "common/hal.h"
#include "hv_xen/hypercall.h"
#include "arch_x86_64/arch.h"
#include "arch_x86_64/paging.h"
#include "arch_x86_64/percpu.h"
#include "hv_xen/events.h"
#include "hv_xen/grant.h"
#include "hv_xen/platform.h"
#include "hv_xen/xenbus.h"
#include "hv_xen/xenstore.h"
#include "common/console.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/pvclock.h"
#include "lib/string.h"
#include "lib/time.h"
#include "mm/mm.h"
#include "mm/vm.h"

#include <xen/hvm/hvm_vcpu.h>

#define XEN_CPUID_SIGNATURE "XenVMMXenVMM"
/* How long a console write waits for xenconsoled to make room before it drops output
 * rather than hang the guest: by the clock, or (before the clock exists) in yields. */
#define CONSOLE_WAIT_NS 2000000000ULL
#define CONSOLE_WAIT_YIELDS 20000

extern struct hal hal_xen_pv, hal_xen_pvh;

_Static_assert(sizeof(struct vcpu_time_info) == sizeof(struct pvclock_time) &&
		       offsetof(struct vcpu_time_info, tsc_shift) ==
			       offsetof(struct pvclock_time, tsc_shift),
	       "Xen's vcpu_time_info is the pvclock record");

static uint32_t xen_base;
/* shared_info is mapped over this page: by update_va_mapping (PV) or add_to_physmap (PVH) */
static uint8_t shared_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static struct shared_info *shared;
static bool shared_clock; /* vcpu_info[0].time is live */
static struct xencons_interface *cons;
static evtchn_port_t cons_port;
/* Set when xenconsoled stopped making room: later writes then take only the space there is
 * and drop the rest at once, so a dead backend costs one wait, not one per character. */
static bool cons_stuck;
static unsigned long cons_dropped;

/* xenstore's ring: PV gives its machine frame (turned into our pfn), PVH an HVM param */
static uint64_t store_pfn = UINT64_MAX;
static unsigned store_port;
static void *store_ring;

bool xen_is_pv(void)
{
	return hal == &hal_xen_pv;
}

uint64_t xen_gfn(const void *va)
{
	uint64_t a = (uint64_t)va, pfn = a >= KERNEL_VBASE ? kernel_pa(va) / PAGE_SIZE : mm_va_pfn(va);

	return xen_is_pv() ? paging_xenpv.entry(pfn, 0) >> 12 : pfn;
}

void *xen_store_ring(void)
{
	if (!store_ring && store_pfn != UINT64_MAX)
		store_ring = xen_is_pv() ? mm_frame_va(store_pfn) :
					   (void *)phys_map(store_pfn * PAGE_SIZE, PAGE_SIZE);
	return store_ring;
}

unsigned xen_store_port(void)
{
	return store_port;
}

static bool xen_pv_detect(const struct boot_info *bi)
{
	return bi->entry == BOOT_XEN_PV;
}

static bool xen_pvh_detect(const struct boot_info *bi)
{
	return bi->entry == BOOT_PVH && (xen_base = hypervisor_cpuid_base(XEN_CPUID_SIGNATURE));
}

static void cons_notify(void)
{
	struct evtchn_send s = { .port = cons_port };

	xen_event_channel_op(EVTCHNOP_send, &s);
}

/* xen/io/console.h: we produce into out[], xenconsoled consumes. A consumer index that is
 * ahead of ours (a backend that lies) reads as a full ring, so it can only cost output. */
static uint64_t xen_clock_ns(void);

/* true while a wait that began at `t0` (clock ns, or 0 without a clock) after `i` yields
 * may go on */
static bool cons_may_wait(uint64_t t0, long i)
{
	return t0 ? xen_clock_ns() - t0 < CONSOLE_WAIT_NS : i < CONSOLE_WAIT_YIELDS;
}

static bool cons_wait_space(XENCONS_RING_IDX prod)
{
	uint64_t t0 = 0;

	for (long i = 0; prod - READ_ONCE(cons->out_cons) >= sizeof(cons->out); i++) {
		if (i == 0 && shared_clock)
			t0 = xen_clock_ns();
		if (cons_stuck || !cons_may_wait(t0, i)) {
			cons_stuck = true;
			return false;
		}
		barrier();
		WRITE_ONCE(cons->out_prod, prod);
		cons_notify();
		xen_sched_op(SCHEDOP_yield, NULL);
	}
	cons_stuck = false;
	return true;
}

static void cons_put(XENCONS_RING_IDX *prod, char c)
{
	if (!cons_wait_space(*prod)) {
		cons_dropped++;
		return;
	}
	cons->out[MASK_XENCONS_IDX(*prod, cons->out)] = c;
	(*prod)++;
}

static void xen_console_write(const char *s, size_t n)
{
	if (!cons) {
		xen_console_io(CONSOLEIO_write, (int)n, s);
		return;
	}
	XENCONS_RING_IDX prod = cons->out_prod;

	/* the first write that finds room again says what was lost */
	if (cons_dropped && prod - READ_ONCE(cons->out_cons) < sizeof(cons->out) - 64) {
		char note[64];
		int len = ksnprintf(note, sizeof(note), "\n[console: %lu bytes dropped]\n",
				    cons_dropped);

		cons_dropped = 0;
		cons_stuck = false;
		for (int i = 0; i < len; i++)
			cons_put(&prod, note[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			cons_put(&prod, '\r');
		cons_put(&prod, s[i]);
	}
	barrier(); /* x86 keeps stores in order: the bytes are visible before the index */
	WRITE_ONCE(cons->out_prod, prod);
	cons_notify();
}

/* Gives xenconsoled the chance to log everything before the domain goes away. */
static void cons_drain(void)
{
	uint64_t t0 = shared_clock ? xen_clock_ns() : 0;

	for (long i = 0; cons && !cons_stuck && cons_may_wait(t0, i) &&
			 READ_ONCE(cons->out_cons) != READ_ONCE(cons->out_prod);
	     i++) {
		cons_notify();
		xen_sched_op(SCHEDOP_yield, NULL);
	}
}

static void xen_shutdown(int code)
{
	struct sched_shutdown s = { .reason = code ? SHUTDOWN_crash : SHUTDOWN_poweroff };

	cons_drain();
	for (;;)
		xen_sched_op(SCHEDOP_shutdown, &s);
}

/* Counts vCPUs up to the first id Xen says does not exist; falls back to the MADT. */
static void count_vcpus(const struct boot_info *bi, char *note, size_t n)
{
	static uint32_t ids[MAX_CPUS];
	unsigned count = 0;
	long rc;

	while (count < MAX_CPUS && (rc = xen_vcpu_op(VCPUOP_is_up, count, NULL)) >= 0)
		count++;
	if (count) {
		hal_info.vcpus = count;
		return;
	}
	const char *why;
	int cpus = acpi_count_cpus(bi, ids, MAX_CPUS, &why);

	hal_info.vcpus = cpus > 0 ? cpus : 1;
	if (cpus <= 0)
		ksnprintf(note, n, "; VCPUOP_is_up failed (%ld) and no MADT (%s): assuming 1 vCPU",
			  rc, why);
}

static uint64_t clock_last; /* pvclock_read_mono's shared latest time */
static int timer_port[MAX_CPUS], ipi_port[MAX_CPUS];

/* This vCPU's time record in shared_info: the same pvclock ABI as kvmclock */
static uint64_t xen_clock_ns(void)
{
	return pvclock_read_mono(
		(volatile struct pvclock_time *)&shared->vcpu_info[arch_cpu_id()].time,
		rdtsc_ordered, &clock_last);
}

/* shared_info's wall clock is the time at Xen's system time 0 (xen/xen.h) */
static uint64_t xen_wallclock_ns(void)
{
	uint32_t v;
	uint64_t sec, nsec;

	do {
		v = READ_ONCE(shared->wc_version);
		barrier();
		sec = shared->wc_sec | (uint64_t)shared->xen_wc_sec_hi << 32;
		nsec = shared->wc_nsec;
		barrier();
	} while ((v & 1) || v != READ_ONCE(shared->wc_version));
	return sec * NSEC_PER_SEC + nsec + xen_clock_ns();
}

static void describe(struct hal *self, const struct boot_info *bi, const char *mode,
		     long shared_rc)
{
	char extra[XEN_EXTRAVERSION_LEN] = "", note[128] = "", clock[96];
	long v = xen_version(XENVER_version, NULL);

	xen_version(XENVER_extraversion, extra);
	extra[sizeof(extra) - 1] = 0;
	ksnprintf(hal_info.hv, sizeof(hal_info.hv), "Xen %ld.%ld%s", v >> 16, v & 0xffff, extra);
	count_vcpus(bi, note, sizeof(note));
	if (!shared_rc && shared->vcpu_info[0].time.tsc_to_system_mul) {
		uint64_t ns = xen_clock_ns();

		ksnprintf(clock, sizeof(clock), "pvclock %lu.%06lu s since Xen started, TSC %lu kHz",
			  ns / 1000000000, ns / 1000 % 1000000,
			  pvclock_tsc_khz((struct pvclock_time *)&shared->vcpu_info[0].time));
		self->clock_ns = xen_clock_ns;
		self->wallclock_ns = xen_wallclock_ns;
		shared_clock = true;
	} else {
		ksnprintf(clock, sizeof(clock), "no clock: shared_info not mapped (%ld)", shared_rc);
	}
	ksnprintf(hal_info.detail, sizeof(hal_info.detail), "%s; console %s%s; %s%s", mode,
		  cons ? "PV ring" : "hypercall (console_io)",
		  cons ? "" : bi->xen_pv.is_dom0 ? ", dom0" : ", no ring", clock, note);
}

static const char *cmdline = "";

const char *xen_cmdline(void)
{
	return cmdline;
}

static int xen_pv_init(struct boot_info *bi)
{
	cmdline = bi->cmdline;
	if (!bi->xen_pv.is_dom0 && bi->xen_pv.console_mfn) {
		/* The console page is in the builder's bootstrap mapping, at VIRT_BASE + pfn. */
		uint64_t pfn = machine_to_phys_mapping[bi->xen_pv.console_mfn];

		if (pfn < bi->xen_pv.nr_pages) {
			cons = (struct xencons_interface *)(KERNEL_VBASE + pfn * PAGE_SIZE);
			cons_port = bi->xen_pv.console_evtchn;
		}
	}
	if (!bi->xen_pv.is_dom0 && bi->xen_pv.store_mfn) {
		uint64_t pfn = machine_to_phys_mapping[bi->xen_pv.store_mfn];

		if (pfn < bi->xen_pv.nr_pages) {
			store_pfn = pfn;
			store_port = bi->xen_pv.store_evtchn;
		}
	}
	/* present, writable, accessed, dirty */
	long rc = xen_update_va_mapping((uint64_t)shared_page, bi->xen_pv.shared_info_maddr | 0x63,
					UVMF_INVLPG | UVMF_LOCAL);

	shared = (struct shared_info *)shared_page;
	describe(&hal_xen_pv, bi, bi->xen_pv.is_dom0 ? "PV dom0" : "PV domU", rc);
	return 0;
}

static uint64_t hvm_param(uint32_t index, long *rc)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };

	*rc = xen_hvm_op(HVMOP_get_param, &p);
	return p.value;
}

/* Xen's E820 for the guest, when the PVH start info came without a memory map. */
static int pvh_memory_map(struct boot_info *bi)
{
	static struct {
		uint64_t addr, size;
		uint32_t type;
	} __packed e820[MEMMAP_MAX];
	struct xen_memory_map m = { .nr_entries = MEMMAP_MAX };

	set_xen_guest_handle(m.buffer, e820);
	long rc = xen_memory_op(XENMEM_memory_map, &m);

	if (rc < 0 || m.nr_entries > MEMMAP_MAX)
		return -1;
	for (unsigned i = 0; i < m.nr_entries; i++)
		bi->mem[i] = (struct mem_range){ e820[i].addr, e820[i].size, e820[i].type };
	int n = memmap_normalise(bi->mem, m.nr_entries, MEMMAP_MAX);

	if (n < 0)
		return n;
	bi->mem_count = n;
	return 0;
}

static int xen_pvh_init(struct boot_info *bi)
{
	cmdline = bi->cmdline;
	/* CPUID base+2: ebx is the MSR that makes Xen write the hypercall page at the physical
	 * address we give it */
	wrmsr(cpuid(xen_base + 2, 0).ebx, kernel_pa(hypercall_page));

	long rc1, rc2;
	uint64_t pfn = hvm_param(HVM_PARAM_CONSOLE_PFN, &rc1);
	uint64_t port = hvm_param(HVM_PARAM_CONSOLE_EVTCHN, &rc2);

	if (!rc1 && !rc2 && pfn && (cons = (void *)phys_map(pfn * PAGE_SIZE, PAGE_SIZE)))
		cons_port = port;
	pfn = hvm_param(HVM_PARAM_STORE_PFN, &rc1);
	port = hvm_param(HVM_PARAM_STORE_EVTCHN, &rc2);
	/* read once now, so that the direct map keeps the page (arch_x86_64/phys.h) */
	if (!rc1 && !rc2 && pfn && phys_map(pfn * PAGE_SIZE, PAGE_SIZE)) {
		store_pfn = pfn;
		store_port = port;
	}
	if (!bi->mem_count && !bi->error && pvh_memory_map(bi))
		bi->error = "PVH: no memory map in the start info and XENMEM_memory_map failed";
	struct xen_add_to_physmap xatp = { .domid = DOMID_SELF,
					   .space = XENMAPSPACE_shared_info,
					   .idx = 0,
					   .gpfn = kernel_pa(shared_page) / PAGE_SIZE };
	long rc = xen_memory_op(XENMEM_add_to_physmap, &xatp);

	shared = (struct shared_info *)shared_page;
	describe(&hal_xen_pvh, bi, "PVH", rc);
	return 0;
}

static void timer_event(unsigned port, void *arg)
{
	hal_events.timer();
}

static void ipi_event(unsigned port, void *arg)
{
	hal_events.ipi();
}

/* Per vCPU: its vcpu_info (the PV interrupt flag), no periodic tick (tickless), a timer
 * VIRQ and an IPI port. vcpu_info comes from shared_info, which holds 32 of them. */
static int xen_cpu_setup(unsigned cpu)
{
	int port;

	if (cpu >= XEN_LEGACY_MAX_VCPUS || !shared_clock)
		return -EINVAL;
	/* PV's interrupt flag (arch_xenpv), off until the scheduler turns it on; PVH uses the
	 * CPU's own and leaves the mask alone */
	if (hal == &hal_xen_pv)
		shared->vcpu_info[cpu].evtchn_upcall_mask = 1;
	cpus[cpu].xen_vcpu = &shared->vcpu_info[cpu];
	if (cpu == 0) {
		evtchn_init(shared);
		arch_irq_set_handler(VEC_XEN_UPCALL, evtchn_upcall, NULL);
		if (hal == &hal_xen_pvh) {
			/* the upcall as an IDT vector, delivered to whichever vCPU has events
			 * pending, without an APIC EOI (xen/hvm/params.h) */
			struct xen_hvm_param p = { .domid = DOMID_SELF,
						   .index = HVM_PARAM_CALLBACK_IRQ,
						   .value = (2ull << 56) | VEC_XEN_UPCALL };
			long rc = xen_hvm_op(HVMOP_set_param, &p);

			if (rc)
				return (int)rc;
		}
		ksnprintf(hal_info.timer, sizeof(hal_info.timer),
			  "Xen singleshot timer, VIRQ_TIMER event channel, no periodic tick");
	}
	xen_vcpu_op(VCPUOP_stop_periodic_timer, cpu, NULL);
	if ((port = evtchn_bind_virq(VIRQ_TIMER, cpu, timer_event, NULL)) < 0)
		return port;
	timer_port[cpu] = port;
	if ((port = evtchn_bind_ipi(cpu, ipi_event, NULL)) < 0)
		return port;
	ipi_port[cpu] = port;
	return 0;
}

static void xen_timer_arm(uint64_t deadline)
{
	unsigned cpu = arch_cpu_id();

	if (!deadline) {
		xen_vcpu_op(VCPUOP_stop_singleshot_timer, cpu, NULL);
		return;
	}
	/* no VCPU_SSHOTTMR_future: a deadline already past fires at once */
	struct vcpu_set_singleshot_timer t = { .timeout_abs_ns = deadline };

	xen_vcpu_op(VCPUOP_set_singleshot_timer, cpu, &t);
}

static void xen_ipi_send(unsigned cpu)
{
	evtchn_send(ipi_port[cpu]);
}

extern char xenpv_upcall_entry[], xenpv_failsafe_entry[];

/* A PV vCPU starts from a full guest context: our page tables, kernel stack, callbacks
 * and GS base; events masked until its cpu_setup. */
static int xen_pv_cpu_start(unsigned cpu, void (*entry)(void *), void *arg, void *stack_top)
{
	struct vcpu_guest_context *c = kcalloc(1, sizeof(*c));
	uint64_t top = (uint64_t)stack_top - 8; /* a return address slot: ABI alignment */
	long rc;

	if (!c)
		return -ENOMEM;
	if (cpu >= XEN_LEGACY_MAX_VCPUS) {
		kfree(c);
		return -EINVAL;
	}
	shared->vcpu_info[cpu].evtchn_upcall_mask = 1; /* events off until its cpu_setup */
	/* not VGCF_online: that clears the vCPU's "down" flag already, and VCPUOP_up, finding
	 * nothing to clear, would then never wake it */
	c->flags = VGCF_in_kernel;
	c->user_regs.rip = (uint64_t)entry;
	c->user_regs.rdi = (uint64_t)arg;
	c->user_regs.rsp = top;
	c->user_regs.cs = FLAT_KERNEL_CS;
	c->user_regs.ss = FLAT_KERNEL_SS;
	c->user_regs.ds = c->user_regs.es = FLAT_KERNEL_DS;
	c->user_regs.rflags = 0x2;
	c->kernel_ss = FLAT_KERNEL_SS;
	c->kernel_sp = top;
	c->ctrlreg[3] = arch->paging->entry(vm.root, 0) & PTE_ADDR; /* the root's machine frame */
	c->event_callback_eip = (uint64_t)xenpv_upcall_entry;
	c->failsafe_callback_eip = (uint64_t)xenpv_failsafe_entry;
	c->gs_base_kernel = (uint64_t)&cpus[cpu];
	rc = xen_vcpu_op(VCPUOP_initialise, cpu, c);
	kfree(c);
	if (!rc)
		rc = xen_vcpu_op(VCPUOP_up, cpu, NULL);
	return (int)rc;
}

/* A PVH vCPU can start straight in long mode on our page tables (xen/hvm/hvm_vcpu.h). */
static int xen_pvh_cpu_start(unsigned cpu, void (*entry)(void *), void *arg, void *stack_top)
{
	struct vcpu_hvm_context c = { .mode = VCPU_HVM_MODE_64B };
	long rc;

	c.cpu_regs.x86_64.rip = (uint64_t)entry;
	c.cpu_regs.x86_64.rdi = (uint64_t)arg;
	c.cpu_regs.x86_64.rsp = (uint64_t)stack_top - 8;
	c.cpu_regs.x86_64.rflags = 0x2;
	c.cpu_regs.x86_64.cr0 = 0x80010011; /* PG | WP | ET | PE */
	c.cpu_regs.x86_64.cr3 = vm.root * PAGE_SIZE;
	c.cpu_regs.x86_64.cr4 = 0x20; /* PAE */
	c.cpu_regs.x86_64.efer = 0x500 | (rdmsr(MSR_EFER) & EFER_NXE); /* LME | LMA */
	rc = xen_vcpu_op(VCPUOP_initialise, cpu, &c);
	if (!rc)
		rc = xen_vcpu_op(VCPUOP_up, cpu, NULL);
	return (int)rc;
}

static void xen_irq_stats(char *buf, size_t size)
{
	int n = 0;

	for (unsigned cpu = 0; cpu < MAX_CPUS && (size_t)n < size; cpu++) {
		if (!ipi_port[cpu])
			continue;
		n += ksnprintf(buf + n, size - n, "%scpu%u %lu upcalls, IPI ", n ? "; " : "", cpu,
			       evtchn_upcalls(cpu));
		if ((size_t)n < size)
			n += evtchn_describe(buf + n, size - n, ipi_port[cpu], cpu);
	}
}

/* The scheduler's stuck-vCPU report: Xen's runstate of it (running, runnable, blocked),
 * how long it has been in it, and its event state */
static void xen_vcpu_state(unsigned cpu, char *buf, size_t size)
{
	static const char *const names[] = { "running", "runnable", "blocked", "offline" };
	struct vcpu_runstate_info r;
	long rc = xen_vcpu_op(VCPUOP_get_runstate_info, cpu, &r);
	int n;

	if (rc < 0) {
		ksnprintf(buf, size, "Xen: no runstate for vcpu%u (%ld)", cpu, rc);
		return;
	}
	uint64_t now = xen_clock_ns(), since = r.state_entry_time & ~XEN_RUNSTATE_UPDATE;

	n = ksnprintf(buf, size, "Xen: vcpu%u %s for %lu ms (in all: running %lu ms, blocked %lu ms)",
		      cpu, (unsigned)r.state < 4 ? names[r.state] : "?",
		      now > since ? (now - since) / 1000000 : 0, r.time[RUNSTATE_running] / 1000000,
		      r.time[RUNSTATE_blocked] / 1000000);
	if (cpu < MAX_CPUS && ipi_port[cpu] && n >= 0 && (size_t)n + 8 < size) {
		n += ksnprintf(buf + n, size - n, ", IPI ");
		evtchn_describe(buf + n, size - n, ipi_port[cpu], cpu);
	}
}

/* A waiting vCPU gives its physical CPU away: to the vCPU it waits for if that one is
 * runnable there (the rig runs a guest's vCPUs on one physical CPU), else Xen returns at
 * once. */
static void xen_vcpu_yield(void)
{
	xen_sched_op(SCHEDOP_yield, NULL);
}

/* ---- device interrupts: event channels only (no I/O APIC, no MSI for PV drivers) */

static void port_event(unsigned port, void *arg)
{
	struct irq *irq = arg;

	irq->count++;
	irq->fn(irq->arg);
}

static int xen_irq_bind(struct irq *irq)
{
	if (irq->kind != IRQ_EVTCHN)
		return -ENODEV;
	if (!irq->fn || irq->cpu >= hal_info.vcpus)
		return -EINVAL;
	irq->count = 0;
	return evtchn_bind_port(irq->num, irq->cpu, port_event, irq);
}

static int xen_irq_mask(struct irq *irq, bool masked)
{
	if (irq->kind != IRQ_EVTCHN)
		return -EINVAL;
	if (masked)
		evtchn_mask(irq->num);
	else
		evtchn_unmask(irq->num);
	return 0;
}

static void xen_irq_unbind(struct irq *irq)
{
	if (irq->kind == IRQ_EVTCHN)
		evtchn_unbind_port(irq->num);
}

/* xen/io/console.h: xenconsoled produces into in[], we consume. Its event also says that
 * it took output (nothing to read then). A producer index more than a ring ahead (a
 * backend that lies) loses what is there, never more. */
static void cons_received(unsigned port, void *arg)
{
	XENCONS_RING_IDX c = cons->in_cons, p = READ_ONCE(cons->in_prod);

	(void)port, (void)arg;
	if (p == c)
		return;
	if (p - c > sizeof(cons->in))
		c = p;
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the bytes after the index */
	while (c != p) {
		char buf[64];
		size_t n = 0;

		while (c != p && n < sizeof(buf))
			buf[n++] = cons->in[MASK_XENCONS_IDX(c++, cons->in)];
		console_received(buf, n);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	WRITE_ONCE(cons->in_cons, c);
	cons_notify();
}

/* The console's input, then the grant table, xenstore and xenbus, whose drivers
 * (netfront/, blkfront/) register their devices as they connect. */
static void xen_probe_devices(void)
{
	int rc = cons ? evtchn_bind_port(cons_port, 0, cons_received, NULL) : 0;

	if (rc)
		kprintf("console: no input (event channel %u: %d)\n", cons_port, rc);
	rc = gnttab_setup();

	if (rc) {
		kprintf("devices: no grant table (%d): no PV devices\n", rc);
		return;
	}
	if ((rc = xs_init())) {
		kprintf("devices: no xenstore (%d): no PV devices\n", rc);
		return;
	}
	struct gnttab_stats g;

	gnttab_stats(&g);
	kprintf("devices: xenbus: %d found; %u grant references\n", xenbus_probe(), g.total);
}

static void xen_stop_devices(void)
{
	unsigned total, closed = xenbus_stop(2 * NSEC_PER_SEC, &total);

	if (total)
		kprintf("xenbus: closed %u of %u devices cleanly\n", closed, total);
}

#define XEN_OPS                                  \
	.console_write = xen_console_write,      \
	.shutdown = xen_shutdown,                \
	.cpu_setup = xen_cpu_setup,              \
	.timer_arm = xen_timer_arm,              \
	.ipi_send = xen_ipi_send,                \
	.irq_stats = xen_irq_stats,              \
	.vcpu_state = xen_vcpu_state,            \
	.vcpu_yield = xen_vcpu_yield,            \
	.irq_bind = xen_irq_bind,                \
	.irq_mask = xen_irq_mask,                \
	.irq_unbind = xen_irq_unbind,            \
	.probe_devices = xen_probe_devices,      \
	.stop_devices = xen_stop_devices,        \
	.selftest = xen_selftest

struct hal hal_xen_pv = {
	.name = "xen-pv",
	.detect = xen_pv_detect,
	.init = xen_pv_init,
	.cpu_start = xen_pv_cpu_start,
	XEN_OPS,
};

struct hal hal_xen_pvh = {
	.name = "xen-pvh",
	.detect = xen_pvh_detect,
	.init = xen_pvh_init,
	.cpu_start = xen_pvh_cpu_start,
	XEN_OPS,
};
