/* The app's files: the tree in RAM (hp/vfs.c) seeded from a tar image (lib/tar.c), either
 * the boot module itself or the first block device, read into memory once at start; and
 * the descriptors of its files and directories (open, read, write, lseek, getdents64). */
#include "common/blkdev.h"
#include "common/console.h"
#include "hp/hp.h"
#include "hp/vfs.h"
#include "lib/format.h"
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
	vfs_seed(img, len);
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

#define O_ACCMODE   3
#define O_WRONLY    1
#define O_CREAT	    0100
#define O_EXCL	    0200
#define O_TRUNC	    01000
#define O_APPEND    02000
#define O_NONBLOCK  04000
#define O_DIRECTORY 0200000
#define O_NOFOLLOW  0400000
#define O_CLOEXEC   02000000

/* open(2) in the tree: the new fd, or -errno. base: the directory relative paths start
 * from (as the working directory is kept). mode: O_CREAT's, the umask already applied. */
long hp_fs_open(struct app *a, const char *base, const char *path, uint64_t flags,
		uint32_t mode)
{
	uint64_t acc = flags & O_ACCMODE;
	uint64_t vf = (acc ? VFS_WRITE : 0) | (flags & O_CREAT ? VFS_CREAT : 0) |
		      (flags & O_EXCL ? VFS_EXCL : 0) | (flags & O_TRUNC ? VFS_TRUNC : 0) |
		      (flags & O_DIRECTORY ? VFS_DIRECTORY : 0) |
		      (flags & O_NOFOLLOW ? VFS_NOFOLLOW : 0);
	struct vnode *n;

	if (acc == O_ACCMODE)
		return -EINVAL;
	long rc = vfs_open(base, path, vf, mode, a->uid[1], a->gid[1], &n);

	if (rc)
		return rc;
	int fd = hp_fd_alloc(a, FD_FILE);

	if (fd < 0) {
		vfs_put(n);
		return fd;
	}
	struct app_fd *f = hp_fd(a, (uint64_t)fd);

	f->node = n;
	f->pos = 0;
	f->dir = vfs_is_dir(n);
	f->wr = acc != 0;
	f->rd = acc != O_WRONLY;
	f->append = (flags & O_APPEND) != 0;
	f->mode = (uint32_t)flags & 07777777; /* (F_GETFL's status flags) */
	if (f->dir && vfs_path(n, f->dpath, sizeof(f->dpath)))
		f->dpath[0] = 0;
	a->cloexec[fd] = (flags & O_CLOEXEC) != 0;
	f->nonblock = (flags & O_NONBLOCK) != 0;
	return fd;
}

long hp_fs_getdents(struct app_fd *f, uint64_t buf, uint64_t count)
{
	if (!f->dir)
		return -ENOTDIR;
	return vfs_getdents(f->node, &f->pos, buf, count);
}

long hp_fs_read(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at)
{
	if (f->dir)
		return -EISDIR;
	if (!f->rd)
		return -EBADF;
	long rc = vfs_read(f->node, buf, n, at >= 0 ? (uint64_t)at : f->pos);

	if (rc > 0 && at < 0)
		f->pos += (uint64_t)rc;
	return rc;
}

long hp_fs_write(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at)
{
	if (f->dir)
		return -EISDIR;
	if (!f->wr)
		return -EBADF;
	uint64_t pos = at >= 0 ? (uint64_t)at : f->pos;
	/* (pwrite on an O_APPEND file appends, as Linux's does) */
	long rc = vfs_write(f->node, buf, n, &pos, f->append);

	if (rc > 0 && at < 0)
		f->pos = pos;
	return rc;
}

long hp_fs_lseek(struct app_fd *f, int64_t off, uint64_t whence)
{
	int64_t base = whence == 0   ? 0
		       : whence == 1 ? (int64_t)f->pos
		       : whence == 2 ? (f->kind == FD_FILE ? (int64_t)vfs_size(f->node)
							   : (int64_t)f->size)
				     : -1;

	if (f->kind == FD_PROC && f->dir)
		return off == 0 && whence == 0 ? (long)(f->pos = 0) : -EINVAL;

	if (f->dir && (whence != 0 || off != 0))
		return whence > 2 ? -EINVAL : 0; /* a directory: only back to its start */
	if (base < 0 || (off < 0 && -off > base))
		return -EINVAL;
	f->pos = (uint64_t)(base + off);
	return (long)f->pos;
}

/* --- the calls by path (hp_fs_call) ------------------------------------------------------- */

#define AT_FDCWD	    (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR	    0x200
#define AT_SYMLINK_FOLLOW   0x400
#define AT_EACCESS	    0x200
#define AT_EMPTY_PATH	    0x1000
#define RENAME_NOREPLACE    1
#define UTIME_NOW	    ((1l << 30) - 1)
#define UTIME_OMIT	    ((1l << 30) - 2)
#define TMPFS_MAGIC	    0x01021994

/* a path from the app and where it starts (dirfd's directory, or the working directory) */
struct at {
	char path[VFS_PATH_MAX];
	const char *base;
};

static long at_path(struct app *a, int64_t dirfd, uint64_t up, struct at *p)
{
	long n = strcpy_from_app(p->path, up, sizeof(p->path));

	if (n < 0)
		return n;
	return hp_at_base(a, dirfd, p->path, &p->base);
}

/* the node a descriptor names (held), for the f* calls: -EBADF, or -EINVAL when it is not
 * a file of the tree */
static long fd_node(struct app *a, uint64_t fd, struct vnode **out)
{
	struct app_fd *f = hp_fd(a, fd);

	if (!f)
		return -EBADF;
	if (f->kind != FD_FILE)
		return -EINVAL;
	vfs_hold(f->node);
	*out = f->node;
	return 0;
}

/* the node for an *at call: the path's, or with AT_EMPTY_PATH and "" dirfd's */
static long at_node(struct app *a, int64_t dirfd, uint64_t up, uint64_t flags, bool follow,
		    struct vnode **out)
{
	struct at p;
	long rc = at_path(a, dirfd, up, &p);

	if (rc == -ENOENT || (!rc && !p.path[0])) {
		if (!(flags & AT_EMPTY_PATH))
			return -ENOENT;
		return dirfd == AT_FDCWD ? vfs_get(a->cwd, ".", true, out)
					 : fd_node(a, (uint64_t)dirfd, out);
	}
	return rc ? rc : vfs_get(p.base, p.path, follow, out);
}

/* ns since 1970 from a struct timespec's pair (UTIME_NOW, UTIME_OMIT) */
static uint64_t ts_ns(const int64_t ts[2])
{
	if (ts[1] == UTIME_OMIT)
		return VFS_TIME_OMIT;
	if (ts[1] == UTIME_NOW)
		return wallclock_ns();
	return (uint64_t)ts[0] * 1000000000ull + (uint64_t)ts[1];
}

static long do_utimens(struct app *a, int64_t dirfd, uint64_t up, uint64_t times,
		       uint64_t flags, bool timeval)
{
	struct vnode *n;
	int64_t t[4] = {0, UTIME_NOW, 0, UTIME_NOW};

	if (times && copy_from_app(t, times, sizeof(t)))
		return -EFAULT;
	if (timeval && times) { /* struct timeval: microseconds */
		t[1] *= 1000;
		t[3] *= 1000;
		if (t[1] < 0 || t[1] >= 1000000000 || t[3] < 0 || t[3] >= 1000000000)
			return -EINVAL;
	}
	long rc = up ? at_node(a, dirfd, up, flags, !(flags & AT_SYMLINK_NOFOLLOW), &n)
		     : fd_node(a, (uint64_t)dirfd, &n);

	if (rc)
		return rc;
	vfs_set_times(n, ts_ns(t), ts_ns(t + 2));
	vfs_put(n);
	return 0;
}

static long do_statfs(uint64_t buf)
{
	uint64_t total = mm_usable_kib() / 4, free = mm_free_kib() / 4;
	int64_t s[15] = {TMPFS_MAGIC, 4096, (int64_t)total, (int64_t)free, (int64_t)free,
			 1 << 20, 1 << 20, 0, NAME_MAX, 4096, 0, 0, 0, 0, 0};

	return copy_to_app(buf, s, sizeof(s)) ? -EFAULT : 0;
}

long hp_fs_stat_at(struct app *a, int64_t dirfd, uint64_t up, bool follow, uint8_t st[144])
{
	struct at p;
	long rc = at_path(a, dirfd, up, &p);

	if (rc)
		return rc;
	rc = hp_proc_stat(a, p.base, p.path, follow, st);
	return rc != -ENOSYS ? rc : vfs_stat_path(p.base, p.path, follow, st);
}

long hp_fs_call(struct app *a, struct syscall_frame *f)
{
	uint64_t a1 = f->rdi, a2 = f->rsi, a3 = f->rdx, a4 = f->r10, a5 = f->r8;
	struct at p, q;
	struct vnode *n;
	long rc;

	switch (f->nr) {
	case 83:  /* mkdir */
	case 258: /* mkdirat */ {
		bool at = f->nr == 258;

		if ((rc = at_path(a, at ? (int32_t)a1 : AT_FDCWD, at ? a2 : a1, &p)))
			return rc;
		return vfs_mkdir(p.base, p.path, (uint32_t)(at ? a3 : a2) & ~a->umask & 07777,
				 a->uid[1], a->gid[1]);
	}
	case 84: /* rmdir */
		return (rc = at_path(a, AT_FDCWD, a1, &p)) ? rc : vfs_unlink(p.base, p.path, true);
	case 87: /* unlink */
		return (rc = at_path(a, AT_FDCWD, a1, &p)) ? rc : vfs_unlink(p.base, p.path, false);
	case 263: /* unlinkat */
		if (a3 & ~(uint64_t)AT_REMOVEDIR)
			return -EINVAL;
		return (rc = at_path(a, (int32_t)a1, a2, &p))
			       ? rc
			       : vfs_unlink(p.base, p.path, (a3 & AT_REMOVEDIR) != 0);
	case 82:  /* rename */
	case 264: /* renameat */
	case 316: /* renameat2 */ {
		bool at = f->nr != 82;
		uint64_t flags = f->nr == 316 ? a5 : 0;

		if (flags & ~(uint64_t)RENAME_NOREPLACE)
			return -EINVAL; /* (RENAME_EXCHANGE, RENAME_WHITEOUT: not here) */
		if ((rc = at_path(a, at ? (int32_t)a1 : AT_FDCWD, at ? a2 : a1, &p)) ||
		    (rc = at_path(a, at ? (int32_t)a3 : AT_FDCWD, at ? a4 : a2, &q)))
			return rc;
		return vfs_rename(p.base, p.path, q.base, q.path, flags & RENAME_NOREPLACE);
	}
	case 86:  /* link */
	case 265: /* linkat */ {
		bool at = f->nr == 265;

		if (at && (a5 & ~(uint64_t)AT_SYMLINK_FOLLOW))
			return -EINVAL;
		if ((rc = at_path(a, at ? (int32_t)a1 : AT_FDCWD, at ? a2 : a1, &p)) ||
		    (rc = at_path(a, at ? (int32_t)a3 : AT_FDCWD, at ? a4 : a2, &q)))
			return rc;
		return vfs_link(p.base, p.path, q.base, q.path, at && (a5 & AT_SYMLINK_FOLLOW));
	}
	case 88:  /* symlink */
	case 266: /* symlinkat */ {
		char target[VFS_PATH_MAX];
		bool at = f->nr == 266;

		if ((rc = strcpy_from_app(target, a1, sizeof(target))) < 0)
			return rc;
		if ((rc = at_path(a, at ? (int32_t)a2 : AT_FDCWD, at ? a3 : a2, &p)))
			return rc;
		return vfs_symlink(target, p.base, p.path);
	}
	case 89:  /* readlink */
	case 267: /* readlinkat */ {
		bool at = f->nr == 267;
		uint64_t buf = at ? a3 : a2, size = at ? a4 : a3;
		char out[VFS_PATH_MAX];

		if ((int64_t)size <= 0)
			return -EINVAL;
		if ((rc = at_path(a, at ? (int32_t)a1 : AT_FDCWD, at ? a2 : a1, &p)))
			return rc;
		if (!strcmp(p.path, "/proc/self/exe")) {
			size_t l = MIN(strlen(a->exe), (size_t)size);

			return copy_to_app(buf, a->exe, l) ? -EFAULT : (long)l;
		}
		if (!strncmp(p.path, "/dev/", 5))
			return -EINVAL;
		rc = hp_proc_readlink(a, p.base, p.path, out, MIN(size, sizeof(out)));
		if (rc == -ENOSYS)
			rc = vfs_readlink(p.base, p.path, out, MIN(size, sizeof(out)));
		return rc < 0 ? rc : copy_to_app(buf, out, (size_t)rc) ? -EFAULT : rc;
	}
	case 76: /* truncate */
		if ((rc = at_path(a, AT_FDCWD, a1, &p)) || (rc = vfs_get(p.base, p.path, true, &n)))
			return rc;
		rc = (int64_t)a2 < 0 ? -EINVAL : vfs_truncate(n, a2);
		vfs_put(n);
		return rc;
	case 77: { /* ftruncate */
		struct app_fd *fd = hp_fd(a, a1);

		if (!fd)
			return -EBADF;
		if (fd->kind != FD_FILE || !fd->wr)
			return -EINVAL;
		return (int64_t)a2 < 0 ? -EINVAL : vfs_truncate(fd->node, a2);
	}
	case 90:  /* chmod */
	case 268: /* fchmodat */
		rc = f->nr == 90 ? at_node(a, AT_FDCWD, a1, 0, true, &n)
				 : at_node(a, (int32_t)a1, a2, 0, true, &n);
		if (rc)
			return rc;
		rc = vfs_chmod(n, (uint32_t)(f->nr == 90 ? a2 : a3));
		vfs_put(n);
		return rc;
	case 91: /* fchmod */
		if ((rc = fd_node(a, a1, &n)))
			return rc == -EINVAL ? 0 : rc; /* (a pipe or socket: nothing kept) */
		rc = vfs_chmod(n, (uint32_t)a2);
		vfs_put(n);
		return rc;
	case 92:  /* chown */
	case 94:  /* lchown */
	case 260: /* fchownat */
		rc = f->nr == 260 ? at_node(a, (int32_t)a1, a2, a5, !(a5 & AT_SYMLINK_NOFOLLOW), &n)
				  : at_node(a, AT_FDCWD, a1, 0, f->nr == 92, &n);
		if (rc)
			return rc;
		rc = vfs_chown(n, (uint32_t)(f->nr == 260 ? a3 : a2),
			       (uint32_t)(f->nr == 260 ? a4 : a3));
		vfs_put(n);
		return rc;
	case 93: /* fchown */
		if ((rc = fd_node(a, a1, &n)))
			return rc == -EINVAL ? 0 : rc;
		rc = vfs_chown(n, (uint32_t)a2, (uint32_t)a3);
		vfs_put(n);
		return rc;
	case 280: /* utimensat */
		return do_utimens(a, (int32_t)a1, a2, a3, a4, false);
	case 235: /* utimes */
		return do_utimens(a, AT_FDCWD, a1, a2, 0, true);
	case 261: /* futimesat */
		return do_utimens(a, (int32_t)a1, a2, a3, 0, true);
	case 132: { /* utime: struct utimbuf, seconds */
		int64_t t[2], ts[4] = {0, UTIME_NOW, 0, UTIME_NOW};

		if (a2) {
			if (copy_from_app(t, a2, sizeof(t)))
				return -EFAULT;
			ts[0] = t[0], ts[1] = 0, ts[2] = t[1], ts[3] = 0;
		}
		if ((rc = at_node(a, AT_FDCWD, a1, 0, true, &n)))
			return rc;
		vfs_set_times(n, ts_ns(ts), ts_ns(ts + 2));
		vfs_put(n);
		return 0;
	}
	case 137: /* statfs */
		if ((rc = at_node(a, AT_FDCWD, a1, 0, true, &n)))
			return rc;
		vfs_put(n);
		return do_statfs(a2);
	case 138: /* fstatfs */
		return hp_fd(a, a1) ? do_statfs(a2) : -EBADF;
	case 162: /* sync */
		return 0;
	case 306: /* syncfs */
		return hp_fd(a, a1) ? 0 : -EBADF;
	case 85: /* creat */
		if ((rc = at_path(a, AT_FDCWD, a1, &p)))
			return rc;
		return hp_fs_open(a, p.base, p.path, 01 | O_CREAT | O_TRUNC,
				  (uint32_t)a2 & ~a->umask & 07777);
	case 21:  /* access */
	case 269: /* faccessat */
	case 439: /* faccessat2 */ {
		bool at = f->nr != 21;
		uint64_t how = at ? a3 : a2, flags = f->nr == 439 ? a4 : 0;
		uint8_t st[144];
		uint32_t mode;

		if (how & ~7ull)
			return -EINVAL;
		if ((rc = at_node(a, at ? (int32_t)a1 : AT_FDCWD, at ? a2 : a1, flags,
				  !(flags & AT_SYMLINK_NOFOLLOW), &n))) {
			/* the devices and /proc are not in the tree */
			if (rc == -ENOENT && !at_path(a, AT_FDCWD, at ? a2 : a1, &p) &&
			    (!strncmp(p.path, "/dev/", 5) ||
			     !hp_proc_stat(a, p.base, p.path, true, st)))
				return 0;
			return rc;
		}
		vfs_stat(n, st);
		vfs_put(n);
		memcpy(&mode, st + 24, 4);
		/* root may read and write anything; X_OK needs an x bit somewhere (not for a
		 * directory), as Linux's rules for uid 0 */
		if ((how & 1) && (mode & 0170000) != 0040000 && !(mode & 0111))
			return -EACCES;
		return 0;
	}
	case 79: { /* getcwd */
		char cwd[258];
		size_t len = (size_t)ksnprintf(cwd, sizeof(cwd), "/%s", a->cwd) + 1;

		if (a2 < len)
			return -ERANGE;
		return copy_to_app(a1, cwd, len) ? -EFAULT : (long)len;
	}
	case 80: /* chdir */ {
		char norm[256];
		uint8_t st[144];
		uint32_t mode;

		if ((rc = at_path(a, AT_FDCWD, a1, &p)))
			return rc;
		/* into /proc (top does): the working directory is then a path there */
		if ((rc = hp_proc_stat(a, p.base, p.path, true, st)) != -ENOSYS) {
			memcpy(&mode, st + 24, 4);
			if (!rc && (mode & 0170000) != 0040000)
				rc = -ENOTDIR;
			if (!rc)
				rc = hp_proc_path(a, p.base, p.path, a->cwd, sizeof(a->cwd));
			return rc;
		}
		if ((rc = vfs_get(p.base, p.path, true, &n)))
			return rc;
		rc = !vfs_is_dir(n) ? -ENOTDIR : vfs_path(n, norm, sizeof(norm));
		vfs_put(n);
		if (!rc)
			strlcpy(a->cwd, norm, sizeof(a->cwd));
		return rc;
	}
	}
	return -ENOSYS;
}
