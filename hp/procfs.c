/* A small /proc (hp/README.md "/proc"): what busybox's ps, free, uptime and top read, and
 * what programs look up about themselves. Every file is made whole when it is opened (a
 * snapshot, as a read of Linux's seq files at offset 0 is), into the description
 * (FD_PROC); a directory's names are made at open too.
 *
 *   /proc/self -> PID, /proc/PID/{stat,statm,status,cmdline,comm,exe,cwd,fd/}, cpuinfo,
 *   meminfo, stat, uptime, loadavg, mounts, version, filesystems */
#include "hp/hp.h"

#include <stdarg.h>

#include "arch_x86_64/cpu.h"
#include "common/hal.h"
#include "hp/vfs.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"

#define PROC_MAX   (32u << 10) /* a file's bytes at most */
#define HZ	   100
#define S_IFDIR	   0040000
#define S_IFREG	   0100000
#define S_IFLNK	   0120000
#define DT_DIR	   4
#define DT_REG	   8
#define DT_LNK	   10

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __printf(2, 3);
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	if (!b->p || b->len + 1 >= b->cap)
		return;
	va_start(ap, fmt);
	int n = kvsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);

	va_end(ap);
	b->len = MIN(b->len + (size_t)n, b->cap - 1);
}

/* a directory's entry: name, type */
static void entry(struct buf *b, const char *name, char type)
{
	size_t n = strlen(name);

	if (b->p && b->len + n + 2 < b->cap) {
		memcpy(b->p + b->len, name, n + 1);
		b->p[b->len + n + 1] = type;
		b->len += n + 2;
	}
}

/* the path below /proc of path against base ("" for /proc itself), or NULL when it is
 * not in /proc; normalised ("." and ".." applied, "self" as the caller's pid) */
static const char *below_proc(struct app *a, const char *base, const char *path, char *out,
			      size_t size)
{
	char full[VFS_PATH_MAX + 256];
	size_t n = 0;

	if (path[0] != '/')
		n = (size_t)ksnprintf(full, sizeof(full), "/%s/", base);
	if (n + strlen(path) + 1 > sizeof(full))
		return NULL;
	memcpy(full + n, path, strlen(path) + 1);
	/* normalise into out ("a/b/c", no leading '/') */
	size_t o = 0;

	out[0] = 0;
	for (const char *p = full; *p;) {
		while (*p == '/')
			p++;
		const char *q = p;

		while (*q && *q != '/')
			q++;
		size_t l = (size_t)(q - p);

		if (l == 0)
			break;
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			while (o && out[o - 1] != '/')
				o--;
			o -= o ? 1 : 0;
		} else if (l != 1 || p[0] != '.') {
			if (o + l + 2 >= size)
				return NULL;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, l);
			o += l;
		}
		out[o] = 0;
		p = q;
	}
	if (strncmp(out, "proc", 4) || (out[4] && out[4] != '/'))
		return NULL;
	const char *rest = out[4] ? out + 5 : out + 4;

	/* self: the caller's pid */
	if (!strncmp(rest, "self", 4) && (!rest[4] || rest[4] == '/')) {
		char tmp[VFS_PATH_MAX];

		ksnprintf(tmp, sizeof(tmp), "%d%s", a->pid, rest + 4);
		strlcpy(out, tmp, size);
		return out;
	}
	memmove(out, rest, strlen(rest) + 1);
	return out;
}

/* the CPU's vendor and brand strings (CPUID 0, 0x80000002-4) */
static void cpu_names(char vendor[13], char brand[49])
{
	struct cpuid_regs r = cpuid(0, 0);

	memcpy(vendor, &r.ebx, 4);
	memcpy(vendor + 4, &r.edx, 4);
	memcpy(vendor + 8, &r.ecx, 4);
	vendor[12] = 0;
	brand[0] = 0;
	if (cpuid(0x80000000u, 0).eax >= 0x80000004u) {
		for (uint32_t i = 0; i < 3; i++) {
			r = cpuid(0x80000002u + i, 0);
			memcpy(brand + 16 * i, &r, 16);
		}
		brand[48] = 0;
	}
	char *p = brand;

	while (*p == ' ')
		p++;
	memmove(brand, p, strlen(p) + 1);
}

static uint64_t ticks(uint64_t ns)
{
	return ns / (1000000000ull / HZ);
}

/* (top->proc_lock held: p is not reaped) p's memory in pages: with a frame (its RSS), and
 * those plus the reserved ones (its VSZ); as last counted when its memory calls are busy
 * (a memory call may hold its lock while it waits for something of ours) */
static void mem_pages(struct app *p, uint64_t *rss, uint64_t *vsz)
{
	/* (a vfork child's memory is its parent's, under the parent's lock; a space is freed
	 * under its owner's lock, and no process is reaped while proc_lock is held) */
	struct app *mo = __atomic_load_n(&p->vm_parent, __ATOMIC_ACQUIRE);

	mo = mo ? mo : p;
	if (!p->zombie && mutex_trylock(&mo->mm_lock)) {
		if (mo->space) {
			uint64_t present, reserved;

			mm_space_pages(mo->space, &present, &reserved);
			p->rss_pages = present;
			p->vsz_pages = present + reserved;
		}
		mutex_unlock(&mo->mm_lock);
	}
	*rss = p->zombie ? 0 : p->rss_pages;
	*vsz = p->zombie ? 0 : p->vsz_pages;
}

/* (top->proc_lock held) a process's /proc/PID/stat line */
static void stat_line(struct buf *b, struct app *p, struct app *caller)
{
	const char *comm = p->threads[0].comm[0] ? p->threads[0].comm : p->name;
	char state = p->zombie ? 'Z' : __atomic_load_n(&p->stopped, __ATOMIC_RELAXED) ? 'T'
		     : p == caller ? 'R' : 'S';
	uint64_t cpu = p->zombie ? p->done_cpu_ns : hp_app_cpu_ns(p);
	unsigned threads = p->zombie ? 0 : (unsigned)__atomic_load_n(&p->live, __ATOMIC_RELAXED);
	uint64_t rss, vsz;

	mem_pages(p, &rss, &vsz);
	put(b, "%d (%s) %c %d %d %d %d %d 4194304 0 0 0 0 %lu 0 %lu 0 20 0 %u 0 %lu %lu %lu "
	       "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
	    p->pid, comm, state, p->parent ? p->parent->pid : 0, p->pgid, p->sid, 5 << 8 | 1,
	    p->top->tty_pgrp, (unsigned long)ticks(cpu),
	    (unsigned long)ticks(p->children_cpu_ns), threads ? threads : 1,
	    (unsigned long)ticks(p->start_ns), (unsigned long)vsz * 4096, (unsigned long)rss);
}

/* makes the content of a /proc file (or a directory's names): 0, -ENOENT, -ENOTDIR */
static long make(struct app *a, const char *rel, struct buf *b, bool *dir, bool *link)
{
	struct app *top = a->top;
	char pidpart[16];
	const char *sub = rel;
	int pid = 0;

	*dir = *link = false;
	if (!*rel) { /* /proc */
		*dir = true;
		static const char *const files[] = {"cpuinfo", "meminfo", "stat", "uptime",
						    "loadavg", "mounts", "version", "filesystems"};

		entry(b, "self", DT_LNK);
		for (unsigned i = 0; i < ARRAY_SIZE(files); i++)
			entry(b, files[i], DT_REG);
		mutex_lock(&top->proc_lock, NO_DEADLINE);
		for (struct app *p = top; p; p = p == top ? top->procs : p->next_proc) {
			ksnprintf(pidpart, sizeof(pidpart), "%d", p->pid);
			entry(b, pidpart, DT_DIR);
		}
		mutex_unlock(&top->proc_lock);
		return 0;
	}
	size_t k = 0;

	while (sub[k] >= '0' && sub[k] <= '9' && k < 10)
		pid = pid * 10 + (sub[k++] - '0');
	if (k && (!sub[k] || sub[k] == '/')) {
		sub += k;
		sub += *sub == '/';
		long rc = -ENOENT;

		mutex_lock(&top->proc_lock, NO_DEADLINE);
		struct app *p = hp_proc_find(a, pid);

		if (!p) {
			mutex_unlock(&top->proc_lock);
			return -ENOENT;
		}
		if (!*sub) {
			*dir = true;
			static const char *const files[] = {"stat", "statm", "status", "cmdline",
							    "comm"};

			for (unsigned i = 0; i < ARRAY_SIZE(files); i++)
				entry(b, files[i], DT_REG);
			entry(b, "exe", DT_LNK);
			entry(b, "cwd", DT_LNK);
			entry(b, "fd", DT_DIR);
			rc = 0;
		} else if (!strcmp(sub, "stat")) {
			stat_line(b, p, a);
			rc = 0;
		} else if (!strcmp(sub, "statm")) {
			uint64_t rss, vsz;

			mem_pages(p, &rss, &vsz); /* (shared, text, data: not counted) */
			put(b, "%lu %lu 0 0 0 0 0\n", (unsigned long)vsz, (unsigned long)rss);
			rc = 0;
		} else if (!strcmp(sub, "status")) {
			uint64_t rss, vsz;

			mem_pages(p, &rss, &vsz);
			put(b, "Name:\t%s\nState:\t%s\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n"
			       "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\nVmSize:\t%8lu kB\n"
			       "VmRSS:\t%8lu kB\nThreads:\t%d\n",
			    p->threads[0].comm, p->zombie ? "Z (zombie)"
			    : __atomic_load_n(&p->stopped, __ATOMIC_RELAXED) ? "T (stopped)"
			    : "S (sleeping)", p->pid,
			    p->pid, p->parent ? p->parent->pid : 0, p->uid[0], p->uid[1], p->uid[2],
			    p->uid[1], p->gid[0], p->gid[1], p->gid[2], p->gid[1],
			    (unsigned long)vsz * 4, (unsigned long)rss * 4,
			    __atomic_load_n(&p->live, __ATOMIC_RELAXED));
			rc = 0;
		} else if (!strcmp(sub, "cmdline")) {
			if (b->p && p->cmdline_len < b->cap) {
				memcpy(b->p, p->cmdline, p->cmdline_len);
				b->len = p->cmdline_len;
			}
			rc = 0;
		} else if (!strcmp(sub, "comm")) {
			put(b, "%s\n", p->threads[0].comm);
			rc = 0;
		} else if (!strcmp(sub, "exe")) {
			*link = true;
			put(b, "%s", p->exe);
			rc = 0;
		} else if (!strcmp(sub, "cwd")) {
			*link = true;
			put(b, "/%s", p->cwd);
			rc = 0;
		} else if (!strcmp(sub, "fd")) {
			*dir = true;
			for (int i = 0; i < APP_FDS_MAX; i++)
				if (p->fd[i] >= 0) {
					ksnprintf(pidpart, sizeof(pidpart), "%d", i);
					entry(b, pidpart, DT_LNK);
				}
			rc = 0;
		} else if (!strncmp(sub, "fd/", 3)) {
			int fd = 0;
			const char *d = sub + 3;

			while (*d >= '0' && *d <= '9' && fd < APP_FDS_MAX)
				fd = fd * 10 + (*d++ - '0');
			struct app_fd *f = !*d && d != sub + 3 ? hp_fd(p, (uint64_t)fd) : NULL;

			if (f) {
				*link = true;
				if (f->kind == FD_FILE)
					put(b, "/%s", f->dir ? f->dpath : "(file)");
				else if (f->kind == FD_PIPE)
					put(b, "pipe:[%lu]", (unsigned long)(uintptr_t)f->pipe >> 4);
				else if (f->kind == FD_SOCKET)
					put(b, "socket:[%d]", f->sock);
				else if (f->kind == FD_NULL)
					put(b, "/dev/null");
				else if (f->kind == FD_CONSOLE)
					put(b, "/dev/console");
				else
					put(b, "anon_inode:[%s]", f->kind == FD_EPOLL ? "eventpoll"
									  : "eventfd");
				rc = 0;
			}
		}
		mutex_unlock(&top->proc_lock);
		return rc;
	}
	uint64_t now = uptime_ns(), idle = 0;
	unsigned ncpu = sched_cpus_online();

	for (unsigned c = 0; c < ncpu; c++) {
		struct sched_stats st;

		sched_stats(c, &st);
		idle += st.idle_ns;
	}
	if (!strcmp(rel, "uptime")) {
		put(b, "%lu.%02lu %lu.%02lu\n", (unsigned long)(now / 1000000000),
		    (unsigned long)(now / 10000000 % 100), (unsigned long)(idle / 1000000000),
		    (unsigned long)(idle / 10000000 % 100));
	} else if (!strcmp(rel, "loadavg")) {
		unsigned n = 1;

		mutex_lock(&top->proc_lock, NO_DEADLINE);
		for (struct app *p = top->procs; p; p = p->next_proc)
			n++;
		mutex_unlock(&top->proc_lock);
		uint64_t l[3];

		for (int i = 0; i < 3; i++) /* (rounded to 0.01, as Linux's) */
			l[i] = __atomic_load_n(&top->loadavg[i], __ATOMIC_RELAXED) + 2048 / 200;
		put(b, "%lu.%02lu %lu.%02lu %lu.%02lu 1/%u %d\n", (unsigned long)(l[0] >> 11),
		    (unsigned long)(((l[0] & 2047) * 100) >> 11), (unsigned long)(l[1] >> 11),
		    (unsigned long)(((l[1] & 2047) * 100) >> 11), (unsigned long)(l[2] >> 11),
		    (unsigned long)(((l[2] & 2047) * 100) >> 11), n,
		    (int)__atomic_load_n(&top->next_tid, __ATOMIC_RELAXED));
	} else if (!strcmp(rel, "meminfo")) {
		uint64_t files, exec, total = mm_usable_kib(), free = mm_free_kib();

		vfs_stats(&files, &exec); /* (exec's program pages: page cache, freed when short) */
		put(b, "MemTotal:       %8lu kB\nMemFree:        %8lu kB\nMemAvailable:   %8lu kB\n"
		       "Buffers:               0 kB\nCached:         %8lu kB\nSwapCached:            0 kB\n"
		       "Shmem:          %8lu kB\nSReclaimable:          0 kB\nSwapTotal:             0 kB\n"
		       "SwapFree:              0 kB\n",
		    (unsigned long)total, (unsigned long)free, (unsigned long)(free + exec),
		    (unsigned long)(files + exec), (unsigned long)files);
	} else if (!strcmp(rel, "stat")) {
		uint64_t busy_all = 0, idle_all = 0;

		for (unsigned c = 0; c < ncpu; c++) {
			struct sched_stats st;

			sched_stats(c, &st);
			busy_all += now > st.idle_ns ? now - st.idle_ns : 0;
			idle_all += st.idle_ns;
		}
		put(b, "cpu  %lu 0 0 %lu 0 0 0 0 0 0\n", (unsigned long)ticks(busy_all),
		    (unsigned long)ticks(idle_all));
		for (unsigned c = 0; c < ncpu; c++) {
			struct sched_stats st;

			sched_stats(c, &st);
			put(b, "cpu%u %lu 0 0 %lu 0 0 0 0 0 0\n", c,
			    (unsigned long)ticks(now > st.idle_ns ? now - st.idle_ns : 0),
			    (unsigned long)ticks(st.idle_ns));
		}
		uint64_t wall = wallclock_ns();

		put(b, "btime %lu\nprocesses %lu\nprocs_running 1\nprocs_blocked 0\n",
		    (unsigned long)(wall > now ? (wall - now) / 1000000000 : 0),
		    (unsigned long)(top->forks + 1));
	} else if (!strcmp(rel, "cpuinfo")) {
		char vendor[13], brand[49];

		cpu_names(vendor, brand);
		for (unsigned c = 0; c < ncpu; c++)
			put(b, "processor\t: %u\nvendor_id\t: %s\nmodel name\t: %s\nsiblings\t: "
			       "%u\ncore id\t\t: %u\ncpu cores\t: %u\n\n",
			    c, vendor, brand, ncpu, c, ncpu);
	} else if (!strcmp(rel, "mounts")) {
		put(b, "rootfs / tmpfs rw 0 0\nproc /proc proc rw 0 0\n");
	} else if (!strcmp(rel, "version")) {
		put(b, "Amphi version 0.1 (%s)\n", hal->name);
	} else if (!strcmp(rel, "filesystems")) {
		put(b, "nodev\ttmpfs\nnodev\tproc\n");
	} else {
		return -ENOENT;
	}
	return 0;
}

long hp_proc_open(struct app *a, const char *base, const char *path, uint64_t flags)
{
	char rel[VFS_PATH_MAX];

	if (!below_proc(a, base, path, rel, sizeof(rel)))
		return -ENOSYS; /* (not /proc: the tree's) */
	if (flags & 3)
		return -EACCES; /* (read-only) */
	struct buf b = {kmalloc(PROC_MAX), 0, PROC_MAX};
	bool dir, link;

	if (!b.p)
		return -ENOMEM;
	long rc = make(a, rel, &b, &dir, &link);

	if (!rc && (flags & 0200000) && !dir) /* O_DIRECTORY */
		rc = -ENOTDIR;
	int fd = rc ? (int)rc : hp_fd_alloc(a, FD_PROC);

	if (fd < 0) {
		kfree(b.p);
		return fd;
	}
	struct app_fd *f = hp_fd(a, (uint64_t)fd);

	f->proc = b.p;
	f->size = b.len;
	f->pos = 0;
	f->dir = dir;
	f->rd = true;
	ksnprintf(f->dpath, sizeof(f->dpath), "proc%s%s", rel[0] ? "/" : "", rel);
	a->cloexec[fd] = (flags & 02000000) != 0;
	return fd;
}

long hp_proc_read(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at)
{
	uint64_t pos = at >= 0 ? (uint64_t)at : f->pos;

	if (f->dir)
		return -EISDIR;
	if (pos >= f->size)
		return 0;
	n = MIN(n, f->size - pos);
	if (copy_to_app(buf, f->proc + pos, n))
		return -EFAULT;
	if (at < 0)
		f->pos += n;
	return (long)n;
}

long hp_proc_getdents(struct app_fd *f, uint64_t buf, uint64_t count)
{
	uint64_t used = 0;

	if (!f->dir)
		return -ENOTDIR;
	/* pos: the offset of the next name in the listing; "." and ".." first (2 and 1) */
	for (;;) {
		const char *name;
		uint8_t type = DT_DIR;
		uint64_t next, at = f->pos;

		if (at == 0)
			name = ".", next = 1;
		else if (at == 1)
			name = "..", next = 2;
		else if (at - 2 < f->size) {
			name = f->proc + (at - 2);
			type = (uint8_t)name[strlen(name) + 1];
			next = at + strlen(name) + 2;
		} else
			break;
		size_t len = strlen(name);
		uint16_t reclen = (uint16_t)ALIGN_UP(19 + len + 1, 8);
		uint8_t rec[19 + 64 + 8] = {0};
		uint64_t ino = 0x70726f63 + at;

		if (len > 64)
			break;
		if (used + reclen > count)
			return used ? (long)used : -EINVAL;
		memcpy(rec, &ino, 8);
		memcpy(rec + 8, &next, 8);
		memcpy(rec + 16, &reclen, 2);
		rec[18] = type;
		memcpy(rec + 19, name, len);
		if (copy_to_app(buf + used, rec, reclen))
			return used ? (long)used : -EFAULT;
		used += reclen;
		f->pos = next;
	}
	return (long)used;
}

static void stat_of(uint8_t st[144], uint32_t mode, uint64_t size, uint64_t ino)
{
	hp_stat_fill(st, mode, size, ino, 0);
}

void hp_proc_fstat(struct app_fd *f, uint8_t st[144])
{
	stat_of(st, f->dir ? S_IFDIR | 0555 : S_IFREG | 0444, f->dir ? 0 : 0,
		0x70726f63 + f->size);
}

long hp_proc_stat(struct app *a, const char *base, const char *path, bool follow,
		  uint8_t st[144])
{
	char rel[VFS_PATH_MAX];

	if (!below_proc(a, base, path, rel, sizeof(rel)))
		return -ENOSYS;
	struct buf b = {kmalloc(PROC_MAX), 0, PROC_MAX};
	bool dir, link;

	if (!b.p)
		return -ENOMEM;
	/* (a link named "self" looked at without following it is a link) */
	bool self = !follow && !strcmp(path + (strlen(path) >= 4 ? strlen(path) - 4 : 0), "self");
	long rc = make(a, rel, &b, &dir, &link);

	kfree(b.p);
	if (rc)
		return rc;
	stat_of(st, self || (link && !follow) ? S_IFLNK | 0777
		    : dir		       ? S_IFDIR | 0555
					       : S_IFREG | 0444,
		0, 0x70726f63 + rel[0]);
	return 0;
}

long hp_proc_path(struct app *a, const char *base, const char *path, char *out, size_t size)
{
	char rel[VFS_PATH_MAX];

	if (!below_proc(a, base, path, rel, sizeof(rel)))
		return -ENOSYS;
	if (ksnprintf(out, size, "proc%s%s", rel[0] ? "/" : "", rel) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

long hp_proc_readlink(struct app *a, const char *base, const char *path, char *out,
		      size_t size)
{
	char rel[VFS_PATH_MAX];

	if (!below_proc(a, base, path, rel, sizeof(rel)))
		return -ENOSYS;
	size_t pl = strlen(path);

	if (pl >= 4 && !strcmp(path + pl - 4, "self") && !strchr(rel, '/')) {
		int n = ksnprintf(out, size, "%d", a->pid);

		return MIN((long)n, (long)size);
	}
	struct buf b = {kmalloc(PROC_MAX), 0, PROC_MAX};
	bool dir, link;

	if (!b.p)
		return -ENOMEM;
	long rc = make(a, rel, &b, &dir, &link);

	if (!rc && !link)
		rc = -EINVAL;
	if (!rc) {
		rc = (long)MIN(b.len, size);
		memcpy(out, b.p, (size_t)rc);
	}
	kfree(b.p);
	return rc;
}
