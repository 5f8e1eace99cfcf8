#include "lib/cmdline.h"

#include "lib/errno.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* The words of the kernel's part, one at a time: *p moves past the word returned in
 * *w and *wlen; false at the end or at a `--` word (what follows `--` is the app's
 * environment and arguments, never the kernel's options). */
static bool next_word(const char **p, const char **w, size_t *wlen)
{
	while (is_space(**p))
		(*p)++;
	*w = *p;
	while (**p && !is_space(**p))
		(*p)++;
	*wlen = *p - *w;
	return *wlen && !(*wlen == 2 && (*w)[0] == '-' && (*w)[1] == '-');
}

/* Finds the value of the last `key` or `key=...` word; returns its start and length. */
static const char *find(const char *p, const char *key, size_t *len)
{
	const char *found = NULL, *w;
	size_t klen = 0, wlen;

	while (key[klen])
		klen++;
	while (next_word(&p, &w, &wlen)) {
		if (wlen >= klen && klen && __builtin_memcmp(w, key, klen) == 0 &&
		    (wlen == klen || w[klen] == '=')) {
			found = wlen == klen ? w + klen : w + klen + 1;
			*len = wlen == klen ? 0 : wlen - klen - 1;
		}
	}
	return found;
}

const char *cmdline_rest(const char *cmdline)
{
	const char *p = cmdline, *w;
	size_t wlen;

	while (next_word(&p, &w, &wlen))
		;
	return wlen == 2 ? p : NULL;
}

int cmdline_get(const char *cmdline, const char *key, char *buf, size_t size)
{
	size_t len;
	const char *v = find(cmdline, key, &len);

	if (!v)
		return -1;
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		for (size_t i = 0; i < n; i++)
			buf[i] = v[i];
		buf[n] = 0;
	}
	return (int)len;
}

bool cmdline_has(const char *cmdline, const char *key)
{
	size_t len;

	return find(cmdline, key, &len) != NULL;
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -EINVAL;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

int cmdline_get_u64(const char *cmdline, const char *key, uint64_t *out)
{
	char buf[32];
	int len = cmdline_get(cmdline, key, buf, sizeof(buf));

	if (len < 0)
		return -ENOENT;
	if ((size_t)len >= sizeof(buf))
		return -EINVAL;
	return parse_u64(buf, out);
}
