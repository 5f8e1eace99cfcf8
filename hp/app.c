/* The HP-mode loader: checks the ELF (lib/elf.c), maps its segments, builds the initial
 * stack the x86-64 System V ABI describes (argc, argv, envp, auxv), and enters the app in
 * ring 0 on its own thread. An exception in the app's code ends the app, not the kernel. */
#include "hp/hp.h"
#include "hp/vfs.h"

#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "common/console.h"
#include "common/blkdev.h"
#include "common/netdev.h"
#include "common/hal.h"
#include "common/panic.h"
#include "common/random.h"
#include "common/vclock.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "lib/tar.h"
#include "mm/mm.h"
#include "mm/vm.h"
#include "net/net.h"
#include "net/socket.h"
#include "sched/sched.h"

#define PAGE	 4096ull
#define MAX_ARGS 32
#define MAX_ENVS 16
/* the initial stack's strings and words at most (argv, envp, auxv): as Linux's 128 KiB
 * for one argument string is a common bound, and well inside APP_STACK_SIZE */
#define EXEC_AREA (128u << 10)

/* auxv keys (the x86-64 psABI and Linux's uapi) */
enum {
	AT_NULL = 0,
	AT_PHDR = 3,
	AT_PHENT = 4,
	AT_PHNUM = 5,
	AT_PAGESZ = 6,
	AT_BASE = 7,
	AT_FLAGS = 8,
	AT_ENTRY = 9,
	AT_UID = 11,
	AT_EUID = 12,
	AT_GID = 13,
	AT_EGID = 14,
	AT_PLATFORM = 15,
	AT_HWCAP = 16,
	AT_CLKTCK = 17,
	AT_SECURE = 23,
	AT_RANDOM = 25,
	AT_HWCAP2 = 26,
	AT_EXECFN = 31,
	AT_SYSINFO_EHDR = 33,
};

/* the vDSO in the kernel image (hp/vdso_blob.S) */
extern const char vdso_image[], vdso_image_end[];

static struct app app;

bool hp_wanted(const struct boot_info *bi)
{
	return cmdline_has(bi->cmdline, "app") || cmdline_has(bi->cmdline, "batch") ||
	       bi->mod_count > 0;
}

/* page flags of an ELF segment */
static uint64_t seg_flags(const struct app *a, uint32_t pf)
{
	return (pf & ELF_PF_W ? PTE_W : 0) | (pf & ELF_PF_X ? 0 : PTE_NX) | a->pte_u;
}

/* pages of programs loaded since boot: mapped from their file's pages, copied */
static uint64_t exec_mapped, exec_copied;

/* whether segment o has bytes on the page at va */
static bool on_page(const struct elf_load *o, uint64_t va)
{
	return va < ALIGN_UP(o->vaddr + o->memsz, PAGE) && (o->vaddr & ~(PAGE - 1)) <= va;
}

/* Whether the page at va can be the file's own page, mapped rather than copied: it is in
 * one segment only, that segment is not writable, has no zeroed tail (.bss) on the page
 * and sits in the file at its address's page offset, so the page holds the file's page as
 * it is (the bytes around the segment's on that page are the file's, as on Linux). */
static bool file_page(const struct elf_image *im, const struct elf_load *l, uint64_t va)
{
	if ((l->flags & ELF_PF_W) || (l->vaddr - l->offset) % PAGE ||
	    (l->memsz > l->filesz && va + PAGE > l->vaddr + l->filesz))
		return false;
	for (unsigned j = 0; j < im->nloads; j++)
		if (&im->loads[j] != l && on_page(&im->loads[j], va))
			return false;
	return true;
}

static int load_segments(struct app *a, const struct hp_image *src)
{
	const struct elf_image *im = &a->im;

	for (unsigned i = 0; i < im->nloads; i++) {
		const struct elf_load *l = &im->loads[i];
		uint64_t lo = l->vaddr & ~(PAGE - 1), hi = ALIGN_UP(l->vaddr + l->memsz, PAGE);

		/* pages two segments share are mapped once (disjoint bytes, checked); a
		 * read-only page of a file is the file's own where it can be */
		for (uint64_t va = lo; va < hi; va += PAGE) {
			if (!mm_user_frame_va(va)) {
				int64_t pfn = src->file && file_page(im, l, va)
						      ? vfs_exec_page(src->file, src->gen,
								      (va - l->vaddr + l->offset) / PAGE)
						      : -1;

				if (pfn >= 0 &&
				    !mm_user_map_frame(va, (uint64_t)pfn, PTE_NX | a->pte_u)) {
					__atomic_add_fetch(&exec_mapped, 1, __ATOMIC_RELAXED);
					continue; /* (no other segment is on it) */
				}
				if (pfn >= 0)
					mm_frame_put((uint64_t)pfn);
				int rc = mm_user_map(va, 1, PTE_W | PTE_NX | a->pte_u);

				if (rc)
					return rc;
				__atomic_add_fetch(&exec_copied, 1, __ATOMIC_RELAXED);
			}
			for (uint64_t off = va > l->vaddr ? va - l->vaddr : 0;
			     off < l->filesz && l->vaddr + off < va + PAGE;) {
				uint64_t at = l->vaddr + off,
					 n = MIN(PAGE - (at & (PAGE - 1)), l->filesz - off);

				memcpy(mm_user_frame_va(at), src->img + l->offset + off, n);
				off += n;
			}
		}
	}
	/* final rights: a page shared by two segments gets both's */
	for (unsigned i = 0; i < im->nloads; i++) {
		const struct elf_load *l = &im->loads[i];

		for (uint64_t va = l->vaddr & ~(PAGE - 1); va < l->vaddr + l->memsz; va += PAGE) {
			uint32_t pf = 0;

			for (unsigned j = 0; j < im->nloads; j++)
				if (on_page(&im->loads[j], va))
					pf |= im->loads[j].flags;
			int rc = vm_protect(va, 1, seg_flags(a, pf));

			if (rc)
				return rc;
		}
	}
	return 0;
}

/* The vDSO and, one page below it, the clock page it reads (common/vclock.h): the kernel's
 * own pages, read-only to the app (the clock page not executable either). */
static int map_vdso(struct app *a)
{
	int rc = mm_user_map_kernel(APP_VDSO - PAGE, &vclock_page, 1, PTE_NX | a->pte_u);

	if (!rc)
		rc = mm_user_map_kernel(APP_VDSO, vdso_image,
					(uint64_t)(vdso_image_end - vdso_image) / PAGE, a->pte_u);
	return rc;
}

/* The initial stack (System V x86-64 ABI, 3.4.1): from %rsp up, argc, argv[], NULL,
 * envp[], NULL, auxv pairs ending in AT_NULL; the strings and AT_RANDOM's 16 bytes
 * above. Built in a kernel buffer and copied out. Returns the app's %rsp, or 0. */
static uint64_t build_stack(struct app *a, int argc, char **argv, int envc, char **envp)
{
	const uint64_t size = EXEC_AREA, top = APP_STACK_TOP;
	uint8_t *area = kmalloc(size);
	uint64_t *argp = kmalloc(((uint64_t)argc + (uint64_t)envc + 1) * 8), *envpp = argp + argc;
	uint64_t str = size, plat, rnd, sp = 0;
	bool fits = area && argp;

#define PUSH_STR(s)                                                                                \
	({                                                                                         \
		size_t n_ = strlen(s) + 1;                                                         \
		fits = fits && n_ <= str;                                                          \
		str -= fits ? n_ : 0;                                                              \
		if (fits)                                                                          \
			memcpy(area + str, s, n_);                                                 \
		top - size + str;                                                                  \
	})
	for (int i = 0; i < argc; i++)
		argp[i] = PUSH_STR(argv[i]);
	for (int i = 0; i < envc; i++)
		envpp[i] = PUSH_STR(envp[i]);
	plat = PUSH_STR("x86_64");
#undef PUSH_STR
	str &= ~15ull;
	uint64_t words = 1 + (uint64_t)argc + 1 + (uint64_t)envc + 1 + 2 * 20;

	if (!fits || str < 16 + words * 8 + 64) {
		kfree(area);
		kfree(argp);
		return 0;
	}
	str -= 16;
	random_bytes(area + str, 16); /* AT_RANDOM */
	rnd = top - size + str;
	uint64_t auxv[][2] = {
	    {AT_PHDR, a->im.phdr},
	    {AT_PHENT, a->im.phent},
	    {AT_PHNUM, a->im.phnum},
	    {AT_PAGESZ, PAGE},
	    {AT_BASE, 0},
	    {AT_FLAGS, 0},
	    {AT_ENTRY, a->im.entry},
	    {AT_UID, a->uid[0]},
	    {AT_EUID, a->uid[1]},
	    {AT_GID, a->gid[0]},
	    {AT_EGID, a->gid[1]},
	    {AT_PLATFORM, plat},
	    {AT_HWCAP, 0},
	    {AT_CLKTCK, 100},
	    {AT_SECURE, 0},
	    {AT_RANDOM, rnd},
	    {AT_HWCAP2, 0},
	    {AT_EXECFN, argp[0]},
	    {AT_SYSINFO_EHDR, APP_VDSO},
	    {AT_NULL, 0},
	};
	_Static_assert(ARRAY_SIZE(auxv) <= 20, "the auxv's room");
	uint64_t at = (str - (1 + (uint64_t)argc + 1 + (uint64_t)envc + 1 + 2 * ARRAY_SIZE(auxv)) * 8) &
		      ~15ull;
	uint64_t *w = (uint64_t *)(area + at);

	*w++ = (uint64_t)argc;
	for (int i = 0; i < argc; i++)
		*w++ = argp[i];
	*w++ = 0;
	for (int i = 0; i < envc; i++)
		*w++ = envpp[i];
	*w++ = 0;
	memcpy(w, auxv, sizeof(auxv));
	if (!copy_to_app(top - size + at, area + at, size - at))
		sp = top - size + at;
	kfree(area);
	kfree(argp);
	return sp;
}

/* Splits a program's words (after `--` on the command line, or after its path on a line
 * of a batch file): leading NAME=VALUE words are the environment, the rest argv[1..]; a
 * `--` ends the environment (so that an argument may hold '=': `app=x -- K=V -- a=b` gives
 * K=V and argv[1] "a=b"). */
static void split_args(char *p, int *argc, char **argv, int *envc, char **envp)
{
	bool env = true;

	while (*p) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		char *w = p;

		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = 0; /* (the word ends here before it is looked at) */
		if (env && strchr(w, '=') && w[0] != '=') {
			if (*envc < MAX_ENVS)
				envp[(*envc)++] = w;
			continue;
		}
		if (env && !strcmp(w, "--")) {
			env = false; /* the environment ends here: what follows is argv, '=' or not */
			continue;
		}
		env = false;
		if (*argc < MAX_ARGS)
			argv[(*argc)++] = w;
	}
}

static struct app_thread *cur_thread(void)
{
	void **slot = thread_app(thread_self());

	return slot ? *slot : NULL;
}

/* Interrupts every CPU, so that app code running there passes app_interrupt() soon. */
static void nudge_all(void)
{
	for (unsigned c = 0; c < sched_cpus_online(); c++)
		if (c != thread_cpu(thread_self()))
			sched_nudge(c);
}

static void end_app(struct app *a, int status, int sig)
{
	mutex_lock(&a->lock, NO_DEADLINE);
	if (!a->status_set) {
		a->status = status;
		a->term_sig = sig;
		a->status_set = true;
	}
	__atomic_store_n(&a->exiting, true, __ATOMIC_SEQ_CST);
	for (struct futex_waiter *w = a->futexes; w; w = w->next)
		sched_wake(w->t);
	mutex_unlock(&a->lock);
	waitq_wake(&a->sleepers, WAKE_ALL);
	hp_io_wake_all(a);
	nudge_all();
}

void hp_end_app(struct app *a, int status)
{
	end_app(a, status, 0);
}

void hp_end_app_sig(struct app *a, int sig)
{
	end_app(a, 128 + sig, sig);
}

void hp_exit(struct app_thread *at, int code, bool all)
{
	if (all)
		hp_end_app(at->app, code);
	app_leave(&at->ctx, code);
}

void hp_kill(struct app_thread *at, int sig, const char *why, uint64_t rip)
{
	/* a forked process that a plain termination signal ends says nothing, as on Linux
	 * (a shell's `kill`, SIGPIPE in a pipeline); the first process, and every death by a
	 * fault's signal, is said */
	bool quiet = at->app->parent && (sig == SIGHUP || sig == SIGINT || sig == SIGKILL ||
					 sig == SIGPIPE || sig == SIGALRM || sig == SIGTERM);

	if (!quiet)
		kprintf("hp: %s killed by %s: %s, at rip %#lx (thread %d)\n", at->app->name,
			hp_sig_name(sig), why, rip, at->tid);
	hp_end_app_sig(at->app, sig);
	app_leave(&at->ctx, 128 + sig);
}

/* Redirects a trap frame of app code to app_leave(ctx, code) on the thread's kernel stack
 * (the CPU mode's kernel selectors: on Xen PV that is also the way back to kernel mode). */
static void leave_from_frame(struct trap_frame *f, struct app_thread *at, int code)
{
	f->rip = (uint64_t)app_leave;
	f->rdi = (uint64_t)&at->ctx;
	f->rsi = (uint64_t)code;
	f->cs = arch->kernel_cs;
	f->ss = arch->kernel_ss;
	f->rsp = ((uint64_t)f - 128) & ~15ull;
}

/* Some hypervisors do not carry out SYSCALL from ring 3 completely: this machine's KVM
 * (kvm_pvm) jumps to LSTAR with interrupts masked and %rcx/%r11 saved, but leaves CS at
 * ring 3, so fetching the entry faults (seen: #PF at syscall_entry_user, cs 0x23). That
 * fault is the syscall, with everything in its frame: run it here, return by iretq.
 * An app can also just jump there. Only SYSCALL clears IF on the way (FMASK), and ring 3
 * cannot clear it itself (IOPL is 0), so a frame with IF set is that jump: a fault like
 * any other. The flags the app gets back are its own arithmetic ones, never IOPL. */
extern char syscall_entry_user[];

static bool syscall_by_fault(struct trap_frame *f)
{
	struct syscall_frame sf = {
	    .r15 = f->r15,
	    .r14 = f->r14,
	    .r13 = f->r13,
	    .r12 = f->r12,
	    .rbp = f->rbp,
	    .rbx = f->rbx,
	    .r9 = f->r9,
	    .r8 = f->r8,
	    .r10 = f->r10,
	    .rdx = f->rdx,
	    .rsi = f->rsi,
	    .rdi = f->rdi,
	    .nr = f->rax,
	    .rip = f->rcx,
	    .cs = f->cs,
	    .rflags = f->r11,
	    .rsp = f->rsp,
	    .ss = f->ss,
	};

	irq_restore(1);
	long r = hp_syscall(&sf); /* (ends the app if sf.rip is outside the user range) */

	irq_save();
	f->rax = (uint64_t)r;
	f->rip = sf.rip;
	f->rflags = (sf.rflags & RFLAGS_USER) | RFLAGS_IF;
	/* (a signal's handler: its stack and arguments) */
	f->rsp = sf.rsp;
	f->rdi = sf.rdi;
	f->rsi = sf.rsi;
	f->rdx = sf.rdx;
	return true;
}

/* arch_app_fault: an exception in the app's own code ends the app with 128 + signal, the
 * way a shell reports a process a signal killed (all its threads, as on Linux). An app in
 * user mode (normal mode; HP mode on Xen PV) owns every fault it takes, wherever its rip
 * points (it may call into the kernel's half); in ring 0 (HP mode) only a rip below
 * USER_TOP is the app's. A fault in kernel code is left to panic. */
static bool app_fault(struct trap_frame *f)
{
	struct app_thread *at = cur_thread();
	bool user = frame_from_user(f);

	if (at && user && f->vector == 14 && f->rip == (uint64_t)syscall_entry_user &&
	    !(f->rflags & RFLAGS_IF))
		return syscall_by_fault(f);
	if (!at || (!user && f->rip >= USER_TOP))
		return false;
	int sig = f->vector == 14 || f->vector == 13 || f->vector == 12	 ? SIGSEGV
		  : f->vector == 6					 ? SIGILL
		  : f->vector == 0 || f->vector == 16 || f->vector == 19 ? SIGFPE
		  : f->vector == 17					 ? SIGBUS
									 : SIGTRAP;
	/* si_code and si_addr as Linux gives them: SEGV_MAPERR/ACCERR with the address of a
	 * page fault (SI_KERNEL for a #GP), ILL_ILLOPN, FPE_INTDIV, BUS_ADRALN, TRAP_BRKPT with
	 * the instruction's */
	int code = f->vector == 14   ? (f->error & 1 ? 2 : 1)
		   : f->vector == 13 || f->vector == 12 ? 0x80
		   : f->vector == 6  ? 2
		   : f->vector == 0  ? 1
		   : f->vector == 17 ? 1
		   : sig == SIGFPE   ? 0x80
				     : 1;
	uint64_t addr = f->vector == 14 ? read_cr2() : code == 0x80 ? 0 : f->rip;

	/* a page reserved and touched with no memory left for it: as Linux's OOM killer, the
	 * app ends (SIGKILL), rather than a SIGSEGV it could catch and touch again */
	if (f->vector == 14 && (mm_user_lazy(addr) || ((f->error & 2) && mm_user_cow(addr)))) {
		kprintf("hp: %s killed by SIGKILL: out of memory (a page touched at %#lx, rip "
			"%#lx, thread %d)\n", at->app->name, addr, f->rip, at->tid);
		hp_end_app_sig(at->app, SIGKILL);
		leave_from_frame(f, at, 128 + SIGKILL);
		return true;
	}
	if (hp_sig_fault(at, f, sig, code, addr))
		return true;
	kprintf("hp: %s killed by %s: %s at rip %#lx", at->app->name, hp_sig_name(sig),
		trap_name(f->vector), f->rip);
	if (f->vector == 14) {
		int level = 0;
		uint64_t cr2 = read_cr2(), e = vm_lookup(cr2 & ~(PAGE - 1), &level);

		kprintf(", address %#lx (%s%s%s, page entry %#lx)", cr2,
			f->error & 1 ? "protection" : "not present", f->error & 2 ? ", write" : "",
			f->error & 4 ? ", user" : "", (unsigned long)e);
	}
	kprintf(" (rsp %#lx, thread %d)\n", f->rsp, at->tid);
	hp_end_app_sig(at->app, sig);
	leave_from_frame(f, at, 128 + sig);
	return true;
}

/* traps.S: a vector delivered twice in a row overwrote the first frame on the IST stack
 * (seen nested under TCG): the app's interrupted state is gone, so the app ends. */
void __noreturn hp_lost_frame(uint64_t vector);
void __noreturn hp_lost_frame(uint64_t vector)
{
	struct app_thread *at = cur_thread();

	if (!at)
		panic("interrupt vector %lu was delivered twice and its first frame lost",
		      (unsigned long)vector);
	kprintf("hp: %s killed: interrupt vector %lu was delivered twice and the app's state "
		"in the first frame was lost (a fault of the (nested) hypervisor)\n",
		at->app->name, (unsigned long)vector);
	hp_end_app_sig(at->app, SIGKILL);
	app_leave(&at->ctx, 128 + SIGKILL);
}

/* arch_app_interrupt: app code was interrupted; if the app is ending, so does this thread */
static void app_interrupt(struct trap_frame *f)
{
	struct app_thread *at = cur_thread();
	const char *why = "";
	int sig;

	if (!at)
		return;
	if (!hp_thread_ends(at) && (sig = hp_sig_interrupt(at, f, &why))) {
		kprintf("hp: %s killed by %s: %s, at rip %#lx (thread %d)\n", at->app->name,
			hp_sig_name(sig), why, f->rip, at->tid);
		hp_end_app_sig(at->app, sig);
	}
	if (hp_thread_ends(at))
		leave_from_frame(f, at, at->app->status);
}

struct start {
	const uint8_t *img;
	size_t len;
	const char *args; /* the words after the program's name (`--` on the command line) */
};

/* The end of every app thread: back in the kernel for good. The last one to end wakes
 * hp_main; its status is the app's unless exit_group or a fault set one. */
static int thread_done(struct app_thread *at, int rc)
{
	struct app *a = at->app;

	uint64_t vol, invol;

	*thread_entry_stack_slot() = 0;
	thread_set_fs_base(0);
	*thread_app(thread_self()) = NULL;
	if (at->clear_tid) {
		uint32_t zero = 0;

		if (!copy_to_app(at->clear_tid, &zero, 4))
			hp_futex_wake(a, at->clear_tid, 1);
	}
	mutex_lock(&a->lock, NO_DEADLINE);
	thread_switches(thread_self(), &vol, &invol);
	a->done_cpu_ns += thread_cpu_ns(thread_self());
	a->done_nvcsw += vol;
	a->done_nivcsw += invol;
	at->accounted = true;
	if (__atomic_sub_fetch(&a->live, 1, __ATOMIC_SEQ_CST) == 0 && !a->status_set) {
		a->status = rc;
		a->status_set = true;
	}
	bool last = __atomic_load_n(&a->live, __ATOMIC_SEQ_CST) == 0;

	mutex_unlock(&a->lock);
	waitq_wake(&a->done, WAKE_ALL);
	if (last && a->parent)
		hp_proc_ended(a); /* (a forked process: what it held goes back, then a zombie) */
	__atomic_store_n(&at->ended, true, __ATOMIC_RELEASE);
	return rc;
}

static int child_thread(void *arg)
{
	struct app_thread *at = arg;

	/* its own kernel thread, before its first system call: hp_clone stores the same when
	 * thread_create returns, which may be after this thread ran on another CPU */
	__atomic_store_n(&at->t, thread_self(), __ATOMIC_RELEASE);
	thread_set_space(at->app->space);
	*thread_app(thread_self()) = at;
	/* (every CPU was readied for the app at its start: prepare_cpus) */
	if (thread_fpu_enable())
		return thread_done(at, 128 + SIGKILL);
	thread_set_fs_base(at->tls);
	if (at->set_tid) { /* (fork's CLONE_CHILD_SETTID: in the child's memory) */
		int tid = at->tid;

		if (copy_to_app(at->set_tid, &tid, 4))
			return thread_done(at, 128 + 11);
	}
	return thread_done(at, (at->app->normal ? arch->app_resume_user : arch->app_resume)(
				   &at->start, &at->ctx, thread_entry_stack_slot()));
}

int hp_start_thread(struct app_thread *at, const char *name)
{
	struct app *a = at->app;

	__atomic_add_fetch(&a->live, 1, __ATOMIC_SEQ_CST);
	struct thread *kt = thread_create(name, child_thread, at, CPU_ANY);

	if (!kt) {
		__atomic_sub_fetch(&a->live, 1, __ATOMIC_SEQ_CST);
		return -ENOMEM;
	}
	__atomic_store_n(&at->t, kt, __ATOMIC_RELEASE); /* (the child stores it too) */
	a->nthreads++;
	return 0;
}

#define CLONE_VM	     0x100
#define CLONE_SIGHAND	     0x800
#define CLONE_THREAD	     0x10000
#define CLONE_SETTLS	     0x80000
#define CLONE_PARENT_SETTID  0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_CHILD_SETTID   0x1000000

long hp_clone(struct app_thread *parent, const struct syscall_frame *f, uint64_t flags,
	      uint64_t newsp, uint64_t ptid, uint64_t ctid, uint64_t tls)
{
	struct app *a = parent->app;
	const uint64_t need = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND;

	if (!(flags & CLONE_VM) || !(flags & CLONE_THREAD))
		return hp_fork(parent, f, flags, newsp, ctid); /* a process (fork, vfork) */
	if ((flags & need) != need)
		return -EINVAL; /* a thread shares its process's memory, signals and all */
	if (newsp >= USER_TOP || ((flags & CLONE_SETTLS) && tls >= USER_TOP))
		return -EINVAL;
	mutex_lock(&a->lock, NO_DEADLINE);
	struct app_thread *at = NULL;

	/* a free slot, or one whose thread has ended: joined here (it is at most a few
	 * instructions from its exit), so an app may create threads for ever */
	for (int i = 1; i < APP_THREADS && !at; i++) {
		struct app_thread *s = &a->threads[i];

		if (s->app && __atomic_load_n(&s->ended, __ATOMIC_ACQUIRE)) {
			thread_join(s->t, NO_DEADLINE, NULL);
			s->app = NULL;
		}
		if (!s->app)
			at = s;
	}
	if (!at) {
		mutex_unlock(&a->lock);
		return -EAGAIN;
	}
	*at = (struct app_thread){.app = a,
				  .tid = __atomic_add_fetch(&a->top->next_tid, 1, __ATOMIC_RELAXED)};
	memcpy(at->comm, parent->comm, sizeof(at->comm)); /* (as Linux: the creator's name) */
	hp_sig_thread_init(at, parent);
	at->start = *f;
	if (newsp)
		at->start.rsp = newsp;
	at->tls = flags & CLONE_SETTLS ? tls : thread_fs_base();
	if (flags & CLONE_CHILD_CLEARTID)
		at->clear_tid = ctid;
	int tid = at->tid;

	if (((flags & CLONE_PARENT_SETTID) && copy_to_app(ptid, &tid, 4)) ||
	    ((flags & CLONE_CHILD_SETTID) && copy_to_app(ctid, &tid, 4))) {
		at->app = NULL;
		mutex_unlock(&a->lock);
		return -EFAULT;
	}
	char name[24];

	ksnprintf(name, sizeof(name), "app-%d", tid);
	if (hp_start_thread(at, name)) {
		at->app = NULL;
		mutex_unlock(&a->lock);
		return -ENOMEM;
	}
	mutex_unlock(&a->lock);
	return tid;
}

struct prep {
	struct app *a;
	int rc;
};

static int prepare_here(void *arg)
{
	struct prep *p = arg;

	p->rc = arch->app_prepare(p->a->normal, (uint64_t)p->a->user_root);
	return 0;
}

/* Readies every CPU for the app (arch->app_prepare is per CPU: the syscall entry for its
 * mode natively, the user-mode root table on Xen PV): its threads may run, and move to,
 * any of them. A thread pinned to each CPU in turn does it there. */
static int prepare_cpus(struct app *a)
{
	for (unsigned cpu = 0; cpu < sched_cpus_online(); cpu++) {
		struct prep p = { a, -ENOMEM };
		struct thread *t = thread_create("app-prep", prepare_here, &p, (int)cpu);

		if (t)
			thread_join_job(t, "app-prep");
		if (p.rc)
			return p.rc;
	}
	return 0;
}

/* After a normal-mode app on a CPU mode with a root of its own (Xen PV): every CPU's user
 * mode back on the kernel's root, so that the app's is used nowhere, then freed (a
 * batch's next program gets one of its own). */
static void release_user_root(struct app *a)
{
	int64_t root = a->user_root;

	a->normal = false;
	a->user_root = 0;
	if (prepare_cpus(a)) {
		kprintf("hp: %s: a CPU kept the app's root table; its page is not freed\n",
			a->name);
		return;
	}
	mm_user_root_free(root);
}

int hp_load_image(struct app *a, const struct hp_image *src, int argc, char **argv, int envc,
		  char **envp, uint64_t *entry, uint64_t *sp)
{
	char err[160];
	int rc;

	if (elf_check(src->img, src->len, &a->im, err, sizeof(err))) {
		kprintf("hp: %s: refused: %s\n", argv[0], err);
		return -ENOEXEC;
	}
	a->brk_base = a->brk = a->brk_mapped = a->im.hi;
	mmap_area_init(&a->mmap, ELF_USER_MAX, APP_MMAP_TOP);
	const char *base = argv[0];

	for (const char *c = argv[0]; *c; c++)
		if (*c == '/')
			base = c + 1;
	strlcpy(a->threads[0].comm, base, sizeof(a->threads[0].comm));
	/* the main stack: pages on first touch, as Linux's (a fork copies only those used) */
	if ((rc = load_segments(a, src)) || (rc = map_vdso(a)) ||
	    (rc = mm_user_reserve(APP_STACK_TOP - APP_STACK_SIZE, APP_STACK_SIZE / PAGE,
				  PTE_W | PTE_NX | a->pte_u))) {
		kprintf("hp: %s: not enough memory to load it (%d)\n", argv[0], rc);
		return rc;
	}
	if (!(*sp = build_stack(a, argc, argv, envc, envp))) {
		kprintf("hp: %s: the arguments do not fit\n", argv[0]);
		return -E2BIG;
	}
	*entry = a->im.entry;
	/* /proc/PID/cmdline: the words, each ended by a NUL, as many as fit */
	a->cmdline_len = 0;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;

		if (a->cmdline_len + l > sizeof(a->cmdline))
			break;
		memcpy(a->cmdline + a->cmdline_len, argv[i], l);
		a->cmdline_len += (unsigned)l;
	}
	return 0;
}

/* The app's first thread: loads it, then runs it. */
static int main_thread(void *arg)
{
	struct start *s = arg;
	struct app *a = &app;
	struct app_thread *at = &a->threads[0];
	char cmd[BOOT_CMDLINE_MAX];
	char *argv[MAX_ARGS], *envp[MAX_ENVS];
	int argc = 1, envc = 0, rc;

	__atomic_store_n(&at->t, thread_self(), __ATOMIC_RELEASE); /* as child_thread does */

	strlcpy(cmd, s->args ? s->args : "", sizeof(cmd));
	argv[0] = a->name;
	split_args(cmd, &argc, argv, &envc, envp);
	a->umask = 022;
	thread_set_space(a->space);
	uint64_t entry, sp;

	if (hp_fds_init(a)) {
		kprintf("hp: %s: not enough memory to load it (%d)\n", a->name, -ENOMEM);
		return thread_done(at, -1);
	}
	struct hp_image src = {s->img, s->len, NULL, 0};

	if (hp_load_image(a, &src, argc, argv, envc, envp, &entry, &sp))
		return thread_done(at, -1);
	if (thread_fpu_enable()) {
		kprintf("hp: %s: no memory for its registers\n", a->name);
		return thread_done(at, -1);
	}
	if (a->normal && arch == &arch_xenpv && (a->user_root = mm_user_root()) < 0) {
		kprintf("hp: %s: no memory for its page tables\n", a->name);
		return thread_done(at, -1);
	}
	if ((rc = prepare_cpus(a))) {
		kprintf("hp: %s: the CPU mode could not prepare the address space (%d)\n", a->name,
			rc);
		return thread_done(at, -1);
	}
	__atomic_store_n(&a->started, true, __ATOMIC_RELEASE);
	kprintf("hp: running %s (%s mode, entry %#lx, %d args, %d env, up %lu ms; vdso clock: "
		"%s)\n",
		a->name, a->normal ? "normal" : "hp", a->im.entry, argc, envc,
		(unsigned long)(uptime_ns() / 1000000),
		vclock_page.mode == VCLOCK_PVCLOCK && (vclock_page.rec[0].flags & PVCLOCK_TSC_STABLE)
			? "in the app"
			: "by system call");
	console_flush();
	*thread_app(thread_self()) = at;
	return thread_done(at, (a->normal ? arch->app_enter_user : arch->app_enter)(
				   entry, sp, &at->ctx, thread_entry_stack_slot()));
}

/* What the scheduler did while the app ran, per CPU (for the matrix's notes: IPIs per
 * item of an IPC test, where the threads went) */
static void sched_during(const struct sched_stats *st0, uint64_t wall_ns)
{
	for (unsigned cpu = 0; cpu < sched_cpus_online(); cpu++) {
		struct sched_stats s;
		const struct sched_stats *b = &st0[cpu];

		sched_stats(cpu, &s);
		uint64_t idle = s.idle_ns - b->idle_ns;

		kprintf("hp: sched cpu%u during the app: %lu%% busy, %lu switches, %lu IPIs sent, "
			"%lu halts, %lu polls won, %lu spins won, %lu steals, %lu handed over, "
			"%lu pushed, %lu moved at wake, %lu hypervisor yields\n",
			cpu, wall_ns && idle < wall_ns ? (wall_ns - idle) * 100 / wall_ns : 0,
			s.switches - b->switches, s.ipis_sent - b->ipis_sent, s.halts - b->halts,
			s.polls_won - b->polls_won, s.spins_won - b->spins_won, s.steals - b->steals,
			s.handed_over - b->handed_over, s.pushed - b->pushed,
			s.wake_moves - b->wake_moves, s.hv_yields - b->hv_yields);
	}
}

/* What each NIC did while the app ran (a batch's programs each get their own figures),
 * as net_report says it for the whole boot. */
#define NET_DURING 4

static void net_snapshot(struct netdev_stats *st)
{
	for (unsigned i = 0; i < NET_DURING && i < netdev_count(); i++)
		st[i] = netdev_get(i)->st;
}

static void net_during(const struct netdev_stats *st0)
{
	for (unsigned i = 0; i < NET_DURING && i < netdev_count(); i++) {
		const struct netdev *d = netdev_get(i);
		const struct netdev_stats *b = &st0[i];
		uint64_t in = d->st.rx_packets - b->rx_packets, out = d->st.tx_packets - b->tx_packets;
		uint64_t kicks = d->st.kicks - b->kicks, irqs = d->st.irqs - b->irqs;

		kprintf("hp: net during the app: %s: %lu packets in, %lu out, %lu dropped in; %lu "
			"kicks and %lu interrupts (%lu and %lu per 1000 packets)\n", d->name, in, out,
			d->st.rx_dropped - b->rx_dropped, kicks, irqs,
			in + out ? kicks * 1000 / (in + out) : 0, in + out ? irqs * 1000 / (in + out) : 0);
	}
}

static bool all_done(void *arg)
{
	return __atomic_load_n(&((struct app *)arg)->live, __ATOMIC_SEQ_CST) == 0;
}

static bool done_or_ctrl_c(void *arg)
{
	struct app *a = arg;

	return all_done(a) || __atomic_load_n(&a->ctrl_c, __ATOMIC_SEQ_CST) != a->ctrl_c_sent;
}

/* The console's Ctrl-C (interrupt context): hp_main, which waits for the app's end, sends
 * it SIGINT, as a terminal's line discipline does to its foreground program. */
static void console_interrupt(void)
{
	__atomic_add_fetch(&app.ctrl_c, 1, __ATOMIC_SEQ_CST);
	waitq_wake(&app.done, WAKE_ALL);
}

/* The load average (/proc/loadavg), as Linux keeps it: every 5 s, each of the 1, 5 and 15
 * minute averages moves towards the threads running or ready then (the scheduler's per
 * CPU load, this thread aside), by the factors exp(-5/60), exp(-5/300), exp(-5/900) in
 * fixed point of 11 bits. hp_main samples it while it waits for the app. */
#define LOAD_EVERY_NS 5000000000ull

static void load_sample(struct app *a)
{
	static const uint64_t exp_[3] = {1884, 2014, 2037}; /* (Linux's EXP_1, EXP_5, EXP_15) */
	uint64_t n = 0;

	for (unsigned c = 0; c < sched_cpus_online(); c++) {
		struct sched_stats st;

		sched_stats(c, &st);
		n += st.load;
	}
	n = n ? n - 1 : 0; /* (this thread, which runs to sample) */
	for (int i = 0; i < 3; i++) {
		uint64_t l = __atomic_load_n(&a->loadavg[i], __ATOMIC_RELAXED);

		l = (l * exp_[i] + (n << 11) * (2048 - exp_[i]) + 1024) >> 11;
		__atomic_store_n(&a->loadavg[i], l, __ATOMIC_RELAXED);
	}
}

/* Waits for the app's end until deadline (0 or -ETIMEDOUT), sending it SIGINT for every
 * Ctrl-C the console receives meanwhile, and sampling the load average. */
static int wait_app(struct app *a, uint64_t deadline)
{
	uint64_t next = clock_ns() + LOAD_EVERY_NS;

	for (;;) {
		int rc = waitq_wait(&a->done, done_or_ctrl_c, a, MIN(deadline, next));

		if (all_done(a))
			return 0;
		if (rc && clock_ns() >= next) {
			load_sample(a);
			next += LOAD_EVERY_NS;
			if (next < clock_ns())
				next = clock_ns() + LOAD_EVERY_NS;
			if (clock_ns() < deadline)
				continue;
		}
		if (rc)
			return rc;
		for (uint64_t n = __atomic_load_n(&a->ctrl_c, __ATOMIC_SEQ_CST); a->ctrl_c_sent < n;
		     a->ctrl_c_sent++)
			hp_tty_interrupt(a); /* SIGINT to the console's foreground group */
	}
}

#define START_WAIT_NS 45000000000ull

/* A regular file of the tree (links followed): 0 with its bytes (the image's, or a copy
 * in *tofree to free), or -1 after saying on the console why not (absent: the reason when
 * there is no tar image at all). */
static int fs_file(const char *what, const char *path, const uint8_t **data, size_t *len,
		   void **tofree, const char *absent)
{
	struct vnode *n;
	long rc = hp_fs_present() ? vfs_get("", path, true, &n) : -ENOENT;
	const char *why = !hp_fs_present() ? absent
			  : rc == -EIO	   ? "the tar image is corrupt"
			  : rc == -ENOENT  ? "not found in the tar image"
			  : rc		   ? "not found in the tar image (its path is not a "
					     "directory's)"
					   : NULL;

	*tofree = NULL;
	if (!rc) {
		if ((vfs_mode(n) & 0170000) != 0100000)
			why = "not a regular file";
		else if (!(*data = vfs_contents(n, len, tofree, NULL)))
			why = "no memory to read it";
		vfs_put(n);
	}
	if (!why)
		return 0;
	kprintf("hp: %s: %s\n", what, why);
	return -1;
}

/* One program, to its end: from the boot module (img, len: an ELF) or the tar image (img
 * NULL: the file at name), with its words (split_args). Everything it held comes back
 * before this returns: its threads, descriptors, sockets, mappings and page tables. Its
 * exit status, or -1 when it could not run. */
static int run_app(const char *name, bool normal, const uint8_t *img, size_t len,
		   const char *args)
{
	struct app *a = &app;
	char err[160];

	memset(a, 0, sizeof(*a)); /* (a batch's program before it left nothing to keep) */
	strlcpy(a->name, name, sizeof(a->name));
	a->normal = normal;
	a->pte_u = normal ? PTE_U : 0;
	ksnprintf(a->exe, sizeof(a->exe), "%s%s", name[0] == '/' ? "" : "/", name);
	static void *copy; /* (a program written since the boot: its bytes in one piece) */

	kfree(copy);
	copy = NULL;
	if (!img && fs_file(a->name, a->name, &img, &len, &copy,
			    "no boot module holds an app (give one with QEMU's -initrd or xl's "
			    "ramdisk=, or a tar image on the first disk and app=/path)"))
		return -1;
	if (elf_check(img, len, &a->im, err, sizeof(err))) {
		kprintf("hp: %s: refused: %s\n", a->name, err);
		return -1;
	}
	struct start s = {img, len, args};
	struct mm_stats before, after;

	sched_mm_stats_exact(&before);

	mutex_init(&a->lock);
	mutex_init(&a->mm_lock);
	mmap_area_init(&a->mmap, ELF_USER_MAX, APP_MMAP_TOP);
	waitq_init(&a->done);
	waitq_init(&a->sleepers);
	a->threads[0] = (struct app_thread){.app = a, .tid = 1};
	hp_sig_thread_init(&a->threads[0], NULL);
	a->next_tid = 1;
	a->pid = a->pgid = a->sid = a->tty_pgrp = 1;
	a->start_ns = clock_ns();
	a->top = a;
	a->space = mm_space_kernel();
	mutex_init(&a->proc_lock);
	a->nthreads = 1;
	a->live = 1;
	arch_app_fault = app_fault;
	arch_app_interrupt = app_interrupt;
	static struct sched_stats st0[MAX_CPUS]; /* (once per boot; too big for the stack) */

	for (unsigned cpu = 0; cpu < sched_cpus_online(); cpu++)
		sched_stats(cpu, &st0[cpu]);
	struct netdev_stats net0[NET_DURING];

	net_snapshot(net0);
	uint64_t t0 = clock_ns(), faults0 = mm_user_faults();
	uint64_t mapped0 = __atomic_load_n(&exec_mapped, __ATOMIC_RELAXED),
		 copied0 = __atomic_load_n(&exec_copied, __ATOMIC_RELAXED);

	struct thread *kt = thread_create("app", main_thread, &s, CPU_ANY);

	if (kt)
		__atomic_store_n(&a->threads[0].t, kt, __ATOMIC_RELEASE);
	if (!kt) {
		kprintf("hp: %s: no thread to run it\n", a->name);
		return -1;
	}
	/* an app that has not started after START_WAIT_NS (it loads in well under a second):
	 * what the scheduler holds, once, for the log, before waiting on */
	console_on_interrupt(console_interrupt);
	hp_tty_start();
	if (wait_app(a, clock_ns() + START_WAIT_NS) == -ETIMEDOUT &&
	    !__atomic_load_n(&a->started, __ATOMIC_ACQUIRE)) {
		kprintf("hp: %s has not started after %lu s: the scheduler's state follows\n",
			a->name, (unsigned long)(START_WAIT_NS / 1000000000ull));
		sched_dump(kt);
	}
	wait_app(a, NO_DEADLINE);
	console_on_interrupt(NULL);
	hp_tty_stop();
	hp_procs_end(a); /* (its children that are left: killed, reaped) */
	for (int i = 0; i < APP_THREADS; i++)
		if (a->threads[i].app)
			thread_join(a->threads[i].t, NO_DEADLINE, NULL);
	arch_app_interrupt = NULL;
	/* its descriptors, as an exit closes them: sockets, pipes, epoll sets */
	hp_fds_close_all(a);
	sock_trim(); /* (no thread of the app is left to hold a descriptor) */
	/* everything it mapped, wherever (MAP_FIXED may put pages anywhere in the low half),
	 * and the page tables under it */
	mm_user_unmap_all();
	if (a->user_root > 0)
		release_user_root(a);
	vfs_drop_exec_pages(); /* (kept for speed only: the app's memory all comes back) */
	if (a->status < 0)
		return -1;
	sched_mm_stats_exact(&after);
	char forks[48] = "";

	if (a->forks)
		ksnprintf(forks, sizeof(forks), ", %lu processes forked", (unsigned long)a->forks);
	kprintf("hp: %s exited with status %d (%lu syscalls, %u threads%s)\n", a->name,
		a->status, (unsigned long)a->syscalls, a->nthreads, forks);
	/* what the app held must all come back (the hostile tests check it) */
	kprintf("hp: memory: %lu KiB free before the app, %lu KiB after; %lu pages made at "
		"their first touch; program pages: %lu mapped from their files, %lu copied\n",
		(unsigned long)before.free_kib, (unsigned long)after.free_kib,
		(unsigned long)(mm_user_faults() - faults0),
		(unsigned long)(__atomic_load_n(&exec_mapped, __ATOMIC_RELAXED) - mapped0),
		(unsigned long)(__atomic_load_n(&exec_copied, __ATOMIC_RELAXED) - copied0));
	sched_during(st0, clock_ns() - t0);
	net_during(net0);
	return a->status;
}

/* A batch file's lines, one program each: `PATH [NAME=VALUE...] [--] [ARG...]`; blank
 * lines and lines that start with '#' are skipped. */
#define BATCH_MAX 8192

/* batch=PATH: every program the file names, one after another, each to its end and all it
 * held back before the next starts (a benchmark's workloads in one boot). The first
 * status that is not 0 is the batch's (-1: a program that could not run); the others run
 * all the same. */
static int run_batch(const char *path, bool normal)
{
	char what[sizeof(app.name) + 8];
	const uint8_t *data;
	size_t size;
	void *copy;

	ksnprintf(what, sizeof(what), "batch=%s", path);
	if (fs_file(what, path, &data, &size, &copy, "no tar image to read it from (the boot "
						    "module or the first disk)"))
		return -1;
	char *text = size < BATCH_MAX ? kmalloc(size + 1) : NULL;

	if (text)
		memcpy(text, data, size);
	kfree(copy);
	if (size >= BATCH_MAX) {
		kprintf("hp: %s: longer than 8 KiB\n", what);
		return -1;
	}
	if (!text) {
		kprintf("hp: batch=%s: no memory to read it\n", path);
		return -1;
	}
	text[size] = 0;
	int rc, status = 0, first_bad = 0;
	unsigned run = 0, failed = 0;
	char line[BOOT_CMDLINE_MAX];

	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		bool fits = n < sizeof(line);

		memcpy(line, p, fits ? n : 0);
		line[fits ? n : 0] = 0;
		p += n + (nl != NULL);
		if (!fits) {
			kprintf("hp: %s: a line of %zu bytes is too long (%zu at most); skipped\n",
				what, n, sizeof(line) - 1);
			rc = -1;
			goto ran;
		}
		for (char *c = line; *c; c++)
			if (*c == '\t' || *c == '\r')
				*c = ' ';
		char *prog = line;

		while (*prog == ' ')
			prog++;
		if (!*prog || *prog == '#')
			continue;
		char *args = prog;

		while (*args && *args != ' ')
			args++;
		if (*args)
			*args++ = 0;
		if (strlen(prog) >= sizeof(app.name)) {
			kprintf("hp: %s: the path %s is too long; skipped\n", what, prog);
			rc = -1;
		} else {
			rc = run_app(prog, normal, NULL, 0, args);
			/* what it sent reaches its peers before the next program starts */
			if (netdev_count())
				net_linger(clock_ns() + NET_LINGER_NS);
		}
ran:
		run++;
		if (rc != 0) {
			failed++;
			if (!first_bad)
				first_bad = (int)run;
			status = status ? status : rc;
		}
	}
	kfree(text);
	if (!failed)
		kprintf("hp: %s: %u programs ran, every one ended with status 0\n", what, run);
	else
		kprintf("hp: %s: %u programs ran, %u did not end with status 0 (the first: "
			"program %d, status %d)\n", what, run, failed, first_bad, status);
	return run ? status : -1;
}

int hp_main(const struct boot_info *bi)
{
	char name[sizeof(app.name)], mode[16] = "hp", batch[sizeof(app.name)];
	bool is_batch = cmdline_get(bi->cmdline, "batch", batch, sizeof(batch)) >= 0;

	if (cmdline_get(bi->cmdline, "app", name, sizeof(name)) < 0 || !name[0])
		strlcpy(name, is_batch ? batch : "app", sizeof(name));
	cmdline_get(bi->cmdline, "mode", mode, sizeof(mode));
	if (strcmp(mode, "hp") && strcmp(mode, "normal")) {
		kprintf("hp: mode=%s: the mode is hp (ring 0, the default) or normal (ring 3)\n",
			mode);
		return -1;
	}
	if (is_batch && !batch[0]) {
		kprintf("hp: batch= needs the path of a file in the tar image\n");
		return -1;
	}
	/* The app: the boot module, or a file of the tar image (the module, or the first
	 * disk) named by app=; the image is also the app's read-only file tree. */
	const uint8_t *img = NULL;
	size_t len = 0;

	if (bi->mod_count) {
		const uint8_t *mod = mm_frame_va(bi->mods[0].paddr / PAGE);

		len = bi->mods[0].len;
		if (!mod || !len || !mm_frame_va((bi->mods[0].paddr + len - 1) / PAGE)) {
			kprintf("hp: %s: the boot module is not in RAM\n", name);
			return -1;
		}
		mod += bi->mods[0].paddr % PAGE;
		if (len >= TAR_BLOCK && tar_is_header(mod))
			hp_fs_set(mod, len);
		else
			img = mod;
	}
	/* a disk may still be connecting (Xen's blkfront does so after the probe): wait a
	 * little for one when the app can only come from it */
	for (uint64_t until = clock_ns() + 10000000000ull;
	     !img && !hp_fs_present() && !blkdev_count() && clock_ns() < until;)
		thread_sleep(20000000);
	if (!hp_fs_present() && blkdev_count()) {
		if (hp_fs_load_disk(name, img != NULL) < 0 && !img)
			return -1;
	}
	if (is_batch) {
		if (img) {
			kprintf("hp: batch=%s: the boot module is one program, not a tar image "
				"holding the batch file\n", batch);
			return -1;
		}
		return run_batch(batch, !strcmp(mode, "normal"));
	}
	return run_app(name, !strcmp(mode, "normal"), img, len, cmdline_rest(bi->cmdline));
}
