/* What minetd loads, at its start and at each reload: its config, with a service for each
 * socket of systemd's named after a handler, and (at a reload) without the sockets whose
 * socket unit has stopped since (systemd is asked); then the helper loads it too, and
 * refuses it or not, before anything is applied. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_errors;
struct named_socket;
struct priv;
struct loader;

/* For path, with the sockets systemd passed (copied); ask_units: under systemd, where the
 * state of socket units can be asked at a reload. 0 or -ENOMEM. */
int loader_new(const char *path, const struct named_socket *sockets, size_t n, bool ask_units,
	       struct loader **out);
/* The connection a reload asks the helper on (the reload thread's own). */
void loader_set_helper(struct loader *loader, struct priv *priv);
/* At the start: the config alone. 0 and *out, or -errno with the problems in errors. */
int loader_load_start(struct loader *loader, struct config **out, struct config_errors *errors);
/* At a reload, on its thread (a reload_load_fn, ctx: the loader): the config, the sockets of
 * stopped units in its 'stopped' list, the helper's word. */
int loader_load(void *ctx, struct config **out, struct config_errors *errors);
/* Once a config is applied: its stopped sockets are closed, never passed again. */
void loader_forget_stopped(struct loader *loader, const struct config *config);
void loader_free(struct loader *loader);
