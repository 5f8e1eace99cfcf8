/* Signals, as Linux x86-64 delivers them (hp/README.md): handlers, masks, the alternate
 * stack, kill/tkill/tgkill to the app itself, sigsuspend, sigtimedwait, and the frame a
 * handler runs on (struct rt_sigframe: the return address, a ucontext with every register
 * and the FPU state, a siginfo), so that what an app or its runtime reads or changes there
 * (Go's panic on a nil pointer, its preemption) is what it would be on Linux.
 *
 * A signal reaches a thread at one of three points: the end of a system call (the
 * syscall frame is rewritten to enter the handler), a fault in the app's code (the trap
 * frame), or an interrupt of the app's code (the trap frame: a signal another thread sent
 * to one that runs without making system calls; the sender interrupts its CPU). A waiting
 * thread with a signal to take stops waiting (hp_interrupted): -EINTR, or the call is made
 * again (SA_RESTART, or when no handler ran). rt_sigreturn puts back every register, so
 * it returns the way an interrupt does (arch->app_return). */
#include "hp/hp.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "sched/sched.h"

#define SIG_DFL_ 0
#define SIG_IGN_ 1

#define SA_NOCLDSTOP_ 0x1u
#define SA_SIGINFO_   0x4u
#define SA_RESTORER_  0x04000000u
#define SA_ONSTACK_   0x08000000u
#define SA_RESTART_   0x10000000u
#define SA_NODEFER_   0x40000000u
#define SA_RESETHAND_ 0x80000000u

#define SS_ONSTACK_    1
#define SS_DISABLE_    2
#define SS_AUTODISARM_ (1u << 31)
#define MINSIGSTKSZ_   2048

#define SI_USER_   0
#define SI_KERNEL_ 0x80
#define SI_TKILL_  (-6)


#define RFLAGS_TF 0x100
#define RFLAGS_DF 0x400

static uint64_t bit(int sig)
{
	return 1ull << (sig - 1);
}

#define UNBLOCKABLE (bit(SIGKILL) | bit(SIGSTOP))

#define N(sig) [sig] = #sig
static const char *const names[32] = {
	N(SIGHUP), N(SIGINT), N(SIGQUIT), N(SIGILL), N(SIGTRAP), N(SIGABRT), N(SIGBUS),
	N(SIGFPE), N(SIGKILL), N(SIGUSR1), N(SIGSEGV), N(SIGUSR2), N(SIGPIPE), N(SIGALRM),
	N(SIGTERM), N(SIGSTKFLT), N(SIGCHLD), N(SIGCONT), N(SIGSTOP), N(SIGTSTP), N(SIGTTIN),
	N(SIGTTOU), N(SIGURG), N(SIGXCPU), N(SIGXFSZ), N(SIGVTALRM), N(SIGPROF), N(SIGWINCH),
	N(SIGIO), N(SIGPWR), N(SIGSYS),
};
#undef N

const char *hp_sig_name(int sig)
{
	return sig > 0 && sig < 32 ? names[sig] : sig >= 32 && sig <= HP_NSIG ? "a real-time signal"
									: "a signal";
}

/* What SIG_DFL does: ignore (SIGCHLD, SIGCONT, SIGURG, SIGWINCH), stop the process
 * (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), or end it. */
static bool default_ignores(int sig)
{
	return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

#define STOPS (bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU))

static bool default_stops(int sig)
{
	return (STOPS & bit(sig)) != 0;
}

/* the kernel's struct sigcontext, ucontext and rt_sigframe (x86-64) */
struct sigcontext_ {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved[8];
};

struct ucontext_ {
	uint64_t flags, link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	struct sigcontext_ mc;
	uint64_t sigmask;
};

struct sigframe_ {
	uint64_t ret; /* sa_restorer: the handler's return address */
	struct ucontext_ uc;
	uint8_t info[128];
};

_Static_assert(sizeof(struct sigcontext_) == 256, "struct sigcontext");
_Static_assert(sizeof(struct ucontext_) == 304, "struct ucontext");
_Static_assert(__builtin_offsetof(struct sigframe_, info) == 312, "struct rt_sigframe");

#define UC_SIGCONTEXT_SS     2
#define UC_STRICT_RESTORE_SS 4
/* the selectors Linux reports in a sigcontext (__USER_CS, __USER_DS) */
#define LINUX_USER_CS 0x33
#define LINUX_USER_SS 0x2b

/* what a signal says about itself: siginfo's first fields and its union's first words */
struct info {
	int32_t signo, err, code, pad;
	union {
		struct {
			int32_t pid;
			uint32_t uid;
		};
		uint64_t addr;
	};
	uint8_t rest[104];
};
_Static_assert(sizeof(struct info) == 128, "siginfo");

/* --- the state: under the app's sig_lock, taken with interrupts off (a thread takes its
 * signals in an interrupt of its own code) ---------------------------------------------- */

static uint64_t lock(struct app *a)
{
	uint64_t f = irq_save();

	spin_lock(&a->sig_lock);
	return f;
}

static void unlock(struct app *a, uint64_t f)
{
	spin_unlock(&a->sig_lock);
	irq_restore(f);
}

static uint64_t pending(const struct app_thread *at)
{
	return __atomic_load_n(&at->sig_pending, __ATOMIC_SEQ_CST) |
	       __atomic_load_n(&at->app->sig_pending, __ATOMIC_SEQ_CST);
}

bool hp_sig_ready(const struct app_thread *at)
{
	return at && ((pending(at) & ~at->sig_blocked) ||
		      __atomic_load_n(&at->app->stopped, __ATOMIC_SEQ_CST));
}

bool hp_sig_ignored_here(struct app *a, int sig)
{
	struct app_thread *self = *thread_app(thread_self());
	uint64_t f = lock(a);
	bool ign = a->sigs[sig - 1].handler == SIG_IGN_ ||
		   (self && self->app == a && (self->sig_blocked & bit(sig)));

	unlock(a, f);
	return ign;
}

bool hp_sig_nocldstop(struct app *a)
{
	return (__atomic_load_n(&a->sigs[16].flags, __ATOMIC_RELAXED) & SA_NOCLDSTOP_) != 0;
}

/* (sig_lock held) signals of `set` pending no more, for the process and every thread */
static void unpend(struct app *a, uint64_t set)
{
	__atomic_and_fetch(&a->sig_pending, ~set, __ATOMIC_SEQ_CST);
	for (int i = 0; i < APP_THREADS; i++)
		__atomic_and_fetch(&a->threads[i].sig_pending, ~set, __ATOMIC_SEQ_CST);
}

bool hp_interrupted(struct app *a)
{
	void **slot = thread_app(thread_self());
	struct app_thread *at = slot ? *slot : NULL;

	return __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST) ||
	       (at && (hp_sig_ready(at) || __atomic_load_n(&at->doomed, __ATOMIC_SEQ_CST)));
}

/* (sig_lock held) the signal's action says to drop it now */
static bool ignored(const struct app *a, int sig)
{
	uint64_t h = a->sigs[sig - 1].handler;

	return h == SIG_IGN_ || (h == SIG_DFL_ && default_ignores(sig));
}

/* (sig_lock held) takes the lowest signal of `want` pending for the thread (its own
 * first, then the process's): its number and info, or 0 */
static int take(struct app_thread *at, uint64_t want, struct info *si)
{
	struct app *a = at->app;
	uint64_t mine = at->sig_pending & want, all = a->sig_pending & want;
	uint64_t pick = mine ? mine : all;

	if (!pick)
		return 0;
	int sig = __builtin_ctzll(pick) + 1;

	memset(si, 0, sizeof(*si));
	si->signo = sig;
	si->pid = 1;
	si->uid = a->uid[0];
	si->code = SI_USER_;
	if (mine) {
		__atomic_and_fetch(&at->sig_pending, ~bit(sig), __ATOMIC_SEQ_CST);
		if (at->sig_tkill & bit(sig))
			si->code = SI_TKILL_;
		at->sig_tkill &= ~bit(sig);
	} else {
		__atomic_and_fetch(&a->sig_pending, ~bit(sig), __ATOMIC_SEQ_CST);
		if (a->sig_kernel & bit(sig)) {
			si->code = SI_KERNEL_;
			si->pid = 0;
			si->uid = 0;
		}
		a->sig_kernel &= ~bit(sig);
	}
	return sig;
}

/* Wakes whatever the thread may be waiting in, and interrupts its CPU if it runs app
 * code there (a thread only ever takes its own signals). */
static void kick(struct app *a, struct app_thread *to)
{
	if (to && to != *thread_app(thread_self())) {
		struct thread *t = __atomic_load_n(&to->t, __ATOMIC_ACQUIRE);

		if (t) {
			sched_wake(t);
			sched_nudge(thread_cpu(t));
		}
	}
	waitq_wake(&a->sleepers, WAKE_ALL);
	hp_io_wake_all(a);
}

/* Sends sig (not SIGKILL) to a thread (`to`; by tkill/tgkill: si_code SI_TKILL), or to
 * the process (NULL: the caller if it does not block it, else any thread that does not,
 * else it waits for one that unblocks it). One from the kernel (si_code SI_KERNEL) stays
 * the process's, for the thread it picked (woken) or any other to take. With the app's
 * lock held unless `to` is the caller, so that the thread woken is not joined and freed
 * meanwhile (hp_clone joins under it). */
static void send(struct app *a, struct app_thread *to, int sig, bool tkill, bool kernel)
{
	struct app_thread *self = *thread_app(thread_self()); /* (NULL: the kernel's thread) */
	uint64_t f = lock(a);

	if (!to) {
		if (self && self->app == a && !(self->sig_blocked & bit(sig)))
			to = self;
		for (int i = 0; i < APP_THREADS && !to; i++) {
			struct app_thread *t = &a->threads[i];

			if (t->app && t->t && !__atomic_load_n(&t->ended, __ATOMIC_ACQUIRE) &&
			    !(t->sig_blocked & bit(sig)))
				to = t;
		}
	}
	/* job control, at the sending (POSIX): SIGCONT continues a stopped process whatever
	 * its action or mask, and takes back the stops pending; a stop takes back a SIGCONT
	 * pending */
	bool continued = false;

	if (sig == SIGCONT) {
		a->cont_gen++;
		unpend(a, STOPS);
		if (__atomic_load_n(&a->stopped, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&a->stopped, false, __ATOMIC_SEQ_CST);
			__atomic_store_n(&a->cont_news, true, __ATOMIC_SEQ_CST);
			continued = true;
		}
	} else if (default_stops(sig)) {
		unpend(a, bit(SIGCONT));
	}
	bool drop = ignored(a, sig) && (!to || !(to->sig_blocked & bit(sig)));

	if (!drop && to && !kernel) {
		__atomic_or_fetch(&to->sig_pending, bit(sig), __ATOMIC_SEQ_CST);
		if (tkill)
			to->sig_tkill |= bit(sig);
	} else if (!drop) {
		__atomic_or_fetch(&a->sig_pending, bit(sig), __ATOMIC_SEQ_CST);
		if (kernel)
			a->sig_kernel |= bit(sig);
		else
			a->sig_kernel &= ~bit(sig);
	}
	unlock(a, f);
	if (!drop)
		kick(a, to);
	else if (continued)
		waitq_wake(&a->sleepers, WAKE_ALL); /* (its threads wait there: stop_wait) */
}

void hp_thread_kick(struct app *a, struct app_thread *to)
{
	kick(a, to);
}

void hp_sig_pipe(struct app_thread *at)
{
	send(at->app, at, SIGPIPE, false, false);
}

void hp_sig_send(struct app *a, int sig, bool kernel)
{
	if (!sig || __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST))
		return;
	if (sig == SIGKILL) { /* (the whole process, at once: not under the lock it takes) */
		hp_end_app_sig(a, SIGKILL);
		return;
	}
	mutex_lock(&a->lock, NO_DEADLINE); /* (send may pick any thread: none ends meanwhile) */
	send(a, NULL, sig, false, kernel);
	mutex_unlock(&a->lock);
}

void hp_sig_kernel(struct app *a, int sig)
{
	hp_sig_send(a, sig, true);
}

/* --- the frame --------------------------------------------------------------------------- */

/* the FPU state a handler starts with, as on Linux (x87 control word 0x37f, MXCSR 0x1f80) */
static void fpu_reset(void)
{
	uint8_t fx[FPU_AREA_SIZE] __aligned(16);

	arch_fpu_init_area(fx);
	arch_fpu_restore(fx);
}

static bool on_altstack(const struct app_thread *at, uint64_t sp)
{
	return !(at->ss_flags & SS_DISABLE_) && sp > at->ss_sp && sp - at->ss_sp <= at->ss_size;
}

/* Writes the frame of signal `si` under action `sa` for the interrupted registers *r,
 * and points *r at the handler: true, or false when the frame could not be written (the
 * app then dies of SIGSEGV, as on Linux). `old` is the mask the handler's return puts
 * back. The FPU's registers are the thread's own here (the kernel uses none). */
static bool setup_frame(struct app_thread *at, struct trap_frame *r, const struct info *si,
			const struct app_sigaction *sa, uint64_t old)
{
	uint8_t fx[FPU_AREA_SIZE] __aligned(16);
	struct sigframe_ fr;
	uint64_t sp = r->rsp - 128; /* the red zone */

	if ((sa->flags & SA_ONSTACK_) && !(at->ss_flags & SS_DISABLE_) && !on_altstack(at, r->rsp))
		sp = at->ss_sp + at->ss_size;
	uint64_t fp = (sp - FPU_AREA_SIZE) & ~63ull;

	sp = ((fp - sizeof(fr)) & ~15ull) - 8; /* as after a call: (sp + 8) 16-byte aligned */
	memset(&fr, 0, sizeof(fr));
	fr.ret = sa->restorer;
	fr.uc.flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	fr.uc.ss_sp = at->ss_sp;
	fr.uc.ss_size = at->ss_size;
	fr.uc.ss_flags = (at->ss_flags & SS_DISABLE_)	? SS_DISABLE_
			 : on_altstack(at, r->rsp) ? SS_ONSTACK_
						   : (int32_t)(at->ss_flags & SS_AUTODISARM_);
	struct sigcontext_ *mc = &fr.uc.mc;

	mc->r8 = r->r8, mc->r9 = r->r9, mc->r10 = r->r10, mc->r11 = r->r11;
	mc->r12 = r->r12, mc->r13 = r->r13, mc->r14 = r->r14, mc->r15 = r->r15;
	mc->rdi = r->rdi, mc->rsi = r->rsi, mc->rbp = r->rbp, mc->rbx = r->rbx;
	mc->rdx = r->rdx, mc->rax = r->rax, mc->rcx = r->rcx, mc->rsp = r->rsp;
	mc->rip = r->rip;
	mc->eflags = r->rflags & (RFLAGS_USER | RFLAGS_IF);
	mc->cs = LINUX_USER_CS;
	mc->ss = LINUX_USER_SS;
	mc->trapno = r->vector;
	mc->err = r->error;
	mc->oldmask = old;
	mc->cr2 = si->code > 0 && si->code < SI_KERNEL_ ? si->addr : 0;
	mc->fpstate = fp;
	fr.uc.sigmask = old;
	memcpy(fr.info, si, sizeof(fr.info));
	arch_fpu_save(fx);
	if (!(sa->flags & SA_RESTORER_) || copy_to_app(fp, fx, sizeof(fx)) ||
	    copy_to_app(sp, &fr, sizeof(fr)))
		return false;
	r->rip = sa->handler;
	r->rsp = sp;
	r->rdi = (uint64_t)si->signo;
	r->rsi = sp + __builtin_offsetof(struct sigframe_, info);
	r->rdx = sp + __builtin_offsetof(struct sigframe_, uc);
	r->rax = 0;
	r->rflags &= ~(uint64_t)(RFLAGS_DF | RFLAGS_TF);
	if (at->ss_flags & SS_AUTODISARM_ && on_altstack(at, sp + 1)) {
		at->ss_sp = 0;
		at->ss_size = 0;
		at->ss_flags = SS_DISABLE_;
	}
	fpu_reset();
	return true;
}

/* What became of a signal taken by a thread. */
enum outcome { DROPPED, HANDLER, FATAL, FATAL_SEGV, STOP };

/* system calls made again after a handler with SA_RESTART (Linux's -ERESTARTSYS ones),
 * and, when no handler ran (a stop and a SIGCONT cut them short), also the waits for
 * events (poll, select, epoll), pause, sigsuspend and the sleeps; the rest return
 * -EINTR */
static bool restarts(uint64_t nr, bool handler)
{
	switch (nr) {
	case 0: case 1: case 17: case 18: case 19: case 20: /* read write pread pwrite readv writev */
	case 40: case 43: case 44: case 45: case 46: case 47: /* sendfile accept sendto recvfrom sendmsg recvmsg */
	case 61: case 72: case 202: case 288: case 295: case 296: /* wait4 fcntl futex accept4 preadv pwritev */
	case 247: /* waitid */
	case 2: case 257: case 16: /* open openat ioctl */
		return true;
	case 7: case 23: case 232: case 270: case 271: case 281: /* poll select epoll_wait pselect6 ppoll epoll_pwait */
	case 34: case 130: case 35: case 230: /* pause rt_sigsuspend nanosleep clock_nanosleep */
		return !handler;
	}
	return false;
}

/* Acts on signal si for the thread whose registers are *r: drops it (ignored), enters its
 * handler, or says it is fatal: its default action (FATAL), or SIGSEGV for a handler
 * outside the user range or a frame that cannot be written (FATAL_SEGV), as on Linux. `sys`:
 * the system call *r ends (NULL: a trap), made again after the handler if it says so. */
static enum outcome act(struct app_thread *at, struct trap_frame *r, const struct info *si,
			const struct syscall_frame *sys)
{
	struct app *a = at->app;
	int sig = si->signo;
	uint64_t f = lock(a);
	struct app_sigaction sa = a->sigs[sig - 1];

	if (sa.handler == SIG_IGN_ || (sa.handler == SIG_DFL_ && default_ignores(sig))) {
		unlock(a, f);
		return DROPPED;
	}
	if (sa.handler == SIG_DFL_) {
		unlock(a, f);
		return default_stops(sig) ? STOP : FATAL;
	}
	if (sa.flags & SA_RESETHAND_) {
		a->sigs[sig - 1].handler = SIG_DFL_;
		a->sigs[sig - 1].flags &= ~(uint64_t)SA_SIGINFO_;
	}
	unlock(a, f);
	uint64_t old = at->sig_restore_set ? at->sig_restore : at->sig_blocked;

	if (sys && r->rax == (uint64_t)-EINTR && (sa.flags & SA_RESTART_) && restarts(sys->nr, true)) {
		r->rip -= 2; /* the handler returns to the syscall instruction, %rax its number */
		r->rax = sys->nr;
	}
	if (!app_range(sa.handler, 1) || !setup_frame(at, r, si, &sa, old))
		return FATAL_SEGV;
	at->sig_restore_set = false;
	at->sig_blocked = (old | sa.mask | (sa.flags & SA_NODEFER_ ? 0 : bit(sig))) & ~UNBLOCKABLE;
	return HANDLER;
}

static bool continued(void *arg)
{
	struct app *a = arg;

	return !__atomic_load_n(&a->stopped, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST);
}

/* A thread of a stopped process waits until a SIGCONT (or its end); the first to see the
 * SIGCONT tells the parent. */
static void stop_wait(struct app_thread *at)
{
	struct app *a = at->app;

	while (!continued(a))
		waitq_wait(&a->sleepers, continued, a, NO_DEADLINE);
	if (__atomic_exchange_n(&a->cont_news, false, __ATOMIC_SEQ_CST))
		hp_proc_stopped(a, SIGCONT);
}

/* A stop signal's default action, taken by this thread when cont_gen was gen: the whole
 * process stops (unless a SIGCONT came since, or the terminal's stop finds its group
 * orphaned), its parent learns of it and its other threads stop as they see it; then this
 * one waits. */
static void stop(struct app_thread *at, int sig, uint64_t gen)
{
	struct app *a = at->app;

	if (sig != SIGSTOP && hp_pgrp_orphaned(a))
		return; /* (POSIX: nobody in the session could continue it) */
	uint64_t f = lock(a);
	bool now = a->cont_gen == gen && !__atomic_load_n(&a->stopped, __ATOMIC_SEQ_CST);

	if (now)
		__atomic_store_n(&a->stopped, true, __ATOMIC_SEQ_CST);
	unlock(a, f);
	if (now) {
		hp_proc_stopped(a, sig);
		mutex_lock(&a->lock, NO_DEADLINE); /* (no thread is joined meanwhile) */
		for (int i = 0; i < APP_THREADS; i++) {
			struct app_thread *t = &a->threads[i];

			if (t != at && t->app && t->t && !__atomic_load_n(&t->ended, __ATOMIC_ACQUIRE))
				kick(a, t);
		}
		mutex_unlock(&a->lock);
	}
	stop_wait(at);
}

/* Takes the thread's deliverable signals for the registers *r until one enters a handler:
 * HANDLER, DROPPED (none did), or FATAL with *fatal the signal (its default action), or
 * minus the signal whose handler could not be entered (the app dies of SIGSEGV). A stop
 * signal's default action stops the process here until a SIGCONT. */
static enum outcome deliver(struct app_thread *at, struct trap_frame *r,
			    const struct syscall_frame *sys, int *fatal)
{
	for (;;) {
		struct info si;

		if (__atomic_load_n(&at->app->stopped, __ATOMIC_SEQ_CST))
			stop_wait(at); /* (another thread stopped the process) */
		uint64_t f = lock(at->app);
		int sig = take(at, ~at->sig_blocked, &si);
		uint64_t gen = at->app->cont_gen;

		unlock(at->app, f);
		if (!sig)
			return DROPPED;
		enum outcome o = act(at, r, &si, sys);

		if (o == STOP) {
			stop(at, sig, gen);
			continue;
		}
		if (o == FATAL || o == FATAL_SEGV) {
			*fatal = o == FATAL ? sig : -sig;
			return FATAL;
		}
		if (o != DROPPED)
			return o;
	}
}

/* why the app dies of what deliver() calls fatal */
static const char *fatal_why(int fatal)
{
	return fatal < 0 ? "the handler of a signal is outside the user range, or its frame "
			   "could not be written"
			 : "the signal's default action";
}

static void __noreturn die(struct app_thread *at, int fatal, uint64_t rip)
{
	hp_kill(at, fatal < 0 ? SIGSEGV : fatal, fatal_why(fatal), rip);
}

/* --- the three points where a thread takes its signals ---------------------------------- */

long hp_sig_syscall_end(struct app_thread *at, struct syscall_frame *f, long r)
{
	int fatal = 0;
	struct trap_frame t = {
	    .r15 = f->r15, .r14 = f->r14, .r13 = f->r13, .r12 = f->r12,
	    .r11 = f->rflags, .r10 = f->r10, .r9 = f->r9, .r8 = f->r8,
	    .rdi = f->rdi, .rsi = f->rsi, .rbp = f->rbp, .rbx = f->rbx,
	    .rdx = f->rdx, .rcx = f->rip, .rax = (uint64_t)r, /* (what syscall leaves) */
	    .rip = f->rip, .cs = f->cs, .rflags = f->rflags, .rsp = f->rsp, .ss = f->ss,
	};
	enum outcome o = hp_sig_ready(at) ? deliver(at, &t, f, &fatal) : DROPPED;

	if (o == FATAL)
		die(at, fatal, f->rip);
	if (o == DROPPED && r == -EINTR && restarts(f->nr, false)) {
		t.rip -= 2;
		t.rax = f->nr;
		/* a relative sleep goes on for what was left, which it wrote to *rem */
		if (f->nr == 35 && f->rsi)
			t.rdi = f->rsi;
		if (f->nr == 230 && !(f->rsi & 1) && f->r10)
			t.rdx = f->r10;
	}
	if (at->sig_restore_set) { /* sigsuspend and the like, when no handler ran */
		at->sig_blocked = at->sig_restore;
		at->sig_restore_set = false;
	}
	f->rip = t.rip;
	f->rsp = t.rsp;
	f->rdi = t.rdi;
	f->rsi = t.rsi;
	f->rdx = t.rdx;
	f->rflags = t.rflags;
	return (long)t.rax;
}

bool hp_sig_fault(struct app_thread *at, struct trap_frame *r, int sig, int code, uint64_t addr)
{
	struct info si = {.signo = sig, .code = code, .addr = addr};

	/* blocked, ignored or default: the app ends (Linux's force_sig) */
	if (at->sig_blocked & bit(sig))
		return false;
	return act(at, r, &si, NULL) == HANDLER; /* (FATAL_SEGV: it dies of the fault) */
}

int hp_sig_interrupt(struct app_thread *at, struct trap_frame *r, const char **why)
{
	int fatal = 0;

	if (!hp_sig_ready(at) || deliver(at, r, NULL, &fatal) != FATAL)
		return 0;
	*why = fatal_why(fatal);
	return fatal < 0 ? SIGSEGV : fatal;
}

/* rt_sigreturn: the registers, mask and FPU state of the frame at the app's %rsp */
static void __noreturn sigreturn(struct app_thread *at, const struct syscall_frame *f)
{
	uint8_t fx[FPU_AREA_SIZE] __aligned(16), cur_fx[FPU_AREA_SIZE] __aligned(16);
	struct ucontext_ uc;

	if (copy_from_app(&uc, f->rsp, sizeof(uc)))
		hp_kill(at, SIGSEGV, "rt_sigreturn without a signal frame at its stack pointer", f->rip);
	const struct sigcontext_ *mc = &uc.mc;

	if (!app_range(mc->rip, 1) || !app_range(mc->rsp, 1))
		hp_kill(at, SIGSEGV, "rt_sigreturn to an address outside the user range", mc->rip);
	if (mc->fpstate) {
		if (copy_from_app(fx, mc->fpstate, sizeof(fx)))
			hp_kill(at, SIGSEGV, "rt_sigreturn with its FPU state unreadable", f->rip);
		/* MXCSR's reserved bits would make fxrstor fault: the CPU's mask says which */
		uint32_t mxcsr, mask;

		arch_fpu_save(cur_fx);
		memcpy(&mask, cur_fx + 28, 4);
		memcpy(&mxcsr, fx + 24, 4);
		mxcsr &= mask ? mask : 0xffbf;
		memcpy(fx + 24, &mxcsr, 4);
		memcpy(fx + 28, &mask, 4);
	} else {
		arch_fpu_init_area(fx);
	}
	at->sig_blocked = uc.sigmask & ~UNBLOCKABLE;
	struct trap_frame t = {
	    .r15 = mc->r15, .r14 = mc->r14, .r13 = mc->r13, .r12 = mc->r12,
	    .r11 = mc->r11, .r10 = mc->r10, .r9 = mc->r9, .r8 = mc->r8,
	    .rdi = mc->rdi, .rsi = mc->rsi, .rbp = mc->rbp, .rbx = mc->rbx,
	    .rdx = mc->rdx, .rcx = mc->rcx, .rax = mc->rax,
	    .rip = mc->rip, .rflags = (mc->eflags & RFLAGS_USER) | RFLAGS_IF, .rsp = mc->rsp,
	    /* the mode's selectors, never the frame's (HP mode natively: ring 0's) */
	    .cs = f->cs ? f->cs : arch->kernel_cs, .ss = f->cs ? f->ss : arch->kernel_ss,
	};
	arch_fpu_restore(fx);
	int fatal = 0;

	if (hp_sig_ready(at) && deliver(at, &t, NULL, &fatal) == FATAL)
		die(at, fatal, t.rip);
	if (hp_thread_ends(at))
		hp_exit(at, at->app->status, false);
	irq_save();
	arch->app_return(&t);
}

/* --- the calls --------------------------------------------------------------------------- */

static long sigaction_(struct app *a, int sig, uint64_t in, uint64_t out, uint64_t size)
{
	struct app_sigaction n, o;

	if (size != 8 || sig < 1 || sig > HP_NSIG)
		return -EINVAL;
	if (in && copy_from_app(&n, in, sizeof(n)))
		return -EFAULT;
	if (in && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	uint64_t f = lock(a);

	o = a->sigs[sig - 1];
	if (in) {
		n.mask &= ~UNBLOCKABLE;
		a->sigs[sig - 1] = n;
		/* POSIX: a signal set to be ignored is dropped where it is pending */
		if (ignored(a, sig)) {
			__atomic_and_fetch(&a->sig_pending, ~bit(sig), __ATOMIC_SEQ_CST);
			for (int i = 0; i < APP_THREADS; i++)
				__atomic_and_fetch(&a->threads[i].sig_pending, ~bit(sig),
						   __ATOMIC_SEQ_CST);
		}
	}
	unlock(a, f);
	return out && copy_to_app(out, &o, sizeof(o)) ? -EFAULT : 0;
}

static long sigprocmask_(struct app_thread *at, uint64_t how, uint64_t in, uint64_t out,
			 uint64_t size)
{
	uint64_t set, old = at->sig_blocked;

	if (size != 8)
		return -EINVAL;
	if (in) {
		if (copy_from_app(&set, in, 8))
			return -EFAULT;
		if (how > 2)
			return -EINVAL;
	}
	if (out && copy_to_app(out, &old, 8))
		return -EFAULT;
	if (in) {
		uint64_t now = how == 0 ? old | set : how == 1 ? old & ~set : set;

		at->sig_blocked = now & ~UNBLOCKABLE;
	}
	return 0;
}

static long sigaltstack_(struct app_thread *at, uint64_t in, uint64_t out, uint64_t sp)
{
	struct {
		uint64_t sp;
		int32_t flags, pad;
		uint64_t size;
	} n, o = {at->ss_sp, (int32_t)at->ss_flags, 0, at->ss_size};

	if (on_altstack(at, sp))
		o.flags = SS_ONSTACK_;
	if (in && copy_from_app(&n, in, sizeof(n)))
		return -EFAULT;
	if (out && copy_to_app(out, &o, sizeof(o)))
		return -EFAULT;
	if (!in)
		return 0;
	if (on_altstack(at, sp))
		return -EPERM;
	uint32_t mode = (uint32_t)n.flags & ~SS_AUTODISARM_;

	if (mode != 0 && mode != SS_DISABLE_ && mode != SS_ONSTACK_)
		return -EINVAL;
	if (mode == SS_DISABLE_) {
		at->ss_sp = 0;
		at->ss_size = 0;
		at->ss_flags = SS_DISABLE_;
		return 0;
	}
	if (n.size < MINSIGSTKSZ_)
		return -ENOMEM;
	at->ss_sp = n.sp;
	at->ss_size = n.size;
	at->ss_flags = (uint32_t)n.flags & SS_AUTODISARM_;
	return 0;
}

struct waiting {
	struct app_thread *at;
	uint64_t set; /* sigtimedwait's: taken without a handler */
};

static bool wait_done(void *arg)
{
	struct waiting *w = arg;

	return hp_interrupted(w->at->app) || (pending(w->at) & w->set);
}

/* rt_sigsuspend and pause: the mask `mask` until a signal's handler has run */
static long suspend(struct app_thread *at, uint64_t mask)
{
	struct waiting w = {at, 0};

	at->sig_restore = at->sig_blocked;
	at->sig_restore_set = true;
	at->sig_blocked = mask & ~UNBLOCKABLE;
	waitq_wait(&at->app->sleepers, wait_done, &w, NO_DEADLINE);
	return -EINTR;
}

static long sigtimedwait_(struct app_thread *at, uint64_t setp, uint64_t infop, uint64_t tsp,
			  uint64_t size)
{
	struct waiting w = {at, 0};
	struct info si;
	int64_t ts[2];
	uint64_t deadline = NO_DEADLINE;

	if (size != 8)
		return -EINVAL;
	if (copy_from_app(&w.set, setp, 8))
		return -EFAULT;
	w.set &= ~UNBLOCKABLE;
	if (tsp) {
		if (copy_from_app(ts, tsp, sizeof(ts)))
			return -EFAULT;
		if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
			return -EINVAL;
		deadline = clock_ns() + (uint64_t)MIN(ts[0], 1000000000ll * 1000) * 1000000000ull +
			   (uint64_t)ts[1];
	}
	for (;;) {
		uint64_t f = lock(at->app);
		int sig = take(at, w.set, &si);

		unlock(at->app, f);
		if (sig)
			return infop && copy_to_app(infop, &si, sizeof(si)) ? -EFAULT : sig;
		if (hp_interrupted(at->app))
			return -EINTR;
		if (waitq_wait(&at->app->sleepers, wait_done, &w, deadline) == -ETIMEDOUT)
			return -EAGAIN;
	}
}

static long sigpending_(struct app_thread *at, uint64_t out, uint64_t size)
{
	uint64_t set = pending(at) & at->sig_blocked;

	if (size > 8) /* (Linux: any size up to its sigset's) */
		return -EINVAL;
	return copy_to_app(out, &set, size) ? -EFAULT : 0;
}

/* kill to another process of the tree (pid > 0): 0, or -ESRCH */
static long kill_other(struct app *a, int64_t pid, int sig)
{
	struct app *top = a->top;
	long rc = 0;

	mutex_lock(&top->proc_lock, NO_DEADLINE); /* (the process is not reaped meanwhile) */
	struct app *p = hp_proc_find(a, pid);

	if (!p || p->zombie)
		rc = -ESRCH;
	else
		hp_sig_send(p, sig, false);
	mutex_unlock(&top->proc_lock);
	return rc;
}

/* kill, tkill, tgkill: to the process itself (its pid; 0 and -1 mean it too), a thread of
 * it, or another process of the tree */
static long kill_(struct app_thread *at, int64_t pid, int64_t tid, int64_t sig)
{
	struct app *a = at->app;
	bool locked = false;
	struct app_thread *to = NULL;

	if (sig < 0 || sig > HP_NSIG)
		return -EINVAL;
	if (tid != -1) {
		if (tid <= 0 || pid == 0 || pid < -1)
			return -EINVAL;
		if (pid != -1 && pid != a->pid)
			return -ESRCH;
		to = hp_thread_by_tid(a, at, tid, &locked);
		if (!to)
			return -ESRCH;
	} else if (pid > 0 && pid != a->pid) {
		return kill_other(a, pid, (int)sig);
	} else if (pid <= 0) { /* a group: the caller's (0), -pid's, every process (-1) */
		mutex_lock(&a->top->proc_lock, NO_DEADLINE);
		int64_t g = pid == 0 ? a->pgid : pid;

		mutex_unlock(&a->top->proc_lock);
		return hp_kill_group(a, g == -1 ? -1 : g < 0 ? -g : g, (int)sig, false);
	} else if (sig && sig != SIGKILL) {
		mutex_lock(&a->lock, NO_DEADLINE); /* (send may pick another thread) */
		locked = true;
	}
	if (sig && sig != SIGKILL)
		send(a, to, (int)sig, to != NULL, false);
	if (locked)
		mutex_unlock(&a->lock);
	if (sig == SIGKILL) /* (the whole app, at once; not under the lock it takes) */
		hp_end_app_sig(a, SIGKILL);
	return 0;
}

long hp_sig_call(struct app_thread *at, struct syscall_frame *f)
{
	uint64_t a1 = f->rdi, a2 = f->rsi, a3 = f->rdx, a4 = f->r10;

	switch (f->nr) {
	case 13: /* rt_sigaction */
		return sigaction_(at->app, (int)a1, a2, a3, a4);
	case 14: /* rt_sigprocmask */
		return sigprocmask_(at, a1, a2, a3, a4);
	case 15: /* rt_sigreturn */
		sigreturn(at, f);
	case 34: /* pause */
		return suspend(at, at->sig_blocked);
	case 62: /* kill */
		return kill_(at, (int32_t)a1, -1, (int32_t)a2);
	case 127: /* rt_sigpending */
		return sigpending_(at, a1, a2);
	case 128: /* rt_sigtimedwait */
		return sigtimedwait_(at, a1, a2, a3, a4);
	case 130: { /* rt_sigsuspend */
		uint64_t mask;

		if (a2 != 8)
			return -EINVAL;
		return copy_from_app(&mask, a1, 8) ? -EFAULT : suspend(at, mask);
	}
	case 131: /* sigaltstack */
		return sigaltstack_(at, a1, a2, f->rsp);
	case 200: /* tkill */
		return kill_(at, -1, (int32_t)a1, (int32_t)a2);
	case 234: /* tgkill */
		return kill_(at, (int32_t)a1, (int32_t)a2, (int32_t)a3);
	}
	return -ENOSYS;
}

long hp_sig_mask_swap(struct app_thread *at, uint64_t maskp, uint64_t size)
{
	uint64_t mask;

	if (!maskp)
		return 0;
	if (size != 8)
		return -EINVAL;
	if (copy_from_app(&mask, maskp, 8))
		return -EFAULT;
	at->sig_restore = at->sig_blocked;
	at->sig_restore_set = true;
	at->sig_blocked = mask & ~UNBLOCKABLE;
	return 0;
}

void hp_sig_exec(struct app_thread *at)
{
	struct app *a = at->app;
	uint64_t f = lock(a);

	for (int i = 0; i < HP_NSIG; i++)
		if (a->sigs[i].handler > 1) /* (SIG_DFL 0 and SIG_IGN 1 stay) */
			a->sigs[i] = (struct app_sigaction){0};
	unlock(a, f);
	at->ss_sp = at->ss_size = 0;
	at->ss_flags = SS_DISABLE_;
	at->sig_restore_set = false;
	fpu_reset();
}

void hp_sig_thread_init(struct app_thread *child, const struct app_thread *parent)
{
	child->sig_blocked = parent ? parent->sig_blocked : 0;
	child->ss_flags = SS_DISABLE_;
}
