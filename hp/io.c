/* Pipes, eventfds and epoll sets for the app, and the one wait behind poll, ppoll, select,
 * pselect6, epoll_wait and a blocking pipe or eventfd call.
 *
 * Their state is under the app's io_lock. Every change of it ups the semaphore of every
 * wait under way in the app (app->io_waiters: few, the app's blocked threads); a socket's
 * events up it too, through net/socket.h's poller (sock_poll_arm). A wait looks at its
 * descriptors, and sleeps on its semaphore for at most a slice (SLICE_MS) before it looks
 * again, so the app's end (exit_group, a fault) ends every wait soon.
 *
 * Lifetimes: a pipe or epoll set is freed when its last reference goes: one per open
 * description (end) naming it and one per call under way on it, taken under the app's
 * lock while the description still names it (pipe_hold, ep_hold). Lock order: the app's
 * lock, then an epoll set's, then io_lock. */
#include "hp/hp.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "net/socket.h"
#include "sched/sched.h"

#define PIPE_SLOTS 16	     /* Linux's default: 16 pages, 64 KiB */
#define PIPE_PAGE  4096u
#define SLICE_MS  50
#define MS_NS	  1000000ull

#define O_NONBLOCK_ 04000
#define O_CLOEXEC_  02000000
#define EFD_SEMAPHORE 1

#define EPOLLIN_	0x001
#define EPOLLOUT_	0x004
#define EPOLLERR_	0x008
#define EPOLLHUP_	0x010
#define EPOLLRDHUP_	0x2000
#define EPOLLEXCLUSIVE_ (1u << 28)
#define EPOLLWAKEUP_	(1u << 29)
#define EPOLLONESHOT_	(1u << 30)
#define EPOLLET_	(1u << 31)
#define EPOLL_CTL_ADD	1
#define EPOLL_CTL_DEL	2
#define EPOLL_CTL_MOD	3

/* A pipe holds data as Linux's does, so that what fits and when a writer waits is the
 * same: a ring of PIPE_SLOTS page-sized slots, each holding bytes [off, off + len) of its
 * page. A write first tops up the last slot with what is over whole pages, if that fits
 * (Linux's merge), then fills new slots a page at a time; a read takes from the oldest
 * slot on, and a slot is free again once it is read out. */
struct pipe_slot {
	uint16_t off, len;
};

struct app_pipe {
	int refs; /* atomic: ends open + calls under way */
	unsigned readers, writers;
	unsigned head, tail; /* slots in use: [tail, head), counted for ever */
	struct pipe_slot slot[PIPE_SLOTS];
	unsigned gen; /* bumped at every change: what an edge-triggered wait sees */
	uint8_t *buf; /* the slots' pages */
};

static bool pipe_full(const struct app_pipe *p)
{
	return p->head - p->tail >= PIPE_SLOTS;
}

static uint8_t *slot_page(const struct app_pipe *p, unsigned i)
{
	return p->buf + (i % PIPE_SLOTS) * PIPE_PAGE;
}

struct ep_item {
	int fd, file;	 /* the descriptor and the description it named when added */
	unsigned opens;	 /* ... and that description's opening (a reused slot is not it) */
	uint32_t events; /* EPOLL* asked for, with the ET / ONESHOT / EXCLUSIVE flags */
	uint64_t data;
	unsigned gen; /* the events count when last reported (ET) */
	bool reported, off; /* off: EPOLLONESHOT reported it; EPOLL_CTL_MOD arms it again */
};

struct app_epoll {
	int refs; /* atomic: descriptions naming it + calls under way */
	struct mutex lock;
	unsigned n, cap;
	struct ep_item *it; /* n items in cap, grown as they are added (under the lock) */
};

static void ep_put(struct app_epoll *ep);

struct io_waiter {
	struct sem *s;
	struct io_waiter *next;
};

/* one descriptor of a wait */
struct io_item {
	int fd;
	short events, revents;
	unsigned gen;
	int sock; /* net/socket.h's descriptor, or -1: not a socket */
	/* epoll: the description the item was added with (file < 0: poll and select, which
	 * look at whatever fd names). A look at a description that is not the item's (the
	 * fd closed and opened again since the set was read) finds nothing, so an item is
	 * never reported with, nor remembers, another description's events. */
	int file;
	unsigned opens;
};

/* (io_lock held) every wait of the app looks again */
static void io_changed(struct app *a)
{
	for (struct io_waiter *w = a->top->io_waiters; w; w = w->next)
		sem_up(w->s);
}

void hp_io_wake_all(struct app *a)
{
	mutex_lock(&a->top->io_lock, NO_DEADLINE);
	io_changed(a);
	mutex_unlock(&a->top->io_lock);
}

static void waiter_add(struct app *a, struct io_waiter *w)
{
	mutex_lock(&a->top->io_lock, NO_DEADLINE);
	w->next = a->top->io_waiters;
	a->top->io_waiters = w;
	mutex_unlock(&a->top->io_lock);
}

static void waiter_del(struct app *a, struct io_waiter *w)
{
	mutex_lock(&a->top->io_lock, NO_DEADLINE);
	for (struct io_waiter **p = &a->top->io_waiters; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	mutex_unlock(&a->top->io_lock);
}

static uint64_t deadline_ms(int64_t ms)
{
	return ms < 0 ? NO_DEADLINE : clock_ns() + (uint64_t)ms * MS_NS;
}

/* --- pipes ----------------------------------------------------------------------------- */

static void pipe_put(struct app_pipe *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		kfree(p->buf);
		kfree(p);
	}
}

/* the pipe f names, held for a call (NULL: f is not a pipe any more) */
static struct app_pipe *pipe_hold(struct app *a, struct app_fd *f)
{
	struct app_pipe *p = NULL;

	mutex_lock(&a->top->fd_lock, NO_DEADLINE);
	if (f->kind == FD_PIPE && (p = f->pipe))
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	mutex_unlock(&a->top->fd_lock);
	return p;
}

long hp_pipe(struct app *a, uint64_t fds, uint64_t flags)
{
	if (flags & ~(uint64_t)(O_NONBLOCK_ | O_CLOEXEC_))
		return -EINVAL; /* (O_DIRECT, packet mode: not here) */
	if (!app_range(fds, 8))
		return -EFAULT;
	struct app_pipe *p = kcalloc(1, sizeof(*p));
	uint8_t *buf = kmalloc(PIPE_SLOTS * PIPE_PAGE);

	if (!p || !buf) {
		kfree(p);
		kfree(buf);
		return -ENFILE;
	}
	p->buf = buf;
	int r = hp_fd_alloc(a, FD_PIPE), w = r < 0 ? r : hp_fd_alloc(a, FD_PIPE);

	if (w < 0) {
		if (r >= 0)
			hp_fd_close(a, (uint64_t)r); /* (no pipe named yet: nothing to let go of) */
		kfree(buf);
		kfree(p);
		return w;
	}
	struct app_fd *fr = hp_fd(a, (uint64_t)r), *fw = hp_fd(a, (uint64_t)w);

	p->refs = 2;
	p->readers = p->writers = 1;
	fr->nonblock = fw->nonblock = (flags & O_NONBLOCK_) != 0;
	fw->wr = true;
	a->cloexec[r] = a->cloexec[w] = (flags & O_CLOEXEC_) != 0;
	__atomic_store_n(&fr->pipe, p, __ATOMIC_RELEASE);
	__atomic_store_n(&fw->pipe, p, __ATOMIC_RELEASE);
	int32_t pair[2] = {r, w};

	if (copy_to_app(fds, pair, sizeof(pair))) {
		hp_fd_close(a, (uint64_t)r);
		hp_fd_close(a, (uint64_t)w);
		return -EFAULT;
	}
	return 0;
}

void hp_io_release(struct app *a, const struct app_fd *f)
{
	if (f->kind == FD_PIPE && f->pipe) {
		struct app_pipe *p = f->pipe;

		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		if (f->wr)
			p->writers--;
		else
			p->readers--;
		p->gen++;
		io_changed(a);
		mutex_unlock(&a->top->io_lock);
		pipe_put(p);
	} else if (f->kind == FD_EPOLL && f->ep) {
		ep_put(f->ep);
	}
}

/* Sleeps until ready(arg) under io_lock, the app ends, or a slice passes with nothing:
 * 0 when ready, -EINTR when the app is ending. */
static long io_block(struct app *a, bool (*ready)(void *arg), void *arg)
{
	struct sem s;
	struct io_waiter w = {&s, NULL};
	long rc = 0;

	sem_init(&s, 0);
	waiter_add(a, &w);
	for (;;) {
		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		bool ok = ready(arg);

		mutex_unlock(&a->top->io_lock);
		if (ok)
			break;
		if (hp_interrupted(a)) {
			rc = -EINTR;
			break;
		}
		sem_down(&s, clock_ns() + SLICE_MS * MS_NS);
	}
	waiter_del(a, &w);
	return rc;
}

static bool pipe_readable(void *arg)
{
	struct app_pipe *p = arg;

	return p->head != p->tail || !p->writers;
}

static bool pipe_writable(void *arg)
{
	struct app_pipe *p = arg;

	return !pipe_full(p) || !p->readers;
}

/* (io_lock held, let go here) The end of one round of a pipe read or write: the others
 * told when bytes moved; then 1 when the call is done, -EAGAIN (non-blocking) or -EINTR
 * (the app is ending), or 0 to go round again once ready(p) holds. */
static long pipe_round(struct app *a, struct app_fd *f, struct app_pipe *p, bool moved,
		       bool done, bool (*ready)(void *arg))
{
	if (moved) {
		p->gen++;
		io_changed(a);
	}
	mutex_unlock(&a->top->io_lock);
	if (done)
		return 1;
	if (__atomic_load_n(&f->nonblock, __ATOMIC_RELAXED))
		return -EAGAIN;
	return io_block(a, ready, p);
}

static long pipe_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	struct app_pipe *p = pipe_hold(a, f);
	size_t done = 0;
	long rc = 0;

	if (!p)
		return -EBADF;
	while (n) {
		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		while (done < n && p->head != p->tail) {
			struct pipe_slot *s = &p->slot[p->tail % PIPE_SLOTS];
			size_t k = MIN(n - done, (size_t)s->len);

			if (copy_to_app(buf + done, slot_page(p, p->tail) + s->off, k)) {
				rc = -EFAULT;
				break;
			}
			s->off += k;
			s->len -= k;
			done += k;
			if (!s->len)
				p->tail++;
		}
		long end = pipe_round(a, f, p, done != 0, done || rc || !p->writers, pipe_readable);

		if (end) {
			rc = end < 0 ? end : rc;
			break;
		}
	}
	pipe_put(p);
	return done ? (long)done : rc;
}

/* the bytes [at, at + k) of a write: from the app's buf, or from the kernel's kbuf */
static int write_from(void *dst, uint64_t buf, const uint8_t *kbuf, size_t at, size_t k)
{
	if (kbuf) {
		memcpy(dst, kbuf + at, k);
		return 0;
	}
	return copy_from_app(dst, buf + at, k);
}

/* (io_lock held) copies what fits of the app's bytes (or kbuf's): into the last slot (the
 * part over whole pages, all of it or nothing), else into new slots while there are free
 * ones */
static long pipe_fill(struct app_pipe *p, uint64_t buf, const uint8_t *kbuf, size_t n,
		      size_t *done, bool merge)
{
	size_t chars = (n - *done) % PIPE_PAGE;

	if (merge && chars && p->head != p->tail) {
		struct pipe_slot *s = &p->slot[(p->head - 1) % PIPE_SLOTS];
		unsigned end = s->off + s->len;

		if (end + chars <= PIPE_PAGE) {
			if (write_from(slot_page(p, p->head - 1) + end, buf, kbuf, *done, chars))
				return -EFAULT;
			s->len += chars;
			*done += chars;
		}
	}
	while (*done < n && !pipe_full(p)) {
		size_t k = MIN(n - *done, (size_t)PIPE_PAGE);

		if (write_from(slot_page(p, p->head), buf, kbuf, *done, k))
			return -EFAULT;
		p->slot[p->head % PIPE_SLOTS] = (struct pipe_slot){0, (uint16_t)k};
		p->head++;
		*done += k;
	}
	return 0;
}

/* As Linux: the readers are looked for first (none: -EPIPE, and on Linux SIGPIPE too;
 * signals are not delivered here, hp/README.md); then the top-up of the last slot, then
 * new slots, waiting for free ones unless non-blocking. A write of at most PIPE_BUF_
 * bytes goes in whole: it fits the last slot or takes a new one. */
static long pipe_write(struct app *a, struct app_fd *f, uint64_t buf, const uint8_t *kbuf,
		       size_t n)
{
	struct app_pipe *p = pipe_hold(a, f);
	size_t done = 0;
	long rc = 0;
	bool first = true;

	if (!p)
		return -EBADF;
	while (done < n) {
		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		if (!p->readers) {
			mutex_unlock(&a->top->io_lock);
			rc = -EPIPE;
			break;
		}
		size_t before = done;

		rc = pipe_fill(p, buf, kbuf, n, &done, first);
		first = false;
		long end = pipe_round(a, f, p, done != before, rc || done == n, pipe_writable);

		if (end) {
			rc = end < 0 ? end : rc;
			break;
		}
	}
	pipe_put(p);
	return done ? (long)done : rc;
}

/* --- eventfds -------------------------------------------------------------------------- */

long hp_eventfd(struct app *a, uint64_t initval, uint64_t flags)
{
	if (flags & ~(uint64_t)(O_NONBLOCK_ | O_CLOEXEC_ | EFD_SEMAPHORE))
		return -EINVAL;
	int fd = hp_fd_alloc(a, FD_EVENTFD);

	if (fd < 0)
		return fd;
	struct app_fd *f = hp_fd(a, (uint64_t)fd);

	f->count = (uint32_t)initval;
	f->semaphore = (flags & EFD_SEMAPHORE) != 0;
	f->nonblock = (flags & O_NONBLOCK_) != 0;
	a->cloexec[fd] = (flags & O_CLOEXEC_) != 0;
	return fd;
}

static bool event_readable(void *arg)
{
	return ((struct app_fd *)arg)->count != 0;
}

struct event_room {
	struct app_fd *f;
	uint64_t v;
};

static bool event_writable(void *arg)
{
	struct event_room *r = arg;

	return UINT64_MAX - 1 - r->f->count >= r->v;
}

/* (the description stays in app->files[]: an eventfd closed meanwhile reads as what the
 * slot holds then, never freed memory) */
static long event_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	uint64_t v;

	if (n < 8)
		return -EINVAL;
	for (;;) {
		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		if (f->kind != FD_EVENTFD) {
			mutex_unlock(&a->top->io_lock);
			return -EBADF;
		}
		if (f->count) {
			v = f->semaphore ? 1 : f->count;
			f->count -= v;
			f->gen++;
			io_changed(a);
			mutex_unlock(&a->top->io_lock);
			break;
		}
		mutex_unlock(&a->top->io_lock);
		if (__atomic_load_n(&f->nonblock, __ATOMIC_RELAXED))
			return -EAGAIN;
		long rc = io_block(a, event_readable, f);

		if (rc)
			return rc;
	}
	return copy_to_app(buf, &v, 8) ? -EFAULT : 8;
}

static long event_write(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	struct event_room r = {f, 0};

	if (n < 8)
		return -EINVAL;
	if (copy_from_app(&r.v, buf, 8))
		return -EFAULT;
	if (r.v == UINT64_MAX)
		return -EINVAL;
	for (;;) {
		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		if (f->kind != FD_EVENTFD) {
			mutex_unlock(&a->top->io_lock);
			return -EBADF;
		}
		if (event_writable(&r)) {
			f->count += r.v;
			f->gen++;
			io_changed(a);
			mutex_unlock(&a->top->io_lock);
			return 8;
		}
		mutex_unlock(&a->top->io_lock);
		if (__atomic_load_n(&f->nonblock, __ATOMIC_RELAXED))
			return -EAGAIN;
		long rc = io_block(a, event_writable, &r);

		if (rc)
			return rc;
	}
}

long hp_io_read(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	return f->kind == FD_PIPE ? pipe_read(a, f, buf, n) : event_read(a, f, buf, n);
}

long hp_io_write(struct app *a, struct app_fd *f, uint64_t buf, size_t n)
{
	return f->kind == FD_PIPE ? pipe_write(a, f, buf, NULL, n) : event_write(a, f, buf, n);
}

long hp_pipe_write_gathered(struct app *a, struct app_fd *f, const void *kbuf, size_t n)
{
	return pipe_write(a, f, 0, kbuf, n);
}

long hp_io_nread(struct app *a, struct app_fd *f)
{
	struct app_pipe *p = f->kind == FD_PIPE && !f->wr ? pipe_hold(a, f) : NULL;
	long n;

	if (!p)
		return -ENOTTY;
	mutex_lock(&a->top->io_lock, NO_DEADLINE);
	n = 0;
	for (unsigned i = p->tail; i != p->head; i++)
		n += p->slot[i % PIPE_SLOTS].len;
	mutex_unlock(&a->top->io_lock);
	pipe_put(p);
	return n;
}

/* --- the wait -------------------------------------------------------------------------- */

/* (the app's lock and io_lock held) what a description other than a socket has of events:
 * poll's bits (epoll's are the same), and its count of changes for edge triggering */
static short file_ready(const struct app_fd *f, short events, unsigned *gen)
{
	short r = 0;

	*gen = 0;
	switch (f->kind) {
	case FD_CONSOLE: /* (input: a line, or a byte in raw mode; hp/tty.c) */
		r = POLLOUT | (hp_tty_ready() ? POLLIN : 0);
		break;
	case FD_NULL:
	case FD_PROC:
	case FD_FILE:
	case FD_RANDOM:
	case FD_ZERO:
	case FD_DISK:
		r = POLLIN | POLLOUT;
		break;
	case FD_PIPE:
		if (!f->pipe)
			break;
		*gen = f->pipe->gen;
		if (f->wr)
			r = (pipe_full(f->pipe) ? 0 : POLLOUT) | (f->pipe->readers ? 0 : POLLERR);
		else
			r = (f->pipe->head != f->pipe->tail ? POLLIN : 0) |
			    (f->pipe->writers ? 0 : POLLHUP);
		break;
	case FD_EVENTFD:
		*gen = f->gen;
		r = (f->count ? POLLIN : 0) | (f->count < UINT64_MAX - 1 ? POLLOUT : 0);
		break;
	default: /* an epoll set: never ready (one inside another is refused) */
		break;
	}
	return r & (events | POLLERR | POLLHUP);
}

struct io_wait {
	struct io_item *it; /* n descriptors, room for cap */
	struct sock_pollfd *sp; /* (room for cap: the sockets among them, for each look) */
	unsigned n, cap;
	/* epoll_wait: builds it[] again before each look (the set may change meanwhile):
	 * 0 or -ENOMEM; NULL: it[] stays */
	long (*fill)(struct app *a, struct io_wait *w);
	/* how many of it[] count as ready */
	unsigned (*pick)(struct io_wait *w);
	struct app_epoll *ep;
	unsigned max;
	struct sock_armed armed; /* the sockets this wait armed (io_wait zeroes it) */
};

/* room for cap descriptors in w (what it holds is kept): 0 or -ENOMEM */
static long io_wait_room(struct io_wait *w, unsigned cap)
{
	if (cap <= w->cap)
		return 0;
	cap = MAX(cap, 2 * w->cap);
	struct io_item *it = kmalloc(cap * sizeof(*it));
	struct sock_pollfd *sp = kmalloc(cap * sizeof(*sp));

	if (!it || !sp) {
		kfree(it);
		kfree(sp);
		return -ENOMEM;
	}
	if (w->n)
		memcpy(it, w->it, w->n * sizeof(*it));
	kfree(w->it);
	kfree(w->sp);
	w->it = it;
	w->sp = sp;
	w->cap = cap;
	return 0;
}

static void io_wait_free(struct io_wait *w)
{
	kfree(w->it);
	kfree(w->sp);
}

/* Looks at w's descriptors until pick finds some, the deadline passes (0) or the app ends
 * (-EINTR). Returns what pick found. */
static long io_wait(struct app *a, struct io_wait *w, uint64_t deadline)
{
	struct sem s;
	struct io_waiter me = {&s, NULL};
	struct sock_pollfd *sp;
	long got;

	sem_init(&s, 0);
	memset(&w->armed, 0, sizeof(w->armed));
	waiter_add(a, &me);
	for (;;) {
		unsigned ns = 0;

		if (w->fill && (got = w->fill(a, w)))
			break;
		sp = w->sp;
		mutex_lock(&a->top->fd_lock, NO_DEADLINE);
		mutex_lock(&a->top->io_lock, NO_DEADLINE);
		for (unsigned i = 0; i < w->n; i++) {
			struct io_item *it = &w->it[i];
			struct app_fd *f = it->fd >= 0 ? hp_fd(a, (uint64_t)it->fd) : NULL;

			it->revents = 0;
			it->sock = -1;
			if (it->fd < 0)
				continue;
			if (it->file >= 0 && f &&
			    (a->fd[it->fd] != it->file || f->opens != it->opens))
				continue; /* (not the item's description: ep_fill again, next look) */
			if (!f)
				it->revents = POLLNVAL_;
			else if (f->kind == FD_SOCKET && f->sock >= 0)
				it->sock = f->sock;
			else
				it->revents = file_ready(f, it->events, &it->gen);
		}
		mutex_unlock(&a->top->io_lock);
		mutex_unlock(&a->top->fd_lock);
		for (unsigned i = 0; i < w->n; i++)
			if (w->it[i].sock >= 0)
				sp[ns++] = (struct sock_pollfd){w->it[i].sock, w->it[i].events, 0, 0};
		if (ns) {
			sock_poll_arm(sp, ns, &s, &w->armed);
			sock_poll_scan(sp, ns);
			for (unsigned i = 0, k = 0; i < w->n; i++) {
				if (w->it[i].sock >= 0) {
					w->it[i].revents = sp[k].revents;
					w->it[i].gen = sp[k++].gen;
				}
			}
		}
		got = (long)w->pick(w);
		if (got || hp_interrupted(a))
			break;
		uint64_t now = clock_ns();

		if (now >= deadline)
			break;
		sem_down(&s, MIN(deadline, now + SLICE_MS * MS_NS));
	}
	sock_poll_disarm(&s, &w->armed);
	waiter_del(a, &me);
	return got ? got : hp_interrupted(a) ? -EINTR : 0;
}

static unsigned pick_any(struct io_wait *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->n; i++)
		n += w->it[i].revents != 0;
	return n;
}

struct pollfd_ {
	int32_t fd;
	int16_t events, revents;
};

static long poll_until(struct app *a, uint64_t fds, uint64_t n, uint64_t deadline)
{
	_Static_assert(sizeof(struct pollfd_) == 8, "struct pollfd");
	struct pollfd_ *p;
	struct io_wait *w;
	long rc;

	if (n > __atomic_load_n(&a->nofile[0], __ATOMIC_RELAXED))
		return -EINVAL; /* (more than RLIMIT_NOFILE, as Linux says) */
	if (!(w = kcalloc(1, sizeof(*w))))
		return -ENOMEM;
	if (!(p = kmalloc(n * sizeof(*p))) || io_wait_room(w, (unsigned)n)) {
		rc = -ENOMEM;
	} else if (copy_from_app(p, fds, n * sizeof(p[0]))) {
		rc = -EFAULT;
	} else {
		w->n = (unsigned)n;
		w->pick = pick_any;
		for (uint64_t i = 0; i < n; i++)
			w->it[i] = (struct io_item){.fd = p[i].fd, .events = p[i].events,
						    .file = -1};
		rc = io_wait(a, w, deadline);
		for (uint64_t i = 0; i < n; i++)
			p[i].revents = w->it[i].revents;
		if (rc >= 0 && copy_to_app(fds, p, n * sizeof(p[0])))
			rc = -EFAULT;
	}
	io_wait_free(w);
	kfree(w);
	kfree(p);
	return rc;
}

long hp_poll(struct app *a, uint64_t fds, uint64_t n, int64_t timeout_ms)
{
	return poll_until(a, fds, n, deadline_ms(timeout_ms));
}

struct timespec_ {
	int64_t sec, nsec;
};

/* a relative timeout: its deadline, or -EINVAL / -EFAULT; NULL waits for ever */
static long deadline_ts(uint64_t ts, bool usec, uint64_t *deadline)
{
	struct timespec_ t;

	*deadline = NO_DEADLINE;
	if (!ts)
		return 0;
	if (copy_from_app(&t, ts, sizeof(t)))
		return -EFAULT;
	int64_t unit = usec ? 1000 : 1, max = usec ? 1000000 : 1000000000;

	if (t.sec < 0 || t.nsec < 0 || t.nsec >= max)
		return -EINVAL;
	if ((uint64_t)t.sec < 100ull * 365 * 86400) /* (longer: for ever, as good as) */
		*deadline = clock_ns() + (uint64_t)t.sec * 1000000000 + (uint64_t)(t.nsec * unit);
	return 0;
}

long hp_ppoll(struct app *a, uint64_t fds, uint64_t n, uint64_t ts)
{
	uint64_t deadline;
	long rc = deadline_ts(ts, false, &deadline);

	/* (the signal mask for the wait: set by the caller, hp_sig_mask_swap) */
	return rc ? rc : poll_until(a, fds, n, deadline);
}

long hp_select(struct app *a, uint64_t nfds, uint64_t r, uint64_t wr, uint64_t e, uint64_t tv,
	       bool pselect)
{
	uint64_t set[3][16] = {{0}}, deadline; /* 1024 bits each: FD_SETSIZE */
	uint64_t ptr[3] = {r, wr, e};
	long rc;

	if ((int64_t)(int32_t)nfds < 0 || nfds > 1024)
		return -EINVAL;
	size_t bytes = (nfds + 63) / 64 * 8;

	for (int k = 0; k < 3; k++)
		if (ptr[k] && copy_from_app(set[k], ptr[k], bytes))
			return -EFAULT;
	if ((rc = deadline_ts(tv, !pselect, &deadline)))
		return rc;
	struct io_wait *w = kcalloc(1, sizeof(*w));

	if (!w || io_wait_room(w, (unsigned)nfds + 1)) {
		kfree(w);
		return -ENOMEM;
	}
	w->pick = pick_any;
	for (uint64_t fd = 0; fd < nfds; fd++) {
		bool in = set[0][fd / 64] >> (fd % 64) & 1, out = set[1][fd / 64] >> (fd % 64) & 1,
		     ex = set[2][fd / 64] >> (fd % 64) & 1;

		if (!in && !out && !ex)
			continue;
		if (!hp_fd(a, fd)) {
			io_wait_free(w);
			kfree(w);
			return -EBADF;
		}
		w->it[w->n++] = (struct io_item){.fd = (int)fd,
						 .events = (short)((in ? POLLIN : 0) |
								   (out ? POLLOUT : 0)),
						 .file = -1};
	}
	rc = io_wait(a, w, deadline);
	memset(set, 0, sizeof(set));
	long bits = 0;

	for (unsigned i = 0; rc > 0 && i < w->n; i++) {
		struct io_item *it = &w->it[i];
		uint64_t bit = 1ull << (it->fd % 64);

		/* readable: data, end of file or an error; writable: room or an error */
		if ((it->events & POLLIN) && (it->revents & (POLLIN | POLLHUP | POLLERR))) {
			set[0][it->fd / 64] |= bit;
			bits++;
		}
		if ((it->events & POLLOUT) && (it->revents & (POLLOUT | POLLERR))) {
			set[1][it->fd / 64] |= bit;
			bits++;
		}
	}
	io_wait_free(w);
	kfree(w);
	if (rc < 0)
		return rc;
	for (int k = 0; k < 3; k++)
		if (ptr[k] && copy_to_app(ptr[k], set[k], bytes))
			return -EFAULT;
	return bits;
}

/* --- epoll ----------------------------------------------------------------------------- */

struct epoll_event_ {
	uint32_t events;
	uint64_t data;
} __attribute__((packed)); /* x86-64's layout: 12 bytes */

long hp_epoll_create(struct app *a, uint64_t flags)
{
	if (flags & ~(uint64_t)O_CLOEXEC_)
		return -EINVAL;
	struct app_epoll *ep = kcalloc(1, sizeof(*ep));

	if (!ep)
		return -ENOMEM;
	ep->refs = 1;
	mutex_init(&ep->lock);
	int fd = hp_fd_alloc(a, FD_EPOLL);

	if (fd < 0) {
		kfree(ep);
		return fd;
	}
	a->cloexec[fd] = (flags & O_CLOEXEC_) != 0;
	__atomic_store_n(&hp_fd(a, (uint64_t)fd)->ep, ep, __ATOMIC_RELEASE);
	return fd;
}

static struct app_epoll *ep_hold(struct app *a, uint64_t epfd, long *err)
{
	struct app_epoll *ep = NULL;

	mutex_lock(&a->top->fd_lock, NO_DEADLINE);
	struct app_fd *f = hp_fd(a, epfd);

	*err = !f ? -EBADF : -EINVAL;
	if (f && f->kind == FD_EPOLL && (ep = f->ep))
		__atomic_add_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL);
	mutex_unlock(&a->top->fd_lock);
	return ep;
}

static void ep_put(struct app_epoll *ep)
{
	if (__atomic_sub_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		kfree(ep->it);
		kfree(ep);
	}
}

/* (ep's lock held) whether an item's descriptor still names the description it was added
 * with; Linux drops an item when that description closes, and so do we, here */
static bool ep_live(struct app *a, const struct ep_item *it)
{
	int file = __atomic_load_n(&a->fd[it->fd], __ATOMIC_ACQUIRE);

	return file == it->file && file >= 0 && hp_file(a, file)->kind != FD_FREE &&
	       hp_file(a, file)->opens == it->opens;
}

static void ep_prune(struct app *a, struct app_epoll *ep)
{
	for (unsigned i = 0; i < ep->n;)
		if (!ep_live(a, &ep->it[i]))
			ep->it[i] = ep->it[--ep->n];
		else
			i++;
}

/* (ep's lock held) room for more items: 0 or -ENOMEM */
static long ep_grow(struct app_epoll *ep)
{
	unsigned cap = ep->cap ? 2 * ep->cap : 16;
	struct ep_item *it = kmalloc(cap * sizeof(*it));

	if (!it)
		return -ENOMEM;
	if (ep->n)
		memcpy(it, ep->it, ep->n * sizeof(*it));
	kfree(ep->it);
	ep->it = it;
	ep->cap = cap;
	return 0;
}

static struct ep_item *ep_find(struct app_epoll *ep, int fd)
{
	for (unsigned i = 0; i < ep->n; i++)
		if (ep->it[i].fd == fd)
			return &ep->it[i];
	return NULL;
}

long hp_epoll_ctl(struct app *a, uint64_t epfd, uint64_t op, uint64_t fd, uint64_t evp)
{
	struct epoll_event_ ev = {0, 0};
	long rc;
	struct app_epoll *ep = ep_hold(a, epfd, &rc);

	if (!ep)
		return rc;
	struct app_fd *f = hp_fd(a, fd);

	if (op != EPOLL_CTL_DEL && copy_from_app(&ev, evp, sizeof(ev)))
		rc = -EFAULT;
	else if (!f)
		rc = -EBADF;
	else if (fd == epfd || f->kind == FD_EPOLL)
		rc = -EINVAL; /* (an epoll set inside another is not supported) */
	else if (f->kind == FD_FILE || f->kind == FD_NULL || f->kind == FD_DISK)
		rc = -EPERM; /* as Linux: regular files, /dev/null and disks cannot be polled */
	else if (op < EPOLL_CTL_ADD || op > EPOLL_CTL_MOD)
		rc = -EINVAL;
	else
		rc = 0;
	if (rc) {
		ep_put(ep);
		return rc;
	}
	mutex_lock(&ep->lock, NO_DEADLINE);
	ep_prune(a, ep);
	struct ep_item *it = ep_find(ep, (int)fd);

	if (op == EPOLL_CTL_ADD) {
		if (it) {
			rc = -EEXIST;
		} else if ((ev.events & EPOLLEXCLUSIVE_) &&
			   (ev.events & EPOLLONESHOT_)) {
			rc = -EINVAL;
		} else {
			int file = a->fd[fd];

			if (file < 0) {
				rc = -EBADF;
			} else if (ep->n == ep->cap && (rc = ep_grow(ep))) {
				/* (no memory for a bigger set: -ENOMEM) */
			} else {
				ep->it[ep->n++] = (struct ep_item){
				    .fd = (int)fd,
				    .file = file,
				    .opens = hp_file(a, file)->opens,
				    .events = ev.events & ~(uint32_t)EPOLLWAKEUP_,
				    .data = ev.data,
				};
			}
		}
	} else if (!it) {
		rc = -ENOENT;
	} else if (op == EPOLL_CTL_DEL) {
		*it = ep->it[--ep->n];
	} else if ((ev.events & EPOLLEXCLUSIVE_) || (it->events & EPOLLEXCLUSIVE_)) {
		rc = -EINVAL; /* (as Linux: an exclusive item cannot be modified) */
	} else {
		it->events = ev.events & ~(uint32_t)EPOLLWAKEUP_;
		it->data = ev.data;
		it->reported = it->off = false;
	}
	mutex_unlock(&ep->lock);
	ep_put(ep);
	if (!rc)
		hp_io_wake_all(a); /* a wait on the set looks again, at the new set */
	return rc;
}

/* epoll_wait's look: the set as it is now (0, or -ENOMEM: no room for it) */
static long ep_fill(struct app *a, struct io_wait *w)
{
	struct app_epoll *ep = w->ep;

	mutex_lock(&ep->lock, NO_DEADLINE);
	ep_prune(a, ep);
	w->n = 0;
	if (io_wait_room(w, ep->n)) {
		mutex_unlock(&ep->lock);
		return -ENOMEM;
	}
	w->n = ep->n;
	for (unsigned i = 0; i < ep->n; i++)
		w->it[i] = (struct io_item){.fd = ep->it[i].fd,
					    .events = (short)(ep->it[i].events & 0xffff),
					    .file = ep->it[i].file,
					    .opens = ep->it[i].opens};
	mutex_unlock(&ep->lock);
	return 0;
}

/* (ep's lock held) what item i reports now: 0 for nothing. Edge triggered: only when its
 * events count moved since it was last reported. */
static uint32_t ep_report(const struct ep_item *e, const struct io_item *it)
{
	uint32_t r = (uint16_t)it->revents & (e->events | EPOLLERR_ | EPOLLHUP_);

	if (e->off || !r || it->revents == POLLNVAL_)
		return 0;
	if ((e->events & EPOLLET_) && e->reported && e->gen == it->gen)
		return 0;
	return r;
}

/* whether a look (it) was at this item: the same descriptor and description */
static bool ep_same(const struct ep_item *e, const struct io_item *it)
{
	return e->fd == it->fd && e->file == it->file && e->opens == it->opens;
}

static unsigned ep_pick(struct io_wait *w)
{
	unsigned n = 0;

	mutex_lock(&w->ep->lock, NO_DEADLINE);
	for (unsigned i = 0; i < w->n && i < w->ep->n && n < w->max; i++)
		n += ep_same(&w->ep->it[i], &w->it[i]) && ep_report(&w->ep->it[i], &w->it[i]);
	mutex_unlock(&w->ep->lock);
	return n;
}

long hp_epoll_wait(struct app *a, uint64_t epfd, uint64_t evs, uint64_t max, int64_t timeout_ms)
{
	long rc;

	if ((int64_t)max <= 0 || max > INT32_MAX / sizeof(struct epoll_event_))
		return -EINVAL;
	if (!app_range(evs, max * sizeof(struct epoll_event_)))
		return -EFAULT;
	struct app_epoll *ep = ep_hold(a, epfd, &rc);

	if (!ep)
		return rc;
	/* (at most APP_FDS_MAX events at once: a set holds no more items) */
	struct io_wait *w = kcalloc(1, sizeof(*w));
	struct epoll_event_ *out = kmalloc(MIN(max, APP_FDS_MAX) * sizeof(*out));

	if (!w || !out) {
		kfree(w);
		kfree(out);
		ep_put(ep);
		return -ENOMEM;
	}
	w->fill = ep_fill;
	w->pick = ep_pick;
	w->ep = ep;
	w->max = (unsigned)MIN(max, APP_FDS_MAX);
	unsigned n = 0;
	uint64_t deadline = deadline_ms(timeout_ms);

	while (!n && (rc = io_wait(a, w, deadline)) > 0) {
		/* what the pick found, taken under the set's lock (another thread's
		 * epoll_ctl or epoll_wait since may leave nothing: then wait again) */
		mutex_lock(&ep->lock, NO_DEADLINE);
		for (unsigned i = 0; i < w->n && i < ep->n && n < w->max; i++) {
			struct ep_item *e = &ep->it[i];
			uint32_t r = ep_same(e, &w->it[i]) ? ep_report(e, &w->it[i]) : 0;

			if (!r)
				continue;
			out[n++] = (struct epoll_event_){r, e->data};
			e->reported = true;
			e->gen = w->it[i].gen;
			if (e->events & EPOLLONESHOT_)
				e->off = true;
		}
		mutex_unlock(&ep->lock);
		rc = n;
	}
	io_wait_free(w);
	kfree(w);
	ep_put(ep);
	if (n && copy_to_app(evs, out, n * sizeof(out[0])))
		rc = -EFAULT;
	kfree(out);
	return rc;
}
