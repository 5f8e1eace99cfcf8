/* The process facts a server asks for, as Linux answers them: credentials and dropping
 * root (setgroups, setresuid, setuid, ...), umask, prctl's thread name, readlink of
 * /proc/self/exe, /dev/urandom, getrandom and AT_RANDOM (and whether their bytes look
 * random), RLIMIT_NOFILE lowered and raised. Run as root, as the matrix runs it on Linux
 * too; every line must be the same there. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *res(long rc)
{
	static char b[4][32];
	static int k;
	char *s = b[k++ % 4];

	if (rc >= 0)
		snprintf(s, 32, "%ld", rc);
	else
		snprintf(s, 32, "%s", errno == EPERM    ? "EPERM"
				      : errno == EINVAL ? "EINVAL"
				      : errno == EMFILE ? "EMFILE"
				      : errno == EBADF	? "EBADF"
				      : errno == ENOENT ? "ENOENT"
							: "other");
	return s;
}

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* 1 MiB from getrandom in requests of many sizes: every byte value about equally often
 * (chi-square with 255 degrees of freedom: 255 expected, over 400 about once in 10^8 for
 * random bytes; a generator stuck on a few values or repeating itself lands in the
 * thousands) and no 16-byte block twice; AT_RANDOM's 16 bytes not all zero; bad flags
 * and a bad buffer refused; a write to /dev/urandom taken */
static void randomness(void)
{
	static uint8_t b[1 << 20], c[1 << 20];
	static const size_t sizes[] = { 1, 7, 16, 100, 256, 257, 4096, 65536 };
	size_t got = 0, calls = 0;
	unsigned count[256] = { 0 };

	while (got < sizeof(b)) {
		size_t want = sizes[calls++ % 8];
		ssize_t n = getrandom(b + got, want < sizeof(b) - got ? want : sizeof(b) - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	for (size_t i = 0; i < got; i++)
		count[b[i]]++;
	double e = got / 256.0, chi = 0;

	for (int v = 0; v < 256; v++)
		chi += (count[v] - e) * (count[v] - e) / e;
	memcpy(c, b, sizeof(c));
	qsort(c, sizeof(c) / 16, 16, cmp16);
	int twice = 0;

	for (size_t i = 16; i < sizeof(c); i += 16)
		twice |= !memcmp(c + i - 16, c + i, 16);
	printf("getrandom: %zu bytes in %zu calls; each byte value about equally often: %s; a "
	       "16-byte block twice: %s\n", got, calls, got && chi < 400 ? "yes" : "NO",
	       twice ? "YES" : "no");
	const uint8_t *at = (const uint8_t *)getauxval(AT_RANDOM);
	int zero = 0;

	for (int i = 0; at && i < 16; i++)
		zero += !at[i];
	printf("getrandom: bad flags %s, a bad buffer %s; AT_RANDOM %s", res(getrandom(b, 16, 0x80)),
	       getrandom((void *)8, 16, 0) < 0 && errno == EFAULT ? "EFAULT" : "other",
	       at && zero < 8 ? "not all zero" : "MISSING OR ZERO");
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

	printf("; 5 bytes written to /dev/urandom: %s\n", res(write(fd, "hello", 5)));
	close(fd);
}

static void *named(void *arg __attribute__((unused)))
{
	char name[16] = "";

	prctl(PR_GET_NAME, name);
	printf("prctl: a new thread is named '%s'\n", name);
	return NULL;
}

int main(void)
{
	char buf[256] = "", name[16] = "";
	uid_t r, e, s;
	gid_t g[4];
	struct rlimit rl;
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getuid() != 0) {
		printf("procfacts: run me as root\n");
		return 2;
	}
	/* umask */
	int old = umask(027);
	int now = umask(old);

	printf("umask: set 027, read back %03o\n", now);
	/* the thread's name */
	prctl(PR_GET_NAME, name);
	printf("prctl: named '%s'", name);
	int rc = prctl(PR_SET_NAME, "a-very-long-thread-name");

	prctl(PR_GET_NAME, name);
	printf("; after a set (%s) '%s'", res(rc), name);
	rc = prctl(12345, 0);
	printf("; an unknown option %s\n", res(rc));
	pthread_create(&t, NULL, named, NULL);
	pthread_join(t, NULL);
	/* where the program is */
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = 0;
	printf("readlink /proc/self/exe: absolute %d, ends in /%s %d", buf[0] == '/',
	       "procfacts", n > 9 && !strcmp(buf + n - 10, "/procfacts"));
	n = readlink("/no/such/file", buf, sizeof(buf));
	printf("; a missing file %s\n", res(n));
	/* /dev/urandom */
	unsigned char rnd[32] = {0};
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC), zero = 0;
	struct stat st;

	n = read(fd, rnd, sizeof(rnd));
	for (int i = 0; i < 32; i++)
		zero += !rnd[i];
	fstat(fd, &st);
	printf("urandom: read %s, %s; a character device %d (1, 9: %d)\n", res(n),
	       zero < 8 ? "not all zero" : "mostly zero", S_ISCHR(st.st_mode),
	       st.st_rdev == makedev(1, 9));
	close(fd);
	randomness();
	/* RLIMIT_NOFILE: lowered, then a descriptor past it, then raised again */
	struct rlimit orig;

	getrlimit(RLIMIT_NOFILE, &orig);
	rl = (struct rlimit){8, orig.rlim_max};
	rc = setrlimit(RLIMIT_NOFILE, &rl);
	int fds = 0;

	for (int i = 0; i < 16; i++)
		if (open("/dev/null", O_RDONLY) >= 0)
			fds++;
	int more = open("/dev/null", O_RDONLY);

	printf("rlimit: soft NOFILE 8 (%s): %d more opens, then %s", res(rc), fds, res(more));
	printf(", dup2 to 9 %s", res(dup2(0, 9)));
	for (int i = 3; i < 8; i++)
		close(i);
	rl = (struct rlimit){orig.rlim_max + 1, orig.rlim_max};
	printf("; soft over hard %s", res(setrlimit(RLIMIT_NOFILE, &rl)));
	rl = orig;
	printf(", back %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));
	/* groups and ids, dropping root last */
	gid_t two[2] = {4, 24};

	printf("groups: set 2 %s", res(setgroups(2, two)));
	int k = getgroups(4, g), count = getgroups(0, NULL);

	printf(", get %d (%d %d), count %d", k, k > 0 ? (int)g[0] : -1, k > 1 ? (int)g[1] : -1,
	       count);
	printf(", into 1 %s", res(getgroups(1, g)));
	rc = setgroups(0, NULL);
	printf(", set none %s, count %d\n", res(rc), getgroups(0, NULL));
	rc = setresgid(100, 100, 100);
	getresgid(&r, &e, &s);
	printf("ids: setresgid %s: %u %u %u; gid %u egid %u\n", res(rc), r, e, s, getgid(),
	       getegid());
	rc = setresuid(1000, 0, 0);
	getresuid(&r, &e, &s);
	printf("ids: setresuid(1000, 0, 0) %s: %u %u %u", res(rc), r, e, s);
	rc = seteuid(1000);
	printf("; seteuid(1000) %s: euid %u", res(rc), geteuid());
	rc = seteuid(0);
	printf("; back to 0 %s: euid %u\n", res(rc), geteuid());
	rc = setuid(65534);
	getresuid(&r, &e, &s);
	printf("ids: setuid(65534) %s: %u %u %u", res(rc), r, e, s);
	rc = setuid(0);
	printf("; setuid(0) again %s", res(rc));
	rc = setgroups(0, NULL);
	printf(", setgroups %s", res(rc));
	rc = setresuid(-1, 65534, -1);
	printf(", setresuid(-1, 65534, -1) %s\n", res(rc));
	printf("procfacts: done\n");
	return 0;
}
