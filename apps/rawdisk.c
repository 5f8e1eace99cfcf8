/* rawdisk DEVICE: the VM's first disk as a Linux block device, with the test matrix's disk
 * (16 MiB; sectors 0-2047 hold the host's pattern, 16 lines "amphi dom0 sector N" of 32
 * bytes a sector). Reads the host's pattern in pieces that start and end inside sectors;
 * writes the guest's pattern ("amphi guest sector N") into sectors 2048-4095 in writes of
 * odd sizes at odd offsets (write, pwrite, writev), which the host checks once the VM is
 * gone; then the size (BLKGETSIZE64, lseek), fstat, fsync, the end of the disk, a
 * read-only descriptor, /dev/xvda, a bad buffer and a disk that is not there. Ends with
 * "rawdisk: N checks, M failed" (the matrix judges it by that line and the host's check,
 * not against a Linux run: the host has no such disk). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"

#define SECTOR	  512
#define DISK_SIZE (16u << 20)
#define GUEST_AT  (2048u * SECTOR)
#define GUEST_LEN (2048u * SECTOR)
#ifndef BLKGETSIZE64
#define BLKGETSIZE64 0x80081272
#endif
#ifndef BLKGETSIZE
#define BLKGETSIZE 0x1260
#endif
#ifndef BLKSSZGET
#define BLKSSZGET 0x1268
#endif

/* who's pattern over bytes [from, from + n) of the disk */
static void pattern(char *out, const char *who, uint64_t from, size_t n)
{
	char line[33];

	for (size_t i = 0; i < n;) {
		uint64_t at = from + i, sector = at / SECTOR;

		int k = snprintf(line, sizeof(line), "amphi %s sector %llu", who,
				 (unsigned long long)sector);

		memset(line + k, ' ', 31 - k);
		line[31] = '\n';
		size_t off = at % 32, take = 32 - off;

		if (take > n - i)
			take = n - i;
		memcpy(out + i, line + off, take);
		i += take;
	}
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/vda";
	static char buf[GUEST_LEN], want[GUEST_LEN];
	int fd = open(dev, O_RDWR);

	CHECK(fd >= 0, "open %s: %s", dev, strerror(errno));
	if (fd < 0)
		return 1;

	/* what it is and how big */
	struct stat st;
	uint64_t size = 0;
	unsigned long sectors = 0;
	int ssz = 0;

	CHECK(fstat(fd, &st) == 0 && S_ISBLK(st.st_mode), "fstat: not a block device (mode %o)",
	      st.st_mode);
	CHECK(stat(dev, &st) == 0 && S_ISBLK(st.st_mode), "stat: not a block device");
	CHECK(ioctl(fd, BLKGETSIZE64, &size) == 0 && size == DISK_SIZE, "BLKGETSIZE64: %llu",
	      (unsigned long long)size);
	CHECK(ioctl(fd, BLKGETSIZE, &sectors) == 0 && sectors == DISK_SIZE / 512, "BLKGETSIZE: %lu",
	      sectors);
	CHECK(ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz == SECTOR, "BLKSSZGET: %d", ssz);
	CHECK(lseek(fd, 0, SEEK_END) == DISK_SIZE, "lseek SEEK_END");
	CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "F_GETFL");
	printf("rawdisk: %s is a block device of %llu bytes in sectors of %d\n", dev,
	       (unsigned long long)size, ssz);

	/* the host's pattern: pieces that start and end inside sectors */
	static const struct {
		unsigned at, len;
	} reads[] = {{0, 4096}, {1000, 5000}, {511, 2}, {65530, 70000}, {200000, 1}, {0, 1048576}};

	for (unsigned i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		pattern(want, "dom0", reads[i].at, reads[i].len);
		memset(buf, 0, reads[i].len);
		ssize_t n = pread(fd, buf, reads[i].len, reads[i].at);

		CHECK(n == (ssize_t)reads[i].len && !memcmp(buf, want, reads[i].len),
		      "pread %u at %u: %zd, %s", reads[i].len, reads[i].at, n,
		      n > 0 && memcmp(buf, want, reads[i].len) ? "wrong bytes" : "short");
	}
	CHECK(lseek(fd, 100, SEEK_SET) == 100, "lseek 100");
	char a[300], b[900];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};

	pattern(want, "dom0", 100, sizeof(a) + sizeof(b));
	CHECK(readv(fd, iov, 2) == (ssize_t)(sizeof(a) + sizeof(b)) && !memcmp(a, want, sizeof(a)) &&
		      !memcmp(b, want + sizeof(a), sizeof(b)),
	      "readv");
	CHECK(lseek(fd, 0, SEEK_CUR) == 100 + (off_t)(sizeof(a) + sizeof(b)), "offset after readv");

	/* the guest's pattern, in writes of odd sizes at odd offsets, three ways */
	pattern(want, "guest", GUEST_AT, GUEST_LEN);
	static const unsigned sizes[] = {1, 7, 511, 513, 4095, 65537, 100000, 33, 8192, 3};
	unsigned done = 0, k = 0;

	while (done < GUEST_LEN) {
		unsigned n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
		ssize_t w;

		if (n > GUEST_LEN - done)
			n = GUEST_LEN - done;
		if (k % 3 == 0) {
			w = pwrite(fd, want + done, n, GUEST_AT + done);
		} else if (k % 3 == 1) {
			lseek(fd, GUEST_AT + done, SEEK_SET);
			w = write(fd, want + done, n);
		} else {
			unsigned h = n / 2;
			struct iovec v[2] = {{want + done, h}, {want + done + h, n - h}};

			lseek(fd, GUEST_AT + done, SEEK_SET);
			w = writev(fd, v, 2);
		}
		if (w != (ssize_t)n) {
			CHECK(0, "write of %u at %u: %zd (%s)", n, GUEST_AT + done, w, strerror(errno));
			break;
		}
		done += n;
		k++;
	}
	CHECK(done == GUEST_LEN, "the guest's pattern written (%u writes)", k);
	CHECK(fsync(fd) == 0, "fsync: %s", strerror(errno));
	CHECK(fdatasync(fd) == 0, "fdatasync: %s", strerror(errno));
	memset(buf, 0, GUEST_LEN);
	CHECK(pread(fd, buf, GUEST_LEN, GUEST_AT) == GUEST_LEN && !memcmp(buf, want, GUEST_LEN),
	      "the guest's pattern read back");
	pattern(want, "dom0", GUEST_AT - 700, 700);
	CHECK(pread(fd, buf, 700, GUEST_AT - 700) == 700 && !memcmp(buf, want, 700),
	      "the host's pattern up to the guest's untouched");

	/* the end of the disk */
	CHECK(pread(fd, buf, 100, DISK_SIZE) == 0, "a read at the end");
	errno = 0;
	CHECK(pwrite(fd, buf, 100, DISK_SIZE) == -1 && errno == ENOSPC, "a write at the end: %s",
	      strerror(errno));
	memset(buf, 'z', 20);
	CHECK(pwrite(fd, buf, 20, DISK_SIZE - 10) == 10, "a write across the end");
	CHECK(pread(fd, buf, 4096, DISK_SIZE - 10) == 10 && !memcmp(buf, "zzzzzzzzzz", 10),
	      "a read across the end");
	errno = 0;
	CHECK(pread(fd, (void *)8, 100, 0) == -1 && errno == EFAULT, "a bad buffer: %s",
	      strerror(errno));

	/* not pollable by epoll (as Linux), always ready for poll */
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};

	errno = 0;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1 && errno == EPERM, "epoll_ctl: %s",
	      strerror(errno));
	CHECK(poll(&pfd, 1, 0) == 1 && pfd.revents == (POLLIN | POLLOUT), "poll: %x", pfd.revents);
	close(ep);
	CHECK(close(fd) == 0, "close");

	/* read-only; the same disk as /dev/xvda; one that is not there */
	fd = open(dev, O_RDONLY);
	errno = 0;
	CHECK(fd >= 0 && write(fd, "x", 1) == -1 && errno == EBADF, "a write to a read-only "
	      "descriptor: %s", strerror(errno));
	pattern(want, "guest", GUEST_AT, 512);
	CHECK(pread(fd, buf, 512, GUEST_AT) == 512 && !memcmp(buf, want, 512), "read-only read");
	close(fd);
	if (!strcmp(dev, "/dev/vda")) {
		fd = open("/dev/xvda", O_RDONLY);
		CHECK(fd >= 0 && pread(fd, buf, 512, GUEST_AT) == 512 && !memcmp(buf, want, 512),
		      "/dev/xvda is the same disk");
		close(fd);
		errno = 0;
		CHECK(open("/dev/vdb", O_RDWR) == -1 && errno == ENOENT, "/dev/vdb: %s",
		      strerror(errno));
	}
	printf("rawdisk: %d checks, %d failed\n", checks, failed);
	return failed != 0;
}
