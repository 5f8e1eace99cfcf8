#include <string.h>

#include "lib/errno.h"
#include "tools/unit/unit.h"
#include "virtio/mmio_cmdline.h"

static int parse(const char *s, struct virtio_mmio_loc *l)
{
	return virtio_mmio_parse(s, strlen(s), l);
}

TEST(virtio_mmio_cmdline_values)
{
	struct virtio_mmio_loc l;

	CHECK_EQ(parse("512@0xfeb00e00:12", &l), 0);
	CHECK_EQ(l.base, 0xfeb00e00);
	CHECK_EQ(l.size, 512);
	CHECK_EQ(l.irq, 12);
	CHECK_EQ(parse("4K@0xd0000000:5:2", &l), 0);
	CHECK_EQ(l.size, 4096);
	CHECK_EQ(l.irq, 5);
	CHECK_EQ(parse("0x200@4276092416:7", &l), 0);
	CHECK_EQ(l.base, 4276092416u);
	/* malformed: each refused */
	const char *bad[] = { "", "512", "512@", "512@0xfeb00e00", "512@0xfeb00e00:",
			      "@0x1000:5", "512@0x1000:5x", "0@0x1000:5", "512@0:5",
			      "512@0x1000:300", "2G@0x1000:5", "512@0xffffffffffffffff:5",
			      "99999999999999999999999@0x1000:5", "512@0x1000:5:",
			      "512@0xfeb00e00:12:3:4" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &l);

		if (rc != -EINVAL)
			printf("  accepted: '%s'\n", bad[i]);
		CHECK_EQ(rc, -EINVAL);
	}
}

TEST(virtio_mmio_cmdline_many)
{
	struct virtio_mmio_loc l[4];
	unsigned bad;

	CHECK_EQ(virtio_mmio_cmdline("console=ttyS0 virtio_mmio.device=512@0xfeb00e00:12 "
				     "virtio_mmio.device=nonsense test=net_raw "
				     "virtio_mmio.device=512@0xfeb00c00:11",
				     l, 4, &bad),
		 2);
	CHECK_EQ(bad, 1);
	CHECK_EQ(l[0].base, 0xfeb00e00);
	CHECK_EQ(l[1].irq, 11);
	CHECK_EQ(virtio_mmio_cmdline("virtio_mmio.device=512@0xfeb00e00:12", l, 0, &bad), 0);
	CHECK_EQ(virtio_mmio_cmdline("xvirtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=",
				     l, 4, &bad),
		 0);
}
