#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_guard.h"
#include "exec_options.h"
#include "keys.h"
#include "proto.h"

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

static ssize_t qotd_reply(const struct reply_input *in, uint8_t *out, size_t cap)
{
	const struct qotd_options *o = in->options;
	const struct quote *q;

	if (o->n_quotes == 0)
		return -1;
	q = &o->quotes[in->seq % o->n_quotes];
	if (q->len > cap)
		return -1;
	memcpy(out, q->text, q->len);
	return (ssize_t)q->len;
}

/* Returns the number of problems (0 or 1), or -ENOMEM. */
static int add_quote(struct qotd_options *o, const char *text, size_t len, int line,
		     const struct config_place *src)
{
	char buf[QOTD_MAX];
	struct quote *q;
	size_t n;

	while (len > 0 && (*text == '\n' || *text == '\r')) {
		text++;
		len--;
	}
	if (len == 0)
		return 0;
	n = qotd_format(buf, sizeof(buf), text, len);
	if (n == 0) {
		config_error(&(struct config_place){ .file = o->path, .line = line, .errors = src->errors,
						     .consequence = src->consequence },
			     "quote longer than %d bytes (RFC 865)", QOTD_MAX);
		return 1;
	}
	q = realloc(o->quotes, (o->n_quotes + 1) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	o->quotes = q;
	if (!(q[o->n_quotes].text = malloc(n)))
		return -ENOMEM;
	memcpy(q[o->n_quotes].text, buf, n);
	q[o->n_quotes++].len = n;
	return 0;
}

/* Splits text at lines holding a single '%'; returns the number of problems or -ENOMEM. */
static int add_quotes(struct qotd_options *o, const char *text, size_t len, const struct config_place *src)
{
	size_t pos = 0, quote_start = 0;
	int lineno = 1, quote_line = 1, problems = 0, r;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t line_len = end - pos;
		if (line_len > 0 && text[end - 1] == '\r')
			line_len--;
		if (line_len == 1 && text[pos] == '%') {
			if ((r = add_quote(o, text + quote_start, pos - quote_start, quote_line, src)) < 0)
				return r;
			problems += r;
			quote_start = end + 1;
			quote_line = lineno + 1;
		}
		pos = end + 1;
		lineno++;
	}
	r = quote_start < len ? add_quote(o, text + quote_start, len - quote_start, quote_line, src) : 0;
	return r < 0 ? r : problems + r;
}

/* Reads a fortune-style file: quotes separated by lines holding a single '%'. */
static int qotd_load(void *value, const char *path, const struct config_place *src)
{
	struct qotd_options *o = value;
	char *text;
	ssize_t len;
	int problems;

	if (!(o->path = config_resolve_path(src, path)))
		return -ENOMEM;
	len = file_read_small(o->path, &text);
	if (len < 0) {
		config_error(src, "cannot read quotes file '%s': %s", o->path,
			     file_error(len));
		return 1;
	}
	problems = add_quotes(o, text, (size_t)len, src);
	free(text);
	if (problems == 0 && o->n_quotes == 0) {
		config_error(&(struct config_place){ .file = o->path, .line = 1, .errors = src->errors,
						     .consequence = src->consequence },
			     "no quotes in file");
		problems++;
	}
	return problems;
}

static void qotd_free(void *value)
{
	struct qotd_options *o = value;

	for (size_t i = 0; i < o->n_quotes; i++)
		free(o->quotes[i].text);
	free(o->quotes);
	free(o->path);
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
static int daytime_check_format(const char *format, const struct config_place *src)
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
	if (fits)
		return 0;
	config_error(src, "daytime format '%s' is empty or too long", format);
	return 1;
}

static const struct key qotd_keys[] = {
	{ .name = "quotes", .type = KEY_STRING, .def_text = MINETD_QUOTES_PATH, .parse = qotd_load,
	  .release = qotd_free },
	{ .name = NULL },
};

static const struct key daytime_keys[] = {
	{ .name = "format", .type = KEY_STRING, .offset = offsetof(struct daytime_options, format),
	  .def_text = DEFAULT_DAYTIME_FORMAT, .check = daytime_check_format },
	{ .name = "utc", .type = KEY_BOOL, .offset = offsetof(struct daytime_options, utc) },
	{ .name = NULL },
};

static const struct handler handlers[] = {
	{ .name = "echo",    .tcp = TCP_ECHO,     .reply = echo_reply },
	{ .name = "discard", .tcp = TCP_DISCARD,  .reply = discard_reply },
	{ .name = "chargen", .tcp = TCP_GENERATE, .reply = chargen_reply },
	{ .name = "qotd",    .tcp = TCP_ONESHOT,  .reply = qotd_reply,
	  .keys = qotd_keys, .options_size = sizeof(struct qotd_options) },
	{ .name = "daytime", .tcp = TCP_ONESHOT,  .reply = daytime_reply, .per_second = true,
	  .keys = daytime_keys, .options_size = sizeof(struct daytime_options) },
	{ .name = "time",    .tcp = TCP_ONESHOT,  .reply = time_reply, .per_second = true },
	{ .name = "exec",    .tcp = TCP_PROGRAM,
	  .keys = exec_keys, .options_size = sizeof(struct exec_options), .check = exec_check,
	  .release = exec_release },
};

#define N_HANDLERS (sizeof(handlers) / sizeof(handlers[0]))

/* The handler names, comma separated, for messages. */
static const char *handler_names(void)
{
	static char names[128];

	if (!names[0])
		for (size_t i = 0; i < N_HANDLERS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
				 handlers[i].name);
	return names;
}

int handler_parse(void *value, const char *text, const struct config_place *at)
{
	if ((*(const struct handler **)value = handler_find(text)))
		return 0;
	config_error(at, "unknown handler '%s' (known: %s)", text, handler_names());
	return 1;
}

const struct handler *handler_find(const char *name)
{
	for (size_t i = 0; i < N_HANDLERS; i++)
		if (strcmp(handlers[i].name, name) == 0)
			return &handlers[i];
	return NULL;
}

const struct key *handler_option(const char *key, const void *named, const char **owner)
{
	for (size_t i = 0; i < N_HANDLERS; i++) {
		const struct key *k = key_find(handlers[i].keys, key);
		if (!k)
			continue;
		/* with a mistyped handler, the typo is the one problem to say */
		if (named && strcmp(handlers[i].name, named) != 0 && handler_find(named))
			*owner = handlers[i].name;
		return k;
	}
	return NULL;
}
