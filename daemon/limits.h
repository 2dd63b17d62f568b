/* Budgets against hostile clients: per-source tables, token buckets, loop breaking. */
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

bool bucket_take(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t cost, uint64_t now);

/* The source an address belongs to: IPv4 (mapped) addresses whole, IPv6 ones by /64, as a
 * host may hop through its own prefix at will. */
void source_key(const struct in6_addr *addr, struct in6_addr *key);

/* Per-source state: a fixed table, indexed by a keyed hash of the address (IPv6 by /64,
 * so that one host cannot hop through its own prefix). A new source takes over its slot:
 * a flood of spoofed sources only resets the buckets it collides with, it never grows
 * memory. */
struct source_slot {
	struct in6_addr key;
	bool used;
	struct bucket udp;
};

struct source_table {
	struct source_slot *slots;
	size_t mask;
	uint64_t seed;
};

int source_table_init(struct source_table *t, size_t size_pow2);
void source_table_free(struct source_table *t);
struct source_slot *source_lookup(struct source_table *t, const struct in6_addr *addr);

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
unsigned conn_counts_get(const struct conn_counts *c, const struct in6_addr *key);

/* What every event loop must agree on about clients, whichever loop serves them: how
 * many connections there are, from whom, and who proved by a TCP handshake that it
 * receives at its address (and so may get UDP replies larger than its requests). */
struct client_registry {
	pthread_mutex_t lock;           /* for the connection counts; taken once per accept */
	uint64_t n_conns;
	struct conn_counts per_source;
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
