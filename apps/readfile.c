/* readfile: reads each file named and prints its size (read and stat), an FNV-1a hash of
 * its bytes, its first line, and what pread and lseek(SEEK_END) give; an error by name.
 * A character device (/dev/null) also says its numbers; a directory lists its entries
 * (sorted, "/" after a directory's name). "cd:DIR" changes the working directory and
 * says whether getcwd then ends in DIR's last part. A regular file also goes through statx,
 * preadv, pwrite (refused: opened read-only) and sendfile (to /dev/null, from an offset).
 * Usage: readfile PATH|cd:DIR... (on Amphi the files come from the app's tar image) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* statx, sendfile, preadv, pwrite: what they say about a regular file */
static void more(const char *p, int fd, const struct stat *st)
{
	unsigned char x[256];
	unsigned short mode;
	unsigned long long size;
	long rc = syscall(SYS_statx, AT_FDCWD, p, 0, 0x7ff, x);

	memcpy(&mode, x + 28, 2);
	memcpy(&size, x + 40, 8);
	printf("%s: statx %s", p, rc ? strerror(errno)
			      : mode == (unsigned short)st->st_mode && size == (unsigned long long)st->st_size
				  ? "as stat"
				  : "NOT as stat");
	char a[4] = "", b[5] = "";
	struct iovec v[2] = {{a, 3}, {b, 4}};
	ssize_t n = preadv(fd, v, 2, 1);

	for (int j = 0; j < 4; j++) {
		if (a[j] && (a[j] < 32 || a[j] > 126))
			a[j] = '.';
		if (b[j] && (b[j] < 32 || b[j] > 126))
			b[j] = '.';
	}
	printf(", preadv %zd \"%s\" \"%s\"", n, a, b);
	printf(", pwrite %s", pwrite(fd, "x", 1, 0) < 0 ? strerror(errno) : "accepted");
	int null = open("/dev/null", O_WRONLY);
	off_t off = 3;

	n = sendfile(null, fd, &off, 1000);
	printf(", sendfile %zd to offset %lld\n", n, (long long)off);
	close(null);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *p, int fd)
{
	DIR *d = fdopendir(fd);
	char *names[64];
	int n = 0;
	struct dirent *e;

	while (d && (e = readdir(d)) && n < 64) {
		names[n] = malloc(strlen(e->d_name) + 2);
		sprintf(names[n++], "%s%s", e->d_name, e->d_type == DT_DIR ? "/" : "");
	}
	qsort(names, n, sizeof(names[0]), by_name);
	printf("%s: directory:", p);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
	if (d)
		closedir(d);
}

static void cd(const char *dir)
{
	char cwd[512];
	const char *last = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;

	if (chdir(dir)) {
		printf("cd %s: %s\n", dir, strerror(errno));
		return;
	}
	if (!getcwd(cwd, sizeof(cwd))) {
		printf("cd %s: getcwd: %s\n", dir, strerror(errno));
		return;
	}
	size_t n = strlen(cwd), k = strlen(last);

	printf("cd %s: getcwd ends in /%s: %s\n", dir, last,
	       n > k && !strcmp(cwd + n - k, last) && cwd[n - k - 1] == '/' ? "yes" : "no");
}

int main(int argc, char **argv)
{
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		const char *p = argv[i];
		struct stat st, st2;

		if (!strncmp(p, "cd:", 3)) {
			cd(p + 3);
			continue;
		}
		int fd = open(p, O_RDONLY);

		if (fd < 0) {
			printf("%s: open: %s\n", p, strerror(errno));
			bad++;
			continue;
		}
		if (fstat(fd, &st) || stat(p, &st2) || st.st_size != st2.st_size ||
		    st.st_mode != st2.st_mode || st.st_rdev != st2.st_rdev || access(p, R_OK)) {
			printf("%s: stat or access failed\n", p);
			bad++;
		}
		if (S_ISDIR(st.st_mode)) {
			list(p, fd); /* (closes fd) */
			continue;
		}
		if (S_ISCHR(st.st_mode))
			printf("%s: character device %u,%u\n", p, (unsigned)(st.st_rdev >> 8),
			       (unsigned)(st.st_rdev & 0xff));
		unsigned h = 2166136261u;
		long long total = 0;
		char buf[4096], first[48] = "";
		ssize_t n;

		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			if (!total) {
				size_t k = 0;

				while (k < (size_t)n && k < sizeof(first) - 1 && buf[k] != '\n')
					k++;
				memcpy(first, buf, k);
				first[k] = 0;
				for (size_t j = 0; j < k; j++)
					if (first[j] < 32 || first[j] > 126)
						first[j] = '.';
			}
			for (ssize_t j = 0; j < n; j++)
				h = (h ^ (unsigned char)buf[j]) * 16777619u;
			total += n;
		}
		char five[6] = "";
		ssize_t pr = pread(fd, five, 5, 2);
		off_t end = lseek(fd, 0, SEEK_END);

		for (int j = 0; j < 5; j++)
			if (five[j] && (five[j] < 32 || five[j] > 126))
				five[j] = '.';
		printf("%s: %lld bytes (stat %lld, %s), fnv1a %08x, first line \"%s\", pread %zd \"%s\", "
		       "end %lld\n", p, total, (long long)st.st_size,
		       S_ISREG(st.st_mode) ? "regular" : "not regular", h, first, pr, five,
		       (long long)end);
		if (S_ISREG(st.st_mode))
			more(p, fd, &st);
		close(fd);
	}
	return bad;
}
