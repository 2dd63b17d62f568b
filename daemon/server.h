/* The running server: the services of the current config, their sockets and clients. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "limits.h"
#include "listen.h"
#include "loop.h"
#include "log.h"

#define CONN_BUF_SIZE (16 * 1024)       /* the most a TCP client can have in flight */
#define SCRATCH_SIZE (64 * 1024)        /* a whole datagram */

struct config;
struct service;
struct conn;
struct udp_batch;

/* Written only by the loop that owns them, read by the main thread for STATUS= and
 * SIGUSR1: relaxed atomic stores and loads, which cost what plain ones do. */
struct counters {
	uint64_t tcp_accepted, tcp_active, tcp_refused;
	uint64_t udp_received, udp_replied, udp_refused;
	uint64_t bytes_in, bytes_out;
};

static inline void counter_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

static inline uint64_t counter_get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* A service of the config as it runs; it outlives reloads that keep its name and handler,
 * and with it its clients. */
struct active_service {
	struct active_service *next;
	const struct service *service;  /* in the current config, or 'implicit' */
	struct service *implicit;       /* owned: a socket named after a handler */
	struct conn *conns;
	struct counters counters;
	bool keep;                      /* scratch flag while a config is applied */
};

struct listener {
	struct loop_io io;
	struct server *server;
	struct active_service *owner;
	int type;                       /* SOCK_STREAM or SOCK_DGRAM */
	bool inherited;
	bool shared;                    /* another loop's inherited socket: not ours to close */
	bool paused;                    /* out of file descriptors: accept later */
	const char *fd_name;            /* inherited: FileDescriptorName= */
	struct sockaddr_storage addr;   /* own: what it is bound to */
	char addr_text[ADDR_TEXT_MAX];
};

struct server {
	struct loop *loop;
	struct config *config;
	struct active_service *services;
	struct listener **listeners;
	size_t n_listeners;
	struct listener **inherited;    /* from systemd, kept for the whole run */
	size_t n_inherited;
	uint8_t *scratch;               /* SCRATCH_SIZE: one read, one reply */
	struct udp_batch *udp;
	void **free_bufs;               /* spare CONN_BUF_SIZE buffers */
	size_t n_free_bufs;
	struct log_ratelimit client_log;
	/* against hostile clients */
	struct client_registry *clients;        /* shared by every loop */
	struct source_table sources;            /* UDP budgets, this loop's share */
	struct bucket udp_global;
	unsigned loops;                 /* more than one: SO_REUSEPORT, shared UDP rates */
	uint64_t refused_ports[65536 / 64];     /* UDP source ports never answered */
};

int server_new(struct loop *loop, struct client_registry *clients, unsigned loops, struct server **out);
void server_free(struct server *server);

/* Takes the sockets systemd passed; unmatched ones are closed once the first config is
 * applied. Returns how many, or -errno. */
int server_take_inherited(struct server *server);
/* Serves the sockets another loop took from systemd too (that loop keeps owning them). */
int server_share_inherited(struct server *server, const struct server *owner);

/* Makes config the running one: opens what it adds, closes what it drops, keeps the rest
 * and its clients. On failure (logged) nothing changes and the caller still owns config. */
int server_apply(struct server *server, struct config *config, bool starting);

void server_stop(struct server *server);
/* Over every loop's server. */
void server_log_counters(struct server *const *servers, size_t n);
void server_totals(struct server *const *servers, size_t n, struct counters *total, size_t *n_services);
/* Once a second: timeouts, paused listeners. */
void server_tick(struct server *server);

/* Buffers for output in flight. */
void *server_buf_take(struct server *server);
void server_buf_give(struct server *server, void *buf);

/* Counts a refused client and logs it at a bounded rate. */
void server_refuse(struct server *server, struct active_service *as, const char *protocol,
		   const struct sockaddr *peer, const char *reason);
/* The global and the service's access lists. */
bool server_permits(const struct server *server, const struct active_service *as, const struct in6_addr *addr);

/* conn.c */
void conn_accept(struct listener *listener);
void conn_close(struct conn *conn, const char *reason);
void conn_close_all(struct active_service *as, const char *reason);
/* Closes the connections that were idle, lived or moved more than the limits allow. */
void conn_enforce_limits(struct active_service *as, uint64_t now);

/* Stores an address as IPv6, IPv4 as mapped, for the tables and lists. */
void addr_to_in6(const struct sockaddr_storage *src, struct sockaddr_in6 *dst);

/* udp.c */
void udp_serve(struct listener *listener);
int udp_batch_new(struct udp_batch **out);
void udp_batch_free(struct udp_batch *batch);
