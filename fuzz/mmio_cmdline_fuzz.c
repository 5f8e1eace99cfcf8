/* virtio/mmio_cmdline.c: virtio_mmio_cmdline over an arbitrary command line, and
 * virtio_mmio_parse on one value. Every device it returns must be one the kernel may map
 * (a window of 1 byte to 1 MiB not wrapping, not at 0, an IRQ up to 255), and must read
 * back the same when written out in the syntax again. Input: a count byte, then the line. */
#include "fuzz/fuzz.h"
#include "lib/errno.h"
#include "virtio/mmio_cmdline.h"

#define KEY "virtio_mmio.device="

static void check_loc(const struct virtio_mmio_loc *l)
{
	char s[64];
	struct virtio_mmio_loc again;

	FUZZ_CHECK(l->size >= 1 && l->size <= 0x100000);
	FUZZ_CHECK(l->base && l->base + l->size > l->base);
	FUZZ_CHECK(l->irq <= 255);
	snprintf(s, sizeof(s), "%#x@%#llx:%u", l->size, (unsigned long long)l->base, l->irq);
	FUZZ_CHECK(virtio_mmio_parse(s, strlen(s), &again) == 0);
	FUZZ_CHECK(again.base == l->base && again.size == l->size && again.irq == l->irq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	unsigned max = fz_u8(&f) % 6, bad = 12345, words = 0;
	char *cmd = fz_str(&f);
	struct virtio_mmio_loc out[6];
	int n = virtio_mmio_cmdline(cmd, out, max, &bad);

	FUZZ_CHECK(n >= 0 && (unsigned)n <= max);
	for (int i = 0; i < n; i++)
		check_loc(&out[i]);
	/* every word with the key and a value either parsed or was counted bad */
	for (const char *p = cmd; (p = strstr(p, KEY)); p++) {
		char after = p[strlen(KEY)];

		if ((p == cmd || p[-1] == ' ') && after && after != ' ')
			words++;
	}
	FUZZ_CHECK((unsigned)n + bad <= words);
	if ((unsigned)n < max)
		FUZZ_CHECK((unsigned)n + bad == words);
	/* the whole line as one value too, whatever its length */
	struct virtio_mmio_loc one;
	int rc = virtio_mmio_parse(cmd, strlen(cmd), &one);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (!rc)
		check_loc(&one);
	free(cmd);
	return 0;
}
