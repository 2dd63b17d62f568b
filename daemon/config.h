/* The configuration: libconfig text in, plain immutable structs out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acl.h"

struct handler;

enum {
	PROTO_TCP = 1 << 0,
	PROTO_UDP = 1 << 1,
	PROTO_BOTH = PROTO_TCP | PROTO_UDP,
};

struct quote {
	char *text;             /* already formatted for the wire: CRLF line ends */
	size_t len;
};

struct service {
	char *name;
	const struct handler *handler;
	unsigned port;
	unsigned protocols;     /* PROTO_* */
	char *host;             /* as written; "" means every address */
	struct sockaddr_storage *addrs; /* resolved host, port not set; none when wildcard */
	size_t n_addrs;
	int line;               /* where it was defined, 0 when implicit */
	/* handler options */
	char *quotes_path;
	struct quote *quotes;
	size_t n_quotes;
	char *daytime_format;
	bool daytime_utc;
	struct acl acl;         /* checked after the global one */
	/* Replies given so far by every loop, for chargen's line and qotd's quote: the one
	 * thing that changes, through relaxed atomics. */
	uint64_t *replies;
};

/* TCP: what one client, and all of them, may hold. 0 means no limit for the times and bytes. */
struct tcp_limits {
	unsigned connections;
	unsigned connections_per_source;
	unsigned idle_timeout;          /* seconds without a byte either way */
	unsigned lifetime;              /* seconds */
	uint64_t bytes;                 /* in and out together */
};

/* UDP: what minetd answers, against reflection, amplification and loops. */
struct udp_policy {
	bool privileged_source_ports;   /* answer datagrams from source ports below 1024 */
	unsigned *loop_ports;           /* never answered, besides the small services' and our own */
	size_t n_loop_ports;
	unsigned amplification;         /* unverified sources: reply <= request × this ... */
	unsigned small_reply;           /* ... unless the reply is at most this many bytes */
	unsigned verified_time;         /* seconds a source that completed a TCP handshake is trusted */
	uint64_t source_rate, source_burst;     /* reply bytes per second for one source */
	uint64_t global_rate, global_burst;     /* reply bytes per second for everyone */
};

struct config {
	unsigned refs;          /* every event loop holds one */
	char *path;
	unsigned workers;       /* event loops, default 1; 0: one per CPU */
	char *host;
	bool log_connections;
	struct tcp_limits limits;
	struct udp_policy udp;
	struct acl acl;
	struct service *services;
	size_t n_services;
};

/* Problems found while loading, each "FILE:LINE: message". */
struct config_errors {
	char **lines;
	size_t n;
};

/* Parses and validates path completely. Returns 0 and *out, or -EINVAL (or -ENOMEM) with
 * every problem found appended to errors. */
int config_load(const char *path, struct config **out, struct config_errors *errors);
struct config *config_ref(struct config *config);
/* Drops a reference; the last one frees it. */
void config_free(struct config *config);
const struct service *config_find_service(const struct config *config, const char *name);

/* A service for a socket named after a handler with no entry in the config. */
int service_new_implicit(const char *handler_name, struct service **out, struct config_errors *errors);
void service_free(struct service *service);
uint64_t service_replies(const struct service *service);
void service_count_reply(const struct service *service);

void config_errors_clear(struct config_errors *errors);
