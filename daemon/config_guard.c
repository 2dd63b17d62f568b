#include "config_guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"

#define INCLUDE_DEPTH_MAX 10

ssize_t file_read_small(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	ssize_t r;

	*out = NULL;
	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if (!(*out = malloc(FILE_SMALL_MAX + 1)))
		r = -ENOMEM;
	else if ((r = (ssize_t)fread(*out, 1, FILE_SMALL_MAX + 1, f)) > FILE_SMALL_MAX || ferror(f))
		r = ferror(f) ? -EIO : -EFBIG;
	fclose(f);
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

const char *file_error(ssize_t r)
{
	return r == -EFBIG ? "larger than 1 MiB" : r == -EINVAL ? "not a regular file" : strerror((int)-r);
}

/* The line of text's first NUL byte, or 0 when it has none: libconfig reads a NUL byte
 * into an @include name, then opens the name cut short at it. */
static int nul_line(const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	int line = 1;

	if (!nul)
		return 0;
	for (const char *p = text; p < nul; p++)
		line += *p == '\n';
	return line;
}

static int check_file(const char *path, const char *include_dir, int depth, const char *from, int from_line,
		      struct config_errors *errors);

/* Checks the @include lines of text, the contents of file. */
static int check_includes(char *text, size_t len, const char *file, const char *include_dir, int depth,
			  struct config_errors *errors)
{
	int problems = 0, lineno = 1;

	for (char *line = text; line < text + len; lineno++) {
		char *end = memchr(line, '\n', (size_t)(text + len - line));
		if (!end)
			end = text + len;
		*end = '\0';
		line += strspn(line, " \t");
		char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
		if (strncmp(line, "@include", 8) == 0 && q1 && q2) {
			struct config_place at = { file, lineno, NULL, errors };
			*q2 = '\0';
			if (q1[1] == '/') {
				config_error(&at, "@include '%s': use a path relative to the configuration's "
					     "directory", q1 + 1);
				problems++;
			} else if (depth >= INCLUDE_DEPTH_MAX) {
				config_error(&at, "@include nested too deep");
				problems++;
			} else {
				problems += check_file(q1 + 1, include_dir, depth + 1, file, lineno, errors);
			}
		}
		line = end + 1;
	}
	return problems;
}

/* path is the main file when from is NULL, else an @include name found at from:from_line. */
static int check_file(const char *path, const char *include_dir, int depth, const char *from, int from_line,
		      struct config_errors *errors)
{
	char *text, *full = NULL;
	ssize_t len;
	int problems, line;

	/* libconfig looks for included files in the main file's directory */
	if (from && asprintf(&full, "%s/%s", include_dir, path) < 0)
		return 1;
	len = file_read_small(full ? full : path, &text);
	struct config_place at = { from ? from : path, from_line, NULL, errors };
	if (len < 0) {
		if (from)
			config_error(&at, "cannot include '%s': %s", path, file_error(len));
		else
			config_error(&at, "cannot read: %s", file_error(len));
		free(full);
		return 1;
	}
	if ((line = nul_line(text, (size_t)len))) {
		at = (struct config_place){ full ? full : path, line, NULL, errors };
		config_error(&at, "NUL byte: not a text file");
		problems = 1;
	} else {
		problems = check_includes(text, (size_t)len, full ? full : path, include_dir, depth, errors);
	}
	free(text);
	free(full);
	return problems;
}

int config_guard_files(const char *path, const char *include_dir, struct config_errors *errors)
{
	return check_file(path, include_dir, 0, NULL, 0, errors);
}
