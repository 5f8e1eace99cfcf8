#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errno.h"
#include "lib/tar.h"
#include "tools/unit/unit.h"

static uint8_t img[16 * TAR_BLOCK];
static size_t used;

static void header(const char *name, char type, size_t size, const char *prefix)
{
	uint8_t *h = img + used;
	unsigned sum = 0;

	memset(h, 0, TAR_BLOCK);
	strncpy((char *)h, name, 100);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 124, 12, "%011zo", size);
	h[156] = type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (prefix)
		strncpy((char *)h + 345, prefix, 155);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	used += TAR_BLOCK;
}

static void file(const char *name, const char *data, const char *prefix)
{
	size_t n = strlen(data);

	header(name, '0', n, prefix);
	memset(img + used, 0, (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK);
	memcpy(img + used, data, n);
	used += (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

static void build(void)
{
	memset(img, 0, sizeof(img));
	used = 0;
	header("./bin/", '5', 0, NULL);
	file("./bin/app", "\177ELF...", NULL);
	file("motd", "hello\n", "etc");
	/* a pax header naming the next entry */
	const char *rec = "29 path=very/long/name/of/it\n";

	header("PaxHeaders/x", 'x', strlen(rec), NULL);
	memcpy(img + used, rec, strlen(rec));
	used += TAR_BLOCK;
	file("short", "long-named data", NULL);
	used += 2 * TAR_BLOCK; /* the end marker */
}

TEST(tar_walk_and_find)
{
	struct tar_entry e;
	char err[128];
	size_t pos = 0;

	build();
	CHECK(tar_is_header(img));
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "bin");
	CHECK_EQ(e.type, '5');
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "bin/app");
	CHECK_EQ(e.size, 7);
	CHECK(!memcmp(img + e.offset, "\177ELF...", 7));
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "etc/motd");
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "very/long/name/of/it");
	CHECK(!memcmp(img + e.offset, "long-named data", 15));
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 0);

	CHECK_EQ(tar_find(img, used, "/bin/app", &e, err, sizeof(err)), 1);
	CHECK_EQ(tar_find(img, used, "./etc/motd", &e, err, sizeof(err)), 1);
	CHECK(!memcmp(img + e.offset, "hello\n", 6));
	CHECK_EQ(tar_find(img, used, "etc/nothere", &e, err, sizeof(err)), 0);
	/* an image cut short ends the walk, without reading past it */
	CHECK_EQ(tar_find(img, 3 * TAR_BLOCK, "etc/motd", &e, err, sizeof(err)), 0);
}

TEST(tar_corrupt)
{
	struct tar_entry e;
	char err[128];
	size_t pos;

	build();
	img[TAR_BLOCK + 10] ^= 1; /* bin/app's header */
	pos = TAR_BLOCK;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "checksum"));

	build(); /* a size running past the image: fix the checksum after */
	used = 0;
	header("big", '0', 1 << 20, NULL);
	pos = 0;
	CHECK_EQ(tar_next(img, sizeof(img), &pos, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "past the end"));

	/* random corruption never reads out of bounds (ASan) and never loops */
	srand(3);
	for (int n = 0; n < 20000; n++) {
		build();
		for (int k = 0; k < 4; k++)
			img[rand() % used] = rand();
		size_t p = 0, len = rand() % 2 ? used : (size_t)rand() % used;
		int steps = 0;

		while (tar_next(img, len, &p, &e, err, sizeof(err)) == 1 && steps < 100) {
			CHECK(e.offset + e.size <= len);
			steps++;
		}
		CHECK(steps < 100);
	}
}
