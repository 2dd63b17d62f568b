#include "limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Adds what the time since the last update earned, up to the burst. A time before the
 * last update (loops read the clock before they share a bucket) earns nothing and moves
 * nothing back. */
static void bucket_refill(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t now)
{
	uint64_t cap = burst * 1000;

	if (b->updated_usec == 0) {
		b->tokens_milli = cap;
	} else if (now > b->updated_usec) {
		uint64_t elapsed = now - b->updated_usec;
		/* elapsed µs × rate/s in thousandths of a token: elapsed × rate / 1000, in 128
		 * bits past 1000 s (rate is at most 10^9), which is rare */
		unsigned __int128 add = elapsed <= 1000000000 ? elapsed * rate / 1000 :
					(unsigned __int128)elapsed * rate / 1000;
		b->tokens_milli = b->tokens_milli + add > cap ? cap : b->tokens_milli + (uint64_t)add;
	} else {
		return;
	}
	b->updated_usec = now;
}

/* Takes cost tokens when b holds them, once refilled; false when it does not. */
static bool bucket_take(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t cost, uint64_t now)
{
	bucket_refill(b, rate, burst, now);
	if (b->tokens_milli < cost * 1000)
		return false;
	b->tokens_milli -= cost * 1000;
	return true;
}

static uint64_t random_seed(void)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15ULL;
	return seed;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* A keyed mix of the address (murmur3's finalizer, a word at a time), every bit of the
 * result depending on every bit of the address. Not a MAC, but without the seed an attacker
 * cannot aim at a slot. */
static uint64_t hash_addr(const struct in6_addr *a, uint64_t seed)
{
	uint64_t w[2];

	memcpy(w, a, sizeof(w));
	return mix(mix(seed ^ w[0]) ^ w[1]);
}

void source_key(const struct in6_addr *addr, struct in6_addr *key)
{
	*key = *addr;
	if (!IN6_IS_ADDR_V4MAPPED(addr))
		memset(&key->s6_addr[8], 0, 8);
}

int udp_budgets_init(struct udp_budgets *b, size_t size_pow2)
{
	memset(b, 0, sizeof(*b));
	b->sources = calloc(size_pow2, sizeof(*b->sources));
	if (!b->sources)
		return -ENOMEM;
	if (pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b->sources);
		b->sources = NULL;
		return -ENOMEM;
	}
	b->mask = size_pow2 - 1;
	b->seed = random_seed();
	return 0;
}

void udp_budgets_free(struct udp_budgets *b)
{
	if (b->sources)
		pthread_mutex_destroy(&b->lock);
	free(b->sources);
	b->sources = NULL;
}

size_t udp_budgets_slot(const struct udp_budgets *b, const struct in6_addr *addr)
{
	struct in6_addr key;

	source_key(addr, &key);
	return (size_t)hash_addr(&key, b->seed) & b->mask;
}

/* One lock for both buckets: the loops hold it for about a hundred instructions a reply, and
 * with one loop (the default) it is never contended; per-slot locks would still share the
 * global bucket's. A reply takes from both or from neither: what one bucket gave is given
 * back when the other refuses. */
const char *udp_budgets_take(struct udp_budgets *b, const struct in6_addr *addr, uint64_t cost,
			     const struct udp_rates *rates, uint64_t now_usec)
{
	struct bucket *source = &b->sources[udp_budgets_slot(b, addr)];
	bool from_source, from_global;

	pthread_mutex_lock(&b->lock);
	from_source = bucket_take(source, rates->source_rate, rates->source_burst, cost, now_usec);
	from_global = bucket_take(&b->global, rates->global_rate, rates->global_burst, cost, now_usec);
	if (from_source != from_global)
		(from_source ? source : &b->global)->tokens_milli += cost * 1000;
	pthread_mutex_unlock(&b->lock);
	return !from_source ? "source budget" : !from_global ? "global budget" : NULL;
}

struct conn_count {
	struct conn_count *next;
	struct in6_addr key;
	unsigned n;
};

int conn_counts_init(struct conn_counts *c)
{
	c->mask = 1023;
	c->n = 0;
	c->seed = random_seed();
	c->buckets = calloc(c->mask + 1, sizeof(*c->buckets));
	return c->buckets ? 0 : -ENOMEM;
}

void conn_counts_free(struct conn_counts *c)
{
	for (size_t i = 0; c->buckets && i <= c->mask; i++) {
		struct conn_count *e = c->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(c->buckets);
	c->buckets = NULL;
}

static struct conn_count **find(const struct conn_counts *c, const struct in6_addr *key)
{
	struct conn_count **p = &c->buckets[hash_addr(key, c->seed) & c->mask];

	while (*p && memcmp(&(*p)->key, key, sizeof(*key)) != 0)
		p = &(*p)->next;
	return p;
}

static void grow(struct conn_counts *c)
{
	size_t mask = c->mask * 2 + 1;
	struct conn_count **buckets = calloc(mask + 1, sizeof(*buckets));

	if (!buckets)
		return;         /* longer chains, still correct */
	for (size_t i = 0; i <= c->mask; i++) {
		struct conn_count *e = c->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			size_t h = hash_addr(&e->key, c->seed) & mask;
			e->next = buckets[h];
			buckets[h] = e;
		}
	}
	free(c->buckets);
	c->buckets = buckets;
	c->mask = mask;
}

bool conn_counts_take(struct conn_counts *c, const struct in6_addr *key, unsigned limit)
{
	struct conn_count **p = find(c, key);

	if (*p) {
		if ((*p)->n >= limit)
			return false;
		(*p)->n++;
		return true;
	}
	if (limit == 0)
		return false;
	struct conn_count *e = calloc(1, sizeof(*e));
	if (!e)
		return false;
	e->key = *key;
	e->n = 1;
	*p = e;
	if (++c->n > c->mask)
		grow(c);
	return true;
}

unsigned conn_counts_of(struct conn_counts *c, const struct in6_addr *key)
{
	struct conn_count *e = *find(c, key);

	return e ? e->n : 0;
}

void conn_counts_give(struct conn_counts *c, const struct in6_addr *key)
{
	struct conn_count **p = find(c, key), *e = *p;

	if (!e)
		return;
	if (--e->n == 0) {
		*p = e->next;
		free(e);
		c->n--;
	}
}

/* 16384 buckets of 16 bytes, 256 KiB for the whole process, paged in as sources appear. Any
 * number of sources fits: more of them share budgets, memory stays. Sharing costs honest
 * sources little: only what is answered drains a budget, and the global budget bounds that
 * (at the default rates, 32 sources' worth at a time), spoofed or not. */
#define UDP_SOURCE_SLOTS 16384
#define VERIFIED_SLOTS 16384

int client_registry_init(struct client_registry *r)
{
	memset(r, 0, sizeof(*r));
	r->seed = random_seed();
	r->verified_mask = VERIFIED_SLOTS - 1;
	r->verified_tag = calloc(VERIFIED_SLOTS, sizeof(*r->verified_tag));
	r->verified_until = calloc(VERIFIED_SLOTS, sizeof(*r->verified_until));
	if (!r->verified_tag || !r->verified_until || conn_counts_init(&r->per_source) < 0 ||
	    pthread_mutex_init(&r->lock, NULL) != 0 || udp_budgets_init(&r->udp, UDP_SOURCE_SLOTS) < 0) {
		client_registry_free(r);
		return -ENOMEM;
	}
	return 0;
}

void client_registry_free(struct client_registry *r)
{
	if (r->per_source.buckets) {
		conn_counts_free(&r->per_source);
		pthread_mutex_destroy(&r->lock);
	}
	udp_budgets_free(&r->udp);
	free(r->verified_tag);
	free(r->verified_until);
	r->verified_tag = r->verified_until = NULL;
}

const char *client_registry_take(struct client_registry *r, const struct in6_addr *addr, unsigned total,
				 unsigned per_source)
{
	const char *refusal = NULL;
	struct in6_addr key;

	source_key(addr, &key);
	pthread_mutex_lock(&r->lock);
	if (r->n_conns >= total)
		refusal = "connection limit";
	else if (!conn_counts_take(&r->per_source, &key, per_source))
		refusal = "per-source connection limit";
	else
		r->n_conns++;
	pthread_mutex_unlock(&r->lock);
	return refusal;
}

void client_registry_give(struct client_registry *r, const struct in6_addr *addr)
{
	struct in6_addr key;

	source_key(addr, &key);
	pthread_mutex_lock(&r->lock);
	r->n_conns--;
	conn_counts_give(&r->per_source, &key);
	pthread_mutex_unlock(&r->lock);
}

/* The slot from the hash's high bits, the tag the whole hash: every slot is usable, and an
 * empty slot (tag 0, deadline 0) never matches, as its deadline is past. */
static size_t verified_slot(const struct client_registry *r, uint64_t tag)
{
	return (size_t)(tag >> 32) & r->verified_mask;
}

/* Relaxed atomics: two loops verifying sources of one slot at once may leave one's tag with
 * the other's deadline (both "now + verified_time"), never a tag nobody verified; and the
 * tag is a 64-bit keyed hash of the exact address, so another source matching it is not a
 * practical attack. */
void client_registry_verify(struct client_registry *r, const struct in6_addr *addr, uint64_t until_usec)
{
	uint64_t tag = hash_addr(addr, r->seed);
	size_t slot = verified_slot(r, tag);

	__atomic_store_n(&r->verified_until[slot], until_usec, __ATOMIC_RELAXED);
	__atomic_store_n(&r->verified_tag[slot], tag, __ATOMIC_RELAXED);
}

bool client_registry_verified(const struct client_registry *r, const struct in6_addr *addr, uint64_t now_usec)
{
	uint64_t tag = hash_addr(addr, r->seed);
	size_t slot = verified_slot(r, tag);

	return __atomic_load_n(&r->verified_tag[slot], __ATOMIC_RELAXED) == tag &&
	       __atomic_load_n(&r->verified_until[slot], __ATOMIC_RELAXED) > now_usec;
}
