/* The handler table, like inetd's biltins[]: one row per handler; and the built-in
 * handlers, each with its options. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "handler.h"

struct quote {
	char *text;             /* formatted for the wire: CRLF line ends */
	size_t len;
};

/* qotd (RFC 865): quotes from a fortune-style file, one per reply in turn. */
struct qotd_options {
	char *path;
	struct quote *quotes;
	size_t n_quotes;
};

struct daytime_options {
	char *format;           /* strftime(3), checked for every day and month name */
	bool utc;
};

const struct handler *handler_find(const char *name);
/* The handler with an option of that name, or NULL. */
const struct handler *handler_with_key(const char *key);
/* The handler names, comma separated, for messages. */
const char *handler_names(void);
