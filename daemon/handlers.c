#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "proto.h"
#include "qotd.h"

#define DEFAULT_DAYTIME_FORMAT "%a %b %e %H:%M:%S %Y"

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

static ssize_t daytime_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	const struct daytime_options *o = in->options;
	struct tm tm;
	size_t n;

	/* A clock beyond what struct tm holds has no date to tell. */
	if (!(o->utc ? gmtime_r(&in->now, &tm) : localtime_r(&in->now, &tm)))
		return -1;
	n = daytime_format((char *)out, cap < DAYTIME_MAX ? cap : DAYTIME_MAX, &tm, o->format);
	return n ? (ssize_t)n : -1;
}

static ssize_t time_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	(void)cap;
	return (ssize_t)time_rfc868(out, in->now);
}

/* Every day and month name must fit, not just today's. */
static int daytime_parse_format(void *value, const char *format, const struct config_place *src)
{
	bool fits = format[0] != '\0';

	for (int day = 0; fits && day < 7; day++) {
		for (int month = 0; fits && month < 12; month++) {
			char probe[DAYTIME_MAX];
			struct tm tm = { .tm_year = 8099, .tm_mon = month, .tm_mday = 28, .tm_wday = day,
					 .tm_yday = 365, .tm_hour = 23, .tm_min = 59, .tm_sec = 60 };
			fits = daytime_format(probe, sizeof(probe), &tm, format) > 0;
		}
	}
	if (!fits) {
		config_error(src, "daytime format '%s' is empty or too long", format);
		return -1;
	}
	*(char **)value = strdup(format);
	return *(char **)value ? 0 : -ENOMEM;
}

static const struct key daytime_keys[] = {
	{ .name = "format", .type = KEY_STRING, .offset = offsetof(struct daytime_options, format),
	  .def_text = DEFAULT_DAYTIME_FORMAT, .parse = daytime_parse_format, .release = key_free_string },
	{ .name = "utc", .type = KEY_BOOL, .offset = offsetof(struct daytime_options, utc) },
	{ .name = NULL },
};

static const struct handler handlers[] = {
	{ .name = "echo",    .tcp = TCP_ECHO,     .reply = echo_reply },
	{ .name = "discard", .tcp = TCP_DISCARD,  .reply = discard_reply },
	{ .name = "chargen", .tcp = TCP_GENERATE, .reply = chargen_reply },
	{ .name = "qotd",    .tcp = TCP_ONESHOT,  .reply = qotd_reply,
	  .keys = qotd_keys, .options_size = sizeof(struct qotd_options) },
	{ .name = "daytime", .tcp = TCP_ONESHOT,  .reply = daytime_reply,
	  .keys = daytime_keys, .options_size = sizeof(struct daytime_options) },
	{ .name = "time",    .tcp = TCP_ONESHOT,  .reply = time_reply },
};

#define N_HANDLERS (sizeof(handlers) / sizeof(handlers[0]))

const struct handler *handler_find(const char *name)
{
	for (size_t i = 0; i < N_HANDLERS; i++)
		if (strcmp(handlers[i].name, name) == 0)
			return &handlers[i];
	return NULL;
}

const struct handler *handler_with_key(const char *key)
{
	for (size_t i = 0; i < N_HANDLERS; i++)
		for (const struct key *k = handlers[i].keys; k && k->name; k++)
			if (strcmp(k->name, key) == 0)
				return &handlers[i];
	return NULL;
}

const char *handler_names(void)
{
	static char names[128];

	if (!names[0])
		for (size_t i = 0; i < N_HANDLERS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
				 handlers[i].name);
	return names;
}
