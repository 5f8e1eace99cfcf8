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

	/* random corruption never reads out of bounds and never loops: the image is copied
	 * to a heap block of its length, so that ASan sees a read past it */
	srand(3);
	for (int n = 0; n < 20000; n++) {
		build();
		for (int k = 0; k < 4; k++)
			img[rand() % used] = rand();
		size_t p = 0, len = rand() % 2 ? used : (size_t)rand() % used;
		uint8_t *cut = malloc(len ? len : 1);
		int steps = 0;

		memcpy(cut, img, len);
		while (tar_next(cut, len, &p, &e, err, sizeof(err)) == 1 && steps < 100) {
			CHECK(e.offset + e.size <= len);
			steps++;
		}
		CHECK(steps < 100);
		free(cut);
	}
}

/*
 * An image that is a pax 'x' header and its n bytes of records, and nothing after them: the
 * records end where the heap block ends, so ASan sees a read past them.
 */
static uint8_t *pax_image(const char *rec, size_t n, size_t *len)
{
	used = 0;
	header("PaxHeaders/x", 'x', n, NULL);
	*len = TAR_BLOCK + n;
	uint8_t *p = malloc(*len);

	memcpy(p, img, TAR_BLOCK);
	memcpy(p + TAR_BLOCK, rec, n);
	return p;
}

static int pax_next(const char *rec, size_t n, char *err, size_t errlen)
{
	struct tar_entry e;
	size_t len, pos = 0;
	uint8_t *p = pax_image(rec, n, &len);
	int rc = tar_next(p, len, &pos, &e, err, errlen);

	free(p);
	return rc;
}

TEST(tar_pax_malformed_records)
{
	static const char *const bad[] = {
	    "0 path=x\n",			/* length 0 */
	    "1 pat",				/* shorter than its digits and the space */
	    "01 pat",				/* the same with a leading zero */
	    "2 path=x\n",			/* shorter than "N k=\n" */
	    "4 k=\n",				/* likewise, by one */
	    "12 path=x\n",			/* longer than what is left */
	    "11 pathxyz\n",			/* no '=' */
	    "7 =abc\n",				/* an empty key */
	    "11 path=abc",			/* no newline at the end */
	    "9 path=x\n8 k=v\n",		/* the second one runs past the end */
	    "9 path=x\nx",			/* something that is no record after a good one */
	    " path=x\n",			/* no length */
	    "9path=xy\n",			/* no space after the length */
	    "99999999999999999999999 path=x\n", /* digits overflowing 64 bits */
	    "18446744073709551617 path=x\n",	/* 2^64 + 1: wraps to 1 */
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		int rc = pax_next(bad[i], strlen(bad[i]), err, sizeof(err));

		if (rc != -EINVAL || !strstr(err, "pax"))
			printf("  record %zu \"%s\": rc %d, err \"%s\"\n", i, bad[i], rc, err);
		CHECK_EQ(rc, -EINVAL);
		CHECK(strstr(err, "pax"));
	}
	/* a record may not hide a NUL in its length either */
	CHECK_EQ(pax_next("9\0path=x\n", 9, err, sizeof(err)), -EINVAL);
}

TEST(tar_pax_random_records)
{
	static const char good[] = "13 mtime=1.5\n12 path=a/b\n8 path=\n";
	char rec[sizeof(good)], err[128];

	/* bytes changed and the records cut short: an answer, and no read past them (ASan) */
	srand(5);
	for (int n = 0; n < 20000; n++) {
		size_t len = 1 + rand() % (sizeof(good) - 1);

		memcpy(rec, good, sizeof(good));
		for (int k = rand() % 3; k >= 0; k--)
			rec[rand() % len] = "0123456789 =\n\0x"[rand() % 15];
		int rc = pax_next(rec, len, err, sizeof(err));

		CHECK(rc == 0 || rc == -EINVAL);
	}
}

/* the records of one pax header, then a file "short": the name the file gets */
static const char *pax_names(const char *recs)
{
	static struct tar_entry e;
	char err[128];
	size_t pos = 0;

	memset(img, 0, sizeof(img));
	used = 0;
	header("PaxHeaders/x", 'x', strlen(recs), NULL);
	memcpy(img + used, recs, strlen(recs));
	used += (strlen(recs) + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	file("short", "data", NULL);
	used += 2 * TAR_BLOCK;
	if (tar_next(img, used, &pos, &e, err, sizeof(err)) != 1)
		return "(error)";
	return e.name;
}

TEST(tar_pax_records)
{
	CHECK_STR(pax_names("5 k=\n"), "short"); /* the shortest record */
	CHECK_STR(pax_names("13 mtime=1.5\n12 path=a/b\n"), "a/b");
	CHECK_STR(pax_names("12 path=a=b\n"), "a=b");		 /* the value runs to the newline */
	CHECK_STR(pax_names("12 path=a/b\n8 path=\n"), "short"); /* an empty value undoes it */
	CHECK_STR(pax_names("0014 path=a/b\n"), "a/b");
	CHECK_STR(pax_names(""), "short");
}

/* a header for `name`, whose fields are then edited, and its checksum set again */
static uint8_t *raw_header(const char *name)
{
	memset(img, 0, sizeof(img));
	used = 0;
	header(name, '0', 0, NULL);
	used += 2 * TAR_BLOCK;
	return img;
}

static void resum(uint8_t *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

TEST(tar_header_fields)
{
	struct tar_entry e;
	char err[128], want[257];
	size_t pos;
	uint8_t *h;

	/* the largest octal size (12 digits, no terminator): past the end, not wrapped */
	h = raw_header("big");
	memcpy(h + 124, "777777777777", 12);
	resum(h);
	pos = 0;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "past the end"));
	CHECK_EQ(pos, 0);

	/* GNU's base-256 size (first byte 0x80), here 2^64 - 1: not taken for a size */
	h = raw_header("b256");
	h[124] = 0x80;
	memset(h + 125, 0xff, 11);
	resum(h);
	pos = 0;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "size field"));

	/* a size that fits the image only without its header */
	h = raw_header("edge");
	snprintf((char *)h + 124, 12, "%011o", 2 * TAR_BLOCK);
	resum(h);
	pos = 0;
	CHECK_EQ(tar_next(img, 2 * TAR_BLOCK, &pos, &e, err, sizeof(err)), -EINVAL);
	CHECK_EQ(tar_next(img, 3 * TAR_BLOCK, &pos, &e, err, sizeof(err)), 1);
	CHECK_EQ(e.offset + e.size, 3 * TAR_BLOCK);

	/* a name filling its 100 bytes, and a prefix its 155, with no NUL: the fields end
	 * them, not the mode or the next field */
	h = raw_header("");
	memset(h, 'n', 100);
	resum(h);
	pos = 0;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	memset(want, 'n', 100);
	want[100] = 0;
	CHECK_STR(e.name, want);
	/* a prefix of 155 and a name of 99: 255 bytes, the longest that fits */
	memset(h + 345, 'p', 155);
	h[99] = 0;
	resum(h);
	pos = 0;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	memset(want, 'p', 155);
	want[155] = '/';
	memset(want + 156, 'n', 99);
	want[255] = 0;
	CHECK_STR(e.name, want);
	/* the full ustar path, 256 bytes, does not fit: an error, never the first 255 (which
	 * would be the entry just above) */
	h[99] = 'n';
	resum(h);
	pos = 0;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "a name longer than 255 bytes in the tar header at byte 0");
	CHECK_EQ(pos, 0);
	CHECK_EQ(tar_find(img, used, want, &e, err, sizeof(err)), -EINVAL);
}

/* An archive of a long-name record naming the next entry, the entry ("short"), a file
 * "after" and the end marker: a GNU 'L' record whose data is name and its NUL, or a pax
 * header with the record "LEN path=name\n". */
static void long_named(bool pax, const char *name)
{
	char rec[600];
	size_t n = strlen(name) + 1;

	if (pax) {
		/* LEN counts its own digits: 3 of them for the names here */
		n = (size_t)snprintf(rec, sizeof(rec), "%zu path=%s\n", strlen(name) + 10, name);
		CHECK_EQ(n, strlen(name) + 10);
	} else {
		memcpy(rec, name, n);
	}
	memset(img, 0, sizeof(img));
	used = 0;
	header(pax ? "PaxHeaders/x" : "././@LongLink", pax ? 'x' : 'L', n, NULL);
	memcpy(img + used, rec, n);
	used += (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	file("short", "long-named data", NULL);
	file("after", "after", NULL);
	used += 2 * TAR_BLOCK;
}

/* a name of n bytes: "d/" and then 'n's */
static char *name_of(char *buf, size_t n)
{
	memset(buf, 'n', n);
	memcpy(buf, "d/", 2);
	buf[n] = 0;
	return buf;
}

TEST(tar_long_names_fit_or_fail)
{
	struct tar_entry e;
	char err[128], name[320], path[340];
	size_t pos;

	for (int pax = 0; pax < 2; pax++) {
		/* 255 bytes: the entry has them all, and is found by them */
		long_named(pax, name_of(name, 255));
		pos = 0;
		CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
		CHECK_STR(e.name, name);
		CHECK(!memcmp(img + e.offset, "long-named data", 15));
		snprintf(path, sizeof(path), "./%s//", name); /* 259 bytes, 255 normalised */
		CHECK_EQ(tar_find(img, used, path, &e, err, sizeof(err)), 1);
		CHECK_STR(e.name, name);
		/* a longer path never finds it: cut to 255 bytes it would */
		strcat(path, "x");
		CHECK_EQ(tar_find(img, used, path, &e, err, sizeof(err)), 0);
		CHECK_EQ(tar_find(img, used, "after", &e, err, sizeof(err)), 1);

		/* 300 bytes: the walk fails at the record, with nothing cut to 255 */
		long_named(pax, name_of(name, 300));
		pos = 0;
		CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), -EINVAL);
		CHECK_STR(err, "a name longer than 255 bytes in the tar header at byte 0");
		CHECK_EQ(pos, 0);
		name[255] = 0;
		CHECK_EQ(tar_find(img, used, name, &e, err, sizeof(err)), -EINVAL);
		CHECK_EQ(tar_find(img, used, "short", &e, err, sizeof(err)), -EINVAL);
		/* what comes after it is not found either: the archive is refused */
		CHECK_EQ(tar_find(img, used, "after", &e, err, sizeof(err)), -EINVAL);
	}
}

/* links: a symlink's target as written (ustar linkname, or pax linkpath), a hard link's
 * normalised as names are; the GNU long link ('K') applies to the next entry */
static void link_header(const char *name, char type, const char *target)
{
	header(name, type, 0, NULL);
	uint8_t *h = img + used - TAR_BLOCK;

	strncpy((char *)h + 157, target, 100);
	resum(h);
}

TEST(tar_links)
{
	struct tar_entry e;
	char err[128];
	size_t pos = 0;

	memset(img, 0, sizeof(img));
	used = 0;
	link_header("bin/sh", '2', "busybox");
	link_header("bin/ls", '2', "/bin/./busybox");
	link_header("bin/hard", '1', "./bin/app/");
	const char *rec = "29 linkpath=../a/long/target\n";

	header("PaxHeaders/l", 'x', strlen(rec), NULL);
	memcpy(img + used, rec, strlen(rec));
	used += TAR_BLOCK;
	link_header("bin/pax", '2', "short");
	header("././@LongLink", 'K', 9, NULL);
	memcpy(img + used, "gnu/link", 9);
	used += TAR_BLOCK;
	link_header("bin/gnu", '1', "x");
	file("bin/after", "data", NULL);
	used += 2 * TAR_BLOCK;
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK(e.type == '2' && !strcmp(e.name, "bin/sh") && !strcmp(e.link, "busybox"));
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.link, "/bin/./busybox"); /* a symlink's target: as written */
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK(e.type == '1');
	CHECK_STR(e.link, "bin/app"); /* a hard link's: normalised */
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "bin/pax");
	CHECK_STR(e.link, "../a/long/target"); /* pax's linkpath over the header's */
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "bin/gnu");
	CHECK_STR(e.link, "gnu/link");
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 1);
	CHECK(e.type == '0' && !e.link[0]); /* (nothing carried over) */
	CHECK_EQ(tar_next(img, used, &pos, &e, err, sizeof(err)), 0);
}
