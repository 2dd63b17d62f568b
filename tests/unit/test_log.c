/* Logging: a log call never waits for its output, and what it drops it says. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

#define THREADS 4
#define MESSAGES 5000           /* per thread: 20,000 lines, about 800 KB, far more than the queue */
#define CALL_MAX_USEC 50000     /* generous: a call takes microseconds */
#define CLOSE_MAX_USEC 1500000  /* log_close waits a second for a writer stuck on a full pipe */
#define END_LINE "minetd: info: written at once\n"

/* stderr into a pipe that is read only from capture_read on. */
struct capture {
	int saved_stderr, pipe[2];
	pthread_t reader;
	char *text;
	size_t size;
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void capture_start(struct capture *c)
{
	*c = (struct capture){ .saved_stderr = dup(STDERR_FILENO) };
	assert_true(c->saved_stderr >= 0);
	assert_int_equal(pipe(c->pipe), 0);
	assert_int_equal(dup2(c->pipe[1], STDERR_FILENO), STDERR_FILENO);
}

static void *read_all(void *arg)
{
	struct capture *c = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(c->pipe[0], buf, sizeof(buf))) > 0) {
		c->text = realloc(c->text, c->size + (size_t)n + 1);
		memcpy(c->text + c->size, buf, (size_t)n);
		c->size += (size_t)n;
		c->text[c->size] = '\0';
	}
	return NULL;
}

static void capture_read(struct capture *c)
{
	assert_int_equal(pthread_create(&c->reader, NULL, read_all, c), 0);
}

/* stderr back, and all that was written; the caller frees it. */
static char *capture_end(struct capture *c)
{
	dup2(c->saved_stderr, STDERR_FILENO);
	close(c->saved_stderr);
	close(c->pipe[1]);
	pthread_join(c->reader, NULL);
	close(c->pipe[0]);
	return c->text ? c->text : strdup("");
}

static pthread_barrier_t start_together;

struct logger {
	pthread_t thread;
	int id;
	uint64_t slowest_usec;
};

/* Like an event loop, a thread logs between other work: it is not a CPU hog that the scheduler
 * would stop while it holds the log's lock, which would make a call look slow. */
static void *log_many(void *arg)
{
	struct logger *l = arg;

	pthread_barrier_wait(&start_together);
	for (int i = 0; i < MESSAGES; i++) {
		uint64_t start = now_usec();
		log_info("thread %d message %d", l->id, i);
		uint64_t took = now_usec() - start;
		if (took > l->slowest_usec)
			l->slowest_usec = took;
		if (i % 10 == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	return NULL;
}

/* Every line is a thread's message, in that thread's order, or says how many were dropped. */
static void count_lines(char *text, int *logged, unsigned long *dropped)
{
	int next[THREADS] = { 0 }, t, i, end;
	unsigned long n;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		end = 0;
		if (sscanf(line, "minetd: info: thread %d message %d%n", &t, &i, &end) == 2 && !line[end]) {
			assert_true(t >= 0 && t < THREADS && i >= next[t]);
			next[t] = i + 1;
			(*logged)++;
		} else if (sscanf(line, "minetd: warning: %lu log messages dropped%n", &n, &end) == 1 &&
			   !line[end]) {
			*dropped += n;
		} else {
			fail_msg("unexpected line '%s'", line);
		}
	}
}

/* Threads log far more than the queue and the pipe hold while nobody reads: no call waits,
 * log_close gives up after a second; once the pipe is read, every message is there or counted
 * as dropped, and later messages are written at once. */
/* The slowest call, of MESSAGES from each of THREADS threads; they start together, so that
 * making a thread (its stack, ASan's shadow of it) does not hold up the others' calls. */
static uint64_t log_from_threads(void)
{
	struct logger loggers[THREADS];
	uint64_t slowest = 0;

	pthread_barrier_init(&start_together, NULL, THREADS);
	for (int t = 0; t < THREADS; t++) {
		loggers[t] = (struct logger){ .id = t };
		assert_int_equal(pthread_create(&loggers[t].thread, NULL, log_many, &loggers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(loggers[t].thread, NULL);
		slowest = loggers[t].slowest_usec > slowest ? loggers[t].slowest_usec : slowest;
	}
	pthread_barrier_destroy(&start_together);
	return slowest;
}

/* Threads log far more than the queue and the pipe hold while nobody reads: no call waits,
 * log_close gives up after a second; once the pipe is read, every message is there or counted
 * as dropped, and later messages are written at once. */
static void full_pipe_never_blocks_and_drops_are_counted(void **state)
{
	struct capture c;
	uint64_t start, slowest, first_close, second_close;
	unsigned long dropped = 0;
	int logged = 0;
	char *text;
	size_t size;

	(void)state;
	capture_start(&c);
	log_open(LOG_TARGET_STDERR);
	slowest = log_from_threads();
	start = now_usec();
	log_close();
	first_close = now_usec() - start;
	capture_read(&c);
	start = now_usec();
	log_close();
	second_close = now_usec() - start;
	log_info("written at once");      /* the writer has ended */
	text = capture_end(&c);

	print_message("slowest call %llu us, log_close %llu us on the full pipe, %llu us once read\n",
		      (unsigned long long)slowest, (unsigned long long)first_close,
		      (unsigned long long)second_close);
	assert_true(slowest < CALL_MAX_USEC);
	assert_true(first_close >= CLOSE_MAX_USEC / 2 && first_close < CLOSE_MAX_USEC); /* it gave up */
	assert_true(second_close < CLOSE_MAX_USEC);
	size = strlen(text);
	assert_true(size >= strlen(END_LINE));
	assert_string_equal(text + size - strlen(END_LINE), END_LINE);
	text[size - strlen(END_LINE)] = '\0';
	count_lines(text, &logged, &dropped);
	print_message("%d lines, %lu dropped\n", logged, dropped);
	assert_true(dropped > 0);
	assert_int_equal((unsigned long)logged + dropped, THREADS * MESSAGES);
	free(text);
}

/* The line of a message is the same, byte for byte, whether it is written at once (before
 * log_open, as for -t) or by the writer; a message is cut at 1023 bytes. */
static void lines_are_the_same_before_and_after_open(void **state)
{
	char long_message[2000], expected[3000];
	struct capture c;
	char *text;

	(void)state;
	memset(long_message, 'x', sizeof(long_message) - 1);
	long_message[sizeof(long_message) - 1] = '\0';
	snprintf(expected, sizeof(expected), "minetd: warning: at once 1\nminetd: error: %.1023s\n"
		 "minetd: warning: queued 2\nminetd: error: %.1023s\n", long_message, long_message);
	capture_start(&c);
	capture_read(&c);
	log_warning("at once %d", 1);
	log_error("%s", long_message);
	log_open(LOG_TARGET_STDERR);
	log_warning("queued %d", 2);
	log_error("%s", long_message);
	log_close();
	text = capture_end(&c);
	assert_string_equal(text, expected);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_pipe_never_blocks_and_drops_are_counted),
		cmocka_unit_test(lines_are_the_same_before_and_after_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
