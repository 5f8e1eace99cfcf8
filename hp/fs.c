/* The app's files: a read-only tree from a tar image (lib/tar.c), either the boot module
 * itself or the first block device, read into memory once at start. Paths are absolute
 * or relative to "/" (there is no chdir). Files are read with read, pread64, readv and
 * lseek; fstat, stat and access answer for them; writing is -EROFS. */
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
 * reason printed. */
long hp_fs_load_disk(const char *app_name)
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

/* open(2) of a tar file: the new fd, or -ENOENT / -EROFS / -EISDIR / -EMFILE */
long hp_fs_open(struct app *a, const char *path, uint64_t flags)
{
	struct tar_entry e;
	int rc = hp_fs_find(path, &e);

	if (rc < 0)
		return -EIO;
	if ((flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC)))
		return rc ? -EROFS : (flags & O_CREAT ? -EROFS : -ENOENT);
	if (!rc)
		return -ENOENT;
	bool dir = e.type == '5';

	if ((flags & O_DIRECTORY) && !dir)
		return -ENOTDIR;
	if (e.type != '0' && e.type != '7' && !dir)
		return -ENOENT; /* links and devices are not followed */
	int fd = hp_fd_alloc(a, FD_FILE);

	if (fd < 0)
		return fd;
	struct app_fd *f = hp_fd(a, (uint64_t)fd);

	f->data = hp_fs_data(&e);
	f->size = e.size;
	f->pos = 0;
	f->dir = dir;
	f->mode = e.mode;
	a->cloexec[fd] = (flags & O_CLOEXEC) != 0;
	f->nonblock = (flags & O_NONBLOCK) != 0;
	return fd;
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
