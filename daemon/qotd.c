#include "qotd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_guard.h"
#include "errors.h"
#include "proto.h"

static int qotd_load(void *value, const char *path, const struct config_place *src);
static void qotd_free(void *value);

const struct key qotd_keys[] = {
	{ .name = "quotes", .type = KEY_STRING, .def_text = MINETD_QUOTES_PATH, .parse = qotd_load,
	  .release = qotd_free },
	{ .name = NULL },
};

ssize_t qotd_reply(const struct reply_input *in, uint8_t *out, size_t cap)
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
static int add_quote(struct qotd_options *o, const char *text, size_t len, int line, const struct config_place *src)
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
		config_error(&(struct config_place){ o->path, line, NULL, src->errors },
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
	if (quote_start < len && (r = add_quote(o, text + quote_start, len - quote_start, quote_line, src)) != 0)
		return r < 0 ? r : problems + r;
	return problems;
}

/* Relative paths are relative to the configuration file's directory. */
static char *resolve_path(const char *config_path, const char *path)
{
	const char *slash = strrchr(config_path, '/');
	char *out;

	if (path[0] == '/' || !slash)
		return strdup(path);
	if (asprintf(&out, "%.*s/%s", (int)(slash - config_path), config_path, path) < 0)
		return NULL;
	return out;
}

/* Reads a fortune-style file: quotes separated by lines holding a single '%'. */
static int qotd_load(void *value, const char *path, const struct config_place *src)
{
	struct qotd_options *o = value;
	char *text;
	ssize_t len;
	int problems;

	if (!(o->path = resolve_path(src->config_path, path)))
		return -ENOMEM;
	len = file_read_small(o->path, &text);
	if (len < 0) {
		config_error(src, "cannot read quotes file '%s': %s", o->path,
			     file_error(len));
		return -1;
	}
	problems = add_quotes(o, text, (size_t)len, src);
	free(text);
	if (problems == 0 && o->n_quotes == 0) {
		config_error(&(struct config_place){ o->path, 1, NULL, src->errors }, "no quotes in file");
		problems++;
	}
	return problems > 0 ? -1 : problems;
}

static void qotd_free(void *value)
{
	struct qotd_options *o = value;

	for (size_t i = 0; i < o->n_quotes; i++)
		free(o->quotes[i].text);
	free(o->quotes);
	free(o->path);
}
