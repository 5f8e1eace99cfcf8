/* vecregs: do a thread's vector registers survive the switches of the kernel (and of the
 * hypervisor beneath it)? THREADS threads, more than the CPUs, each ROUNDS times: fill all
 * sixteen vector registers with a value of its own (the thread's and the round's), make a
 * system call that gives the CPU away (sched_yield; every eighth round a 50 us nanosleep,
 * so the CPU may halt and the hypervisor switch vCPUs), spin a little, and read the
 * registers back. The registers are the ymm ones (AVX instructions only) where the
 * kernel has enabled AVX state (CPUID's OSXSAVE and XCR0's SSE and AVX bits), else the
 * xmm ones (SSE2). Amphi saves xmm state (fxsave) and leaves AVX off, so it gets the xmm
 * check; a Linux guest gets the ymm one.
 *
 * Why: Xen's lazy FPU switch under QEMU 7.2's TCG lost a Linux PV guest's ymm values in
 * about 8 % of such rounds (Go's runtime then crashed on a corrupted map), see
 * test_matrix/README.md "The rig's Xen".
 *
 * Prints "vecregs: T threads, R rounds each: N lost their values" (the same everywhere
 * when all is well) and, as a measurement line, which registers it checked. Exit status 1
 * when a round lost its values. Usage: vecregs [ROUNDS [THREADS [sse]]] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#define MAX_THREADS 64

static long rounds = 2000;
static int use_ymm;

struct job {
	pthread_t t;
	uint64_t seed;
	long lost;
};

/* A round's operands: the value, the system call's number and its timespec (rdi), out[];
 * the system call's registers and every vector register clobbered (the xmm names cover
 * the ymm ones) */
#define ROUND_OPERANDS                                                                       \
	:                                                                                     \
	: [v] "r"(v), [nr] "r"(nr), "D"(ts), [out] "r"(out)                                   \
	: "rax", "rcx", "rsi", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", \
	  "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

/* fill, give the CPU away, spin, store: out[] gets what the registers held after */
static void round_ymm(uint64_t v, long nr, const struct timespec *ts, uint64_t out[64])
{
	__asm__ __volatile__(
		"vmovq %[v], %%xmm0\n\t"
		"vpunpcklqdq %%xmm0, %%xmm0, %%xmm0\n\t"
		"vinsertf128 $1, %%xmm0, %%ymm0, %%ymm0\n\t"
		"vmovdqa %%ymm0, %%ymm1\n\t vmovdqa %%ymm0, %%ymm2\n\t vmovdqa %%ymm0, %%ymm3\n\t"
		"vmovdqa %%ymm0, %%ymm4\n\t vmovdqa %%ymm0, %%ymm5\n\t vmovdqa %%ymm0, %%ymm6\n\t"
		"vmovdqa %%ymm0, %%ymm7\n\t vmovdqa %%ymm0, %%ymm8\n\t vmovdqa %%ymm0, %%ymm9\n\t"
		"vmovdqa %%ymm0, %%ymm10\n\t vmovdqa %%ymm0, %%ymm11\n\t vmovdqa %%ymm0, %%ymm12\n\t"
		"vmovdqa %%ymm0, %%ymm13\n\t vmovdqa %%ymm0, %%ymm14\n\t vmovdqa %%ymm0, %%ymm15\n\t"
		"mov %[nr], %%rax\n\t xor %%esi, %%esi\n\t syscall\n\t"
		"mov $20000, %%ecx\n1:\n\t dec %%ecx\n\t jnz 1b\n\t"
		"vmovdqu %%ymm0, 0(%[out])\n\t vmovdqu %%ymm1, 32(%[out])\n\t"
		"vmovdqu %%ymm2, 64(%[out])\n\t vmovdqu %%ymm3, 96(%[out])\n\t"
		"vmovdqu %%ymm4, 128(%[out])\n\t vmovdqu %%ymm5, 160(%[out])\n\t"
		"vmovdqu %%ymm6, 192(%[out])\n\t vmovdqu %%ymm7, 224(%[out])\n\t"
		"vmovdqu %%ymm8, 256(%[out])\n\t vmovdqu %%ymm9, 288(%[out])\n\t"
		"vmovdqu %%ymm10, 320(%[out])\n\t vmovdqu %%ymm11, 352(%[out])\n\t"
		"vmovdqu %%ymm12, 384(%[out])\n\t vmovdqu %%ymm13, 416(%[out])\n\t"
		"vmovdqu %%ymm14, 448(%[out])\n\t vmovdqu %%ymm15, 480(%[out])\n\t"
		"vzeroupper"
		ROUND_OPERANDS);
}

static void round_xmm(uint64_t v, long nr, const struct timespec *ts, uint64_t out[64])
{
	__asm__ __volatile__(
		"movq %[v], %%xmm0\n\t"
		"punpcklqdq %%xmm0, %%xmm0\n\t"
		"movdqa %%xmm0, %%xmm1\n\t movdqa %%xmm0, %%xmm2\n\t movdqa %%xmm0, %%xmm3\n\t"
		"movdqa %%xmm0, %%xmm4\n\t movdqa %%xmm0, %%xmm5\n\t movdqa %%xmm0, %%xmm6\n\t"
		"movdqa %%xmm0, %%xmm7\n\t movdqa %%xmm0, %%xmm8\n\t movdqa %%xmm0, %%xmm9\n\t"
		"movdqa %%xmm0, %%xmm10\n\t movdqa %%xmm0, %%xmm11\n\t movdqa %%xmm0, %%xmm12\n\t"
		"movdqa %%xmm0, %%xmm13\n\t movdqa %%xmm0, %%xmm14\n\t movdqa %%xmm0, %%xmm15\n\t"
		"mov %[nr], %%rax\n\t xor %%esi, %%esi\n\t syscall\n\t"
		"mov $20000, %%ecx\n1:\n\t dec %%ecx\n\t jnz 1b\n\t"
		"movdqu %%xmm0, 0(%[out])\n\t movdqu %%xmm1, 16(%[out])\n\t"
		"movdqu %%xmm2, 32(%[out])\n\t movdqu %%xmm3, 48(%[out])\n\t"
		"movdqu %%xmm4, 64(%[out])\n\t movdqu %%xmm5, 80(%[out])\n\t"
		"movdqu %%xmm6, 96(%[out])\n\t movdqu %%xmm7, 112(%[out])\n\t"
		"movdqu %%xmm8, 128(%[out])\n\t movdqu %%xmm9, 144(%[out])\n\t"
		"movdqu %%xmm10, 160(%[out])\n\t movdqu %%xmm11, 176(%[out])\n\t"
		"movdqu %%xmm12, 192(%[out])\n\t movdqu %%xmm13, 208(%[out])\n\t"
		"movdqu %%xmm14, 224(%[out])\n\t movdqu %%xmm15, 240(%[out])"
		ROUND_OPERANDS);
}

static void *run(void *arg)
{
	struct job *j = arg;
	const struct timespec ts = {0, 50000};
	uint64_t out[64];
	int words = use_ymm ? 64 : 32;
	for (long r = 0; r < rounds; r++) {
		uint64_t v = j->seed ^ ((uint64_t)r * 0x9e3779b97f4a7c15ull);
		long nr = r % 8 == 7 ? SYS_nanosleep : SYS_sched_yield;
		memset(out, 0, sizeof(out));
		if (use_ymm)
			round_ymm(v, nr, &ts, out);
		else
			round_xmm(v, nr, &ts, out);
		for (int i = 0; i < words; i++)
			if (out[i] != v) {
				if (j->lost++ < 3)
					printf("vecregs: thread %lx, round %ld: register %d's word %d is "
					       "%#llx, not %#llx\n", (unsigned long)j->seed, r,
					       i / (words / 16), i % (words / 16),
					       (unsigned long long)out[i], (unsigned long long)v);
				break;
			}
	}
	return NULL;
}

/* CPUID.1:ECX's OSXSAVE and AVX, then XCR0's SSE and AVX state bits */
static int avx_enabled(void)
{
	unsigned a = 1, b, c = 0, d;
	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	if (!(c & (1u << 27)) || !(c & (1u << 28)))
		return 0;
	unsigned lo, hi;
	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

int main(int argc, char **argv)
{
	int threads = 4;
	if (argc > 1)
		rounds = atol(argv[1]);
	if (argc > 2)
		threads = atoi(argv[2]);
	if (rounds < 1 || threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "usage: vecregs [ROUNDS [THREADS (1-%d) [sse]]]\n", MAX_THREADS);
		return 2;
	}
	use_ymm = avx_enabled() && !(argc > 3 && strcmp(argv[3], "sse") == 0);
	static struct job jobs[MAX_THREADS];
	for (int i = 0; i < threads; i++) {
		jobs[i].seed = 0x0101010101010101ull * (uint64_t)(i + 1) + 0x1000;
		if (pthread_create(&jobs[i].t, NULL, run, &jobs[i]) != 0) {
			fprintf(stderr, "vecregs: pthread_create failed\n");
			return 2;
		}
	}
	long lost = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(jobs[i].t, NULL);
		lost += jobs[i].lost;
	}
	printf("bench: vecregs: the %s registers: %ld of %ld rounds lost their values\n",
	       use_ymm ? "ymm (AVX)" : "xmm (SSE)", lost, rounds * threads);
	printf("vecregs: %d threads, %ld rounds each: %ld lost their values\n", threads, rounds,
	       lost);
	return lost ? 1 : 0;
}
