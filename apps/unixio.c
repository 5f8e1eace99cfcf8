/* Pipes, dup, fcntl, eventfds, poll/select and epoll, as Linux does them: every line this
 * prints must be the same on Linux and on Amphi (the matrix compares them). Threads block
 * in pipe reads and writes, in epoll_wait and poll, and others wake them. Ends with
 * "unixio: N checks, M failed" and exits with 1 if any failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK_SAY say
#include "check.h"

/* a call's result as text: the value, or the errno's name */
static const char *res(long rc)
{
	static char buf[8][32];
	static int k;
	char *b = buf[k++ % 8];

	if (rc >= 0) {
		snprintf(b, 32, "%ld", rc);
		return b;
	}
	switch (errno) {
	case EAGAIN: return "EAGAIN";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case EPIPE: return "EPIPE";
	case ESPIPE: return "ESPIPE";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case EPERM: return "EPERM";
	case EFAULT: return "EFAULT";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	}
	snprintf(b, 32, "errno %d", errno);
	return b;
}

/* one output line, said in parts: each part a statement of its own, so the calls in it run
 * in the order written (a function's arguments are evaluated in no set order) */
static char line[1024];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(line);

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n + strlen(line + n) && line[strlen(line) - 1] == '\n') {
		fputs(line, stdout);
		line[0] = 0;
	}
}

static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

static void basics(void)
{
	int p[2];
	char buf[64] = {0};
	struct stat st;
	int n = -1;

	CHECK(pipe(p) == 0, "pipe: %s", res(-1));
	say("pipe: write %s", res(write(p[1], "hello", 5)));
	say(", FIONREAD %s", res(ioctl(p[0], FIONREAD, &n)));
	say(" (%d)", n);
	say(", read %s", res(read(p[0], buf, sizeof(buf))));
	say(" '%s'\n", buf);
	fstat(p[0], &st);
	say("pipe: a FIFO %d", S_ISFIFO(st.st_mode));
	say(", access modes %s", res(fcntl(p[0], F_GETFL) & O_ACCMODE));
	say(" %s", res(fcntl(p[1], F_GETFL) & O_ACCMODE));
	say(", lseek %s", res(lseek(p[0], 0, SEEK_CUR)));
	say(", read the write end %s", res(read(p[1], buf, 1)));
	say(", write the read end %s\n", res(write(p[0], "x", 1)));
	say("pipe: a read of 0 bytes %s", res(read(p[0], buf, 0)));
	say(", a write of 0 bytes %s", res(write(p[1], buf, 0)));
	say(", pipe2 with bad flags %s\n", res(pipe2(p, 0x1234)));
	/* end of file once the writer is gone, and POLLHUP */
	write(p[1], "ab", 2);
	close(p[1]);
	struct pollfd pf = {p[0], POLLIN, 0};

	say("pipe: writer closed: poll %s", res(poll(&pf, 1, 0)));
	say(" revents %#x", pf.revents);
	say(", read %s", res(read(p[0], buf, 8)));
	say(", read %s", res(read(p[0], buf, 8)));
	pf.revents = 0;
	say(", poll %s", res(poll(&pf, 1, 0)));
	say(" revents %#x\n", pf.revents);
	close(p[0]);
	/* no reader: EPIPE (SIGPIPE ignored, as on Linux it would kill) and POLLERR */
	signal(SIGPIPE, SIG_IGN);
	pipe(p);
	close(p[0]);
	pf = (struct pollfd){p[1], POLLOUT, 0};
	say("pipe: reader closed: poll %s", res(poll(&pf, 1, 0)));
	say(" revents %#x", pf.revents);
	say(", write %s\n", res(write(p[1], "x", 1)));
	close(p[1]);
	/* non-blocking: empty, full at Linux's 64 KiB, an atomic write that does not fit */
	pipe2(p, O_NONBLOCK | O_CLOEXEC);
	long total = 0, r;
	char page[4096] = {0};

	say("nonblocking pipe: empty read %s", res(read(p[0], buf, 1)));
	say(", O_NONBLOCK %d", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
	say(", FD_CLOEXEC %d\n", fcntl(p[1], F_GETFD));
	while ((r = write(p[1], page, sizeof(page))) > 0)
		total += r;
	say("nonblocking pipe: holds %ld bytes, then %s", total, res(r));
	pf = (struct pollfd){p[1], POLLOUT, 0};
	say("; poll for writing %s\n", res(poll(&pf, 1, 0)));
	read(p[0], page, 100);
	say("nonblocking pipe: after reading 100, a write of 4096 %s", res(write(p[1], page, 4096)));
	say(", of 100 %s\n", res(write(p[1], page, 100)));
	close(p[0]);
	close(p[1]);
}

struct stream {
	int fd;
	long bytes;
	uint32_t sum;
};

static void *writer(void *arg)
{
	struct stream *s = arg;
	unsigned char chunk[3000];
	long done = 0;
	uint32_t x = 1;

	while (done < s->bytes) {
		size_t k = sizeof(chunk) < (size_t)(s->bytes - done) ? sizeof(chunk)
								       : (size_t)(s->bytes - done);

		for (size_t i = 0; i < k; i++) {
			x = x * 1103515245 + 12345;
			chunk[i] = (unsigned char)(x >> 16);
			s->sum += chunk[i];
		}
		ssize_t w = write(s->fd, chunk, k);

		if (w != (ssize_t)k)
			break;
		done += w;
	}
	close(s->fd);
	return NULL;
}

/* a blocking pipe between two threads: more than it holds, read in odd sizes */
static void threads(void)
{
	int p[2];
	pthread_t t;
	struct stream s = {0, 1000000, 0};
	unsigned char buf[777];
	long got = 0;
	uint32_t sum = 0;
	ssize_t r;

	pipe(p);
	s.fd = p[1];
	pthread_create(&t, NULL, writer, &s);
	sleep_ms(20); /* the writer fills the pipe and blocks */
	while ((r = read(p[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r; i++)
			sum += buf[i];
		got += r;
	}
	pthread_join(t, NULL);
	CHECK(got == s.bytes && sum == s.sum, "got %ld of %ld bytes, sum %u against %u", got,
	      s.bytes, sum, s.sum);
	say("threads: %ld bytes through a blocking pipe, then end of file (%s)\n", got, res(r));
	close(p[0]);
}

static void dups(void)
{
	int p[2];
	char buf[8] = {0};

	pipe(p);
	int d = dup(p[1]), low = -1;

	for (int fd = 0; fd < d; fd++)
		if (fcntl(fd, F_GETFD) < 0 && low < 0)
			low = fd;
	CHECK(d > p[1] && low < 0, "dup gave %d, %d was free", d, low);
	say("dup: dup2 to 50 %s", res(dup2(p[1], 50)));
	CHECK(dup2(p[1], p[1]) == p[1], "dup2 to itself");
	say(", dup3 to itself %s", res(syscall(SYS_dup3, p[1], p[1], 0)));
	say(", dup3 with bad flags %s", res(syscall(SYS_dup3, p[1], 52, 0x40)));
	say(", dup2 of a closed fd %s\n", res(dup2(49, 48)));
	close(p[1]);
	write(50, "via50", 5);
	say("dup: the write end's dup works with the original closed: read %s",
	    res(read(p[0], buf, 5)));
	say(" '%s'\n", buf);
	/* the description (O_NONBLOCK) is shared; the descriptor flag (FD_CLOEXEC) is not */
	fcntl(50, F_SETFL, O_NONBLOCK);
	say("dup: O_NONBLOCK set on one name shows on another: %d", !!(fcntl(d, F_GETFL) & O_NONBLOCK));
	say("; dup3 O_CLOEXEC to 51 %s", res(dup3(50, 51, O_CLOEXEC)));
	say(", FD_CLOEXEC %d", fcntl(51, F_GETFD));
	say(" (on 50: %d)\n", fcntl(50, F_GETFD));
	say("dup: F_DUPFD from 20 %s", res(fcntl(50, F_DUPFD, 20)));
	say(", F_DUPFD_CLOEXEC from 20 %s", res(fcntl(50, F_DUPFD_CLOEXEC, 20)));
	say(" (FD_CLOEXEC %d", fcntl(21, F_GETFD));
	fcntl(21, F_SETFD, 0);
	say(", after F_SETFD 0: %d)\n", fcntl(21, F_GETFD));
	say("dup: dup2 of the read end onto 20 %s", res(dup2(p[0], 20)));
	write(50, "y", 1);
	say(", a read there %s\n", res(read(20, buf, 1)));
	/* every name of the write end closed: end of file */
	close(50);
	close(51);
	close(21);
	close(d);
	say("dup: all the write end's names closed: read %s\n", res(read(p[0], buf, 1)));
	close(20);
	close(p[0]);
	say("dup: bad fds: close %s", res(close(40)));
	say(", fcntl %s", res(fcntl(40, F_GETFD)));
	say(", dup %s\n", res(dup(40)));
}

static void eventfds(void)
{
	uint64_t v = 0;
	int e = eventfd(3, EFD_NONBLOCK);

	say("eventfd: read %s", res(read(e, &v, 8)));
	say(" (%llu)", (unsigned long long)v);
	say(", again %s", res(read(e, &v, 8)));
	v = 2;
	write(e, &v, 8);
	v = 5;
	write(e, &v, 8);
	say(", after writes of 2 and 5: read %s", res(read(e, &v, 8)));
	say(" (%llu)\n", (unsigned long long)v);
	uint32_t small;

	v = UINT64_MAX;
	say("eventfd: a 4-byte read %s", res(read(e, &small, 4)));
	say(", a write of 2^64-1 %s", res(write(e, &v, 8)));
	v = UINT64_MAX - 1;
	say(", of 2^64-2 %s", res(write(e, &v, 8)));
	v = 1;
	say(", then of 1 %s\n", res(write(e, &v, 8)));
	struct pollfd pf = {e, POLLIN | POLLOUT, 0};

	poll(&pf, 1, 0);
	say("eventfd: full: revents %#x", pf.revents);
	read(e, &v, 8);
	poll(&pf, 1, 0);
	say(", empty: %#x\n", pf.revents);
	close(e);
	e = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	say("eventfd: semaphore: read %s", res(read(e, &v, 8)));
	say(" (%llu)", (unsigned long long)v);
	say(", %s", res(read(e, &v, 8)));
	say(" (%llu)", (unsigned long long)v);
	say(", %s", res(read(e, &v, 8)));
	say("; FD_CLOEXEC %d", fcntl(e, F_GETFD));
	say("; bad flags %s\n", res(eventfd(0, 0x40)));
	close(e);
}

static void polls(void)
{
	int p[2];
	fd_set r, w;
	struct timeval tv = {0, 0};

	pipe(p);
	struct pollfd pf[3] = {{p[0], POLLIN, 0}, {40, POLLIN, 0}, {-1, POLLIN, 0}};

	say("poll: %s", res(poll(pf, 3, 0)));
	say(": revents %#x %#x %#x", pf[0].revents, pf[1].revents, pf[2].revents);
	say("; empty, 20 ms: %s\n", res(poll(pf, 1, 20)));
	write(p[1], "z", 1);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(p[1], &r);
	FD_SET(p[1], &w);
	say("select: %s", res(select(p[1] + 1, &r, &w, NULL, &tv)));
	say(": read %d %d, write %d", FD_ISSET(p[0], &r), FD_ISSET(p[1], &r), FD_ISSET(p[1], &w));
	FD_ZERO(&r);
	FD_SET(40, &r);
	say("; a closed fd %s\n", res(select(41, &r, NULL, NULL, &tv)));
	struct timespec ts = {0, 10000000};

	read(p[0], (char[1]){0}, 1);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	say("pselect: empty, 10 ms: %s", res(pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL)));
	say("; ppoll: %s", res(ppoll(pf, 1, &ts, NULL)));
	ts.tv_nsec = -1;
	say(", a bad timeout %s\n", res(ppoll(pf, 1, &ts, NULL)));
	close(p[0]);
	close(p[1]);
}

struct later {
	int fd, ms;
	int ep, add; /* epoll_ctl ADD add to ep instead */
};

static void *write_later(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->ms);
	if (l->ep >= 0) {
		struct epoll_event ev = {EPOLLIN, {.u64 = 77}};

		epoll_ctl(l->ep, EPOLL_CTL_ADD, l->add, &ev);
	} else {
		uint64_t one = 1;

		write(l->fd, &one, 8);
	}
	return NULL;
}

static void epolls(void)
{
	int p[2], q[2], ep = epoll_create1(EPOLL_CLOEXEC), n;
	struct epoll_event ev = {EPOLLIN, {.u64 = 42}}, out[4];

	pipe(p);
	pipe(q);
	int null = open("/dev/null", O_RDONLY);

	say("epoll: FD_CLOEXEC %d", fcntl(ep, F_GETFD));
	say("; add %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)));
	say(", again %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)));
	say(", mod of another %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, q[0], &ev)));
	say(", del of another %s\n", res(epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL)));
	say("epoll: add /dev/null %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, null, &ev)));
	say(", itself %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev)));
	say(", a closed fd %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, 40, &ev)));
	say(", to a pipe %s", res(epoll_ctl(p[0], EPOLL_CTL_ADD, q[0], &ev)));
	say(", op 7 %s", res(epoll_ctl(ep, 7, q[0], &ev)));
	n = epoll_create(0); /* (musl makes it epoll_create1(0): a set) */
	say("; create(0) %s", n >= 0 ? "a set" : res(n));
	close(n);
	say(", wait for 0 %s", res(epoll_wait(ep, out, 0, 0)));
	say(", bad flags %s\n", res(epoll_create1(1)));
	close(null);
	/* level triggered: reported while it stays readable */
	say("epoll: empty: %s", res(epoll_wait(ep, out, 4, 0)));
	write(p[1], "ab", 2);
	n = epoll_wait(ep, out, 4, 0);
	say("; level: %s (%#x, %llu)", res(n), out[0].events, (unsigned long long)out[0].data.u64);
	say(", again %s\n", res(epoll_wait(ep, out, 4, 0)));
	/* edge triggered: once per change */
	ev = (struct epoll_event){EPOLLIN | EPOLLET, {.u64 = 43}};
	say("epoll: edge: mod %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)));
	say(", wait %s", res(epoll_wait(ep, out, 4, 0)));
	say(", again %s", res(epoll_wait(ep, out, 4, 0)));
	write(p[1], "c", 1);
	say(", after a write %s", res(epoll_wait(ep, out, 4, 0)));
	say(" (%llu)", (unsigned long long)out[0].data.u64);
	say(", again %s\n", res(epoll_wait(ep, out, 4, 0)));
	/* one shot: off after one report until modified */
	ev = (struct epoll_event){EPOLLIN | EPOLLONESHOT, {.u64 = 44}};
	say("epoll: oneshot: mod %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)));
	say(", wait %s", res(epoll_wait(ep, out, 4, 0)));
	say(", again %s", res(epoll_wait(ep, out, 4, 0)));
	say(", rearmed %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)));
	say(" %s\n", res(epoll_wait(ep, out, 4, 0)));
	/* the write end too, and EPOLLEXCLUSIVE (only with ADD) */
	ev = (struct epoll_event){EPOLLOUT | EPOLLEXCLUSIVE, {.u64 = 45}};
	say("epoll: exclusive add of the write end %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev)));
	say(", its mod %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev)));
	n = epoll_wait(ep, out, 4, 0);
	say("; wait %s (%#x, %llu)\n", res(n), n > 0 ? out[0].events : 0,
	    n > 0 ? (unsigned long long)out[0].data.u64 : 0);
	epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
	/* the writer gone: EPOLLHUP with the data still there */
	close(p[1]);
	ev = (struct epoll_event){EPOLLIN, {.u64 = 46}};
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	n = epoll_wait(ep, out, 4, 0);
	say("epoll: writer closed: %s (%#x)", res(n), n > 0 ? out[0].events : 0);
	/* closing the only descriptor takes the item out of the set */
	close(p[0]);
	say("; reader closed: %s", res(epoll_wait(ep, out, 4, 0)));
	say(", its del %s\n", res(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL)));
	/* a wait for ever, woken by another thread: an eventfd written, then a descriptor
	 * added to the set while the wait is under way */
	int e = eventfd(0, 0);
	pthread_t t;
	struct later l = {e, 30, -1, -1};

	ev = (struct epoll_event){EPOLLIN, {.u64 = 47}};
	epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
	pthread_create(&t, NULL, write_later, &l);
	n = epoll_wait(ep, out, 4, -1);
	pthread_join(t, NULL);
	say("epoll: woken by an eventfd write: %s (%llu)", res(n),
	    n > 0 ? (unsigned long long)out[0].data.u64 : 0);
	epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL);
	write(q[1], "q", 1);
	l = (struct later){-1, 30, ep, q[0]};
	pthread_create(&t, NULL, write_later, &l);
	n = epoll_wait(ep, out, 4, -1);
	pthread_join(t, NULL);
	say("; by an add: %s (%llu)\n", res(n), n > 0 ? (unsigned long long)out[0].data.u64 : 0);
	/* poll woken the same way */
	uint64_t v;

	read(e, &v, 8);
	l = (struct later){e, 30, -1, -1};
	pthread_create(&t, NULL, write_later, &l);
	struct pollfd pf = {e, POLLIN, 0};

	n = poll(&pf, 1, -1);
	pthread_join(t, NULL);
	say("poll: woken by an eventfd write: %s (%#x)\n", res(n), pf.revents);
	close(e);
	close(q[0]);
	close(q[1]);
	close(ep);
}

/* Four threads poll a pipe at once, 20,000 times each: every wait ends by the same
 * kernel path (the network's lock, even in a VM without a NIC, where that lock was once
 * used before it was made: the first contended take crashed the kernel) */
static int storm_fd;

static void *storm(void *arg)
{
	struct pollfd p = {storm_fd, POLLIN, 0};
	long *ready = arg;

	for (int i = 0; i < 20000; i++)
		*ready += poll(&p, 1, 0) == 1;
	return NULL;
}

static void poll_storm(void)
{
	int q[2];
	pthread_t t[4];
	long ready[4] = {0};

	pipe(q);
	write(q[1], "x", 1);
	storm_fd = q[0];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, storm, &ready[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	long all = ready[0] + ready[1] + ready[2] + ready[3];

	CHECK(all == 80000, "poll from 4 threads: %ld of 80000 ready", all);
	say("poll from 4 threads at once, 20000 times each: %ld ready\n", all);
	close(q[0]);
	close(q[1]);
}

/* Many descriptors: RLIMIT_NOFILE's soft limit raised to 4096 (the hard one left as it is,
 * when it is higher: a container's root may not raise it again), 2,000 eventfds with every
 * fourth readable, seen by poll, select and epoll; then the table filled to its end. */
#define MANY 2000
static int many_fd[4096];
static struct pollfd many_p[MANY];
static struct epoll_event many_ev[4096];

static void many(void)
{
	struct rlimit orig, rl;
	int opened = 0, in_row = 1, rc;

	for (int i = 3; i < 1024; i++)
		close(i); /* (what earlier parts left open: the numbers below start at 3) */
	getrlimit(RLIMIT_NOFILE, &orig);
	rl = (struct rlimit){4096, orig.rlim_max > 4096 ? orig.rlim_max : 4096};
	rc = setrlimit(RLIMIT_NOFILE, &rl);
	CHECK(rc == 0, "setrlimit NOFILE 4096: %s", res(rc));
	say("many: NOFILE raised to 4096 %s", res(rc));
	for (int i = 0; i < MANY; i++) {
		many_fd[i] = eventfd(0, EFD_NONBLOCK);
		opened += many_fd[i] >= 0;
		in_row &= many_fd[i] == many_fd[0] + i;
	}
	CHECK(opened == MANY && in_row, "%d eventfds, in a row %d", opened, in_row);
	say("; %d eventfds opened, numbered in a row %d, the last %s 2000\n", opened, in_row,
	    many_fd[MANY - 1] >= MANY ? "at or past" : "before");
	uint64_t one = 1;

	for (int i = 0; i < MANY; i += 4)
		write(many_fd[i], &one, 8);
	/* poll: every fourth readable, and only those */
	int right = 0;

	for (int i = 0; i < MANY; i++)
		many_p[i] = (struct pollfd){many_fd[i], POLLIN, 0};
	rc = poll(many_p, MANY, 1000);
	for (int i = 0; i < MANY; i++)
		right += (many_p[i].revents == POLLIN) == (i % 4 == 0);
	CHECK(rc == MANY / 4 && right == MANY, "poll: %s, %d right", res(rc), right);
	say("many: poll of %d: %s ready, %d right", MANY, res(rc), right);
	/* select: the descriptors below FD_SETSIZE */
	fd_set r;
	int want = 0, maxfd = -1, items = 0;

	FD_ZERO(&r);
	for (int i = 0; i < MANY && many_fd[i] < FD_SETSIZE; i++) {
		FD_SET(many_fd[i], &r);
		want += i % 4 == 0;
		items++;
		maxfd = many_fd[i];
	}
	struct timeval tv = {1, 0};

	rc = select(maxfd + 1, &r, NULL, NULL, &tv);
	right = 0;
	for (int i = 0; i < MANY && many_fd[i] < FD_SETSIZE; i++)
		right += !!FD_ISSET(many_fd[i], &r) == (i % 4 == 0);
	CHECK(rc == want && right == items, "select: %s of %d", res(rc), want);
	say("; select up to %d: %s ready, as many as written %d\n", FD_SETSIZE, res(rc),
	    rc == want);
	/* epoll: all of them in one set, then the ready ones in one wait, and in waits of 100 */
	int ep = epoll_create1(EPOLL_CLOEXEC), added = 0;

	for (int i = 0; i < MANY; i++) {
		struct epoll_event e = {EPOLLIN, {.u64 = (uint64_t)i}};

		added += epoll_ctl(ep, EPOLL_CTL_ADD, many_fd[i], &e) == 0;
	}
	rc = epoll_wait(ep, many_ev, 4096, 1000);
	right = 0;
	for (int i = 0; i < rc; i++)
		right += many_ev[i].events == EPOLLIN && many_ev[i].data.u64 % 4 == 0;
	CHECK(added == MANY && rc == MANY / 4 && right == rc, "epoll: %d added, %s, %d right",
	      added, res(rc), right);
	say("many: epoll set of %d: one wait %s ready, %d right", added, res(rc), right);
	rc = epoll_wait(ep, many_ev, 100, 1000);
	say(", a wait for 100 %s\n", res(rc));
	close(ep);
	/* far descriptors, then the table to its end */
	say("many: dup2 to 3000 %s", res(dup2(0, 3000)));
	say(", F_DUPFD from 3500 %s", res(fcntl(0, F_DUPFD, 3500)));
	say(", dup2 to 4096 %s", res(dup2(0, 4096)));
	int last = -1, fd;

	while ((fd = eventfd(0, 0)) >= 0)
		last = fd;
	say("; filled to %d, then %s\n", last, res(fd));
	CHECK(last == 4095 && errno == EMFILE, "filled to %d", last);
	for (int i = 3; i < 4096; i++)
		close(i);
	rc = setrlimit(RLIMIT_NOFILE, &orig);
	CHECK(rc == 0, "setrlimit back: %s", res(rc));
	say("many: every one closed, NOFILE back %s, a new one is %s\n", res(rc),
	    res(fd = eventfd(0, 0)));
	close(fd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	basics();
	threads();
	dups();
	eventfds();
	polls();
	epolls();
	poll_storm();
	many();
	printf("unixio: %d checks, %d failed\n", checks, failed);
	return failed ? 1 : 0;
}
