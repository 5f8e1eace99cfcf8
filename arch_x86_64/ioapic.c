#include "arch_x86_64/ioapic.h"

#include "arch_x86_64/arch.h"
#include "arch_x86_64/phys.h"
#include "lib/errno.h"
#include "lib/spinlock.h"

#define IOREGSEL 0x00
#define IOWIN 0x10
#define REG_VER 0x01
#define REG_REDIR(n) (0x10 + 2 * (n))
#define RTE_LEVEL (1u << 15)
#define RTE_ACTIVE_LOW (1u << 13)
#define RTE_MASKED (1u << 16)

static struct {
	volatile uint32_t *base;
	uint32_t gsi_base, lines;
} chips[ACPI_MAX_IOAPICS];
static unsigned nchips;
static struct acpi_irqs routing;
/* A register is an index write then a data access: one CPU at a time. Binding and masking
 * are rare slow paths; interrupts stay off while it is held. */
static struct spinlock lock;

static uint32_t rd(unsigned chip, unsigned reg)
{
	chips[chip].base[IOREGSEL / 4] = reg;
	return chips[chip].base[IOWIN / 4];
}

static void wr(unsigned chip, unsigned reg, uint32_t v)
{
	chips[chip].base[IOREGSEL / 4] = reg;
	chips[chip].base[IOWIN / 4] = v;
}

unsigned ioapic_init(const struct acpi_irqs *irqs)
{
	routing = *irqs;
	nchips = 0;
	for (unsigned i = 0; i < irqs->n_ioapics; i++) {
		volatile uint32_t *base = mmio_map(irqs->ioapic[i].addr, PAGE_SIZE);

		if (!base)
			continue;
		chips[nchips].base = base;
		chips[nchips].gsi_base = irqs->ioapic[i].gsi_base;
		/* bits 23:16: the highest redirection entry; an absent chip reads all ones */
		uint32_t ver = rd(nchips, REG_VER);

		if (ver == UINT32_MAX)
			continue;
		chips[nchips].lines = ((ver >> 16) & 0xff) + 1;
		for (unsigned n = 0; n < chips[nchips].lines; n++) {
			wr(nchips, REG_REDIR(n) + 1, 0);
			wr(nchips, REG_REDIR(n), RTE_MASKED);
		}
		nchips++;
	}
	return ioapic_gsis();
}

unsigned ioapic_gsis(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nchips; i++)
		n += chips[i].lines;
	return n;
}

void ioapic_isa_gsi(unsigned irq, uint32_t *gsi, unsigned *flags)
{
	*gsi = irq < ACPI_ISA_IRQS ? routing.isa_gsi[irq] : irq;
	*flags = irq < ACPI_ISA_IRQS ? routing.isa_flags[irq] : 0;
}

static int find(uint32_t gsi, unsigned *chip, unsigned *line)
{
	for (unsigned i = 0; i < nchips; i++) {
		if (gsi >= chips[i].gsi_base && gsi - chips[i].gsi_base < chips[i].lines) {
			*chip = i;
			*line = gsi - chips[i].gsi_base;
			return 0;
		}
	}
	return -EINVAL;
}

int ioapic_route(uint32_t gsi, uint8_t vector, uint32_t apic_id, unsigned flags)
{
	unsigned chip, line;

	if (find(gsi, &chip, &line) || vector < 0x20 || apic_id > 0xff)
		return -EINVAL;
	uint32_t lo = vector | RTE_MASKED | (flags & ACPI_IRQ_LEVEL ? RTE_LEVEL : 0) |
		      (flags & ACPI_IRQ_ACTIVE_LOW ? RTE_ACTIVE_LOW : 0);
	uint64_t f = irq_save();

	spin_lock(&lock);
	wr(chip, REG_REDIR(line), RTE_MASKED); /* never half-programmed while live */
	wr(chip, REG_REDIR(line) + 1, apic_id << 24);
	wr(chip, REG_REDIR(line), lo);
	spin_unlock(&lock);
	irq_restore(f);
	return 0;
}

void ioapic_mask(uint32_t gsi, bool masked)
{
	unsigned chip, line;

	if (find(gsi, &chip, &line))
		return;
	uint64_t f = irq_save();

	spin_lock(&lock);
	uint32_t lo = rd(chip, REG_REDIR(line));

	wr(chip, REG_REDIR(line), masked ? lo | RTE_MASKED : lo & ~RTE_MASKED);
	spin_unlock(&lock);
	irq_restore(f);
}
