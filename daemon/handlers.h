/* The handler table, like inetd's biltins[]: the row every handler fills (what a handler
 * is), and the built-in handlers, each with its options. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "keys.h"

/* What a TCP connection does once accepted. */
enum tcp_behaviour {
	TCP_ECHO,       /* send back what arrives, in order, until the client closes */
	TCP_DISCARD,    /* read and drop until the client closes */
	TCP_GENERATE,   /* send the chargen stream until the client closes */
	TCP_ONESHOT,    /* send reply(), then close */
	TCP_PROGRAM,    /* the connection is a program's stdin and stdout (exec); no reply() */
};

/* Everything a reply may depend on, so that replies stay pure. */
struct reply_input {
	const void *options;    /* the service's options for its handler, or NULL */
	uint64_t seq;           /* how many replies the service gave before this one */
	time_t now;
	const uint8_t *data;    /* the datagram, or NULL for TCP */
	size_t len;
};

struct handler {
	const char *name;
	enum tcp_behaviour tcp;
	/* The reply depends on the options and the clock's second only: one made per second
	 * serves every client of that second (strftime costs more than the rest). */
	bool per_second;
	/* The reply to one datagram, or the one-shot TCP reply, written to out (cap bytes,
	 * at least UDP_MAX_PAYLOAD). Returns its length, or -1 when nothing is sent. */
	ssize_t (*reply)(const struct reply_input *in, uint8_t *out, size_t cap);
	/* Its own config keys, read into a struct of options_size bytes (the service's
	 * options); NULL when it has none. */
	const struct key *keys;
	size_t options_size;
	/* Checks the options once every key is read (what one key cannot see alone);
	 * returns 0, the number of problems it reported, or -ENOMEM. NULL: none. */
	int (*check)(void *options, const struct config_place *at);
	/* Frees what check made; NULL: nothing. */
	void (*release)(void *options);
};

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
/* The row of a handler's option called key, the first handler's that has one, or NULL; for a
 * service that names a handler ('named', a const char *, NULL when it names none), *owner is
 * set when another handler's it is. A key_elsewhere_fn (keys.h). */
const struct key *handler_option(const char *key, const void *named, const char **owner);
/* The handler called text, into the const struct handler * at value: a service's key
 * "handler", as a struct key's parse. */
int handler_parse(void *value, const char *text, const struct config_place *at);
