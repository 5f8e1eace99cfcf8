/* HP mode: one static Linux x86-64 ELF app, loaded from a boot module, run in ring 0 in the
 * kernel's address space; its system calls land in hp_syscall() (hp/README.md). */
#ifndef HP_HP_H
#define HP_HP_H

#include "arch_x86_64/arch.h"
#include "arch_x86_64/bootinfo.h"
#include "lib/compiler.h"
#include "lib/elf.h"
#include "hp/mmap_area.h"
#include "hp/signo.h"
#include "lib/spinlock.h"
#include "sched/sync.h"

/* Whether the boot asks for an app: app= on the command line, or a boot module. */
bool hp_wanted(const struct boot_info *bi);
/* Loads and runs the app to its end. Returns its exit status (0-255; 128 + signal when it
 * was killed), or -1 when it could not be started (the reason is printed). */
int hp_main(const struct boot_info *bi);

/* The app's address space (the low half; mm/'s USER_TOP):
 *   ELF segments (ELF_USER_MIN ..), then the brk heap above the highest one,
 *   anonymous mmaps, top down from APP_MMAP_TOP, then the vDSO's clock page and the vDSO,
 *   the main thread's stack, ending at APP_STACK_TOP, with an unmapped guard below. */
#define APP_STACK_TOP  0x00007ffffffff000ull
#define APP_STACK_SIZE (1ull << 20)
#define APP_MMAP_TOP   0x00007ff000000000ull
#define APP_BRK_MAX    (64ull << 30)
/* the vDSO (AT_SYSINFO_EHDR), with its clock page the page below: above the mmap area */
#define APP_VDSO       (APP_MMAP_TOP + 0x1000)
/* descriptors: RLIMIT_NOFILE starts as Linux's (1024 soft, 4096 hard); root may raise
 * the hard limit up to APP_FDS_MAX, the table's size. Open file descriptions live in
 * chunks of FILE_CHUNK, made as the app needs them and kept to its end (so a pointer to one
 * stays valid while another thread closes it). */
#define APP_FDS_SOFT   1024
#define APP_FDS_HARD   4096
#define APP_FDS_MAX    4096
#define FILE_CHUNK     64
#define APP_THREADS    64
#define HP_NSIG	       64 /* signals 1-64; a mask's bit n - 1 is signal n */

enum fd_kind {
	FD_FREE,
	FD_CONSOLE,
	FD_NULL,
	FD_SOCKET,
	FD_FILE,
	FD_PIPE,
	FD_EVENTFD,
	FD_EPOLL,
	FD_RANDOM, /* /dev/urandom and /dev/random */
	FD_ZERO,   /* /dev/zero */
	FD_PROC,   /* a file or directory of /proc (hp/procfs.c): its content made at open */
	FD_DISK,   /* /dev/vda, ...: a block device (hp/disk.c) */
};

struct app_pipe;
struct app_epoll;
struct io_waiter;

/* An open file description: what a descriptor names, shared by its dups (dup, dup2, dup3,
 * fcntl F_DUPFD): the kind's state, the offset, O_NONBLOCK. In app->files[], named by
 * app->fd[]; free again when the last descriptor naming it is closed. */
struct app_fd {
	enum fd_kind kind;
	int refs;	/* descriptors naming it (under the app's lock) */
	unsigned opens; /* bumped each time the slot is taken: epoll tells a reused slot */
	bool nonblock;
	int sock; /* FD_SOCKET: net/socket.h's descriptor */
	bool stream, listening, has_peer;
	/* socket options as set (bookkeeping: lwIP's buffers and Nagle-off stand) */
	bool reuseaddr, reuseport, keepalive, nodelay, broadcast;
	int32_t rcvbuf, sndbuf; /* 0: the default */
	uint16_t local_port, peer_port;
	uint32_t peer_ip;
	/* FD_FILE: a file or directory of the tree (hp/vfs.c; held), the offset (a
	 * directory's: records read), opened for reading (rd), writing (wr), appending; the
	 * open flags (F_GETFL); a directory's path as the working directory is kept */
	struct vnode *node;
	char *proc; /* FD_PROC: the content (a directory's: its names), size bytes */
	uint64_t size, pos; /* (size: FD_DISK's, FD_PROC's) */
	bool dir, rd, append;
	uint32_t mode;
	char dpath[256];
	/* FD_PIPE: the pipe (hp/io.c) and which end; FD_DISK: opened for writing */
	struct app_pipe *pipe;
	bool wr;
	/* FD_DISK: which (blkdev_get's index; size and pos as a file's, in bytes) */
	int disk;
	/* FD_EVENTFD: the counter (under the app's io_lock) */
	uint64_t count;
	bool semaphore;
	unsigned gen;
	/* FD_EPOLL: its interest list (hp/io.c) */
	struct app_epoll *ep;
};

#define POLLNVAL_ 32

struct app;

/* One thread of the app, on a kernel thread of its own (thread_app() points here). */
struct app_thread {
	struct app *app;
	struct thread *t; /* joined by hp_main at the end */
	struct app_ctx ctx;
	int tid;
	uint64_t clear_tid; /* CLONE_CHILD_CLEARTID / set_tid_address: 0 and a wake at exit */
	uint64_t set_tid;   /* a fork's CLONE_CHILD_SETTID: the tid written there at start */
	uint64_t tls;
	struct syscall_frame start; /* a clone's registers: it starts by returning from it */
	bool ended; /* atomic: past thread_done, so `t` can be joined and the slot reused */
	bool vfork_wait; /* atomic: a vfork child of this thread's runs in its memory */
	bool accounted; /* its CPU time is in the app's done_* (under the app's lock) */
	bool doomed;	/* atomic: another thread execs; this one ends at its next chance */
	char comm[16];	/* prctl(PR_SET_NAME) */
	/* signals (hp/signal.c): the mask (written by the thread only), what was sent to it
	 * (atomic; of those, by tkill/tgkill), the mask a handler's return
	 * puts back where a call set one for its wait (sigsuspend, ppoll, ...), and the
	 * alternate stack */
	uint64_t sig_blocked, sig_pending, sig_tkill;
	uint64_t sig_restore;
	bool sig_restore_set;
	uint64_t ss_sp, ss_size;
	uint32_t ss_flags;
};

/* a signal's action: the kernel's struct sigaction (rt_sigaction) */
struct app_sigaction {
	uint64_t handler, flags, restorer, mask;
};

struct futex_waiter {
	uint64_t uaddr;
	struct thread *t;
	int woken; /* atomic */
	struct futex_waiter *next;
};

struct mm_space;

struct app {
	char name[64];
	/* processes (hp/proc.c; normal mode): the first process is `top`, pid 1, whose
	 * struct is static; fork's are made and freed. Shared by the whole tree, in top's:
	 * the open file descriptions (files, fd_lock), the pipes' and eventfds' state and
	 * waits (io_lock, io_waiters), the process list (procs, proc_lock) and the ids. */
	int pid;
	int pgid, sid; /* its process group and session (under top->proc_lock) */
	struct app *top, *parent; /* parent NULL for the first */
	struct app *next_proc;	  /* in top->procs (under top->proc_lock) */
	struct mm_space *space;	  /* its address space (the first: the kernel's root) */
	/* a vfork child (CLONE_VM | CLONE_VFORK) runs in its parent's space until it execs or
	 * ends: vm_parent is that parent (its memory calls act on the parent's mappings),
	 * vfork_waiter the parent's thread that waits meanwhile (atomic: its release) */
	struct app *vm_parent;
	struct app_thread *vfork_waiter;
	/* its end: every thread has ended and what it held is back (zombie, under
	 * top->proc_lock), with the status wait4 reports (term_sig: the signal that killed
	 * it, 0 when it exited) */
	bool zombie;
	int term_sig;
	/* its children's ends (atomic: wait4 waits for news), and the CPU time of those
	 * reaped (RUSAGE_CHILDREN, under the lock) */
	uint64_t child_ends, child_ends_seen;
	uint64_t children_cpu_ns;
	struct app *procs;	/* top only: every process of the tree but top */
	struct mutex proc_lock; /* top only */
	struct mutex fd_lock;	/* top only: every descriptor table and description */
	uint64_t forks;		/* top only: processes made */
	int tty_pgrp;		/* top only: the console's foreground process group */
	uint64_t loadavg[3];	/* top only: 1, 5, 15 minutes, fixed point of 11 bits (atomic) */
	/* mode=normal: ring 3 (natively) or a root table without the kernel (Xen PV); its
	 * pages carry PTE_U. HP mode (the default): ring 0 in the kernel's address space. */
	bool normal;
	uint64_t pte_u;
	int64_t user_root;
	bool started; /* (atomic) the first thread is about to enter the app */
	struct elf_image im;
	uint64_t brk_base, brk, brk_mapped;
	struct mmap_area mmap; /* anonymous mmaps; under mm_lock */
	/* open file descriptions (under the lock): hp_file(a, i) is files[i / FILE_CHUNK][i %
	 * FILE_CHUNK]; a chunk is published (release) before a descriptor names it */
	struct app_fd *files[APP_FDS_MAX / FILE_CHUNK];
	int16_t fd[APP_FDS_MAX];  /* a descriptor's entry in the files, -1: not open */
	bool cloexec[APP_FDS_MAX]; /* FD_CLOEXEC of each descriptor */
	/* pipes and eventfds: their state, and the waits on them (hp/io.c) */
	struct mutex io_lock;
	struct io_waiter *io_waiters;
	uint64_t syscalls;	 /* atomic */
	uint64_t enosys_seen[8]; /* numbers logged once (0-511) */
	uint64_t enosys_big[8];	 /* ... and above: the first 8 */
	unsigned enosys_big_n;
	bool enosys_big_full;
	/* the process's credentials (one kernel, no users: bookkeeping, kept as Linux keeps
	 * them so that a server dropping root sees what it asked for), umask, RLIMIT_NOFILE */
	uint32_t uid[3], gid[3]; /* real, effective, saved */
	uint32_t groups[32];
	unsigned ngroups;
	uint32_t umask;
	char cwd[256]; /* the working directory, normalised ("" the root) */
	char exe[256]; /* its program's path (/proc/self/exe) */
	char cmdline[512]; /* its arguments, each ended by a NUL (/proc/PID/cmdline; cut) */
	unsigned cmdline_len;
	uint64_t start_ns; /* when it was made (clock_ns) */
	uint64_t rss_pages, vsz_pages; /* as /proc last counted them (under top->proc_lock) */
	uint64_t nofile[2]; /* soft, hard */
	struct mutex lock;    /* threads, fds and futexes */
	struct mutex mm_lock; /* the memory calls (brk, mmap, munmap, mprotect, madvise) */
	struct app_thread threads[APP_THREADS];
	int next_tid;
	unsigned nthreads; /* threads the app has had, the first one included */
	int live;	   /* app threads not ended yet; atomic */
	struct waitq done; /* hp_main waits there for live == 0 */
	/* exit_group or a fatal fault: every thread ends at its next syscall, interrupt or
	 * wake; `status` is the process's (the first one set wins) */
	bool exiting;
	bool status_set;
	int status;
	struct waitq sleepers; /* nanosleep and poll: woken early by exiting */
	struct futex_waiter *futexes;
	/* signals: the actions, and what was sent to the process that no thread could take
	 * yet (every thread blocks it); under sig_lock, taken with interrupts off */
	struct spinlock sig_lock;
	struct app_sigaction sigs[HP_NSIG];
	uint64_t sig_pending;
	uint64_t sig_kernel; /* of sig_pending: sent by the kernel (Ctrl-C: si_code SI_KERNEL) */
	/* job control (hp/signal.c): stopped by a stop signal's default action until a
	 * SIGCONT (under sig_lock); cont_gen counts the SIGCONTs (a stop signal taken before
	 * one is void); cont_news: continued, its parent not told yet (atomic). stop_report,
	 * cont_report: what its parent's wait (WUNTRACED, WCONTINUED) is to learn (under
	 * top->proc_lock) */
	bool stopped, cont_news;
	uint64_t cont_gen;
	int stop_report;
	bool cont_report;
	/* Ctrl-Cs the console received while the app ran (atomic; console_interrupt), and
	 * those hp_main has turned into SIGINT */
	uint64_t ctrl_c, ctrl_c_sent;
	/* what the threads that ended used: CPU time, voluntary and involuntary switches
	 * (under the lock; the live ones' are the scheduler's) */
	uint64_t done_cpu_ns, done_nvcsw, done_nivcsw;
};

/* whether the thread is to end at its next system call, interrupt or wake: its process
 * ends, or another thread of it execs */
static inline bool hp_thread_ends(const struct app_thread *at)
{
	return __atomic_load_n(&at->app->exiting, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&at->doomed, __ATOMIC_SEQ_CST);
}

/* hp/syscall.c */
/* the descriptor table with 0, 1 and 2 on the console: 0 or -ENOMEM */
int hp_fds_init(struct app *a);
/* a forked child's: the parent's descriptors, naming the same descriptions */
void hp_fds_fork(struct app *child, struct app *parent);
/* closes the descriptors marked close-on-exec (execve) */
void hp_fds_exec(struct app *a);
/* open file description i (one a descriptor named: its chunk exists); the tree's */
static inline struct app_fd *hp_file(struct app *a, int i)
{
	return &__atomic_load_n(&a->top->files[i / FILE_CHUNK],
				__ATOMIC_ACQUIRE)[i % FILE_CHUNK];
}
/* a free descriptor, naming a new open file description of kind k: its number, or -EMFILE
 * (-ENFILE when descriptors are left but no description) */
int hp_fd_alloc(struct app *a, enum fd_kind k);
/* what descriptor fd names (NULL: not open); for the one who just made it, or to read
 * fields that stay put (the kind's own calls keep their objects alive: hp/io.c) */
struct app_fd *hp_fd(struct app *a, uint64_t fd);
/* closes a descriptor: 0 or -EBADF */
long hp_fd_close(struct app *a, uint64_t fd);
/* every descriptor, at the app's end (and the descriptions' memory) */
void hp_fds_close_all(struct app *a);
bool app_range(uint64_t a, size_t n);
/* hp/app.c: a new thread of the app for clone (its tid, or -EAGAIN / -ENOMEM) */
long hp_clone(struct app_thread *parent, const struct syscall_frame *f, uint64_t flags,
	      uint64_t newsp, uint64_t ptid, uint64_t ctid, uint64_t tls);
/* ends the calling app thread (SYS_exit), or all of them (exit_group: all = true) */
void __noreturn hp_exit(struct app_thread *at, int code, bool all);
/* Ends the whole app as signal `sig` would on Linux (status 128 + sig), saying why. */
void __noreturn hp_kill(struct app_thread *at, int sig, const char *why, uint64_t rip);
/* Starts ending the whole app with `status` (the first one set wins): every thread ends at
 * its next system call, interrupt or wake. hp_end_app_sig: killed by signal sig (status
 * 128 + sig; wait4 reports the signal). */
void hp_end_app(struct app *a, int status);
void hp_end_app_sig(struct app *a, int sig);
/* the app thread with this tid (0: the caller): with the app's lock held (*locked) when it
 * is another one, so that it is not joined meanwhile; NULL when none has it */
struct app_thread *hp_thread_by_tid(struct app *a, struct app_thread *self, int64_t tid,
				    bool *locked);
/* hp/proc.c: processes (normal mode). fork, vfork and clone without CLONE_VM (the child
 * returns 0 from the call in f; its pid, or -errno); wait4; execve (0 never: on success
 * f is the new program's start); the end of a forked process's last thread; the tree's
 * end (every process left killed and reaped, for the first one's end) */
long hp_fork(struct app_thread *at, const struct syscall_frame *f, uint64_t flags, uint64_t newsp,
	     uint64_t ctid);
/* A vfork child lets its parent go on: it has its own space now (exec) or has ended. */
void hp_vfork_release(struct app *c);
long hp_waitid(struct app_thread *at, uint64_t idtype, uint64_t id, uint64_t infop,
	       uint64_t options, uint64_t rusage);
long hp_wait4(struct app_thread *at, int64_t pid, uint64_t status, uint64_t options,
	      uint64_t rusage);
long hp_execve(struct app_thread *at, struct syscall_frame *f, uint64_t path, uint64_t argv,
	       uint64_t envp);
void hp_proc_ended(struct app *a);
/* a stopped (sig) or continued (SIGCONT) by job control: its parent's waits and SIGCHLD
 * (unless SA_NOCLDSTOP) learn of it. From the process's own thread, holding no lock. */
void hp_proc_stopped(struct app *a, int sig);
/* whether a's process group is orphaned (no member's parent is in another group of the
 * session): the terminal's stop signals (SIGTSTP, SIGTTIN, SIGTTOU) do not stop it */
bool hp_pgrp_orphaned(struct app *a);
/* hp/signal.c: whether a's SIGCHLD action says SA_NOCLDSTOP */
bool hp_sig_nocldstop(struct app *a);
/* hp/signal.c: wakes a thread of a from whatever it waits in, and interrupts its CPU if
 * it runs app code there (with a's lock held, or the thread cannot be joined meanwhile) */
void hp_thread_kick(struct app *a, struct app_thread *to);
/* hp/signal.c: whether sig is ignored (SIG_IGN) by a, or blocked by the calling thread */
bool hp_sig_ignored_here(struct app *a, int sig);
void hp_procs_end(struct app *top);
/* the process with this pid in a's tree (NULL: none), under top->proc_lock */
struct app *hp_proc_find(struct app *a, int64_t pid);
/* setpgid, getpgid, getpgrp, setsid, getsid by number (-ENOSYS for others) */
long hp_proc_ids(struct app_thread *at, struct syscall_frame *f);
/* sig to every process of group pgid (-1: every one but the first and the caller), as
 * kill() sends it (kernel: as the kernel's, the console's Ctrl-C): 0 or -ESRCH */
long hp_kill_group(struct app *a, int64_t pgid, int sig, bool kernel);
/* hp/app.c for proc.c: a thread of a forked process starts (at->start, at->app->space) */
int hp_start_thread(struct app_thread *at, const char *name);
/* A program's bytes, and the file they are (NULL: none, a boot module's) as they were
 * at gen (vfs_contents): its read-only pages are then mapped from the file's, not copied */
struct hp_image {
	const uint8_t *img;
	size_t len;
	struct vnode *file;
	uint64_t gen;
};
/* hp/app.c for proc.c: loads an ELF image into the current (empty) space and builds its
 * stack: 0 and *entry, *sp; or a negative error (said) */
int hp_load_image(struct app *a, const struct hp_image *src, int argc, char **argv, int envc,
		  char **envp, uint64_t *entry, uint64_t *sp);
/* hp/signal.c: signals. The signal calls (rt_sigaction, rt_sigprocmask, rt_sigreturn,
 * sigaltstack, rt_sigpending, rt_sigsuspend, pause, rt_sigtimedwait, kill, tkill,
 * tgkill) by number: -ENOSYS for any other */
long hp_sig_call(struct app_thread *at, struct syscall_frame *f);
const char *hp_sig_name(int sig);
/* whether the thread has a signal to take now */
bool hp_sig_ready(const struct app_thread *at);
/* whether a wait of the calling thread must stop: the app is ending, or the thread has a
 * signal to take (every wait of an app thread asks this) */
bool hp_interrupted(struct app *a);
/* a syscall's end (its result r): the thread's signals; returns what the app gets in %rax
 * (the frame may now enter a handler, or make the call again) */
long hp_sig_syscall_end(struct app_thread *at, struct syscall_frame *f, long r);
/* a fault of the app's code as signal sig (si_code, si_addr): true when a handler takes
 * it (the trap frame enters it), false when the app is to die of it */
bool hp_sig_fault(struct app_thread *at, struct trap_frame *r, int sig, int code, uint64_t addr);
/* an interrupt of the app's code: the thread's signals; 0, or a signal it is to die of
 * (and *why) */
int hp_sig_interrupt(struct app_thread *at, struct trap_frame *r, const char **why);
/* EPIPE from a write: SIGPIPE to the writer */
void hp_sig_pipe(struct app_thread *at);
/* sig from the kernel to the process (the console's Ctrl-C: SIGINT), from a thread that is
 * not the app's: as kill(), with si_code SI_KERNEL; nothing once the app is ending */
void hp_sig_kernel(struct app *a, int sig);
/* sig to process a from another (kill(2); kernel: as the kernel's), unless it is ending:
 * SIGKILL ends it at once, 0 sends nothing */
void hp_sig_send(struct app *a, int sig, bool kernel);
/* execve: handled signals back to their default action, the alternate stack gone */
void hp_sig_exec(struct app_thread *at);
/* ppoll, pselect6, epoll_pwait: the mask for the wait (NULL: none): 0, -EFAULT or
 * -EINVAL. The old one comes back at the call's end, or after the handler it let in. */
long hp_sig_mask_swap(struct app_thread *at, uint64_t maskp, uint64_t size);
/* a new thread: its creator's mask (none for the first), no alternate stack */
void hp_sig_thread_init(struct app_thread *child, const struct app_thread *parent);
/* hp/net.c: the socket calls, and poll over every kind of descriptor */
long hp_socket(struct app *a, uint64_t domain, uint64_t type, uint64_t proto);
long hp_sock_bind(struct app *a, uint64_t fd, uint64_t addr, uint64_t len);
long hp_sock_listen(struct app *a, uint64_t fd, uint64_t backlog);
long hp_sock_accept(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp, uint64_t flags);
long hp_sock_connect(struct app *a, uint64_t fd, uint64_t addr, uint64_t len);
long hp_sock_sendto(struct app *a, uint64_t fd, uint64_t buf, uint64_t len, uint64_t flags,
		    uint64_t addr, uint64_t alen);
long hp_sock_recvfrom(struct app *a, uint64_t fd, uint64_t buf, uint64_t len, uint64_t flags,
		      uint64_t addr, uint64_t lenp);
long hp_sock_msg(struct app *a, uint64_t fd, uint64_t msg, uint64_t flags, bool send);
long hp_sock_vec(struct app *a, struct app_fd *f, uint64_t iov, uint64_t cnt, bool send);
long hp_sock_mmsg(struct app *a, uint64_t fd, uint64_t vec, uint64_t vlen, uint64_t flags,
		  uint64_t timeout, bool send);
long hp_sock_shutdown(struct app *a, uint64_t fd, uint64_t how);
/* a TCP send from kernel memory (sendfile): what was sent, or -errno */
long hp_sock_write_kernel(struct app *a, struct app_fd *f, const void *b, size_t n);
/* setsockopt (set: val, len) and getsockopt (val, lenp) */
long hp_sock_opt(struct app *a, uint64_t fd, uint64_t level, uint64_t name, uint64_t val,
		 uint64_t len, bool set);
long hp_sock_peer(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp);
long hp_sock_name(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp);
/* a socket's readiness, for hp/io.c's waits: the descriptor to poll, or -1 if fd is not a
 * socket */
int hp_sock_of(struct app *a, int fd);
/* hp/io.c: pipes, eventfds, epoll, and poll/select over every kind of descriptor */
long hp_pipe(struct app *a, uint64_t fds, uint64_t flags);
long hp_eventfd(struct app *a, uint64_t initval, uint64_t flags);
long hp_io_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n);
long hp_io_write(struct app *a, struct app_fd *f, uint64_t buf, size_t n);
#define PIPE_BUF_ 4096 /* pipe writes up to this size are atomic (POSIX PIPE_BUF) */
/* a writev's buffers gathered by the kernel (n <= PIPE_BUF_), written into a pipe whole */
long hp_pipe_write_gathered(struct app *a, struct app_fd *f, const void *kbuf, size_t n);
/* a description's last descriptor is gone: let go of its pipe end or epoll set */
void hp_io_release(struct app *a, const struct app_fd *f);
long hp_poll(struct app *a, uint64_t fds, uint64_t n, int64_t timeout_ms);
long hp_ppoll(struct app *a, uint64_t fds, uint64_t n, uint64_t ts);
long hp_select(struct app *a, uint64_t nfds, uint64_t r, uint64_t w, uint64_t e, uint64_t tv,
	       bool pselect);
long hp_epoll_create(struct app *a, uint64_t flags);
long hp_epoll_ctl(struct app *a, uint64_t epfd, uint64_t op, uint64_t fd, uint64_t ev);
long hp_epoll_wait(struct app *a, uint64_t epfd, uint64_t evs, uint64_t max, int64_t timeout_ms);
/* the app is ending: every wait in hp/io.c looks again */
void hp_io_wake_all(struct app *a);
/* FIONREAD of a pipe or eventfd: bytes readable now */
long hp_io_nread(struct app *a, struct app_fd *f);
/* hp/tty.c: the console as a terminal: its input read through a line discipline (read of
 * a console descriptor), readiness for poll, Ctrl-C as SIGINT to the foreground group, the
 * console's ioctls (termios, window size, foreground group) */
void hp_tty_start(void);
void hp_tty_stop(void);
long hp_tty_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n);
bool hp_tty_ready(void);
void hp_tty_interrupt(struct app *top);
long hp_tty_ioctl(struct app *a, uint64_t req, uint64_t arg);
/* hp/procfs.c: /proc. Each call returns -ENOSYS for a path outside /proc (the tree's). */
long hp_proc_open(struct app *a, const char *base, const char *path, uint64_t flags);
long hp_proc_read(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at);
long hp_proc_getdents(struct app_fd *f, uint64_t buf, uint64_t count);
void hp_proc_fstat(struct app_fd *f, uint8_t st[144]);
long hp_proc_stat(struct app *a, const char *base, const char *path, bool follow,
		  uint8_t st[144]);
long hp_proc_readlink(struct app *a, const char *base, const char *path, char *out,
		      size_t size);
/* a /proc path as the working directory is kept ("proc/PID") */
long hp_proc_path(struct app *a, const char *base, const char *path, char *out, size_t size);
/* hp/syscall.c: a struct stat (x86-64) with these fields, one link, 4 KiB blocks */
void hp_stat_fill(uint8_t s[144], uint32_t mode, uint64_t size, uint64_t ino, uint64_t rdev);
/* hp/syscall.c: a process's CPU time so far (its threads', ended and live) */
uint64_t hp_app_cpu_ns(struct app *a);
/* hp/fs.c: the file tree (hp/vfs.c) from a tar image (the boot module, or the first disk),
 * and its descriptors */
void hp_fs_set(const uint8_t *img, size_t len);
bool hp_fs_present(void);
long hp_fs_load_disk(const char *app_name, bool quiet);
/* open in the tree (mode: O_CREAT's, the umask applied): the new fd, or -errno */
long hp_fs_open(struct app *a, const char *base, const char *path, uint64_t flags,
		uint32_t mode);
long hp_fs_getdents(struct app_fd *f, uint64_t buf, uint64_t count);
long hp_fs_read(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at);
long hp_fs_write(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at);
long hp_fs_lseek(struct app_fd *f, int64_t off, uint64_t whence);
/* struct stat of a path (*at: dirfd's directory or the working directory) */
long hp_fs_stat_at(struct app *a, int64_t dirfd, uint64_t path, bool follow, uint8_t st[144]);
/* the tree's calls by path and the rest of its calls (mkdir, unlink, rename, link,
 * symlink, readlink, truncate, chmod, chown, utimensat, statfs, access, getcwd, chdir...)
 * by number: -ENOSYS for any other */
long hp_fs_call(struct app *a, struct syscall_frame *f);
/* hp/syscall.c: where an *at() call's relative path starts (dirfd's directory, or the
 * working directory): 0, -EBADF, -ENOTDIR */
long hp_at_base(struct app *a, int64_t dirfd, const char *path, const char **base);
/* hp/disk.c: the VM's disks as /dev/vda... (and /dev/xvda...) */
int hp_disk_index(const char *path); /* the disk a path names, or -1 */
long hp_disk_open(struct app *a, int i, uint64_t flags);
long hp_disk_rw(struct app_fd *f, uint64_t buf, uint64_t n, int64_t at, bool write);
long hp_disk_fsync(struct app_fd *f);
long hp_disk_ioctl(struct app_fd *f, uint64_t req, uint64_t arg);
long hp_disk_stat(uint8_t s[144], int i);
/* hp/syscall.c: futex wake, for thread exit (CLONE_CHILD_CLEARTID) */
long hp_futex_wake(struct app *a, uint64_t uaddr, uint32_t n);

/* Copies between the kernel and the app's memory: 0, or -EFAULT when the range is not the
 * app's or not mapped (a fault there is caught, never a panic). */
int copy_from_app(void *dst, uint64_t src, size_t n);
int copy_to_app(uint64_t dst, const void *src, size_t n);
/* a NUL-terminated string of at most size - 1 bytes: its length, -EFAULT or -ENAMETOOLONG */
long strcpy_from_app(char *dst, uint64_t src, size_t size);

#endif
