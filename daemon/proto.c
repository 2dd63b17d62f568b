#include "proto.h"

#include <string.h>

/* 2,208,988,800 seconds separate 1900-01-01 from the Unix epoch (RFC 868). */
#define RFC868_EPOCH_OFFSET 2208988800ULL

void chargen_stream(uint8_t *out, size_t len, uint64_t pos)
{
	uint64_t line = (pos / CHARGEN_LINE_LEN) % CHARGEN_PRINTABLE;
	unsigned col = pos % CHARGEN_LINE_LEN;

	for (size_t i = 0; i < len; i++) {
		if (col < CHARGEN_LINE_CHARS)
			out[i] = (uint8_t)(' ' + (line + col) % CHARGEN_PRINTABLE);
		else
			out[i] = col == CHARGEN_LINE_CHARS ? '\r' : '\n';
		if (++col == CHARGEN_LINE_LEN) {
			col = 0;
			line = (line + 1) % CHARGEN_PRINTABLE;
		}
	}
}

size_t chargen_line(uint8_t out[CHARGEN_LINE_LEN], uint64_t index)
{
	chargen_stream(out, CHARGEN_LINE_LEN, (index % CHARGEN_PRINTABLE) * CHARGEN_LINE_LEN);
	return CHARGEN_LINE_LEN;
}

size_t time_rfc868(uint8_t out[TIME_LEN], time_t now)
{
	/* Unsigned arithmetic wraps modulo 2^64, so modulo 2^32 too, whatever now is. */
	uint32_t t = (uint32_t)((uint64_t)now + RFC868_EPOCH_OFFSET);

	out[0] = t >> 24;
	out[1] = t >> 16;
	out[2] = t >> 8;
	out[3] = t;
	return TIME_LEN;
}

size_t daytime_format(char *out, size_t cap, const struct tm *tm, const char *format)
{
	if (cap < 3)
		return 0;
	/* The format is the admin's, checked when the config is loaded. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	size_t n = strftime(out, cap - 2, format, tm);
#pragma GCC diagnostic pop
	if (n == 0)
		return 0;
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

size_t qotd_format(char *out, size_t cap, const char *quote, size_t len)
{
	size_t n = 0;

	if (cap > QOTD_MAX)
		cap = QOTD_MAX;
	/* Trailing newlines are ours to place: one CRLF ends the quote. */
	while (len > 0 && (quote[len - 1] == '\n' || quote[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		if (quote[i] == '\r')
			continue;
		if (quote[i] == '\n') {
			if (n + 2 > cap)
				return 0;
			out[n++] = '\r';
			out[n++] = '\n';
		} else {
			if (n + 1 > cap)
				return 0;
			out[n++] = quote[i];
		}
	}
	if (n + 2 > cap)
		return 0;
	out[n++] = '\r';
	out[n++] = '\n';
	return n;
}
