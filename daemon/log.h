/* Logging: the journal with structured fields, or stderr. A log call never waits for the output
 * once log_open has run: it queues its message, or drops and counts it when the queue is full. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

enum log_target { LOG_TARGET_AUTO, LOG_TARGET_JOURNAL, LOG_TARGET_STDERR };

/* The contract's MINETD_* fields; NULL strings and unset numbers are left out. */
struct log_fields {
	const char *service;
	const char *protocol;
	const char *peer;
	const char *reason;
	bool has_traffic;       /* bytes in/out and duration are meaningful */
	uint64_t bytes_in, bytes_out, duration_usec;
};

/* A budget of 'burst' messages per 'interval_usec', for what clients can trigger. */
struct log_ratelimit {
	uint64_t interval_usec;
	unsigned burst;
	const char *what;       /* "messages" when NULL: what the notice of suppressed ones counts */
	char service[65];       /* when not empty, the notice is that service's */
	uint64_t window_start;
	unsigned printed, suppressed;
};

int log_parse_target(const char *s, enum log_target *out);
/* Resolves auto: the journal when started by systemd, else stderr; starts the thread that
 * writes. Once, before other threads log; until then messages go to stderr at once. */
void log_open(enum log_target target);
/* After the last message (log_open also has it run at exit): waits a second at most for the
 * queue to be written, then leaves a writer stuck on its output to the exit. Messages after it
 * are written at once if the writer ended, else queued. */
void log_close(void);
bool log_to_journal(void);

/* From any thread; a child between fork and exec must not log. */
void log_full(int priority, const struct log_fields *fields, const char *file, int line,
	      const char *func, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* True when a message may be logged now; counts the ones it suppresses and reports them
 * once their window is over, with the next one that passes or at log_ratelimit_flush. */
bool log_ratelimit_pass(struct log_ratelimit *rl, uint64_t now);
/* Reports the ones suppressed in a window that is over, if any: call it now and then (a
 * tick), so that a notice never waits for a next message that may not come. */
void log_ratelimit_flush(struct log_ratelimit *rl, uint64_t now);

#define log_fields(prio, fields, ...) log_full(prio, fields, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error(...) log_fields(LOG_ERR, NULL, __VA_ARGS__)
#define log_warning(...) log_fields(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_fields(LOG_INFO, NULL, __VA_ARGS__)
