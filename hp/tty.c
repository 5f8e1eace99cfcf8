/* The console as a terminal (hp/README.md "The console as a terminal"): what the platform's
 * console driver receives (console_received, in interrupt context) goes into a ring here;
 * a read of descriptor 0 (or any descriptor of the console) takes it through a line
 * discipline as Linux's n_tty does for the flags programs use: canonical mode (a line at a
 * time, echoed, with erase, kill, and end of file), or raw mode (bytes as they come, VMIN
 * 1) for a program that edits its own line (busybox sh, which then echoes itself). Ctrl-C
 * is SIGINT to the console's foreground process group (hp_tty_interrupt), Ctrl-\ SIGQUIT
 * and Ctrl-Z SIGTSTP (the group stops, its shell takes the terminal back); termios, the
 * window size and the foreground group are the console's ioctls. */
#include "hp/hp.h"

#include "common/console.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define RING	  4096
#define LINE	  4096
#define SLICE_NS  50000000ull /* a wait looks at the app's end at least this often */

/* termios bits (asm-generic/termbits.h) */
#define ICRNL  0000400
#define INLCR  0000100
#define IGNCR  0000200
#define OPOST  0000001
#define ONLCR  0000004
#define ISIG   0000001
#define ICANON 0000002
#define ECHO   0000010
#define ECHOE  0000020
#define ECHOK  0000040
#define ECHONL 0000100
#define ECHOCTL 0001000
#define ECHOKE 0004000
#define IEXTEN 0100000
#define CS8    0000060
#define CREAD  0000200
#define B38400 0000017
#define VINTR  0
#define VQUIT  1
#define VERASE 2
#define VKILL  3
#define VEOF   4
#define VTIME  5
#define VMIN   6
#define VSUSP  10
#define NCCS   19

struct termios_ {
	uint32_t iflag, oflag, cflag, lflag;
	uint8_t line, cc[NCCS];
};
_Static_assert(sizeof(struct termios_) == 36, "struct termios (the kernel's)");

static struct {
	struct spinlock lock; /* (taken with interrupts off: the ring is filled in them) */
	char ring[RING];
	uint32_t head, tail; /* free-running */
	uint64_t dropped;
	struct waitq readers;
	bool ready;
} in;

/* the reader's side: under `rl` (one reader at a time), with the termios */
static struct mutex rl = MUTEX_INIT(rl);
static struct termios_ tio = {
	.iflag = ICRNL,
	.oflag = OPOST | ONLCR,
	.cflag = B38400 | CS8 | CREAD,
	.lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
	.cc = {[VINTR] = 3, [VQUIT] = 28, [VERASE] = 0x7f, [VKILL] = 21, [VEOF] = 4,
	       [VMIN] = 1, [VSUSP] = 26},
};
static uint16_t winsize[4] = {24, 80, 0, 0};
static char line[LINE];
static size_t len;     /* bytes in line[] */
static size_t done;    /* of those, the ones a read may take (whole lines in canonical mode) */
static bool eof;       /* an end of file (VEOF at a line's start) is next */

/* the signal keys typed and not sent yet: Ctrl-\ (SIGQUIT) and Ctrl-Z (SIGTSTP); the
 * others are Ctrl-C (SIGINT). Atomic. */
static uint32_t quits, susps;

/* interrupt context: what the console received (the signal keys aside when ISIG is on:
 * Ctrl-C, Ctrl-\ and Ctrl-Z, which hp_main turns into their signals: hp_tty_interrupt) */
static void received(const char *s, size_t n)
{
	spin_lock(&in.lock);
	for (size_t i = 0; i < n; i++) {
		if (tio.lflag & ISIG) {
			bool sus = s[i] == (char)tio.cc[VSUSP] && tio.cc[VSUSP],
			     quit = s[i] == (char)tio.cc[VQUIT] && tio.cc[VQUIT];

			if (sus || quit || s[i] == (char)tio.cc[VINTR]) {
				if (sus || quit)
					__atomic_add_fetch(sus ? &susps : &quits, 1,
							   __ATOMIC_SEQ_CST);
				console_interrupt_key(); /* (hp_main: hp_tty_interrupt) */
				continue;
			}
		}
		if (in.head - in.tail == RING) {
			in.dropped += n - i;
			break;
		}
		in.ring[in.head++ % RING] = s[i];
	}
	spin_unlock(&in.lock);
	waitq_wake(&in.readers, WAKE_ALL);
}

static void init(void)
{
	static bool done_init;

	if (__atomic_exchange_n(&done_init, true, __ATOMIC_ACQ_REL))
		return;
	waitq_init(&in.readers);
	__atomic_store_n(&in.ready, true, __ATOMIC_RELEASE);
}

void hp_tty_start(void)
{
	init();
	console_on_input(received);
}

void hp_tty_stop(void)
{
	console_on_input(NULL);
}

bool hp_tty_isig(void)
{
	return (tio.lflag & ISIG) != 0;
}

/* (rl held) takes a byte from the ring: -1 when empty */
static int take(void)
{
	uint64_t on = irq_save();
	int c = -1;

	spin_lock(&in.lock);
	if (in.head != in.tail)
		c = (unsigned char)in.ring[in.tail++ % RING];
	spin_unlock(&in.lock);
	irq_restore(on);
	return c;
}

static bool ring_empty(void)
{
	return __atomic_load_n(&in.head, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&in.tail, __ATOMIC_ACQUIRE);
}

/* (rl held) the ring's bytes through the line discipline into line[], echoed as they go
 * (the console's writes in pieces of the echo buffer) */
static void pump(void)
{
	char out[256];
	size_t e = 0;
	int c;

#define ECHO_(ch)                                                                                  \
	do {                                                                                       \
		if (e == sizeof(out)) {                                                            \
			console_write(out, e);                                                     \
			e = 0;                                                                     \
		}                                                                                  \
		out[e++] = (char)(ch);                                                             \
	} while (0)
	/* (all that came: line[] holds lines typed ahead too; a read takes one at a time) */
	while (!eof && len < LINE && (c = take()) >= 0) {
		if (c == '\r' && (tio.iflag & IGNCR))
			continue;
		if (c == '\r' && (tio.iflag & ICRNL))
			c = '\n';
		else if (c == '\n' && (tio.iflag & INLCR))
			c = '\r';
		if (!(tio.lflag & ICANON)) {
			line[len++] = (char)c;
			done = len;
			if (tio.lflag & ECHO)
				ECHO_(c);
			continue;
		}
		/* erase the line's last character, or (kill) the whole line being typed */
		if (c == tio.cc[VERASE] || c == 8 || c == tio.cc[VKILL]) {
			do {
				if (len == done)
					break;
				len--;
				if (tio.lflag & ECHOE) {
					ECHO_('\b');
					ECHO_(' ');
					ECHO_('\b');
				}
			} while (c == tio.cc[VKILL]);
			continue;
		}
		if (c == tio.cc[VEOF]) { /* the line so far, or end of file at its start */
			if (len == done)
				eof = true;
			done = len;
			continue;
		}
		line[len++] = (char)c;
		if (tio.lflag & ECHO)
			ECHO_(c);
		else if (c == '\n' && (tio.lflag & ECHONL))
			ECHO_(c);
		if (c == '\n')
			done = len;
		else if (len == LINE - 1) { /* (a line that long ends here, as a full one) */
			line[len++] = '\n';
			done = len;
		}
	}
#undef ECHO_
	if (e)
		console_write(out, e);
}

static bool readable(void *arg)
{
	struct app *a = arg;

	return !ring_empty() || hp_interrupted(a);
}


/* A read (sig SIGTTIN) or a change of the terminal (SIGTTOU: its termios, its foreground
 * group) by a process of the console's session outside its foreground group (a
 * background job): sig to its group, which stops it until the shell's `fg` (-EINTR: the
 * call is made again then), as n_tty. Where that would not stop it: the signal ignored or
 * blocked (a read: -EIO; a change goes on, as a shell's own tcsetpgrp does), an orphaned
 * group (-EIO). 0: the call may go on. */
static long background(struct app *a, int sig)
{
	struct app *top = a->top;

	mutex_lock(&top->proc_lock, NO_DEADLINE);
	bool bg = a->sid == top->sid && a->pgid != top->tty_pgrp;
	int pgid = a->pgid;

	mutex_unlock(&top->proc_lock);
	if (!bg)
		return 0;
	if (hp_sig_ignored_here(a, sig))
		return sig == SIGTTIN ? -EIO : 0;
	if (hp_pgrp_orphaned(a))
		return -EIO;
	hp_kill_group(a, pgid, sig, false);
	return -EINTR;
}

long hp_tty_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	init();
	if (!n)
		return 0;
	long bg = background(a, SIGTTIN);

	if (bg)
		return bg;
	mutex_lock(&rl, NO_DEADLINE);
	for (;;) {
		pump();
		if (done || eof) {
			if (!done) { /* end of file: read gives 0, once */
				eof = false;
				mutex_unlock(&rl);
				return 0;
			}
			size_t k = MIN(n, done);

			/* canonical mode: at most one line per read */
			if (tio.lflag & ICANON)
				for (size_t i = 0; i < k; i++)
					if (line[i] == '\n') {
						k = i + 1;
						break;
					}
			if (copy_to_app(buf, line, k)) {
				mutex_unlock(&rl);
				return -EFAULT;
			}
			memmove(line, line + k, len - k);
			len -= k;
			done -= k;
			mutex_unlock(&rl);
			return (long)k;
		}
		if (f && f->nonblock) {
			mutex_unlock(&rl);
			return -EAGAIN;
		}
		if (hp_interrupted(a)) {
			mutex_unlock(&rl);
			return -EINTR;
		}
		mutex_unlock(&rl);
		waitq_wait(&in.readers, readable, a, clock_ns() + SLICE_NS);
		mutex_lock(&rl, NO_DEADLINE);
	}
}

bool hp_tty_ready(void)
{
	if (!__atomic_load_n(&in.ready, __ATOMIC_ACQUIRE))
		return false;
	if (!mutex_trylock(&rl))
		return true; /* (a reader is at it: look again after) */
	pump();
	bool r = done || eof;

	mutex_unlock(&rl);
	return r;
}

/* one of the keys a counter holds, if any (atomic) */
static bool take_key(uint32_t *keys)
{
	uint32_t n = __atomic_load_n(keys, __ATOMIC_SEQ_CST);

	while (n && !__atomic_compare_exchange_n(keys, &n, n - 1, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
		;
	return n != 0;
}

void hp_tty_interrupt(struct app *top)
{
	/* the line typed so far goes, as n_tty flushes its input at a signal */
	if (mutex_trylock(&rl)) {
		len = done = 0;
		eof = false;
		mutex_unlock(&rl);
	}
	mutex_lock(&top->proc_lock, NO_DEADLINE);
	int pgrp = top->tty_pgrp;

	mutex_unlock(&top->proc_lock);
	int sig = take_key(&susps) ? SIGTSTP : take_key(&quits) ? SIGQUIT : SIGINT;
	if (hp_kill_group(top, pgrp, sig, true) == -ESRCH)
		hp_sig_kernel(top, sig); /* (a group that is gone: the first process, as before) */
}

#define TCGETS	   0x5401
#define TCSETS	   0x5402
#define TCSETSW	   0x5403
#define TCSETSF	   0x5404
#define TIOCSCTTY  0x540e
#define TIOCGPGRP  0x540f
#define TIOCSPGRP  0x5410
#define TIOCGWINSZ 0x5413
#define TIOCSWINSZ 0x5414
#define FIONREAD   0x541b
#define TIOCNOTTY  0x5422
#define TIOCGSID   0x5429

long hp_tty_ioctl(struct app *a, uint64_t req, uint64_t arg)
{
	struct app *top = a->top;
	long rc = 0;

	init();
	switch (req) {
	case TCGETS:
		mutex_lock(&rl, NO_DEADLINE);
		rc = copy_to_app(arg, &tio, sizeof(tio));
		mutex_unlock(&rl);
		return rc;
	case TCSETS:
	case TCSETSW:
	case TCSETSF: {
		struct termios_ t;

		if (copy_from_app(&t, arg, sizeof(t)))
			return -EFAULT;
		if ((rc = background(a, SIGTTOU)))
			return rc;
		mutex_lock(&rl, NO_DEADLINE);
		if (req == TCSETSF) { /* what was typed and not read yet goes */
			len = done = 0;
			eof = false;
			while (take() >= 0)
				;
		}
		/* (into canonical mode: what raw mode left becomes the line being edited) */
		if ((t.lflag & ICANON) && !(tio.lflag & ICANON))
			done = 0;
		tio = t;
		if (!(tio.lflag & ICANON))
			done = len;
		mutex_unlock(&rl);
		return 0;
	}
	case TIOCGWINSZ:
		return copy_to_app(arg, winsize, sizeof(winsize));
	case TIOCSWINSZ:
		return copy_from_app(winsize, arg, sizeof(winsize));
	case TIOCGPGRP:
	case TIOCGSID: {
		mutex_lock(&top->proc_lock, NO_DEADLINE);
		int v = req == TIOCGPGRP ? top->tty_pgrp : top->sid;

		mutex_unlock(&top->proc_lock);
		return copy_to_app(arg, &v, sizeof(v));
	}
	case TIOCSPGRP: {
		int pg;

		if (copy_from_app(&pg, arg, sizeof(pg)))
			return -EFAULT;
		if (pg <= 0)
			return -EINVAL;
		if ((rc = background(a, SIGTTOU)))
			return rc;
		mutex_lock(&top->proc_lock, NO_DEADLINE);
		bool found = pg == top->pgid;

		for (struct app *p = top->procs; p && !found; p = p->next_proc)
			found = !p->zombie && p->pgid == pg;
		if (found)
			top->tty_pgrp = pg;
		mutex_unlock(&top->proc_lock);
		return found ? 0 : -EPERM;
	}
	case TIOCSCTTY:
	case TIOCNOTTY:
		return 0; /* (the console is every process's terminal) */
	case FIONREAD: {
		mutex_lock(&rl, NO_DEADLINE);
		pump();
		int v = (int)done;

		mutex_unlock(&rl);
		return copy_to_app(arg, &v, sizeof(v));
	}
	}
	return -ENOTTY;
}
