/* Problems found in configuration files, each one "FILE:LINE: message". */
#pragma once

#include <stddef.h>

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
