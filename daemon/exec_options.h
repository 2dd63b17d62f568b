/* Handler "exec": an admin's own program answers, once per TCP connection (its stdin and
 * stdout) or per datagram (stdin the datagram, stdout the reply). Here only its options and
 * the checks made when the config is loaded; programs.c runs the programs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys.h"

/* What a program sees of the host. */
enum exec_sandbox {
	SANDBOX_NONE,           /* what a program of inetd sees: the network, /home, every file */
	SANDBOX_STRICT,         /* no network, a read-only file system, no /home, a /tmp of its own */
};

/* Where a program's stderr goes. */
enum exec_stderr {
	STDERR_JOURNAL,         /* a pipe minetd reads, line by line, into the journal */
	STDERR_CLIENT,          /* the connection, as inetd does (TCP; a wait service's socket) */
};

struct exec_options {
	struct string_list command;     /* an absolute path, then the arguments */
	char *argv0;                    /* its argv[0]; NULL: the path (inetd.conf's 'argv0' field) */
	char *user, *group;             /* whom it runs as; NULL: minetd's own */
	unsigned processes;             /* at most this many at once, per service */
	unsigned timeout;               /* seconds; then SIGTERM, then SIGKILL, to its group; 0: none */
	unsigned per_minute;            /* at most this many started in a minute; 0: no limit */
	bool wait;                      /* inetd's wait: the service's socket is the program's */
	unsigned stderr_to;             /* enum exec_stderr */
	unsigned sandbox;               /* enum exec_sandbox */
	unsigned *running;              /* programs running now, every event loop's (atomic) */
	struct exec_rate *rate;         /* per_minute's budget, every event loop's */
	/* worked out when loaded */
	bool switch_user;               /* minetd runs as root: become uid, gid, groups */
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int n_groups;
};

extern const struct key exec_keys[];
/* Its row's check and release (handlers.h); the check returns as every check does (keys.h). */
int exec_check(void *options, const struct config_place *at);
/* From now on, exec_check checks only what the serving process needs (an absolute path):
 * the helper, which runs the programs, checks their users and paths itself. */
void exec_leave_checks_to_helper(void);
/* From now on, exec_check checks as a helper that runs as root would (the serving process
 * started by hand as root, once it has given root up): users are required and resolved, and
 * paths checked by their mode bits, but for one it may not look at, which the helper
 * checks. */
void exec_check_for_root_helper(void);
void exec_release(void *options);
/* One more program of the service within per_minute (always, without a limit); now in
 * microseconds of CLOCK_MONOTONIC. From any event loop. */
bool exec_rate_take(const struct exec_options *options, uint64_t now);
