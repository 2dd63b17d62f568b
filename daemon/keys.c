#include "keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void config_error(const struct config_place *at, const char *fmt, ...)
{
	char msg[512], *text;
	char **lines;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&text, "%s:%d: %s", at->file, at->line, msg) < 0)
		return;
	lines = realloc(at->errors->lines, (at->errors->n + 1) * sizeof(*lines));
	if (!lines) {
		free(text);
		return;
	}
	at->errors->lines = lines;
	at->errors->lines[at->errors->n++] = text;
}

void config_errors_clear(struct config_errors *errors)
{
	for (size_t i = 0; i < errors->n; i++)
		free(errors->lines[i]);
	free(errors->lines);
	errors->lines = NULL;
	errors->n = 0;
}
