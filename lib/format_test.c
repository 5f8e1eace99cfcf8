#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/format.h"
#include "tools/unit/unit.h"

#define SAME(...)                                                        \
	do {                                                             \
		char ours_[128], libc_[128];                             \
		int nours_ = ksnprintf(ours_, sizeof(ours_), __VA_ARGS__); \
		int nlibc_ = snprintf(libc_, sizeof(libc_), __VA_ARGS__); \
		CHECK_STR(ours_, libc_);                                 \
		CHECK_EQ(nours_, nlibc_);                                \
	} while (0)

TEST(format_matches_libc)
{
	SAME("plain");
	SAME("%d %i %u", -42, 7, 4000000000u);
	SAME("%ld %lu %lx %lX", -1L, 18446744073709551615UL, 0xdeadbeefcafeUL, 0xabcUL);
	SAME("%5d|%-5d|%05d|%.3d|%8.3d", 42, 42, -42, 7, -7);
	SAME("%x %08x %#x %#lx %#x", 255u, 255u, 255u, 0x1000UL, 0u);
	SAME("%s|%10s|%-10s|%.2s|%*s|%-*s|", "abc", "abc", "abc", "abc", 6, "ab", 6, "ab");
	SAME("%c%c%5c%-3c|", 'a', 'b', 'c', 'd');
	SAME("%hhd %hd %hhu %hu", 300, 70000, 300, 70000);
	SAME("%zu %zx", (size_t)123456789, (size_t)0xfff);
	SAME("100%% %d%%", 5);
	SAME("%.0d|%.*d", 0, 3, 5);
}

TEST(format_random_against_libc)
{
	static const char *const convs[] = { "d", "u", "x", "X", "ld", "lu", "lx" };

	srand(1);
	for (int i = 0; i < 20000; i++) {
		char fmt[32];
		const char *c = convs[rand() % 7];
		int width = rand() % 24, prec = rand() % 24 - 4;
		const char *flags = (const char *[]){ "", "-", "0", "#", "-#", "0#" }[rand() % 6];
		long v = (long)(((unsigned long)rand() << 33) ^ ((unsigned long)rand() << 2) ^ rand());

		if (rand() % 2)
			v = -v;
		if (prec >= 0)
			snprintf(fmt, sizeof(fmt), "%%%s%d.%d%s", flags, width, prec, c);
		else
			snprintf(fmt, sizeof(fmt), "%%%s%d%s", flags, width, c);
		if (strchr("dux X", c[0]) && c[0] != 'l')
			SAME(fmt, (int)v);
		else
			SAME(fmt, v);
	}
}

TEST(format_truncates_like_snprintf)
{
	char b[8];

	CHECK_EQ(ksnprintf(b, sizeof(b), "%s", "0123456789"), 10);
	CHECK_STR(b, "0123456");
	CHECK_EQ(ksnprintf(b, 1, "abc"), 3);
	CHECK_STR(b, "");
	CHECK_EQ(ksnprintf(NULL, 0, "%d", 12345), 5);
}

TEST(format_pointer_and_odd_input)
{
	char b[64];

	ksnprintf(b, sizeof(b), "%p", (void *)0xffffffff80100000UL);
	CHECK_STR(b, "0xffffffff80100000");
	ksnprintf(b, sizeof(b), "%p", (void *)0);
	CHECK_STR(b, "0x0000000000000000");
	const char *volatile null = NULL, *volatile odd = "%q %";

	ksnprintf(b, sizeof(b), "%s", null);
	CHECK_STR(b, "(null)");
	ksnprintf(b, sizeof(b), odd); /* unknown conversions are shown, not interpreted */
	CHECK_STR(b, "%q %");
}
