/* Budgets against hostile clients: token buckets, per-source tables, and the registry of
 * clients that every event loop shares. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <pthread.h>

/* A token bucket: 'rate' tokens a second, at most 'burst' saved up. */
struct bucket {
	uint64_t tokens_milli;  /* thousandths, so that small rates refill smoothly */
	uint64_t updated_usec;
};

/* The UDP reply budgets' buckets, in bytes: for one source, and for everyone. */
struct udp_rates {
	uint64_t source_rate, source_burst;
	uint64_t global_rate, global_burst;
};

/* The source an address belongs to: IPv4 (mapped) addresses whole, IPv6 ones by /64, as a
 * host may hop through its own prefix at will. */
void source_key(const struct in6_addr *addr, struct in6_addr *key);

/* Exact connection counts per source key; entries exist only while connections do. */
struct conn_count;
struct conn_counts {
	struct conn_count **buckets;
	size_t mask, n;
	uint64_t seed;
};

int conn_counts_init(struct conn_counts *c);
void conn_counts_free(struct conn_counts *c);
/* Adds one connection for key unless it has 'limit' already; false when refused. */
bool conn_counts_take(struct conn_counts *c, const struct in6_addr *key, unsigned limit);
void conn_counts_give(struct conn_counts *c, const struct in6_addr *key);
/* How many key holds now. */
unsigned conn_counts_of(struct conn_counts *c, const struct in6_addr *key);

/* UDP reply budgets for the whole process, whichever loop a datagram reaches (a spoofer
 * picks source ports, and SO_REUSEPORT spreads them over the loops): a bucket per source,
 * and one for everyone. The per-source buckets are a table without keys, indexed by a
 * keyed hash of the source: sources that fall on one slot share its budget. So nothing is
 * ever evicted or reset, memory is fixed whatever the sources, and a collision can only
 * refuse more, never answer more: no datagram raises another source's budget. */
struct udp_budgets {
	pthread_mutex_t lock;   /* taken once per reply, for about a hundred instructions */
	struct bucket *sources;
	size_t mask;
	uint64_t seed;
	struct bucket global;
};

int udp_budgets_init(struct udp_budgets *b, size_t size_pow2);
void udp_budgets_free(struct udp_budgets *b);
/* The slot of addr's source: which sources share a budget. */
size_t udp_budgets_slot(const struct udp_budgets *b, const struct in6_addr *addr);
/* Takes cost bytes from addr's source budget and from the global one, from both or from
 * neither: a refused reply costs nothing. Returns NULL, or which budget refused. */
const char *udp_budgets_take(struct udp_budgets *b, const struct in6_addr *addr, uint64_t cost,
			     const struct udp_rates *rates, uint64_t now_usec);

/* What every event loop must agree on about clients, whichever loop serves them: how
 * many connections there are and from which sources, the UDP budgets, and which addresses
 * proved by a TCP handshake that they receive what is sent to them (and so may get UDP
 * replies larger than their requests). */
struct client_registry {
	pthread_mutex_t lock;           /* for the connection counts; taken once per accept */
	uint64_t n_conns;
	struct conn_counts per_source;
	struct udp_budgets udp;
	/* lock-free: a tag (keyed hash of the exact address) and a deadline per slot */
	uint64_t *verified_tag, *verified_until;
	size_t verified_mask;
	uint64_t seed;
};

int client_registry_init(struct client_registry *r);
void client_registry_free(struct client_registry *r);
/* Takes a connection for addr within both limits, counted per source (source_key);
 * returns NULL, or why it was refused. */
const char *client_registry_take(struct client_registry *r, const struct in6_addr *addr, unsigned total,
				 unsigned per_source);
void client_registry_give(struct client_registry *r, const struct in6_addr *addr);
/* Verification is for the exact address that completed the handshake, not its /64. */
void client_registry_verify(struct client_registry *r, const struct in6_addr *addr, uint64_t until_usec);
bool client_registry_verified(const struct client_registry *r, const struct in6_addr *addr,
			      uint64_t now_usec);
