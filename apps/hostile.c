/* hostile: attacks on the kernel from a normal-mode app, for the hardening tests. Each
 * attack either gets an error code back (the app goes on and says so) or ends the app
 * with a signal; none may crash or panic the kernel, or give the app rights it must not
 * have. Usage: hostile ATTACK [ADDRESS]:
 *   entry ADDR     jump to a kernel entry point with crafted registers (%r11: IOPL 3,
 *                  %rcx: a return address), then try an I/O port: must die by SIGSEGV
 *   entry_nc ADDR  the same with a non-canonical return address in %rcx
 *   call ADDR      call a kernel address (its text): must die by SIGSEGV
 *   systop         `syscall` in the top user page (returns there by iretq: works), then in
 *                  the last bytes of the user range (returns to a non-canonical address:
 *                  must die by SIGSEGV, on Linux too, where mmap refuses the page)
 *   badptr         bad pointers (NULL, the kernel's half, unmapped, non-canonical,
 *                  wrapping, huge lengths) to every call that takes one: all refused
 *   threads        creates and joins threads 300 times (slots must be reused)
 *   fds            opens descriptors until EMFILE, closes them all, three times
 *   memory         maps 1 MiB blocks until ENOMEM or 4 GiB, unmaps them, three times;
 *                  then writes every page of new blocks until the kernel ends it (out of
 *                  memory: SIGKILL)
 *   sockets        double bind, 100 binds, send/recv on a listening socket
 *   race           threads race close/close, socket/socket, close/recv, munmap/munmap
 *   torn           a thread watches a 4-byte word the kernel writes (getsockname's length):
 *                  never half old, half new (a futex word the kernel clears must not be)
 *   handler ADDR   a signal handler at a kernel address, then the signal: must die by
 *                  SIGSEGV (on Linux too)
 *   sigreturn      rt_sigreturn of a made-up frame asking for IOPL 3 and the kernel's
 *                  code selector, to `escaped`: it runs, in ring 3 without I/O rights
 *                  (dies by SIGSEGV at the port read)
 *   sigreturn_nc   rt_sigreturn to a non-canonical address: must die by SIGSEGV
 * Lines starting with "hostile:" are the verdicts; the ones the tests check are the same
 * on Linux for the attacks that do not depend on kernel addresses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <stdarg.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("hostile: ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* ------------------------------------------------------------------ kernel entry points */

/* Where the jump's "syscall" would return: ring 3 with IOPL 0 cannot read an I/O port, so
 * if this one does, the jump raised the app's rights. Plain instructions, no stack: it is
 * reached by a jump, with whatever stack alignment there was. */
void escaped(void);
__asm__(".text\n"
	"escaped:\n"
	"	inb	$0x80, %al\n"
	"	mov	$1, %edi\n"
	"	lea	escaped_msg(%rip), %rsi\n"
	"	mov	$escaped_len, %edx\n"
	"	mov	$1, %eax\n" /* write */
	"	syscall\n"
	"	xor	%edi, %edi\n"
	"	mov	$231, %eax\n" /* exit_group(0) */
	"	syscall\n"
	"	.section .rodata\n"
	"escaped_msg: .ascii \"hostile: ESCAPED: ring 3 read I/O port 0x80\\n\"\n"
	"	escaped_len = . - escaped_msg\n"
	"	.text\n");

/* %rcx, %r11 and %rax as a SYSCALL would leave them (with IOPL 3 in the flags), then a
 * jump to the kernel's entry */
static void jump_entry(uint64_t addr, uint64_t rcx)
{
	say("jumping to %#lx with r11 0x3202 (IOPL 3), rcx %#lx\n", (unsigned long)addr,
	    (unsigned long)rcx);
	__asm__ __volatile__("mov $0x3202, %%r11\n"
			     "mov $39, %%eax\n" /* getpid, were it taken for a syscall */
			     "jmp *%0\n"
			     :
			     : "r"(addr), "c"(rcx)
			     : "rax", "r11", "memory");
	say("SURVIVED the jump\n");
}

static void call_kernel(uint64_t addr)
{
	say("calling %#lx\n", (unsigned long)addr);
	((void (*)(void))addr)();
	say("SURVIVED a call into the kernel\n");
}

/* a handler at a kernel address */
static void kernel_handler(uint64_t addr)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = (void (*)(int))addr;
	say("a SIGUSR1 handler at %#lx: %s\n", (unsigned long)addr,
	    sigaction(SIGUSR1, &sa, NULL) ? strerror(errno) : "set");
	raise(SIGUSR1);
	say("SURVIVED a handler in the kernel\n");
}

/* rt_sigreturn of a frame made up here: the kernel's struct ucontext (the return address
 * already popped, as a handler's `ret` leaves it), with every register 0 but rip, rsp,
 * eflags (IOPL 3, IF) and cs/ss (the kernel's code selector, 0x10 natively) */
static uint64_t made_up[64] __attribute__((aligned(16)));
static uint8_t made_up_stack[8192] __attribute__((aligned(16)));

static void fake_sigreturn(uint64_t rip)
{
	uint64_t *uc = made_up, *mc = uc + 5; /* flags, link, stack (3 words), mcontext */

	memset(made_up, 0, sizeof(made_up));
	mc[16] = rip;						/* rip */
	mc[15] = (uint64_t)(made_up_stack + sizeof(made_up_stack) - 64); /* rsp */
	mc[17] = 0x3202;					/* eflags */
	mc[18] = 0x10 | (0x18ull << 48);			/* cs, gs, fs, ss */
	say("rt_sigreturn to %#lx with IOPL 3 and cs 0x10\n", (unsigned long)rip);
	__asm__ __volatile__("mov %0, %%rsp\n"
			     "mov $15, %%eax\n"
			     "syscall\n"
			     :
			     : "r"(uc)
			     : "memory");
	__builtin_unreachable();
}

/* jumps to a `syscall` at `at` with %rbx = the way back (where the code after it jumps) */
static int syscall_at(uint64_t at)
{
	int ok = 0;

	__asm__ __volatile__("lea 1f(%%rip), %%rbx\n"
			     "mov $39, %%eax\n"
			     "jmp *%1\n"
			     "1: mov $1, %0\n"
			     : "+r"(ok)
			     : "r"(at)
			     : "rax", "rbx", "rcx", "r11", "memory");
	return ok;
}

static void systop(void)
{
	uint64_t base = 0x7fffffffe000;
	uint8_t *p = mmap((void *)base, 8192, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED) {
		/* Linux keeps the top page from apps: the attack cannot start there */
		say("the top pages cannot be mapped: %s\n", strerror(errno));
		return;
	}
	memset(p, 0xcc, 8192);
	p[4094] = 0x0f, p[4095] = 0x05; /* syscall, at the end of the first page */
	p[4096] = 0xff, p[4097] = 0xe3; /* jmp *%rbx, where it returns */
	p[8190] = 0x0f, p[8191] = 0x05; /* syscall, in the last bytes of the user range */
	if (mprotect(p, 8192, PROT_READ | PROT_EXEC)) {
		say("mprotect: %s\n", strerror(errno));
		return;
	}
	say("syscall at %#lx came back: %d\n", (unsigned long)(base + 4094),
	    syscall_at(base + 4094));
	say("syscall at %#lx, returning to %#lx\n", (unsigned long)(base + 8190),
	    (unsigned long)(base + 8192));
	syscall_at(base + 8190);
	say("SURVIVED a return to a non-canonical address\n");
}

/* The top pages are the main thread's stack top (argv, auxv, main's frames): the attack
 * runs on a thread of its own once main waits in the kernel for good (a futex nobody wakes,
 * entered without touching its stack after saying so), and ends the app itself. */
static volatile int main_parked;
static int park_word;

static void *systop_thread(void *arg)
{
	(void)arg;
	while (!main_parked)
		;
	usleep(100000); /* main is past its last user instruction, in the kernel */
	systop();
	say("done\n");
	exit(0);
}

static void __attribute__((noreturn)) park_main(void)
{
	register long r10 __asm__("r10") = 0; /* no timeout */

	for (;;) {
		long nr = SYS_futex;

		__asm__ __volatile__("movl $1, %[parked]\n"
				     "syscall\n"
				     : [parked] "=m"(main_parked), "+a"(nr)
				     : "D"(&park_word), "S"(128L /* WAIT_PRIVATE */), "d"(0L), "r"(r10)
				     : "rcx", "r11", "memory");
	}
}

/* ------------------------------------------------------------------------ bad pointers */

static const uint64_t bad[] = {
    0,			  /* NULL */
    0xffffffff80100000ull, /* the kernel's text */
    0xffff888000000000ull, /* the kernel's direct map */
    0x0000100000000000ull, /* unmapped */
    0x8000000000000000ull, /* non-canonical */
    0x00007ffffffffff8ull, /* the last user bytes: a struct there wraps past the top */
};

static int calls, refused;

static void check(const char *what, uint64_t ptr, long r)
{
	if (!ptr && what[0] == '+')
		return; /* NULL is a valid "none" there */
	what += what[0] == '+';
	calls++;
	if (r < 0)
		refused++;
	else
		say("ACCEPTED: %s with %#lx returned %ld\n", what, (unsigned long)ptr, r);
}

static void badptr(void)
{
	struct iovec iov[2];
	char buf[64];
	socklen_t slen = 16;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int nul = open("/dev/null", O_RDONLY);

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t p = bad[i];
		void *vp = (void *)p;

		check("write", p, syscall(SYS_write, 1, p, 8));
		check("writev (array)", p, syscall(SYS_writev, 1, p, 2));
		iov[0] = (struct iovec){vp, 8};
		check("writev (base)", p, syscall(SYS_writev, 1, iov, 1));
		check("readv (array)", p, syscall(SYS_readv, nul, p, 2));
		check("open", p, syscall(SYS_open, p, O_RDONLY));
		check("stat (path)", p, syscall(SYS_stat, p, buf));
		check("stat (buffer)", p, syscall(SYS_stat, "/dev/null", p));
		check("fstat", p, syscall(SYS_fstat, 1, p));
		check("clock_gettime", p, syscall(SYS_clock_gettime, 1, p));
		check("+gettimeofday", p, syscall(SYS_gettimeofday, p, 0));
		check("nanosleep", p, syscall(SYS_nanosleep, p, 0));
		check("uname", p, syscall(SYS_uname, p));
		check("getrandom", p, syscall(SYS_getrandom, p, 16, 0));
		check("sysinfo", p, syscall(SYS_sysinfo, p));
		check("+prlimit64", p, syscall(SYS_prlimit64, 0, 7, 0, p));
		check("getrlimit", p, syscall(SYS_getrlimit, 7, p));
		check("arch_prctl(GET_FS)", p, syscall(SYS_arch_prctl, 0x1003, p));
		check("futex", p, syscall(SYS_futex, p, 0 /* WAIT */, 0, 0, 0, 0));
		check("poll", p, syscall(SYS_poll, p, 1, 0));
		check("+rt_sigaction", p, syscall(SYS_rt_sigaction, 10, p, 0, 8));
		check("+rt_sigprocmask", p, syscall(SYS_rt_sigprocmask, 0, p, 0, 8));
		check("bind", p, syscall(SYS_bind, s, p, 16));
		check("connect", p, syscall(SYS_connect, s, p, 16));
		check("sendto (data)", p, syscall(SYS_sendto, s, p, 8, 0, 0, 0));
		check("getsockname (addr)", p, syscall(SYS_getsockname, s, p, &slen));
		check("getsockname (len)", p, syscall(SYS_getsockname, s, buf, p));
		check("sched_getaffinity", p, syscall(SYS_sched_getaffinity, 0, 8, p));
		check("sched_setaffinity", p, syscall(SYS_sched_setaffinity, 0, 8, p));
		check("+getcpu", p, syscall(SYS_getcpu, p, 0, 0));
		check("clock_gettime (thread CPU time)", p, syscall(SYS_clock_gettime, 3, p));
		check("getrusage", p, syscall(SYS_getrusage, 0, p));
		check("+times", p, syscall(SYS_times, p));
	}
	/* lengths that wrap or that no buffer has */
	iov[0] = (struct iovec){buf, 0xffffffffffffff00ull};
	check("writev (huge length)", (uint64_t)buf, syscall(SYS_writev, 1, iov, 1));
	check("write (wrapping)", 0x7ffffffff000ull, syscall(SYS_write, 1, 0x7ffffffff000ull, 0x2000));
	say("badptr: %d calls, %d refused\n", calls, refused);
}

/* ----------------------------------------------------------------------- exhaustion */

static void *idle(void *arg)
{
	return arg;
}

static void threads(void)
{
	int n = 0;

	for (int i = 0; i < 300; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, idle, NULL)) {
			say("thread %d could not be created\n", i);
			break;
		}
		pthread_join(t, NULL);
		n++;
	}
	say("threads: %d created and joined\n", n);
}

static void fds(void)
{
	static int fd[100000];
	int first = -1, same = 1;

	for (int round = 0; round < 3; round++) {
		int n = 0, err = 0;

		while (n < (int)(sizeof(fd) / sizeof(fd[0]))) {
			int f = open("/dev/null", O_RDONLY);

			if (f < 0) {
				err = errno;
				break;
			}
			fd[n++] = f;
		}
		for (int i = 0; i < n; i++)
			close(fd[i]);
		if (err != EMFILE)
			say("round %d: open ended with %s, not EMFILE\n", round, strerror(err));
		if (first < 0)
			first = n;
		same &= n == first;
	}
	say("fds: EMFILE %s in 3 rounds\n", same ? "after the same count" : "after OTHER counts");
}

static void memory(void)
{
	static void *blk[4096];
	int first = -1, same = 1, enomem = 1;

	for (int round = 0; round < 3; round++) {
		int n = 0;

		while (n < 4096) {
			void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				break;
			blk[n++] = p; /* (untouched: 4 GiB of pages would not fit a 32 MiB VM) */
		}
		enomem &= n < 4096;
		for (int i = 0; i < n; i++)
			munmap(blk[i], 1 << 20);
		if (first < 0)
			first = n;
		same &= n == first;
	}
	/* (Linux gives a 4 GiB of address space without a second thought: no limit met) */
	say("memory: %s, %s each round\n", enomem ? "ENOMEM reached" : "4 GiB mapped",
	    same ? "the same" : "OTHER amounts");
	/* then every page of each block written, until the kernel ends us (Linux: its OOM
	 * killer) or 4 GiB are written */
	for (int n = 0; n < 4096; n++) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (p == MAP_FAILED) {
			say("memory: touching: ENOMEM from mmap after %d MiB\n", n);
			return;
		}
		for (int i = 0; i < 1 << 20; i += 4096)
			p[i] = 1;
	}
	say("memory: touching: 4 GiB written, SURVIVED\n");
}

/* ---------------------------------------------------------------------------- sockets */

static void sockets(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(4000)};
	int s = socket(AF_INET, SOCK_DGRAM, 0), ok = 0;

	if (bind(s, (void *)&a, sizeof(a)))
		say("bind: %s\n", strerror(errno));
	int r = bind(s, (void *)&a, sizeof(a));

	say("a second bind: %s\n", r ? strerror(errno) : "accepted");
	close(s);
	for (int i = 0; i < 100; i++) {
		a.sin_port = htons(5000 + i % 3);
		s = socket(AF_INET, SOCK_DGRAM, 0);
		ok += s >= 0 && !bind(s, (void *)&a, sizeof(a));
		close(s);
	}
	say("100 sockets bound and closed: %d binds worked\n", ok);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = htons(4001);
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 4))
		say("listen: %s\n", strerror(errno));
	char b[32] = "hello";

	r = send(l, b, sizeof(b), MSG_NOSIGNAL);
	say("send on a listening socket: %s\n", r < 0 ? strerror(errno) : "accepted");
	r = recv(l, b, sizeof(b), MSG_DONTWAIT);
	say("recv on a listening socket: %s\n", r < 0 ? strerror(errno) : "accepted");
	close(l);
}

/* ------------------------------------------------------------------------------ races */

static volatile int go, fd_shared, closes_ok, closes_bad;
static void *volatile map_shared;

static void *closer(void *arg)
{
	(void)arg;
	while (!go)
		;
	if (close(fd_shared) == 0)
		__atomic_add_fetch(&closes_ok, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_add_fetch(&closes_bad, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *opener(void *arg)
{
	int *out = arg;

	while (!go)
		;
	for (int i = 0; i < 8; i++)
		out[i] = socket(AF_INET, SOCK_DGRAM, 0);
	return NULL;
}

static void *receiver(void *arg)
{
	char b[16];

	(void)arg;
	while (!go)
		;
	while (recv(fd_shared, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN)
		;
	return NULL;
}

static void *unmapper(void *arg)
{
	(void)arg;
	while (!go)
		;
	munmap(map_shared, 16 << 12);
	return NULL;
}

static void two(void *(*fa)(void *), void *aa, void *(*fb)(void *), void *ab)
{
	pthread_t t1, t2;

	go = 0;
	pthread_create(&t1, NULL, fa, aa);
	pthread_create(&t2, NULL, fb, ab);
	go = 1;
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
}

static void race(void)
{
	int rounds = 200, dup = 0;

	for (int i = 0; i < rounds; i++) {
		fd_shared = socket(AF_INET, SOCK_DGRAM, 0);
		two(closer, NULL, closer, NULL);
	}
	say("close/close: %d closed, %d EBADF of %d\n", closes_ok, closes_bad, 2 * rounds);
	for (int i = 0; i < rounds / 4; i++) {
		int a[8], b[8];

		two(opener, a, opener, b);
		for (int j = 0; j < 8; j++)
			for (int k = 0; k < 8; k++)
				dup += a[j] >= 0 && a[j] == b[k];
		for (int j = 0; j < 8; j++)
			close(a[j]), close(b[j]);
	}
	say("socket/socket: %d descriptors handed out twice\n", dup);
	for (int i = 0; i < rounds; i++) {
		fd_shared = socket(AF_INET, SOCK_DGRAM, 0);
		closes_ok = 0;
		two(receiver, NULL, closer, NULL);
	}
	say("close/recv: %d rounds\n", rounds);
	for (int i = 0; i < rounds; i++) {
		map_shared = mmap(NULL, 16 << 12, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		memset(map_shared, 1, 16 << 12);
		two(unmapper, NULL, unmapper, NULL);
	}
	say("munmap/munmap: %d rounds\n", rounds);
}

/* ------------------------------------------------------------------------ torn writes */

static volatile uint32_t watched;
static volatile int watching;
static unsigned long torn_seen, torn_reads;

static void *watcher(void *arg)
{
	(void)arg;
	while (watching) {
		uint32_t v = watched;

		torn_reads++;
		if (v != 0x7f7f7f10u && v != sizeof(struct sockaddr_in))
			torn_seen++;
	}
	return NULL;
}

/* getsockname writes its length back as a 4-byte value, from 0x7f7f7f10 to 16: a byte at a
 * time, the other thread would now and then see 0x7f7f0010 or 0x7f000010 */
static void torn(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0), writes = 0;
	struct sockaddr_in sa;
	pthread_t t;

	watched = 0x7f7f7f10u;
	watching = 1;
	pthread_create(&t, NULL, watcher, NULL);
	/* (the count printed is of the writes made: a failing call cannot pass for 100,000) */
	for (; writes < 100000; writes++) {
		watched = 0x7f7f7f10u;
		if (getsockname(s, (struct sockaddr *)&sa, (socklen_t *)&watched)) {
			say("torn: getsockname: %s\n", strerror(errno));
			break;
		}
	}
	watching = 0;
	pthread_join(t, NULL);
	close(s);
	say("torn: %lu of %lu reads torn, in %d kernel writes\n", torn_seen, torn_reads, writes);
}

int main(int argc, char **argv)
{
	const char *a = argc > 1 ? argv[1] : "";
	uint64_t addr = argc > 2 ? strtoull(argv[2], NULL, 0) : 0;

	if (!strcmp(a, "entry"))
		jump_entry(addr, (uint64_t)escaped);
	else if (!strcmp(a, "entry_nc"))
		jump_entry(addr, 0x8000000000001000ull);
	else if (!strcmp(a, "call"))
		call_kernel(addr);
	else if (!strcmp(a, "systop")) {
		pthread_t t;

		pthread_create(&t, NULL, systop_thread, NULL);
		park_main();
	}
	else if (!strcmp(a, "badptr"))
		badptr();
	else if (!strcmp(a, "threads"))
		threads();
	else if (!strcmp(a, "fds"))
		fds();
	else if (!strcmp(a, "memory"))
		memory();
	else if (!strcmp(a, "sockets"))
		sockets();
	else if (!strcmp(a, "race"))
		race();
	else if (!strcmp(a, "torn"))
		torn();
	else if (!strcmp(a, "handler"))
		kernel_handler(addr);
	else if (!strcmp(a, "sigreturn"))
		fake_sigreturn((uint64_t)escaped);
	else if (!strcmp(a, "sigreturn_nc"))
		fake_sigreturn(0x8000000000001000ull);
	else {
		printf("usage: hostile entry|entry_nc|call ADDRESS | systop | badptr | threads | "
		       "fds | memory | sockets | race | torn | handler ADDRESS | sigreturn | "
		       "sigreturn_nc\n");
		return 2;
	}
	say("done\n");
	return 0;
}
