/* lib/cmdline.c against a model written from lib/cmdline.h: words split at spaces, tabs
 * and newlines, the kernel's part ending at a `--` word, the last `key` or `key=value`
 * winning. Input: one byte of buffer size, a key up to the first NUL, then the command
 * line; both are heap strings of exactly their length. */
#include "fuzz/fuzz.h"
#include "lib/cmdline.h"
#include "lib/errno.h"

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* the model: the last matching word's value (start, length), or NULL; *rest as
 * cmdline_rest says */
static const char *model(const char *s, const char *key, size_t *vlen, const char **rest)
{
	size_t klen = strlen(key);
	const char *found = NULL;

	*rest = NULL;
	for (const char *p = s;;) {
		while (space(*p))
			p++;
		if (!*p)
			break;
		const char *w = p;

		while (*p && !space(*p))
			p++;
		size_t n = (size_t)(p - w);

		if (n == 2 && w[0] == '-' && w[1] == '-') {
			*rest = p;
			break;
		}
		if (klen && n >= klen && !memcmp(w, key, klen) && (n == klen || w[klen] == '=')) {
			found = n == klen ? w + n : w + klen + 1;
			*vlen = n == klen ? 0 : n - klen - 1;
		}
	}
	return found;
}

/* decimal, or hex after 0x/0X; no sign, no spaces, no overflow */
static int model_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	unsigned __int128 v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		int d = *s >= '0' && *s <= '9'		       ? *s - '0'
			: base == 16 && *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
			: base == 16 && *s >= 'A' && *s <= 'F' ? *s - 'A' + 10
							       : -1;

		if (d < 0)
			return -EINVAL;
		v = v * base + (unsigned)d;
		if (v > UINT64_MAX)
			return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

static void check_u64(const char *s)
{
	uint64_t a = 0xdead, b = 0xbeef;
	int ra = parse_u64(s, &a), rb = model_u64(s, &b);

	FUZZ_CHECK(ra == rb);
	FUZZ_CHECK(ra || a == b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	size_t bufsize = fz_u8(&f) % 40;
	const uint8_t *nul = memchr(f.p, 0, f.n);
	size_t klen = nul ? (size_t)(nul - f.p) : f.n;
	char *key = malloc(klen + 1);

	fz_bytes(&f, key, klen);
	key[klen] = 0;
	fz_u8(&f); /* the NUL */
	char *cmd = fz_str(&f);
	char *buf = malloc(bufsize ? bufsize : 1);
	size_t vlen = 0;
	const char *rest, *v = model(cmd, key, &vlen, &rest);
	int len = cmdline_get(cmd, key, buf, bufsize);

	FUZZ_CHECK(cmdline_has(cmd, key) == (v != NULL));
	FUZZ_CHECK(cmdline_rest(cmd) == rest);
	if (!v) {
		FUZZ_CHECK(len == -1);
	} else {
		FUZZ_CHECK(len == (int)vlen);
		if (bufsize) {
			size_t n = vlen < bufsize - 1 ? vlen : bufsize - 1;

			FUZZ_CHECK(!memcmp(buf, v, n) && buf[n] == 0);
		}
	}

	/* the value through cmdline_get_u64, which takes at most 31 characters */
	uint64_t got = 0x1234, want = 0;
	int rc = cmdline_get_u64(cmd, key, &got);

	if (!v) {
		FUZZ_CHECK(rc == -ENOENT);
	} else {
		char *val = strndup(v, vlen);
		int mrc = vlen >= 32 ? -EINVAL : model_u64(val, &want);

		FUZZ_CHECK(rc == mrc);
		FUZZ_CHECK(rc || got == want);
		free(val);
	}
	check_u64(key);
	check_u64(cmd);
	free(buf);
	free(cmd);
	free(key);
	return 0;
}
