/* Wire formats of the small services: pure functions, bytes and a time in, bytes out. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CHARGEN_LINE_CHARS 72
#define CHARGEN_LINE_LEN (CHARGEN_LINE_CHARS + 2)       /* with CRLF */
#define CHARGEN_PRINTABLE 95                             /* ASCII 32..126 */
#define CHARGEN_PERIOD ((uint64_t)CHARGEN_PRINTABLE * CHARGEN_LINE_LEN)
#define QOTD_MAX 512                                     /* RFC 865 */
#define TIME_LEN 4
#define DAYTIME_MAX 256
#define UDP_MAX_PAYLOAD 65507

/* Fills out[0..len) with bytes pos..pos+len of the endless RFC 864 stream. */
void chargen_stream(uint8_t *out, size_t len, uint64_t pos);

/* Writes line number 'index' of the RFC 864 stream (74 bytes, with CRLF). */
size_t chargen_line(uint8_t out[CHARGEN_LINE_LEN], uint64_t index);

/* RFC 868: seconds since 1900-01-01 00:00 UTC, big endian, modulo 2^32. */
size_t time_rfc868(uint8_t out[TIME_LEN], time_t now);

/* RFC 867: tm formatted with strftime(3) 'format', then CRLF. Returns the length,
 * or 0 when it does not fit in cap. */
size_t daytime_format(char *out, size_t cap, const struct tm *tm, const char *format);

/* RFC 865: a quote with every line ending in CRLF, at most QOTD_MAX bytes.
 * Returns the length of the text written, or 0 when it would exceed the limit. */
size_t qotd_format(char *out, size_t cap, const char *quote, size_t len);
