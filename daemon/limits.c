#include "limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

bool bucket_take(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t cost, uint64_t now)
{
	uint64_t cap = burst * 1000;

	if (b->updated_usec == 0) {
		b->tokens_milli = cap;
	} else if (now > b->updated_usec) {
		uint64_t elapsed = now - b->updated_usec;
		/* elapsed µs × rate/s = tokens in thousandths of a token ×1000 / 1000 */
		uint64_t add = elapsed > 1000000000 ? cap : elapsed * rate / 1000;
		b->tokens_milli = b->tokens_milli + add > cap ? cap : b->tokens_milli + add;
	}
	b->updated_usec = now;
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

/* A keyed mix of the address (murmur3's finalizer, a word at a time), so that an attacker
 * cannot aim at one slot; every bit of the result depends on every bit of the address. */
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

int source_table_init(struct source_table *t, size_t size_pow2)
{
	t->slots = calloc(size_pow2, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = size_pow2 - 1;
	t->seed = random_seed();
	return 0;
}

void source_table_free(struct source_table *t)
{
	free(t->slots);
	t->slots = NULL;
}

struct source_slot *source_lookup(struct source_table *t, const struct in6_addr *addr)
{
	struct in6_addr key;
	struct source_slot *s;

	source_key(addr, &key);
	s = &t->slots[hash_addr(&key, t->seed) & t->mask];
	if (!s->used || memcmp(&s->key, &key, sizeof(key)) != 0) {
		memset(s, 0, sizeof(*s));
		s->key = key;
		s->used = true;
	}
	return s;
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

unsigned conn_counts_get(const struct conn_counts *c, const struct in6_addr *key)
{
	struct conn_count **p = find(c, key);

	return *p ? (*p)->n : 0;
}

#define VERIFIED_SLOTS 16384

int client_registry_init(struct client_registry *r)
{
	memset(r, 0, sizeof(*r));
	r->seed = random_seed();
	r->verified_mask = VERIFIED_SLOTS - 1;
	r->verified_tag = calloc(VERIFIED_SLOTS, sizeof(*r->verified_tag));
	r->verified_until = calloc(VERIFIED_SLOTS, sizeof(*r->verified_until));
	if (!r->verified_tag || !r->verified_until || conn_counts_init(&r->per_source) < 0 ||
	    pthread_mutex_init(&r->lock, NULL) != 0) {
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
