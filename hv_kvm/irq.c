/* Device interrupts on the PC platforms: ISA and PCI INTx lines through the I/O APICs,
 * MSI straight to a CPU's local APIC. Each bound source gets its own vector, whose handler
 * counts, calls the driver and sends the EOI. */
#include "arch_x86_64/acpi_cpus.h"
#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/ioapic.h"
#include "arch_x86_64/pci.h"
#include "arch_x86_64/phys.h"
#include "arch_x86_64/rtc.h"
#include "common/console.h"
#include "common/selftest.h"
#include "hv_kvm/pc.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "sched/sched.h"

#define MSI_ADDR_BASE 0xfee00000u

static char note[96];

/* QEMU's PC machines keep 0xc0000000-0xfebfffff for PCI (below it on q35: MMCONFIG at
 * 0xb0000000), up to the I/O APIC */
#define PCI_WINDOW_LO 0xc0000000ul
#define PCI_WINDOW_HI 0xfec00000ul

const char *pc_devices_init(uint64_t rsdp, uint64_t low_top)
{
	struct acpi_irqs irqs;
	const char *why;
	uint64_t lo = MAX(PCI_WINDOW_LO, (low_top + 0xfffff) & ~0xfffffull);

	if (acpi_irq_routing(rsdp, &irqs, &why)) {
		ksnprintf(note, sizeof(note), "no I/O APIC routing (%s): MSI only; ", why);
	} else {
		/* QEMU's I/O APIC (and KVM's routing) always takes ISA IRQ 0, the PIT, at pin 2,
		 * but microvm's MADT leaves that override out */
		if (!(irqs.isa_overridden & 1))
			irqs.isa_gsi[0] = 2;
		if (!ioapic_init(&irqs))
			ksnprintf(note, sizeof(note), "no usable I/O APIC in the MADT: MSI only; ");
	}
	if (lo < PCI_WINDOW_HI && pci_assign_bars(lo, PCI_WINDOW_HI) < 0)
		ksnprintf(note + strlen(note), sizeof(note) - strlen(note),
			  "PCI: no room for every BAR in %#lx-%#lx", lo, PCI_WINDOW_HI);
	return note;
}

static void device_irq(void *arg)
{
	struct irq *irq = arg;

	irq->count++;
	irq->fn(irq->arg);
	pc_eoi();
}

/* the GSI and its polarity/trigger for a line source */
static int line(const struct irq *irq, uint32_t *gsi, unsigned *flags)
{
	if (irq->kind == IRQ_ISA) {
		if (irq->num >= ACPI_ISA_IRQS)
			return -EINVAL;
		ioapic_isa_gsi(irq->num, gsi, flags);
		return 0;
	}
	*gsi = irq->num;
	*flags = (irq->edge ? 0 : ACPI_IRQ_LEVEL) | (irq->active_high ? 0 : ACPI_IRQ_ACTIVE_LOW);
	return 0;
}

int pc_irq_bind(struct irq *irq)
{
	uint32_t gsi;
	unsigned flags;
	int v, rc;

	if (!irq->fn || irq->cpu >= hal_info.vcpus)
		return -EINVAL;
	if (irq->kind == IRQ_EVTCHN)
		return -ENODEV;
	if (irq->kind != IRQ_MSI) {
		if ((rc = line(irq, &gsi, &flags)))
			return rc;
		if (!ioapic_gsis())
			return -ENODEV;
	}
	irq->count = 0;
	if ((v = arch_irq_alloc(device_irq, irq)) < 0)
		return v;
	irq->vector = v;
	if (irq->kind == IRQ_MSI) {
		/* fixed delivery, physical destination, edge (Intel SDM vol. 3, 11.11) */
		irq->msi_addr = MSI_ADDR_BASE | apic_ids[irq->cpu] << 12;
		irq->msi_data = v;
		return 0;
	}
	if ((rc = ioapic_route(gsi, v, apic_ids[irq->cpu], flags))) {
		arch_irq_free(v);
		return rc;
	}
	ioapic_mask(gsi, false);
	return 0;
}

int pc_irq_mask(struct irq *irq, bool masked)
{
	uint32_t gsi;
	unsigned flags;

	if (irq->kind == IRQ_MSI)
		return -EOPNOTSUPP;
	if (irq->kind == IRQ_EVTCHN || line(irq, &gsi, &flags))
		return -EINVAL;
	ioapic_mask(gsi, masked);
	return 0;
}

void pc_irq_unbind(struct irq *irq)
{
	if (irq->kind != IRQ_MSI)
		pc_irq_mask(irq, true);
	arch_irq_free(irq->vector);
	irq->vector = 0;
}

/* ---- test=irq */

#define MS 1000000ull
#define EDU_VENDOR 0x1234 /* QEMU's educational PCI device (docs/specs/edu.rst) */
#define EDU_DEVICE 0x11e8
#define EDU_ID 0x00
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64

struct probe {
	unsigned cpu;
	unsigned wrong_cpu;
	volatile uint32_t *edu;
};

/* Line sources for the test: the RTC's periodic interrupt (ISA IRQ 8, 64 Hz) and the PIT's
 * channel 0 (ISA IRQ 0, 100 Hz; QEMU's MADT overrides it to GSI 2). Either may be absent:
 * microvm has an RTC only under TCG and a PIT only under KVM. */
struct line_source {
	const char *name;
	unsigned isa;
	bool (*present)(void);
	void (*start)(void);
	void (*stop)(void);
	void (*ack)(void); /* in the handler, and after unmasking */
};

static bool rtc_present(void)
{
	outb(0x70, 0x0a);
	return inb(0x71) != 0xff;
}

static void rtc_start(void)
{
	rtc_periodic(10); /* 32768 >> 9 = 64 Hz */
}

static void rtc_stop(void)
{
	rtc_periodic(0);
}

static void rtc_acknowledge(void)
{
	rtc_ack();
}

#define PIT_CMD 0x43
#define PIT_CH0 0x40

static uint16_t pit_count(void)
{
	outb(PIT_CMD, 0x00); /* latch channel 0 */
	uint8_t lo = inb(PIT_CH0);

	return lo | inb(PIT_CH0) << 8;
}

/* an absent PIT reads 0xffff however long one waits */
static bool pit_present(void)
{
	outb(PIT_CMD, 0x30); /* channel 0, low then high byte, mode 0 */
	outb(PIT_CH0, 0xff);
	outb(PIT_CH0, 0xff);
	uint16_t a = pit_count();

	for (int i = 0; i < 1000; i++)
		cpu_relax();
	return a != 0xffff || pit_count() != 0xffff;
}

static void pit_start(void)
{
	uint16_t div = 1193182 / 100;

	outb(PIT_CMD, 0x34); /* channel 0, low then high byte, mode 2 (rate generator) */
	outb(PIT_CH0, div & 0xff);
	outb(PIT_CH0, div >> 8);
}

static void pit_stop(void)
{
	outb(PIT_CMD, 0x30); /* mode 0: one last edge, into a masked line */
	outb(PIT_CH0, 0xff);
	outb(PIT_CH0, 0xff);
}

static void pit_ack(void)
{
}

static const struct line_source lines[] = {
	{ "rtc", 8, rtc_present, rtc_start, rtc_stop, rtc_acknowledge },
	{ "pit", 0, pit_present, pit_start, pit_stop, pit_ack },
};

struct line_probe {
	struct probe p;
	const struct line_source *src;
};

static void line_fired(void *arg)
{
	struct line_probe *lp = arg;

	lp->p.wrong_cpu += arch_cpu_id() != lp->p.cpu;
	lp->src->ack();
}

static void edu_fired(void *arg)
{
	struct probe *p = arg;

	p->wrong_cpu += arch_cpu_id() != p->cpu;
	p->edu[EDU_IRQ_ACK / 4] = p->edu[EDU_IRQ_STATUS / 4];
}

static uint64_t count_after(struct irq *irq, uint64_t ns)
{
	thread_sleep(ns);
	return __atomic_load_n(&irq->count, __ATOMIC_ACQUIRE);
}

/* An ISA line through the I/O APIC: it arrives on `cpu`, stops while masked and comes
 * back after. The ports are index/data pairs, so all of it runs on the handler's CPU,
 * with interrupts off around port accesses. Returns whether the source was there. */
static bool test_line(struct result *r, const struct line_source *src, unsigned cpu)
{
	struct line_probe lp = { .p = { .cpu = cpu }, .src = src };
	struct irq irq = { .kind = IRQ_ISA, .num = src->isa, .cpu = cpu, .fn = line_fired,
			   .arg = &lp };
	uint64_t f = irq_save();
	bool present = src->present();

	irq_restore(f);
	if (!present) {
		result_note(r, "%s=absent ", src->name);
		return false;
	}
	int rc = pc_irq_bind(&irq);

	EXPECT(r, rc == 0, "binding ISA IRQ %u (%s) failed: %d", src->isa, src->name, rc);
	if (rc)
		return true;
	f = irq_save();
	src->start();
	irq_restore(f);
	uint64_t on = count_after(&irq, 250 * MS);

	pc_irq_mask(&irq, true);
	uint64_t before = count_after(&irq, 20 * MS); /* one may have been in flight */
	uint64_t masked = count_after(&irq, 100 * MS) - before;

	pc_irq_mask(&irq, false);
	f = irq_save();
	src->ack(); /* the RTC waits for this after the interrupt the mask swallowed */
	irq_restore(f);
	uint64_t again = count_after(&irq, 250 * MS) - before - masked;

	pc_irq_mask(&irq, true);
	f = irq_save();
	src->stop();
	irq_restore(f);
	pc_irq_unbind(&irq);
	EXPECT(r, on >= 8, "%s: %lu interrupts in 250 ms", src->name, on);
	EXPECT(r, masked == 0, "%s: %lu interrupts while masked", src->name, masked);
	EXPECT(r, again >= 8, "%s: %lu interrupts in 250 ms after unmasking", src->name, again);
	EXPECT(r, lp.p.wrong_cpu == 0, "%s: %u interrupts on the wrong CPU", src->name,
	       lp.p.wrong_cpu);
	uint32_t gsi;
	unsigned flags;

	ioapic_isa_gsi(src->isa, &gsi, &flags);
	result_note(r, "%s=isa%u/gsi%u:%lu,masked %lu,%lu ", src->name, src->isa, gsi, on, masked,
		    again);
	return true;
}

/* MSI from QEMU's edu device (present on the q35 cell): 100 raised, 100 handled. */
static void test_msi(struct result *r, unsigned cpu)
{
	pci_bdf d;
	uint64_t pa, size;

	if (pci_find(EDU_VENDOR, EDU_DEVICE, &d)) {
		result_note(r, "msi=n/a (no PCI edu device)");
		return;
	}
	int rc = pci_bar(d, 0, &pa, &size);

	EXPECT(r, rc == 0 && pa && size >= PAGE_SIZE, "edu BAR0: rc %d, %#lx size %#lx", rc, pa,
	       size);
	if (rc || !pa)
		return;
	struct probe p = { .cpu = cpu, .edu = mmio_map(pa, PAGE_SIZE) };

	pci_write16(d, PCI_CFG_COMMAND, pci_read16(d, PCI_CFG_COMMAND) | PCI_CMD_MEMORY);
	EXPECT(r, p.edu && p.edu[EDU_ID / 4] >> 16 == 0x0100, "edu id register reads %#x",
	       p.edu ? p.edu[EDU_ID / 4] : 0);
	if (!r->ok)
		return;
	struct irq irq = { .kind = IRQ_MSI, .cpu = cpu, .fn = edu_fired, .arg = &p };

	rc = pc_irq_bind(&irq);
	EXPECT(r, rc == 0, "binding an MSI failed: %d", rc);
	if (rc)
		return;
	rc = pci_msi_enable(d, irq.msi_addr, irq.msi_data);
	EXPECT(r, rc == 0, "edu has no MSI capability (%d)", rc);
	unsigned raised = 0;

	for (; !rc && raised < 100; raised++) {
		uint64_t want = raised + 1, until = clock_ns() + 100 * MS;

		p.edu[EDU_IRQ_RAISE / 4] = 1;
		while (__atomic_load_n(&irq.count, __ATOMIC_ACQUIRE) < want && clock_ns() < until)
			thread_yield();
		if (irq.count < want)
			break;
	}
	EXPECT(r, pc_irq_mask(&irq, true) == -EOPNOTSUPP, "masking an MSI at the APIC worked");
	pci_msi_disable(d);
	unsigned vector = irq.vector;

	pc_irq_unbind(&irq);
	EXPECT(r, irq.count == 100, "%lu of 100 edu MSIs arrived", irq.count);
	EXPECT(r, p.wrong_cpu == 0, "%u MSIs on the wrong CPU", p.wrong_cpu);
	result_note(r, "msi=%lu/100 (vector %#x)", irq.count, vector);
}

/* Bad requests get errors; vectors run out cleanly and come back. */
static void test_limits(struct result *r)
{
	static struct irq many[VEC_LAST_DEVICE - VEC_FIRST_DEVICE + 2];
	struct irq bad = { .kind = IRQ_ISA, .num = 16, .fn = edu_fired };
	unsigned n = 0;
	int rc = 0;

	EXPECT(r, pc_irq_bind(&bad) == -EINVAL, "ISA IRQ 16 was accepted");
	bad.num = 8;
	bad.cpu = hal_info.vcpus;
	EXPECT(r, pc_irq_bind(&bad) == -EINVAL, "a CPU that does not exist was accepted");
	bad.cpu = 0;
	bad.kind = IRQ_EVTCHN;
	EXPECT(r, pc_irq_bind(&bad) == -ENODEV, "an event channel was accepted on a PC");
	for (; n < sizeof(many) / sizeof(many[0]); n++) {
		many[n] = (struct irq){ .kind = IRQ_MSI, .fn = edu_fired };
		if ((rc = pc_irq_bind(&many[n])))
			break;
	}
	EXPECT(r, rc == -ENOSPC, "binding MSIs until none is left ended with %d", rc);
	for (unsigned i = 0; i < n; i++)
		pc_irq_unbind(&many[i]);
	EXPECT(r, pc_irq_bind(&many[0]) == 0, "no vector after all were freed again");
	pc_irq_unbind(&many[0]);
	result_note(r, " vectors=%u", n);
}

struct job {
	struct result *r;
	unsigned cpu;
};

static int irq_test_thread(void *arg)
{
	struct job *j = arg;

	unsigned tested = 0;

	result_note(j->r, "on cpu%u: ", j->cpu);
	for (unsigned i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		tested += test_line(j->r, &lines[i], j->cpu);
	EXPECT(j->r, tested, "neither an RTC nor a PIT to test the I/O APIC with");
	test_msi(j->r, j->cpu);
	return 0;
}

static void selftest_irq(struct result *r)
{
	/* the last CPU: not the one that boots, so routing is really tested */
	struct job j = { r, sched_cpus_online() - 1 };
	struct thread *t;

	if (!ioapic_gsis())
		result_note(r, "%s; ", note);
	t = thread_create("irqtest", irq_test_thread, &j, (int)j.cpu);
	EXPECT(r, t != NULL, "no thread");
	if (t)
		EXPECT(r, thread_join(t, clock_ns() + 20000 * MS, NULL) == 0,
		       "the test thread did not finish in 20 s");
	test_limits(r);
}

bool pc_selftest(const char *name, struct result *r)
{
	if (strcmp(name, "irq"))
		return false;
	selftest_irq(r);
	return true;
}
