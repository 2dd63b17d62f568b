/* One event loop's server as it runs: its services (their clients and counters), their
 * sockets, and the decisions that its TCP (tcp.c), UDP (udp.c) and program (programs.c)
 * paths share: who is admitted, who is refused, what a reply is, whether it may go out.
 * Each path keeps its own state behind an opaque pointer; server.c makes the server and
 * applies configs to it. */
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
#define DATAGRAM_OVERHEAD 64    /* what a UDP reply costs beyond its payload, so empty ones count */

struct config;
struct conn;
struct priv;
struct programs;
struct service;
struct tcp;
struct udp;

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
	struct conn *conns;             /* tcp.c's, served by this loop */
	struct counters counters;
	unsigned programs;              /* programs.c's: running now, started by this loop */
	struct log_ratelimit program_log;       /* programs.c's: lines its programs write to stderr */
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
	bool stopped;                   /* inherited: its socket unit has stopped; it closes */
	struct program *waiting;        /* a wait service's program, which has the socket now */
	bool polling;                   /* under load: looked at every ACCEPT_POLL_USEC (tcp.c) */
	uint64_t clients_usec;          /* when a look last found clients */
	const char *fd_name;            /* inherited: FileDescriptorName= */
	struct sockaddr_storage addr;   /* own: what it is bound to */
	bool ipv6_alone;                /* every address, [::] for IPv6 alone: IPv4's port was taken */
	char addr_text[ADDR_TEXT_MAX];
};

/* A socket of the config in force that could not be had (its port taken): bound later. */
struct unbound {
	struct active_service *as;
	int type;
	const struct sockaddr_storage *addr;    /* in the config; NULL: every address */
	int family;                     /* every address: 0 (both), or AF_INET alone */
};

struct server {
	struct loop *loop;
	struct config *config;
	struct active_service *services;
	struct listener **listeners;
	size_t n_listeners;
	struct unbound *unbound;
	size_t n_unbound;
	struct listener **inherited;    /* from systemd, kept for the whole run */
	size_t n_inherited;
	struct tcp *tcp;                /* tcp.c's: its buffers */
	struct udp *udp;                /* udp.c's: its batch, the sources it never answers */
	struct programs *programs;      /* programs.c's: the programs running */
	struct priv *priv;              /* this loop's connection to minetd-helper, or NULL */
	struct log_ratelimit client_log;        /* refused clients, failed replies */
	/* against hostile clients */
	struct client_registry *clients;        /* shared by every loop, UDP budgets too */
	unsigned loops;                 /* more than one: SO_REUSEPORT */
	unsigned loop_index;            /* which of them this one is, the main loop 0 */
	int fd_limit;                   /* clients' descriptors stay below it: the rest is minetd's */
};

/* A new one, for a service of a config that is about to be applied. */
struct active_service *serving_service_new(void);
/* Says that as runs service now. */
void serving_service_set(struct active_service *as, const struct service *service);

struct reply_input;
/* The service's reply to in, written to out (cap bytes): its handler's, or the one made
 * already this second. Returns its length, or -1 when nothing is sent. */
ssize_t serving_reply(struct active_service *as, const struct reply_input *in, uint8_t *out, size_t cap);
/* Whether a program (handler exec) answers the service's clients. */
bool serving_runs_program(const struct active_service *as);
/* Whether the service is inetd's "wait" kind: its socket is a program's, not minetd's. */
bool serving_waits(const struct active_service *as);
/* A wait service: its program takes its one socket (the main loop's alone, whatever
 * 'workers' says), and minetd watches it again when the program ends. */
bool serving_service_waits(const struct service *svc);
/* Counts a refused client (proto: PROTO_TCP or PROTO_UDP) and logs it at a bounded rate. */
void serving_refuse(struct server *server, struct active_service *as, unsigned proto,
		    const struct sockaddr *peer, const char *reason);
/* A UDP reply of reply bytes to a request of request bytes from peer: NULL when the
 * amplification rule and the budgets let it go (and charged to them), else why not. */
const char *serving_reply_refusal(struct server *server, const struct sockaddr_in6 *peer, size_t request,
				  size_t reply, uint64_t now);
/* A client that will hold a connection's place (a TCP connection, or a program it runs
 * over UDP) past the access lists and the connection limits: NULL, and its place is taken
 * until serving_release; or why not. A TCP handshake verifies the address for UDP
 * replies larger than the requests. */
const char *serving_admit(struct server *server, struct active_service *as, const struct sockaddr_in6 *peer,
			  unsigned proto);
void serving_release(struct server *server, const struct sockaddr_in6 *peer);
/* The global and the service's access lists. */
bool serving_permits(const struct server *server, const struct active_service *as,
		     const struct in6_addr *addr);

/* One reply: to whom, from which address (an IP_PKTINFO or IPV6_PKTINFO cmsg), what. */
struct udp_reply {
	const struct sockaddr_storage *to;
	socklen_t to_len;
	const void *control;
	size_t control_len;
	const uint8_t *data;
	size_t len;
};

/* Sends a UDP reply of as, past every check, through its socket bound to 'bound' now (or
 * another of its UDP sockets that reaches r->to, when a reload moved it), and counts it. */
void serving_udp_reply(struct server *server, struct active_service *as, const struct sockaddr_storage *bound,
		       const struct udp_reply *r);
/* Counts a UDP reply of len bytes that went out; logs one the kernel refused (errno says
 * why, at a bounded rate): it is dropped, as UDP allows. */
void serving_udp_sent(struct active_service *as, size_t len);
void serving_udp_failed(struct server *server, struct active_service *as, const void *to);

/* The counters of every loop's server (servers[0] the main loop's): one line for
 * systemd's STATUS=, and one journal line per service (SIGUSR1). */
void serving_status(struct server *const *servers, size_t n, char *buf, size_t len);
void serving_log_counters(struct server *const *servers, size_t n);
