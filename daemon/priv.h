/* The serving process's side of its privileged helper (helper.h): a connection per event
 * loop. Binding a socket, reloading, saying hello and ending every program are calls that
 * wait for the helper's answer; starting and signalling a program are sent without waiting,
 * and what becomes of programs (started, failed, exited, found running after a restart)
 * comes back as events, on the loop that owns the connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "privsep.h"

struct loop;
struct priv;

/* A program event: msg->type is PRIVSEP_STARTED, PRIVSEP_FAILED, PRIVSEP_EXITED or (during
 * priv_hello) PRIVSEP_RUNNING. */
typedef void priv_event_fn(void *ctx, const struct privsep_msg *msg);

/* The helper: connected at path (systemd's socket: $MINETD_HELPER), or started by this
 * process (by hand) with config_path. Its events reach fn on loop. 0 or -errno. */
int priv_open(struct loop *loop, const char *path, const char *config_path, struct priv **out);
/* One more connection, for another event loop (made on the calling one, which must be
 * main's loop); its events reach fn on that loop once priv_watch has run there. */
int priv_attach(struct priv *main, struct priv **out);
/* Where the events of p go: fn(ctx, ...) on loop. 0 or -errno. */
int priv_watch(struct priv *p, struct loop *loop, priv_event_fn *fn, void *ctx);
/* fn(ctx), on p's loop, once the helper's end of p is gone (it stopped, or failed). */
void priv_on_end(struct priv *p, void (*fn)(void *ctx), void *ctx);
void priv_close(struct priv *p);
/* Started as root by hand (an init script, sudo): once the helper it started holds root's
 * part, the serving process becomes MINETD_USER (else nobody), with no supplementary
 * groups, no capabilities and no way back (no_new_privs). 0 with *user set (NULL when
 * it was not root), or -errno. */
int priv_drop_root(const char **user);

/* Calls, each waiting for the helper's answer (a few seconds at most): 0, or -errno with
 * the helper's reason in why (PRIVSEP_TEXT_MAX + 1 bytes) when there is one. */
/* The first: the programs running for an earlier serving process come as RUNNING events,
 * dispatched by the loop after the call. */
int priv_hello(struct priv *p, char *why);
int priv_reload(struct priv *p, char *why);
/* *family: 0, or AF_INET6 or AF_INET for one family of a service on every address; on
 * return, AF_INET6 where only IPv6 could be had for every address (listen_bind()). */
int priv_bind(struct priv *p, const char *service, unsigned proto, unsigned addr_index, unsigned loop,
	      unsigned loops, int *family, struct sockaddr_storage *bound, int *fd, char *why);
int priv_end_all(struct priv *p);

/* Sent without waiting: a program for service; the answer comes as an event. The
 * descriptors stay the caller's. 0 or -errno. */
int priv_spawn(struct priv *p, uint64_t id, const char *service, unsigned proto, enum privsep_stdio stdio,
	       const struct sockaddr_in6 *peer, const struct sockaddr_storage *local, const int *fds, size_t n);
void priv_signal(struct priv *p, uint64_t id, int sig);
