/* Config keys as data: a row says a key's name, type, bounds, default and where its value
 * goes; config.c reads every table, its own and the handlers', with one reader. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct config_place;

enum key_type {
	KEY_BOOL,       /* bool */
	KEY_UINT,       /* unsigned, min to max */
	KEY_U64,        /* uint64_t, min to max */
	KEY_PORT,       /* unsigned, 1 to 65535 */
	KEY_STRING,     /* char *, or what parse makes of the text */
	KEY_PORTS,      /* struct port_list */
	KEY_CIDRS,      /* struct cidr_list */
	KEY_GROUP,      /* a group in braces: the keys of 'group', placed from the same base */
	KEY_LIST,       /* a list in parentheses, read by its owner (the services) */
};

struct port_list {
	unsigned *items;
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
	/* Strings: turns text, written at 'at', into the value at 'value'; returns 0, -1 once
	 * it reported the problem, or -ENOMEM. NULL: the value is a copy of the text. */
	int (*parse)(void *value, const char *text, const struct config_place *at);
	void (*release)(void *value);   /* frees what parse made, if anything */
};

/* The release of a string that parse checked and copied. */
static inline void key_free_string(void *value)
{
	free(*(char **)value);
}
