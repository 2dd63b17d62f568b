/* The configuration: libconfig text in, plain structs out, checked completely before anything
 * is opened. Once loaded, only its reference count and the counters the event loops share
 * (each service's replies, exec's running programs) change, through atomics. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acl.h"
#include "keys.h"
#include "limits.h"
#include "listen.h"

struct config_errors;
struct handler;

#define WORKERS_MAX 256

struct host {
	char *text;                     /* as written; "" or "*" means every address */
	struct sockaddr_storage *addrs; /* resolved, port not set; none for every address */
	size_t n_addrs;
};

struct service {
	char *name;
	const struct handler *handler;
	unsigned port;
	unsigned protocols;     /* PROTO_* */
	struct host host;
	struct acl acl;         /* checked after the global one */
	void *options;          /* the handler's own, as its keys describe them */
	bool from_socket;       /* not in the file: a socket from systemd named after the handler */
	char *file;             /* where it was defined: minetd.conf, a file it includes, inetd.conf */
	int line;
	/* Replies given so far by every loop, for chargen's line and qotd's quote; changed
	 * through relaxed atomics while the config is in use. */
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
	struct port_list loop_ports;    /* never answered, besides the small services' and our own */
	unsigned amplification;         /* unverified sources: reply <= request × this ... */
	unsigned small_reply;           /* ... unless the reply is at most this many bytes */
	unsigned verified_time;         /* seconds a source that completed a TCP handshake is trusted */
	struct udp_rates rates;         /* reply bytes per second, for one source and for everyone */
};

struct config {
	unsigned refs;          /* every event loop holds one */
	char *path;
	unsigned workers;       /* event loops, default 1, at most WORKERS_MAX; 0: one per CPU */
	struct host host;
	bool log_connections;
	struct tcp_limits limits;
	struct udp_policy udp;
	struct acl acl;
	struct service *services;
	size_t n_services;
	struct string_list inetd;       /* inetd.conf files and directories: more services */
	/* Their lines left out, "FILE:LINE: warning: ...; the line is not served", for -t, a
	 * start and a reload to say once. */
	struct config_errors warnings;
	/* sockets systemd passed whose socket unit has stopped since: no longer served */
	struct named_socket *stopped;
	size_t n_stopped;
};

/* A socket systemd passed: its FileDescriptorName=, protocol (PROTO_*) and address. */
struct named_socket {
	const char *name;
	unsigned protocol;
	struct sockaddr_storage addr;
};

/* Parses and validates path completely, and the inetd files it names. Returns 0 and *out
 * (with what inetd's lines it left out in its warnings), or -EINVAL (or -ENOMEM) with every
 * problem found appended to errors. */
int config_load(const char *path, struct config **out, struct config_errors *errors);
/* Before a config is used: a socket named after a handler but no service becomes a service
 * with that handler's defaults, served on such sockets only. One that cannot be made leaves
 * its problems in errors and is left out. Returns 0 or -ENOMEM. */
int config_add_sockets(struct config *config, const struct named_socket *sockets, size_t n,
		       struct config_errors *errors);
struct config *config_ref(struct config *config);
/* Drops a reference; the last one frees it. */
void config_free(struct config *config);
struct service *config_find_service(const struct config *config, const char *name);
/* Whether a socket bound to addr (with its port) is where the service says it listens: on
 * its port, and on its host unless that is every address. */
bool service_at(const struct service *service, const struct sockaddr_storage *addr);

uint64_t service_replies(const struct service *service);
void service_count_reply(const struct service *service);
