#include <stdint.h>
#include <string.h>

#include <xen/arch-x86/hvm/start_info.h>

#include "arch_x86_64/bootinfo.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

/* Fake guest-physical memory; everything outside it is "not readable". */
static uint8_t mem[0x10000];
#define SI 0x1000
#define CMDLINE 0x2000
#define MEMMAP 0x3000
#define MODS 0x4000

static const void *map(uint64_t pa, size_t len)
{
	return pa + len <= sizeof(mem) && pa + len >= pa ? mem + pa : NULL;
}

static struct hvm_start_info *si(void)
{
	return (struct hvm_start_info *)(mem + SI);
}

/* What QEMU with qboot hands over: a memory map that ends in an all-zero entry. */
static void good(void)
{
	static const struct hvm_memmap_table_entry mm[] = {
		{ 0x100000, 0x7f00000, XEN_HVM_MEMMAP_TYPE_RAM, 0 },
		{ 0, 0x9fc00, XEN_HVM_MEMMAP_TYPE_RAM, 0 },
		{ 0x9fc00, 0x400, XEN_HVM_MEMMAP_TYPE_RESERVED, 0 },
		{ 0, 0, 0, 0 },
	};

	memset(mem, 0, sizeof(mem));
	*si() = (struct hvm_start_info){ .magic = XEN_HVM_START_MAGIC_VALUE, .version = 1,
					 .cmdline_paddr = CMDLINE, .rsdp_paddr = 0xf5a10,
					 .memmap_paddr = MEMMAP, .memmap_entries = 4 };
	memcpy(mem + MEMMAP, mm, sizeof(mm));
	strcpy((char *)mem + CMDLINE, "test=boot exit=3");
}

TEST(pvh_parses_a_good_start_info)
{
	struct boot_info bi = { 0 };

	good();
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), 0);
	CHECK(bi.error == NULL);
	CHECK_EQ(bi.entry, BOOT_PVH);
	CHECK_STR(bi.cmdline, "test=boot exit=3");
	CHECK(!bi.cmdline_truncated);
	CHECK_EQ(bi.mem_count, 3);
	CHECK(bi.mem[0].base == 0 && bi.mem[2].base == 0x100000);
	CHECK_EQ(memmap_total(bi.mem, bi.mem_count, MEM_RAM), 0x9fc00 + 0x7f00000);
	CHECK_EQ(bi.rsdp_paddr, 0xf5a10);
	CHECK_EQ(bi.mod_count, 0);
}

TEST(pvh_rejects_bad_magic_clearly)
{
	struct boot_info bi = { 0 };

	good();
	si()->magic = 0xdeadbeef;
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "bad PVH start info magic 0xdeadbeef"));
	memset(&bi, 0, sizeof(bi));
	CHECK_EQ(boot_parse_pvh(&bi, 0, map), -EINVAL); /* no start info at all */
	CHECK(bi.error && strstr(bi.error, "not readable"));
	CHECK_EQ(boot_parse_pvh(&bi, sizeof(mem) - 8, map), -EINVAL); /* runs off memory */
}

TEST(pvh_checks_pointers_and_counts)
{
	struct boot_info bi = { 0 };

	good();
	si()->cmdline_paddr = sizeof(mem) + 5;
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(strstr(bi.error, "command line"));

	memset(&bi, 0, sizeof(bi));
	good();
	si()->memmap_entries = MEMMAP_MAX + 1;
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(strstr(bi.error, "memory map has 129 entries"));

	memset(&bi, 0, sizeof(bi));
	good();
	si()->memmap_paddr = sizeof(mem) - 16;
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(strstr(bi.error, "memory map at"));

	memset(&bi, 0, sizeof(bi));
	good();
	si()->nr_modules = 1000000;
	si()->modlist_paddr = sizeof(mem) - 64; /* not even the entries we keep fit */
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(strstr(bi.error, "module list"));
}

static size_t biggest_map;

static const void *map_counting(uint64_t pa, size_t len)
{
	if (len > biggest_map)
		biggest_map = len;
	return map(pa, len);
}

/* A huge module count: only the entries kept are read, never 32 MB past the list. */
TEST(pvh_reads_only_the_modules_it_keeps)
{
	struct boot_info bi = { 0 };
	struct hvm_modlist_entry *m = (struct hvm_modlist_entry *)(mem + MODS);

	good();
	si()->nr_modules = 1000000;
	si()->modlist_paddr = MODS;
	for (int i = 0; i < BOOT_MODS_MAX; i++)
		m[i] = (struct hvm_modlist_entry){ .paddr = 0x800000 + i * 0x1000, .size = 100 };
	biggest_map = 0;
	CHECK_EQ(boot_parse_pvh(&bi, SI, map_counting), 0);
	CHECK(biggest_map <= BOOT_MODS_MAX * sizeof(*m));
	CHECK_EQ(bi.mod_count, BOOT_MODS_MAX);
	CHECK_EQ(bi.mods_dropped, 1000000 - BOOT_MODS_MAX);
}

/* Modules must be RAM, clear of the kernel and the first MiB; memory map entries must not
 * wrap. Each is refused with a message naming it. */
TEST(pvh_refuses_modules_out_of_bounds)
{
	struct boot_info bi;
	struct hvm_modlist_entry *m = (struct hvm_modlist_entry *)(mem + MODS);
	struct hvm_memmap_table_entry *e = (struct hvm_memmap_table_entry *)(mem + MEMMAP);
	const struct {
		uint64_t pa, len;
		const char *why;
	} bad[] = {
		{ 0x7fff000, 0x2000, "not all RAM" },	    /* runs past the end of RAM */
		{ 0x9f000, 0x2000, "not all RAM" },	    /* into the reserved EBDA */
		{ 0x90000000, 0x1000, "not all RAM" },	    /* no memory at all */
		{ 0x200000, UINT64_MAX - 0x1000, "wraps" }, /* length wraps */
		{ 0x1ff000, 0x2000, "overlaps the kernel" },
		{ 0x1000, 0x1000, "overlaps the kernel" }, /* the first MiB */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&bi, 0, sizeof(bi));
		bi.reserved[0] = (struct mem_range){ 0x200000, 0x100000, MEM_RESERVED };
		bi.reserved_count = 1; /* the kernel, as start.c puts it */
		good();
		si()->nr_modules = 1;
		si()->modlist_paddr = MODS;
		m[0] = (struct hvm_modlist_entry){ .paddr = bad[i].pa, .size = bad[i].len };
		CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
		CHECK(bi.error && strstr(bi.error, bad[i].why));
		if (!bi.error || !strstr(bi.error, bad[i].why))
			printf("  case %u: %s\n", i, bi.error ? bi.error : "(accepted)");
	}
	memset(&bi, 0, sizeof(bi));
	good();
	e[0].size = UINT64_MAX; /* a memory map entry that wraps */
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "memory map entry 0 wraps"));
	/* a module at the very end of RAM is fine; an empty one is ignored */
	memset(&bi, 0, sizeof(bi));
	good();
	si()->nr_modules = 2;
	si()->modlist_paddr = MODS;
	m[0] = (struct hvm_modlist_entry){ .paddr = 0x7fff000, .size = 0x1000 };
	m[1] = (struct hvm_modlist_entry){ .paddr = 0, .size = 0 };
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), 0);
	CHECK(bi.mod_count == 1 && bi.mods_dropped == 1);
}

TEST(pvh_cmdline_without_terminator_is_truncated)
{
	struct boot_info bi = { 0 };

	good();
	memset(mem + CMDLINE, 'a', 3000);
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), 0);
	CHECK(bi.cmdline_truncated);
	CHECK_EQ(strlen(bi.cmdline), BOOT_CMDLINE_MAX - 1);
}

TEST(pvh_modules_and_version_0)
{
	struct boot_info bi = { 0 };
	struct hvm_modlist_entry *m = (struct hvm_modlist_entry *)(mem + MODS);

	good();
	si()->nr_modules = BOOT_MODS_MAX + 2;
	si()->modlist_paddr = MODS;
	for (int i = 0; i < BOOT_MODS_MAX + 2; i++)
		m[i] = (struct hvm_modlist_entry){ .paddr = 0x800000 + i * 0x1000, .size = 100 };
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), 0);
	CHECK_EQ(bi.mod_count, BOOT_MODS_MAX);
	CHECK_EQ(bi.mods_dropped, 2);
	CHECK_EQ(bi.mods[1].paddr, 0x801000);

	memset(&bi, 0, sizeof(bi));
	m[0].size = UINT64_MAX; /* wraps around */
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), -EINVAL);
	CHECK(strstr(bi.error, "wraps"));

	memset(&bi, 0, sizeof(bi));
	good();
	si()->version = 0; /* no memory map fields: the platform must supply one */
	CHECK_EQ(boot_parse_pvh(&bi, SI, map), 0);
	CHECK_EQ(bi.mem_count, 0);
}
