#include "config_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

#define INCLUDE_DEPTH_MAX 10
#define INCLUDE_FILES_MAX 64

ssize_t file_read_small(const char *path, char **out)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused unread. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	ssize_t r = 0, n = 0;

	*out = NULL;
	if (fd < 0)     /* a unix socket cannot be opened: say what it is */
		return errno == ENXIO && stat(path, &st) == 0 && !S_ISREG(st.st_mode) ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if (!(*out = malloc(FILE_SMALL_MAX + 1)))
		r = -ENOMEM;
	else {
		while (r <= FILE_SMALL_MAX && (n = read(fd, *out + r, FILE_SMALL_MAX + 1 - (size_t)r)) > 0)
			r += n;
		r = n < 0 ? -errno : r > FILE_SMALL_MAX ? -EFBIG : r;
	}
	close(fd);
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

/* libconfig reads a NUL byte into an @include name, then opens the name cut short at it. */
int nul_line(const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	int line = 1;

	if (!nul)
		return 0;
	for (const char *p = text; p < nul; p++)
		line += *p == '\n';
	return line;
}

/* What the check of one configuration has read so far: every file at most once, so that
 * neither a cycle nor a file included many times can make the graph grow. */
struct guard {
	const char *include_dir;
	struct config_errors *errors;
	struct {
		dev_t dev;
		ino_t ino;
	} seen[INCLUDE_FILES_MAX];
	size_t n_seen;
};

static int check_file(struct guard *g, const char *path, int depth, const char *from, int from_line);

/* Checks the @include lines of text, the contents of file. */
static int check_includes(struct guard *g, char *text, size_t len, const char *file, int depth)
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
			struct config_place at = { .file = file, .line = lineno, .errors = g->errors };
			*q2 = '\0';
			if (q1[1] == '/') {
				config_error(&at, "@include '%s': use a path relative to the configuration's "
					     "directory", q1 + 1);
				problems++;
			} else if (depth >= INCLUDE_DEPTH_MAX) {
				config_error(&at, "@include nested too deep");
				problems++;
			} else {
				problems += check_file(g, q1 + 1, depth + 1, file, lineno);
			}
		}
		line = end + 1;
	}
	return problems;
}

/* Why path may not be read once more, or NULL; remembers it. */
static const char *seen_before(struct guard *g, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return NULL;    /* reading it says why */
	for (size_t i = 0; i < g->n_seen; i++)
		if (g->seen[i].dev == st.st_dev && g->seen[i].ino == st.st_ino)
			return "included more than once";
	if (g->n_seen == INCLUDE_FILES_MAX)
		return "too many files included";
	g->seen[g->n_seen].dev = st.st_dev;
	g->seen[g->n_seen++].ino = st.st_ino;
	return NULL;
}

/* path is the main file when from is NULL, else an @include name found at from:from_line. */
static int check_file(struct guard *g, const char *path, int depth, const char *from, int from_line)
{
	char *text = NULL, *full = NULL;
	const char *why;
	ssize_t len = 0;
	int problems = 1, line;

	/* libconfig looks for included files in the main file's directory */
	if (from && asprintf(&full, "%s/%s", g->include_dir, path) < 0)
		return 1;
	struct config_place at = { .file = from ? from : path, .line = from_line, .errors = g->errors };
	const char *file = full ? full : path;
	if ((why = seen_before(g, file)) || (len = file_read_small(file, &text)) < 0) {
		why = why ? why : file_error(len);
		if (from)
			config_error(&at, "cannot include '%s': %s", path, why);
		else
			config_error(&at, "cannot read: %s", why);
	} else if ((line = nul_line(text, (size_t)len))) {
		at = (struct config_place){ .file = full ? full : path, .line = line, .errors = g->errors };
		config_error(&at, "NUL byte: not a text file");
	} else {
		problems = check_includes(g, text, (size_t)len, full ? full : path, depth);
	}
	free(text);
	free(full);
	return problems;
}

int config_guard_files(const char *path, const char *include_dir, struct config_errors *errors)
{
	struct guard *g = calloc(1, sizeof(*g));
	int problems;

	if (!g)
		return 1;
	*g = (struct guard){ .include_dir = include_dir, .errors = errors };
	problems = check_file(g, path, 0, NULL, 0);
	free(g);
	return problems;
}
