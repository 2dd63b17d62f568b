/* Access lists and budgets (daemon/acl.c, daemon/limits.c) against simple models:
 * cidr_parse of arbitrary text, acl_permits of arbitrary addresses, token buckets with the
 * rates and bursts the config allows, the UDP budgets, the exact connection counts and the
 * client registry the event loops share.
 * The first byte picks the part. */
#include <arpa/inet.h>

#include "acl.h"
#include "fuzz_data.h"
#include "limits.h"

static bool prefix_match_reference(const struct cidr *c, const struct in6_addr *a)
{
	for (unsigned bit = 0; bit < c->prefix; bit++) {
		unsigned byte = bit / 8, mask = 0x80 >> (bit % 8);
		if ((c->addr.s6_addr[byte] & mask) != (a->s6_addr[byte] & mask))
			return false;
	}
	return true;
}

/* An address near one of the prefixes, so that matches and near misses both happen. */
static void pick_address(struct fuzz_data *d, const struct cidr *list, size_t n, struct in6_addr *a)
{
	uint8_t how = fd_u8(d);

	memset(a, 0, sizeof(*a));
	if (n > 0 && how & 1) {
		*a = list[how / 2 % n].addr;
		unsigned bit = fd_u8(d);
		if (bit < 128)
			a->s6_addr[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	} else if (how & 2) {
		a->s6_addr[10] = a->s6_addr[11] = 0xff;         /* IPv4 */
		for (int i = 12; i < 16; i++)
			a->s6_addr[i] = fd_u8(d);
	} else {
		for (int i = 0; i < 16; i++)
			a->s6_addr[i] = fd_u8(d);
	}
}

static void check_parsed(const char *text, const struct cidr *c)
{
	char addr[INET6_ADDRSTRLEN], again_text[INET6_ADDRSTRLEN + 8];
	struct cidr again;

	CHECK(c->prefix <= 128, "'%s': prefix %u", text, c->prefix);
	for (unsigned bit = c->prefix; bit < 128; bit++)
		CHECK(!(c->addr.s6_addr[bit / 8] & (0x80 >> (bit % 8))), "'%s': host bit %u set", text,
		      bit);
	CHECK(cidr_match(c, &c->addr), "'%s' does not match its own address", text);
	bool v4 = strchr(text, ':') == NULL;
	if (v4) {
		CHECK(c->prefix >= 96 && IN6_IS_ADDR_V4MAPPED(&c->addr), "'%s': IPv4 not mapped (/%u)", text,
		      c->prefix);
		inet_ntop(AF_INET, &c->addr.s6_addr[12], addr, sizeof(addr));
		snprintf(again_text, sizeof(again_text), "%s/%u", addr, c->prefix - 96);
	} else {
		inet_ntop(AF_INET6, &c->addr, addr, sizeof(addr));
		snprintf(again_text, sizeof(again_text), "%s/%u", addr, c->prefix);
	}
	/* Printing and parsing again gives the same prefix. */
	CHECK(cidr_parse(again_text, &again) == 0, "'%s' printed as '%s' does not parse", text, again_text);
	CHECK(again.prefix == c->prefix && memcmp(&again.addr, &c->addr, 16) == 0, "'%s' != '%s'", text,
	      again_text);
}

static void fuzz_acl(struct fuzz_data *d)
{
	struct acl acl = { 0 };
	size_t n = fd_range(d, 0, 8);
	uint8_t deny_mask = fd_u8(d);

	acl.allow.items = calloc(n + 1, sizeof(*acl.allow.items));
	acl.deny.items = calloc(n + 1, sizeof(*acl.deny.items));
	if (!acl.allow.items || !acl.deny.items)
		abort();
	for (size_t i = 0; i < n; i++) {
		char *text = fd_string(d, 64, NULL);
		struct cidr c;
		memset(&c, 0x5a, sizeof(c));
		if (cidr_parse(text, &c) == 0) {
			check_parsed(text, &c);
			if (deny_mask & (1u << i))
				acl.deny.items[acl.deny.n++] = c;
			else
				acl.allow.items[acl.allow.n++] = c;
		}
		free(text);
	}
	for (int probe = 0; probe < 8 && d->left > 0; probe++) {
		struct in6_addr a;
		bool denied = false, allowed = acl.allow.n == 0;
		const struct cidr_list *list = probe & 1 ? &acl.deny : &acl.allow;
		pick_address(d, list->items, list->n, &a);
		for (size_t i = 0; i < acl.deny.n; i++) {
			bool m = prefix_match_reference(&acl.deny.items[i], &a);
			CHECK(cidr_match(&acl.deny.items[i], &a) == m, "cidr_match deny[%zu]", i);
			denied |= m;
		}
		for (size_t i = 0; i < acl.allow.n; i++) {
			bool m = prefix_match_reference(&acl.allow.items[i], &a);
			CHECK(cidr_match(&acl.allow.items[i], &a) == m, "cidr_match allow[%zu]", i);
			allowed |= m;
		}
		CHECK(acl_permits(&acl, &a) == (!denied && allowed), "acl_permits");
	}
	free(acl.allow.items);
	free(acl.deny.items);
}

/* A token bucket computed in 128 bits: never more than the burst saved, refilled at the
 * rate; a time before the last update earns nothing, moves nothing. */
struct model_bucket {
	unsigned __int128 tokens;
	uint64_t updated;
};

static void model_refill(struct model_bucket *m, uint64_t rate, uint64_t burst, uint64_t now)
{
	unsigned __int128 cap = (unsigned __int128)burst * 1000;

	if (m->updated == 0) {
		m->tokens = cap;
	} else if (now > m->updated) {
		unsigned __int128 elapsed = now - m->updated;
		unsigned __int128 add = elapsed * rate / 1000;
		m->tokens = m->tokens + add > cap ? cap : m->tokens + add;
	} else {
		return;
	}
	m->updated = now;
}

/* Mostly forward, by µs to hours; sometimes backwards (loops read the clock before they
 * take the lock, and a clock is not ours to trust). */
static uint64_t step_time(struct fuzz_data *d, uint64_t now)
{
	uint8_t step = fd_u8(d);

	if (step & 0x80)
		return now - (now > step ? step : 0);
	return now + fd_uint(d, step % 6);
}

/* A source bucket against the model, through udp_budgets_take with one slot and a global
 * bucket that cannot run dry: a take succeeds exactly when the tokens are there. */
static void fuzz_bucket(struct fuzz_data *d)
{
	/* The ranges config.c accepts for udp.*_rate and *_burst; costs are UDP replies. */
	uint64_t rate = fd_range(d, 1, 1000000000), burst = fd_range(d, 65536 + 64, 1000000000);
	uint64_t now = fd_range(d, 1, UINT64_MAX / 2);
	const struct udp_rates rates = { rate, burst, 1000000000, 1000000000000000ULL };
	const struct in6_addr a = { 0 };
	struct model_bucket m = { 0 };
	struct udp_budgets b;

	CHECK(udp_budgets_init(&b, 1) == 0, "udp_budgets_init(1)");
	while (d->left > 0) {
		uint64_t cost = fd_range(d, 0, 65507 + 64);
		now = step_time(d, now);
		model_refill(&m, rate, burst, now);
		bool want = m.tokens >= (unsigned __int128)cost * 1000;
		if (want)
			m.tokens -= (unsigned __int128)cost * 1000;
		bool got = udp_budgets_take(&b, &a, cost, &rates, now) == NULL;
		CHECK(got == want, "take(rate %llu, burst %llu, cost %llu, now %llu) = %d",
		      (unsigned long long)rate, (unsigned long long)burst, (unsigned long long)cost,
		      (unsigned long long)now, got);
		CHECK(b.sources[0].tokens_milli == m.tokens, "tokens %llu, model %llu",
		      (unsigned long long)b.sources[0].tokens_milli, (unsigned long long)m.tokens);
	}
	udp_budgets_free(&b);
}

/* Another address of a's source (IPv6: its /64), never a itself; a for IPv4. */
static struct in6_addr neighbour(const struct in6_addr *a, uint8_t how)
{
	struct in6_addr n = *a;

	if (IN6_IS_ADDR_V4MAPPED(a))
		return n;
	n.s6_addr[8 + how % 8] ^= (uint8_t)(how | 1);
	return n;
}

/* What a source may have had in [first, last] µs: its burst, and its rate a second since. */
static bool within_budget(unsigned __int128 given, uint64_t rate, uint64_t burst, uint64_t first,
			  uint64_t last)
{
	return given * 1000000 <= (unsigned __int128)burst * 1000000 +
				  (unsigned __int128)(last - first) * rate;
}

/* The UDP budgets against a model of one exact bucket per slot, shared by the sources the
 * table puts there (all addresses of a source in one slot, nothing ever evicted), and one
 * for everyone: a reply takes from both or neither. And what the design promises whatever
 * the collisions: no source, and not everyone together, ever gets more than its budget. */
static void fuzz_budgets(struct fuzz_data *d)
{
	enum { POOL = 16 };
	size_t size = (size_t)1 << fd_range(d, 0, 8);
	struct udp_rates p = {
		.source_rate = fd_range(d, 1, 1000000000), .source_burst = fd_range(d, 65600, 1000000000),
		.global_rate = fd_range(d, 1, 1000000000), .global_burst = fd_range(d, 65600, 1000000000),
	};
	uint64_t now = fd_range(d, 1, 1ULL << 60), first = now, last = now;
	struct model_bucket *slots = calloc(size, sizeof(*slots)), global = { 0 };
	unsigned __int128 given[POOL] = { 0 }, given_all = 0;
	struct in6_addr pool[POOL];
	struct udp_budgets b;

	CHECK(slots && udp_budgets_init(&b, size) == 0, "udp_budgets_init(%zu)", size);
	for (int i = 0; i < POOL; i++)
		pick_address(d, NULL, 0, &pool[i]);
	while (d->left > 0) {
		uint8_t op = fd_u8(d);
		struct in6_addr a = op & 0x10 ? neighbour(&pool[op % POOL], op) : pool[op % POOL];
		uint64_t cost = fd_range(d, 0, 65507 + 64);
		size_t slot = udp_budgets_slot(&b, &a);
		now = step_time(d, now);
		first = now < first ? now : first;
		last = now > last ? now : last;
		CHECK(slot < size && slot == udp_budgets_slot(&b, &pool[op % POOL]), "slot %zu of %zu", slot,
		      size);
		model_refill(&slots[slot], p.source_rate, p.source_burst, now);
		model_refill(&global, p.global_rate, p.global_burst, now);
		const char *want = slots[slot].tokens < (unsigned __int128)cost * 1000 ? "source budget" :
				   global.tokens < (unsigned __int128)cost * 1000 ? "global budget" : NULL;
		const char *why = udp_budgets_take(&b, &a, cost, &p, now);
		CHECK((why == NULL) == (want == NULL) && (!why || strcmp(why, want) == 0),
		      "take %llu: '%s', want '%s'", (unsigned long long)cost, why ? why : "ok",
		      want ? want : "ok");
		if (!why) {
			slots[slot].tokens -= (unsigned __int128)cost * 1000;
			global.tokens -= (unsigned __int128)cost * 1000;
			given[op % POOL] += cost, given_all += cost;
		}
		CHECK(b.sources[slot].tokens_milli == slots[slot].tokens &&
		      b.global.tokens_milli == global.tokens, "tokens differ from the model");
		CHECK(within_budget(given[op % POOL], p.source_rate, p.source_burst, first, last),
		      "a source got more than its budget");
		CHECK(within_budget(given_all, p.global_rate, p.global_burst, first, last),
		      "everyone got more than the global budget");
	}
	udp_budgets_free(&b);
	free(slots);
}

/* Exact connection counts against an array, with enough addresses to make the table grow. */
static void fuzz_conn_counts(struct fuzz_data *d)
{
	enum { POOL = 3000 };
	static unsigned model[POOL];
	struct conn_counts c;
	unsigned limit = (unsigned)fd_range(d, 0, 4);

	memset(model, 0, sizeof(model));
	CHECK(conn_counts_init(&c) == 0, "conn_counts_init");
	while (d->left > 0) {
		uint16_t v = fd_u16(d);
		unsigned i = (v & 0x3fff) % POOL;
		struct in6_addr a = { 0 };
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		a.s6_addr[14] = (uint8_t)(i >> 8);
		a.s6_addr[15] = (uint8_t)i;
		switch (v >> 14) {
		case 0: case 1: {       /* take */
			bool want = model[i] < limit;
			CHECK(conn_counts_take(&c, &a, limit) == want, "take %u (has %u, limit %u)", i,
			      model[i], limit);
			model[i] += want;
			break;
		}
		case 2:                 /* give, also for one that holds none */
			conn_counts_give(&c, &a);
			model[i] -= model[i] > 0;
			break;
		case 3:                 /* a burst of new addresses, to grow the table */
			for (unsigned k = 0; k < 64 && limit > 0; k++) {
				unsigned j = (i + k * 37) % POOL;
				a.s6_addr[14] = (uint8_t)(j >> 8);
				a.s6_addr[15] = (uint8_t)j;
				bool want = model[j] < limit;
				CHECK(conn_counts_take(&c, &a, limit) == want, "burst take %u", j);
				model[j] += want;
			}
			break;
		}
		CHECK(conn_counts_of(&c, &a) == model[((unsigned)a.s6_addr[14] << 8 | a.s6_addr[15])],
		      "count of %u", i);
	}
	size_t live = 0;
	for (unsigned i = 0; i < POOL; i++) {
		struct in6_addr a = { 0 };
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		a.s6_addr[14] = (uint8_t)(i >> 8);
		a.s6_addr[15] = (uint8_t)i;
		CHECK(conn_counts_of(&c, &a) == model[i], "final count of %u", i);
		live += model[i] > 0;
	}
	CHECK(c.n == live, "%zu entries for %zu addresses with connections", c.n, live);
	conn_counts_free(&c);
}

/* The registry shared by the event loops: both connection limits exactly, counted by source
 * (any address of a /64 counts for it), and "verified" only for the exact address that was,
 * until its deadline (a slot taken over by another address may forget one, never invent
 * one). */
static void fuzz_registry(struct fuzz_data *d)
{
	enum { POOL = 64 };
	struct client_registry r;
	struct in6_addr pool[POOL], key;
	unsigned counts[POOL] = { 0 }, total = 0;
	uint64_t until[POOL] = { 0 }, now = fd_range(d, 1, 1ULL << 40);
	unsigned max_total = (unsigned)fd_range(d, 0, 40), max_source = (unsigned)fd_range(d, 0, 8);

	CHECK(client_registry_init(&r) == 0, "client_registry_init");
	for (int i = 0; i < POOL; i++) {
		pick_address(d, NULL, 0, &pool[i]);
		/* One source per key (IPv4 address, IPv6 /64): sources sharing a key share it all. */
		if (IN6_IS_ADDR_V4MAPPED(&pool[i])) {
			pool[i].s6_addr[14] = 0;
			pool[i].s6_addr[15] = (uint8_t)i;
		} else {
			pool[i].s6_addr[0] = 0x20;
			pool[i].s6_addr[6] = 0;
			pool[i].s6_addr[7] = (uint8_t)i;
		}
	}
	while (d->left > 0) {
		uint8_t op = fd_u8(d), how = fd_u8(d);
		unsigned i = op % POOL;
		/* Connections come and go from any address of the source. */
		struct in6_addr a = how & 1 ? neighbour(&pool[i], how) : pool[i];
		switch (op >> 6) {
		case 0: {
			const char *why = client_registry_take(&r, &a, max_total, max_source);
			const char *want = total >= max_total ? "connection limit" :
					   counts[i] >= max_source ? "per-source connection limit" : NULL;
			CHECK((why == NULL) == (want == NULL) && (!why || strcmp(why, want) == 0),
			      "take: '%s', want '%s'", why ? why : "ok", want ? want : "ok");
			if (!why)
				counts[i]++, total++;
			break;
		}
		case 1:         /* only what was taken is given back: the daemon's rule */
			if (counts[i] > 0) {
				client_registry_give(&r, &a);
				counts[i]--, total--;
			}
			break;
		case 2:
			until[i] = now + fd_range(d, 0, 1000000);
			client_registry_verify(&r, &pool[i], until[i]);
			CHECK(client_registry_verified(&r, &pool[i], until[i] - 1) || until[i] == 0,
			      "just verified");
			CHECK(!client_registry_verified(&r, &pool[i], until[i]), "verified at its deadline");
			break;
		case 3:
			now += fd_range(d, 0, 500000);
			break;
		}
		bool v = client_registry_verified(&r, &pool[i], now);
		CHECK(!v || until[i] > now, "source %u verified without a handshake (until %llu, now %llu)",
		      i, (unsigned long long)until[i], (unsigned long long)now);
		struct in6_addr n = neighbour(&pool[i], how | 1);
		CHECK(IN6_IS_ADDR_V4MAPPED(&n) || !client_registry_verified(&r, &n, now),
		      "a neighbour of source %u verified by its handshake", i);
		source_key(&a, &key);
		CHECK(conn_counts_of(&r.per_source, &key) == counts[i], "count of %u", i);
	}
	while (total > 0)       /* everyone leaves: nothing may stay behind */
		for (unsigned i = 0; i < POOL; i++)
			if (counts[i] > 0)
				client_registry_give(&r, &pool[i]), counts[i]--, total--;
	CHECK(r.n_conns == 0 && r.per_source.n == 0, "%llu connections, %zu sources left",
	      (unsigned long long)r.n_conns, r.per_source.n);
	client_registry_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_data d = { data, size };

	switch (fd_u8(&d) % 5) {
	case 0: fuzz_acl(&d); break;
	case 1: fuzz_bucket(&d); break;
	case 2: fuzz_budgets(&d); break;
	case 3: fuzz_conn_counts(&d); break;
	case 4: fuzz_registry(&d); break;
	}
	return 0;
}
