/* openbsd-inetd's inetd.conf, line by line, into groups of minetd's service keys (inetd.h).
 * A line: "[addr:]service socktype proto wait|nowait[.max] user[.group|:group] server
 * [argv0 args...]"; "#" in the first column makes it a comment, a line that starts with a
 * blank continues the one before, and a line "addr:" alone sets the address of the lines
 * after it in its file ("*:" every address again). */
#include "inetd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_guard.h"
#include "keys.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define MEMBERS_MAX 16          /* a group's keys: 5 of every service, 9 of exec's */
#define DEFAULT_MAX 256         /* invocations per minute, as openbsd-inetd's -R */

/* What inetd serves itself ("internal"): minetd's handlers of the same names. */
static const char *const builtins[] = { "echo", "discard", "chargen", "daytime", "time" };

/* A proto field: minetd's protocol, the family an address of the line must have (AF_UNSPEC:
 * either), and the host when the line names none ("::" is dual-stack in minetd). */
static const struct proto {
	const char *name, *protocol;
	int family;
	const char *every;
} protos[] = {
	{ "tcp", "tcp", AF_UNSPEC, "" },        { "udp", "udp", AF_UNSPEC, "" },
	{ "tcp4", "tcp", AF_INET, "0.0.0.0" },  { "udp4", "udp", AF_INET, "0.0.0.0" },
	{ "tcp6", "tcp", AF_INET6, "::" },      { "udp6", "udp", AF_INET6, "::" },
	{ "tcp46", "tcp", AF_UNSPEC, "::" },    { "udp46", "udp", AF_UNSPEC, "::" },
};

/* One line's fields, as written (in the file's text), and what they say. */
struct line {
	const char *host;               /* NULL or "*": the proto's every address */
	const char *service, *socktype, *user, *group, *server;
	const char *argv0;              /* NULL: none written */
	char *const *args;              /* after argv0 */
	size_t n_args;
	const struct proto *proto;
	bool wait;
	long long max;
};

struct reader {
	inetd_service_fn *fn;
	void *context;
	struct config_place at;         /* the file being read, the line of its entry; warnings */
	const char *default_host;       /* an "addr:" line's, for the lines after it */
	char **words;                   /* of the entry being read, in the file's text */
	size_t n_words, cap_words;
};

/* "service socktype proto": what minetd cannot serve whatever the rest says. */
static bool servable(struct reader *r, const char *service, const char *proto)
{
	const char *what = service[0] == '/' || strcmp(proto, "unix") == 0 ? "unix sockets" :
			   strncmp(proto, "rpc/", 4) == 0 || strchr(service, '/') ? "RPC services" : NULL;

	if (what)
		config_error(&r->at, "%s (%s): minetd serves no %s", service, proto, what);
	return !what;
}

static bool parse_proto(struct reader *r, struct line *l, const char *text)
{
	for (size_t i = 0; i < N_ELEMENTS(protos); i++) {
		if (strcmp(text, protos[i].name) == 0) {
			l->proto = &protos[i];
			return true;
		}
	}
	if (strchr(text, ','))
		config_error(&r->at, "protocol '%s': minetd sets no socket buffer sizes", text);
	else
		config_error(&r->at, "unknown protocol '%s' (tcp, udp, tcp4, udp4, tcp6, udp6, tcp46 or udp46)",
			     text);
	return false;
}

static bool check_socktype(struct reader *r, const struct line *l)
{
	bool stream = strcmp(l->socktype, "stream") == 0;

	if (stream == (strcmp(l->proto->protocol, "tcp") == 0) && (stream || strcmp(l->socktype, "dgram") == 0))
		return true;
	if (stream || strcmp(l->socktype, "dgram") == 0)
		config_error(&r->at, "socket type %s does not go with protocol %s", l->socktype, l->proto->name);
	else
		config_error(&r->at, "socket type '%s': minetd serves stream (TCP) and dgram (UDP) only",
			     l->socktype);
	return false;
}

/* "wait" or "nowait", and ".max" invocations a minute. */
static bool parse_wait(struct reader *r, struct line *l, char *text)
{
	char *dot = strchr(text, '.'), *end = NULL;

	l->max = DEFAULT_MAX;
	if (dot) {
		*dot = '\0';
		l->max = strtoll(dot + 1, &end, 10);    /* too large: LLONG_MAX, which a key refuses */
		if (dot[1] < '0' || dot[1] > '9' || *end || l->max < 1) {
			config_error(&r->at, "illegal max field '%s': invocations a minute, 1 or more", dot + 1);
			return false;
		}
	}
	l->wait = strcmp(text, "wait") == 0;
	if (l->wait || strcmp(text, "nowait") == 0)
		return true;
	config_error(&r->at, "'%s' is neither wait nor nowait", text);
	return false;
}

/* The fields after the address; false when they are none that minetd serves (said). */
static bool read_fields(struct reader *r, struct line *l, char **w, size_t n)
{
	char *group;

	if (n < 6) {
		config_error(&r->at, "%zu field%s, not 'service socktype proto wait|nowait user server [argv0 args]'",
			     n, n == 1 ? "" : "s");
		return false;
	}
	l->service = w[0];
	l->socktype = w[1];
	l->server = w[5];
	l->argv0 = n > 6 ? w[6] : NULL;
	l->args = w + 7;
	l->n_args = n > 7 ? n - 7 : 0;
	/* user.group, or user:group: a user's name cannot hold a dot here, as in inetd */
	if ((group = strchr(w[4], '.')) || (group = strchr(w[4], ':'))) {
		*group = '\0';
		l->group = group + 1;
	}
	l->user = w[4];
	return servable(r, w[0], w[2]) && parse_proto(r, l, w[2]) && check_socktype(r, l) && parse_wait(r, l, w[3]);
}

/* The port of the service field, a number or a name /etc/services has for the protocol;
 * *known_as: the built-in that name is (its official name or an alias), if any. */
static bool find_port(struct reader *r, const struct line *l, long long *port, const char **known_as)
{
	struct servent entry, *found = NULL;
	char buf[4096];

	*known_as = NULL;
	if (l->service[0] >= '0' && l->service[0] <= '9' && !l->service[strspn(l->service, "0123456789")]) {
		errno = 0;
		*port = strtoll(l->service, NULL, 10);
		*port = errno ? LLONG_MAX : *port;      /* out of range: the key says so */
		return true;
	}
	if (getservbyname_r(l->service, l->proto->protocol, &entry, buf, sizeof(buf), &found) != 0 || !found) {
		config_error(&r->at, "unknown service '%s': not in /etc/services for %s", l->service,
			     l->proto->protocol);
		return false;
	}
	*port = ntohs((uint16_t)found->s_port);
	for (size_t i = 0; i < N_ELEMENTS(builtins); i++)
		if (strcmp(found->s_name, builtins[i]) == 0)
			*known_as = builtins[i];
	return true;
}

/* Where the line listens: its address, of the proto's family, or every address. */
static bool find_host(struct reader *r, struct line *l)
{
	unsigned char addr[sizeof(struct in6_addr)];
	int family = AF_UNSPEC;

	if (!l->host || strcmp(l->host, "*") == 0) {
		l->host = l->proto->every;
		return true;
	}
	if (inet_pton(AF_INET, l->host, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, l->host, addr) == 1)
		family = AF_INET6;
	if (l->proto->family == AF_UNSPEC || family == AF_UNSPEC || family == l->proto->family)
		return true;
	config_error(&r->at, "address %s is not IPv%c, as protocol %s is", l->host,
		     l->proto->family == AF_INET ? '4' : '6', l->proto->name);
	return false;
}

/* internal: the built-in named after "internal" (minetd's own addition, which lets a numeric
 * service name one), else the one the service is. */
static const char *find_builtin(struct reader *r, const struct line *l, const char *known_as)
{
	const char *want = l->argv0 ? l->argv0 : known_as ? known_as : l->service;

	for (size_t i = 0; i < N_ELEMENTS(builtins); i++)
		if (strcmp(want, builtins[i]) == 0)
			return builtins[i];
	config_error(&r->at, "internal service '%s' unknown (echo, discard, chargen, daytime or time)", want);
	return NULL;
}

/* A member of group for key, where group was written. */
static struct key_value *member(struct key_value *group, const char *key, enum value_type type)
{
	struct key_value *v = &group->members.items[group->members.n++];

	*v = (struct key_value){ .type = type, .name = key, .file = group->file, .line = group->line };
	return v;
}

static void add_string(struct key_value *group, const char *key, const char *s)
{
	member(group, key, VALUE_STRING)->s = s;
}

static void add_integer(struct key_value *group, const char *key, long long i)
{
	member(group, key, VALUE_INT64)->i = i;
}

/* A program's keys, for it to run as inetd runs it; argv: room for its command. */
static void add_exec(struct key_value *group, const struct line *l, struct key_value *argv)
{
	const char *slash = strrchr(l->server, '/');
	struct key_value *command = member(group, "command", VALUE_ARRAY);

	command->members.items = argv;
	for (size_t i = 0; i <= l->n_args; i++)
		argv[command->members.n++] = (struct key_value){ .type = VALUE_STRING, .file = group->file,
								  .line = group->line,
								  .s = i == 0 ? l->server : l->args[i - 1] };
	add_string(group, "argv0", l->argv0 ? l->argv0 : slash ? slash + 1 : l->server);
	add_string(group, "user", l->user);
	if (l->group)
		add_string(group, "group", l->group);
	member(group, "wait", VALUE_BOOL)->b = l->wait;
	/* inetd gives the socket as fds 0 to 2; a datagram of nowait is an exchange of minetd's */
	add_string(group, "stderr", !l->wait && strcmp(l->proto->protocol, "udp") == 0 ? "journal" : "client");
	add_integer(group, "per_minute", l->max);
	add_integer(group, "processes", l->wait ? 1 : l->max);
	add_integer(group, "timeout", 0);       /* an inetd program may run for hours */
}

/* The service of a line whose fields read well, if its names are known, to r->fn. */
static int add_service(struct reader *r, struct line *l)
{
	bool internal = strcmp(l->server, "internal") == 0;
	struct key_value members[MEMBERS_MAX], *argv = NULL;
	struct key_value group = { .type = VALUE_GROUP, .file = r->at.file, .line = r->at.line,
				   .members = { members, 0 } };
	const char *known_as, *builtin = NULL;
	char *name = NULL;
	long long port;
	int rc = -ENOMEM;

	if (!find_port(r, l, &port, &known_as) || !find_host(r, l) ||
	    (internal && !(builtin = find_builtin(r, l, known_as))))
		return 0;
	/* service.proto: one name per line that can be served, the service as written */
	if (asprintf(&name, "%s.%s", l->service, l->proto->name) < 0)
		return -ENOMEM;
	if (internal || (argv = calloc(l->n_args + 1, sizeof(*argv)))) {
		add_string(&group, "name", name);
		add_string(&group, "handler", internal ? builtin : "exec");
		add_integer(&group, "port", port);
		add_string(&group, "protocol", l->proto->protocol);
		add_string(&group, "host", l->host);
		if (!internal)
			add_exec(&group, l, argv);
		rc = r->fn(&group, r->context);
	}
	free(argv);
	free(name);
	return rc;
}

/* "[addr]" as "addr". */
static const char *unbracket(char *host)
{
	size_t len = strlen(host);

	if (len < 2 || host[0] != '[' || host[len - 1] != ']')
		return host;
	host[len - 1] = '\0';
	return host + 1;
}

/* The entry in r->words: a service, a warning, or an address for the lines after it. */
static int read_entry(struct reader *r)
{
	char **w = r->words, *colon = strrchr(w[0], ':');
	size_t n = r->n_words;
	struct line l = { .host = r->default_host };

	if (colon) {
		*colon = '\0';
		l.host = unbracket(w[0]);
		if (colon[1]) {
			w[0] = colon + 1;
		} else if (n == 1) {
			r->default_host = l.host;
			return 0;
		} else {
			w++;
			n--;
		}
	}
	return read_fields(r, &l, w, n) ? add_service(r, &l) : 0;
}

/* The words of line, after those of the entry so far. */
static int add_words(struct reader *r, char *line)
{
	char *save = NULL;

	for (char *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (r->n_words == r->cap_words) {
			size_t cap = r->cap_words ? 2 * r->cap_words : 16;
			char **words = realloc(r->words, cap * sizeof(*words));
			if (!words)
				return -ENOMEM;
			r->words = words;
			r->cap_words = cap;
		}
		r->words[r->n_words++] = w;
	}
	return 0;
}

/* The entries of a file's text, each read once its last line is: a line that starts with
 * neither '#' nor a blank, and the lines after it that start with a blank. text[len] must
 * be there to write. */
static int read_lines(struct reader *r, char *text, size_t len)
{
	int lineno = 0, rc = 0;

	r->n_words = 0;
	for (char *line = text, *end; line < text + len && rc == 0; line = end + 1) {
		end = memchr(line, '\n', (size_t)(text + len - line));
		end = end ? end : text + len;
		*end = '\0';
		lineno++;
		bool continued = r->n_words && (line[0] == ' ' || line[0] == '\t');
		if (r->n_words && !continued) {
			rc = read_entry(r);
			r->n_words = 0;
		}
		if (!continued)
			r->at.line = lineno;    /* of an entry that starts here */
		if (rc == 0 && line[0] != '#')
			rc = add_words(r, line);
	}
	return rc == 0 && r->n_words ? read_entry(r) : rc;
}

/* path: its lines, or a warning that it has none to serve. */
static int read_file(struct reader *r, const char *path)
{
	struct config_place at = { .file = path, .config_path = r->at.config_path, .errors = r->at.errors,
				   .consequence = "the file is not read" };
	char *text;
	ssize_t len = file_read_small(path, &text);

	r->at.file = path;
	r->default_host = NULL;
	if (len == -ENOENT || len == -ENOMEM)
		return len == -ENOMEM ? -ENOMEM : 0;    /* no file, no line */
	if (len < 0)
		config_error(&at, "cannot read: %s", file_error(len));
	else if ((at.line = nul_line(text, (size_t)len)))
		config_error(&at, "NUL byte: not a text file");
	int rc = len < 0 || at.line ? 0 : read_lines(r, text, (size_t)len);

	free(text);
	return rc;
}

/* The names in a directory that are read: not what editors, dpkg and ucf leave. */
static int read_name(const struct dirent *e)
{
	size_t len = strlen(e->d_name);

	return e->d_name[0] != '.' && e->d_name[len - 1] != '~' && !strstr(e->d_name, ".dpkg-") &&
	       !strstr(e->d_name, ".ucf-");
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every regular file of dir (subdirectories and the like are not read). */
static int read_directory(struct reader *r, const char *dir)
{
	struct config_place at = { .file = dir, .config_path = r->at.config_path, .errors = r->at.errors,
				   .consequence = "the directory is not read" };
	struct dirent **names;
	int n = scandir(dir, &names, read_name, by_name), err = n < 0 ? errno : 0, rc = 0;
	struct stat st;

	if (err && err != ENOENT && err != ENOMEM)
		config_error(&at, "cannot read: %s", strerror(err));
	if (n < 0)
		return err == ENOMEM ? -ENOMEM : 0;
	for (int i = 0; i < n; i++) {
		char *path = NULL;
		if (rc == 0 && asprintf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
					names[i]->d_name) < 0) {
			path = NULL;
			rc = -ENOMEM;
		}
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = read_file(r, path);
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int inetd_read(const struct string_list *paths, const struct config_place *at, inetd_service_fn *fn,
	       void *context)
{
	struct reader r = { .fn = fn, .context = context, .at = *at };
	struct stat st;
	int rc = 0;

	r.at.consequence = INETD_LINE_LEFT_OUT;
	for (size_t i = 0; i < paths->n && rc == 0; i++) {
		char *path = config_resolve_path(at, paths->items[i]);
		if (!path)
			rc = -ENOMEM;
		else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = read_directory(&r, path);
		else
			rc = read_file(&r, path);
		free(path);
	}
	free(r.words);
	return rc;
}
