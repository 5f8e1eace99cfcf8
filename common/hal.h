/* The hypervisor abstraction layer: the one interface core code uses for what differs
 * between kvm, qemu (TCG), xen-pvh and xen-pv. Platforms are tried in table order and the
 * first whose detect() says yes fills `hal`. Core code never asks "am I on Xen?". */
#ifndef COMMON_HAL_H
#define COMMON_HAL_H

#include "arch_x86_64/bootinfo.h"
#include "lib/compiler.h"

/* Exit codes the test runner understands (QEMU: the exit status is 2 * code + 1;
 * Xen: 0 is a poweroff, anything else a crash). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_PANIC 2

struct result;

/* An interrupt source and its handler: one interface on every platform. The driver fills
 * kind, num, cpu, fn and arg, and hal->irq_bind does the rest. fn(arg) runs in interrupt
 * context on `cpu` (no sleeping, no allocation); the platform acknowledges the interrupt
 * controller after it returns, so fn acknowledges only its device. */
enum irq_kind {
	IRQ_ISA,    /* legacy ISA IRQ 0-15; PC: routed through the MADT's overrides */
	IRQ_GSI,    /* a global system interrupt: PCI INTx (level, active low) unless the
		     * driver says otherwise in edge/active_high */
	IRQ_MSI,    /* PCI MSI or one MSI-X vector: irq_bind fills msi_addr/msi_data */
	IRQ_EVTCHN, /* a Xen event channel port the driver has opened */
};

struct irq {
	enum irq_kind kind;
	uint32_t num; /* ISA IRQ, GSI or port; unused for MSI */
	unsigned cpu;
	bool edge, active_high; /* IRQ_GSI only (virtio-mmio: level, active high) */
	void (*fn)(void *arg);
	void *arg;
	/* set by irq_bind */
	unsigned vector;   /* PC: the IDT vector */
	uint64_t msi_addr; /* IRQ_MSI: what the device must write, and where */
	uint32_t msi_data;
	uint64_t count; /* how often fn ran */
};

struct hal {
	const char *name; /* "kvm", "qemu", "xen-pvh", "xen-pv" */
	bool (*detect)(const struct boot_info *bi);
	/* Brings up the console and gathers hal_info; may fix up bi (e.g. a memory map the
	 * entry did not have). Returns 0 or a negative error (the boot then fails). */
	int (*init)(struct boot_info *bi);
	void (*console_write)(const char *s, size_t n);
	/* Ends the VM with `code`; does not return. */
	void (*shutdown)(int code);
	/* Monotonic time in ns from an arbitrary origin, the same on every CPU; set by init,
	 * NULL without a clock. Called with preemption off (clock_ns() in sched.h). */
	uint64_t (*clock_ns)(void);
	/* Wall clock: ns since 1970-01-01 00:00 UTC. */
	uint64_t (*wallclock_ns)(void);
	/* On each CPU, before it takes interrupts: its clock record, timer and IPI. */
	int (*cpu_setup)(unsigned cpu);
	/* Starts vCPU `cpu` running entry(arg) on a stack ending at stack_top; returns 0 once
	 * it was handed over, or an error. */
	int (*cpu_start)(unsigned cpu, void (*entry)(void *), void *arg, void *stack_top);
	/* After every vCPU was started (may be NULL). */
	void (*cpus_started)(void);
	/* This CPU's one-shot timer at monotonic time deadline_ns (in the past: at once);
	 * 0 disarms. Nothing ticks unless armed. Interrupts off. */
	void (*timer_arm)(uint64_t deadline_ns);
	void (*ipi_send)(unsigned cpu);
	/* A line on the platform's interrupt machinery for `test=sched` (e.g. PV EOI). */
	void (*irq_stats)(char *buf, size_t size);
	/* What the hypervisor says of vCPU `cpu` (e.g. Xen's runstate), for a report that it
	 * stopped taking work (sched.c). May be NULL. */
	void (*vcpu_state)(unsigned cpu, char *buf, size_t size);
	/* Gives this vCPU's physical CPU to another vCPU (ours or another domain's) for now,
	 * for a CPU that waits for another vCPU: one the hypervisor preempted, or one that
	 * shares our physical CPU, runs only when we stop. Xen: SCHEDOP_yield. May be NULL
	 * (KVM: the CPU's pause-loop exiting hands the physical CPU over on its own). */
	void (*vcpu_yield)(void);
	/* Binds irq (struct irq above); it starts unmasked. 0, or -ENODEV (no such source
	 * on this platform), -EINVAL (bad number or CPU), -ENOSPC (no vector left). */
	int (*irq_bind)(struct irq *irq);
	/* Stops (true) or resumes delivery; an event that comes while masked is delivered on
	 * unmask when the source latches it (Xen ports do; an ISA edge may be lost). MSI is
	 * masked at the device: -EOPNOTSUPP. */
	int (*irq_mask)(struct irq *irq, bool masked);
	/* Masks it and frees what irq_bind took; the source itself stays the driver's. */
	void (*irq_unbind)(struct irq *irq);
	/* Finds the platform's devices and starts their drivers, which register netdevs and
	 * blkdevs (common/netdev.h, blkdev.h) as they connect. Prints a line saying what it
	 * found. May be NULL. */
	void (*probe_devices)(void);
	/* Before a normal shutdown: drivers let go of their backends or devices cleanly
	 * (bounded). Not on a panic. May be NULL. */
	void (*stop_devices)(void);
	/* Guest tests only this platform can run (test=irq: its own interrupt sources
	 * through irq_bind; Xen: test=xenstore): true when it knew `name` and ran it. */
	bool (*selftest)(const char *name, struct result *r);
};

/* What the platform's interrupt handlers report (set by the scheduler). */
struct hal_events {
	void (*timer)(void); /* this CPU's one-shot timer fired */
	void (*ipi)(void);   /* another CPU sent this one an IPI */
};

extern struct hal_events hal_events;

/* Facts for the banner and the boot test, filled by hal->init */
struct hal_info {
	char hv[64];	  /* hypervisor and version, e.g. "Xen 4.17.7" */
	char detail[400]; /* features, clock source */
	char timer[96];	  /* how the one-shot timer works here */
	unsigned vcpus;
	/* the platform's clock once it was chosen, in the boot's first milliseconds: where
	 * uptime counts from (the clock itself counts from the host's or Xen's start) */
	uint64_t boot_ns;
};

extern const struct hal *hal;
extern struct hal_info hal_info;

/* Picks and initialises the platform; panics if none fits or its init fails. */
void hal_select(struct boot_info *bi);
void __noreturn hal_exit(int code);

#endif
