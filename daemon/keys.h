/* Config keys as data: a row says a key's name, type, bounds, default and where its value
 * goes, and one reader fills a struct from any table (the top level's, a group's, a
 * service's, a handler's). It reads a tree of values that does not say in which syntax they
 * were written: config.c makes one of libconfig's settings, and another source of services
 * can make its own and go through the same tables, checks and messages. And the problems
 * found reading them, each one "FILE:LINE: message".
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
 * problems go: errors of the config, or (with a consequence) warnings about a part of it
 * that is left out, each "FILE:LINE: warning: message; CONSEQUENCE". */
struct config_place {
	const char *file;
	int line;
	const char *config_path;
	struct config_errors *errors;
	const char *consequence;        /* NULL: an error */
};

void config_error(const struct config_place *at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void config_errors_clear(struct config_errors *errors);
/* path as written in the config read for at: relative to its directory. NULL: no memory. */
char *config_resolve_path(const struct config_place *at, const char *path);

enum value_type {
	VALUE_OTHER,    /* one no key takes (libconfig's floats) */
	VALUE_BOOL,
	VALUE_INT,      /* 32 bits: libconfig 1.5 cuts larger integers written without an L suffix */
	VALUE_INT64,
	VALUE_STRING,
	VALUE_ARRAY,    /* of scalars: [ ... ] */
	VALUE_GROUP,    /* of named members: { ... } */
	VALUE_LIST,     /* of anything: ( ... ) */
};

/* A value as a source wrote it, and where. The tree owns its members arrays (value_free());
 * its strings and file names stay the source's, and must outlive the reading. */
struct key_value {
	enum value_type type;
	const char *name;               /* a group's member's key; NULL in an array or a list */
	const char *file;
	int line;
	union {
		bool b;
		long long i;            /* VALUE_INT, VALUE_INT64 */
		const char *s;
		struct {
			struct key_value *items;
			size_t n;
		} members;              /* arrays, groups and lists */
	};
};

/* The member of a group called name; NULL when group is NULL or no group, or has none. */
const struct key_value *value_member(const struct key_value *group, const char *name);
/* Where v was written, for its messages; the rest as in parent. */
struct config_place value_place(const struct key_value *v, const struct config_place *parent);
/* Frees the members arrays below v, not v itself. */
void value_free(struct key_value *v);

enum key_type {
	KEY_BOOL,       /* bool */
	KEY_UINT,       /* unsigned, min to max */
	KEY_U64,        /* uint64_t, min to max */
	KEY_PORT,       /* unsigned, 1 to 65535 */
	KEY_STRING,     /* char *, or what parse makes of the text */
	KEY_PORTS,      /* struct port_list */
	KEY_CIDRS,      /* struct cidr_list (acl.h) */
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
	bool required;                  /* missing: "service without a 'KEY'" (a service's keys) */
	const struct key *group;        /* KEY_GROUP: its rows, ending in an empty one */
	/* Strings: turns text, written at 'at', into the value at 'value'. NULL: the value is a
	 * copy of the text, which check (if any) accepted. Both return as a reader does. */
	int (*parse)(void *value, const char *text, const struct config_place *at);
	int (*check)(const char *text, const struct config_place *at);
	void (*release)(void *value);   /* frees what parse made, if anything */
};

/* The row of keys called name, or NULL; keys may be NULL (no table). */
const struct key *key_find(const struct key *keys, const char *name);

/* For a key that a group's table lacks: the row of another table that has it, or NULL (an
 * unknown key). Sets *owner when the group may not use that row ("'KEY' applies only to the
 * OWNER handler"). */
typedef const struct key *key_elsewhere_fn(const char *name, const void *context, const char **owner);

/* Reports each member of group unknown to keys (and to elsewhere, if not NULL), of a type its
 * row refuses, or another owner's. at: where group was written. */
int check_members(const struct key_value *group, const struct key *keys, key_elsewhere_fn *elsewhere,
		  const void *context, const struct config_place *at);
/* Every key of the table from group, or its default where group (NULL: none) lacks it or
 * holds it with a wrong type (check_members() reports that; a required key is left out). */
int read_values(const struct key_value *group, const struct key *keys, void *base,
		const struct config_place *at);
/* check_members() and read_values(), for a group that holds its own table's keys only. */
int read_group(const struct key_value *group, const struct key *keys, void *base,
	       const struct config_place *at);
/* Frees what read_values() made. */
void release_values(const struct key *keys, void *base);
