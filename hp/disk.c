/* The app's disks: the VM's block devices (common/blkdev.h; virtio-blk or blkfront) as
 * Linux block devices. /dev/vda, /dev/vdb, ... name the first, second, ... disk; /dev/xvda,
 * /dev/xvdb, ... the same ones (a program written for a Xen guest calls them so), on every
 * hypervisor. A disk's byte size is where reads end and writes get ENOSPC; lseek,
 * pread/pwrite and the iovec calls work as on a file.
 *
 * Reads and writes of any length at any offset: whole sectors go to the device through a
 * bounce buffer of the kernel's (drivers take page-aligned memory they can hand to the
 * device), in pieces of up to 64 KiB; a write that starts or ends inside a sector reads
 * that sector first. One disk's requests go one at a time (a mutex per disk), so two
 * writes into one sector cannot lose each other's bytes. There is no page cache: a write
 * has reached the device (its cache, which fsync and fdatasync flush) when it returns.
 * A device that does not answer in 30 s fails the call with EIO. */
#include "common/blkdev.h"
#include "hp/hp.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define DISK_MAX     8
#define DISK_PIECE   65536u
#define DISK_IO_NS   30000000000ull /* a request's deadline */
#define DISK_WAIT_NS 10000000000ull /* for disks still connecting, in all */
#define O_ACCMODE_   3
#define O_RDONLY_    0
#define O_WRONLY_    1

/* Linux's block-device ioctls (linux/fs.h) */
#define BLKROGET     0x125e
#define BLKGETSIZE   0x1260
#define BLKFLSBUF    0x1261
#define BLKSSZGET    0x1268
#define BLKPBSZGET   0x127b
#define BLKGETSIZE64 0x80081272

static struct mutex disk_lock[DISK_MAX] = {
	MUTEX_INIT(disk_lock[0]), MUTEX_INIT(disk_lock[1]), MUTEX_INIT(disk_lock[2]),
	MUTEX_INIT(disk_lock[3]), MUTEX_INIT(disk_lock[4]), MUTEX_INIT(disk_lock[5]),
	MUTEX_INIT(disk_lock[6]), MUTEX_INIT(disk_lock[7]),
};

int hp_disk_index(const char *path)
{
	const char *p = !strncmp(path, "/dev/vd", 7)	? path + 7
			: !strncmp(path, "/dev/xvd", 8) ? path + 8
							: NULL;

	if (!p || p[0] < 'a' || p[0] >= 'a' + DISK_MAX || p[1])
		return -1;
	return p[0] - 'a';
}

/* the disk, waiting for one a driver has found but not yet connected (blkfront connects
 * after its probe): up to DISK_WAIT_NS from the first such wait, then never again (a
 * backend that never connects costs one wait, not one per open) */
static struct blkdev *disk_get(int i)
{
	static uint64_t until;

	while ((unsigned)i >= blkdev_count() && blkdev_pending()) {
		uint64_t now = clock_ns(), end = __atomic_load_n(&until, __ATOMIC_RELAXED);

		if (!end) { /* (two threads at once: one of them sets it) */
			end = now + DISK_WAIT_NS;
			if (!__atomic_compare_exchange_n(&until, &(uint64_t){0}, end, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				end = __atomic_load_n(&until, __ATOMIC_RELAXED);
		}
		if (now >= end)
			break;
		thread_sleep(20000000);
	}
	return blkdev_get((unsigned)i);
}

long hp_disk_open(struct app *a, int i, uint64_t flags)
{
	struct blkdev *d = disk_get(i);

	if (!d)
		return -ENOENT; /* as on Linux, where devtmpfs has no node for it */
	bool wr = (flags & O_ACCMODE_) != O_RDONLY_;

	if (wr && d->read_only)
		return -EROFS;
	int fd = hp_fd_alloc(a, FD_DISK);

	if (fd >= 0) {
		struct app_fd *f = hp_file(a, a->fd[fd]);

		f->disk = i;
		f->wr = wr;
		f->mode = (uint32_t)(flags & O_ACCMODE_); /* (F_GETFL's) */
		f->size = d->sectors * d->sector_size;
		f->pos = 0;
	}
	return fd;
}

/* n bytes at pos between the app's buf and the disk; bytes moved, or -errno */
long hp_disk_rw(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at, bool write)
{
	struct blkdev *d = blkdev_get((unsigned)f->disk);
	uint64_t pos = at >= 0 ? (uint64_t)at : f->pos;

	if (!d)
		return -ENXIO;
	if (write ? !f->wr : f->mode == O_WRONLY_)
		return -EBADF;
	if (!write && !n)
		return 0;
	if (pos >= f->size)
		return write && n ? -ENOSPC : 0;
	n = MIN(n, f->size - pos);
	uint32_t ss = d->sector_size;
	uint32_t piece = d->max_bytes ? MIN(d->max_bytes, DISK_PIECE) : DISK_PIECE;

	piece -= piece % 4096;
	if (!ss || ss > 4096 || 4096 % ss || !piece)
		return -EIO;
	/* the piece, and a page to read a last sector into (a driver takes whole pages) */
	uint8_t *bounce = kmalloc_aligned(piece + 4096, 4096), *last = bounce + piece;

	if (!bounce)
		return -ENOMEM;
	mutex_lock(&disk_lock[f->disk], NO_DEADLINE);
	uint64_t done = 0;
	long err = 0;

	while (done < n && !err) {
		uint64_t p = pos + done, lo = p - p % ss;
		uint64_t len = MIN(n - done, piece - (p - lo));
		uint64_t hi = (p + len + ss - 1) / ss * ss; /* <= lo + piece: piece is in sectors */
		uint64_t deadline = clock_ns() + DISK_IO_NS;
		int rc = 0;

		if (!write) {
			rc = blk_sync_or_free(d, BLK_READ, lo / ss, (uint32_t)((hi - lo) / ss), bounce,
					      deadline, bounce);
			if (!rc && copy_to_app(buf + done, bounce + (p - lo), len))
				err = -EFAULT;
		} else {
			/* the sectors the write covers only in part: read first */
			if (p != lo)
				rc = blk_sync_or_free(d, BLK_READ, lo / ss, 1, bounce, deadline, bounce);
			if (!rc && (p + len) % ss && (hi - ss != lo || p == lo)) {
				rc = blk_sync_or_free(d, BLK_READ, (hi - ss) / ss, 1, last, deadline,
						      bounce);
				if (!rc)
					memcpy(bounce + (hi - ss - lo), last, ss);
			}
			if (!rc && copy_from_app(bounce + (p - lo), buf + done, len))
				err = -EFAULT;
			if (!rc && !err)
				rc = blk_sync_or_free(d, BLK_WRITE, lo / ss, (uint32_t)((hi - lo) / ss),
						      bounce, deadline, bounce);
		}
		if (rc == -ETIMEDOUT) {
			bounce = NULL; /* the request's now: freed if it ever completes */
			err = -EIO;
		} else if (rc == -EROFS) {
			err = -EROFS;
		} else if (rc) {
			err = -EIO;
		} else if (!err) {
			done += len;
		}
	}
	mutex_unlock(&disk_lock[f->disk]);
	kfree(bounce);
	if (at < 0)
		f->pos += done;
	return done ? (long)done : err;
}

long hp_disk_fsync(struct app_fd *f)
{
	struct blkdev *d = blkdev_get((unsigned)f->disk);

	if (!d)
		return -ENXIO;
	if (!d->flush || !f->wr)
		return 0; /* no volatile cache to flush (or nothing written through this one) */
	mutex_lock(&disk_lock[f->disk], NO_DEADLINE);
	int rc = blk_sync(d, BLK_FLUSH, 0, 0, NULL, clock_ns() + DISK_IO_NS);

	mutex_unlock(&disk_lock[f->disk]);
	return rc ? -EIO : 0;
}

long hp_disk_ioctl(struct app_fd *f, uint64_t req, uint64_t arg)
{
	struct blkdev *d = blkdev_get((unsigned)f->disk);

	if (!d)
		return -ENXIO;
	switch (req) {
	case BLKGETSIZE64: {
		uint64_t v = f->size;

		return copy_to_app(arg, &v, sizeof(v));
	}
	case BLKGETSIZE: {
		uint64_t v = f->size / 512;

		return copy_to_app(arg, &v, sizeof(v));
	}
	case BLKSSZGET:
	case BLKPBSZGET: {
		uint32_t v = d->sector_size;

		return copy_to_app(arg, &v, sizeof(v));
	}
	case BLKROGET: {
		int v = d->read_only;

		return copy_to_app(arg, &v, sizeof(v));
	}
	case BLKFLSBUF:
		return 0; /* no buffers of ours to drop */
	default:
		return -ENOTTY;
	}
}

/* struct stat (x86-64) of /dev/vdX: a block device, 0660, Linux's virtio-blk numbers
 * (major 254, 16 minors a disk); its st_size 0 as on Linux (BLKGETSIZE64 tells the size).
 * -ENOENT: no such disk. */
long hp_disk_stat(uint8_t s[144], int i)
{
	if (!disk_get(i))
		return -ENOENT;
	uint32_t mode = 0060000 | 0660;
	uint64_t nlink = 1, blksize = 4096, rdev = 254u << 8 | (uint64_t)i * 16;

	memset(s, 0, 144);
	memcpy(s + 16, &nlink, 8);
	memcpy(s + 24, &mode, 4);
	memcpy(s + 40, &rdev, 8);
	memcpy(s + 56, &blksize, 8);
	return 0;
}
