/* lib/tar.c: tar_next over an arbitrary image, then tar_find for each name it listed. The
 * image is a heap block of exactly its length. Every entry's data must lie inside the image
 * and after its header, the walk must only move forward on block boundaries, names must
 * come out normalised, tar_find must find the first entry of each name, and a path longer
 * than a name can be (a listed name and more) must find nothing: cut to fit, it would. */
#include "fuzz/fuzz.h"
#include "lib/errno.h"
#include "lib/tar.h"

#define MAX_SEEN 16

struct seen {
	char name[TAR_NAME_MAX + 1];
	uint64_t offset, size;
};

static void check_entry(const struct tar_entry *e, size_t len, size_t at, size_t pos)
{
	size_t n = strnlen(e->name, sizeof(e->name));

	FUZZ_CHECK(n < sizeof(e->name));
	FUZZ_CHECK(n == 0 || (e->name[0] != '/' && e->name[n - 1] != '/'));
	FUZZ_CHECK(strncmp(e->name, "./", 2) && strcmp(e->name, "."));
	/* the data: after a header at or past where this call started, inside the image */
	FUZZ_CHECK(e->offset % TAR_BLOCK == 0 && e->offset >= at + TAR_BLOCK);
	FUZZ_CHECK(e->offset <= len && e->size <= len - e->offset);
	FUZZ_CHECK(pos >= e->offset + e->size && pos <= len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img = malloc(size ? size : 1);
	static struct seen seen[MAX_SEEN];
	unsigned nseen = 0;
	struct tar_entry e;
	char err[80];
	size_t pos = 0;
	int rc, walk_rc;

	memcpy(img, data, size);
	for (;;) {
		size_t at = pos;

		rc = tar_next(img, size, &pos, &e, err, sizeof(err));
		FUZZ_CHECK(rc == 1 || rc == 0 || rc == -EINVAL);
		FUZZ_CHECK(pos % TAR_BLOCK == 0 || pos == size);
		FUZZ_CHECK(pos >= at && pos <= (size > at ? size : at));
		if (rc == -EINVAL)
			FUZZ_CHECK(strlen(err) < sizeof(err));
		if (rc != 1)
			break;
		FUZZ_CHECK(pos > at);
		check_entry(&e, size, at, pos);
		if (nseen < MAX_SEEN) {
			memcpy(seen[nseen].name, e.name, sizeof(e.name));
			seen[nseen].offset = e.offset;
			seen[nseen].size = e.size;
			nseen++;
		}
	}
	walk_rc = rc;
	for (unsigned i = 0; i < nseen; i++) {
		unsigned first = i;
		char path[260];

		for (unsigned j = 0; j < i; j++)
			if (!strcmp(seen[j].name, seen[i].name)) {
				first = j;
				break;
			}
		/* the name as listed, and as an absolute and a ./ path: the same entry */
		snprintf(path, sizeof(path), "%s%s",
			 i % 3 == 1   ? "/"
			 : i % 3 == 2 ? "./"
				      : "",
			 seen[i].name);
		rc = tar_find(img, size, path, &e, err, sizeof(err));
		FUZZ_CHECK(rc == 1);
		FUZZ_CHECK(!strcmp(e.name, seen[i].name));
		FUZZ_CHECK(e.offset == seen[first].offset && e.size == seen[first].size);
		/* the name and 'x's, past TAR_NAME_MAX: no entry, so it ends as the walk did */
		char longer[TAR_NAME_MAX + 2];
		size_t n = strlen(seen[i].name);

		memcpy(longer, seen[i].name, n);
		memset(longer + n, 'x', sizeof(longer) - 1 - n);
		longer[sizeof(longer) - 1] = 0;
		rc = tar_find(img, size, longer, &e, err, sizeof(err));
		FUZZ_CHECK(rc == walk_rc);
	}
	/* a name not listed walks the whole archive: it ends as the walk did */
	if (nseen < MAX_SEEN) {
		static const char absent[] = "\x01no such file";
		bool listed = false;

		for (unsigned i = 0; i < nseen; i++)
			listed |= !strcmp(seen[i].name, absent);
		rc = tar_find(img, size, absent, &e, err, sizeof(err));
		FUZZ_CHECK(rc == (listed ? 1 : walk_rc));
	}
	free(img);
	return 0;
}
