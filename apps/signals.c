/* Signals as Linux delivers them: handlers with their siginfo, masks and pending signals,
 * sigsuspend, sigtimedwait, SA_RESETHAND, SA_NODEFER, the alternate stack, faults caught
 * (SIGSEGV with its address and code, SIGFPE, SIGILL) and a handler that moves the
 * faulting instruction on, every register coming back from a handler, a signal to a thread
 * that makes no system call, EINTR and SA_RESTART for a blocked read, SIGPIPE, and at the
 * end a signal's default action. Every line must be the same on Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static int checks, failed;

static void check(int ok, const char *what)
{
	checks++;
	if (!ok)
		failed++;
	printf("%s: %s\n", ok ? "ok" : "FAILED", what);
}

/* what the last handler saw (async-signal-safe: stores only) */
static volatile sig_atomic_t got, got_count;
static volatile int got_code, got_pid, blocked_inside, on_alt, alt_flags;
static void *volatile got_addr;
static char altstack[65536];

static void on_info(int sig, siginfo_t *si, void *uc)
{
	sigset_t now;
	stack_t ss;
	char local;

	(void)uc;
	got = sig;
	got_count++;
	got_code = si->si_code;
	got_pid = si->si_pid;
	got_addr = si->si_addr;
	sigprocmask(SIG_BLOCK, NULL, &now);
	blocked_inside = sigismember(&now, sig);
	on_alt = &local >= altstack && &local < altstack + sizeof(altstack);
	sigaltstack(NULL, &ss);
	alt_flags = ss.ss_flags;
}

static void set(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void reset(void)
{
	got = 0;
	got_count = 0;
	got_code = -100;
	got_addr = (void *)1;
}

/* --- faults ------------------------------------------------------------------------------ */

static sigjmp_buf jb;
static volatile uintptr_t bad_addr = 16; /* (a variable: the compiler cannot tell it is bad) */

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	on_info(sig, si, uc);
	siglongjmp(jb, 1);
}

/* a load from address 8 whose handler moves rip past it (8 bytes: movq 0x8, %rax) and sets
 * %rax; every other register as it was: the values set before must be there after */
static void skip_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	on_info(sig, si, ucv);
	uc->uc_mcontext.gregs[REG_RIP] += 8;
	uc->uc_mcontext.gregs[REG_RAX] = 0x5eed;
}

static int registers_survive(void)
{
	uint64_t out[8];

	__asm__ __volatile__("mov $0x1111, %%rbx\n"
			     "mov $0x2222, %%rcx\n"
			     "mov $0x3333, %%r11\n"
			     "mov $0x4444, %%r12\n"
			     "mov $0x5555, %%r13\n"
			     "mov $0x6666, %%rsi\n"
			     "mov $0x7777, %%r8\n"
			     "mov $0, %%eax\n"
			     /* movq 0x8, %rax: an absolute load, 8 bytes (SIB form) */
			     ".byte 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00\n"
			     "mov %%rbx, 0(%%rdi)\n"
			     "mov %%rcx, 8(%%rdi)\n"
			     "mov %%r11, 16(%%rdi)\n"
			     "mov %%r12, 24(%%rdi)\n"
			     "mov %%r13, 32(%%rdi)\n"
			     "mov %%rsi, 40(%%rdi)\n"
			     "mov %%r8, 48(%%rdi)\n"
			     "mov %%rax, 56(%%rdi)\n"
			     :
			     : "D"(out)
			     : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13",
			       "memory");
	return out[0] == 0x1111 && out[1] == 0x2222 && out[2] == 0x3333 && out[3] == 0x4444 &&
	       out[4] == 0x5555 && out[5] == 0x6666 && out[6] == 0x7777 && out[7] == 0x5eed;
}

/* --- threads -------------------------------------------------------------------------------- */

static volatile int spin_stop, spinning;

static void on_stop(int sig)
{
	(void)sig;
	spin_stop = 1;
}

static void *spinner(void *arg)
{
	(void)arg;
	spinning = 1;
	while (!spin_stop)
		__asm__ __volatile__("" ::: "memory"); /* no system call: only an interrupt */
	return NULL;
}

static int pfd[2];
static volatile long read_rc;
static volatile int read_errno, reader_in;

static void *reader(void *arg)
{
	char c;

	(void)arg;
	reader_in = 1;
	read_rc = read(pfd[0], &c, 1);
	read_errno = errno;
	return NULL;
}

static volatile int sleep_rc, sleep_errno, sleeper_in;
static struct timespec sleep_rem;

static void *sleeper(void *arg)
{
	struct timespec t = {3, 0};

	(void)arg;
	sleeper_in = 1;
	sleep_rc = nanosleep(&t, &sleep_rem);
	sleep_errno = errno;
	return NULL;
}

static void on_plain(int sig)
{
	got = sig;
	got_count++;
}

static void sleep_ms(int ms)
{
	struct timespec t = {0, ms * 1000000L};

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* A thread blocked reading the pipe gets SIGUSR2 (its handler with sa_flags `flags`); a
 * byte is written 100 ms later, for a read that goes on. The thread says it is about to
 * read, but may be slow to start (two vCPUs on one physical CPU): a signal that came
 * before its read shows as a read of the byte without EINTR, and the round is done again
 * (at most 10 times), so only a read that is never interrupted fails. */
static void blocked_read(int flags)
{
	struct sigaction sa;
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_plain;
	sa.sa_flags = flags;
	sigaction(SIGUSR2, &sa, NULL);
	for (int round = 0; round < 10; round++) {
		got = 0;
		reader_in = 0;
		pthread_create(&t, NULL, reader, NULL);
		while (!reader_in)
			sleep_ms(1);
		sleep_ms(100);
		pthread_kill(t, SIGUSR2);
		sleep_ms(100);
		write(pfd[1], "x", 1); /* (EINTR: nobody reads it; the next round drains it) */
		pthread_join(t, NULL);
		if (read_rc == -1) {
			char c;

			read(pfd[0], &c, 1);
		}
		if ((flags & SA_RESTART) || read_rc == -1)
			return;
	}
}

/* A thread sleeping 3 s gets SIGUSR2 after 100 ms; a signal that came before its sleep
 * (see blocked_read) shows as a full sleep, and the round is done again. */
static void cut_sleep(void)
{
	pthread_t t;

	for (int round = 0; round < 5; round++) {
		sleeper_in = 0;
		pthread_create(&t, NULL, sleeper, NULL);
		while (!sleeper_in)
			sleep_ms(1);
		sleep_ms(100);
		pthread_kill(t, SIGUSR2);
		pthread_join(t, NULL);
		if (sleep_rc == -1)
			return;
	}
}

int main(void)
{
	sigset_t s, old;
	struct sigaction sa;
	char line[160];

	setvbuf(stdout, NULL, _IOLBF, 0);

	/* a handler, by raise (tkill) and by kill */
	set(SIGUSR1, on_info, 0);
	reset();
	raise(SIGUSR1);
	check(got == SIGUSR1 && got_code == SI_TKILL, "raise: the handler ran with SI_TKILL");
	check(blocked_inside == 1, "inside, its own signal is blocked");
	sigprocmask(SIG_BLOCK, NULL, &s);
	check(!sigismember(&s, SIGUSR1), "after, it is not");
	reset();
	kill(getpid(), SIGUSR1);
	check(got == SIGUSR1 && got_code == SI_USER && got_pid == getpid(),
	      "kill: SI_USER, from our own pid");

	/* blocked: pending, then taken when unblocked */
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, &old);
	reset();
	raise(SIGUSR1);
	sigpending(&s);
	check(got == 0 && sigismember(&s, SIGUSR1), "blocked: not taken, pending");
	sigprocmask(SIG_SETMASK, &old, NULL);
	check(got == SIGUSR1, "unblocked: taken at once");
	sigpending(&s);
	check(!sigismember(&s, SIGUSR1), "and no longer pending");

	/* sigsuspend: the mask for the wait, the old one after */
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, &old);
	reset();
	raise(SIGUSR1);
	sigemptyset(&s);
	int rc = sigsuspend(&s);
	check(rc == -1 && errno == EINTR && got == SIGUSR1, "sigsuspend: the handler, then EINTR");
	sigprocmask(SIG_SETMASK, NULL, &s);
	check(sigismember(&s, SIGUSR1), "sigsuspend: the old mask is back");
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* sigtimedwait */
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	sigprocmask(SIG_BLOCK, &s, &old);
	kill(getpid(), SIGUSR2);
	siginfo_t si;
	struct timespec ts = {1, 0};

	rc = sigtimedwait(&s, &si, &ts);
	check(rc == SIGUSR2 && si.si_signo == SIGUSR2 && si.si_code == SI_USER,
	      "sigtimedwait: takes a blocked pending signal, with its info");
	ts.tv_sec = 0;
	ts.tv_nsec = 20000000;
	rc = sigtimedwait(&s, &si, &ts);
	check(rc == -1 && errno == EAGAIN, "sigtimedwait: EAGAIN when none came in time");
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* SA_RESETHAND and SA_NODEFER */
	set(SIGUSR2, on_info, SA_RESETHAND | SA_NODEFER);
	reset();
	raise(SIGUSR2);
	sigaction(SIGUSR2, NULL, &sa);
	check(got == SIGUSR2 && sa.sa_handler == SIG_DFL, "SA_RESETHAND: the action is SIG_DFL after");
	check(blocked_inside == 0, "SA_NODEFER: not blocked inside");

	/* ignored signals, and what cannot be changed */
	signal(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
	check(1, "an ignored signal is dropped");
	check(sigaction(SIGKILL, &sa, NULL) == -1 && errno == EINVAL, "SIGKILL's action: EINVAL");
	check(kill(getpid(), 65) == -1 && errno == EINVAL, "signal 65: EINVAL");
	check(kill(0x3fffffff, 0) == -1 && errno == ESRCH, "kill of no such process: ESRCH");
	check(syscall(SYS_tgkill, getpid(), 0x3fffffff, SIGUSR1) == -1 && errno == ESRCH,
	      "tgkill of no such thread: ESRCH");
	check(kill(getpid(), 0) == 0, "kill with signal 0: we exist");

	/* the alternate stack */
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0};

	check(sigaltstack(&ss, NULL) == 0, "sigaltstack set");
	set(SIGUSR1, on_info, SA_ONSTACK);
	reset();
	raise(SIGUSR1);
	check(got == SIGUSR1 && on_alt && alt_flags == SS_ONSTACK,
	      "SA_ONSTACK: the handler runs on it, sigaltstack says SS_ONSTACK");
	set(SIGUSR1, on_info, 0);
	reset();
	raise(SIGUSR1);
	check(got == SIGUSR1 && !on_alt, "without SA_ONSTACK: on the thread's stack");
	ss.ss_size = 100;
	check(sigaltstack(&ss, NULL) == -1 && errno == ENOMEM, "a stack too small: ENOMEM");

	/* faults */
	set(SIGSEGV, on_fault, SA_ONSTACK);
	reset();
	if (!sigsetjmp(jb, 1))
		*(volatile int *)bad_addr = 1;
	check(got == SIGSEGV && got_code == SEGV_MAPERR && got_addr == (void *)16 && on_alt,
	      "SIGSEGV: SEGV_MAPERR, the address, on the alternate stack");
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	reset();
	if (!sigsetjmp(jb, 1))
		*(volatile char *)(ro + 5) = 1;
	check(got == SIGSEGV && got_code == SEGV_ACCERR && got_addr == ro + 5,
	      "SIGSEGV: SEGV_ACCERR for a write to a read-only page");
	set(SIGFPE, on_fault, 0);
	reset();
	volatile int zero = 0;

	if (!sigsetjmp(jb, 1))
		zero = 10 / zero;
	check(got == SIGFPE && got_code == FPE_INTDIV, "SIGFPE: FPE_INTDIV");
	set(SIGILL, on_fault, 0);
	reset();
	if (!sigsetjmp(jb, 1))
		__asm__ __volatile__("ud2");
	check(got == SIGILL && got_code == ILL_ILLOPN, "SIGILL: ILL_ILLOPN");
	sigprocmask(SIG_BLOCK, NULL, &s);
	check(!sigismember(&s, SIGILL) && !sigismember(&s, SIGSEGV),
	      "siglongjmp out of a handler puts the mask back");
	set(SIGSEGV, skip_fault, 0);
	reset();
	check(registers_survive() && got == SIGSEGV,
	      "a handler moves rip on: every register comes back (rcx and r11 too)");

	/* a signal to a thread that never makes a system call */
	pthread_t t;

	signal(SIGUSR1, on_stop);
	pthread_create(&t, NULL, spinner, NULL);
	while (!spinning)
		sleep_ms(1);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	check(spin_stop, "pthread_kill stops a thread spinning without system calls");

	/* a blocked read: EINTR, or made again with SA_RESTART */
	pipe(pfd);
	blocked_read(0);
	check(read_rc == -1 && read_errno == EINTR && got == SIGUSR2,
	      "a blocked read: the handler, then EINTR");
	blocked_read(SA_RESTART);
	check(read_rc == 1 && got == SIGUSR2, "SA_RESTART: the handler, and the read goes on");

	/* a sleep cut short says what was left */
	cut_sleep();
	check(sleep_rc == -1 && sleep_errno == EINTR && sleep_rem.tv_sec >= 1 &&
		  sleep_rem.tv_sec < 3,
	      "nanosleep: EINTR, and the time left");

	/* SIGPIPE */
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	check(write(pfd[1], "x", 1) == -1 && errno == EPIPE, "SIGPIPE ignored: EPIPE");
	set(SIGPIPE, on_info, 0);
	reset();
	rc = (int)write(pfd[1], "x", 1);
	check(rc == -1 && errno == EPIPE && got == SIGPIPE, "SIGPIPE caught, and EPIPE");
	close(pfd[1]);

	snprintf(line, sizeof(line), "signals: %d checks, %d failed", checks, failed);
	puts(line);
	/* the default action of SIGTERM: the process ends, status 128 + 15 */
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
	puts("signals: still here after SIGTERM");
	return 0;
}
