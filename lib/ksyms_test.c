#include <string.h>

#include "lib/ksyms.h"
#include "tools/unit/unit.h"

TEST(ksyms_finds_containing_symbol)
{
	static const uint64_t addr[] = { 0x1000, 0x1040, 0x1100 };
	static const uint32_t off[] = { 0, 4, 8 };
	static const char names[] = "aaa\0bbb\0ccc";
	struct ksyms_table t = { 3, addr, off, names, 0x1200 };
	const char *n = NULL;
	uint64_t o = 0;

	CHECK(ksyms_find(&t, 0x1000, &n, &o) && !strcmp(n, "aaa") && o == 0);
	CHECK(ksyms_find(&t, 0x103f, &n, &o) && !strcmp(n, "aaa") && o == 0x3f);
	CHECK(ksyms_find(&t, 0x1040, &n, &o) && !strcmp(n, "bbb") && o == 0);
	CHECK(ksyms_find(&t, 0x11ff, &n, &o) && !strcmp(n, "ccc") && o == 0xff);
	CHECK(!ksyms_find(&t, 0xfff, &n, &o));
	CHECK(!ksyms_find(&t, 0x1200, &n, &o));
	t.count = 0;
	CHECK(!ksyms_find(&t, 0x1000, &n, &o));
}
