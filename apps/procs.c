/* procs: processes as on Linux (normal mode: hp/proc.c). fork and wait4 with the statuses
 * of an exit and of a signal's death, getppid, each process's memory its own after fork
 * (globals, the heap, anonymous mappings touched and not), a pipe from child to parent
 * with the end of file when the child is gone, dup2 of a child's stdout into a pipe and
 * execve of this program with other words, execve's errors, a #! script, WNOHANG and
 * ECHILD, kill of children blocked in pause and in read, SIGCHLD, an orphan adopted by
 * the first process, and N children at once; memory shared copy on write after fork: the
 * kernel's writes into it (a read), mprotect and MADV_DONTNEED on it, and a parent's
 * other thread writing on while the child's copy holds still; MAP_SHARED memory across a
 * fork; vfork and posix_spawn;
 * waitid; a program written again between two runs of it runs as it is now; stop signals
 * and SIGCONT (job control) with what wait4 and waitid say of them.
 * Runs from the tree of the tar tests (the
 * Linux run's working directory: paths are relative). Exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...)
{
	char b[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);

	va_end(ap);
	if (write(1, b, (size_t)n) != n)
		_exit(99);
}

static const char *status_text(int st)
{
	static char b[64];

	if (WIFEXITED(st))
		snprintf(b, sizeof(b), "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, sizeof(b), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(b, sizeof(b), "status %#x", st);
	return b;
}

/* waits for pid: its status as text */
static const char *reap(pid_t pid)
{
	int st = 0;
	pid_t got = waitpid(pid, &st, 0);

	if (got != pid) {
		say("waitpid(%d): %d (%s)\n", (int)pid, (int)got, strerror(errno));
		exit(1);
	}
	return status_text(st);
}

static int global = 1;
static volatile int sigchld_seen;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_seen++;
}

/* argv[1] "exec-child": what execve handed over */
static int exec_child(int argc, char **argv)
{
	say("exec-child: argc=%d", argc);
	for (int i = 1; i < argc; i++)
		say(" [%s]", argv[i]);
	const char *e = getenv("PROCS_ENV");

	say(" env=%s global=%d\n", e ? e : "(unset)", global);
	/* close-on-exec: descriptor 5 was marked so, descriptor 6 was not */
	say("exec-child: fd 5 %s, fd 6 %s\n", fcntl(5, F_GETFD) < 0 ? "closed" : "open",
	    fcntl(6, F_GETFD) < 0 ? "closed" : "open");
	return 4;
}

static void basics(void)
{
	pid_t me = getpid();
	pid_t c = fork();

	if (c < 0) {
		say("fork gave a pid: no (%s)\n", strerror(errno));
		exit(1);
	}
	if (c == 0) {
		say("child: my parent is %s\n", getppid() == me ? "the forker" : "someone else");
		say("child: I am %s\n", getpid() != me ? "new" : "the same pid");
		_exit(7);
	}
	const char *st = reap(c); /* (its lines first, then these) */

	say("fork gave a pid: %s\n", c > 0 ? "yes" : "no");
	say("child %s\n", st);

	c = fork();
	if (c == 0) {
		volatile int *volatile bad = (int *)8;

		*bad = 1; /* SIGSEGV, not handled */
		_exit(0);
	}
	say("child that faults: %s\n", reap(c));
}

static void memory(void)
{
	char *heap = malloc(100000);
	char *touched = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
	char *untouched = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int p[2];

	memset(heap, 'h', 100000);
	memset(touched, 't', 1 << 20);
	global = 2;
	if (pipe(p))
		exit(1);
	pid_t c = fork();

	if (c == 0) {
		char b;

		close(p[1]);
		/* wait for the parent's writes, then look */
		if (read(p[0], &b, 1) != 1)
			_exit(1);
		say("child sees: global=%d heap=%c touched=%c untouched=%d\n", global, heap[99999],
		    touched[(1 << 20) - 1], untouched[12345]);
		global = 30;
		heap[0] = 'x';
		touched[0] = 'x';
		untouched[0] = 'x';
		say("child wrote its own: global=%d heap=%c touched=%c untouched=%c\n", global,
		    heap[0], touched[0], untouched[0]);
		_exit(0);
	}
	close(p[0]);
	global = 20;
	heap[99999] = 'H';
	touched[(1 << 20) - 1] = 'T';
	untouched[12345] = 'U';
	if (write(p[1], "g", 1) != 1)
		exit(1);
	close(p[1]);
	say("child %s\n", reap(c));
	say("parent still has: global=%d heap=%c%c touched=%c%c untouched=%d%c\n", global,
	    heap[0], heap[99999], touched[0], touched[(1 << 20) - 1], untouched[0],
	    untouched[12345]);
	munmap(touched, 1 << 20);
	munmap(untouched, 1 << 20);
	free(heap);
}

/* one process's page is not another's: A maps a page at a fixed address and writes it,
 * B reads the same address and dies of SIGSEGV (nothing is mapped there in B) */
static void isolation(void)
{
	char *const at = (char *)0x500000000ul;
	int p[2];

	if (pipe(p))
		exit(1);
	pid_t a = fork();

	if (a == 0) {
		char c;

		if (mmap(at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) != at)
			_exit(1);
		strcpy(at, "secret");
		close(p[1]);
		(void)!read(p[0], &c, 1); /* (until the other has tried) */
		_exit(at[0] == 's' ? 0 : 2);
	}
	pid_t b = fork();

	if (b == 0) {
		usleep(20000);
		volatile char *volatile q = at;

		_exit(q[0] == 's' ? 3 : 4); /* (never: SIGSEGV first) */
	}
	say("a process reading another's page: %s\n", reap(b));
	close(p[0]);
	close(p[1]);
	say("the page's owner: %s\n", reap(a));
}

/* Copy on write: memory shared after fork stays each side's own whoever writes it: the
 * kernel (a read into it), after mprotect, after MADV_DONTNEED, and a thread of the parent
 * that goes on writing on another CPU while the child looks. */
static char kbuf[16] = "before";
static volatile unsigned long counter;
static volatile int stop_writer;

static void *writer(void *arg)
{
	(void)arg;
	while (!stop_writer)
		counter++;
	return NULL;
}

static void cow(void)
{
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	int p[2], q[2];

	if (m == MAP_FAILED || pipe(p) || pipe(q))
		exit(1);
	memset(m, 'm', 3 * 4096);
	pid_t c = fork();

	if (c == 0) {
		char b;

		/* the kernel writes into the child's shared page: a read() */
		if (read(p[0], kbuf, 6) != 6)
			_exit(1);
		if (mprotect(m, 4096, PROT_READ) || mprotect(m, 4096, PROT_READ | PROT_WRITE))
			_exit(2);
		m[0] = 'c';
		if (madvise(m + 4096, 4096, MADV_DONTNEED))
			_exit(3);
		say("child: read into shared memory gives [%.6s]; after mprotect %c; after "
		    "MADV_DONTNEED %d; untouched %c\n",
		    kbuf, m[0], m[4096], m[2 * 4096]);
		if (write(q[1], "k", 1) != 1 || read(p[0], &b, 1) != 1)
			_exit(4);
		_exit(0);
	}
	if (write(p[1], "kernel", 6) != 6)
		exit(1);
	char b;

	if (read(q[0], &b, 1) != 1)
		exit(1);
	say("parent keeps: [%s] %c %c %c\n", kbuf, m[0], m[4096], m[2 * 4096]);
	m[2 * 4096] = 'p';
	if (write(p[1], "g", 1) != 1)
		exit(1);
	say("child %s; parent writes its own: %c\n", reap(c), m[2 * 4096]);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	munmap(m, 3 * 4096);

	/* a parent's thread writes on through the fork: the child's copy holds still */
	pthread_t t;

	if (pthread_create(&t, NULL, writer, NULL))
		exit(1);
	while (counter < 1000)
		sched_yield();
	c = fork();
	if (c == 0) {
		unsigned long seen = counter;
		struct timespec d = {0, 30000000};

		nanosleep(&d, NULL);
		_exit(counter == seen ? 0 : 1);
	}
	unsigned long at_fork = counter;
	struct timespec d = {0, 30000000};

	nanosleep(&d, NULL);
	const char *st = reap(c);
	bool went_on = counter > at_fork;

	stop_writer = 1;
	pthread_join(t, NULL);
	say("a thread writing through a fork: child %s (its copy held still), the parent's "
	    "went on: %s\n",
	    st, went_on ? "yes" : "no");
}

/* vfork and posix_spawn (clone with CLONE_VM | CLONE_VFORK): the child runs in its
 * parent's memory, the parent waiting, until it execs or exits */
extern char **environ;

static void spawns(const char *self)
{
	static volatile int shared = 1;
	pid_t c = vfork();

	if (c == 0) {
		shared = 2;
		_exit(3);
	}
	say("vfork: child %s; its write seen by the parent: %d\n", reap(c), shared);
	c = vfork();
	if (c == 0) {
		char *av[] = {(char *)self, "exit9", NULL};

		execv(self, av);
		_exit(127);
	}
	say("vfork and execve: child %s\n", reap(c));

	int p[2];
	char *av[] = {(char *)self, "script-arg", "spawned", NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid = 0;

	if (pipe(p) || posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_adddup2(&fa, p[1], 1) ||
	    posix_spawn_file_actions_addclose(&fa, p[0]))
		exit(1);
	int rc = posix_spawn(&pid, self, &fa, NULL, av, environ);
	char b[128];
	size_t n = 0;
	ssize_t k;

	close(p[1]);
	while (n < sizeof(b) - 1 && (k = read(p[0], b + n, sizeof(b) - 1 - n)) > 0)
		n += (size_t)k;
	b[n] = 0;
	if (n && b[n - 1] == '\n')
		b[n - 1] = 0;
	close(p[0]);
	say("posix_spawn: %d; the child wrote [%s] into the pipe; child %s\n", rc, b,
	    rc ? "-" : reap(pid));
	posix_spawn_file_actions_destroy(&fa);
	rc = posix_spawn(&pid, "bin/no-such-program", NULL, NULL, av, environ);
	say("posix_spawn of a missing program: %s\n", strerror(rc));
}

/* a writev of two buffers (12 bytes) into a pipe is one write: a reader blocked in read
 * gets it whole (POSIX: up to PIPE_BUF bytes are atomic; musl's stdio writes so) */
static void writev_whole(void)
{
	int split = 0;

	for (int i = 0; i < 50; i++) {
		int p[2];
		char b[64];

		if (pipe(p))
			exit(1);
		pid_t c = fork();

		if (c == 0) {
			struct iovec v[2] = {{"exec-", 5}, {"marker\n", 7}};

			usleep(2000); /* (the parent is in its read by then) */
			_exit(writev(p[1], v, 2) == 12 ? 0 : 1);
		}
		close(p[1]);
		split += read(p[0], b, sizeof(b)) != 12;
		close(p[0]);
		reap(c);
	}
	say("writev of two buffers into a pipe, 50 times: read whole %s\n",
	    split ? "NOT every time" : "every time");
}

static void pipe_data(void)
{
	int p[2];

	if (pipe(p))
		exit(1);
	pid_t c = fork();

	if (c == 0) {
		char b[4096];

		close(p[0]);
		for (int i = 0; i < 64; i++) {
			memset(b, 'a' + i % 26, sizeof(b));
			if (write(p[1], b, sizeof(b)) != (ssize_t)sizeof(b))
				_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	unsigned long sum = 0, n = 0;
	char b[1000];
	ssize_t k;

	while ((k = read(p[0], b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < k; i++, n++)
			sum = sum * 31 + (unsigned char)b[i];
	say("from the child through a pipe: %lu bytes, hash %lx, then %s\n", n, sum,
	    k == 0 ? "end of file" : "an error");
	close(p[0]);
	say("child %s\n", reap(c));
}

/* A child with its standard output on a pipe runs fn(arg) (which does not return); what
 * it writes, up to size - 1 bytes, goes into out. The child's status, as reap's. */
static const char *output_of(void (*fn)(void *), void *arg, char *out, size_t size)
{
	int p[2];
	size_t n = 0;
	ssize_t k;

	if (pipe(p))
		exit(1);
	pid_t c = fork();

	if (c == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		fn(arg);
	}
	close(p[1]);
	while (n < size - 1 && (k = read(p[0], out + n, size - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = 0;
	close(p[0]);
	return reap(c);
}

/* the exec'd child of exec_tests: descriptor 5 close-on-exec, 6 not */
static void exec_with_fds(void *self)
{
	dup2(2, 5);
	fcntl(5, F_SETFD, FD_CLOEXEC);
	dup2(2, 6);
	char *argv[] = {self, "exec-child", "one", "two words", NULL};
	char *envp[] = {"PROCS_ENV=passed", NULL};

	execve(self, argv, envp);
	_exit(50 + errno);
}

static void exec_tests(const char *self)
{
	char out[1024];
	const char *st = output_of(exec_with_fds, (void *)self, out, sizeof(out));

	say("the exec'd child wrote, into the pipe:\n%s", out);
	say("child %s\n", st);

	char *none[] = {"x", NULL};

	errno = 0;
	execve("bin/no-such-program", none, none + 1);
	say("execve of a missing file: %s\n", strerror(errno));
	execve("etc/motd", none, none + 1);
	say("execve of a file without x: %s\n", strerror(errno));
	execve("etc", none, none + 1);
	say("execve of a directory: %s\n", strerror(errno));

	pid_t c = fork();
	if (c == 0) {
		char *argv[] = {"bin/hi.sh", "after", NULL};
		char *envp[] = {NULL};

		execve("bin/hi.sh", argv, envp);
		_exit(50 + errno);
	}
	say("script child %s\n", reap(c));
}

static void run_marker(void *copy)
{
	char *argv[] = {copy, "marker", NULL};
	char *envp[] = {NULL};

	execve(copy, argv, envp);
	_exit(50 + errno);
}

/* in .rodata, on a page the kernel may map from the program's file rather than copy */
static const char marker[] = "exec-marker:A";

/* A program changed between two runs of it runs as it is now: a copy of this program
 * with the marker's last letter set, run, the letter written again in place, run again
 * (a kernel that kept the first run's pages would print the old letter), run a third
 * time unchanged. */
static void exec_changed(const char *self)
{
	const char *copy = "data/exec-copy";
	int fd = open(self, O_RDONLY);
	off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
	char *img = size > 0 ? malloc((size_t)size) : NULL;
	char want[sizeof(marker)];

	if (!img || pread(fd, img, (size_t)size, 0) != size)
		exit(1);
	close(fd);
	/* (built here: a literal of it would be a second copy in the file) */
	memcpy(want, marker, sizeof(want));
	char *at = memmem(img, (size_t)size, want, sizeof(want));

	if (!at)
		exit(1);
	at[sizeof(want) - 2] = 'B';
	fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || write(fd, img, (size_t)size) != size || close(fd))
		exit(1);
	for (int round = 0; round < 3; round++) {
		if (round == 1) { /* in place: the same size, the same node */
			fd = open(copy, O_WRONLY);
			if (fd < 0 || pwrite(fd, "C", 1, at + sizeof(want) - 2 - img) != 1 ||
			    close(fd))
				exit(1);
		}
		char out[64];
		const char *st = output_of(run_marker, (void *)copy, out, sizeof(out));

		say("exec of a program %s: %s", round == 0 ? "copied" : round == 1 ?
		    "written again in place" : "unchanged since", out);
		say("its child %s\n", st);
	}
	unlink(copy);
	free(img);
}

static void *spinner(void *arg)
{
	(void)arg;
	for (;;)
		__asm__ volatile("" ::: "memory");
	return NULL;
}

static void *execer(void *arg)
{
	char *argv[] = {arg, "exec-thread-child", NULL};
	char *envp[] = {NULL};

	execve(arg, argv, envp);
	_exit(99);
}

/* after an exec by a process with threads: one thread left, whose tid is the pid */
static int exec_thread_child(void)
{
	char st[2048] = "";
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t k = fd < 0 ? -1 : read(fd, st, sizeof(st) - 1);
	char *t = k > 0 ? strstr(st, "Threads:") : NULL;

	printf("after the exec: %d thread(s), tid %s the pid\n", t ? atoi(t + 8) : -1,
	       syscall(SYS_gettid) == getpid() ? "is" : "IS NOT");
	return 0;
}

/* a child of exec_threads: a thread spins, and another thread execs while this one
 * waits (round 0), or this one execs (round 1) */
struct exec_round {
	const char *self;
	int round;
};

static void threads_then_exec(void *arg)
{
	struct exec_round *r = arg;
	pthread_t t1, t2;

	pthread_create(&t1, NULL, spinner, NULL);
	if (r->round == 0) {
		pthread_create(&t2, NULL, execer, (void *)r->self);
		for (;;)
			pause();
	}
	usleep(10000);
	execer((void *)r->self);
}

/* execve in a process with other threads (one spinning in its own code, one blocked):
 * they end, and the new program runs alone, as on Linux; by a thread that is not the
 * first one, then by the first one */
static void exec_threads(const char *self)
{
	for (int round = 0; round < 2; round++) {
		struct exec_round r = {self, round};
		char out[256];
		const char *st = output_of(threads_then_exec, &r, out, sizeof(out));

		say("exec with other threads, by %s: %s", round ? "the first thread" : "another thread",
		    out);
		say("its child %s\n", st);
	}
}

static void waits_and_kills(void)
{
	int st;

	say("wait with no children: %s\n", waitpid(-1, &st, WNOHANG) < 0 ? strerror(errno) : "?");
	int p[2];

	if (pipe(p))
		exit(1);
	pid_t a = fork();

	if (a == 0) {
		pause();
		_exit(0);
	}
	pid_t b = fork();

	if (b == 0) {
		char c;

		close(p[1]);
		(void)!read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	say("WNOHANG on a running child: %d\n", (int)waitpid(a, &st, WNOHANG));
	usleep(20000);
	kill(a, SIGTERM);
	kill(b, SIGKILL);
	say("child in pause, after SIGTERM: %s\n", reap(a));
	say("child in read, after SIGKILL: %s\n", reap(b));
	close(p[1]);
	say("kill of a reaped child: %s\n", kill(a, 0) < 0 ? strerror(errno) : "ok");
	say("SIGCHLD handled: %s\n", sigchld_seen >= 2 ? "yes" : "no");
}

/* waitid: the siginfo of an exit and of a signal's death, WNOWAIT leaving the child
 * waitable, WNOHANG on a running child, ECHILD */
static const char *siginfo_text(const siginfo_t *si, pid_t want)
{
	static char b[96];

	snprintf(b, sizeof(b), "signo %d code %d status %d, pid %s", si->si_signo, si->si_code,
		 si->si_status, si->si_pid == want ? "right" : "wrong");
	return b;
}

static void waitids(void)
{
	siginfo_t si;
	pid_t c = fork();

	if (c == 0)
		_exit(4);
	memset(&si, 0xff, sizeof(si));
	int rc = waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT);

	say("waitid WNOWAIT: %d, %s\n", rc, siginfo_text(&si, c));
	memset(&si, 0xff, sizeof(si));
	rc = waitid(P_ALL, 0, &si, WEXITED);
	say("waitid then: %d, %s\n", rc, siginfo_text(&si, c));
	c = fork();
	if (c == 0) {
		pause();
		_exit(0);
	}
	memset(&si, 0xff, sizeof(si));
	rc = waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG);
	say("waitid WNOHANG on a running child: %d, pid %d\n", rc, (int)si.si_pid);
	kill(c, SIGTERM);
	rc = waitid(P_PGID, 0, &si, WEXITED);
	say("waitid after SIGTERM: %d, %s\n", rc, siginfo_text(&si, c));
	rc = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
	say("waitid with no children: %s\n", rc < 0 ? strerror(errno) : "?");
	rc = waitid(P_ALL, 0, &si, WNOHANG);
	say("waitid without WEXITED: %s\n", rc < 0 ? strerror(errno) : "?");
}

static void orphan(void)
{
	pid_t me = getpid();
	int p[2];

	if (pipe(p))
		exit(1);
	pid_t c = fork();

	if (c == 0) {
		pid_t g = fork();

		if (g == 0) {
			char b;

			close(p[1]);
			/* the parent has ended: the one that adopted us */
			(void)!read(p[0], &b, 1);
			say("grandchild: adopted by %s\n",
			    getppid() == me ? "the first process" : "someone else");
			_exit(9);
		}
		_exit(0);
	}
	close(p[0]);
	say("middle child %s\n", reap(c));
	if (write(p[1], "x", 1) != 1)
		exit(1);
	close(p[1]);
	int st;
	pid_t got = waitpid(-1, &st, 0);

	say("then the orphan: %s (%s)\n", got > 0 && got != c ? "reaped here" : "lost",
	    status_text(st));
}

static void many(int n)
{
	pid_t pids[256];
	long sum = 0, want = 0;

	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(i & 0x7f);
		if (pids[i] < 0) {
			say("fork %d: %s\n", i, strerror(errno));
			exit(1);
		}
		want += i & 0x7f;
	}
	for (int i = n - 1; i >= 0; i--) {
		int st;

		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st))
			exit(1);
		sum += WEXITSTATUS(st);
	}
	say("%d children at once: statuses add up: %s\n", n, sum == want ? "yes" : "no");
}

/* bench: n times fork, execve of this program (which exits at once) and wait */
static void forkexec(const char *self, int n)
{
	struct timespec t0, t1;
	char *argv[] = {(char *)self, "exit0", NULL};
	char *envp[] = {NULL};
	int bad = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		int st;

		if (c == 0) {
			execve(self, argv, envp);
			_exit(127);
		}
		if (c < 0 || waitpid(c, &st, 0) != c || st != 0)
			bad++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;

	say("fork+exec+wait %d times: %s\n", n, bad ? "some failed" : "all exited 0");
	say("bench: procs: fork+exec+wait: %ld us each, %ld a second\n", us / n,
	    us ? n * 1000000L / us : 0);
}

/* bench: a busybox sh loop, n times `BUSYBOX true` by its path (so the shell forks and
 * execs it, where a bare `true` would be its builtin), the shell started and reaped here */
static void shloop(const char *busybox, int n)
{
	struct timespec t0, t1;
	char script[256];
	int st;

	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt %d ]; do %s true || exit 1; i=$((i + 1)); done", n, busybox);
	char *argv[] = {"sh", "-c", script, NULL};
	char *envp[] = {"PATH=/bin", NULL};

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t c = fork();

	if (c == 0) {
		execve(busybox, argv, envp);
		_exit(127);
	}
	if (c < 0 || waitpid(c, &st, 0) != c) {
		say("shloop: %s\n", strerror(errno));
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;

	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		say("shloop: %s sh's loop ended with status %#x\n", busybox, st);
		exit(1);
	}
	say("busybox sh loop of %d `%s true`: all exited 0\n", n, busybox);
	say("bench: procs: busybox sh loop: %ld us each, %ld a second\n", us / n,
	    us ? n * 1000000L / us : 0);
}

/* fork_storm: two parents, each pinned to a CPU of its own (where there are two), each
 * runs n children one after another (fork, execve of this program exiting with a status
 * of its own, wait); every status is collected */
static void storm(const char *self, int n)
{
	pid_t parent[2];

	for (int k = 0; k < 2; k++) {
		parent[k] = fork();
		if (parent[k] == 0) {
			cpu_set_t set;
			long sum = 0, want = 0;

			CPU_ZERO(&set);
			CPU_SET(k, &set);
			sched_setaffinity(0, sizeof(set), &set); /* (one CPU only: fails, fine) */
			for (int i = 0; i < n; i++) {
				char code[16];

				snprintf(code, sizeof(code), "exit%d", (i * 7 + k) % 100);
				char *argv[] = {(char *)self, code, NULL};
				char *envp[] = {NULL};
				int st;
				pid_t c = fork();

				if (c == 0) {
					execve(self, argv, envp);
					_exit(127);
				}
				if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st))
					_exit(1);
				sum += WEXITSTATUS(st);
				want += (i * 7 + k) % 100;
			}
			_exit(sum == want ? 0 : 2);
		}
	}
	const char *a = reap(parent[0]), *st0 = strdup(a), *b = reap(parent[1]);

	say("storm: %d children from two parents: %s, %s\n", 2 * n, st0, b);
}

/* field i of /proc/self/statm (0 size, 1 resident), in pages */
static long statm(int i)
{
	char b[128] = "";
	long v[2] = {-1, -1};
	int fd = open("/proc/self/statm", O_RDONLY);

	if (fd >= 0 && read(fd, b, sizeof(b) - 1) > 0)
		sscanf(b, "%ld %ld", &v[0], &v[1]);
	close(fd);
	return v[i];
}

/* /proc/self/statm follows what is mapped and what is touched (ps's VSZ and RSS) */
static void rss(void)
{
	long r0 = statm(1), v0 = statm(0);
	char *m = mmap(NULL, 400 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long v1 = statm(0), r1 = statm(1);

	for (int i = 0; i < 100; i++)
		m[i * 4096] = 1;
	long r2 = statm(1);

	munmap(m, 400 * 4096);
	long v3 = statm(0);

	say("statm: resident %s, size %s; 400 pages mapped: size +%s, resident +%s; 100 of them "
	    "written: resident +%s; unmapped: size %s\n", r0 > 0 ? "> 0" : "0",
	    v0 >= r0 ? ">= resident" : "< resident", v1 - v0 == 400 ? "400" : "other",
	    r1 - r0 < 10 ? "about 0" : "more", r2 - r1 >= 100 && r2 - r1 < 110 ? "100" : "other",
	    v3 == v0 ? "as before" : "other");
}

/* /proc/loadavg moves: a child busy for 5.5 s (the average is sampled every 5 s) */
static void loadavg(void)
{
	pid_t c = fork();

	if (c == 0) {
		struct timespec t0, t;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 5500);
		_exit(0);
	}
	reap(c);
	char b[128] = "";
	int fd = open("/proc/loadavg", O_RDONLY);

	if (fd < 0 || read(fd, b, sizeof(b) - 1) <= 0)
		exit(1);
	close(fd);
	say("loadavg: the 1-minute average after 5.5 s of a busy child: %s\n",
	    strtod(b, NULL) > 0 ? "above 0" : "0");
}

/* waits (5 s at most) for *p to hold v */
static bool await(volatile int *p, int v)
{
	for (int i = 0; i < 5000 && __atomic_load_n(p, __ATOMIC_SEQ_CST) != v; i++)
		usleep(1000);
	return __atomic_load_n(p, __ATOMIC_SEQ_CST) == v;
}

/* MAP_SHARED | MAP_ANONYMOUS across a fork: both sides write the same memory (a page
 * touched before the fork and two that were not), a MAP_PRIVATE page beside it stays each
 * one's own; mprotect (read-only across a fork, then writable in the child) keeps it
 * shared; MADV_DONTNEED keeps its contents */
static void shared_memory(void)
{
	int *sh = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED || priv == MAP_FAILED)
		exit(1);
	sh[0] = 1;
	priv[0] = 1;
	pid_t c = fork();

	if (c == 0) {
		sh[0] = 2;
		sh[1024] = 3;
		priv[0] = 9;
		bool ok = await(&sh[2048], 7);

		sh[2048] = 8;
		_exit(ok ? 0 : 1);
	}
	bool seen = await(&sh[1024], 3);

	sh[2048] = 7;
	const char *st = reap(c);

	say("MAP_SHARED across a fork: the child's writes seen %s (%d, %d), ours by it: %s; "
	    "MAP_PRIVATE: %d; child %s\n", seen ? "at once" : "late", sh[0], sh[1024],
	    sh[2048] == 8 ? "yes" : "no", priv[0], st);
	mprotect(sh, 4096, PROT_READ);
	c = fork();
	if (c == 0) {
		mprotect(sh, 4096, PROT_READ | PROT_WRITE);
		sh[0] = 5;
		_exit(0);
	}
	st = reap(c);
	mprotect(sh, 4096, PROT_READ | PROT_WRITE);
	say("MAP_SHARED read-only across a fork, made writable in the child: %d (child %s)\n",
	    sh[0], st);
	madvise(sh, 3 * 4096, MADV_DONTNEED);
	say("MAP_SHARED after MADV_DONTNEED: %d %d %d\n", sh[0], sh[1024], sh[2048]);
	munmap(sh, 3 * 4096);
	munmap(priv, 4096);
}

/* job control: a child's two threads each write a letter into a pipe (descriptor 20) every
 * millisecond, "a" sleeping between, "b" spinning (so that its stop comes by an interrupt
 * of its own code, not at a system call) */
static void *ticker(void *arg)
{
	const char *what = arg;

	for (;;) {
		if (write(20, what, 1) < 0 && errno != EAGAIN)
			_exit(1);
		if (*what == 'a') {
			usleep(1000);
			continue;
		}
		struct timespec t0, t;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec) < 1000000);
	}
	return NULL;
}

/* what came through the pipe within ms milliseconds: 'a' and 'b' seen, or nothing */
static const char *ticks(int fd, int ms)
{
	char b[4096];
	bool a = false, bb = false, any = false;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ssize_t k = read(fd, b, sizeof(b));

		for (ssize_t i = 0; i < k; i++) {
			any = true;
			a |= b[i] == 'a';
			bb |= b[i] == 'b';
		}
		if (a && bb)
			return "both threads";
		usleep(2000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	return any ? "one thread only" : "nothing";
}

static void drain(int fd)
{
	char b[4096];

	while (read(fd, b, sizeof(b)) > 0)
		;
}

static pid_t ticking_child(int p[2], bool own_session)
{
	if (pipe(p))
		exit(1);
	pid_t c = fork();

	if (c == 0) {
		pthread_t t;

		if (own_session)
			setsid(); /* (an orphaned group: its parent is in another session) */
		else
			setpgid(0, 0); /* (a group of its own, its parent outside: not orphaned) */
		dup2(p[1], 20);
		close(p[0]);
		close(p[1]);
		pthread_create(&t, NULL, ticker, "b");
		ticker("a");
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	return c;
}

/* stop signals, SIGCONT, and what wait4 and waitid say of them */
static void job_control(void)
{
	int p[2], st;
	siginfo_t si;
	pid_t c = ticking_child(p, false);

	say("job: a running child writes: %s\n", ticks(p[0], 5000));
	kill(c, SIGSTOP);
	pid_t w = waitpid(c, &st, WUNTRACED);

	say("job: SIGSTOP: waitpid WUNTRACED: %s, stopped %d, by %d\n", w == c ? "the child" : "?",
	    WIFSTOPPED(st), WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
	char path[64], stat[256] = "";

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)c);
	int fd = open(path, O_RDONLY);
	ssize_t k = fd < 0 ? -1 : read(fd, stat, sizeof(stat) - 1);
	char *rp = k > 0 ? strrchr(stat, ')') : NULL;

	close(fd);
	say("job: its state in /proc/PID/stat: %c\n", rp ? rp[2] : '?');
	drain(p[0]);
	usleep(20000);
	drain(p[0]); /* (a byte written as the stop came) */
	say("job: while stopped it writes: %s\n", ticks(p[0], 200));
	say("job: waitpid WUNTRACED | WNOHANG again: %d\n", (int)waitpid(c, &st, WUNTRACED | WNOHANG));
	kill(c, SIGCONT);
	w = waitpid(c, &st, WCONTINUED);
	say("job: SIGCONT: waitpid WCONTINUED: %s, continued %d\n", w == c ? "the child" : "?",
	    WIFCONTINUED(st));
	say("job: continued, it writes: %s\n", ticks(p[0], 5000));

	kill(c, SIGTSTP);
	memset(&si, 0, sizeof(si));
	int rc = waitid(P_PID, (id_t)c, &si, WSTOPPED);

	say("job: SIGTSTP: waitid WSTOPPED: %d, %s\n", rc, siginfo_text(&si, c));
	memset(&si, 0xff, sizeof(si));
	rc = waitid(P_PID, (id_t)c, &si, WCONTINUED | WNOHANG);
	say("job: waitid WCONTINUED | WNOHANG while stopped: %d, pid %d\n", rc, si.si_pid);
	kill(c, SIGTERM); /* (pending while it is stopped) */
	usleep(50000);
	say("job: SIGTERM to the stopped child: waitpid WNOHANG %d\n", (int)waitpid(c, &st, WNOHANG));
	kill(c, SIGCONT);
	memset(&si, 0, sizeof(si));
	rc = waitid(P_PID, (id_t)c, &si, WEXITED);
	say("job: SIGCONT then: waitid WEXITED: %d, %s\n", rc, siginfo_text(&si, c));
	close(p[0]);

	/* SIGKILL ends a stopped process; a terminal's stop does not stop an orphaned group */
	c = ticking_child(p, true);
	ticks(p[0], 5000);
	kill(c, SIGTSTP);
	usleep(50000);
	drain(p[0]);
	say("job: SIGTSTP to an orphaned group: waitpid WUNTRACED | WNOHANG %d, it writes: %s\n",
	    (int)waitpid(c, &st, WUNTRACED | WNOHANG), ticks(p[0], 5000));
	kill(c, SIGSTOP);
	w = waitpid(c, &st, WUNTRACED);
	say("job: SIGSTOP stops it all the same: %d\n", w == c && WIFSTOPPED(st));
	kill(c, SIGKILL);
	say("job: SIGKILL to the stopped child: %s\n", reap(c));
	close(p[0]);
}

/* memory short (not on Linux: its OOM killer would pick who dies): a child runs this
 * program (the kernel keeps its pages for the next run), then another fills memory until
 * the kernel kills it; the kernel lets go of the kept pages first */
static void reclaim(const char *self)
{
	pid_t c = fork();

	if (c == 0) {
		char *argv[] = {(char *)self, "exit0", NULL};
		char *envp[] = {NULL};

		execve(self, argv, envp);
		_exit(127);
	}
	say("reclaim: a child running this program %s\n", reap(c));
	c = fork();
	if (c == 0) {
		for (;;) {
			char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(3);
			for (int i = 0; i < 1 << 20; i += 4096)
				p[i] = 1;
		}
	}
	say("reclaim: a child filling memory %s\n", reap(c));
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strncmp(argv[1], "exit", 4))
		return atoi(argv[1] + 4);
	if (argc > 2 && !strcmp(argv[1], "reclaim")) {
		reclaim(argv[2]);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "exec-thread-child"))
		return exec_thread_child();
	if (argc > 1 && !strcmp(argv[1], "marker")) {
		printf("%s\n", marker);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "exec-child"))
		return exec_child(argc, argv);
	if (argc > 2 && !strcmp(argv[1], "forkexec")) { /* (make bench's: that loop alone) */
		char self[256];
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (k <= 0) {
			say("readlink /proc/self/exe: %s\n", strerror(errno));
			return 1;
		}
		self[k] = 0;
		forkexec(self, atoi(argv[2]) > 0 ? atoi(argv[2]) : 1);
		return 0;
	}
	if (argc > 3 && !strcmp(argv[1], "shloop")) { /* (make bench's) */
		shloop(argv[3], atoi(argv[2]) > 0 ? atoi(argv[2]) : 1);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "script-arg")) {
		say("script:");
		for (int i = 1; i < argc; i++)
			say(" [%s]", argv[i]);
		say("\n");
		return 5;
	}
	int n = argc > 1 ? atoi(argv[1]) : 100;

	if (n < 1 || n > 256)
		n = 100;
	/* on Linux, orphans come to us as to Amphi's first process */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGCHLD, on_sigchld);
	basics();
	memory();
	isolation();
	cow();
	rss();
	shared_memory();
	pipe_data();
	writev_whole();
	exec_tests(argc > 2 ? argv[2] : "bin/procs");
	exec_changed(argc > 2 ? argv[2] : "bin/procs");
	exec_threads(argc > 2 ? argv[2] : "bin/procs");
	spawns(argc > 2 ? argv[2] : "bin/procs");
	waits_and_kills();
	waitids();
	job_control();
	orphan();
	many(n);
	forkexec(argc > 2 ? argv[2] : "bin/procs", 100);
	storm(argc > 2 ? argv[2] : "bin/procs", 500);
	loadavg();
	say("done\n");
	return 0;
}
