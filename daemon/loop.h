/* The event loop: the only module that knows epoll. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The struct that holds member, from a pointer to it: how a callback finds the owner of
 * its loop_io. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct loop;
struct loop_io;

typedef void loop_io_fn(struct loop *loop, struct loop_io *io, uint32_t events);

/* Embedded in whatever owns the file descriptor. */
struct loop_io {
	int fd;
	uint32_t events;        /* what is registered now */
	bool timer;
	loop_io_fn *fn;         /* NULL once removed: events still queued are dropped */
	bool deferred;          /* loop_defer: out of epoll until fn has run */
	bool queued;            /* in the loop's list of deferred calls */
	uint64_t due_usec;
	struct loop_io *next_deferred;
};

enum {
	LOOP_IN = 1 << 0,
	LOOP_OUT = 1 << 1,
	LOOP_ERR = 1 << 2,      /* error or hang-up, reported whatever was asked */
	LOOP_EXCLUSIVE = 1 << 3,/* with loop_add only: of several loops watching one fd, wake one */
};

int loop_new(struct loop **out);
void loop_free(struct loop *loop);

/* All return 0 or -errno; io->fn is set only while io is watched. */
int loop_add(struct loop *loop, struct loop_io *io, int fd, uint32_t events, loop_io_fn *fn);
int loop_modify(struct loop *loop, struct loop_io *io, uint32_t events);
/* Takes io out of epoll, before its fd is closed: close() alone does not, while another
 * copy of the descriptor table (a spawned child until its exec) holds the file, and epoll
 * would go on reporting events for io after it is freed. Events already fetched for it
 * are dropped. */
void loop_remove(struct loop *loop, struct loop_io *io);
/* Takes io out of epoll until due_usec (now_usec()'s clock): fn then runs once (with
 * LOOP_IN) whether or not io is ready, and io is watched again after it unless fn deferred
 * it once more. Under load, a look every so often costs fewer wake-ups than a wake-up per
 * event. */
int loop_defer(struct loop *loop, struct loop_io *io, uint64_t due_usec);
/* Frees ptr once the events already fetched are dispatched, so that they never reach
 * freed memory. The io inside must have been removed. */
int loop_release(struct loop *loop, void *ptr, void (*free_fn)(void *ptr));

/* A periodic timer; fn runs every interval_usec. */
int loop_add_timer(struct loop *loop, struct loop_io *io, uint64_t interval_usec, loop_io_fn *fn);
/* Signals delivered to fn through a signalfd; they are blocked for the process. */
int loop_add_signals(struct loop *loop, struct loop_io *io, const int *signals, int n, loop_io_fn *fn);
/* Reads the pending signal of a signalfd io; returns its number, or 0 when there is none. */
int loop_read_signal(struct loop_io *io);

/* Runs until loop_stop; returns 0 or -errno. */
int loop_run(struct loop *loop);
/* One round: waits up to timeout_msec (-1: for ever) for events, dispatches them and frees
 * what was released meanwhile; 0 or -errno. */
int loop_dispatch(struct loop *loop, int timeout_msec);
void loop_stop(struct loop *loop);

uint64_t now_usec(void);        /* CLOCK_MONOTONIC */
