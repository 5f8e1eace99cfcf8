/* Linux's signal numbers on x86-64 (asm-generic/signal.h): the numbers apps send, catch
 * and die of, named once for the whole of hp/ (the kernel has no libc <signal.h>). */
#ifndef HP_SIGNO_H
#define HP_SIGNO_H

enum hp_signo {
	SIGHUP = 1,
	SIGINT,
	SIGQUIT,
	SIGILL,
	SIGTRAP,
	SIGABRT,
	SIGBUS,
	SIGFPE,
	SIGKILL,
	SIGUSR1,
	SIGSEGV,
	SIGUSR2,
	SIGPIPE,
	SIGALRM,
	SIGTERM,
	SIGSTKFLT,
	SIGCHLD,
	SIGCONT,
	SIGSTOP,
	SIGTSTP,
	SIGTTIN,
	SIGTTOU,
	SIGURG,
	SIGXCPU,
	SIGXFSZ,
	SIGVTALRM,
	SIGPROF,
	SIGWINCH,
	SIGIO,
	SIGPWR,
	SIGSYS,
};
_Static_assert(SIGSYS == 31, "Linux's numbering");

#endif
