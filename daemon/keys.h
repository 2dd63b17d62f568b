/* Config keys as data: a row says a key's name, type, bounds, default and where its value
 * goes; config.c reads every table, its own and the handlers', with one reader. And the
 * problems found reading them, each one "FILE:LINE: message".
 *
 * What reads, parses or checks config values (here, in config.c, the hooks of struct key
 * and of struct handler) returns the number of problems it reported, 0 when none, or
 * -ENOMEM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_errors {
	char **lines;
	size_t n;
};

/* Where something was written (for a default: the group it is missing from), the main
 * file it was read for (relative paths are relative to its directory), and where its
 * problems go. */
struct config_place {
	const char *file;
	int line;
	const char *config_path;
	struct config_errors *errors;
};

void config_error(const struct config_place *at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void config_errors_clear(struct config_errors *errors);

enum key_type {
	KEY_BOOL,       /* bool */
	KEY_UINT,       /* unsigned, min to max */
	KEY_U64,        /* uint64_t, min to max */
	KEY_PORT,       /* unsigned, 1 to 65535 */
	KEY_STRING,     /* char *, or what parse makes of the text */
	KEY_PORTS,      /* struct port_list */
	KEY_CIDRS,      /* struct cidr_list */
	KEY_STRINGS,    /* struct string_list */
	KEY_GROUP,      /* a group in braces: the keys of 'group', placed from the same base */
	KEY_LIST,       /* a list in parentheses, read by its owner (the services) */
};

struct port_list {
	unsigned *items;
	size_t n;
};

struct string_list {
	char **items;           /* and a NULL after the last, as argv wants it */
	size_t n;
};

struct key {
	const char *name;
	enum key_type type;
	size_t offset;                  /* of the value in the struct the table fills */
	uint64_t min, max, def;         /* integers and booleans */
	const char *def_text;           /* strings: the default, NULL for none */
	bool required;
	const struct key *group;        /* KEY_GROUP: its rows, ending in an empty one */
	/* Strings: turns text, written at 'at', into the value at 'value'. NULL: the value is a
	 * copy of the text, which check (if any) accepted. Both return as a reader does. */
	int (*parse)(void *value, const char *text, const struct config_place *at);
	int (*check)(const char *text, const struct config_place *at);
	void (*release)(void *value);   /* frees what parse made, if anything */
};
