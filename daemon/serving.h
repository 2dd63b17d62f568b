/* The server of one event loop: its services as they run (clients, counters), their
 * listeners, and what the TCP and UDP paths share within the loop. server.c applies a
 * config to it; conn.c and udp.c serve with it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "listen.h"
#include "proto.h"
#include "limits.h"
#include "log.h"
#include "loop.h"

#define CONN_BUF_SIZE (16 * 1024)       /* the most a TCP client can have in flight */
#define SCRATCH_SIZE (64 * 1024)        /* a whole datagram */
#define SPARE_BUFS 64                   /* CONN_BUF_SIZE buffers kept for reuse */
#define BROADCASTS_MAX 32
#define DATAGRAM_OVERHEAD 64    /* what a UDP reply costs beyond its payload, so empty ones count */
/* What a restart leaves in systemd's file descriptor store (fdstore.c), by FDNAME= prefix. */
#define STORED_PREFIX "minetd."
#define STORED_LISTENER "minetd.listen."        /* a socket minetd bound itself */
#define STORED_CONN "minetd.conn."              /* a client connection */
#define STORED_STATE "minetd.state."            /* a memfd with the connections' state */

struct config;
struct conn;
struct program;
struct service;
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
	const struct service *service;  /* in the current config; NULL until a new one is applied */
	struct conn *conns;
	struct counters counters;
	unsigned programs;              /* exec: running now, started by this loop */
	/* per_second handlers: this second's reply, for the service it was made for */
	const struct service *reply_for;
	time_t reply_at;
	size_t reply_len;
	uint8_t reply[DAYTIME_MAX];
	bool keep;                      /* scratch flag while a config is applied */
	char failure[96];               /* why one of its sockets could not be had, or "" */
};

struct listener {
	struct loop_io io;
	struct server *server;
	struct active_service *owner;
	int type;                       /* SOCK_STREAM or SOCK_DGRAM */
	bool inherited;
	bool shared;                    /* another loop's inherited socket: not ours to close */
	bool paused;                    /* out of file descriptors: accept later */
	bool polling;                   /* under load: looked at every ACCEPT_POLL_USEC (conn.c) */
	uint64_t clients_usec;          /* when a look last found clients */
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
	struct inherited_socket *stored;        /* what the last run left in systemd's store */
	size_t n_stored;
	uint8_t *scratch;               /* SCRATCH_SIZE: one read, one reply */
	void *free_bufs[SPARE_BUFS];    /* conn.c's */
	size_t n_free_bufs;
	struct udp_batch *udp;          /* udp.c's */
	struct log_ratelimit client_log;
	struct program *programs;       /* exec: running, programs.c's */
	void *spawn_stack;              /* programs.c's */
	struct log_ratelimit program_log;       /* what programs write to stderr, how they end */
	/* against hostile clients */
	struct client_registry *clients;        /* shared by every loop, UDP budgets too */
	unsigned loops;                 /* more than one: SO_REUSEPORT */
	int fd_limit;                   /* clients' descriptors stay below it: the rest is minetd's */
	uint64_t refused_ports[65536 / 64];     /* UDP source ports never answered */
	uint32_t broadcasts[BROADCASTS_MAX];    /* of the interfaces, host order: forged sources */
	size_t n_broadcasts;
	unsigned loopback_ifindex;
};

struct reply_input;
/* The service's reply to in, written to out (cap bytes): its handler's, or the one made
 * already this second. Returns its length, or -1 when nothing is sent. */
ssize_t serving_reply(struct active_service *as, const struct reply_input *in, uint8_t *out, size_t cap);
/* Counts a refused client and logs it at a bounded rate. */
void serving_refuse(struct server *server, struct active_service *as, const char *protocol,
		    const struct sockaddr *peer, const char *reason);
/* A UDP reply of reply bytes to a request of request bytes from peer: NULL when the
 * amplification rule and the budgets let it go (and charged to them), else why not. */
const char *serving_reply_refusal(struct server *server, const struct sockaddr_in6 *peer, size_t request,
				  size_t reply, uint64_t now);
/* A TCP client past the access lists and the connection limits (NULL), or why not; its
 * handshake verified its address for UDP replies larger than the requests. */
const char *serving_admit(struct server *server, struct active_service *as, const struct sockaddr_in6 *peer);
/* The global and the service's access lists. */
bool serving_permits(const struct server *server, const struct active_service *as,
		     const struct in6_addr *addr);
