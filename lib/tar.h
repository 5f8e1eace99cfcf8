/* ustar archives (POSIX.1-2001 pax, ustar and GNU tar's headers): the read-only file tree
 * an app can be given on its first disk or as its boot module. Pure code, host-tested. */
#ifndef LIB_TAR_H
#define LIB_TAR_H

#include "lib/compiler.h"

#define TAR_BLOCK 512
#define TAR_NAME_MAX 255 /* the longest name an entry can have, normalised */

struct tar_entry {
	char name[TAR_NAME_MAX + 1]; /* normalised: no leading "/" or "./", no trailing "/" */
	uint64_t offset; /* of the data, in the image */
	uint64_t size;
	char type; /* '0' file, '5' directory, '2' symlink, '1' hard link, ... */
	uint32_t mode;
	/* a link's target: a symlink's as written, a hard link's normalised as names are */
	char link[TAR_NAME_MAX + 1];
};

/* Whether the 512 bytes at p are a ustar header (the magic at offset 257). */
bool tar_is_header(const uint8_t *p);
/* Reads the entry at *pos (a block boundary) and moves *pos past its data. Returns 1 with
 * *e filled, 0 at the end of the archive (two zero blocks, or no more bytes), or -EINVAL
 * with the reason in err (bad checksum, bad size field, data past the end, a malformed pax
 * record, a name longer than TAR_NAME_MAX) and *pos where the bad header is. Pax and GNU
 * long-name records are applied to the entry they precede. A name is never cut to fit:
 * a cut one could be another file's, so an entry whose name does not fit (a pax path or
 * GNU long name, or a full 256-byte ustar prefix and name) ends the walk with an error,
 * and lookups past it fail rather than miss it. */
int tar_next(const uint8_t *img, size_t len, size_t *pos, struct tar_entry *e, char *err,
	     size_t errlen);
/* Finds path ("/bin/app", "bin/app" or "./bin/app") and returns 1 with *e, 0 when it is
 * not there, or tar_next's error. A path longer than TAR_NAME_MAX (normalised) names no
 * entry: the walk goes on to its end and returns as it ended. */
int tar_find(const uint8_t *img, size_t len, const char *path, struct tar_entry *e, char *err,
	     size_t errlen);
#endif
