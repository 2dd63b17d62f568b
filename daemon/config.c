#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "handlers.h"
#include "proto.h"

#ifndef MINETD_QUOTES_PATH
#define MINETD_QUOTES_PATH "/usr/share/minetd/quotes"
#endif
#define DEFAULT_DAYTIME_FORMAT "%a %b %e %H:%M:%S %Y"
#define NAME_MAX_LEN 64
#define QUOTES_FILE_MAX (1024 * 1024)

struct key {
	const char *name;
	int type;
	const char *handler;    /* the only handler it applies to, or NULL */
};

static const struct key top_keys[] = {
	{ "host", CONFIG_TYPE_STRING, NULL },
	{ "log_connections", CONFIG_TYPE_BOOL, NULL },
	{ "workers", CONFIG_TYPE_INT, NULL },
	{ "limits", CONFIG_TYPE_GROUP, NULL },
	{ "udp", CONFIG_TYPE_GROUP, NULL },
	{ "allow", CONFIG_TYPE_ARRAY, NULL },
	{ "deny", CONFIG_TYPE_ARRAY, NULL },
	{ "services", CONFIG_TYPE_LIST, NULL },
	{ NULL, 0, NULL },
};

static const struct key limits_keys[] = {
	{ "connections", CONFIG_TYPE_INT, NULL },
	{ "connections_per_source", CONFIG_TYPE_INT, NULL },
	{ "idle_timeout", CONFIG_TYPE_INT, NULL },
	{ "lifetime", CONFIG_TYPE_INT, NULL },
	{ "bytes", CONFIG_TYPE_INT, NULL },
	{ NULL, 0, NULL },
};

static const struct key udp_keys[] = {
	{ "privileged_source_ports", CONFIG_TYPE_BOOL, NULL },
	{ "loop_ports", CONFIG_TYPE_ARRAY, NULL },
	{ "amplification", CONFIG_TYPE_INT, NULL },
	{ "small_reply", CONFIG_TYPE_INT, NULL },
	{ "verified_time", CONFIG_TYPE_INT, NULL },
	{ "source_rate", CONFIG_TYPE_INT, NULL },
	{ "source_burst", CONFIG_TYPE_INT, NULL },
	{ "global_rate", CONFIG_TYPE_INT, NULL },
	{ "global_burst", CONFIG_TYPE_INT, NULL },
	{ NULL, 0, NULL },
};

/* The safe defaults, documented in minetd.conf(5). */
static const struct tcp_limits default_limits = {
	.connections = 10000,
	.connections_per_source = 256,
	.idle_timeout = 60,
	.lifetime = 600,
	.bytes = 100 * 1024 * 1024,
};

static const struct udp_policy default_udp = {
	.privileged_source_ports = false,
	.amplification = 1,
	.small_reply = 32,
	.verified_time = 600,
	.source_rate = 1024 * 1024,
	.source_burst = 256 * 1024,
	.global_rate = 32 * 1024 * 1024,
	.global_burst = 4 * 1024 * 1024,
};

static const struct key service_keys[] = {
	{ "name", CONFIG_TYPE_STRING, NULL },
	{ "handler", CONFIG_TYPE_STRING, NULL },
	{ "port", CONFIG_TYPE_INT, NULL },
	{ "protocol", CONFIG_TYPE_STRING, NULL },
	{ "host", CONFIG_TYPE_STRING, NULL },
	{ "quotes", CONFIG_TYPE_STRING, "qotd" },
	{ "format", CONFIG_TYPE_STRING, "daytime" },
	{ "utc", CONFIG_TYPE_BOOL, "daytime" },
	{ "allow", CONFIG_TYPE_ARRAY, NULL },
	{ "deny", CONFIG_TYPE_ARRAY, NULL },
	{ NULL, 0, NULL },
};

static void add_error(struct config_errors *errors, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_error(struct config_errors *errors, const char *file, int line, const char *fmt, ...)
{
	char msg[512], *text;
	char **lines;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&text, "%s:%d: %s", file, line, msg) < 0)
		return;
	lines = realloc(errors->lines, (errors->n + 1) * sizeof(*lines));
	if (!lines) {
		free(text);
		return;
	}
	errors->lines = lines;
	errors->lines[errors->n++] = text;
}

void config_errors_clear(struct config_errors *errors)
{
	for (size_t i = 0; i < errors->n; i++)
		free(errors->lines[i]);
	free(errors->lines);
	errors->lines = NULL;
	errors->n = 0;
}

/* Where a setting was written, for messages. */
struct place {
	const char *file;
	int line;
};

static struct place place_of(const config_setting_t *s, const char *path)
{
	const char *file = config_setting_source_file(s);

	return (struct place){ file ? file : path, (int)config_setting_source_line(s) };
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_INT: return "an integer";
	case CONFIG_TYPE_STRING: return "a string in double quotes";
	case CONFIG_TYPE_BOOL: return "true or false";
	case CONFIG_TYPE_LIST: return "a list in parentheses";
	case CONFIG_TYPE_GROUP: return "a group in braces";
	case CONFIG_TYPE_ARRAY: return "an array in brackets";
	default: return "of another type";
	}
}

static bool type_matches(int want, int have)
{
	if (want == CONFIG_TYPE_INT)
		return have == CONFIG_TYPE_INT || have == CONFIG_TYPE_INT64;
	return want == have;
}

/* Checks every member of group against keys: unknown keys, wrong types, options of
 * another handler. Returns the number of problems. */
static int check_keys(const config_setting_t *group, const struct key *keys, const char *handler,
		      const char *path, struct config_errors *errors)
{
	int problems = 0;

	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		struct place p = place_of(s, path);
		const struct key *k = keys;

		while (k->name && strcmp(k->name, name) != 0)
			k++;
		if (!k->name) {
			add_error(errors, p.file, p.line, "unknown key '%s'", name);
			problems++;
		} else if (!type_matches(k->type, config_setting_type(s))) {
			add_error(errors, p.file, p.line, "'%s' must be %s", name, type_name(k->type));
			problems++;
		} else if (k->handler && handler && strcmp(k->handler, handler) != 0) {
			add_error(errors, p.file, p.line, "'%s' applies only to the %s handler", name, k->handler);
			problems++;
		}
	}
	return problems;
}

static const char *lookup_string(const config_setting_t *group, const char *name, const char *def)
{
	const config_setting_t *s = config_setting_get_member(group, name);

	if (!s || config_setting_type(s) != CONFIG_TYPE_STRING)
		return def;
	return config_setting_get_string(s);
}

/* Reads an integer key within [min, max] into *out; leaves *out alone when absent.
 * Returns the number of problems (0 or 1). */
static int get_uint(const config_setting_t *group, const char *name, uint64_t min, uint64_t max,
		    uint64_t *out, const char *path, struct config_errors *errors)
{
	const config_setting_t *s = config_setting_get_member(group, name);
	long long v;

	if (!s || !type_matches(CONFIG_TYPE_INT, config_setting_type(s)))
		return 0;       /* absent, or check_keys reported the type */
	v = config_setting_type(s) == CONFIG_TYPE_INT ? config_setting_get_int(s) : config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max) {
		struct place p = place_of(s, path);
		add_error(errors, p.file, p.line, "'%s' is %lld, must be %llu to %llu%s", name, v,
			  (unsigned long long)min, (unsigned long long)max,
			  config_setting_type(s) == CONFIG_TYPE_INT && max > INT32_MAX ?
			  " (write integers above 2147483647 with an L suffix: 5000000000L)" : "");
		return 1;
	}
	*out = (uint64_t)v;
	return 0;
}

static int get_unsigned(const config_setting_t *group, const char *name, unsigned min, unsigned max,
			unsigned *out, const char *path, struct config_errors *errors)
{
	uint64_t v = *out;
	int problems = get_uint(group, name, min, max, &v, path, errors);

	*out = (unsigned)v;
	return problems;
}

/* An array of CIDR strings: "allow = [ "192.0.2.0/24", "::1" ];". */
static int get_cidrs(const config_setting_t *group, const char *name, struct cidr **out, size_t *n,
		     const char *path, struct config_errors *errors)
{
	const config_setting_t *s = config_setting_get_member(group, name);
	int problems = 0;
	int len;

	if (!s || config_setting_type(s) != CONFIG_TYPE_ARRAY)
		return 0;
	len = config_setting_length(s);
	*out = calloc((size_t)len + 1, sizeof(**out));
	if (!*out)
		return 1;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(e);
		if (!text || cidr_parse(text, &(*out)[*n]) < 0) {
			struct place p = place_of(s, path);
			add_error(errors, p.file, p.line, "'%s': invalid address or prefix %s%s%s", name,
				  text ? "'" : "", text ? text : "(not a string)", text ? "'" : "");
			problems++;
			continue;
		}
		(*n)++;
	}
	return problems;
}

static int get_acl(const config_setting_t *group, struct acl *acl, const char *path, struct config_errors *errors)
{
	return get_cidrs(group, "allow", &acl->allow, &acl->n_allow, path, errors) +
	       get_cidrs(group, "deny", &acl->deny, &acl->n_deny, path, errors);
}

static int parse_limits(const config_setting_t *root, struct tcp_limits *l, const char *path,
			struct config_errors *errors)
{
	const config_setting_t *g = config_setting_get_member(root, "limits");
	int problems;

	*l = default_limits;
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP)
		return 0;
	problems = check_keys(g, limits_keys, NULL, path, errors);
	problems += get_unsigned(g, "connections", 1, 1000000, &l->connections, path, errors);
	problems += get_unsigned(g, "connections_per_source", 1, 1000000, &l->connections_per_source, path, errors);
	problems += get_unsigned(g, "idle_timeout", 0, 86400 * 365, &l->idle_timeout, path, errors);
	problems += get_unsigned(g, "lifetime", 0, 86400 * 365, &l->lifetime, path, errors);
	problems += get_uint(g, "bytes", 0, UINT64_MAX >> 1, &l->bytes, path, errors);
	return problems;
}

static int parse_udp(const config_setting_t *root, struct udp_policy *u, const char *path,
		     struct config_errors *errors)
{
	const config_setting_t *g = config_setting_get_member(root, "udp");
	const config_setting_t *ports;
	int problems, flag;

	*u = default_udp;
	if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP)
		return 0;
	problems = check_keys(g, udp_keys, NULL, path, errors);
	if (config_setting_lookup_bool(g, "privileged_source_ports", &flag) == CONFIG_TRUE)
		u->privileged_source_ports = flag;
	problems += get_unsigned(g, "amplification", 0, 1000, &u->amplification, path, errors);
	problems += get_unsigned(g, "small_reply", 0, 65507, &u->small_reply, path, errors);
	problems += get_unsigned(g, "verified_time", 0, 86400 * 365, &u->verified_time, path, errors);
	problems += get_uint(g, "source_rate", 1, 1000000000, &u->source_rate, path, errors);
	problems += get_uint(g, "source_burst", 65536 + 64, 1000000000, &u->source_burst, path, errors);
	problems += get_uint(g, "global_rate", 1, 1000000000, &u->global_rate, path, errors);
	problems += get_uint(g, "global_burst", 65536 + 64, 1000000000, &u->global_burst, path, errors);
	ports = config_setting_get_member(g, "loop_ports");
	if (ports && config_setting_type(ports) == CONFIG_TYPE_ARRAY) {
		int len = config_setting_length(ports);
		u->loop_ports = calloc((size_t)len + 1, sizeof(*u->loop_ports));
		for (int i = 0; u->loop_ports && i < len; i++) {
			const config_setting_t *e = config_setting_get_elem(ports, (unsigned)i);
			int v = config_setting_get_int(e);
			if (config_setting_type(e) != CONFIG_TYPE_INT || v < 1 || v > 65535) {
				struct place p = place_of(ports, path);
				add_error(errors, p.file, p.line, "'loop_ports' holds ports, 1 to 65535");
				problems++;
				break;
			}
			u->loop_ports[u->n_loop_ports++] = (unsigned)v;
		}
	}
	return problems;
}

static bool valid_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

static bool is_wildcard(const char *host)
{
	return host[0] == '\0' || strcmp(host, "*") == 0;
}

/* Resolves host to its addresses; returns 0, or -1 with a message in err. */
static int resolve_host(const char *host, struct sockaddr_storage **out, size_t *n_out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res, *ai;
	struct sockaddr_storage *addrs;
	size_t n = 0;
	int r;

	*out = NULL;
	*n_out = 0;
	if (is_wildcard(host))
		return 0;
	/* Something that looks like a numeric address must be one: no DNS for a typo. */
	if (strspn(host, "0123456789.") == strlen(host) || strchr(host, ':'))
		hints.ai_flags |= AI_NUMERICHOST;
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0) {
		if (hints.ai_flags & AI_NUMERICHOST)
			snprintf(err, errlen, "invalid address '%s'", host);
		else
			snprintf(err, errlen, "cannot resolve host '%s': %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next)
		n++;
	addrs = calloc(n, sizeof(*addrs));
	if (!addrs) {
		freeaddrinfo(res);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = 0;
	for (ai = res; ai; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			memcpy(&addrs[n++], ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	*out = addrs;
	*n_out = n;
	return 0;
}

/* Reads a fortune-style file: quotes separated by lines holding a single '%'. */
/* Reads at most QUOTES_FILE_MAX bytes of a regular file: a quotes path pointing at
 * /dev/zero or a log file must not exhaust memory. Returns the length, or -errno. */
static ssize_t read_small_file(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		fclose(f);
		return r;
	}
	*out = malloc(QUOTES_FILE_MAX + 1);
	if (!*out) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(*out, 1, QUOTES_FILE_MAX + 1, f);
	r = ferror(f) ? -EIO : len > QUOTES_FILE_MAX ? -EFBIG : 0;
	fclose(f);
	if (r < 0) {
		free(*out);
		*out = NULL;
		return r;
	}
	return (ssize_t)len;
}

static void add_quote(struct service *svc, const char *text, size_t len, int line, int *problems,
		      struct config_errors *errors)
{
	char buf[QOTD_MAX];
	struct quote *q;
	size_t n;

	while (len > 0 && (*text == '\n' || *text == '\r')) {
		text++;
		len--;
	}
	if (len == 0)
		return;
	n = qotd_format(buf, sizeof(buf), text, len);
	if (n == 0) {
		add_error(errors, svc->quotes_path, line, "quote longer than %d bytes (RFC 865)", QOTD_MAX);
		(*problems)++;
		return;
	}
	q = realloc(svc->quotes, (svc->n_quotes + 1) * sizeof(*q));
	if (!q || !(q[svc->n_quotes].text = malloc(n))) {
		if (q)
			svc->quotes = q;
		(*problems)++;
		return;
	}
	svc->quotes = q;
	memcpy(q[svc->n_quotes].text, buf, n);
	q[svc->n_quotes++].len = n;
}

/* Reads a fortune-style file: quotes separated by lines holding a single '%'. */
static int load_quotes(struct service *svc, const char *conf_file, int conf_line, struct config_errors *errors)
{
	char *text;
	ssize_t len = read_small_file(svc->quotes_path, &text);
	size_t pos = 0, quote_start = 0;
	int lineno = 1, quote_line = 1, problems = 0;

	if (len < 0) {
		add_error(errors, conf_file, conf_line, "cannot read quotes file '%s': %s", svc->quotes_path,
			  len == -EFBIG ? "larger than 1 MiB" : len == -EINVAL ? "not a regular file" : strerror((int)-len));
		return -1;
	}
	while (pos < (size_t)len) {
		char *nl = memchr(text + pos, '\n', (size_t)len - pos);
		size_t end = nl ? (size_t)(nl - text) : (size_t)len;
		size_t line_len = end - pos;
		if (line_len > 0 && text[end - 1] == '\r')
			line_len--;
		if (line_len == 1 && text[pos] == '%') {
			add_quote(svc, text + quote_start, pos - quote_start, quote_line, &problems, errors);
			quote_start = end + 1;
			quote_line = lineno + 1;
		}
		pos = end + 1;
		lineno++;
	}
	if (quote_start < (size_t)len)
		add_quote(svc, text + quote_start, (size_t)len - quote_start, quote_line, &problems, errors);
	free(text);
	if (problems == 0 && svc->n_quotes == 0) {
		add_error(errors, svc->quotes_path, 1, "no quotes in file");
		problems++;
	}
	return problems ? -1 : 0;
}

/* Relative paths in the config are relative to the config file's directory. */
static char *resolve_path(const char *conf_path, const char *path)
{
	const char *slash = strrchr(conf_path, '/');
	char *out;

	if (path[0] == '/' || !slash)
		return strdup(path);
	if (asprintf(&out, "%.*s/%s", (int)(slash - conf_path), conf_path, path) < 0)
		return NULL;
	return out;
}

static int service_set_options(struct service *svc, const config_setting_t *group, const char *path,
			       struct config_errors *errors)
{
	const char *quotes = group ? lookup_string(group, "quotes", NULL) : NULL;
	const char *format = group ? lookup_string(group, "format", NULL) : NULL;
	const config_setting_t *s;
	struct place p = { path, svc->line };
	int utc = 0;

	svc->daytime_format = strdup(format ? format : DEFAULT_DAYTIME_FORMAT);
	if (group && config_setting_lookup_bool(group, "utc", &utc) == CONFIG_TRUE)
		svc->daytime_utc = utc;
	if (format && group && (s = config_setting_get_member(group, "format"))) {
		p = place_of(s, path);
		/* Every day and month name must fit, not just today's. */
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
			add_error(errors, p.file, p.line, "daytime format '%s' is empty or too long", format);
			return -1;
		}
	}
	if (strcmp(svc->handler->name, "qotd") != 0)
		return 0;
	if (quotes && group && (s = config_setting_get_member(group, "quotes")))
		p = place_of(s, path);
	svc->quotes_path = quotes ? resolve_path(path, quotes) : strdup(MINETD_QUOTES_PATH);
	if (!svc->quotes_path || !svc->daytime_format)
		return -ENOMEM;
	return load_quotes(svc, p.file, p.line, errors);
}

static int parse_service(const config_setting_t *group, const char *path, const char *default_host,
			 struct service *svc, struct config_errors *errors)
{
	struct place p = place_of(group, path);
	const char *name, *handler_name, *protocol, *host;
	const config_setting_t *s;
	char err[256];
	int port = 0, problems = 0;

	if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
		add_error(errors, p.file, p.line, "each service must be a group in braces");
		return -1;
	}
	svc->line = p.line;
	handler_name = lookup_string(group, "handler", NULL);
	problems += check_keys(group, service_keys, handler_name, path, errors);

	name = lookup_string(group, "name", NULL);
	if (!name && !config_setting_get_member(group, "name")) {
		add_error(errors, p.file, p.line, "service without a 'name'");
		problems++;
	} else if (name && !valid_name(name)) {
		s = config_setting_get_member(group, "name");
		struct place q = place_of(s, path);
		add_error(errors, q.file, q.line, "invalid service name '%s': use 1 to %d of A-Z a-z 0-9 _ . -",
			  name, NAME_MAX_LEN);
		problems++;
	}

	if (!handler_name && !config_setting_get_member(group, "handler")) {
		add_error(errors, p.file, p.line, "service without a 'handler'");
		problems++;
	} else if (handler_name && !(svc->handler = handler_find(handler_name))) {
		struct place q = place_of(config_setting_get_member(group, "handler"), path);
		add_error(errors, q.file, q.line, "unknown handler '%s' (known: %s)", handler_name, handler_names());
		problems++;
	}

	s = config_setting_get_member(group, "port");
	if (!s) {
		add_error(errors, p.file, p.line, "service without a 'port'");
		problems++;
	} else if (type_matches(CONFIG_TYPE_INT, config_setting_type(s))) {
		long long v = config_setting_get_int64(s);
		if (config_setting_type(s) == CONFIG_TYPE_INT)
			v = config_setting_get_int(s);
		if (v < 1 || v > 65535) {
			struct place q = place_of(s, path);
			add_error(errors, q.file, q.line, "port %lld out of range 1-65535", v);
			problems++;
		}
		port = (int)v;
	}

	protocol = lookup_string(group, "protocol", "both");
	if (strcmp(protocol, "tcp") == 0)
		svc->protocols = PROTO_TCP;
	else if (strcmp(protocol, "udp") == 0)
		svc->protocols = PROTO_UDP;
	else if (strcmp(protocol, "both") == 0)
		svc->protocols = PROTO_BOTH;
	else {
		struct place q = place_of(config_setting_get_member(group, "protocol"), path);
		add_error(errors, q.file, q.line, "unknown protocol '%s' (tcp, udp or both)", protocol);
		problems++;
	}

	host = lookup_string(group, "host", default_host);
	if (resolve_host(host, &svc->addrs, &svc->n_addrs, err, sizeof(err)) < 0) {
		s = config_setting_get_member(group, "host");
		struct place q = s ? place_of(s, path) : p;
		add_error(errors, q.file, q.line, "%s", err);
		problems++;
	}
	problems += get_acl(group, &svc->acl, path, errors);
	if (problems)
		return -1;
	svc->name = strdup(name);
	svc->host = strdup(host);
	svc->port = (unsigned)port;
	svc->replies = calloc(1, sizeof(*svc->replies));
	if (!svc->name || !svc->host || !svc->replies)
		return -ENOMEM;
	return service_set_options(svc, group, path, errors);
}

static bool hosts_overlap(const struct service *a, const struct service *b)
{
	if (a->n_addrs == 0 || b->n_addrs == 0)
		return true;
	return strcmp(a->host, b->host) == 0;
}

/* Two services cannot share a port and protocol on overlapping addresses. */
static int check_conflicts(const struct config *c, struct config_errors *errors)
{
	int problems = 0;

	for (size_t i = 0; i < c->n_services; i++) {
		const struct service *a = &c->services[i];
		for (size_t j = 0; j < i; j++) {
			const struct service *b = &c->services[j];
			if (strcmp(a->name, b->name) == 0) {
				add_error(errors, c->path, a->line, "duplicate service name '%s' (first at line %d)",
					  a->name, b->line);
				problems++;
			} else if (a->port == b->port && (a->protocols & b->protocols) && hosts_overlap(a, b)) {
				add_error(errors, c->path, a->line, "service '%s' uses port %u, as '%s' at line %d does",
					  a->name, a->port, b->name, b->line);
				problems++;
			}
		}
	}
	return problems;
}

static int parse_root(config_t *cf, struct config *c, struct config_errors *errors)
{
	const config_setting_t *root = config_root_setting(cf);
	const config_setting_t *list;
	int problems = check_keys(root, top_keys, NULL, c->path, errors);
	int flag = 0;

	c->host = strdup(lookup_string(root, "host", ""));
	if (!c->host)
		return -ENOMEM;
	if (config_setting_lookup_bool(root, "log_connections", &flag) == CONFIG_TRUE)
		c->log_connections = flag;
	c->workers = 1;
	problems += get_unsigned(root, "workers", 0, 256, &c->workers, c->path, errors);
	problems += parse_limits(root, &c->limits, c->path, errors);
	problems += parse_udp(root, &c->udp, c->path, errors);
	problems += get_acl(root, &c->acl, c->path, errors);
	if (!is_wildcard(c->host)) {
		struct sockaddr_storage *addrs;
		size_t n;
		char err[256];
		if (resolve_host(c->host, &addrs, &n, err, sizeof(err)) < 0) {
			struct place p = place_of(config_setting_get_member(root, "host"), c->path);
			add_error(errors, p.file, p.line, "%s", err);
			problems++;
		}
		free(addrs);
	}

	list = config_setting_get_member(root, "services");
	if (!list) {
		add_error(errors, c->path, 1, "no 'services' list: nothing to serve");
		return -EINVAL;
	}
	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return -EINVAL;         /* check_keys said so */
	c->services = calloc((size_t)config_setting_length(list) + 1, sizeof(*c->services));
	if (!c->services)
		return -ENOMEM;
	for (int i = 0; i < config_setting_length(list); i++) {
		struct service *svc = &c->services[c->n_services];
		int r = parse_service(config_setting_get_elem(list, (unsigned)i), c->path, c->host, svc, errors);
		if (r == -ENOMEM)
			return r;
		c->n_services++;
		if (r < 0)
			problems++;
	}
	if (problems == 0)
		problems += check_conflicts(c, errors);
	return problems ? -EINVAL : 0;
}

#define INCLUDE_DEPTH_MAX 10

/* libconfig 1.5 exits the process when an @include names something it cannot read as a
 * file (a directory), and reads /dev/zero forever: check every file it would read first,
 * so that a bad line is an error with its file and line, never an exit or a hang. */
static int check_readable(const char *path, const char *include_dir, int depth, const char *from,
			  int from_line, struct config_errors *errors)
{
	char *text, *full = NULL;
	ssize_t len;
	int problems = 0, lineno = 1;

	/* libconfig looks for included files in the main file's directory */
	if (from && asprintf(&full, "%s/%s", include_dir, path) < 0)
		return 1;
	len = read_small_file(full ? full : path, &text);
	if (len < 0) {
		const char *why = len == -EFBIG ? "larger than 1 MiB" :
				  len == -EINVAL ? "not a regular file" : strerror((int)-len);
		if (from)
			add_error(errors, from, from_line, "cannot include '%s': %s", path, why);
		else
			add_error(errors, path, 0, "cannot read: %s", why);
		free(full);
		return 1;
	}
	/* Text only: libconfig reads a NUL byte into an @include name, then opens the name
	 * cut short at it. */
	char *nul = memchr(text, '\0', (size_t)len);
	if (nul) {
		for (char *p = text; p < nul; p++)
			lineno += *p == '\n';
		add_error(errors, full ? full : path, lineno, "NUL byte: not a text file");
		free(text);
		free(full);
		return 1;
	}
	for (char *line = text; line < text + len; lineno++) {
		char *end = memchr(line, '\n', (size_t)(text + len - line));
		if (!end)
			end = text + len;
		*end = '\0';
		line += strspn(line, " \t");
		char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
		if (strncmp(line, "@include", 8) == 0 && q1 && q2) {
			*q2 = '\0';
			if (q1[1] == '/') {
				/* libconfig 1.5 reads it below the include directory all the same */
				add_error(errors, full ? full : path, lineno,
					  "@include '%s': use a path relative to the configuration's directory", q1 + 1);
				problems++;
			} else if (depth >= INCLUDE_DEPTH_MAX) {
				add_error(errors, full ? full : path, lineno, "@include nested too deep");
				problems++;
			} else {
				problems += check_readable(q1 + 1, include_dir, depth + 1, full ? full : path, lineno,
							   errors);
			}
		}
		line = end + 1;
	}
	free(text);
	free(full);
	return problems;
}

int config_load(const char *path, struct config **out, struct config_errors *errors)
{
	struct config *c;
	config_t cf;
	int r;

	*out = NULL;
	/* libconfig says only "file I/O error"; the system's reason is more useful. */
	const char *slash = strrchr(path, '/');
	char *dir = slash ? (slash == path ? strdup("/") : strndup(path, (size_t)(slash - path))) : strdup(".");
	if (!dir)
		return -ENOMEM;
	if (check_readable(path, dir, 0, NULL, 0, errors) > 0) {
		free(dir);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->refs = 1;
	if (!c || !(c->path = strdup(path))) {
		free(c);
		free(dir);
		return -ENOMEM;
	}
	config_init(&cf);
	/* @include "x" is relative to the main file's directory. */
	config_set_include_dir(&cf, dir);
	free(dir);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		const char *file = config_error_file(&cf);
		add_error(errors, file ? file : path, config_error_line(&cf), "%s", config_error_text(&cf));
		r = -EINVAL;
	} else {
		r = parse_root(&cf, c, errors);
	}
	config_destroy(&cf);
	if (r < 0) {
		config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void service_free(struct service *svc)
{
	if (!svc)
		return;
	free(svc->name);
	free(svc->host);
	free(svc->addrs);
	free(svc->quotes_path);
	for (size_t i = 0; i < svc->n_quotes; i++)
		free(svc->quotes[i].text);
	free(svc->quotes);
	free(svc->daytime_format);
	acl_free(&svc->acl);
	free(svc->replies);
	memset(svc, 0, sizeof(*svc));
}

struct config *config_ref(struct config *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void config_free(struct config *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < c->n_services; i++)
		service_free(&c->services[i]);
	free(c->services);
	acl_free(&c->acl);
	free(c->udp.loop_ports);
	free(c->host);
	free(c->path);
	free(c);
}

uint64_t service_replies(const struct service *svc)
{
	return __atomic_load_n(svc->replies, __ATOMIC_RELAXED);
}

void service_count_reply(const struct service *svc)
{
	__atomic_fetch_add(svc->replies, 1, __ATOMIC_RELAXED);
}

const struct service *config_find_service(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

int service_new_implicit(const char *handler_name, struct service **out, struct config_errors *errors)
{
	struct service *svc = calloc(1, sizeof(*svc));
	int r;

	*out = NULL;
	if (!svc)
		return -ENOMEM;
	svc->handler = handler_find(handler_name);
	svc->name = strdup(handler_name);
	svc->host = strdup("");
	svc->protocols = PROTO_BOTH;
	svc->replies = calloc(1, sizeof(*svc->replies));
	if (!svc->handler || !svc->name || !svc->host || !svc->replies) {
		r = svc->handler ? -ENOMEM : -ENOENT;
		service_free(svc);
		free(svc);
		return r;
	}
	r = service_set_options(svc, NULL, MINETD_QUOTES_PATH, errors);
	if (r < 0) {
		service_free(svc);
		free(svc);
		return r;
	}
	*out = svc;
	return 0;
}
