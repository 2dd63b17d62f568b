/* listen.c's address text: what addr_to_string writes, addr_from_string reads back (the
 * helper keeps a program's client that way in its cgroup's note, across its restart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "../../daemon/listen.h"

static void round_trip(const char *text)
{
	struct sockaddr_storage a;
	char back[ADDR_TEXT_MAX];

	assert_true(addr_from_string(text, &a));
	assert_string_equal(addr_to_string((struct sockaddr *)&a, back), text);
}

static void test_round_trips(void **state)
{
	(void)state;
	round_trip("127.0.0.1:79");
	round_trip("192.0.2.1:65535");
	round_trip("[::1]:113");
	round_trip("[2001:db8::7]:0");
}

static void test_mapped_v4_reads_back_as_v4(void **state)
{
	struct sockaddr_storage a;
	struct sockaddr_in6 six;
	char text[ADDR_TEXT_MAX];

	(void)state;
	assert_true(addr_from_string("10.1.2.3:4000", &a));
	addr_to_in6(&a, &six);
	assert_string_equal(addr_to_string((struct sockaddr *)&six, text), "10.1.2.3:4000");
}

static void test_rejects(void **state)
{
	static const char *const bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:5",
					   "[::1]5", "[::1]:x", "host:80", "(family 0)", "1.2.3.4:5x" };
	struct sockaddr_storage a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(addr_from_string(bad[i], &a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_mapped_v4_reads_back_as_v4),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
