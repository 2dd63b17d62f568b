#include "handlers.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "proto.h"

static ssize_t echo_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	if (in->len > cap)
		return -1;
	memmove(out, in->data, in->len);
	return (ssize_t)in->len;
}

static ssize_t discard_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	(void)in;
	(void)out;
	(void)cap;
	return -1;
}

static ssize_t chargen_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	(void)cap;
	return (ssize_t)chargen_line(out, in->seq);
}

static ssize_t qotd_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	const struct service *s = in->service;
	const struct quote *q;

	if (s->n_quotes == 0)
		return -1;
	q = &s->quotes[in->seq % s->n_quotes];
	if (q->len > cap)
		return -1;
	memcpy(out, q->text, q->len);
	return (ssize_t)q->len;
}

static ssize_t daytime_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	const struct service *s = in->service;
	struct tm tm;
	size_t n;

	/* A clock beyond what struct tm holds has no date to tell. */
	if (!(s->daytime_utc ? gmtime_r(&in->now, &tm) : localtime_r(&in->now, &tm)))
		return -1;
	n = daytime_format((char *)out, cap < DAYTIME_MAX ? cap : DAYTIME_MAX, &tm, s->daytime_format);
	return n ? (ssize_t)n : -1;
}

static ssize_t time_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	(void)cap;
	return (ssize_t)time_rfc868(out, in->now);
}

static const struct handler handlers[] = {
	{ "echo",    TCP_ECHO,     echo_reply },
	{ "discard", TCP_DISCARD,  discard_reply },
	{ "chargen", TCP_GENERATE, chargen_reply },
	{ "qotd",    TCP_ONESHOT,  qotd_reply },
	{ "daytime", TCP_ONESHOT,  daytime_reply },
	{ "time",    TCP_ONESHOT,  time_reply },
};

const struct handler *handler_find(const char *name)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].name, name) == 0)
			return &handlers[i];
	return NULL;
}

const char *handler_names(void)
{
	static char names[128];

	if (!names[0])
		for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
				 handlers[i].name);
	return names;
}
