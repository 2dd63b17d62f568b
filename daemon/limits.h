/* Budgets against hostile clients: per-source tables, token buckets, loop breaking. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/* A token bucket: 'rate' tokens a second, at most 'burst' saved up. */
struct bucket {
	uint64_t tokens_milli;  /* thousandths, so that small rates refill smoothly */
	uint64_t updated_usec;
};

bool bucket_take(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t cost, uint64_t now);

/* Per-source state: a fixed table, indexed by a keyed hash of the address (IPv6 by /64,
 * so that one host cannot hop through its own prefix). A new source takes over its slot:
 * a flood of spoofed sources only resets the buckets it collides with, it never grows
 * memory. */
struct source_slot {
	struct in6_addr key;
	bool used;
	struct bucket udp;
	uint64_t verified_until_usec;   /* completed a TCP handshake: it receives what it asks */
};

struct source_table {
	struct source_slot *slots;
	size_t mask;
	uint64_t seed;
};

int source_table_init(struct source_table *t, size_t size_pow2);
void source_table_free(struct source_table *t);
struct source_slot *source_lookup(struct source_table *t, const struct in6_addr *addr);

/* Exact connection counts per address; entries exist only while connections do. */
struct conn_count;
struct conn_counts {
	struct conn_count **buckets;
	size_t mask, n;
	uint64_t seed;
};

int conn_counts_init(struct conn_counts *c);
void conn_counts_free(struct conn_counts *c);
/* Adds one connection for addr unless it has 'limit' already; false when refused. */
bool conn_counts_take(struct conn_counts *c, const struct in6_addr *addr, unsigned limit);
void conn_counts_give(struct conn_counts *c, const struct in6_addr *addr);
unsigned conn_counts_get(const struct conn_counts *c, const struct in6_addr *addr);
