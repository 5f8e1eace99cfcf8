/* Anonymous memory as Linux gives it: a page costs nothing until it is first touched.
 * A 1 GiB mapping (MAP_NORESERVE) in a VM of far less RAM; 40 rounds that each fill a new
 * 4 MiB window of it and give it back with MADV_DONTNEED (160 MiB touched in all: more
 * than the VM has, so the frames must really go back); 4 threads touching the same fresh
 * pages at once (each its own word: a page made twice would lose words); mprotect of
 * untouched pages (read-only: reads give zeros, a write is SIGSEGV); mremap of a block
 * half touched; a page unmapped and mapped again at the same address while the thread that
 * read it sleeps on another CPU, which must then read the new page, not the old (a TLB
 * entry left there). Every line must be the same on Linux and on Amphi; free RAM as sysinfo
 * tells it is a "bench:" line (not compared). Ends with "lazymem: N checks, M failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "check.h"

#define MIB (1ul << 20)
#define PAGE 4096ul

static long free_mib(void)
{
	struct sysinfo si;

	sysinfo(&si);
	return (long)(si.freeram * si.mem_unit / MIB);
}

static void big(void)
{
	long before = free_mib();
	uint8_t *m = mmap(NULL, 1024 * MIB, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(m != MAP_FAILED, "mmap of 1 GiB");
	printf("lazymem: 1 GiB mapped: %s\n", m != MAP_FAILED ? "yes" : "no");
	if (m == MAP_FAILED)
		return;
	printf("bench: lazymem: free RAM %ld MiB before the 1 GiB mapping, %ld MiB after\n",
	       before, free_mib());
	/* one word in every MiB: 1,024 pages */
	for (unsigned long i = 0; i < 1024; i++)
		*(uint64_t *)(m + i * MIB + 8) = i * 3 + 1;
	unsigned long right = 0, zero = 0;

	for (unsigned long i = 0; i < 1024; i++) {
		right += *(uint64_t *)(m + i * MIB + 8) == i * 3 + 1;
		zero += *(uint64_t *)(m + i * MIB + 16) == 0;
	}
	CHECK(right == 1024 && zero == 1024, "one page per MiB: %lu right, %lu zero", right, zero);
	printf("lazymem: a word in each of its 1024 MiB: %lu read back, %lu zero beside it\n",
	       right, zero);
	/* windows of 4 MiB, every page written, then given back */
	unsigned long rounds_right = 0;

	for (unsigned long r = 0; r < 40; r++) {
		uint8_t *w = m + 64 * MIB + r * 4 * MIB;
		unsigned long ok = 0;

		for (unsigned long p = 0; p < 4 * MIB; p += PAGE)
			*(uint64_t *)(w + p) = r ^ p;
		for (unsigned long p = 0; p < 4 * MIB; p += PAGE)
			ok += *(uint64_t *)(w + p) == (r ^ p);
		if (madvise(w, 4 * MIB, MADV_DONTNEED) == 0 && ok == 1024 &&
		    *(uint64_t *)(w + PAGE) == 0)
			rounds_right++;
	}
	CHECK(rounds_right == 40, "rounds: %lu of 40", rounds_right);
	printf("lazymem: 40 windows of 4 MiB written and given back (MADV_DONTNEED): %lu right, "
	       "read as zero after\n", rounds_right);
	printf("bench: lazymem: free RAM %ld MiB after 160 MiB written and given back\n",
	       free_mib());
	CHECK(munmap(m, 1024 * MIB) == 0, "munmap");
}

/* threads touching the same fresh pages at once */
#define SHARED_PAGES 256
static uint8_t *shared;
static pthread_barrier_t go;

static void *toucher(void *arg)
{
	unsigned long id = (unsigned long)arg;

	pthread_barrier_wait(&go);
	for (unsigned long p = 0; p < SHARED_PAGES; p++)
		*(volatile uint64_t *)(shared + p * PAGE + id * 64) = p * 4 + id + 1;
	return NULL;
}

static void threads(void)
{
	pthread_t t[4];

	shared = mmap(NULL, SHARED_PAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_barrier_init(&go, NULL, 4);
	for (unsigned long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, toucher, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	unsigned long right = 0;

	for (unsigned long p = 0; p < SHARED_PAGES; p++)
		for (unsigned long id = 0; id < 4; id++)
			right += *(uint64_t *)(shared + p * PAGE + id * 64) == p * 4 + id + 1;
	CHECK(right == 4 * SHARED_PAGES, "threads: %lu of %d", right, 4 * SHARED_PAGES);
	printf("lazymem: 4 threads writing the same %d fresh pages at once: %lu of %d words "
	       "kept\n", SHARED_PAGES, right, 4 * SHARED_PAGES);
	munmap(shared, SHARED_PAGES * PAGE);
}

static sigjmp_buf back;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(back, 1);
}

static void rights(void)
{
	uint8_t *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	int rc = mprotect(m, 2 * PAGE, PROT_READ);
	volatile uint8_t v = m[10];
	int segv = 0;

	signal(SIGSEGV, on_segv);
	if (!sigsetjmp(back, 1))
		m[PAGE + 5] = 1;
	else
		segv = 1;
	signal(SIGSEGV, SIG_DFL);
	m[2 * PAGE] = 7; /* (still writable) */
	CHECK(rc == 0 && v == 0 && segv && m[2 * PAGE] == 7, "rights");
	printf("lazymem: untouched pages made read-only: mprotect %d, read %d, a write faults "
	       "%d, the next page still writable %d\n", rc, v, segv, m[2 * PAGE] == 7);
	rc = mprotect(m, 2 * PAGE, PROT_READ | PROT_WRITE);
	m[PAGE + 5] = 9;
	CHECK(rc == 0 && m[PAGE + 5] == 9, "writable again");
	printf("lazymem: writable again: %d\n", m[PAGE + 5] == 9);
	munmap(m, 4 * PAGE);
	/* mremap: half of 64 pages touched, then grown to 256 pages (moved) */
	uint8_t *r = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);

	for (unsigned long p = 0; p < 64; p += 2)
		r[p * PAGE + 3] = (uint8_t)(p + 1);
	uint8_t *n = mremap(r, 64 * PAGE, 256 * PAGE, MREMAP_MAYMOVE);
	unsigned long right = 0;

	for (unsigned long p = 0; n != MAP_FAILED && p < 256; p++)
		right += n[p * PAGE + 3] == (p < 64 && p % 2 == 0 ? p + 1 : 0);
	CHECK(n != MAP_FAILED && right == 256, "mremap: %lu", right);
	printf("lazymem: mremap of 64 pages, every other one touched, to 256: %lu of 256 pages "
	       "right\n", right);
	if (n != MAP_FAILED)
		munmap(n, 256 * PAGE);
	/* mremap of a read-only block none of whose pages was touched: read-only still */
	uint8_t *ro = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro2 = mremap(ro, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
	volatile int ro_segv = 0;

	signal(SIGSEGV, on_segv);
	if (ro2 != MAP_FAILED && !sigsetjmp(back, 1))
		ro2[6 * PAGE] = 1;
	else
		ro_segv = 1;
	signal(SIGSEGV, SIG_DFL);
	CHECK(ro2 != MAP_FAILED && ro_segv && ro2[PAGE] == 0, "mremap of a read-only block");
	printf("lazymem: mremap of 4 untouched read-only pages to 8: a write faults %d, a read "
	       "gives %d\n", ro_segv, ro2 != MAP_FAILED ? ro2[PAGE] : -1);
	if (ro2 != MAP_FAILED)
		munmap(ro2, 8 * PAGE);
}

/* A page read by a thread on CPU 1, unmapped while that thread sleeps (its CPU idle), its
 * frame taken by another page, and a new page mapped at the same address: the reader,
 * woken on CPU 1 again, must read the new page. (HP mode once flushed an idle CPU's TLB
 * only when it ran a thread of a space of its own: the reader read the old frame.) */
#define REMAP_ROUNDS 200
static sem_t to_reader, to_writer;
static volatile uint64_t *volatile remap_page;
static volatile uint64_t remap_want;
static unsigned long remap_right;

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s); /* (one CPU only: the check still holds) */
}

static void *remap_reader(void *arg)
{
	(void)arg;
	pin(1);
	for (int r = 0; r < REMAP_ROUNDS; r++) {
		sem_wait(&to_reader);
		remap_right += *remap_page == remap_want;
		sem_post(&to_writer);
	}
	return NULL;
}

static void remap_other_cpu(void)
{
	pthread_t t;
	/* a page of this for each round takes the frame an unmapped page gave back */
	volatile uint64_t *hold = mmap(NULL, REMAP_ROUNDS * PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long same = 0;
	void *last = NULL;
	cpu_set_t was;

	CHECK(hold != MAP_FAILED, "mmap for the remap rounds");
	if (hold == MAP_FAILED)
		return;
	sched_getaffinity(0, sizeof(was), &was);
	pin(0);
	sem_init(&to_reader, 0, 0);
	sem_init(&to_writer, 0, 0);
	pthread_create(&t, NULL, remap_reader, NULL);
	for (int r = 0; r < REMAP_ROUNDS; r++) {
		uint64_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   -1, 0);

		same += p == last;
		last = p;
		remap_want = 1000 + (uint64_t)r;
		p[0] = remap_want;
		remap_page = p;
		sem_post(&to_reader);
		sem_wait(&to_writer);
		/* the reader asleep (its CPU idle), then the page unmapped and its frame
		 * taken by another */
		nanosleep(&(struct timespec){0, 1000000}, NULL);
		munmap(p, PAGE);
		hold[r * PAGE / 8] = 1;
	}
	pthread_join(t, NULL);
	munmap((void *)hold, REMAP_ROUNDS * PAGE);
	sched_setaffinity(0, sizeof(was), &was);
	CHECK(remap_right == REMAP_ROUNDS, "remap: %lu of %d", remap_right, REMAP_ROUNDS);
	printf("lazymem: a page unmapped and mapped again at one address while its reader slept "
	       "on another CPU, %d times: %lu read right\n", REMAP_ROUNDS, remap_right);
	printf("bench: lazymem: the new page at the old address %lu of %d times\n", same,
	       REMAP_ROUNDS - 1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	big();
	threads();
	rights();
	remap_other_cpu();
	printf("lazymem: %d checks, %d failed\n", checks, failed);
	return failed ? 1 : 0;
}
