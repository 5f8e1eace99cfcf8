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

static void normalise(char *dst, size_t size, const char *src, size_t n)
{
	size_t k = 0;

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
	for (size_t i = 0; i < n && src[i] && k + 1 < size; i++)
		dst[k++] = src[i];
	while (k && dst[k - 1] == '/')
		k--;
	dst[k] = 0;
	if (k == 1 && dst[0] == '.')
		dst[0] = 0;
}

/* a pax record set "LEN path=VALUE\n...": the path, if there is one */
static void pax_path(const uint8_t *p, uint64_t n, char *name, size_t size)
{
	uint64_t i = 0;

	while (i < n) {
		uint64_t len = 0, j = i;

		while (j < n && p[j] >= '0' && p[j] <= '9' && len < n)
			len = len * 10 + (p[j++] - '0');
		if (j >= n || p[j] != ' ' || len == 0 || len > n - i)
			return;
		const uint8_t *kv = p + j + 1;
		uint64_t kvlen = len - (j + 1 - i);

		if (kvlen > 6 && !memcmp(kv, "path=", 5) && kv[kvlen - 1] == '\n')
			normalise(name, size, (const char *)kv + 5, kvlen - 6);
		i += len;
	}
}

int tar_next(const uint8_t *img, size_t len, size_t *pos, struct tar_entry *e, char *err,
	     size_t errlen)
{
	char longname[256] = "";

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

		*pos = next > len ? len : next;
		char type = h[156] ? (char)h[156] : '0';

		if (type == 'x') { /* pax extended header: applies to the next entry */
			pax_path(img + data, size, longname, sizeof(longname));
			continue;
		}
		if (type == 'g') /* pax global header */
			continue;
		if (type == 'L') { /* GNU long name */
			normalise(longname, sizeof(longname), (const char *)img + data,
				  size > 255 ? 255 : size);
			continue;
		}
		memset(e, 0, sizeof(*e));
		if (longname[0]) {
			memcpy(e->name, longname, sizeof(e->name));
		} else {
			char full[256];
			size_t k = 0;

			if (tar_is_header(h) && h[345]) {
				for (int i = 0; i < 155 && h[345 + i] && k < 200; i++)
					full[k++] = (char)h[345 + i];
				full[k++] = '/';
			}
			for (int i = 0; i < 100 && h[i] && k < sizeof(full) - 1; i++)
				full[k++] = (char)h[i];
			normalise(e->name, sizeof(e->name), full, k);
		}
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
	char want[256];
	size_t pos = 0;
	int rc;

	normalise(want, sizeof(want), path, strlen(path));
	while ((rc = tar_next(img, len, &pos, e, err, errlen)) == 1)
		if (!strcmp(e->name, want))
			return 1;
	return rc;
}
