/* Loading a config for a running daemon: on a thread of its own, since a host name can keep
 * the resolver busy for seconds (and systemd or the helper may be asked on the way); the
 * loop only applies what was loaded. */
#pragma once

#include <stdbool.h>

struct config;
struct config_errors;
struct loop;
struct reload;

/* Runs on the load's thread: 0 and *out, or -errno with the problems in errors. */
typedef int reload_load_fn(void *ctx, struct config **out, struct config_errors *errors);
/* Runs on the loop once a load ends: config is NULL when it was refused; its problems are
 * logged by then, and in errors until done returns. */
typedef void reload_done_fn(void *ctx, struct config *config, const struct config_errors *errors);

/* Each load runs load(ctx) on a thread, then done(ctx) on loop. 0 or -errno. */
int reload_new(struct loop *loop, const char *path, reload_load_fn *load, reload_done_fn *done, void *ctx,
	       struct reload **out);
/* Starts a load; returns 0 or -errno. Not while one runs. */
int reload_start(struct reload *reload);
bool reload_running(const struct reload *reload);
/* Waits a little for a load that runs; one that does not end in time is left to the
 * process's exit. */
void reload_free(struct reload *reload);
