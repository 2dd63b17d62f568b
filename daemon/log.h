/* Logging: the journal with structured fields, or stderr. */
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
	uint64_t window_start;
	unsigned printed, suppressed;
};

int log_parse_target(const char *s, enum log_target *out);
/* Resolves auto: the journal when started by systemd, else stderr. */
void log_open(enum log_target target);
bool log_to_journal(void);

void log_full(int priority, const struct log_fields *fields, const char *file, int line,
	      const char *func, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* True when a message may be logged now; counts the ones it suppresses and reports them
 * with the next one that passes. */
bool log_ratelimit_pass(struct log_ratelimit *rl, uint64_t now);

#define log_fields(prio, fields, ...) log_full(prio, fields, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error(...) log_fields(LOG_ERR, NULL, __VA_ARGS__)
#define log_warning(...) log_fields(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_fields(LOG_INFO, NULL, __VA_ARGS__)
