/* `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` (Linux's syntax, which QEMU's microvm
 * writes with acpi=off): size and base in C notation (0x.., decimal) with an optional K, M
 * or G suffix on the size. */
#include "virtio/mmio_cmdline.h"

#include "lib/errno.h"
#include "lib/string.h"

static const char *number(const char *s, uint64_t *v)
{
	unsigned base = 10;
	const char *start;

	*v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (start = s;; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (*v > (UINT64_MAX - d) / base)
			return NULL;
		*v = *v * base + d;
	}
	return s == start ? NULL : s;
}

int virtio_mmio_parse(const char *s, size_t len, struct virtio_mmio_loc *out)
{
	char buf[64];
	uint64_t size, base, irq;
	const char *p;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (!(p = number(buf, &size)))
		return -EINVAL;
	unsigned shift = *p == 'K' || *p == 'k' ? 10 : *p == 'M' || *p == 'm' ? 20 : *p == 'G' || *p == 'g' ? 30 : 0;

	if (shift) {
		p++;
		if (size >> (64 - shift))
			return -EINVAL;
		size <<= shift;
	}
	if (*p++ != '@' || !(p = number(p, &base)) || *p++ != ':' || !(p = number(p, &irq)))
		return -EINVAL;
	if (*p == ':') { /* a first platform-device id: accepted and not needed */
		uint64_t id;

		if (!(p = number(p + 1, &id)))
			return -EINVAL;
	}
	if (*p || !size || size > 0x100000 || !base || base + size < base || irq > 255)
		return -EINVAL;
	out->base = base;
	out->size = (uint32_t)size;
	out->irq = (uint32_t)irq;
	return 0;
}

int virtio_mmio_cmdline(const char *cmdline, struct virtio_mmio_loc *out, unsigned max,
			unsigned *bad)
{
	static const char key[] = "virtio_mmio.device=";
	unsigned n = 0;

	*bad = 0;
	for (const char *p = cmdline; *p;) {
		while (*p == ' ')
			p++;
		const char *end = p;

		while (*end && *end != ' ')
			end++;
		if ((size_t)(end - p) > sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1)) {
			struct virtio_mmio_loc l;
			const char *v = p + sizeof(key) - 1;

			if (virtio_mmio_parse(v, (size_t)(end - v), &l))
				(*bad)++;
			else if (n < max)
				out[n++] = l;
		}
		p = end;
	}
	return (int)n;
}
