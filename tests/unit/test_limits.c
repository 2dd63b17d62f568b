/* Access lists, token buckets, per-source tables and the registry the loops share. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "acl.h"
#include "limits.h"

static struct in6_addr addr(const char *text)
{
	struct cidr c;

	assert_int_equal(cidr_parse(text, &c), 0);
	return c.addr;
}

/* The i-th of many sources, each in a /64 of its own: IPv4 and IPv6 in turn. */
static struct in6_addr numbered(uint32_t i)
{
	struct in6_addr a = addr(i % 2 ? "2001:db8::1" : "10.0.0.0");

	memcpy(&a.s6_addr[i % 2 ? 4 : 12], &i, 4);
	return a;
}

/* A refusal, and the right one. */
static void assert_refused(const char *why, const char *want)
{
	assert_non_null(why);
	assert_string_equal(why, want);
}

static void cidr_parses_v4_v6_and_refuses_junk(void **state)
{
	struct cidr c;

	(void)state;
	assert_int_equal(cidr_parse("192.0.2.0/24", &c), 0);
	assert_int_equal(c.prefix, 96 + 24);
	assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(cidr_parse("10.1.2.3", &c), 0);
	assert_int_equal(c.prefix, 128);
	const char *bad[] = { "", "/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
			      "example.org", "10.0.0.0/+8", "1.2.3.4.5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cidr_parse(bad[i], &c), -EINVAL);
}

static void acl_deny_wins_allow_restricts(void **state)
{
	struct cidr allow[2], deny[1];
	struct acl acl = { .allow = { allow, 2 }, .deny = { deny, 1 } };
	struct acl open = { 0 };

	(void)state;
	cidr_parse("10.0.0.0/8", &allow[0]);
	cidr_parse("2001:db8::/32", &allow[1]);
	cidr_parse("10.9.0.0/16", &deny[0]);
	struct in6_addr a = addr("10.1.2.3"), b = addr("10.9.9.9"), c = addr("11.0.0.1"),
			d = addr("2001:db8::1"), e = addr("2001:db9::1");
	assert_true(acl_permits(&acl, &a));
	assert_false(acl_permits(&acl, &b));
	assert_false(acl_permits(&acl, &c));
	assert_true(acl_permits(&acl, &d));
	assert_false(acl_permits(&acl, &e));
	assert_true(acl_permits(&open, &c));
	/* host bits are ignored: 10.1.2.3/8 is 10.0.0.0/8 */
	struct cidr h;
	cidr_parse("10.1.2.3/8", &h);
	assert_true(cidr_match(&h, &b));
}

/* A budget whose global bucket never refuses: its source bucket alone, through the public call. */
static const char *take_source(struct udp_budgets *b, uint64_t rate, uint64_t burst, uint64_t cost,
			       uint64_t now)
{
	const struct udp_rates rates = { rate, burst, 1000000000, 1000000000000000ULL };
	struct in6_addr a = addr("192.0.2.1");

	return udp_budgets_take(b, &a, cost, &rates, now);
}

static void bucket_refills_at_rate_up_to_burst(void **state)
{
	struct udp_budgets b;
	uint64_t t = 1000000;

	(void)state;
	assert_int_equal(udp_budgets_init(&b, 1), 0);
	assert_null(take_source(&b, 1000, 2000, 2000, t));      /* starts full */
	assert_refused(take_source(&b, 1000, 2000, 1, t), "source budget");
	assert_null(take_source(&b, 1000, 2000, 500, t + 500000));    /* 0.5 s: 500 tokens */
	assert_refused(take_source(&b, 1000, 2000, 1, t + 500000), "source budget");
	assert_null(take_source(&b, 1000, 2000, 2000, t + 100 * 1000000));     /* capped at burst */
	assert_refused(take_source(&b, 1000, 2000, 1, t + 100 * 1000000), "source budget");
	udp_budgets_free(&b);
	/* A slow rate holds however long the wait: 2000 s at 1 a second, not the whole burst. */
	struct udp_budgets slow;
	assert_int_equal(udp_budgets_init(&slow, 1), 0);
	assert_null(take_source(&slow, 1, 65600, 65600, t));
	assert_null(take_source(&slow, 1, 65600, 2000, t + 2000 * 1000000ULL));
	assert_refused(take_source(&slow, 1, 65600, 1, t + 2000 * 1000000ULL), "source budget");
	udp_budgets_free(&slow);
}

static const struct udp_rates policy = {
	.source_rate = 1000, .source_burst = 100000, .global_rate = 1000000, .global_burst = 10000000,
};

/* Takes cost from addr's budget until refused; returns how many times it could. */
static unsigned drain(struct udp_budgets *b, const struct in6_addr *addr, uint64_t cost, uint64_t now)
{
	unsigned n = 0;

	while (!udp_budgets_take(b, addr, cost, &policy, now))
		n++;
	return n;
}

static void udp_budgets_bounded_and_keyed_by_prefix(void **state)
{
	struct udp_budgets b;
	struct in6_addr a = addr("2001:db8::1"), same_64 = addr("2001:db8::2:3"), v4 = addr("192.0.2.1");
	uint64_t t = 1000000;

	(void)state;
	assert_int_equal(udp_budgets_init(&b, 64), 0);
	assert_int_equal(udp_budgets_slot(&b, &a), udp_budgets_slot(&b, &same_64));
	assert_int_equal(drain(&b, &a, 1000, t), 100);          /* starts full: the burst */
	assert_refused(udp_budgets_take(&b, &same_64, 1, &policy, t), "source budget");
	assert_int_equal(drain(&b, &a, 100, t + 1000000), 10);  /* 1 s: the rate */
	/* a million sources never grow it */
	for (uint32_t i = 0; i < 1000000; i++) {
		memcpy(&v4.s6_addr[12], &i, 4);
		udp_budgets_take(&b, &v4, 1, &policy, t);
	}
	udp_budgets_free(&b);
}

/* Item 7d: a source whose budget is spent stays refused, whatever other sources send, those
 * that share its slot included: a slot is never handed over, and a refused reply costs
 * nothing. */
static void regression_7d_colliding_sources_never_reset_a_budget(void **state)
{
	struct client_registry r;
	struct in6_addr victim = addr("198.51.100.1");
	uint64_t t = 1000000;
	unsigned collided = 0;

	(void)state;
	assert_int_equal(client_registry_init(&r), 0);
	assert_int_equal(drain(&r.udp, &victim, 1000, t), 100);
	for (uint32_t i = 1; collided < 16 && i < 100000000; i++) {
		struct in6_addr other = numbered(i);
		bool shares = udp_budgets_slot(&r.udp, &other) == udp_budgets_slot(&r.udp, &victim);
		if (!shares && i > 20000)
			continue;       /* thousands of others, then only those that collide */
		collided += shares;
		udp_budgets_take(&r.udp, &other, i % 3 ? 0 : 1000, &policy, t + i % 1000);
	}
	assert_int_equal(collided, 16);
	assert_refused(udp_budgets_take(&r.udp, &victim, 1, &policy, t + 999), "source budget");
	/* And it refills at its rate only: 0.1 s after it was spent, 100 bytes. */
	assert_int_equal(drain(&r.udp, &victim, 1, t + 100000), 100);
	client_registry_free(&r);
}

struct loop_share {
	struct udp_budgets *budgets;
	unsigned *ready;
	struct in6_addr addr;
	unsigned replies;
};

static void *one_loop(void *arg)
{
	struct loop_share *l = arg;

	/* Both start at once, spinning rather than sleeping, so that they contend. */
	__atomic_add_fetch(l->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(l->ready, __ATOMIC_SEQ_CST) < 2)
		;
	for (int i = 0; i < 200000; i++)
		l->replies += !udp_budgets_take(l->budgets, &l->addr, 1, &policy, 1000000);
	return NULL;
}

/* Item 7e: a source's datagrams reach every loop (a spoofer picks its ports, SO_REUSEPORT
 * spreads them), and every loop takes from the one budget; so does the global one. */
static void regression_7e_budget_shared_by_loops(void **state)
{
	struct client_registry r;
	struct loop_share loops[2];
	unsigned ready = 0;
	pthread_t threads[2];

	(void)state;
	assert_int_equal(client_registry_init(&r), 0);
	for (int i = 0; i < 2; i++) {
		loops[i] = (struct loop_share){ .budgets = &r.udp, .ready = &ready };
		loops[i].addr = addr(i ? "2001:db8:7e::1" : "2001:db8:7e::2");  /* one /64 */
		assert_int_equal(pthread_create(&threads[i], NULL, one_loop, &loops[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	print_message("loops answered %u and %u\n", loops[0].replies, loops[1].replies);
	assert_int_equal(loops[0].replies + loops[1].replies, policy.source_burst);
	/* The global budget is the registry's too, not a share per loop: all sources of both
	 * loops get its 10^7 bytes, less the 10^5 above. */
	for (int i = 0; i < 2; i++) {
		loops[i].replies = 0;
		for (uint32_t k = 0; k < 1000; k++) {
			struct in6_addr a = numbered(k * 2 + (uint32_t)i + 10);
			loops[i].replies += drain(&r.udp, &a, 1000, 1000000);
		}
	}
	assert_int_equal(loops[0].replies + loops[1].replies,
			 (policy.global_burst - policy.source_burst) / 1000);
	client_registry_free(&r);
}

static void conn_counts_exact_per_address(void **state)
{
	struct conn_counts c;
	struct in6_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");

	(void)state;
	assert_int_equal(conn_counts_init(&c), 0);
	for (int i = 0; i < 3; i++)
		assert_true(conn_counts_take(&c, &a, 3));
	assert_false(conn_counts_take(&c, &a, 3));
	assert_true(conn_counts_take(&c, &b, 3));
	conn_counts_give(&c, &a);
	assert_int_equal(conn_counts_of(&c, &a), 2);
	assert_true(conn_counts_take(&c, &a, 3));
	for (uint32_t i = 0; i < 5000; i++) {
		struct in6_addr x = a;
		memcpy(&x.s6_addr[12], &i, 4);
		assert_true(conn_counts_take(&c, &x, 1));
	}
	assert_int_equal(conn_counts_of(&c, &b), 1);
	conn_counts_free(&c);
}

static void registry_limits_and_verified_sources(void **state)
{
	struct client_registry r;
	struct in6_addr a = addr("192.0.2.1"), b = addr("192.0.2.2"), v6 = addr("2001:db8::1"),
			v6_other = addr("2001:db8:0:1::1");

	(void)state;
	assert_int_equal(client_registry_init(&r), 0);
	assert_null(client_registry_take(&r, &a, 3, 2));
	assert_null(client_registry_take(&r, &a, 3, 2));
	assert_string_equal(client_registry_take(&r, &a, 3, 2), "per-source connection limit");
	assert_null(client_registry_take(&r, &b, 3, 2));
	assert_string_equal(client_registry_take(&r, &b, 3, 2), "connection limit");
	client_registry_give(&r, &a);
	assert_null(client_registry_take(&r, &b, 3, 2));
	assert_false(client_registry_verified(&r, &a, 100));
	client_registry_verify(&r, &a, 1000);
	assert_true(client_registry_verified(&r, &a, 999));
	assert_false(client_registry_verified(&r, &a, 1000));   /* expired */
	assert_false(client_registry_verified(&r, &b, 10));
	client_registry_verify(&r, &v6, 1000);
	assert_true(client_registry_verified(&r, &v6, 10));
	assert_false(client_registry_verified(&r, &v6_other, 10));
	client_registry_free(&r);
}

/* Issue 11, item 7a: one host holds a whole /64 and may connect from any address of it. */
static void regression_7a_ipv6_sources_counted_by_64(void **state)
{
	struct client_registry r;
	struct in6_addr a = addr("2001:db8:1:2::1"), other_64 = addr("2001:db8:1:3::1");

	(void)state;
	assert_int_equal(client_registry_init(&r), 0);
	for (unsigned i = 0; i < 40; i++) {
		a.s6_addr[15] = (uint8_t)(i + 1);
		a.s6_addr[9] = (uint8_t)(i * 7);
		const char *why = client_registry_take(&r, &a, 1000, 4);
		if (i < 4)
			assert_null(why);
		else
			assert_refused(why, "per-source connection limit");
	}
	assert_null(client_registry_take(&r, &other_64, 1000, 4));
	/* Any address of the /64 gives a connection back, and one more fits. */
	a.s6_addr[15] = 0xee;
	client_registry_give(&r, &a);
	assert_null(client_registry_take(&r, &a, 1000, 4));
	assert_refused(client_registry_take(&r, &a, 1000, 4), "per-source connection limit");
	/* IPv4 addresses still count one by one. */
	struct in6_addr v4 = addr("192.0.2.1"), v4_next = addr("192.0.2.2");
	assert_null(client_registry_take(&r, &v4, 1000, 1));
	assert_null(client_registry_take(&r, &v4_next, 1000, 1));
	client_registry_free(&r);
}

/* Item 7b: a handshake proves that its own address receives, not its neighbours. */
static void regression_7b_handshake_verifies_its_own_address_only(void **state)
{
	struct client_registry r;
	struct in6_addr v6 = addr("2001:db8:5::10"), v4 = addr("198.51.100.7");

	(void)state;
	assert_int_equal(client_registry_init(&r), 0);
	client_registry_verify(&r, &v6, 5000);
	client_registry_verify(&r, &v4, 5000);
	assert_true(client_registry_verified(&r, &v6, 10));
	assert_true(client_registry_verified(&r, &v4, 10));
	for (unsigned i = 0; i < 255; i++) {
		struct in6_addr n6 = v6, n4 = v4;
		n6.s6_addr[15] ^= (uint8_t)(i + 1);             /* same /64 */
		n6.s6_addr[8 + i % 7] ^= 0x80;
		n4.s6_addr[15] ^= (uint8_t)(i + 1);             /* same /24 */
		assert_false(client_registry_verified(&r, &n6, 10));
		assert_false(client_registry_verified(&r, &n4, 10));
	}
	client_registry_free(&r);
}

/* Item 7c: as many distinct addresses as slots, verified one after the other: a table
 * without collisions keeps all, a hashed one about 1 - 1/e (63%); only half the slots
 * usable would keep at most 50%. */
static void regression_7c_verified_table_fully_usable(void **state)
{
	struct client_registry r;
	size_t slots, kept = 0;

	(void)state;
	assert_int_equal(client_registry_init(&r), 0);
	slots = r.verified_mask + 1;
	for (uint32_t i = 0; i < slots; i++) {
		struct in6_addr a = numbered(i);
		client_registry_verify(&r, &a, 1000);
	}
	for (uint32_t i = 0; i < slots; i++) {
		struct in6_addr a = numbered(i);
		kept += client_registry_verified(&r, &a, 10);
	}
	print_message("%zu of %zu verified addresses kept\n", kept, slots);
	assert_true(kept * 100 > slots * 60);
	client_registry_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cidr_parses_v4_v6_and_refuses_junk),
		cmocka_unit_test(acl_deny_wins_allow_restricts),
		cmocka_unit_test(bucket_refills_at_rate_up_to_burst),
		cmocka_unit_test(udp_budgets_bounded_and_keyed_by_prefix),
		cmocka_unit_test(conn_counts_exact_per_address),
		cmocka_unit_test(registry_limits_and_verified_sources),
		cmocka_unit_test(regression_7a_ipv6_sources_counted_by_64),
		cmocka_unit_test(regression_7b_handshake_verifies_its_own_address_only),
		cmocka_unit_test(regression_7c_verified_table_fully_usable),
		cmocka_unit_test(regression_7d_colliding_sources_never_reset_a_budget),
		cmocka_unit_test(regression_7e_budget_shared_by_loops),
	};

	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
