/* The services: one row each, like inetd's biltins[]. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct service;

/* What a TCP connection does once accepted. */
enum tcp_behaviour {
	TCP_ECHO,       /* send back what arrives, in order, until the client closes */
	TCP_DISCARD,    /* read and drop until the client closes */
	TCP_GENERATE,   /* send the chargen stream until the client closes */
	TCP_ONESHOT,    /* send reply(), then close */
};

/* Everything a reply may depend on, so that replies stay pure. */
struct reply_input {
	const struct service *service;
	uint64_t seq;           /* how many replies the service gave before this one */
	time_t now;
	const uint8_t *data;    /* the datagram, or NULL for TCP */
	size_t len;
};

struct handler {
	const char *name;
	enum tcp_behaviour tcp;
	/* The reply to one datagram, or the one-shot TCP reply, written to out (cap bytes,
	 * at least UDP_MAX_PAYLOAD). Returns its length, or -1 when nothing is sent. */
	ssize_t (*reply)(const struct reply_input *in, uint8_t *out, size_t cap);
};

const struct handler *handler_find(const char *name);
/* The handler names, space separated, for messages. */
const char *handler_names(void);
