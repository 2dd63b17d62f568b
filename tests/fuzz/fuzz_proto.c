/* The pure wire formats (daemon/proto.c) with arbitrary positions, times, formats and texts.
 * The first byte picks the function; the rest are its arguments. Outputs go to heap buffers
 * of exactly the size given, so that ASan catches a write past the capacity. */
#include <time.h>

#include "fuzz_data.h"
#include "proto.h"

/* Byte 'pos' of the RFC 864 stream, from the definition: line L holds the 72 printable
 * characters starting at ' ' + L (mod 95), then CRLF; the stream repeats every 95 lines. */
static uint8_t chargen_reference(uint64_t pos)
{
	uint64_t r = pos % CHARGEN_PERIOD, line = r / CHARGEN_LINE_LEN, col = r % CHARGEN_LINE_LEN;

	if (col == CHARGEN_LINE_CHARS)
		return '\r';
	if (col == CHARGEN_LINE_CHARS + 1)
		return '\n';
	return (uint8_t)(32 + (line + col) % CHARGEN_PRINTABLE);
}

static void fuzz_chargen(struct fuzz_data *d)
{
	uint64_t pos = fd_u64(d);
	size_t len = fd_range(d, 0, 3 * CHARGEN_PERIOD), split = fd_range(d, 0, len);
	uint8_t *out = malloc(len), *two = malloc(len), line[CHARGEN_LINE_LEN], again[CHARGEN_LINE_LEN];

	if (!out || !two)
		abort();
	chargen_stream(out, len, pos);
	/* Positions past 2^64 go on counting: the stream is a function of pos + i as a number. */
	uint64_t base = pos % CHARGEN_PERIOD;
	for (size_t i = 0; i < len; i++) {
		uint8_t want = chargen_reference(base + i);
		CHECK(out[i] == want, "chargen_stream(pos=%llu, len=%zu)[%zu] = %d, want %d",
		      (unsigned long long)pos, len, i, out[i], want);
		CHECK((out[i] >= 32 && out[i] <= 126) || out[i] == '\r' || out[i] == '\n', "byte %d", out[i]);
		if (i > 0 && out[i] == '\n')
			CHECK(out[i - 1] == '\r', "LF without CR at %zu", i);
	}
	/* Any split continues the same stream. */
	if (pos <= UINT64_MAX - len) {
		chargen_stream(two, split, pos);
		chargen_stream(two + split, len - split, pos + split);
		CHECK(memcmp(out, two, len) == 0, "split at %zu differs (pos=%llu, len=%zu)", split,
		      (unsigned long long)pos, len);
	}
	/* A line is the stream at the line's start. */
	CHECK(chargen_line(line, pos) == CHARGEN_LINE_LEN, "chargen_line length");
	chargen_stream(again, CHARGEN_LINE_LEN, (pos % CHARGEN_PRINTABLE) * CHARGEN_LINE_LEN);
	CHECK(memcmp(line, again, CHARGEN_LINE_LEN) == 0, "chargen_line(%llu)", (unsigned long long)pos);
	CHECK(line[0] == 32 + pos % CHARGEN_PRINTABLE && line[72] == '\r' && line[73] == '\n',
	      "chargen_line(%llu) shape", (unsigned long long)pos);
	if (pos <= UINT64_MAX / CHARGEN_LINE_LEN) {
		chargen_stream(again, CHARGEN_LINE_LEN, pos * CHARGEN_LINE_LEN);
		CHECK(memcmp(line, again, CHARGEN_LINE_LEN) == 0, "line %llu vs stream", (unsigned long long)pos);
	}
	free(out);
	free(two);
}

static void fuzz_time(struct fuzz_data *d)
{
	time_t now = (time_t)fd_u64(d);
	uint8_t out[TIME_LEN];
	/* Seconds since 1900 modulo 2^32, computed without signed arithmetic. */
	uint32_t want = (uint32_t)((uint64_t)now + 2208988800ULL);

	CHECK(time_rfc868(out, now) == TIME_LEN, "length");
	uint32_t got = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
	CHECK(got == want, "time_rfc868(%lld) = %u, want %u", (long long)now, got, want);
}

static void fuzz_daytime(struct fuzz_data *d)
{
	static const char *zones[] = { "UTC", "CET", "", "A-VERY-LONG-ZONE-NAME-THAT-NOBODY-USES" };
	struct tm tm = {
		.tm_sec = (int)fd_u32(d), .tm_min = (int)fd_u32(d), .tm_hour = (int)fd_u32(d),
		.tm_mday = (int)fd_u32(d), .tm_mon = (int)fd_u32(d), .tm_year = (int)fd_u32(d),
		.tm_wday = (int)fd_u32(d), .tm_yday = (int)fd_u32(d), .tm_isdst = (int8_t)fd_u8(d),
		.tm_gmtoff = (long)(int32_t)fd_u32(d),
	};
	uint8_t shape = fd_u8(d);
	size_t cap = fd_range(d, 0, 2 * DAYTIME_MAX);
	char *format = fd_string(d, 2 * DAYTIME_MAX, NULL), reference[8192];

	tm.tm_zone = zones[shape % 4];
	if (shape & 4) {        /* a real time too, as the daemon passes them */
		time_t t = (time_t)(int32_t)tm.tm_sec * 16;
		gmtime_r(&t, &tm);
	}
	struct tm copy = tm;
	char *out = malloc(cap);
	if (!out)
		abort();
	size_t n = daytime_format(out, cap, &tm, format);
	CHECK(memcmp(&copy, &tm, sizeof(tm)) == 0, "tm changed");
	size_t want = strftime(reference, sizeof(reference), format, &copy);
	bool fits = want > 0 && cap >= 3 && want <= cap - 3;    /* strftime's NUL, then CRLF */
	if (fits) {
		CHECK(n == want + 2, "daytime_format('%s', cap %zu) = %zu, want %zu", format, cap, n, want + 2);
		CHECK(memcmp(out, reference, want) == 0, "text differs for '%s'", format);
		CHECK(out[n - 2] == '\r' && out[n - 1] == '\n', "no CRLF for '%s'", format);
	} else {
		CHECK(n == 0, "daytime_format('%s', cap %zu) = %zu, want 0 (strftime gives %zu)", format, cap, n, want);
	}
	free(out);
	free(format);
}

/* The RFC 865 text the daemon sends for a quote: trailing line ends dropped, CRs dropped,
 * every LF made CRLF, one CRLF at the end. */
static size_t qotd_reference(char *out, const char *quote, size_t len)
{
	size_t n = 0;

	while (len > 0 && (quote[len - 1] == '\n' || quote[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		if (quote[i] == '\n')
			out[n++] = '\r';
		if (quote[i] != '\r')
			out[n++] = quote[i];
	}
	out[n++] = '\r';
	out[n++] = '\n';
	return n;
}

static void fuzz_qotd(struct fuzz_data *d)
{
	size_t cap = fd_range(d, 0, 2 * QOTD_MAX), len;
	uint8_t *quote = fd_rest(d, &len);
	char *out = malloc(cap), *reference = malloc(2 * len + 2);

	if (!out || !reference)
		abort();
	size_t n = qotd_format(out, cap, (const char *)quote, len);
	size_t want = qotd_reference(reference, (const char *)quote, len);
	size_t limit = cap < QOTD_MAX ? cap : QOTD_MAX;
	if (want <= limit) {
		CHECK(n == want, "qotd_format(len %zu, cap %zu) = %zu, want %zu", len, cap, n, want);
		CHECK(memcmp(out, reference, n) == 0, "qotd text differs");
		for (size_t i = 0; i < n; i++)
			CHECK((out[i] == '\n') == (i > 0 && out[i - 1] == '\r'), "bare CR or LF at %zu", i);
	} else {
		CHECK(n == 0, "qotd_format(len %zu, cap %zu) = %zu: over the limit %zu", len, cap, n, limit);
	}
	free(out);
	free(reference);
	free(quote);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_data d = { data, size };

	switch (fd_u8(&d) % 4) {
	case 0: fuzz_chargen(&d); break;
	case 1: fuzz_time(&d); break;
	case 2: fuzz_daytime(&d); break;
	case 3: fuzz_qotd(&d); break;
	}
	return 0;
}
