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
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void loop_remove(struct loop *loop, struct loop_io *io)
{
	if (io->fn)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->fn = NULL;
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
	int n = epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout_msec);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !loop->stopping; i++)
		dispatch(loop, evs[i].data.ptr, evs[i].events);
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
