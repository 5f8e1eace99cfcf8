/* ustar archives (lib/tar.h). Every header's checksum and numeric fields are checked, and
 * every size against what is left of the image, before anything is used. */
#include "lib/tar.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"

bool tar_is_header(const uint8_t *p)
{
	return !memcmp(p + 257, "ustar", 5);
}

static int fail(char *err, size_t errlen, const char *what, size_t at)
{
	ksnprintf(err, errlen, "%s in the tar header at byte %lu", what, (unsigned long)at);
	return -EINVAL;
}

/* an octal field (NUL- or space-terminated, leading spaces allowed); false if malformed */
static bool octal(const uint8_t *f, size_t n, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;

	while (i < n && f[i] == ' ')
		i++;
	if (i == n || f[i] < '0' || f[i] > '7')
		return false;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return false;
		v = v * 8 + (f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i])
			return false;
	*out = v;
	return true;
}

/* The first n bytes of src (up to a NUL) into dst (size bytes), without leading "/" and
 * "./" or trailing "/". False when that does not fit: dst is then empty, never a cut name,
 * which could be another file's. */
static bool normalise(char *dst, size_t size, const char *src, size_t n)
{
	while (n) {
		if (*src == '/') {
			src++;
			n--;
		} else if (n >= 2 && src[0] == '.' && src[1] == '/') {
			src += 2;
			n -= 2;
		} else {
			break;
		}
	}
	n = strnlen(src, n);
	while (n && src[n - 1] == '/')
		n--;
	if (n == 1 && src[0] == '.')
		n = 0;
	dst[0] = 0;
	if (n >= size)
		return false;
	memcpy(dst, src, n);
	dst[n] = 0;
	return true;
}

#define TOO_LONG "a name longer than 255 bytes"
_Static_assert(TAR_NAME_MAX == 255, "TOO_LONG says how long a name may be");

/*
 * The records of a pax extended header (POSIX.1-2008, pax, "pax Extended Header File
 * Format"): each is "LEN KEY=VALUE\n", LEN in decimal counting the whole record, its own
 * digits too. Only "path" is used; an empty value undoes an earlier one, as the standard
 * says. NULL, or what is wrong: a malformed record (LEN is all that says where the next one
 * starts, so nothing after a bad one can be trusted, and nothing is read outside p[0..n)),
 * or a path that does not fit in name.
 */
static const char *pax_path(const uint8_t *p, uint64_t n, char *name, size_t size,
			    char *link)
{
	while (n) {
		uint64_t len = 0, j = 0;

		for (; j < n && p[j] >= '0' && p[j] <= '9'; j++) {
			unsigned d = p[j] - '0';

			/* len * 10 + d > n, written so that it cannot overflow */
			if (len > n / 10 || d > n - len * 10)
				return "bad pax record";
			len = len * 10 + d;
		}
		/* the shortest is "5 k=\n": the digits, a space, a key, '=' and the newline */
		if (j == 0 || j == n || p[j] != ' ' || len < j + 4 || p[len - 1] != '\n')
			return "bad pax record";
		uint64_t k = j + 1, eq = k;

		while (eq < len - 1 && p[eq] != '=')
			eq++;
		if (eq == k || eq == len - 1)
			return "bad pax record"; /* an empty key, or no '=' */
		if (eq - k == 4 && !memcmp(p + k, "path", 4) &&
		    !normalise(name, size, (const char *)p + eq + 1, len - 1 - (eq + 1)))
			return TOO_LONG;
		if (eq - k == 8 && !memcmp(p + k, "linkpath", 8)) {
			uint64_t vl = len - 1 - (eq + 1);

			if (vl > TAR_NAME_MAX)
				return TOO_LONG;
			memcpy(link, p + eq + 1, vl);
			link[vl] = 0;
		}
		p += len;
		n -= len;
	}
	return NULL;
}

int tar_next(const uint8_t *img, size_t len, size_t *pos, struct tar_entry *e, char *err,
	     size_t errlen)
{
	char longname[TAR_NAME_MAX + 1] = "", longlink[TAR_NAME_MAX + 1] = "";
	const char *why;

	for (;;) {
		size_t at = *pos;

		if (at >= len || len - at < TAR_BLOCK)
			return 0;
		const uint8_t *h = img + at;
		bool zero = true;

		for (int i = 0; i < TAR_BLOCK && zero; i++)
			zero = !h[i];
		if (zero)
			return 0; /* the end marker */
		uint64_t sum = 0, want, size, mode = 0;

		for (int i = 0; i < TAR_BLOCK; i++)
			sum += i >= 148 && i < 156 ? ' ' : h[i];
		if (!octal(h + 148, 8, &want) || sum != want)
			return fail(err, errlen, "bad checksum", at);
		if (!octal(h + 124, 12, &size))
			return fail(err, errlen, "bad size field", at);
		octal(h + 100, 8, &mode);
		uint64_t data = at + TAR_BLOCK;

		if (size > len - data)
			return fail(err, errlen, "data past the end of the image", at);
		uint64_t next = data + ((size + TAR_BLOCK - 1) & ~(uint64_t)(TAR_BLOCK - 1));

		char type = h[156] ? (char)h[156] : '0';

		/* a pax extended header: applies to the next entry */
		if (type == 'x' &&
		    (why = pax_path(img + data, size, longname, sizeof(longname), longlink)))
			return fail(err, errlen, why, at);
		/* GNU long link name (its size counts the NUL) */
		if (type == 'K') {
			if (size > TAR_NAME_MAX + 1)
				return fail(err, errlen, TOO_LONG, at);
			memcpy(longlink, img + data, size);
			longlink[size ? size - 1 : 0] = 0;
		}
		/* GNU long name (its size counts the NUL) */
		if (type == 'L' &&
		    !normalise(longname, sizeof(longname), (const char *)img + data, size))
			return fail(err, errlen, TOO_LONG, at);
		if (type == 'x' || type == 'L' || type == 'K' || type == 'g') { /* 'g': pax global */
			*pos = next > len ? len : next;
			continue;
		}
		memset(e, 0, sizeof(*e));
		if (longname[0]) {
			memcpy(e->name, longname, sizeof(e->name));
		} else {
			char full[155 + 1 + 100]; /* prefix, '/', name */
			size_t k = 0;

			if (tar_is_header(h) && h[345]) {
				for (int i = 0; i < 155 && h[345 + i]; i++)
					full[k++] = (char)h[345 + i];
				full[k++] = '/';
			}
			for (int i = 0; i < 100 && h[i]; i++)
				full[k++] = (char)h[i];
			if (!normalise(e->name, sizeof(e->name), full, k))
				return fail(err, errlen, TOO_LONG, at);
		}
		if (type == '1' || type == '2') {
			char raw[TAR_NAME_MAX + 1];
			size_t k = 0;

			if (longlink[0]) {
				k = strlen(longlink);
				memcpy(raw, longlink, k);
			} else {
				for (; k < 100 && h[157 + k]; k++)
					raw[k] = (char)h[157 + k];
			}
			raw[k] = 0;
			if (type == '2')
				memcpy(e->link, raw, k + 1); /* a symlink's target, as written */
			else if (!normalise(e->link, sizeof(e->link), raw, k))
				return fail(err, errlen, TOO_LONG, at);
		}
		*pos = next > len ? len : next;
		e->offset = data;
		e->size = size;
		e->type = type;
		e->mode = (uint32_t)mode;
		return 1;
	}
}

int tar_find(const uint8_t *img, size_t len, const char *path, struct tar_entry *e, char *err,
	     size_t errlen)
{
	char want[TAR_NAME_MAX + 1];
	size_t pos = 0;
	int rc;
	/* a path too long for any entry matches none (cut, it could match another's) */
	bool fits = normalise(want, sizeof(want), path, strlen(path));

	while ((rc = tar_next(img, len, &pos, e, err, errlen)) == 1)
		if (fits && !strcmp(e->name, want))
			return 1;
	return rc;
}
