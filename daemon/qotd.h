/* qotd (RFC 865): quotes from a fortune-style file, one per reply in turn. */
#pragma once

#include "handler.h"

struct quote {
	char *text;             /* formatted for the wire: CRLF line ends */
	size_t len;
};

struct qotd_options {
	char *path;
	struct quote *quotes;
	size_t n_quotes;
};

extern const struct key qotd_keys[];
ssize_t qotd_reply(const struct reply_input *in, uint8_t *out, size_t cap);
