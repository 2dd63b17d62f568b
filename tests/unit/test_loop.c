/* The event loop's deferred calls (loop_defer): a deferred io is out of epoll until its call,
 * the call comes whether or not the io is ready, and the io is watched again after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"

struct watched {
	struct loop_io io;
	int pipe[2];
	int calls;
	int defer_calls;        /* the first this many calls defer the io again */
	struct watched *remove; /* removed by this one's first call */
};

static void on_io(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct watched *w = container_of(io, struct watched, io);
	char byte;

	assert_true(events & LOOP_IN);
	if (w->remove) {
		loop_remove(loop, &w->remove->io);
		w->remove = NULL;
	}
	/* The first call comes with nothing to read; each call leaves a byte for the next. */
	if (w->calls++ > 0)
		assert_int_equal(read(w->pipe[0], &byte, 1), 1);
	if (w->calls <= w->defer_calls)
		assert_int_equal(loop_defer(loop, io, now_usec()), 0);
	if (w->calls > w->defer_calls + 1)
		loop_stop(loop);
	else
		assert_int_equal(write(w->pipe[1], "x", 1), 1);
}

static void watched_open(struct loop *loop, struct watched *w)
{
	*w = (struct watched){ 0 };
	assert_int_equal(pipe(w->pipe), 0);
	assert_int_equal(loop_add(loop, &w->io, w->pipe[0], LOOP_IN, on_io), 0);
}

static void watched_close(struct watched *w)
{
	close(w->pipe[0]);
	close(w->pipe[1]);
}

static void call_comes_unready_and_then_epoll_watches_again(void **state)
{
	struct loop *loop;
	struct watched w;

	(void)state;
	assert_int_equal(loop_new(&loop), 0);
	watched_open(loop, &w);
	assert_int_equal(loop_defer(loop, &w.io, now_usec()), 0);
	assert_int_equal(loop_run(loop), 0);
	/* The deferred call, then epoll's for the byte it wrote. */
	assert_int_equal(w.calls, 2);
	watched_close(&w);
	loop_free(loop);
}

static void call_that_defers_again_is_called_again(void **state)
{
	struct loop *loop;
	struct watched w;

	(void)state;
	assert_int_equal(loop_new(&loop), 0);
	watched_open(loop, &w);
	/* Each of the first three calls defers to a time already past: out of epoll, the io
	 * gets three more calls, the last of which leaves it to epoll again. */
	w.defer_calls = 3;
	assert_int_equal(loop_defer(loop, &w.io, now_usec()), 0);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(w.calls, 5);
	watched_close(&w);
	loop_free(loop);
}

static void removed_io_gets_no_call(void **state)
{
	struct loop *loop;
	struct watched deferred, remover;

	(void)state;
	assert_int_equal(loop_new(&loop), 0);
	watched_open(loop, &deferred);
	watched_open(loop, &remover);
	assert_int_equal(loop_defer(loop, &deferred.io, now_usec()), 0);
	/* Ready at once: its event is dispatched before the deferred calls of the same pass. */
	remover.remove = &deferred;
	assert_int_equal(write(remover.pipe[1], "x", 1), 1);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(deferred.calls, 0);
	watched_close(&deferred);
	watched_close(&remover);
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(call_comes_unready_and_then_epoll_watches_again),
		cmocka_unit_test(call_that_defers_again_is_called_again),
		cmocka_unit_test(removed_io_gets_no_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
