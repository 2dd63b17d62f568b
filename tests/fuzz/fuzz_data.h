/* A tiny data provider for the harnesses: numbers and strings taken from the fuzzer's input,
 * zeros once it runs out. Invariant failures abort with a message, so libFuzzer saves the input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_data {
	const uint8_t *p;
	size_t left;
};

static inline uint64_t fd_uint(struct fuzz_data *d, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes && d->left > 0; i++, d->p++, d->left--)
		v = v << 8 | *d->p;
	return v;
}

static inline uint8_t fd_u8(struct fuzz_data *d) { return (uint8_t)fd_uint(d, 1); }
static inline uint16_t fd_u16(struct fuzz_data *d) { return (uint16_t)fd_uint(d, 2); }
static inline uint32_t fd_u32(struct fuzz_data *d) { return (uint32_t)fd_uint(d, 4); }
static inline uint64_t fd_u64(struct fuzz_data *d) { return fd_uint(d, 8); }
static inline bool fd_bool(struct fuzz_data *d) { return fd_u8(d) & 1; }

/* A value in [lo, hi]. */
static inline uint64_t fd_range(struct fuzz_data *d, uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo, v = fd_uint(d, span > 0xffffffff ? 8 : span > 0xffff ? 4 : span > 0xff ? 2 : 1);

	return span == UINT64_MAX ? v : lo + v % (span + 1);
}

/* Up to max bytes, ending at the next NUL (consumed) or at the end of the input; a fresh
 * heap copy, NUL-terminated, of exactly the length needed, so ASan sees any overrun. */
static inline char *fd_string(struct fuzz_data *d, size_t max, size_t *len_out)
{
	size_t len = 0;

	while (len < d->left && len < max && d->p[len] != '\0')
		len++;
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, d->p, len);
	s[len] = '\0';
	d->p += len;
	d->left -= len;
	if (d->left > 0 && *d->p == '\0' && len < max) {
		d->p++;
		d->left--;
	}
	if (len_out)
		*len_out = len;
	return s;
}

/* The rest of the input, as an exact-size heap copy. */
static inline uint8_t *fd_rest(struct fuzz_data *d, size_t *len)
{
	uint8_t *b = malloc(d->left ? d->left : 1);

	if (!b)
		abort();
	memcpy(b, d->p, d->left);
	*len = d->left;
	d->p += d->left;
	d->left = 0;
	return b;
}

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			abort();                                                \
		}                                                               \
	} while (0)
