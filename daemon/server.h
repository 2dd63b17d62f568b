/* The server of one event loop: applies a config to it (which services run, on which
 * sockets, keeping the clients of those that stay), and sums up its counters. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "serving.h"

#define SERVER_TICK_USEC 1000000        /* server_tick() runs this often */

struct named_socket;

/* Its loops is for the caller to set before the first server_apply(). */
int server_new(struct loop *loop, struct client_registry *clients, struct server **out);
void server_free(struct server *server);

struct inherited_socket;
/* Takes the sockets of socket units that systemd passed (socks, n of them; their names are
 * the server's now); unmatched ones are closed once the first config is applied. Returns
 * how many, or -errno. */
int server_take_inherited(struct server *server, struct inherited_socket *socks, size_t n);
/* A socket minetd bound itself in an earlier run, back from systemd's store: kept (with its
 * queue of clients) when the first config still binds it, closed when not. 0 or -errno (fd
 * is still the caller's then). */
int server_adopt_listener(struct server *server, int fd, int type);
/* Serves the sockets another loop took from systemd too (that loop keeps owning them). */
int server_share_inherited(struct server *server, const struct server *owner);
/* The names and protocols of the sockets taken, for config_load(); *out is to free. */
size_t server_named_sockets(const struct server *server, struct named_socket **out);

/* Makes config the running one: opens what it adds, closes what it drops, keeps the rest
 * and its clients. On failure (logged) nothing changes and the caller still owns config. */
int server_apply(struct server *server, struct config *config, bool starting);

void server_stop(struct server *server);
/* Once a second: timeouts, paused listeners. */
void server_tick(struct server *server);
