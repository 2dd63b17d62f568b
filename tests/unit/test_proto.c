/* The wire formats, pinned byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static const char line0[] =
	" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n";
static const char line1[] =
	"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n";
static const char line94[] =
	"~ !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdef\r\n";

static void chargen_lines_rotate(void **state)
{
	uint8_t out[CHARGEN_LINE_LEN];

	(void)state;
	assert_int_equal(sizeof(line0) - 1, 74);
	assert_int_equal(chargen_line(out, 0), 74);
	assert_memory_equal(out, line0, 74);
	chargen_line(out, 1);
	assert_memory_equal(out, line1, 74);
	chargen_line(out, 94);
	assert_memory_equal(out, line94, 74);
	chargen_line(out, 95);          /* 95 printable characters: the pattern repeats */
	assert_memory_equal(out, line0, 74);
	chargen_line(out, 95 * 1000 + 1);
	assert_memory_equal(out, line1, 74);
}

static void chargen_stream_is_lines_end_to_end(void **state)
{
	uint8_t out[2 * 74], one[74];

	(void)state;
	chargen_stream(out, sizeof(out), 0);
	assert_memory_equal(out, line0, 74);
	assert_memory_equal(out + 74, line1, 74);
	/* Any position continues the same stream. */
	chargen_stream(out, 10, 70);
	assert_memory_equal(out, "fg\r\n!\"#$%&", 10);
	chargen_stream(out, 74, CHARGEN_PERIOD);
	assert_memory_equal(out, line0, 74);
	for (uint64_t i = 0; i < 200; i++) {
		chargen_stream(out, 74, i * 74);
		chargen_line(one, i);
		assert_memory_equal(out, one, 74);
	}
	for (size_t i = 0; i < 72; i++)
		assert_true(out[i] >= 32 && out[i] <= 126);
}

static void time_is_seconds_since_1900_big_endian(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(time_rfc868(out, 0), 4);
	assert_memory_equal(out, "\x83\xaa\x7e\x80", 4);          /* 2208988800 */
	time_rfc868(out, 1);
	assert_memory_equal(out, "\x83\xaa\x7e\x81", 4);
	time_rfc868(out, (time_t)-2208988800LL);                   /* 1900-01-01 00:00 */
	assert_memory_equal(out, "\x00\x00\x00\x00", 4);
	time_rfc868(out, 1795558856);                              /* Tue Nov 24 22:20:56 2026 UTC */
	assert_memory_equal(out, "\xee\xb0\x8c\x48", 4);
}

static void time_wraps_modulo_2_32_in_2036(void **state)
{
	uint8_t out[4];

	(void)state;
	time_rfc868(out, 2085978495);                              /* 2036-02-07 06:28:15 UTC */
	assert_memory_equal(out, "\xff\xff\xff\xff", 4);
	time_rfc868(out, 2085978496);
	assert_memory_equal(out, "\x00\x00\x00\x00", 4);
	time_rfc868(out, 2085978497);
	assert_memory_equal(out, "\x00\x00\x00\x01", 4);
}

static void daytime_is_ctime_layout_with_crlf(void **state)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 24, .tm_wday = 2,
			 .tm_hour = 22, .tm_min = 20, .tm_sec = 56 };
	char out[DAYTIME_MAX];
	size_t n;

	(void)state;
	n = daytime_format(out, sizeof(out), &tm, "%a %b %e %H:%M:%S %Y");
	assert_int_equal(n, 26);
	assert_memory_equal(out, "Tue Nov 24 22:20:56 2026\r\n", 26);
	tm.tm_mday = 3;
	n = daytime_format(out, sizeof(out), &tm, "%a %b %e %H:%M:%S %Y");
	assert_memory_equal(out, "Tue Nov  3 22:20:56 2026\r\n", n);
	n = daytime_format(out, sizeof(out), &tm, "%Y-%m-%dT%H:%M:%SZ");
	assert_memory_equal(out, "2026-11-03T22:20:56Z\r\n", n);
	assert_int_equal(daytime_format(out, 10, &tm, "%a %b %e %H:%M:%S %Y"), 0);
}

static void qotd_ends_lines_with_crlf(void **state)
{
	char out[QOTD_MAX];
	size_t n;

	(void)state;
	n = qotd_format(out, sizeof(out), "one\ntwo\n", 8);
	assert_int_equal(n, 10);
	assert_memory_equal(out, "one\r\ntwo\r\n", 10);
	n = qotd_format(out, sizeof(out), "crlf\r\nkept\r\n\n\n", 14);
	assert_memory_equal(out, "crlf\r\nkept\r\n", n);
	n = qotd_format(out, sizeof(out), "no newline", 10);
	assert_memory_equal(out, "no newline\r\n", n);
}

static void qotd_is_at_most_512_bytes(void **state)
{
	char quote[600], out[QOTD_MAX + 100];

	(void)state;
	memset(quote, 'q', sizeof(quote));
	assert_int_equal(qotd_format(out, sizeof(out), quote, 510), 512);
	assert_memory_equal(out + 510, "\r\n", 2);
	assert_int_equal(qotd_format(out, sizeof(out), quote, 511), 0);
	/* Newlines grow by one byte each on the wire. */
	quote[100] = '\n';
	assert_int_equal(qotd_format(out, sizeof(out), quote, 510), 0);
	assert_int_equal(qotd_format(out, sizeof(out), quote, 509), 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chargen_lines_rotate),
		cmocka_unit_test(chargen_stream_is_lines_end_to_end),
		cmocka_unit_test(time_is_seconds_since_1900_big_endian),
		cmocka_unit_test(time_wraps_modulo_2_32_in_2036),
		cmocka_unit_test(daytime_is_ctime_layout_with_crlf),
		cmocka_unit_test(qotd_ends_lines_with_crlf),
		cmocka_unit_test(qotd_is_at_most_512_bytes),
	};

	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
