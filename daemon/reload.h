/* Loading a config for a running daemon: on a thread of its own, since a host name can keep
 * the resolver busy for seconds; the loop only applies what it loaded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_errors;
struct loop;
struct named_socket;
struct reload;

/* Runs on the loop once a load ends: config is NULL when it was refused; its problems are
 * logged by then, and in errors until done returns. */
typedef void reload_done_fn(void *ctx, struct config *config, const struct config_errors *errors);
/* Runs on the load's thread once config loaded: 0, or the number of problems it added to
 * errors (the config is refused then), or -errno. */
typedef int reload_then_fn(void *ctx, const struct config *config, struct config_errors *errors);

/* Loads path and adds a service for each of the sockets systemd passed that is named
 * after a handler. Returns 0 or -EINVAL/-ENOMEM, with the problems in errors. */
int reload_load(const char *path, const struct named_socket *sockets, size_t n, struct config **out,
		struct config_errors *errors);

/* Every load will add services for these sockets, then run then (when not NULL). Returns 0
 * or -errno. */
int reload_new(struct loop *loop, const char *path, const struct named_socket *sockets, size_t n,
	       reload_then_fn *then, reload_done_fn *done, void *ctx, struct reload **out);
/* Starts a load; returns 0 or -errno. Not while one runs. */
int reload_start(struct reload *reload);
bool reload_running(const struct reload *reload);
/* Waits a little for a load that runs; one that does not end in time is left to the
 * process's exit. */
void reload_free(struct reload *reload);
