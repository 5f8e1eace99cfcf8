/* The Linux x86-64 system calls an HP-mode app makes, by number (Linux's
 * arch/x86/entry/syscalls/syscall_64.tbl numbering). Arguments come in %rdi, %rsi, %rdx,
 * %r10, %r8, %r9; results and -errno in %rax. Every pointer from the app goes through
 * copy_from_app / copy_to_app. An unknown number returns -ENOSYS and is logged once. */
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/paging.h"
#include "common/console.h"
#include "common/hal.h"
#include "common/random.h"
#include "hp/hp.h"
#include "hp/vfs.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "lib/tar.h"
#include "mm/mm.h"
#include "mm/vm.h"
#include "net/socket.h"
#include "sched/sched.h"

#define PAGE 4096ull

/* the calling app thread (app.c owns them) */
static struct app_thread *cur(void)
{
	return *thread_app(thread_self());
}

static bool interrupted(void *arg)
{
	return hp_interrupted(arg);
}

/* sleeps until the deadline, or until the app is ending or the thread has a signal to
 * take: 0, or -EINTR */
static long app_sleep(struct app *a, uint64_t deadline)
{
	waitq_wait(&a->sleepers, interrupted, a, deadline);
	return hp_interrupted(a) ? -EINTR : 0;
}

/* --- app memory access ------------------------------------------------------------- */

bool app_range(uint64_t a, size_t n)
{
	return a < USER_TOP && n <= USER_TOP - a;
}

/* rep movsq and movsb (lib/string.c's memcpy) under exception-table entries: a fault
 * ends the copy with %rax = vector */
static int guarded_copy(void *dst, const void *src, size_t n)
{
	uint64_t vec = 0;
	size_t q = n >> 3;

	user_access_begin();
	__asm__ __volatile__("1: rep movsq\n"
			     "mov %4, %%rcx\n"
			     "2: rep movsb\n"
			     "3:\n" EXTABLE(1b, 3b) EXTABLE(2b, 3b)
			     : "+a"(vec), "+D"(dst), "+S"(src), "+c"(q)
			     : "r"(n & 7)
			     : "memory");
	user_access_end();
	return vec ? -EFAULT : 0;
}

/* "1: mov (src), v; 2: mov v, (dst)" at one width (insn, and the register's operand
 * modifier: w, k or none), under the copy's exception-table entries */
#define GUARDED_MOVE(insn, mod)                                                      \
	__asm__ __volatile__("1: " insn " (%[s]), %" mod "[v]\n"                     \
			     "2: " insn " %" mod "[v], (%[d])\n"                     \
			     "3:\n" EXTABLE(1b, 3b) EXTABLE(2b, 3b)                   \
			     : "+a"(vec), [v] "=&r"(v)                               \
			     : [s] "r"(src), [d] "r"(dst)                            \
			     : "memory")

/* One naturally aligned value of 2, 4 or 8 bytes in one access each way, as Linux's
 * get_user and put_user: a futex word is read and written whole. The kernel clears a
 * thread's CLONE_CHILD_CLEARTID word at its end while the app's other threads look at it;
 * written a byte at a time (rep movsb), musl's thread-list lock held by thread 0x101 went
 * through 0x100 on its way to 0, thread 0x100 took that for its own lock, counted a
 * recursive take that nothing undid, and the next pthread_create left the lock held for
 * ever (nm_attack_race hung about once in 200 boots). */
static int guarded_value(void *dst, const void *src, size_t n)
{
	uint64_t vec = 0, v;

	user_access_begin();
	if (n == 2)
		GUARDED_MOVE("movw", "w");
	else if (n == 4)
		GUARDED_MOVE("movl", "k");
	else
		GUARDED_MOVE("movq", "");
	user_access_end();
	return vec ? -EFAULT : 0;
}

static int app_copy(void *dst, const void *src, size_t n)
{
	if ((n == 2 || n == 4 || n == 8) && !(((uintptr_t)dst | (uintptr_t)src) & (n - 1)))
		return guarded_value(dst, src, n);
	return guarded_copy(dst, src, n);
}

int copy_from_app(void *dst, uint64_t src, size_t n)
{
	return app_range(src, n) ? app_copy(dst, (const void *)src, n) : -EFAULT;
}

int copy_to_app(uint64_t dst, const void *src, size_t n)
{
	return app_range(dst, n) ? app_copy((void *)dst, src, n) : -EFAULT;
}

long strcpy_from_app(char *dst, uint64_t src, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (copy_from_app(dst + i, src + i, 1))
			return -EFAULT;
		if (!dst[i])
			return (long)i;
	}
	dst[size - 1] = 0;
	return -ENAMETOOLONG;
}

/* --- files: the console and /dev/null -------------------------------------------- */

#define F_DUPFD		0
#define F_GETFD		1
#define F_SETFD		2
#define F_GETFL		3
#define F_SETFL		4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC	1
#define O_WRONLY	1
#define O_RDWR		2
#define O_NONBLOCK	04000
#define O_CLOEXEC	02000000
#define AT_FDCWD	(-100)
#define CLONE_VFORK_	0x4000
#define CLONE_VM_	0x100
#define AT_EMPTY_PATH	0x1000

/* a free open file description, taken (under the lock): its index, -1 when every one is
 * taken, -2 when a new chunk cannot be had */
static int file_take(struct app *a, enum fd_kind k)
{
	for (int c = 0; c < APP_FDS_MAX / FILE_CHUNK; c++) {
		struct app_fd *chunk = a->top->files[c];

		if (!chunk) {
			if (!(chunk = kcalloc(FILE_CHUNK, sizeof(*chunk))))
				return -2;
			__atomic_store_n(&a->top->files[c], chunk, __ATOMIC_RELEASE);
		}
		for (int i = 0; i < FILE_CHUNK; i++) {
			if (chunk[i].kind == FD_FREE) {
				unsigned opens = chunk[i].opens + 1;

				chunk[i] = (struct app_fd){.kind = k, .refs = 1, .opens = opens,
							   .sock = -1};
				return c * FILE_CHUNK + i;
			}
		}
	}
	return -1;
}

int hp_fds_init(struct app *a)
{
	memset(a->files, 0, sizeof(a->files));
	memset(a->cloexec, 0, sizeof(a->cloexec));
	for (int i = 0; i < APP_FDS_MAX; i++)
		a->fd[i] = -1;
	a->nofile[0] = APP_FDS_SOFT;
	a->nofile[1] = APP_FDS_HARD;
	mutex_init(&a->io_lock);
	mutex_init(&a->fd_lock);
	a->io_waiters = NULL;
	/* 0, 1 and 2: one description of the console, as a terminal's are */
	int c = file_take(a, FD_CONSOLE);

	if (c < 0)
		return -ENOMEM;
	hp_file(a, c)->refs = 3;
	a->fd[0] = a->fd[1] = a->fd[2] = (int16_t)c;
	return 0;
}

/* the lowest free descriptor at or above min (under the lock), or -EMFILE */
static int fd_free_from(struct app *a, uint64_t min)
{
	for (uint64_t i = min; i < a->nofile[0] && i < APP_FDS_MAX; i++)
		if (a->fd[i] < 0)
			return (int)i;
	return -EMFILE;
}

/* the description descriptor fd names (under the lock), or -1 */
static int fd_file(struct app *a, uint64_t fd)
{
	return fd < APP_FDS_MAX ? a->fd[fd] : -1;
}

int hp_fd_alloc(struct app *a, enum fd_kind k)
{
	/* (threads open and close at once: no descriptor is handed out twice) */
	mutex_lock(&a->top->fd_lock, NO_DEADLINE);
	int fd = fd_free_from(a, 0), file = fd < 0 ? -1 : file_take(a, k);

	if (fd >= 0 && file < 0)
		fd = file == -2 ? -ENOMEM : -ENFILE;
	if (fd >= 0) {
		a->cloexec[fd] = false;
		__atomic_store_n(&a->fd[fd], (int16_t)file, __ATOMIC_RELEASE);
	}
	mutex_unlock(&a->top->fd_lock);
	return fd;
}

struct app_fd *hp_fd(struct app *a, uint64_t fd)
{
	int i = fd < APP_FDS_MAX ? __atomic_load_n(&a->fd[fd], __ATOMIC_ACQUIRE) : -1;
	struct app_fd *f = i >= 0 ? hp_file(a, i) : NULL;

	return f && f->kind != FD_FREE ? f : NULL;
}

/* Unnames descriptor fd (under the lock); when it was the description's last name, the
 * description is free now and *gone gets what it held, to let go of after the lock. */
static bool fd_unname(struct app *a, uint64_t fd, struct app_fd *gone)
{
	struct app_fd *f = hp_file(a, a->fd[fd]);

	gone->kind = FD_FREE;
	__atomic_store_n(&a->fd[fd], (int16_t)-1, __ATOMIC_RELEASE);
	a->cloexec[fd] = false;
	if (--f->refs > 0)
		return false;
	*gone = *f;
	f->kind = FD_FREE;
	return true;
}

/* what a description held, after its last descriptor is gone (no lock held) */
static void file_release(struct app *a, const struct app_fd *f)
{
	if (f->kind == FD_SOCKET && f->sock >= 0)
		sock_close(f->sock);
	else if (f->kind == FD_PIPE || f->kind == FD_EPOLL)
		hp_io_release(a, f);
	else if (f->kind == FD_FILE && f->node)
		vfs_put(f->node);
	else if (f->kind == FD_PROC)
		kfree(f->proc);
}

/* close: the descriptor is free once, however many threads close it at once; what its
 * description holds goes with its last descriptor (a thread still using a socket gets
 * -EBADF from there; pipes and epoll sets live on until their calls are done: hp/io.c) */
long hp_fd_close(struct app *a, uint64_t n)
{
	struct app_fd gone;

	mutex_lock(&a->top->fd_lock, NO_DEADLINE);
	if (fd_file(a, n) < 0) {
		mutex_unlock(&a->top->fd_lock);
		return -EBADF;
	}
	bool last = fd_unname(a, n, &gone);

	mutex_unlock(&a->top->fd_lock);
	if (last)
		file_release(a, &gone);
	return 0;
}

void hp_fds_close_all(struct app *a)
{
	for (int i = 0; i < APP_FDS_MAX; i++)
		if (a->fd[i] >= 0)
			hp_fd_close(a, (uint64_t)i);
	/* (every thread of the tree has ended: nothing looks at a description any more) */
	for (int c = 0; a == a->top && c < APP_FDS_MAX / FILE_CHUNK; c++) {
		kfree(a->files[c]);
		a->files[c] = NULL;
	}
}

void hp_fds_fork(struct app *child, struct app *parent)
{
	mutex_lock(&parent->top->fd_lock, NO_DEADLINE);
	for (int i = 0; i < APP_FDS_MAX; i++) {
		child->fd[i] = parent->fd[i];
		child->cloexec[i] = parent->cloexec[i];
		if (child->fd[i] >= 0)
			hp_file(parent, child->fd[i])->refs++;
	}
	memcpy(child->nofile, parent->nofile, sizeof(child->nofile));
	mutex_unlock(&parent->top->fd_lock);
}

void hp_fds_exec(struct app *a)
{
	for (int i = 0; i < APP_FDS_MAX; i++)
		if (a->fd[i] >= 0 && a->cloexec[i])
			hp_fd_close(a, (uint64_t)i);
}

/* dup, dup2, dup3 and fcntl's F_DUPFD: newfd < 0 takes the lowest free one at or above
 * min; otherwise exactly newfd, closing what it named */
static long fd_dup(struct app *a, uint64_t old, int64_t newfd, uint64_t min, bool cloexec)
{
	struct app_fd gone = {.kind = FD_FREE};
	bool last = false;
	long rc;

	if ((newfd >= 0 && (uint64_t)newfd >= a->nofile[0]) || (newfd < 0 && min >= a->nofile[0]))
		return newfd >= 0 ? -EBADF : -EINVAL;
	mutex_lock(&a->top->fd_lock, NO_DEADLINE);
	if (fd_file(a, old) < 0) {
		rc = -EBADF;
	} else if (newfd >= 0 && (uint64_t)newfd == old) {
		rc = newfd; /* dup2 to itself: nothing to do (dup3 refused it before) */
	} else {
		rc = newfd >= 0 ? newfd : fd_free_from(a, min);
		if (rc >= 0) {
			if (a->fd[rc] >= 0)
				last = fd_unname(a, (uint64_t)rc, &gone);
			hp_file(a, a->fd[old])->refs++;
			a->cloexec[rc] = cloexec;
			__atomic_store_n(&a->fd[rc], a->fd[old], __ATOMIC_RELEASE);
		}
	}
	mutex_unlock(&a->top->fd_lock);
	if (last)
		file_release(a, &gone);
	return rc;
}

static struct app_fd *fd_get(struct app *a, uint64_t fd)
{
	return hp_fd(a, fd);
}

static long fd_write(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	char chunk[256];
	size_t done = 0;

	if (!app_range(buf, n))
		return -EFAULT;
	if (f->kind == FD_FILE)
		return hp_fs_write(f, buf, n, -1);
	if (f->kind == FD_PROC)
		return -EBADF;
	if (f->kind == FD_PIPE && !f->wr)
		return -EBADF; /* opened read-only */
	if (f->kind == FD_EPOLL)
		return -EINVAL;
	if (f->kind == FD_PIPE || f->kind == FD_EVENTFD)
		return hp_io_write(a, f, buf, n);
	if (f->kind == FD_NULL || f->kind == FD_ZERO)
		return (long)n;
	if (f->kind == FD_RANDOM) { /* mixed in, as on Linux (which credits no entropy) */
		for (; done < n; done += sizeof(chunk)) {
			size_t k = MIN(n - done, sizeof(chunk));

			if (copy_from_app(chunk, buf + done, k))
				return done ? (long)done : -EFAULT;
			random_mix(chunk, k);
		}
		return (long)n;
	}
	if (f->kind == FD_DISK)
		return hp_disk_rw(f, buf, n, -1, true);
	while (done < n) {
		size_t k = MIN(n - done, sizeof(chunk));

		if (copy_from_app(chunk, buf + done, k))
			return done ? (long)done : -EFAULT;
		console_write(chunk, k);
		done += k;
	}
	return (long)done;
}

static long do_getrandom(uint64_t buf, uint64_t len);

static long fd_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	if (!app_range(buf, n))
		return -EFAULT;
	if (f->kind == FD_FILE)
		return hp_fs_read(f, buf, n, -1);
	if (f->kind == FD_PROC)
		return hp_proc_read(f, buf, n, -1);
	if (f->kind == FD_PIPE && f->wr)
		return -EBADF; /* the write end */
	if (f->kind == FD_PIPE || f->kind == FD_EVENTFD)
		return hp_io_read(a, f, buf, n);
	if (f->kind == FD_EPOLL)
		return -EINVAL;
	if (f->kind == FD_RANDOM)
		return do_getrandom(buf, n);
	if (f->kind == FD_ZERO) {
		static const uint8_t zero[256];

		for (size_t done = 0; done < n; done += sizeof(zero))
			if (copy_to_app(buf + done, zero, MIN(sizeof(zero), n - done)))
				return done ? (long)done : -EFAULT;
		return (long)n;
	}
	if (f->kind == FD_DISK)
		return hp_disk_rw(f, buf, n, -1, false);
	if (f->kind == FD_CONSOLE)
		return hp_tty_read(a, f, buf, n);
	return 0; /* /dev/null: end of file */
}

struct iovec_ {
	uint64_t base, len;
};

/* The calls with an iovec: each piece in turn through one(ctx, base, len, done so far)
 * until one comes back short or fails; what was done, or the first piece's error */
static long iov_each(uint64_t iov, uint64_t cnt, long (*one)(void *, uint64_t, uint64_t, long),
		     void *ctx)
{
	long total = 0;

	if (cnt > 1024)
		return -EINVAL;
	for (uint64_t i = 0; i < cnt; i++) {
		struct iovec_ v;

		if (copy_from_app(&v, iov + i * sizeof(v), sizeof(v)))
			return -EFAULT;
		if (!v.len)
			continue;
		long r = one(ctx, v.base, v.len, total);

		if (r < 0)
			return total ? total : r;
		total += r;
		if ((uint64_t)r < v.len)
			break;
	}
	return total;
}

struct rw_vec {
	struct app *a;
	struct app_fd *f;
	bool write;
	int64_t off; /* preadv, pwritev */
};

static long rw_one(void *arg, uint64_t base, uint64_t len, long done)
{
	struct rw_vec *c = arg;

	(void)done;
	return c->write ? fd_write(c->a, c->f, base, len) : fd_read(c->a, c->f, base, len);
}

/* writev into a pipe of at most PIPE_BUF_ bytes in all: gathered first and written as
 * one write, so that no reader sees part of it (musl's stdio writes a line as its buffer
 * and the rest: two buffers; a parent reading a child's line got half of it). false: not
 * such a writev (the buffers go one by one); true with *rc what the write gives. */
static bool pipe_writev(struct app *a, struct app_fd *f, uint64_t iov, uint64_t cnt, long *rc)
{
	struct iovec_ v[16];
	size_t total = 0;

	if (f->kind != FD_PIPE || !f->wr || cnt < 2 || cnt > ARRAY_SIZE(v))
		return false;
	if (copy_from_app(v, iov, cnt * sizeof(v[0]))) {
		*rc = -EFAULT;
		return true;
	}
	for (uint64_t i = 0; i < cnt; i++)
		if (v[i].len > PIPE_BUF_ || (total += v[i].len) > PIPE_BUF_)
			return false;
	uint8_t *k = kmalloc(total ? total : 1);
	size_t at = 0;

	*rc = k ? 0 : -ENOMEM;
	for (uint64_t i = 0; i < cnt && !*rc; i++) {
		if (v[i].len && copy_from_app(k + at, v[i].base, v[i].len))
			*rc = -EFAULT;
		at += v[i].len;
	}
	if (!*rc && total)
		*rc = hp_pipe_write_gathered(a, f, k, total);
	kfree(k);
	return true;
}

static long do_rw_vec(struct app *a, uint64_t fd, uint64_t iov, uint64_t cnt, bool write)
{
	struct rw_vec c = {a, fd_get(a, fd), write, 0};
	long rc;

	if (c.f && write && pipe_writev(a, c.f, iov, cnt, &rc))
		return rc;
	if (c.f && c.f->kind == FD_SOCKET)
		return hp_sock_vec(a, c.f, iov, cnt, write);
	return c.f ? iov_each(iov, cnt, rw_one, &c) : -EBADF;
}

/* Where an *at() call's relative path starts: the working directory (AT_FDCWD), or a
 * directory descriptor's path; an absolute path needs neither. */
long hp_at_base(struct app *a, int64_t dirfd, const char *path, const char **base)
{
	*base = a->cwd;
	if (path[0] == '/' || dirfd == AT_FDCWD)
		return 0;
	struct app_fd *f = hp_fd(a, (uint64_t)dirfd);

	if (!f)
		return -EBADF;
	if (f->kind != FD_FILE || !f->dir)
		return -ENOTDIR;
	*base = f->dpath;
	return 0;
}

static long do_open(struct app *a, int64_t dirfd, uint64_t path, uint64_t flags,
		    uint64_t mode)
{
	char p[VFS_PATH_MAX];
	const char *base;
	long n = strcpy_from_app(p, path, sizeof(p));
	enum fd_kind k;

	if (n < 0)
		return n;
	if ((n = hp_at_base(a, dirfd, p, &base)))
		return n;
	if (!strcmp(p, "/dev/null"))
		k = FD_NULL;
	else if (!strcmp(p, "/dev/urandom") || !strcmp(p, "/dev/random"))
		k = FD_RANDOM;
	else if (!strcmp(p, "/dev/zero"))
		k = FD_ZERO;
	else if (!strcmp(p, "/dev/console") || !strcmp(p, "/dev/tty"))
		k = FD_CONSOLE;
	else if (hp_disk_index(p) >= 0)
		k = FD_DISK;
	else
	{
		long r = hp_proc_open(a, base, p, flags);

		return r != -ENOSYS ? r
				    : hp_fs_open(a, base, p, flags, (uint32_t)mode & ~a->umask & 07777);
	}
	int fd = k == FD_DISK ? (int)hp_disk_open(a, hp_disk_index(p), flags) : hp_fd_alloc(a, k);

	if (fd >= 0) {
		a->cloexec[fd] = (flags & O_CLOEXEC) != 0;
		hp_file(a, a->fd[fd])->nonblock = (flags & O_NONBLOCK) != 0;
	}
	return fd;
}

/* stat(2) by path: the tar image's entries and the two devices */
/* An unknown system call, logged once by number (for the process tree): 0-511 in a bitmap, larger ones (no such
 * call exists on Linux) in a short list, and once that is full, one last line says so. */
static void enosys_log(struct app *a, uint64_t nr)
{
	a = a->top; /* (once for the whole process tree; under no lock: a repeat is harmless) */
	if (nr < 512) {
		if (a->enosys_seen[nr / 64] & (1ull << (nr % 64)))
			return;
		a->enosys_seen[nr / 64] |= 1ull << (nr % 64);
		kprintf("hp: %s: system call %lu is not implemented (-ENOSYS)\n", a->name,
			(unsigned long)nr);
		return;
	}
	unsigned i = 0;

	while (i < a->enosys_big_n && a->enosys_big[i] != nr)
		i++;
	if (i < a->enosys_big_n)
		return;
	if (a->enosys_big_n < ARRAY_SIZE(a->enosys_big)) {
		a->enosys_big[a->enosys_big_n++] = nr;
		kprintf("hp: %s: system call %lu does not exist (-ENOSYS)\n", a->name,
			(unsigned long)nr);
	} else if (!a->enosys_big_full) {
		a->enosys_big_full = true;
		kprintf("hp: %s: more system call numbers above 511 (-ENOSYS); no longer logged\n",
			a->name);
	}
}

/* the device numbers Linux gives them */
#define DEV_NULL    (1 << 8 | 3)
#define DEV_ZERO    (1 << 8 | 5)
#define DEV_RANDOM  (1 << 8 | 8)
#define DEV_URANDOM (1 << 8 | 9)
#define DEV_CONSOLE (5 << 8 | 1)

void hp_stat_fill(uint8_t s[144], uint32_t mode, uint64_t size, uint64_t ino, uint64_t rdev)
{
	uint64_t nlink = 1, blksize = 4096;

	memset(s, 0, 144);
	memcpy(s + 8, &ino, 8);
	memcpy(s + 16, &nlink, 8);
	memcpy(s + 24, &mode, 4);
	memcpy(s + 40, &rdev, 8);
	memcpy(s + 48, &size, 8);
	memcpy(s + 56, &blksize, 8);
}

/* struct stat (x86-64) of a character device */
static void stat_chardev(uint8_t s[144], uint64_t rdev)
{
	hp_stat_fill(s, 0020000 | 0666, 0, 0, rdev);
}

/* a path's struct stat into s: 0 or -errno */
static long stat_path(struct app *a, int64_t dirfd, uint64_t path, uint8_t s[144],
		      bool follow)
{
	char p[256];
	long n = strcpy_from_app(p, path, sizeof(p));

	if (n < 0)
		return n;
	uint64_t dev = !strcmp(p, "/dev/null")	   ? DEV_NULL
		       : !strcmp(p, "/dev/zero")    ? DEV_ZERO
		       : !strcmp(p, "/dev/random")  ? DEV_RANDOM
		       : !strcmp(p, "/dev/urandom") ? DEV_URANDOM
		       : !strcmp(p, "/dev/console") || !strcmp(p, "/dev/tty") ? DEV_CONSOLE
								     : 0;

	if (dev) {
		stat_chardev(s, dev);
		return 0;
	}
	if (hp_disk_index(p) >= 0)
		return hp_disk_stat(s, hp_disk_index(p));
	return hp_fs_stat_at(a, dirfd, path, follow, s);
}

static long do_stat_path(struct app *a, int64_t dirfd, uint64_t path, uint64_t st, bool follow)
{
	uint8_t s[144];
	long rc = stat_path(a, dirfd, path, s, follow);

	return rc ? rc : copy_to_app(st, s, sizeof(s));
}

/* struct stat (x86-64): the fields we fill, at Linux's offsets */
static long stat_fd(struct app *a, uint64_t fd, uint8_t s[144])
{
	struct app_fd *f = fd_get(a, fd);

	memset(s, 0, 144);
	if (!f)
		return -EBADF;
	if (f->kind == FD_FILE) {
		vfs_stat(f->node, s);
	} else if (f->kind == FD_PROC) {
		hp_proc_fstat(f, s);
	} else if (f->kind == FD_ZERO) {
		stat_chardev(s, DEV_ZERO);
	} else if (f->kind == FD_CONSOLE || f->kind == FD_NULL || f->kind == FD_RANDOM) {
		stat_chardev(s, f->kind == FD_NULL ? DEV_NULL : f->kind == FD_RANDOM ? DEV_URANDOM
										    : DEV_CONSOLE);
	} else if (f->kind == FD_DISK) {
		return hp_disk_stat(s, f->disk);
	} else if (f->kind != FD_SOCKET) {
		/* a pipe is a FIFO; an eventfd or epoll set an anonymous inode (no type bits),
		 * as Linux shows them; 4096 bytes a block */
		uint32_t mode = (f->kind == FD_PIPE ? 0010000 : 0) | 0600;
		uint64_t nlink = 1, blksize = 4096;

		memcpy(s + 16, &nlink, 8);
		memcpy(s + 24, &mode, 4);
		memcpy(s + 56, &blksize, 8);
	} else {
		uint32_t mode = 0140000 | 0777; /* a socket */
		uint64_t nlink = 1, blksize = 4096;

		memcpy(s + 16, &nlink, 8);
		memcpy(s + 24, &mode, 4);
		memcpy(s + 56, &blksize, 8);
	}
	return 0;
}

static long do_fstat(struct app *a, uint64_t fd, uint64_t st)
{
	uint8_t s[144];
	long rc = stat_fd(a, fd, s);

	return rc ? rc : copy_to_app(st, s, sizeof(s));
}

/* statx: struct statx (256 bytes) from the struct stat of the path (or of dirfd with
 * AT_EMPTY_PATH and ""), with the basic fields it has */
static long do_statx(struct app *a, int64_t dirfd, uint64_t path, uint64_t flags, uint64_t buf)
{
	uint8_t s[144];
	char p[2];
	long rc = (flags & AT_EMPTY_PATH) && strcpy_from_app(p, path, sizeof(p)) == 0
			  ? stat_fd(a, (uint64_t)dirfd, s)
			  : stat_path(a, dirfd, path, s, !(flags & 0x100));

	if (rc)
		return rc;
	struct {
		uint64_t dev, ino, nlink;
		uint32_t mode, uid, gid, pad;
		uint64_t rdev;
		int64_t size, blksize, blocks;
	} st; /* struct stat's first fields */
	struct {
		uint32_t mask, blksize;
		uint64_t attributes;
		uint32_t nlink, uid, gid;
		uint16_t mode, pad;
		uint64_t ino, size, blocks, attributes_mask;
		uint8_t times[64];
		uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	} x = {0};

	_Static_assert(sizeof(x) == 144, "struct statx's fields up to stx_dev_minor");
	memcpy(&st, s, sizeof(st));
	x.mask = 0x7ff; /* STATX_BASIC_STATS */
	x.blksize = (uint32_t)st.blksize;
	x.nlink = (uint32_t)st.nlink;
	x.mode = (uint16_t)st.mode;
	x.ino = st.ino;
	x.size = (uint64_t)st.size;
	x.blocks = (uint64_t)st.blocks;
	/* st_rdev split as Linux's new_encode_dev() packs it */
	x.rdev_major = (uint32_t)(((st.rdev >> 8) & 0xfff) | ((st.rdev >> 32) & ~0xfffull));
	x.rdev_minor = (uint32_t)((st.rdev & 0xff) | ((st.rdev >> 12) & ~0xffull));
	uint8_t out[256] = {0};

	memcpy(out, &x, sizeof(x));
	return copy_to_app(buf, out, sizeof(out));
}

static long prw_one(void *arg, uint64_t base, uint64_t len, long done)
{
	struct rw_vec *c = arg;

	if (c->f->kind == FD_DISK)
		return hp_disk_rw(c->f, base, len, c->off + done, c->write);
	if (c->f->kind == FD_NULL)
		return c->write ? (long)len : 0;
	if (c->f->kind == FD_PROC)
		return c->write ? -EBADF : hp_proc_read(c->f, base, len, c->off + done);
	return c->write ? hp_fs_write(c->f, base, len, c->off + done)
			: hp_fs_read(c->f, base, len, c->off + done);
}

/* preadv/pwritev and pwrite64: at an offset, on a file (read-only: EBADF for writes) or
 * /dev/null; the rest -ESPIPE */
static long do_prw(struct app *a, uint64_t fd, uint64_t iov, uint64_t cnt, int64_t off, bool write,
		   bool vec)
{
	struct app_fd *f = fd_get(a, fd);

	if (!f)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	if (f->kind != FD_FILE && f->kind != FD_NULL && f->kind != FD_DISK && f->kind != FD_PROC)
		return -ESPIPE;
	struct rw_vec c = {a, f, write, off};

	/* pread64/pwrite64: (buffer, count) is the one piece */
	return vec ? iov_each(iov, cnt, prw_one, &c) : prw_one(&c, iov, cnt, 0);
}

/* sendfile: from a file of the tree (its offset, or *offp's), straight from the kernel's
 * copy of it, to a TCP socket, the console or /dev/null (a pipe or a UDP socket: -EINVAL
 * here, unlike Linux) */
static long do_sendfile(struct app *a, uint64_t out, uint64_t in, uint64_t offp, uint64_t count)
{
	struct app_fd *fi = fd_get(a, in), *fo = fd_get(a, out);
	int64_t off;

	if (!fi || !fo)
		return -EBADF;
	if (fi->kind != FD_FILE || fi->dir)
		return -EINVAL;
	if (offp) {
		if (copy_from_app(&off, offp, 8))
			return -EFAULT;
		if (off < 0)
			return -EINVAL;
	} else {
		off = (int64_t)fi->pos;
	}
	if (!fi->rd)
		return -EBADF;
	size_t size;
	void *copy;
	const uint8_t *data = vfs_contents(fi->node, &size, &copy, NULL);

	if (!data)
		return -ENOMEM;
	uint64_t left = (uint64_t)off < size ? size - (uint64_t)off : 0;
	size_t n = MIN(count, left);
	long done;

	if (fo->kind == FD_SOCKET)
		done = n ? hp_sock_write_kernel(a, fo, data + off, n) : 0;
	else if (fo->kind == FD_NULL)
		done = (long)n;
	else if (fo->kind == FD_CONSOLE)
		console_write((const char *)data + off, n), done = (long)n;
	else {
		kfree(copy);
		return -EINVAL;
	}
	kfree(copy);

	if (done > 0) {
		if (offp) {
			int64_t now = off + done;

			if (copy_to_app(offp, &now, 8))
				return -EFAULT;
		} else {
			fi->pos = (uint64_t)off + (uint64_t)done;
		}
	}
	return done;
}

#define TIOCGWINSZ 0x5413
#define FIONREAD   0x541b
#define FIONBIO	   0x5421

static long do_ioctl(struct app *a, uint64_t fd, uint64_t req, uint64_t arg)
{
	struct app_fd *f = fd_get(a, fd);

	req = (uint32_t)req; /* Linux's cmd is an unsigned int (musl's ioctl takes an int) */

	if (!f)
		return -EBADF;
	if (req == FIONBIO) {
		int on;

		if (copy_from_app(&on, arg, sizeof(on)))
			return -EFAULT;
		__atomic_store_n(&f->nonblock, on != 0, __ATOMIC_RELAXED);
		return 0;
	}
	if (req == FIONREAD && (f->kind == FD_PIPE || f->kind == FD_EVENTFD || f->kind == FD_FILE ||
				f->kind == FD_NULL)) {
		uint64_t size = f->kind == FD_FILE ? vfs_size(f->node) : 0;
		long n = f->kind == FD_FILE ? (f->pos < size ? (long)(size - f->pos) : 0)
			 : f->kind == FD_NULL ? 0
					      : hp_io_nread(a, f);
		int v = (int)MIN(n, (long)INT32_MAX);

		if (n < 0)
			return n;
		return copy_to_app(arg, &v, sizeof(v));
	}
	if (f->kind == FD_DISK)
		return hp_disk_ioctl(f, req, arg);
	if (f->kind != FD_CONSOLE)
		return -ENOTTY;
	return hp_tty_ioctl(a, req, arg);
}

/* --- memory ------------------------------------------------------------------------------ */

#define PROT_READ	    1
#define PROT_WRITE	    2
#define PROT_EXEC	    4
#define MAP_SHARED	    0x01
#define MAP_PRIVATE	    0x02
#define MAP_FIXED	    0x10
#define MAP_ANONYMOUS	    0x20
#define MAP_POPULATE	    0x8000
#define MAP_NORESERVE	    0x4000
#define MAP_FIXED_NOREPLACE 0x100000

static uint64_t prot_flags(const struct app *a, uint64_t prot)
{
	return (prot & PROT_WRITE ? PTE_W : 0) | (prot & PROT_EXEC ? 0 : PTE_NX) | a->pte_u;
}

static long do_brk(struct app *a, uint64_t want)
{
	if (want < a->brk_base || want > a->brk_base + APP_BRK_MAX)
		return (long)a->brk;
	uint64_t end = ALIGN_UP(want, PAGE);

	if (end > a->brk_mapped) {
		if (mm_user_map(a->brk_mapped, (end - a->brk_mapped) / PAGE,
				PTE_W | PTE_NX | a->pte_u))
			return (long)a->brk;
		a->brk_mapped = end;
	} else if (end < a->brk_mapped) {
		mm_user_unmap(end, (a->brk_mapped - end) / PAGE);
		a->brk_mapped = end;
	}
	a->brk = want;
	return (long)a->brk;
}

static long do_mmap(struct app *a, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
		    int64_t fd, uint64_t off)
{
	if (!len || (addr & (PAGE - 1)) || len > (1ull << 40))
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return -ENODEV; /* no file mappings: files are read with read() */
	if (!(flags & (MAP_SHARED | MAP_PRIVATE)))
		return -EINVAL;
	len = ALIGN_UP(len, PAGE);
	uint64_t va;

	/* Overcommit, as Linux's heuristic but looser: one mapping of more than 4 times the
	 * RAM (and more than 1 GiB) could never be written, and is refused at once
	 * (MAP_NORESERVE and PROT_NONE reservations aside). Linux refuses anything past the
	 * RAM, which keeps Go (its 32 MiB arena map, mostly never touched) out of a 32 MiB VM;
	 * here it runs there. */
	if (!(flags & MAP_NORESERVE) && (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) &&
	    len / 1024 > MAX(4 * mm_usable_kib(), 1ull << 20))
		return -ENOMEM;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (!app_range(addr, len) || addr < ELF_USER_MIN)
			return -EINVAL;
		va = addr;
		mm_user_unmap(va, len / PAGE);
	} else {
		va = mmap_area_take(&a->mmap, len);
		if (!va)
			return -ENOMEM;
	}
	/* PROT_NONE reserves the range and maps nothing (a guard); mprotect maps it later.
	 * Otherwise each page gets its frame at its first touch, as on Linux (a Go arena or a
	 * thread's stack costs what is used of it), or now with MAP_POPULATE. */
	if (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) {
		/* MAP_SHARED: a fork's child shares the pages rather than copies them */
		uint64_t pf = prot_flags(a, prot) | (flags & MAP_SHARED ? MM_SHARED : 0);
		int rc = flags & MAP_POPULATE ? mm_user_map(va, len / PAGE, pf)
					      : mm_user_reserve(va, len / PAGE, pf);

		if (rc) {
			/* mm_user_map undid its part; a failed map must not use the area up */
			if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
				mmap_area_give(&a->mmap, va, len);
			return -ENOMEM;
		}
	}
	return (long)va;
}

static long do_munmap(struct app *a, uint64_t addr, uint64_t len)
{
	if ((addr & (PAGE - 1)) || !len || !app_range(addr, len))
		return -EINVAL;
	mm_user_unmap(addr, ALIGN_UP(len, PAGE) / PAGE);
	/* when it was the lowest mapping, its space is handed out again */
	mmap_area_give(&a->mmap, addr, ALIGN_UP(len, PAGE));
	return 0;
}

static long do_mprotect(struct app *a, uint64_t addr, uint64_t len, uint64_t prot)
{
	if ((addr & (PAGE - 1)) || !app_range(addr, len))
		return -EINVAL;
	len = ALIGN_UP(len, PAGE);
	for (uint64_t va = addr; va < addr + len; va += PAGE) {
		int rc = 0;

		/* ring 0 has no "present but inaccessible": PROT_NONE unmaps (a guard page's
		 * contents are never read), a later mprotect gives zeroed memory again (at its
		 * first touch) */
		if (!(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
			mm_user_unmap(va, 1);
		else if ((rc = mm_user_protect(va, prot_flags(a, prot))) != -ENOENT)
			;
		else if (va >= a->mmap.low && va < APP_MMAP_TOP)
			rc = mm_user_reserve(va, 1, prot_flags(a, prot));
		else
			rc = -ENOMEM;
		if (rc)
			return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	return 0;
}

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED   2

/* mremap of anonymous memory (glibc's realloc of a large block): a shrink unmaps the tail;
 * a growth moves the block (MREMAP_MAYMOVE: a new mapping with the old one's rights, the
 * contents copied, the old one unmapped), or is -ENOMEM, as on Linux when the pages after
 * it are not free. The old range must be mapped (-EFAULT). */
static long do_mremap(struct app *a, uint64_t old, uint64_t old_len, uint64_t new_len,
		      uint64_t flags)
{
	if ((old & (PAGE - 1)) || !new_len || (flags & ~(uint64_t)MREMAP_MAYMOVE) ||
	    !app_range(old, old_len) || new_len > (1ull << 40))
		return -EINVAL;
	old_len = ALIGN_UP(old_len, PAGE);
	new_len = ALIGN_UP(new_len, PAGE);
	for (uint64_t va = old; va < old + old_len; va += PAGE)
		if (!mm_user_frame_va(va) && !mm_user_lazy(va))
			return -EFAULT;
	if (new_len <= old_len) {
		if (new_len < old_len)
			do_munmap(a, old + new_len, old_len - new_len);
		return (long)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	/* the block's rights, as its first page has them (touched or not) */
	uint64_t rights = mm_user_rights(old);
	long nva = do_mmap(a, 0, new_len,
			   PROT_READ | (rights & PTE_W ? PROT_WRITE : 0) |
				   (rights & PTE_NX ? 0 : PROT_EXEC),
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (nva < 0)
		return nva;
	/* what was touched is copied (its new page made now); the rest stays untouched */
	for (uint64_t off = 0; off < old_len; off += PAGE) {
		void *from = mm_user_frame_va(old + off);

		if (!from)
			continue;
		if (mm_user_fault((uint64_t)nva + off, true) < 0) {
			do_munmap(a, (uint64_t)nva, new_len);
			return -ENOMEM;
		}
		memcpy(mm_user_frame_va((uint64_t)nva + off), from, PAGE);
	}
	do_munmap(a, old, old_len);
	return nva;
}

#define MADV_DONTNEED 4

static long do_madvise(struct app *a, uint64_t addr, uint64_t len, uint64_t advice)
{
	if ((addr & (PAGE - 1)) || !app_range(addr, len))
		return -EINVAL;
	if (advice != MADV_DONTNEED)
		return 0; /* advice only */
	/* private anonymous memory reads as zero afterwards: the frames go back (Go's
	 * scavenger returns memory this way) and the pages are given new ones if touched */
	mm_user_discard(addr, ALIGN_UP(len, PAGE) / PAGE);
	return 0;
}

/* --- time ---------------------------------------------------------------------------------- */

struct timespec_ {
	int64_t sec, nsec;
};

static uint64_t clock_of(uint64_t clk, bool *ok)
{
	*ok = clk <= 11 && clk != 8 && clk != 9 && clk != 10;
	if (clk == 0 || clk == 5 || clk == 11) /* REALTIME, REALTIME_COARSE, TAI */
		return wallclock_ns();
	return clock_ns(); /* MONOTONIC(_RAW, _COARSE), BOOTTIME, and the CPU-time clocks */
}

/* --- CPUs and CPU time ----------------------------------------------------------------- */

/* The app thread with this tid (0: the caller): with the app's lock held when it is
 * another one, so that its kernel thread is not joined and freed meanwhile (hp_clone
 * joins under the lock). NULL (and no lock) when no live thread has it. */
struct app_thread *hp_thread_by_tid(struct app *a, struct app_thread *self, int64_t tid,
				    bool *locked)
{
	*locked = false;
	if (tid == 0 || tid == self->tid)
		return self;
	if (tid < 0)
		return NULL;
	mutex_lock(&a->lock, NO_DEADLINE);
	for (int i = 0; i < APP_THREADS; i++) {
		struct app_thread *s = &a->threads[i];

		if (s->app && s->t && s->tid == tid &&
		    !__atomic_load_n(&s->ended, __ATOMIC_ACQUIRE)) {
			*locked = true;
			return s;
		}
	}
	mutex_unlock(&a->lock);
	return NULL;
}

/* sched_getaffinity / sched_setaffinity: a mask of up to 64 CPUs, the size of Linux's
 * unsigned long; the kernel's mask is 8 bytes, so that is what get returns (as Linux
 * returns its cpumask size), and a buffer must hold it (Linux: -EINVAL too) */
static long do_getaffinity(struct app_thread *at, int64_t tid, uint64_t len, uint64_t ptr)
{
	bool locked;
	struct app_thread *t;
	uint64_t mask;

	if (len < 8 || (len & 7))
		return -EINVAL;
	if (!(t = hp_thread_by_tid(at->app, at, tid, &locked)))
		return -ESRCH;
	mask = thread_affinity(t->t);
	if (locked)
		mutex_unlock(&at->app->lock);
	return copy_to_app(ptr, &mask, 8) ? -EFAULT : 8;
}

static long do_setaffinity(struct app_thread *at, int64_t tid, uint64_t len, uint64_t ptr)
{
	bool locked;
	struct app_thread *t;
	uint64_t mask = 0;
	long rc;

	/* a shorter buffer leaves the CPUs beyond it out; a longer one's rest names CPUs
	 * that do not exist (as on Linux, they do not count) */
	if (copy_from_app(&mask, ptr, MIN(len, 8)))
		return -EFAULT;
	if (!(t = hp_thread_by_tid(at->app, at, tid, &locked)))
		return -ESRCH;
	if (!locked) /* the caller: it may move now, so no lock held meanwhile */
		return thread_set_affinity(t->t, mask);
	rc = thread_set_affinity(t->t, mask);
	mutex_unlock(&at->app->lock);
	return rc;
}

static long do_getcpu(uint64_t cpup, uint64_t nodep)
{
	uint32_t cpu, node = 0;

	preempt_disable();
	cpu = arch_cpu_id();
	preempt_enable();
	if ((cpup && copy_to_app(cpup, &cpu, 4)) || (nodep && copy_to_app(nodep, &node, 4)))
		return -EFAULT;
	return 0;
}

/* The app's CPU time, and its switches: the threads that ended, plus the live ones */
static uint64_t app_cpu_ns(struct app *a, uint64_t *nvcsw, uint64_t *nivcsw);

uint64_t hp_app_cpu_ns(struct app *a)
{
	return app_cpu_ns(a, NULL, NULL);
}

static uint64_t app_cpu_ns(struct app *a, uint64_t *nvcsw, uint64_t *nivcsw)
{
	mutex_lock(&a->lock, NO_DEADLINE);
	uint64_t ns = a->done_cpu_ns, v = a->done_nvcsw, iv = a->done_nivcsw;

	for (int i = 0; i < APP_THREADS; i++) {
		struct app_thread *s = &a->threads[i];
		uint64_t sv, siv;

		if (!s->app || !s->t || s->accounted)
			continue;
		ns += thread_cpu_ns(s->t);
		thread_switches(s->t, &sv, &siv);
		v += sv;
		iv += siv;
	}
	mutex_unlock(&a->lock);
	if (nvcsw)
		*nvcsw = v, *nivcsw = iv;
	return ns;
}

#define CLOCK_PROCESS_CPUTIME_ID 2
#define CLOCK_THREAD_CPUTIME_ID	 3

/* The CPU-time clocks: the process's and the calling thread's, and those that
 * clock_getcpuclockid / pthread_getcpuclockid make (negative: ~pid or ~tid << 3, bit 2 for
 * a thread, then the kind in the low 2 bits, of which 3 does not exist). Their time is
 * all "user" time: the kernel does not tell apart the time a thread spends in its system
 * calls. -EINVAL when clk is none of them. */
static long cpu_clock_ns(struct app_thread *at, int64_t clk, uint64_t *ns)
{
	if (clk == CLOCK_PROCESS_CPUTIME_ID) {
		*ns = app_cpu_ns(at->app, NULL, NULL);
		return 0;
	}
	if (clk == CLOCK_THREAD_CPUTIME_ID) {
		*ns = thread_cpu_ns(thread_self());
		return 0;
	}
	if (clk >= 0 || (clk & 3) == 3)
		return -EINVAL;
	int64_t id = ~(clk >> 3);

	if (!(clk & 4)) { /* a process: this one */
		if (id != 0 && id != at->app->pid)
			return -EINVAL;
		*ns = app_cpu_ns(at->app, NULL, NULL);
		return 0;
	}
	bool locked;
	struct app_thread *t = hp_thread_by_tid(at->app, at, id, &locked);

	if (!t)
		return -EINVAL;
	*ns = thread_cpu_ns(t->t);
	if (locked)
		mutex_unlock(&at->app->lock);
	return 0;
}

static bool is_cpu_clock(uint64_t clk)
{
	return clk == CLOCK_PROCESS_CPUTIME_ID || clk == CLOCK_THREAD_CPUTIME_ID ||
	       (int64_t)clk < 0;
}

static long do_clock_gettime(struct app_thread *at, uint64_t clk, uint64_t ts)
{
	bool ok = true;
	uint64_t ns = 0;

	if (is_cpu_clock(clk))
		ok = !cpu_clock_ns(at, (int64_t)clk, &ns);
	else
		ns = clock_of(clk, &ok);
	struct timespec_ t = {(int64_t)(ns / 1000000000), (int64_t)(ns % 1000000000)};

	return ok ? copy_to_app(ts, &t, sizeof(t)) : -EINVAL;
}

#define RUSAGE_SELF	 0
#define RUSAGE_THREAD	 1
#define RUSAGE_CHILDREN (-1)

/* struct rusage (x86-64): user and system time (timevals), then 14 longs of which we
 * fill the voluntary and involuntary context switches (the last two). All CPU time is
 * user time (cpu_clock_ns). No children: those are zero. */
static long do_getrusage(struct app_thread *at, int64_t who, uint64_t buf)
{
	int64_t ru[18] = {0};
	uint64_t ns = 0, v = 0, iv = 0;

	if (who == RUSAGE_SELF) {
		ns = app_cpu_ns(at->app, &v, &iv);
	} else if (who == RUSAGE_THREAD) {
		ns = thread_cpu_ns(thread_self());
		thread_switches(thread_self(), &v, &iv);
	} else if (who == RUSAGE_CHILDREN) {
		ns = __atomic_load_n(&at->app->children_cpu_ns, __ATOMIC_RELAXED);
	} else {
		return -EINVAL;
	}
	ru[0] = (int64_t)(ns / 1000000000);
	ru[1] = (int64_t)(ns % 1000000000 / 1000);
	ru[16] = (int64_t)v;
	ru[17] = (int64_t)iv;
	return copy_to_app(buf, ru, sizeof(ru));
}

/* times: the process's CPU time in clock ticks (USER_HZ, 100 a second: what musl's and
 * glibc's sysconf(_SC_CLK_TCK) say), all of it user time; returns ticks since boot */
static long do_times(struct app_thread *at, uint64_t buf)
{
	int64_t tms[4] = {(int64_t)(app_cpu_ns(at->app, NULL, NULL) / 10000000), 0, 0, 0};

	if (buf && copy_to_app(buf, tms, sizeof(tms)))
		return -EFAULT;
	return (long)(clock_ns() / 10000000);
}

static long sleep_until(struct app *a, uint64_t clk, uint64_t deadline_ns)
{
	bool ok;
	uint64_t now = clock_of(clk, &ok);

	if (!ok)
		return -EINVAL;
	return deadline_ns > now ? app_sleep(a, clock_ns() + (deadline_ns - now)) : 0;
}

/* a timespec from the app as ns, or -EFAULT / -EINVAL */
static int64_t timespec_ns(uint64_t p)
{
	struct timespec_ t;

	if (copy_from_app(&t, p, sizeof(t)))
		return -EFAULT;
	if (t.sec < 0 || t.nsec < 0 || t.nsec >= 1000000000)
		return -EINVAL;
	return (uint64_t)t.sec > INT64_MAX / 2000000000 ? INT64_MAX / 2
							: t.sec * 1000000000 + t.nsec;
}

/* nanosleep, clock_nanosleep: a relative sleep cut short by a signal says in *rem what
 * was left */
static long do_nanosleep(struct app *a, uint64_t clk, bool abs, uint64_t req, uint64_t rem)
{
	bool ok;
	int64_t ns = timespec_ns(req);

	if (ns < 0)
		return ns;
	uint64_t end = abs ? (uint64_t)ns : clock_of(clk, &ok) + (uint64_t)ns;
	long rc = sleep_until(a, clk, end);

	if (rc == -EINTR && !abs && rem) {
		uint64_t now = clock_of(clk, &ok), left = end > now ? end - now : 0;
		struct timespec_ t = {(int64_t)(left / 1000000000), (int64_t)(left % 1000000000)};

		if (copy_to_app(rem, &t, sizeof(t)))
			return -EFAULT;
	}
	return rc;
}

/* --- futexes: one list of waiters per app, under the app's lock ------------------------ */

#define FUTEX_WAIT	     0
#define FUTEX_WAKE	     1
#define FUTEX_REQUEUE	     3
#define FUTEX_CMP_REQUEUE    4
#define FUTEX_WAIT_BITSET    9
#define FUTEX_WAKE_BITSET    10
#define FUTEX_PRIVATE	     128
#define FUTEX_CLOCK_REALTIME 256

long hp_futex_wake(struct app *a, uint64_t uaddr, uint32_t n)
{
	long woken = 0;

	mutex_lock(&a->lock, NO_DEADLINE);
	for (struct futex_waiter **pp = &a->futexes; *pp && (uint32_t)woken < n;) {
		struct futex_waiter *w = *pp;

		if (w->uaddr != uaddr) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		struct thread *t = w->t;

		/* after this store the waiter may return and its node (on its stack) go */
		__atomic_store_n(&w->woken, 1, __ATOMIC_SEQ_CST);
		sched_wake(t);
		woken++;
	}
	mutex_unlock(&a->lock);
	return woken;
}

static long futex_wait(struct app *a, uint64_t uaddr, uint32_t val, uint64_t deadline)
{
	struct futex_waiter w = {.uaddr = uaddr, .t = thread_self()};
	uint32_t now;
	long rc = 0;

	if (uaddr & 3)
		return -EINVAL;
	mutex_lock(&a->lock, NO_DEADLINE);
	if (copy_from_app(&now, uaddr, 4))
		rc = -EFAULT;
	else if (now != val)
		rc = -EAGAIN;
	if (rc) {
		mutex_unlock(&a->lock);
		return rc;
	}
	w.next = a->futexes;
	a->futexes = &w;
	mutex_unlock(&a->lock);
	/* a wake due soon (the other side of a producer/consumer on another CPU) is caught
	 * spinning: no switch here, no IPI for the waker */
	uint64_t t0 = clock_ns();

	if (sched_spin_until(&w.woken)) {
		sched_spin_learn(clock_ns() - t0);
		return 0;
	}
	while (!__atomic_load_n(&w.woken, __ATOMIC_SEQ_CST)) {
		if (hp_interrupted(a)) {
			rc = -EINTR;
			break;
		}
		if (sched_block(deadline) == -ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	if (!rc) {
		sched_spin_learn(clock_ns() - t0);
		return 0;
	}
	mutex_lock(&a->lock, NO_DEADLINE);
	if (__atomic_load_n(&w.woken, __ATOMIC_SEQ_CST)) {
		rc = 0; /* woken after all: a wake is never lost */
	} else {
		for (struct futex_waiter **pp = &a->futexes; *pp; pp = &(*pp)->next) {
			if (*pp == &w) {
				*pp = w.next;
				break;
			}
		}
	}
	mutex_unlock(&a->lock);
	return rc;
}

static long futex_requeue(struct app *a, uint64_t uaddr, uint32_t nwake, uint32_t nmove,
			  uint64_t uaddr2, bool cmp, uint32_t val3)
{
	long done = 0;
	uint32_t moved = 0;

	mutex_lock(&a->lock, NO_DEADLINE);
	if (cmp) {
		uint32_t now;

		if (copy_from_app(&now, uaddr, 4) || now != val3) {
			mutex_unlock(&a->lock);
			return copy_from_app(&now, uaddr, 4) ? -EFAULT : -EAGAIN;
		}
	}
	for (struct futex_waiter **pp = &a->futexes; *pp;) {
		struct futex_waiter *w = *pp;

		if (w->uaddr != uaddr) {
			pp = &w->next;
			continue;
		}
		if ((uint32_t)done < nwake) {
			*pp = w->next;
			struct thread *t = w->t;

			__atomic_store_n(&w->woken, 1, __ATOMIC_SEQ_CST);
			sched_wake(t);
			done++;
			continue;
		}
		if (moved < nmove) {
			w->uaddr = uaddr2;
			moved++;
		}
		pp = &w->next;
	}
	mutex_unlock(&a->lock);
	return cmp ? done + moved : done;
}

static long do_futex(struct app *a, uint64_t uaddr, uint64_t op, uint64_t val, uint64_t tsp,
		     uint64_t uaddr2, uint64_t val3)
{
	uint64_t cmd = op & ~(uint64_t)(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME),
		 deadline = NO_DEADLINE;

	if (!app_range(uaddr, 4))
		return -EFAULT;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (tsp) {
			int64_t ns = timespec_ns(tsp);
			bool ok;

			if (ns < 0)
				return ns;
			if (cmd == FUTEX_WAIT) { /* relative */
				deadline = clock_ns() + (uint64_t)ns;
			} else { /* absolute, on the clock op names */
				uint64_t now = clock_of(op & FUTEX_CLOCK_REALTIME ? 0 : 1, &ok);

				deadline =
				    clock_ns() + ((uint64_t)ns > now ? (uint64_t)ns - now : 0);
			}
		}
		return futex_wait(a, uaddr, (uint32_t)val, deadline);
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return hp_futex_wake(a, uaddr, (uint32_t)val);
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE:
		if (!app_range(uaddr2, 4))
			return -EFAULT;
		return futex_requeue(a, uaddr, (uint32_t)val, (uint32_t)tsp, uaddr2,
				     cmd == FUTEX_CMP_REQUEUE, (uint32_t)val3);
	}
	return -ENOSYS;
}

/* --- identity ------------------------------------------------------------------------------ */

/* uname: the version field names the mode and the platform ("hp mode on xen-pv") */
static long do_uname(uint64_t buf)
{
	char u[6][65] = {"Amphi", "amphi", "0.1", "", "x86_64", ""};

	ksnprintf(u[3], sizeof(u[3]), "%s mode on %s", cur()->app->normal ? "normal" : "hp",
		  hal->name);
	return copy_to_app(buf, u, sizeof(u));
}

/* sysinfo: uptime, memory (in bytes: mem_unit 1), one process */
static long do_sysinfo(uint64_t buf)
{
	uint8_t si[112] = {0};
	int64_t up = (int64_t)(uptime_ns() / 1000000000);
	uint64_t total, free;
	uint16_t procs = 1;
	uint32_t unit = 1;

	total = mm_usable_kib() << 10;
	free = mm_free_kib() << 10;
	memcpy(si + 0, &up, 8);
	memcpy(si + 32, &total, 8);
	memcpy(si + 40, &free, 8);
	memcpy(si + 80, &procs, 2);
	memcpy(si + 104, &unit, 4);
	return copy_to_app(buf, si, sizeof(si));
}

#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003

static long do_arch_prctl(uint64_t code, uint64_t addr)
{
	if (code == ARCH_SET_FS) {
		if (addr >= USER_TOP)
			return -EPERM;
		thread_set_fs_base(addr);
		return 0;
	}
	if (code == ARCH_GET_FS) {
		uint64_t v = thread_fs_base();

		return copy_to_app(addr, &v, 8);
	}
	return -EINVAL;
}

/* common/random's bytes (never blocks: seeded at boot); at most 32 MiB a call, as Linux */
static long do_getrandom(uint64_t buf, uint64_t len)
{
	uint8_t chunk[256];

	if (!app_range(buf, len))
		return -EFAULT;
	len = MIN(len, 1ull << 25);
	for (uint64_t i = 0; i < len; i += sizeof(chunk)) {
		size_t k = MIN(sizeof(chunk), len - i);

		random_bytes(chunk, k);
		if (copy_to_app(buf + i, chunk, k))
			return i ? (long)i : -EFAULT;
	}
	return (long)len;
}

#define RLIMIT_STACK  3
#define RLIMIT_NOFILE 7

/* Limits as they are: the stack, and RLIMIT_NOFILE (1024 soft and 4096 hard descriptors
 * at the start, as Linux; lowered freely, the hard limit raised by root only (euid 0, as
 * CAP_SYS_RESOURCE on Linux) and only up to the table's APP_FDS_MAX, as Linux's nr_open);
 * the rest unlimited, and a change to them refused (-EPERM) rather than pretended. */
static long do_prlimit(struct app *a, uint64_t pid, uint64_t res, uint64_t newp, uint64_t oldp)
{
	uint64_t lim[2] = {UINT64_MAX, UINT64_MAX}, want[2];

	if (pid && pid != (uint64_t)a->pid)
		return -ESRCH;
	if (res >= 16)
		return -EINVAL;
	if (newp && copy_from_app(want, newp, sizeof(want)))
		return -EFAULT;
	mutex_lock(&a->lock, NO_DEADLINE);
	if (res == RLIMIT_STACK)
		lim[0] = lim[1] = APP_STACK_SIZE;
	if (res == RLIMIT_NOFILE)
		memcpy(lim, a->nofile, sizeof(lim));
	long rc = 0;

	if (newp) {
		if (want[0] > want[1])
			rc = -EINVAL;
		else if (res != RLIMIT_NOFILE)
			rc = want[0] == lim[0] && want[1] == lim[1] ? 0 : -EPERM;
		else if (want[1] > APP_FDS_MAX || (want[1] > a->nofile[1] && a->uid[1] != 0))
			rc = -EPERM; /* more descriptors than the table has, or not root */
	}
	if (!rc && oldp)
		rc = copy_to_app(oldp, lim, sizeof(lim));
	if (!rc && newp && res == RLIMIT_NOFILE)
		memcpy(a->nofile, want, sizeof(want));
	mutex_unlock(&a->lock);
	return rc;
}

/* Credentials (struct app): Linux's rules for a process with and without CAP_SETUID,
 * which here is being euid 0. ids[] is uid[] or gid[]; -1 (as a u32) leaves one as it is. */
static bool id_allowed(struct app *a, const uint32_t ids[3], uint32_t v)
{
	return v == UINT32_MAX || a->uid[1] == 0 || v == ids[0] || v == ids[1] || v == ids[2];
}

static long set_ids(struct app *a, uint32_t ids[3], uint32_t r, uint32_t e, uint32_t s)
{
	long rc = 0;

	mutex_lock(&a->lock, NO_DEADLINE);
	if (!id_allowed(a, ids, r) || !id_allowed(a, ids, e) || !id_allowed(a, ids, s)) {
		rc = -EPERM;
	} else {
		if (r != UINT32_MAX)
			ids[0] = r;
		if (e != UINT32_MAX)
			ids[1] = e;
		if (s != UINT32_MAX)
			ids[2] = s;
	}
	mutex_unlock(&a->lock);
	return rc;
}

/* setuid/setgid: privileged, all three; otherwise the effective one, to the real or saved */
static long set_id(struct app *a, uint32_t ids[3], uint32_t v)
{
	if (v == UINT32_MAX)
		return -EINVAL;
	if (a->uid[1] == 0)
		return set_ids(a, ids, v, v, v);
	return v == ids[0] || v == ids[2] ? set_ids(a, ids, UINT32_MAX, v, UINT32_MAX) : -EPERM;
}

/* setreuid/setregid: setting the real one, or the effective one to other than the real,
 * sets the saved one to the new effective one */
static long set_re(struct app *a, uint32_t ids[3], uint32_t r, uint32_t e)
{
	uint32_t s = UINT32_MAX, neweff = e != UINT32_MAX ? e : ids[1];

	if (r != UINT32_MAX || (e != UINT32_MAX && e != ids[0]))
		s = neweff;
	if (a->uid[1] != 0 && r != UINT32_MAX && r != ids[0] && r != ids[1])
		return -EPERM;
	return set_ids(a, ids, r, e, s);
}

static long get_res(uint32_t ids[3], uint64_t r, uint64_t e, uint64_t s)
{
	return copy_to_app(r, &ids[0], 4) || copy_to_app(e, &ids[1], 4) || copy_to_app(s, &ids[2], 4)
		   ? -EFAULT
		   : 0;
}

static long do_setgroups(struct app *a, uint64_t n, uint64_t list)
{
	uint32_t g[32];

	if (n > ARRAY_SIZE(g))
		return -EINVAL; /* (more than this kernel keeps) */
	if (a->uid[1] != 0)
		return -EPERM;
	if (n && copy_from_app(g, list, n * 4))
		return -EFAULT;
	mutex_lock(&a->lock, NO_DEADLINE);
	memcpy(a->groups, g, n * 4);
	a->ngroups = (unsigned)n;
	mutex_unlock(&a->lock);
	return 0;
}

static long do_getgroups(struct app *a, uint64_t size, uint64_t list)
{
	int n = (int)a->ngroups;

	if ((int64_t)(int32_t)size < 0)
		return -EINVAL;
	if (!size)
		return n;
	if (size < (uint64_t)n)
		return -EINVAL;
	return n && copy_to_app(list, a->groups, (size_t)n * 4) ? -EFAULT : n;
}

#define PR_SET_NAME 15
#define PR_GET_NAME 16

static long do_prctl(struct app_thread *at, uint64_t op, uint64_t arg)
{
	char name[16];

	if (op == PR_SET_NAME) {
		long n = strcpy_from_app(name, arg, sizeof(name));

		if (n == -ENAMETOOLONG) { /* (Linux keeps the first 15 bytes) */
			if (copy_from_app(name, arg, 15))
				return -EFAULT;
			name[15] = 0;
		} else if (n < 0) {
			return n;
		}
		memcpy(at->comm, name, sizeof(name));
		return 0;
	}
	if (op == PR_GET_NAME)
		return copy_to_app(arg, at->comm, sizeof(at->comm));
	return -EINVAL; /* (the other options: not here) */
}

/* readlink: /proc/self/exe is the app's path; the tar tree's symbolic links are not
 * followed or read (hp/README.md), so anything else that exists is "not a link" */
static long do_fcntl(struct app *a, uint64_t fd, uint64_t cmd, uint64_t arg)
{
	struct app_fd *f = fd_get(a, fd);

	if (!f)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return fd_dup(a, fd, -1, (uint64_t)(int64_t)(int32_t)arg, cmd == F_DUPFD_CLOEXEC);
	case F_GETFD:
		return a->cloexec[fd] ? FD_CLOEXEC : 0;
	case F_SETFD:
		a->cloexec[fd] = (arg & FD_CLOEXEC) != 0;
		return 0;
	case F_GETFL: {
		long acc = f->kind == FD_FILE	? (f->wr ? (f->rd ? O_RDWR : O_WRONLY) : 0) |
							  (f->append ? 02000 : 0)
			   : f->kind == FD_PIPE ? (f->wr ? O_WRONLY : 0)
			   : f->kind == FD_DISK ? (long)f->mode
						: O_RDWR;

		return acc | (f->nonblock ? O_NONBLOCK : 0);
	}
	case F_SETFL: /* (of the flags F_SETFL may change, only O_NONBLOCK means something here) */
		__atomic_store_n(&f->nonblock, (arg & O_NONBLOCK) != 0, __ATOMIC_RELAXED);
		return 0;
	}
	return -EINVAL;
}

/* --- the table ------------------------------------------------------------------------------- */

enum {
	SYS_read = 0,
	SYS_write = 1,
	SYS_open = 2,
	SYS_close = 3,
	SYS_fstat = 5,
	SYS_poll = 7,
	SYS_lseek = 8,
	SYS_fsync = 74,
	SYS_fdatasync = 75,
	SYS_mmap = 9,
	SYS_mprotect = 10,
	SYS_munmap = 11,
	SYS_brk = 12,
	SYS_rt_sigaction = 13,
	SYS_rt_sigreturn = 15,
	SYS_pause = 34,
	SYS_kill = 62,
	SYS_rt_sigpending = 127,
	SYS_rt_sigtimedwait = 128,
	SYS_rt_sigsuspend = 130,
	SYS_tkill = 200,
	SYS_tgkill = 234,
	SYS_rt_sigprocmask = 14,
	SYS_ioctl = 16,
	SYS_readv = 19,
	SYS_writev = 20,
	SYS_sched_yield = 24,
	SYS_getrusage = 98,
	SYS_times = 100,
	SYS_sched_setaffinity = 203,
	SYS_sched_getaffinity = 204,
	SYS_getcpu = 309,
	SYS_madvise = 28,
	SYS_mremap = 25,
	SYS_nanosleep = 35,
	SYS_getpid = 39,
	SYS_clone = 56,
	SYS_fork = 57,
	SYS_vfork = 58,
	SYS_execve = 59,
	SYS_wait4 = 61,
	SYS_waitid = 247,
	SYS_exit = 60,
	SYS_uname = 63,
	SYS_fcntl = 72,
	SYS_gettimeofday = 96,
	SYS_getrlimit = 97,
	SYS_getuid = 102,
	SYS_getgid = 104,
	SYS_geteuid = 107,
	SYS_getegid = 108,
	SYS_getppid = 110,
	SYS_sigaltstack = 131,
	SYS_arch_prctl = 158,
	SYS_gettid = 186,
	SYS_time = 201,
	SYS_futex = 202,
	SYS_set_tid_address = 218,
	SYS_clock_gettime = 228,
	SYS_clock_getres = 229,
	SYS_clock_nanosleep = 230,
	SYS_exit_group = 231,
	SYS_openat = 257,
	SYS_newfstatat = 262,
	SYS_set_robust_list = 273,
	SYS_prlimit64 = 302,
	SYS_getrandom = 318,
	SYS_socket = 41,
	SYS_connect = 42,
	SYS_accept = 43,
	SYS_sendto = 44,
	SYS_recvfrom = 45,
	SYS_shutdown = 48,
	SYS_bind = 49,
	SYS_listen = 50,
	SYS_getsockname = 51,
	SYS_setsockopt = 54,
	SYS_getsockopt = 55,
	SYS_accept4 = 288,
	SYS_sysinfo = 99,
	SYS_stat = 4,
	SYS_lstat = 6,
	SYS_pread64 = 17,
	SYS_access = 21,
	SYS_faccessat = 269,
	SYS_pipe = 22,
	SYS_select = 23,
	SYS_dup = 32,
	SYS_dup2 = 33,
	SYS_epoll_create = 213,
	SYS_epoll_wait = 232,
	SYS_epoll_ctl = 233,
	SYS_pselect6 = 270,
	SYS_ppoll = 271,
	SYS_epoll_pwait = 281,
	SYS_eventfd = 284,
	SYS_eventfd2 = 290,
	SYS_epoll_create1 = 291,
	SYS_dup3 = 292,
	SYS_pipe2 = 293,
	SYS_setrlimit = 160,
	SYS_setuid = 105,
	SYS_setgid = 106,
	SYS_setreuid = 113,
	SYS_setregid = 114,
	SYS_getgroups = 115,
	SYS_setgroups = 116,
	SYS_setresuid = 117,
	SYS_getresuid = 118,
	SYS_setresgid = 119,
	SYS_getresgid = 120,
	SYS_setfsuid = 122,
	SYS_setfsgid = 123,
	SYS_umask = 95,
	SYS_prctl = 157,
	SYS_readlink = 89,
	SYS_readlinkat = 267,
	SYS_sendmsg = 46,
	SYS_recvmsg = 47,
	SYS_getpeername = 52,
	SYS_recvmmsg = 299,
	SYS_sendmmsg = 307,
	SYS_getcwd = 79,
	SYS_chdir = 80,
	SYS_fchdir = 81,
	SYS_getdents64 = 217,
};



static long dispatch(struct app_thread *at, struct syscall_frame *f);

/* whether EPIPE from this call sends SIGPIPE: a write, or a send without MSG_NOSIGNAL */
static bool sigpipe(const struct syscall_frame *f)
{
	const uint64_t nosignal = 0x4000;

	switch (f->nr) {
	case SYS_write:
	case SYS_writev:
	case 18: /* pwrite64 */
	case 296: /* pwritev */
	case 40: /* sendfile */
		return true;
	case SYS_sendto:
	case SYS_sendmmsg:
		return !(f->r10 & nosignal);
	case SYS_sendmsg:
		return !(f->rdx & nosignal);
	}
	return false;
}

long hp_syscall(struct syscall_frame *f)
{
	struct app_thread *at = cur();
	struct app *a = at->app;

	__atomic_add_fetch(&a->syscalls, 1, __ATOMIC_RELAXED);
	if (hp_thread_ends(at))
		hp_exit(at, a->status, false);
	long r = dispatch(at, f);

	if (hp_thread_ends(at))
		hp_exit(at, a->status, false);
	if (r == -EPIPE && sigpipe(f))
		hp_sig_pipe(at);
	if (r == -EINTR || at->sig_restore_set || hp_sig_ready(at))
		r = hp_sig_syscall_end(at, f, r);
	if (f->rip >= USER_TOP)
		hp_kill(at, SIGSEGV, "its syscall returns outside the user range", f->rip);
	return r;
}

/* The memory calls, one at a time per app: two threads unmapping one page must not free
 * its frame twice, nor one map a page another is unmapping. */
static long do_memory(struct app *a, uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3,
		      uint64_t a4, uint64_t a5, uint64_t a6)
{
	long r;

	if (a->vm_parent)
		a = a->vm_parent; /* (a vfork child: the mappings are its parent's) */
	mutex_lock(&a->mm_lock, NO_DEADLINE);
	switch (nr) {
	case SYS_brk:
		r = do_brk(a, a1);
		break;
	case SYS_mmap:
		r = do_mmap(a, a1, a2, a3, a4, (int64_t)a5, a6);
		break;
	case SYS_munmap:
		r = do_munmap(a, a1, a2);
		break;
	case SYS_mprotect:
		r = do_mprotect(a, a1, a2, a3);
		break;
	case SYS_mremap:
		r = do_mremap(a, a1, a2, a3, a4);
		break;
	default: /* SYS_madvise */
		r = do_madvise(a, a1, a2, a3);
	}
	mutex_unlock(&a->mm_lock);
	return r;
}

static long dispatch(struct app_thread *at, struct syscall_frame *f)
{
	struct app *a = at->app;
	uint64_t a1 = f->rdi, a2 = f->rsi, a3 = f->rdx, a4 = f->r10, a5 = f->r8, a6 = f->r9;
	struct app_fd *fd;
	long r;

	switch (f->nr) {
	case SYS_read:
		if (!(fd = fd_get(a, a1)))
			return -EBADF;
		/* (fd_read and fd_write serve files, /dev/null and the console) */
		return fd->kind == FD_SOCKET ? hp_sock_recvfrom(a, a1, a2, a3, 0, 0, 0)
					     : fd_read(a, fd, a2, a3);
	case SYS_write:
		if (!(fd = fd_get(a, a1)))
			return -EBADF;
		return fd->kind == FD_SOCKET ? hp_sock_sendto(a, a1, a2, a3, 0, 0, 0)
					     : fd_write(a, fd, a2, a3);
	case SYS_readv:
		return do_rw_vec(a, a1, a2, a3, false);
	case SYS_writev:
		return do_rw_vec(a, a1, a2, a3, true);
	case SYS_open:
		return do_open(a, AT_FDCWD, a1, a2, a3);
	case SYS_openat:
		return do_open(a, (int32_t)a1, a2, a3, a4);
	case SYS_stat:
	case SYS_lstat:
		return do_stat_path(a, AT_FDCWD, a1, a2, f->nr == SYS_stat);
	case SYS_fchdir:
		if (!(fd = fd_get(a, a1)))
			return -EBADF;
		if (fd->kind != FD_FILE || !fd->dir)
			return -ENOTDIR;
		strlcpy(a->cwd, fd->dpath, sizeof(a->cwd));
		return 0;
	case SYS_getdents64:
		if (!(fd = fd_get(a, a1)))
			return -EBADF;
		return fd->kind == FD_FILE   ? hp_fs_getdents(fd, a2, a3)
		       : fd->kind == FD_PROC ? hp_proc_getdents(fd, a2, a3)
					     : -ENOTDIR;
	case SYS_pread64:
		return do_prw(a, a1, a2, a3, (int64_t)a4, false, false);
	case 18: /* pwrite64 */
		return do_prw(a, a1, a2, a3, (int64_t)a4, true, false);
	case 295: /* preadv */
		return do_prw(a, a1, a2, a3, (int64_t)a4, false, true);
	case 296: /* pwritev */
		return do_prw(a, a1, a2, a3, (int64_t)a4, true, true);
	case 40: /* sendfile */
		return do_sendfile(a, a1, a2, a3, a4);
	case 332: /* statx */
		return do_statx(a, (int32_t)a1, a2, a3, a5);
	case SYS_close:
		return hp_fd_close(a, a1);
	case SYS_socket:
		return hp_socket(a, a1, a2, a3);
	case SYS_bind:
		return hp_sock_bind(a, a1, a2, a3);
	case SYS_listen:
		return hp_sock_listen(a, a1, a2);
	case SYS_accept:
		return hp_sock_accept(a, a1, a2, a3, 0);
	case SYS_accept4:
		return hp_sock_accept(a, a1, a2, a3, a4);
	case SYS_connect:
		return hp_sock_connect(a, a1, a2, a3);
	case SYS_sendto:
		return hp_sock_sendto(a, a1, a2, a3, a4, a5, a6);
	case SYS_recvfrom:
		return hp_sock_recvfrom(a, a1, a2, a3, a4, a5, a6);
	case SYS_sendmsg:
		return hp_sock_msg(a, a1, a2, a3, true);
	case SYS_recvmsg:
		return hp_sock_msg(a, a1, a2, a3, false);
	case SYS_sendmmsg:
		return hp_sock_mmsg(a, a1, a2, a3, a4, 0, true);
	case SYS_recvmmsg:
		return hp_sock_mmsg(a, a1, a2, a3, a4, a5, false);
	case SYS_getpeername:
		return hp_sock_peer(a, a1, a2, a3);
	case SYS_getsockname:
		return hp_sock_name(a, a1, a2, a3);
	case SYS_setsockopt:
		return hp_sock_opt(a, a1, a2, a3, a4, a5, true);
	case SYS_getsockopt:
		return hp_sock_opt(a, a1, a2, a3, a4, a5, false);
	case SYS_shutdown:
		return hp_sock_shutdown(a, a1, a2);
	case SYS_fstat:
		return do_fstat(a, a1, a2);
	case SYS_newfstatat: {
		char p[2];

		if ((a4 & AT_EMPTY_PATH) && strcpy_from_app(p, a2, sizeof(p)) == 0)
			return do_fstat(a, a1, a3);
		return do_stat_path(a, (int32_t)a1, a2, a3, !(a4 & 0x100));
	}
	case SYS_lseek:
		if (!(fd = fd_get(a, a1)))
			return -EBADF;
		return fd->kind == FD_FILE || fd->kind == FD_DISK || fd->kind == FD_PROC
			       ? hp_fs_lseek(fd, (int64_t)a2, a3)
		       : fd->kind == FD_NULL || fd->kind == FD_ZERO ? 0
					     : -ESPIPE;
	case SYS_ioctl:
		return do_ioctl(a, a1, a2, a3);
	case SYS_fsync:
	case SYS_fdatasync: /* a disk's cache flushed; the tree is read-only; others EINVAL */
		if (!(fd = fd_get(a, a1)))
			return -EBADF;
		return fd->kind == FD_DISK ? hp_disk_fsync(fd) : fd->kind == FD_FILE ? 0 : -EINVAL;
	case SYS_fcntl:
		return do_fcntl(a, a1, a2, a3);
	case SYS_dup:
		return fd_dup(a, a1, -1, 0, false);
	case SYS_dup2:
		return fd_dup(a, a1, (int64_t)(int32_t)a2, 0, false);
	case SYS_dup3:
		if (a3 & ~(uint64_t)O_CLOEXEC)
			return -EINVAL;
		if (a1 == a2)
			return -EINVAL;
		return fd_dup(a, a1, (int64_t)(int32_t)a2, 0, a3 != 0);
	case SYS_pipe:
		return hp_pipe(a, a1, 0);
	case SYS_pipe2:
		return hp_pipe(a, a1, a2);
	case SYS_eventfd:
		return hp_eventfd(a, a1, 0);
	case SYS_eventfd2:
		return hp_eventfd(a, a1, a2);
	case SYS_epoll_create:
		return (int)a1 <= 0 ? -EINVAL : hp_epoll_create(a, 0);
	case SYS_epoll_create1:
		return hp_epoll_create(a, a1);
	case SYS_epoll_ctl:
		return hp_epoll_ctl(a, a1, a2, a3, a4);
	case SYS_epoll_pwait:
		if ((r = hp_sig_mask_swap(at, a5, a6)))
			return r;
		/* fall through */
	case SYS_epoll_wait:
		return hp_epoll_wait(a, a1, a2, (uint64_t)(int64_t)(int32_t)a3,
				     (int64_t)(int32_t)a4);
	case SYS_select:
		return hp_select(a, a1, a2, a3, a4, a5, false);
	case SYS_pselect6: {
		uint64_t m[2] = {0, 0}; /* the mask's address and size */

		if (a6 && copy_from_app(m, a6, sizeof(m)))
			return -EFAULT;
		if ((r = hp_sig_mask_swap(at, m[0], m[1])))
			return r;
		return hp_select(a, a1, a2, a3, a4, a5, true);
	}
	case SYS_ppoll:
		if ((r = hp_sig_mask_swap(at, a4, a5)))
			return r;
		return hp_ppoll(a, a1, a2, a3);
	case SYS_poll:
		return hp_poll(a, a1, a2, (int64_t)(int)a3);
	case SYS_brk:
	case SYS_mmap:
	case SYS_munmap:
	case SYS_mprotect:
	case SYS_madvise:
	case SYS_mremap:
		return do_memory(a, f->nr, a1, a2, a3, a4, a5, a6);
	case SYS_rt_sigaction:
	case SYS_rt_sigprocmask:
	case SYS_rt_sigreturn:
	case SYS_sigaltstack:
	case SYS_rt_sigpending:
	case SYS_rt_sigsuspend:
	case SYS_rt_sigtimedwait:
	case SYS_pause:
	case SYS_kill:
	case SYS_tkill:
	case SYS_tgkill:
		return hp_sig_call(at, f);
	case SYS_sched_yield:
		thread_yield();
		return 0;
	case SYS_nanosleep:
		return do_nanosleep(a, 1, false, a1, a2);
	case SYS_clock_nanosleep:
		return do_nanosleep(a, a1, a2 & 1, a3, a4);
	case SYS_clock_gettime: /* (a clockid_t is an int: a CPU-time clock's is negative) */
		return do_clock_gettime(at, (uint64_t)(int64_t)(int32_t)a1, a2);
	case SYS_clock_getres: {
		struct timespec_ t = {0, 1};
		uint64_t ns;
		bool ok = true;

		if (is_cpu_clock((uint64_t)(int64_t)(int32_t)a1))
			ok = !cpu_clock_ns(at, (int32_t)a1, &ns);
		else
			clock_of(a1, &ok);
		return !ok ? -EINVAL : a2 ? copy_to_app(a2, &t, sizeof(t)) : 0;
	}
	case SYS_sched_getaffinity:
		return do_getaffinity(at, (int64_t)(int32_t)a1, a2, a3);
	case SYS_sched_setaffinity:
		return do_setaffinity(at, (int64_t)(int32_t)a1, a2, a3);
	case SYS_getcpu:
		return do_getcpu(a1, a2);
	case SYS_getrusage:
		return do_getrusage(at, (int64_t)(int32_t)a1, a2);
	case SYS_times:
		return do_times(at, a1);
	case SYS_gettimeofday: {
		uint64_t ns = wallclock_ns();
		int64_t tv[2] = {(int64_t)(ns / 1000000000), (int64_t)(ns % 1000000000 / 1000)};

		return a1 ? copy_to_app(a1, tv, sizeof(tv)) : 0;
	}
	case SYS_time: {
		int64_t t = (int64_t)(wallclock_ns() / 1000000000);

		if (a1 && copy_to_app(a1, &t, 8))
			return -EFAULT;
		return t;
	}
	case SYS_getpid:
		return a->pid;
	case SYS_gettid:
		return at->tid;
	case SYS_getppid: {
		mutex_lock(&a->top->proc_lock, NO_DEADLINE);
		int ppid = a->parent ? a->parent->pid : 0;

		mutex_unlock(&a->top->proc_lock);
		return ppid;
	}
	case SYS_fork:
		return hp_fork(at, f, SIGCHLD, 0, 0);
	case SYS_vfork: /* (the child on the parent's stack, the parent stopped: as Linux) */
		return hp_fork(at, f, SIGCHLD | CLONE_VFORK_ | CLONE_VM_, 0, 0);
	case SYS_wait4:
		return hp_wait4(at, (int64_t)(int32_t)a1, a2, a3, a4);
	case SYS_waitid:
		return hp_waitid(at, a1, a2, a3, a4, a5);
	case 109: /* setpgid */
	case 111: /* getpgrp */
	case 112: /* setsid */
	case 121: /* getpgid */
	case 124: /* getsid */
		return hp_proc_ids(at, f);
	case SYS_execve:
		return hp_execve(at, f, a1, a2, a3);
	case SYS_getuid:
		return a->uid[0];
	case SYS_geteuid:
		return a->uid[1];
	case SYS_getgid:
		return a->gid[0];
	case SYS_getegid:
		return a->gid[1];
	case SYS_setuid:
		return set_id(a, a->uid, (uint32_t)a1);
	case SYS_setgid:
		return set_id(a, a->gid, (uint32_t)a1);
	case SYS_setreuid:
		return set_re(a, a->uid, (uint32_t)a1, (uint32_t)a2);
	case SYS_setregid:
		return set_re(a, a->gid, (uint32_t)a1, (uint32_t)a2);
	case SYS_setresuid:
		return set_ids(a, a->uid, (uint32_t)a1, (uint32_t)a2, (uint32_t)a3);
	case SYS_setresgid:
		return set_ids(a, a->gid, (uint32_t)a1, (uint32_t)a2, (uint32_t)a3);
	case SYS_getresuid:
		return get_res(a->uid, a1, a2, a3);
	case SYS_getresgid:
		return get_res(a->gid, a1, a2, a3);
	case SYS_setfsuid: /* (the old one; the file-system ids follow the effective ones) */
		return a->uid[1];
	case SYS_setfsgid:
		return a->gid[1];
	case SYS_getgroups:
		return do_getgroups(a, a1, a2);
	case SYS_setgroups:
		return do_setgroups(a, a1, a2);
	case SYS_umask: {
		uint32_t old = __atomic_exchange_n(&a->umask, (uint32_t)a1 & 0777, __ATOMIC_RELAXED);

		return old;
	}
	case SYS_prctl:
		return do_prctl(at, a1, a2);
	case SYS_uname:
		return do_uname(a1);
	case SYS_sysinfo:
		return do_sysinfo(a1);
	case SYS_arch_prctl:
		return do_arch_prctl(a1, a2);
	case SYS_set_tid_address:
		at->clear_tid = a1;
		return at->tid;
	case SYS_clone:
		return hp_clone(at, f, a1, a2, a3, a4, a5);
	case SYS_futex:
		return do_futex(a, a1, a2, a3, a4, a5, a6);
	case SYS_set_robust_list:
		return 0;
	case SYS_getrlimit:
		return a2 ? do_prlimit(a, 0, a1, 0, a2) : -EFAULT;
	case SYS_setrlimit:
		return do_prlimit(a, 0, a1, a2, 0);
	case SYS_prlimit64:
		return do_prlimit(a, a1, a2, a3, a4);
	case SYS_getrandom: /* (GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE: all the same here) */
		return a3 & ~7ull ? -EINVAL : do_getrandom(a1, a2);
	case SYS_exit:
		hp_exit(at, (int)(a1 & 0xff), false);
	case SYS_exit_group:
		hp_exit(at, (int)(a1 & 0xff), true);
	}
	long fr = hp_fs_call(a, f); /* (the file tree's calls by path: hp/fs.c) */

	if (fr != -ENOSYS)
		return fr;
	enosys_log(a, f->nr);
	return -ENOSYS;
}
