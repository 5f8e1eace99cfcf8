/* The app's files: a read-only tree from a tar image (lib/tar.c), either the boot module
 * itself or the first block device, read into memory once at start. Paths are absolute
 * or relative to the working directory (chdir) or a directory descriptor (openat), with
 * "." and ".." resolved; a directory is one the image lists or one its names imply, and
 * the root always is. Files are read with read, pread64, readv and lseek; directories with
 * getdents64; fstat, stat and access answer for both; writing is -EROFS. */
#include "common/blkdev.h"
#include "common/console.h"
#include "hp/hp.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "lib/tar.h"
#include "mm/mm.h"
#include "sched/sched.h"

#define FS_MAX (16u << 20) /* the largest image read from a disk (one heap block) */

static const uint8_t *image;
static size_t image_len;

void hp_fs_set(const uint8_t *img, size_t len)
{
	image = img;
	image_len = len;
}

bool hp_fs_present(void)
{
	return image != NULL;
}

/* Reads the tar image on the first block device: up to the device's end or FS_MAX, and
 * only if it starts with a tar header. Returns its length, or a negative error with the
 * reason printed. quiet: the app came as the boot module, so a disk that holds no tar
 * image is the app's own (/dev/vda, hp/disk.c): -ENOEXEC and nothing said. */
long hp_fs_load_disk(const char *app_name, bool quiet)
{
	struct blkdev *d = blkdev_count() ? blkdev_get(0) : NULL;

	if (!d) {
		kprintf("hp: %s: no boot module and no disk to read a tar image from\n", app_name);
		return -ENODEV;
	}
	uint64_t bytes = d->sectors * d->sector_size;
	size_t len = bytes > FS_MAX ? FS_MAX : (size_t)bytes;
	uint32_t chunk = d->max_bytes ? d->max_bytes & ~4095u : 65536;

	if (chunk == 0 || chunk > 65536)
		chunk = 65536;
	len &= ~(size_t)4095;
	if (quiet && len) { /* a look at the first sector before taking room for it all */
		uint8_t *first = kmalloc_aligned(4096, 4096);
		int rc = first ? blk_sync_or_free(d, BLK_READ, 0, 4096 / d->sector_size, first,
						  clock_ns() + 30000000000ull, first)
			       : -ENOMEM;

		bool tar = !rc && tar_is_header(first);

		if (rc != -ETIMEDOUT)
			kfree(first);
		if (!tar)
			return -ENOEXEC;
	}
	uint8_t *buf = len ? kmalloc_aligned(len, 4096) : NULL;

	if (!buf) {
		kprintf("hp: %s: no memory for the disk's %lu bytes\n", app_name,
			(unsigned long)len);
		return -ENOMEM;
	}
	for (size_t off = 0; off < len; off += chunk) {
		uint32_t n = (uint32_t)MIN((size_t)chunk, len - off);
		/* on a timeout buf is the request's: the disk may still write into it */
		int rc = blk_sync_or_free(d, BLK_READ, off / d->sector_size, n / d->sector_size,
					  buf + off, clock_ns() + 30000000000ull, buf);

		if (rc == -ETIMEDOUT) {
			kprintf("hp: %s: %s did not answer a read at byte %lu in 30 s (its buffer "
				"is freed if it ever does)\n",
				app_name, d->name, (unsigned long)off);
			return rc;
		}
		if (rc) {
			kprintf("hp: %s: reading %s at byte %lu failed (%d)\n", app_name, d->name,
				(unsigned long)off, rc);
			kfree(buf);
			return rc;
		}
		if (off == 0 && !tar_is_header(buf)) {
			kprintf("hp: %s: %s holds no tar image (no ustar header at its start)\n",
				app_name, d->name);
			kfree(buf);
			return -ENOEXEC;
		}
	}
	kprintf("hp: files: the tar image on %s (%lu KiB read)\n", d->name,
		(unsigned long)(len >> 10));
	hp_fs_set(buf, len);
	return (long)len;
}

/* Finds path: 1 with *e, 0 not there (or no image), <0 a corrupt image (printed once). */
int hp_fs_find(const char *path, struct tar_entry *e)
{
	static bool reported;
	char err[128];

	if (!image)
		return 0;
	int rc = tar_find(image, image_len, path, e, err, sizeof(err));

	if (rc < 0 && !reported) {
		reported = true;
		kprintf("hp: files: the tar image is corrupt: %s\n", err);
	}
	return rc;
}

const uint8_t *hp_fs_data(const struct tar_entry *e)
{
	return image + e->offset;
}

#define O_ACCMODE   3
#define O_CREAT	    0100
#define O_TRUNC	    01000
#define O_DIRECTORY 0200000
#define O_NONBLOCK  04000
#define O_CLOEXEC   02000000

int hp_fs_resolve(const char *base, const char *path, char *out, size_t size)
{
	size_t n = 0;

	if (!*path)
		return -ENOENT;
	out[0] = 0;
	if (path[0] != '/') {
		n = strlen(base);
		if (n >= size)
			return -ENAMETOOLONG;
		memcpy(out, base, n + 1);
	}
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *q = p;

		while (*q && *q != '/')
			q++;
		size_t len = (size_t)(q - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') { /* up one (the root's parent is itself) */
			while (n && out[n - 1] != '/')
				n--;
			n -= n ? 1 : 0;
			out[n] = 0;
		} else if (len != 1 || p[0] != '.') {
			if (n + (n ? 1 : 0) + len >= size || n + len > TAR_NAME_MAX)
				return -ENAMETOOLONG;
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
			out[n] = 0;
		}
		p = q;
	}
	return 0;
}

int hp_fs_lookup(const char *norm, struct tar_entry *e)
{
	static bool reported;
	size_t pos = 0, nl = strlen(norm);
	struct tar_entry t;
	bool implied = nl == 0; /* the root always is */
	char err[128];
	int rc = 0;

	memset(e, 0, sizeof(*e));
	while (image && (rc = tar_next(image, image_len, &pos, &t, err, sizeof(err))) == 1) {
		if (!strcmp(t.name, norm)) {
			*e = t;
			return t.type == '5' ? 2 : 1;
		}
		implied |= !strncmp(t.name, norm, nl) && t.name[nl] == '/';
	}
	if (rc < 0) {
		if (!reported) {
			reported = true;
			kprintf("hp: files: the tar image is corrupt: %s\n", err);
		}
		return rc;
	}
	if (!implied)
		return 0;
	strlcpy(e->name, norm, sizeof(e->name));
	e->type = '5';
	e->mode = 0755;
	return 2;
}

/* open(2) in the tar tree: the new fd, or -ENOENT / -EROFS / -EISDIR / -ENOTDIR / -EMFILE.
 * base: the directory relative paths start from (normalised). */
long hp_fs_open(struct app *a, const char *base, const char *path, uint64_t flags)
{
	struct tar_entry e;
	char norm[TAR_NAME_MAX + 1];
	int rc = hp_fs_resolve(base, path, norm, sizeof(norm));

	if (rc)
		return rc;
	if ((rc = hp_fs_lookup(norm, &e)) < 0)
		return -EIO;
	bool dir = rc == 2;

	if (dir && (flags & (O_ACCMODE | O_CREAT | O_TRUNC)))
		return -EISDIR;
	if ((flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC)))
		return rc ? -EROFS : (flags & O_CREAT ? -EROFS : -ENOENT);
	if (!rc)
		return -ENOENT;
	if ((flags & O_DIRECTORY) && !dir)
		return -ENOTDIR;
	if (e.type != '0' && e.type != '7' && !dir)
		return -ENOENT; /* links and devices are not followed */
	int fd = hp_fd_alloc(a, FD_FILE);

	if (fd < 0)
		return fd;
	struct app_fd *f = hp_fd(a, (uint64_t)fd);

	f->data = dir ? NULL : hp_fs_data(&e);
	f->size = dir ? 0 : e.size;
	f->pos = 0;
	f->dir = dir;
	f->mode = e.mode;
	if (dir)
		strlcpy(f->dpath, norm, sizeof(f->dpath));
	a->cloexec[fd] = (flags & O_CLOEXEC) != 0;
	f->nonblock = (flags & O_NONBLOCK) != 0;
	return fd;
}

/* the child of directory dir that entry name is under ("": none) and whether it is a
 * directory by the names below it */
static size_t child_of(const char *dir, const char *name, const char **child, bool *below)
{
	size_t dl = strlen(dir);

	if (dl && (strncmp(name, dir, dl) || name[dl] != '/'))
		return 0;
	const char *c = name + (dl ? dl + 1 : 0), *slash = c;

	while (*slash && *slash != '/')
		slash++;
	*child = c;
	*below = *slash == '/';
	return (size_t)(slash - c);
}

#define DT_DIR 4
#define DT_REG 8
#define DT_LNK 10

/* getdents64 of a directory: its children (".", "..", then each name once, in the image's
 * order), as many whole records as fit. f->pos: 0 ".", 1 "..", else 2 + where the next
 * entry's header is in the image. */
long hp_fs_getdents(struct app_fd *f, uint64_t buf, uint64_t count)
{
	uint64_t used = 0;
	char err[128];

	if (!f->dir)
		return -ENOTDIR;
	for (;;) {
		struct tar_entry t;
		const char *name = NULL;
		size_t len = 0, pos = f->pos >= 2 ? f->pos - 2 : 0, next;
		uint8_t type = DT_DIR;
		bool below;

		if (f->pos < 2) {
			name = f->pos ? ".." : ".";
			len = f->pos + 1;
			next = f->pos + 1;
		} else {
			int rc = image ? tar_next(image, image_len, &pos, &t, err, sizeof(err)) : 0;

			if (rc < 0)
				return used ? (long)used : -EIO;
			if (rc == 0)
				break; /* the end */
			next = pos + 2;
			len = child_of(f->dpath, t.name, &name, &below);
			type = below || t.type == '5' ? DT_DIR : t.type == '2' ? DT_LNK : DT_REG;
			/* once: not if an entry before this one gave the same child */
			size_t p = 0;
			struct tar_entry o;

			while (len && p < f->pos - 2 &&
			       tar_next(image, image_len, &p, &o, err, sizeof(err)) == 1) {
				const char *oc;
				bool ob;

				if (child_of(f->dpath, o.name, &oc, &ob) == len && !memcmp(oc, name, len))
					len = 0;
			}
		}
		if (len) {
			/* struct linux_dirent64: ino, off, reclen, type, name (NUL), to 8 bytes */
			uint16_t reclen = (uint16_t)ALIGN_UP(19 + len + 1, 8);
			uint8_t rec[19 + TAR_NAME_MAX + 1 + 8] = {0};
			uint64_t ino = 1469598103934665603ull;

			for (size_t i = 0; i < len; i++)
				ino = (ino ^ (uint8_t)name[i]) * 1099511628211ull;
			if (used + reclen > count)
				return used ? (long)used : -EINVAL;
			memcpy(rec, &ino, 8);
			memcpy(rec + 8, &(uint64_t){next}, 8);
			memcpy(rec + 16, &reclen, 2);
			rec[18] = type;
			memcpy(rec + 19, name, len);
			if (copy_to_app(buf + used, rec, reclen))
				return -EFAULT;
			used += reclen;
		}
		f->pos = next;
	}
	return (long)used;
}

long hp_fs_read(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at)
{
	if (f->dir)
		return -EISDIR;
	uint64_t pos = at >= 0 ? (uint64_t)at : f->pos;

	if (pos >= f->size)
		return 0;
	n = MIN(n, f->size - pos);
	if (copy_to_app(buf, f->data + pos, n))
		return -EFAULT;
	if (at < 0)
		f->pos += n;
	return (long)n;
}

long hp_fs_lseek(struct app_fd *f, int64_t off, uint64_t whence)
{
	int64_t base = whence == 0   ? 0
		       : whence == 1 ? (int64_t)f->pos
		       : whence == 2 ? (int64_t)f->size
				     : -1;

	if (base < 0 || (off < 0 && -off > base))
		return -EINVAL;
	f->pos = (uint64_t)(base + off);
	return (long)f->pos;
}

/* struct stat (x86-64) of a tar entry */
void hp_fs_stat(uint8_t st[144], uint64_t size, uint32_t mode, bool dir)
{
	uint32_t m = (dir ? 0040000 : 0100000) | (mode & 07777);
	uint64_t nlink = 1, blksize = 4096, blocks = (size + 511) / 512,
		 ino = (uint64_t)size * 31 + mode;

	memset(st, 0, 144);
	memcpy(st + 8, &ino, 8);
	memcpy(st + 16, &nlink, 8);
	memcpy(st + 24, &m, 4);
	memcpy(st + 48, &size, 8);
	memcpy(st + 56, &blksize, 8);
	memcpy(st + 64, &blocks, 8);
}
