#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 256

struct released {
	void *ptr;
	void (*free_fn)(void *ptr);
};

struct loop {
	int epfd;
	bool stopping;
	bool no_pwait2;                 /* before Linux 5.11: timeouts in milliseconds */
	struct loop_io *deferred;       /* loop_defer's calls to come */
	struct released *released;
	size_t n_released, cap_released;
};

static void free_released(struct loop *loop);

static uint32_t to_epoll(uint32_t events)
{
	return (events & LOOP_IN ? EPOLLIN : 0) | (events & LOOP_OUT ? EPOLLOUT : 0) |
	       (events & LOOP_EXCLUSIVE ? EPOLLEXCLUSIVE : 0);
}

int loop_new(struct loop **out)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int r = -errno;
		free(loop);
		return r;
	}
	*out = loop;
	return 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	free_released(loop);
	free(loop->released);
	close(loop->epfd);
	free(loop);
}

int loop_add(struct loop *loop, struct loop_io *io, int fd, uint32_t events, loop_io_fn *fn)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = io };

	io->fd = fd;
	io->fn = fn;
	io->timer = false;
	io->deferred = io->queued = false;
	io->events = events;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		io->fn = NULL;          /* not watched: loop_remove has nothing to do */
		return -errno;
	}
	return 0;
}

int loop_modify(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = io };

	if (io->events == events)
		return 0;
	if (io->deferred) {
		io->events = events;    /* watched so once fn has run */
		return 0;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

static void unqueue(struct loop *loop, struct loop_io *io)
{
	struct loop_io **p = &loop->deferred;

	while (*p != io)
		p = &(*p)->next_deferred;
	*p = io->next_deferred;
	io->queued = false;
}

void loop_remove(struct loop *loop, struct loop_io *io)
{
	if (io->queued)
		unqueue(loop, io);
	if (io->fn && !io->deferred)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->deferred = false;
	io->fn = NULL;
}

int loop_defer(struct loop *loop, struct loop_io *io, uint64_t due_usec)
{
	if (!io->deferred) {
		if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0)
			return -errno;
		io->deferred = true;
	}
	io->due_usec = due_usec;
	if (!io->queued) {
		io->next_deferred = loop->deferred;
		loop->deferred = io;
		io->queued = true;
	}
	return 0;
}

/* The deferred calls that are due, each unqueued before it runs: fn may defer or remove
 * any io. One that fn did not defer again is watched again. As many calls as there were
 * queued, so that one deferred to a time already past waits for the next pass. */
static void run_deferred(struct loop *loop)
{
	uint64_t now = now_usec();
	struct loop_io *io;
	int calls = 0;

	for (io = loop->deferred; io; io = io->next_deferred)
		calls++;
	while (calls-- > 0) {
		for (io = loop->deferred; io && io->due_usec > now; io = io->next_deferred)
			;
		if (!io)
			return;
		unqueue(loop, io);
		io->fn(loop, io, LOOP_IN);
		if (!io->fn || io->queued)
			continue;
		struct epoll_event ev = { .events = to_epoll(io->events), .data.ptr = io };
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) == 0)
			io->deferred = false;
		else
			loop_defer(loop, io, now + 1000);       /* no memory for epoll: later */
	}
}

/* Until an event comes, timeout_msec (-1: no limit) passes or the first deferred call is
 * due. */
static int loop_wait(struct loop *loop, struct epoll_event *evs, int timeout_msec)
{
	uint64_t due = UINT64_MAX, now, wait;

	for (struct loop_io *io = loop->deferred; io; io = io->next_deferred)
		if (io->due_usec < due)
			due = io->due_usec;
	if (due == UINT64_MAX)
		return epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout_msec);
	now = now_usec();
	wait = due > now ? due - now : 0;
	if (timeout_msec >= 0 && wait > (uint64_t)timeout_msec * 1000)
		wait = (uint64_t)timeout_msec * 1000;
	if (!loop->no_pwait2) {
		struct timespec ts = { .tv_sec = wait / 1000000, .tv_nsec = wait % 1000000 * 1000 };
		int n = epoll_pwait2(loop->epfd, evs, LOOP_BATCH, &ts, NULL);
		if (n >= 0 || (errno != ENOSYS && errno != EPERM))
			return n;
		loop->no_pwait2 = true;
	}
	return epoll_wait(loop->epfd, evs, LOOP_BATCH, (int)((wait + 999) / 1000));
}

int loop_release(struct loop *loop, void *ptr, void (*free_fn)(void *ptr))
{
	if (loop->n_released == loop->cap_released) {
		size_t cap = loop->cap_released ? loop->cap_released * 2 : 64;
		struct released *r = realloc(loop->released, cap * sizeof(*r));
		if (!r) {
			/* Better a leak than a use after free. */
			return -ENOMEM;
		}
		loop->released = r;
		loop->cap_released = cap;
	}
	loop->released[loop->n_released++] = (struct released){ ptr, free_fn };
	return 0;
}

static void free_released(struct loop *loop)
{
	for (size_t i = 0; i < loop->n_released; i++)
		loop->released[i].free_fn(loop->released[i].ptr);
	loop->n_released = 0;
}

int loop_add_timer(struct loop *loop, struct loop_io *io, uint64_t interval_usec, loop_io_fn *fn)
{
	struct itimerspec its = {
		.it_interval = { interval_usec / 1000000, (interval_usec % 1000000) * 1000 },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = loop_add(loop, io, fd, LOOP_IN, fn);
	if (r < 0)
		close(fd);
	io->timer = true;
	return r;
}

int loop_add_signals(struct loop *loop, struct loop_io *io, const int *signals, int n, loop_io_fn *fn)
{
	sigset_t mask;
	int fd, r;

	sigemptyset(&mask);
	for (int i = 0; i < n; i++)
		sigaddset(&mask, signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = loop_add(loop, io, fd, LOOP_IN, fn);
	if (r < 0)
		close(fd);
	return r;
}

int loop_read_signal(struct loop_io *io)
{
	struct signalfd_siginfo info;

	if (read(io->fd, &info, sizeof(info)) != sizeof(info))
		return 0;
	return (int)info.ssi_signo;
}

static void dispatch(struct loop *loop, struct loop_io *io, uint32_t ev)
{
	uint32_t events = 0;

	if (ev & EPOLLIN)
		events |= LOOP_IN;
	if (ev & EPOLLOUT)
		events |= LOOP_OUT;
	if (ev & (EPOLLERR | EPOLLHUP))
		events |= LOOP_ERR;
	if (io->fn == NULL)
		return;
	if (io->timer) {
		uint64_t expirations;
		if (read(io->fd, &expirations, sizeof(expirations)) < 0)
			return;
	}
	io->fn(loop, io, events);
}

int loop_dispatch(struct loop *loop, int timeout_msec)
{
	struct epoll_event evs[LOOP_BATCH];
	int n = loop_wait(loop, evs, timeout_msec);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !loop->stopping; i++)
		dispatch(loop, evs[i].data.ptr, evs[i].events);
	if (loop->deferred && !loop->stopping)
		run_deferred(loop);
	free_released(loop);
	return 0;
}

int loop_run(struct loop *loop)
{
	int r = 0;

	loop->stopping = false;
	while (!loop->stopping && r == 0)
		r = loop_dispatch(loop, -1);
	free_released(loop);
	return r;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = true;
}

uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
