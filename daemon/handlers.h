/* The handler table, like inetd's biltins[]: one row per handler, and the built-ins too
 * small for a file of their own. */
#pragma once

#include <stdbool.h>

#include "handler.h"

struct daytime_options {
	char *format;           /* strftime(3), checked for every day and month name */
	bool utc;
};

const struct handler *handler_find(const char *name);
/* The handler with an option of that name, or NULL. */
const struct handler *handler_with_key(const char *key);
/* The handler names, comma separated, for messages. */
const char *handler_names(void);
