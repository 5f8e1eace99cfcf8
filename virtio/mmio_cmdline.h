/* virtio-mmio devices named on the kernel command line (pure: host-tested). */
#ifndef VIRTIO_MMIO_CMDLINE_H
#define VIRTIO_MMIO_CMDLINE_H

#include "lib/compiler.h"

struct virtio_mmio_loc {
	uint64_t base;
	uint32_t size;
	uint32_t irq;
};

/* One value (len bytes at s, not NUL-terminated): 0, or -EINVAL. */
int virtio_mmio_parse(const char *s, size_t len, struct virtio_mmio_loc *out);
/* Every `virtio_mmio.device=` in the command line: stores up to max, returns how many
 * were stored; *bad counts values that did not parse (they are left out). */
int virtio_mmio_cmdline(const char *cmdline, struct virtio_mmio_loc *out, unsigned max,
			unsigned *bad);

#endif
