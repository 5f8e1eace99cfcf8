#include <string.h>

#include "lib/cmdline.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

TEST(cmdline_values_and_flags)
{
	const char *c = "  test=boot exit=42 panic\tip=10.0.2.15/24  test=fault x=";
	char v[16];

	CHECK_EQ(cmdline_get(c, "test", v, sizeof(v)), 5);
	CHECK_STR(v, "fault"); /* the last one wins */
	CHECK_EQ(cmdline_get(c, "panic", v, sizeof(v)), 0);
	CHECK_STR(v, "");
	CHECK_EQ(cmdline_get(c, "x", v, sizeof(v)), 0);
	CHECK_EQ(cmdline_get(c, "ip", v, 4), 12); /* truncated copy, full length */
	CHECK_STR(v, "10.");
	CHECK_EQ(cmdline_get(c, "tes", v, sizeof(v)), -1); /* no prefix matches */
	CHECK_EQ(cmdline_get(c, "", v, sizeof(v)), -1);
	CHECK(cmdline_has(c, "panic"));
	CHECK(!cmdline_has(c, "pani"));
	CHECK(!cmdline_has("", "a"));
}

TEST(cmdline_options_end_at_dashes)
{
	char v[16];

	/* the app's words after `--` are not the kernel's options (mode=hp there must not
	 * turn a normal-mode app into a ring-0 one) */
	CHECK_EQ(cmdline_get("mode=normal app=x -- mode=hp", "mode", v, sizeof(v)), 6);
	CHECK_STR(v, "normal");
	CHECK(!cmdline_has("app=x -- test=boot", "test"));
	CHECK(!cmdline_has("-- exit=3", "exit"));
	CHECK(cmdline_has("a --x b", "b")); /* only the word `--` ends them */
	CHECK(cmdline_has("a --", "a"));
	CHECK_STR(cmdline_rest("app=x -- A=1 b"), " A=1 b");
	CHECK_STR(cmdline_rest("-- b"), " b");
	CHECK_STR(cmdline_rest("a --"), "");
	CHECK(cmdline_rest("a --x") == NULL);
	CHECK(cmdline_rest("") == NULL);
}

TEST(cmdline_numbers)
{
	uint64_t n = 0;

	CHECK_EQ(cmdline_get_u64("exit=42", "exit", &n), 0);
	CHECK_EQ(n, 42);
	CHECK_EQ(cmdline_get_u64("m=0x1F", "m", &n), 0);
	CHECK_EQ(n, 31);
	CHECK_EQ(cmdline_get_u64("m=18446744073709551615", "m", &n), 0);
	CHECK(n == UINT64_MAX);
	CHECK_EQ(cmdline_get_u64("m=18446744073709551616", "m", &n), -EINVAL);
	CHECK_EQ(cmdline_get_u64("m=12a", "m", &n), -EINVAL);
	CHECK_EQ(cmdline_get_u64("m=", "m", &n), -EINVAL);
	CHECK_EQ(cmdline_get_u64("m=0x", "m", &n), -EINVAL);
	CHECK_EQ(cmdline_get_u64("m=-1", "m", &n), -EINVAL);
	CHECK_EQ(cmdline_get_u64("x=1", "m", &n), -ENOENT);
	CHECK_EQ(cmdline_get_u64("m=111111111111111111111111111111111", "m", &n), -EINVAL);
}
