#include <stdlib.h>
#include <string.h>

#include "lib/elf.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

/* A small valid static executable: header, two program headers (text RX with the entry,
 * data RW with bss), then the bytes. */
#define IMG_LEN 0x3000
static uint8_t img[IMG_LEN];

static struct elf64_ehdr *eh(void)
{
	return (struct elf64_ehdr *)img;
}

static struct elf64_phdr *ph(int i)
{
	return (struct elf64_phdr *)(img + sizeof(struct elf64_ehdr)) + i;
}

static void build(void)
{
	memset(img, 0, sizeof(img));
	memcpy(eh()->ident, "\177ELF\2\1\1", 7);
	eh()->type = ELF_ET_EXEC;
	eh()->machine = ELF_EM_X86_64;
	eh()->version = 1;
	eh()->entry = 0x401010;
	eh()->phoff = sizeof(struct elf64_ehdr);
	eh()->ehsize = sizeof(struct elf64_ehdr);
	eh()->phentsize = sizeof(struct elf64_phdr);
	eh()->phnum = 2;
	*ph(0) = (struct elf64_phdr){.type = ELF_PT_LOAD,
				     .flags = ELF_PF_R | ELF_PF_X,
				     .offset = 0,
				     .vaddr = 0x400000,
				     .filesz = 0x2000,
				     .memsz = 0x2000,
				     .align = 0x1000};
	*ph(1) = (struct elf64_phdr){.type = ELF_PT_LOAD,
				     .flags = ELF_PF_R | ELF_PF_W,
				     .offset = 0x2000,
				     .vaddr = 0x403000,
				     .filesz = 0x800,
				     .memsz = 0x5000,
				     .align = 0x1000};
}

static int check(size_t len, char *why)
{
	struct elf_image im;
	char buf[128];

	int rc = elf_check(img, len, &im, buf, sizeof(buf));
	if (why)
		strcpy(why, rc ? buf : "");
	return rc;
}

TEST(elf_valid)
{
	struct elf_image im;
	char err[128];

	build();
	CHECK_EQ(elf_check(img, IMG_LEN, &im, err, sizeof(err)), 0);
	CHECK_EQ(im.nloads, 2);
	CHECK_EQ(im.entry, 0x401010);
	CHECK_EQ(im.phdr, 0x400000 + sizeof(struct elf64_ehdr));
	CHECK_EQ(im.lo, 0x400000);
	CHECK_EQ(im.hi, 0x408000);
	CHECK_EQ(im.bias, 0);
}

TEST(elf_static_pie_is_biased)
{
	struct elf_image im;
	char err[128];

	build();
	eh()->type = ELF_ET_DYN;
	eh()->phnum = 3;
	*ph(2) = (struct elf64_phdr){.type = ELF_PT_DYNAMIC,
				     .offset = 0x2000,
				     .vaddr = 0x3000,
				     .filesz = 0x100,
				     .memsz = 0x100};
	ph(0)->vaddr = 0;
	ph(1)->vaddr = 0x3000;
	eh()->entry = 0x1010;
	CHECK_EQ(elf_check(img, IMG_LEN, &im, err, sizeof(err)), 0);
	CHECK_EQ(im.entry, ELF_PIE_BASE + 0x1010);
	CHECK_EQ(im.loads[1].vaddr, ELF_PIE_BASE + 0x3000);
	/* ET_DYN without PT_DYNAMIC is a shared object, not a static-PIE */
	eh()->phnum = 2;
	CHECK_EQ(elf_check(img, IMG_LEN, &im, err, sizeof(err)), -ENOEXEC);
}

/* every corruption is refused with a reason that names it */
TEST(elf_corrupt)
{
	char why[128];

	build();
	img[1] = 'X';
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "bad magic"));

	build();
	CHECK_EQ(check(40, why), -ENOEXEC);
	CHECK(strstr(why, "too short"));

	build();
	img[4] = 1; /* 32-bit */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "64-bit"));

	build();
	eh()->machine = 40; /* ARM */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "x86-64"));

	build();
	eh()->type = 1; /* relocatable */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);

	build();
	eh()->phoff = IMG_LEN - 10;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "program headers"));

	build(); /* truncated: the data segment's bytes are not all there */
	CHECK_EQ(check(0x2400, why), -ENOEXEC);
	CHECK(strstr(why, "truncated"));

	build();
	ph(1)->filesz = 0x6000;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);

	build(); /* offset + size wraps around */
	ph(1)->offset = UINT64_MAX - 0x10;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);

	build();
	ph(1)->vaddr = 0x401000; /* overlaps the text */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "overlaps"));

	build();
	ph(1)->vaddr = 0x403800; /* not congruent with its offset */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "modulo"));

	build();
	ph(1)->vaddr = 0xffff800000000000ull; /* kernel half */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "user range"));

	build();
	ph(0)->vaddr = 0; /* page 0 */
	eh()->entry = 0x10;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "user range"));

	build();
	ph(1)->memsz = UINT64_MAX - 0x1000; /* wraps */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);

	build();
	eh()->entry = 0x403010; /* in the data segment: not executable */
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "entry point"));

	build();
	eh()->entry = 0x300000;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "entry point"));

	build();
	ph(0)->type = ELF_PT_INTERP;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
	CHECK(strstr(why, "static"));

	build();
	eh()->phnum = 0;
	CHECK_EQ(check(IMG_LEN, why), -ENOEXEC);
}

/* random byte flips never crash the checker, and what it accepts stays in range */
TEST(elf_fuzz)
{
	srand(7);
	for (int n = 0; n < 20000; n++) {
		struct elf_image im;
		char err[128];

		build();
		for (int k = 0, m = 1 + rand() % 8; k < m; k++)
			img[rand() % (sizeof(struct elf64_ehdr) + 2 * sizeof(struct elf64_phdr))] =
			    rand();
		size_t len = rand() % 2 ? IMG_LEN : (size_t)(rand() % IMG_LEN);

		if (elf_check(img, len, &im, err, sizeof(err)) == 0) {
			for (unsigned i = 0; i < im.nloads; i++) {
				CHECK(im.loads[i].offset + im.loads[i].filesz <= len);
				CHECK(im.loads[i].vaddr >= ELF_USER_MIN);
				CHECK(im.loads[i].vaddr + im.loads[i].memsz <= ELF_USER_MAX);
			}
		}
	}
}
