/* Processes, in normal mode (hp/README.md "Processes"): fork (a copy of the caller's
 * address space, mm_space_copy, and of its descriptor table, naming the same open file
 * descriptions), wait4, execve from the tar image, and the end of a forked process.
 *
 * The first process is the boot's app (pid 1, `top`, on the kernel's root table); every
 * other one is made by fork and lives until its parent reaps it (wait4), or until the first
 * process ends: then every process left is killed and reaped (hp_procs_end), as a VM ends
 * with its service. An orphan's parent becomes the first process. Locks: top->proc_lock
 * (the list, parents, zombies) before any process's own lock. */
#include "hp/hp.h"
#include "hp/vfs.h"

#include "arch_x86_64/arch.h"
#include "common/console.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "lib/tar.h"
#include "mm/mm.h"
#include "sched/sched.h"

#define CSIGNAL		     0xff
#define CLONE_VM	     0x100
#define CLONE_VFORK	     0x4000
#define CLONE_PARENT_SETTID  0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_CHILD_SETTID   0x1000000

#define WNOHANG	   1
#define WUNTRACED  2
#define WCONTINUED 8
#define WNOWAIT	   0x1000000
#define W_ALLOWED  (WNOHANG | WUNTRACED | WCONTINUED | 0x40000000 | 0x80000000 | 0x20000000)

/* execve's bounds: arguments and environment words, and their strings' bytes in all */
#define EXEC_WORDS 1024
#define EXEC_BYTES (96u << 10)
#define EXEC_LINKS 4 /* a script's interpreter may be a script: so deep at most */

static void say_once(bool *said, const char *what, const struct app *a)
{
	if (!__atomic_exchange_n(said, true, __ATOMIC_RELAXED))
		kprintf("hp: %s: %s\n", a->name, what);
}

struct app *hp_proc_find(struct app *a, int64_t pid)
{
	struct app *top = a->top;

	if (pid == top->pid)
		return top;
	for (struct app *p = top->procs; p; p = p->next_proc)
		if (p->pid == pid)
			return p;
	return NULL;
}

void hp_vfork_release(struct app *c)
{
	struct app_thread *w = __atomic_exchange_n(&c->vfork_waiter, NULL, __ATOMIC_ACQ_REL);

	c->vm_parent = NULL;
	if (!w)
		return;
	__atomic_store_n(&w->vfork_wait, false, __ATOMIC_RELEASE);
	waitq_wake(&w->app->sleepers, WAKE_ALL);
}

static bool vfork_released(void *arg)
{
	const struct app_thread *at = arg;

	return !__atomic_load_n(&at->vfork_wait, __ATOMIC_ACQUIRE);
}

/* fork, vfork and clone without CLONE_THREAD. CLONE_VM (with CLONE_VFORK only: vfork(),
 * posix_spawn, Go's os/exec): the child runs in the caller's space, on newsp or on the
 * caller's own stack, while the caller waits, not to be woken by signals (it may not
 * end while the child uses its memory), until the child has its own space (execve) or
 * has ended. */
long hp_fork(struct app_thread *at, const struct syscall_frame *f, uint64_t flags, uint64_t newsp,
	     uint64_t ctid)
{
	static bool said_hp, said_vm;
	struct app *a = at->app, *top = a->top;

	if (!a->normal) {
		say_once(&said_hp, "fork: HP mode runs one program in the kernel's address space "
				   "(processes need mode=normal)", a);
		return -ENOSYS;
	}
	bool share = flags & CLONE_VM;

	if ((flags & ~(uint64_t)(CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID |
				 CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) ||
	    (share && !(flags & CLONE_VFORK)) || newsp >= USER_TOP) {
		/* (a process with a part of its parent: CLONE_FILES, CLONE_SIGHAND...) */
		if (share && !(flags & CLONE_VFORK))
			say_once(&said_vm, "clone: a process sharing its parent's memory without "
					   "CLONE_VFORK (not yet)", a);
		return -EINVAL;
	}
	struct app *c = kcalloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	/* the mappings' owner: the caller's, or, for a vfork child, its parent's */
	struct app *mo = a->vm_parent ? a->vm_parent : a;
	int rc = 0;

	if (share) {
		c->space = a->space;
		c->vm_parent = mo;
	} else {
		rc = mm_space_new(&c->space);
	}
	if (rc) {
		kfree(c);
		return rc;
	}
	/* its memory: the parent's, copied while the parent's memory calls wait */
	mutex_lock(&mo->mm_lock, NO_DEADLINE);
	if (!share)
		rc = mm_space_copy(c->space);
	c->brk_base = mo->brk_base;
	c->brk = mo->brk;
	c->brk_mapped = mo->brk_mapped;
	c->mmap = mo->mmap;
	mutex_unlock(&mo->mm_lock);
	if (rc) {
		mm_space_free(c->space);
		kfree(c);
		return rc;
	}
	memcpy(c->name, a->name, sizeof(c->name));
	c->normal = a->normal;
	c->pte_u = a->pte_u;
	c->started = true;
	c->im = a->im;
	memcpy(c->uid, a->uid, sizeof(c->uid));
	memcpy(c->gid, a->gid, sizeof(c->gid));
	memcpy(c->groups, a->groups, sizeof(c->groups));
	c->ngroups = a->ngroups;
	c->umask = __atomic_load_n(&a->umask, __ATOMIC_RELAXED);
	memcpy(c->cwd, a->cwd, sizeof(c->cwd));
	memcpy(c->exe, a->exe, sizeof(c->exe));
	memcpy(c->cmdline, a->cmdline, sizeof(c->cmdline));
	c->cmdline_len = a->cmdline_len;
	c->start_ns = clock_ns();
	uint64_t irq = irq_save();

	spin_lock(&a->sig_lock);
	memcpy(c->sigs, a->sigs, sizeof(c->sigs));
	spin_unlock(&a->sig_lock);
	irq_restore(irq);
	mutex_init(&c->lock);
	mutex_init(&c->mm_lock);
	waitq_init(&c->done);
	waitq_init(&c->sleepers);
	c->top = top;
	c->parent = a;
	mutex_lock(&top->proc_lock, NO_DEADLINE);
	c->pgid = a->pgid;
	c->sid = a->sid;
	mutex_unlock(&top->proc_lock);
	c->pid = __atomic_add_fetch(&top->next_tid, 1, __ATOMIC_RELAXED);
	hp_fds_fork(c, a);

	/* its one thread: the caller's registers, returning 0 from the call */
	struct app_thread *ct = &c->threads[0];

	*ct = (struct app_thread){.app = c, .tid = c->pid};
	memcpy(ct->comm, at->comm, sizeof(ct->comm));
	hp_sig_thread_init(ct, at);
	ct->ss_sp = at->ss_sp;
	ct->ss_size = at->ss_size;
	ct->ss_flags = at->ss_flags;
	ct->start = *f;
	if (newsp)
		ct->start.rsp = newsp;
	ct->tls = thread_fs_base();
	ct->set_tid = flags & CLONE_CHILD_SETTID ? ctid : 0;
	ct->clear_tid = flags & CLONE_CHILD_CLEARTID ? ctid : 0;

	mutex_lock(&top->proc_lock, NO_DEADLINE);
	c->next_proc = top->procs;
	top->procs = c;
	top->forks++;
	mutex_unlock(&top->proc_lock);
	char name[24];
	int pid = c->pid;

	ksnprintf(name, sizeof(name), "app-%d", pid);
	if (flags & CLONE_VFORK) { /* (before the child can run, exec or end) */
		c->vfork_waiter = at;
		__atomic_store_n(&at->vfork_wait, true, __ATOMIC_RELEASE);
	}
	mutex_lock(&c->lock, NO_DEADLINE);
	rc = hp_start_thread(ct, name);
	mutex_unlock(&c->lock);
	if (rc) {
		/* (never started: nothing of it ran) */
		mutex_lock(&top->proc_lock, NO_DEADLINE);
		for (struct app **pp = &top->procs; *pp; pp = &(*pp)->next_proc)
			if (*pp == c) {
				*pp = c->next_proc;
				break;
			}
		mutex_unlock(&top->proc_lock);
		hp_fds_close_all(c);
		__atomic_store_n(&at->vfork_wait, false, __ATOMIC_RELEASE);
		if (!share)
			mm_space_free(c->space);
		kfree(c);
		return rc;
	}
	if (flags & CLONE_VFORK) /* (c may be reaped by now: the wait looks at `at` only) */
		waitq_wait(&a->sleepers, vfork_released, at, NO_DEADLINE);
	return pid;
}

/* (top->proc_lock held) whether p is a child of a that wait4's pid selects: -1 any, 0 one
 * in a's group, < -1 one in group -pid, > 0 that one */
static bool selected(const struct app *p, const struct app *a, int64_t pid)
{
	return p->parent == a && (pid == -1 || (pid == 0 && p->pgid == a->pgid) ||
				  (pid < -1 && p->pgid == -pid) || p->pid == pid);
}

/* The end of a zombie, unlinked: its threads joined (the last may still be finishing its
 * kernel side), its CPU time given to the reaper, its memory back. */
static void reap(struct app *p, struct app *reaper)
{
	for (int i = 0; i < APP_THREADS; i++)
		if (p->threads[i].app && p->threads[i].t)
			thread_join(p->threads[i].t, NO_DEADLINE, NULL);
	if (reaper) {
		mutex_lock(&reaper->lock, NO_DEADLINE);
		reaper->children_cpu_ns += p->done_cpu_ns + p->children_cpu_ns;
		mutex_unlock(&reaper->lock);
	}
	kfree(p);
}

/* the children's ends a's waits have seen */
static bool child_news(void *arg)
{
	struct app *a = arg;

	return __atomic_load_n(&a->child_ends, __ATOMIC_ACQUIRE) != a->child_ends_seen ||
	       hp_interrupted(a);
}

/* wait4's and waitid's rusage: zeroes (the children's CPU time is in RUSAGE_CHILDREN) */
static int zero_rusage(uint64_t rusage)
{
	uint8_t ru[144] = {0};

	return rusage && copy_to_app(rusage, ru, sizeof(ru)) ? -EFAULT : 0;
}

/* What a wait learns of a child: that it ended (term_sig: the signal that killed it, else
 * status: its exit code), or stopped (stop_sig), or continued. */
struct ended {
	int pid, term_sig, status, stop_sig;
	bool continued;
	uint32_t uid;
};

#define WEXITED 4

/* Waits for a child that pid selects (as wait4's) to have ended (WEXITED), or stopped
 * (WUNTRACED) or continued (WCONTINUED) since a wait learnt of it last: its pid (an ended
 * one reaped, a report taken, unless WNOWAIT), 0 (WNOHANG, none yet), -ECHILD or
 * -EINTR. */
static long wait_child(struct app *a, int64_t pid, uint64_t options, struct ended *e)
{
	struct app *top = a->top;

	for (;;) {
		struct app *z = NULL;
		bool any = false;
		int news = 0;

		a->child_ends_seen = __atomic_load_n(&a->child_ends, __ATOMIC_ACQUIRE);
		mutex_lock(&top->proc_lock, NO_DEADLINE);
		for (struct app **pp = &top->procs; *pp; pp = &(*pp)->next_proc) {
			struct app *p = *pp;

			if (!selected(p, a, pid))
				continue;
			any = true;
			if (p->zombie && (options & WEXITED)) {
				z = p;
				*e = (struct ended){.pid = z->pid, .term_sig = z->term_sig,
						    .status = z->status & 0xff, .uid = z->uid[0]};
				if (!(options & WNOWAIT))
					*pp = z->next_proc;
				break;
			}
			if (p->zombie)
				continue;
			if (p->stop_report && (options & WUNTRACED)) {
				*e = (struct ended){.pid = p->pid, .stop_sig = p->stop_report,
						    .uid = p->uid[0]};
				if (!(options & WNOWAIT))
					p->stop_report = 0;
				news = p->pid;
				break;
			}
			if (p->cont_report && (options & WCONTINUED)) {
				*e = (struct ended){.pid = p->pid, .continued = true,
						    .uid = p->uid[0]};
				if (!(options & WNOWAIT))
					p->cont_report = false;
				news = p->pid;
				break;
			}
		}
		mutex_unlock(&top->proc_lock);
		if (news)
			return news;
		if (z) {
			if (!(options & WNOWAIT))
				reap(z, a);
			return e->pid;
		}
		if (!any)
			return -ECHILD;
		if (options & WNOHANG)
			return 0;
		waitq_wait(&a->sleepers, child_news, a, NO_DEADLINE);
		if (hp_interrupted(a))
			return -EINTR;
	}
}

long hp_wait4(struct app_thread *at, int64_t pid, uint64_t statusp, uint64_t options,
	      uint64_t rusage)
{
	struct app *a = at->app;
	struct ended e;

	if (options & ~(uint64_t)W_ALLOWED)
		return -EINVAL;
	if (zero_rusage(rusage))
		return -EFAULT;
	long rc = wait_child(a, pid, (options & ~(uint64_t)WNOWAIT) | WEXITED, &e);

	if (rc > 0 && statusp) {
		int st = e.stop_sig ? e.stop_sig << 8 | 0x7f : e.continued ? 0xffff
			 : e.term_sig ? e.term_sig : e.status << 8;

		if (copy_to_app(statusp, &st, 4))
			return -EFAULT; /* (reaped all the same, as Linux) */
	}
	return rc;
}

#define P_ALL	  0
#define P_PID	  1
#define P_PGID	  2
#define WSTOPPED  2
#define CLD_EXITED 1
#define CLD_KILLED 2
#define CLD_STOPPED 5
#define CLD_CONTINUED 6

/* waitid: the child's end, stop or continuation as a SIGCHLD siginfo (si_pid, si_uid,
 * si_status, si_code CLD_EXITED, CLD_KILLED, CLD_STOPPED or CLD_CONTINUED); WNOWAIT
 * leaves it waitable. WNOHANG with none: 0, the siginfo zeroed, as Linux. */
long hp_waitid(struct app_thread *at, uint64_t idtype, uint64_t id, uint64_t infop,
	       uint64_t options, uint64_t rusage)
{
	struct app *a = at->app;
	int64_t pid;

	if ((options & ~(uint64_t)(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT |
				   0x40000000 | 0x80000000 | 0x20000000)) ||
	    !(options & (WEXITED | WSTOPPED | WCONTINUED)))
		return -EINVAL;
	if (idtype == P_ALL)
		pid = -1;
	else if (idtype == P_PID && (int32_t)id > 0)
		pid = (int32_t)id;
	else if (idtype == P_PGID && (int32_t)id >= 0)
		pid = id ? -(int64_t)(int32_t)id : 0;
	else
		return -EINVAL; /* (P_PIDFD: no pidfds) */
	if (zero_rusage(rusage))
		return -EFAULT;
	struct ended e = {0};
	long rc = wait_child(a, pid, options, &e); /* (WSTOPPED is WUNTRACED) */

	if (rc < 0)
		return rc;
	uint8_t si[128] = {0};

	if (rc > 0) {
		int v[7] = {SIGCHLD, 0,
			    e.stop_sig ? CLD_STOPPED : e.continued ? CLD_CONTINUED
			    : e.term_sig ? CLD_KILLED : CLD_EXITED, 0, e.pid, (int)e.uid,
			    e.stop_sig ? e.stop_sig : e.continued ? SIGCONT
			    : e.term_sig ? e.term_sig : e.status};

		memcpy(si, v, sizeof(v));
	}
	if (infop && copy_to_app(infop, si, sizeof(si)))
		return -EFAULT;
	return 0;
}

void hp_proc_ended(struct app *a)
{
	struct app *top = a->top;

	/* what it held: its descriptors, then its memory (off its space first) */
	hp_fds_close_all(a);
	thread_set_space(top->space);
	mutex_lock(&a->mm_lock, NO_DEADLINE); /* (/proc may be counting its pages) */
	if (!a->vm_parent)
		mm_space_free(a->space);
	hp_vfork_release(a); /* (a vfork child: its parent goes on; the space was its) */
	a->space = NULL;
	mutex_unlock(&a->mm_lock);
	mutex_lock(&top->proc_lock, NO_DEADLINE);
	bool orphans = false;

	for (struct app *p = top->procs; p; p = p->next_proc)
		if (p->parent == a) {
			p->parent = top; /* adopted by the first process */
			orphans |= p->zombie;
		}
	a->zombie = true;
	struct app *parent = a->parent;

	__atomic_add_fetch(&parent->child_ends, 1, __ATOMIC_RELEASE);
	if (orphans)
		__atomic_add_fetch(&top->child_ends, 1, __ATOMIC_RELEASE);
	/* under the lock: the parent is not reaped meanwhile */
	hp_sig_kernel(parent, SIGCHLD);
	waitq_wake(&parent->sleepers, WAKE_ALL);
	if (parent != top)
		waitq_wake(&top->sleepers, WAKE_ALL);
	mutex_unlock(&top->proc_lock);
}

void hp_proc_stopped(struct app *a, int sig)
{
	struct app *top = a->top;

	if (!a->parent)
		return; /* (the first process: nobody waits for it) */
	mutex_lock(&top->proc_lock, NO_DEADLINE);
	a->stop_report = sig == SIGCONT ? 0 : sig;
	a->cont_report = sig == SIGCONT;
	struct app *parent = a->parent;

	__atomic_add_fetch(&parent->child_ends, 1, __ATOMIC_RELEASE);
	/* under the lock: the parent is not reaped meanwhile */
	if (!hp_sig_nocldstop(parent))
		hp_sig_kernel(parent, SIGCHLD);
	waitq_wake(&parent->sleepers, WAKE_ALL);
	mutex_unlock(&top->proc_lock);
}

bool hp_pgrp_orphaned(struct app *a)
{
	struct app *top = a->top;
	bool orphaned = true;

	mutex_lock(&top->proc_lock, NO_DEADLINE);
	for (struct app *p = top; p && orphaned; p = p == top ? top->procs : p->next_proc)
		if (!p->zombie && p->pgid == a->pgid && p->parent && p->parent->pgid != a->pgid &&
		    p->parent->sid == a->sid)
			orphaned = false;
	mutex_unlock(&top->proc_lock);
	return orphaned;
}

void hp_procs_end(struct app *top)
{
	for (;;) {
		struct app *z = NULL;

		mutex_lock(&top->proc_lock, NO_DEADLINE);
		for (struct app **pp = &top->procs; *pp; pp = &(*pp)->next_proc) {
			if ((*pp)->zombie) {
				z = *pp;
				*pp = z->next_proc;
				break;
			}
			if (!__atomic_load_n(&(*pp)->exiting, __ATOMIC_SEQ_CST))
				hp_end_app_sig(*pp, SIGKILL);
		}
		bool left = top->procs != NULL;

		mutex_unlock(&top->proc_lock);
		if (z)
			reap(z, NULL);
		else if (left)
			thread_sleep(1000000); /* (their threads end at their next look) */
		else
			return;
	}
}

/* --- process groups and sessions ---------------------------------------------------------- */

#define SYS_SETPGID 109
#define SYS_GETPGRP 111
#define SYS_SETSID  112
#define SYS_GETPGID 121
#define SYS_GETSID  124

/* (top->proc_lock held) whether some process of the tree leads or is in group pgid, in
 * session sid */
static bool group_in(struct app *top, int pgid, int sid)
{
	if (top->pgid == pgid && top->sid == sid)
		return true;
	for (struct app *p = top->procs; p; p = p->next_proc)
		if (!p->zombie && p->pgid == pgid && p->sid == sid)
			return true;
	return false;
}

long hp_proc_ids(struct app_thread *at, struct syscall_frame *f)
{
	struct app *a = at->app, *top = a->top;
	int64_t pid = (int32_t)f->rdi, pgid = (int32_t)f->rsi;
	long rc = 0;

	mutex_lock(&top->proc_lock, NO_DEADLINE);
	struct app *p = pid == 0 ? a : hp_proc_find(a, pid);

	switch (f->nr) {
	case SYS_SETPGID:
		/* the caller or a child of it (in its session, not a session leader) into a
		 * group of the caller's session: an existing one, or its own */
		if (pgid < 0)
			rc = -EINVAL;
		else if (!p || p->zombie || (p != a && p->parent != a))
			rc = -ESRCH;
		else if (p->sid != a->sid || p->pid == p->sid)
			rc = -EPERM;
		else if (pgid != 0 && pgid != p->pid && !group_in(top, (int)pgid, a->sid))
			rc = -EPERM;
		else
			p->pgid = pgid ? (int)pgid : p->pid;
		break;
	case SYS_GETPGRP:
		rc = a->pgid;
		break;
	case SYS_GETPGID:
		rc = !p || p->zombie ? -ESRCH : p->pgid;
		break;
	case SYS_SETSID:
		/* a new session and group, led by the caller: not for a group leader */
		if (a->pgid == a->pid || group_in(top, a->pid, a->sid))
			rc = -EPERM;
		else
			rc = a->sid = a->pgid = a->pid;
		break;
	case SYS_GETSID:
		rc = !p || p->zombie ? -ESRCH : p->sid;
		break;
	default:
		rc = -ENOSYS;
	}
	mutex_unlock(&top->proc_lock);
	return rc;
}

long hp_kill_group(struct app *a, int64_t pgid, int sig, bool kernel)
{
	struct app *top = a->top;
	bool any = false;

	mutex_lock(&top->proc_lock, NO_DEADLINE); /* (none is reaped meanwhile) */
	for (struct app *p = top; p; p = p == top ? top->procs : p->next_proc) {
		if (p->zombie || __atomic_load_n(&p->exiting, __ATOMIC_SEQ_CST))
			continue;
		if (pgid == -1 ? p == top : p->pgid != pgid)
			continue;
		any = true;
		hp_sig_send(p, sig, kernel);
	}
	mutex_unlock(&top->proc_lock);
	return any || pgid == -1 ? 0 : -ESRCH;
}

/* --- execve ------------------------------------------------------------------------------- */

/* the words of a NULL-terminated array of strings in the app (argv or envp), appended to
 * v (at most EXEC_WORDS in all) with their bytes in buf: the count, or -E2BIG / -EFAULT */
static long copy_words(uint64_t arr, char **v, int n, char *buf, size_t *used)
{
	for (uint64_t i = 0; arr; i++) {
		uint64_t p;

		if (copy_from_app(&p, arr + i * 8, 8))
			return -EFAULT;
		if (!p)
			return n;
		if (n >= EXEC_WORDS)
			return -E2BIG;
		long len = strcpy_from_app(buf + *used, p, EXEC_BYTES - *used);

		if (len < 0)
			return len == -ENAMETOOLONG ? -E2BIG : len;
		v[n++] = buf + *used;
		*used += (size_t)len + 1;
	}
	return n;
}

/* A regular file of the tree at path (against the working directory, links followed)
 * with an execute bit: its bytes (in the image, or a copy in *tofree), or -errno as Linux's
 * execve gives it */
static long exec_file(struct app *a, const char *path, struct hp_image *im, void **tofree)
{
	struct vnode *n;
	long rc = vfs_get(a->cwd, path, true, &n);

	if (rc)
		return rc;
	uint32_t mode = vfs_mode(n);

	if ((mode & 0170000) != 0100000 || !(mode & 0111))
		rc = -EACCES;
	else if (!(im->img = vfs_contents(n, &im->len, tofree, &im->gen)))
		rc = -ENOMEM;
	if (rc)
		vfs_put(n);
	else
		im->file = n; /* (held: its pages may be mapped, not copied) */
	return rc;
}

static bool one_thread_left(void *arg)
{
	struct app *a = arg;

	return __atomic_load_n(&a->live, __ATOMIC_SEQ_CST) <= 1 ||
	       __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST);
}

/* execve in a process with other threads: they end first, as Linux's exec ends them (each
 * at its next system call, interrupt or wake; one made meanwhile is found at the next look,
 * every 10 ms). 0, or -EINTR when this thread is to end instead (the process ends, or
 * another of its threads execs first). */
static long end_other_threads(struct app_thread *at)
{
	struct app *a = at->app;

	while (__atomic_load_n(&a->live, __ATOMIC_SEQ_CST) > 1) {
		mutex_lock(&a->lock, NO_DEADLINE);
		bool mine = !__atomic_load_n(&at->doomed, __ATOMIC_SEQ_CST);

		for (int i = 0; i < APP_THREADS && mine; i++) {
			struct app_thread *t = &a->threads[i];

			if (t != at && t->app && t->t && !__atomic_load_n(&t->ended, __ATOMIC_ACQUIRE) &&
			    !__atomic_exchange_n(&t->doomed, true, __ATOMIC_SEQ_CST))
				hp_thread_kick(a, t);
		}
		mutex_unlock(&a->lock);
		if (!mine || __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST))
			return -EINTR;
		waitq_wait(&a->done, one_thread_left, a, clock_ns() + 10000000);
	}
	return __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST) ? -EINTR : 0;
}

long hp_execve(struct app_thread *at, struct syscall_frame *f, uint64_t pathp, uint64_t argvp,
	       uint64_t envpp)
{
	static bool said_hp;
	struct app *a = at->app;

	if (!a->normal) {
		say_once(&said_hp, "execve: HP mode runs one program (processes need "
				   "mode=normal)", a);
		return -ENOSYS;
	}
	char *buf = kmalloc(EXEC_BYTES);
	char **argv = kmalloc((EXEC_WORDS + 2 * EXEC_LINKS + 1) * sizeof(char *));
	char **envp = kmalloc((EXEC_WORDS + 1) * sizeof(char *));
	size_t used = 0;
	long rc = buf && argv && envp ? 0 : -ENOMEM;
	long argc = 0, envc = 0;
	struct hp_image src = {0};
	void *copy = NULL; /* (a file written since the boot: its bytes in one piece) */

	char *path = buf;
	if (!rc && (rc = strcpy_from_app(path, pathp, 256)) >= 0) {
		used = (size_t)rc + 1;
		rc = 0;
	}
	/* the arguments after room for interpreters' words in front (#! lines) */
	if (!rc && (argc = copy_words(argvp, argv + 2 * EXEC_LINKS, 0, buf, &used)) < 0)
		rc = argc;
	if (!rc && (envc = copy_words(envpp, envp, 0, buf, &used)) < 0)
		rc = envc;
	char **av = argv + 2 * EXEC_LINKS;

	if (!rc && argc == 0) {
		av[0] = path; /* (Linux gives such a program an empty argv[0] now; a name is kinder) */
		argc = 1;
	}
	/* #!interpreter [one argument]: the interpreter, its argument, the script's path,
	 * then the arguments after argv[0] */
	for (int depth = 0; !rc; depth++) {
		kfree(copy);
		copy = NULL;
		if (src.file)
			vfs_put(src.file);
		src.file = NULL;
		if ((rc = exec_file(a, path, &src, &copy)))
			break;
		const uint8_t *img = src.img;
		size_t len = src.len;

		if (len < 2 || img[0] != '#' || img[1] != '!')
			break;
		if (depth == EXEC_LINKS) {
			rc = -ELOOP;
			break;
		}
		char line[256];
		size_t n = 0;

		for (size_t i = 2; i < len && img[i] != '\n' && n < sizeof(line) - 1; i++)
			line[n++] = img[i] == '\t' ? ' ' : (char)img[i];
		line[n] = 0;
		char *interp = line;

		while (*interp == ' ')
			interp++;
		char *arg = interp;

		while (*arg && *arg != ' ')
			arg++;
		if (*arg)
			*arg++ = 0;
		while (*arg == ' ')
			arg++;
		for (char *e = arg + strlen(arg); e > arg && e[-1] == ' ';)
			*--e = 0;
		size_t need = strlen(interp) + strlen(arg) + 2;

		if (!*interp) {
			rc = -ENOEXEC;
			break;
		}
		if (used + need > EXEC_BYTES) {
			rc = -E2BIG;
			break;
		}
		char *ip = buf + used;

		memcpy(ip, interp, strlen(interp) + 1);
		used += strlen(interp) + 1;
		char *ap = *arg ? buf + used : NULL;

		if (ap) {
			memcpy(ap, arg, strlen(arg) + 1);
			used += strlen(arg) + 1;
		}
		av[0] = path; /* the script's path replaces its argv[0] */
		if (ap)
			*--av = ap, argc++;
		*--av = ip;
		argc++;
		path = ip;
	}
	struct elf_image im;
	char err[160];

	if (!rc && elf_check(src.img, src.len, &im, err, sizeof(err))) {
		kprintf("hp: %s: execve %s: refused: %s\n", a->name, path, err);
		rc = -ENOEXEC;
	}
	if (!rc)
		rc = end_other_threads(at);
	struct mm_space *own = NULL; /* a vfork child's, for the new program */

	if (!rc && a->vm_parent)
		rc = mm_space_new(&own);
	if (rc) {
		if (src.file)
			vfs_put(src.file);
		kfree(copy);
		kfree(buf);
		kfree(argv);
		kfree(envp);
		return rc;
	}
	/* past here there is no way back: the old image goes (a vfork child leaves its
	 * parent's space, and lets the parent go on), and a new one that cannot be loaded (no
	 * memory) ends the process as SIGKILL would, as on Linux */
	if (own) {
		thread_set_space(own);
		a->space = own;
		a->vm_parent = NULL;
	}
	hp_vfork_release(a);
	mutex_lock(&a->mm_lock, NO_DEADLINE);
	if (!own)
		mm_user_clear(); /* (the tables stay: the new program maps mostly where it did) */
	uint64_t entry, sp;

	rc = hp_load_image(a, &src, (int)argc, av, (int)envc, envp, &entry, &sp);
	mutex_unlock(&a->mm_lock);
	vfs_put(src.file);
	kfree(copy);
	if (!rc) { /* /proc/self/exe: the path as given, made absolute */
		if (path[0] == '/')
			strlcpy(a->exe, path, sizeof(a->exe));
		else
			ksnprintf(a->exe, sizeof(a->exe), "/%s%s%s", a->cwd, a->cwd[0] ? "/" : "",
				  path);
	}
	kfree(buf);
	kfree(argv);
	kfree(envp);
	if (rc) {
		kprintf("hp: %s: execve could not load the new program (%ld): killed\n", a->name,
			rc);
		hp_end_app_sig(a, SIGKILL);
		app_leave(&at->ctx, 128 + 9);
	}
	hp_fds_exec(a);
	hp_sig_exec(at);
	at->clear_tid = 0;
	at->tid = a->pid; /* (another thread's exec: it is the process's first thread now) */
	thread_set_fs_base(0);
	memset(f, 0, sizeof(*f) - 5 * sizeof(uint64_t)); /* r15 .. nr: all 0 (rdx: no atexit) */
	f->rip = entry;
	f->rsp = sp;
	f->rflags = RFLAGS_IF;
	return 0;
}
