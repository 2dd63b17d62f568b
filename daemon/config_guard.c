#include "config_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
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

/* libconfig's setting s as a tree of values, into v (file names: libconfig's, else path). */
static int convert(const config_setting_t *s, const char *path, struct key_value *v)
{
	static const enum value_type types[] = {      /* the others (floats): VALUE_OTHER */
		[CONFIG_TYPE_BOOL] = VALUE_BOOL, [CONFIG_TYPE_INT] = VALUE_INT,
		[CONFIG_TYPE_INT64] = VALUE_INT64, [CONFIG_TYPE_STRING] = VALUE_STRING,
		[CONFIG_TYPE_ARRAY] = VALUE_ARRAY, [CONFIG_TYPE_GROUP] = VALUE_GROUP,
		[CONFIG_TYPE_LIST] = VALUE_LIST,
	};
	const char *file = config_setting_source_file(s);
	int n = config_setting_length(s);

	*v = (struct key_value){ .type = types[config_setting_type(s)], .name = config_setting_name(s),
				 .file = file ? file : path, .line = (int)config_setting_source_line(s) };
	if (v->type == VALUE_BOOL)
		v->b = config_setting_get_bool(s) != 0;
	else if (v->type == VALUE_INT || v->type == VALUE_INT64)
		v->i = v->type == VALUE_INT ? config_setting_get_int(s) : config_setting_get_int64(s);
	else if (v->type == VALUE_STRING)
		v->s = config_setting_get_string(s);
	if (v->type < VALUE_ARRAY)
		return 0;
	if (!(v->members.items = calloc((size_t)n + 1, sizeof(*v->members.items))))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		v->members.n++;         /* first: what a failed conversion made is freed with the rest */
		if (convert(config_setting_get_elem(s, (unsigned)i), path, &v->members.items[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* libconfig reads path into cf (destroy it after, whatever this returns), once
 * config_guard_files() found nothing wrong with it and what it includes, relative to its
 * directory. */
static int parse_file(const char *path, config_t *cf, struct config_errors *errors)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash ? strdup(".") : slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
	int problems;

	config_init(cf);
	if (!dir)
		return -ENOMEM;
	if ((problems = config_guard_files(path, dir, errors)) == 0) {
		config_set_include_dir(cf, dir);
		if (config_read_file(cf, path) != CONFIG_TRUE) {
			const char *file = config_error_file(cf);
			struct config_place at = { .file = file ? file : path, .line = config_error_line(cf),
						   .config_path = path, .errors = errors };
			config_error(&at, "%s", config_error_text(cf));
			problems = 1;
		}
	}
	free(dir);
	return problems;
}

int config_file_read(const char *path, config_tree_fn *fn, void *ctx, struct config_errors *errors)
{
	struct key_value root = { 0 };
	config_t cf;
	int r = parse_file(path, &cf, errors);

	if (r == 0 && (r = convert(config_root_setting(&cf), path, &root)) == 0)
		r = fn(&root, ctx, errors);
	value_free(&root);
	config_destroy(&cf);
	return r;
}
