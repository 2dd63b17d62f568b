/* Event loops beyond the main one: a thread each, each with a server of its own that
 * binds its own SO_REUSEPORT sockets and shares systemd's, on the same config. */
#pragma once

struct config;
struct server;
struct workers;

/* Starts n more loops serving what main serves, their servers in servers[0..n). Returns 0
 * or -errno (logged). */
int workers_start(struct server *main, unsigned n, struct server **servers, struct workers **out);
/* Applies a config the main server took already; returns 0 or the first error. */
int workers_apply(struct workers *workers, struct config *config);
void workers_stop(struct workers *workers);
