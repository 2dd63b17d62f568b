/* Every key is a row of a table (keys.h): the top level's, the groups', a service's and
 * each handler's own. read_values() reads any of them; nothing else knows libconfig. */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_guard.h"
#include "handlers.h"
#include "keys.h"
#include "listen.h"

#define NAME_MAX_LEN 64
#define C(field) offsetof(struct config, field)
#define S(field) offsetof(struct service, field)
#define INTEGER(n, t, field, lo, hi, d) \
	{ .name = n, .type = t, .offset = C(field), .min = lo, .max = hi, .def = d }

static bool addrs_overlap(const struct sockaddr_storage *a, size_t na,
			  const struct sockaddr_storage *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (addr_overlap(&a[i], &b[j]))
				return true;
	return false;
}

static int parse_host(void *value, const char *text, const struct config_place *at)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res, *ai;
	struct host *h = value;
	size_t n = 0;
	int r;

	if (!(h->text = strdup(text)))
		return -ENOMEM;
	if (text[0] == '\0' || strcmp(text, "*") == 0)
		return 0;       /* every address */
	/* Something that looks like a numeric address must be one: no DNS for a typo. */
	if (strspn(text, "0123456789.") == strlen(text) || strchr(text, ':'))
		hints.ai_flags |= AI_NUMERICHOST;
	if ((r = getaddrinfo(text, NULL, &hints, &res)) != 0) {
		if (hints.ai_flags & AI_NUMERICHOST)
			config_error(at, "invalid address '%s'", text);
		else
			config_error(at, "cannot resolve host '%s': %s", text, gai_strerror(r));
		return 1;
	}
	for (ai = res; ai; ai = ai->ai_next)
		n++;
	if (!(h->addrs = calloc(n, sizeof(*h->addrs)))) {
		freeaddrinfo(res);
		return -ENOMEM;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_storage ss = { 0 };
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		addr_unmap(&ss);        /* bound and matched as the IPv4 address it is */
		if (!addrs_overlap(h->addrs, h->n_addrs, &ss, 1))
			h->addrs[h->n_addrs++] = ss;
	}
	freeaddrinfo(res);
	return 0;
}

static void release_host(void *value)
{
	struct host *h = value;

	free(h->text);
	free(h->addrs);
}

static int check_name(const char *text, const struct config_place *at)
{
	size_t len = strlen(text);

	if (len > 0 && len <= NAME_MAX_LEN &&
	    strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len)
		return 0;
	config_error(at, "invalid service name '%s': use 1 to %d of A-Z a-z 0-9 _ . -", text, NAME_MAX_LEN);
	return 1;
}

static int parse_handler(void *value, const char *text, const struct config_place *at)
{
	if ((*(const struct handler **)value = handler_find(text)))
		return 0;
	config_error(at, "unknown handler '%s' (known: %s)", text, handler_names());
	return 1;
}

static int parse_protocol(void *value, const char *text, const struct config_place *at)
{
	static const char *const names[] = {
		[PROTO_TCP] = "tcp", [PROTO_UDP] = "udp", [PROTO_BOTH] = "both",
	};

	for (unsigned p = PROTO_TCP; p <= PROTO_BOTH; p++) {
		if (strcmp(text, names[p]) == 0) {
			*(unsigned *)value = p;
			return 0;
		}
	}
	config_error(at, "unknown protocol '%s' (tcp, udp or both)", text);
	return 1;
}

/* The defaults are the safe ones documented in minetd.conf(5). */
static const struct key limits_keys[] = {
	INTEGER("connections", KEY_UINT, limits.connections, 1, 1000000, 10000),
	INTEGER("connections_per_source", KEY_UINT, limits.connections_per_source, 1, 1000000, 256),
	INTEGER("idle_timeout", KEY_UINT, limits.idle_timeout, 0, 86400 * 365, 60),
	INTEGER("lifetime", KEY_UINT, limits.lifetime, 0, 86400 * 365, 600),
	INTEGER("bytes", KEY_U64, limits.bytes, 0, UINT64_MAX >> 1, 100 * 1024 * 1024),
	{ .name = NULL },
};

static const struct key udp_keys[] = {
	{ .name = "privileged_source_ports", .type = KEY_BOOL, .offset = C(udp.privileged_source_ports) },
	{ .name = "loop_ports", .type = KEY_PORTS, .offset = C(udp.loop_ports) },
	INTEGER("amplification", KEY_UINT, udp.amplification, 0, 1000, 1),
	INTEGER("small_reply", KEY_UINT, udp.small_reply, 0, 65507, 32),
	INTEGER("verified_time", KEY_UINT, udp.verified_time, 0, 86400 * 365, 600),
	INTEGER("source_rate", KEY_U64, udp.rates.source_rate, 1, 1000000000, 1024 * 1024),
	INTEGER("source_burst", KEY_U64, udp.rates.source_burst, 65536 + 64, 1000000000, 256 * 1024),
	INTEGER("global_rate", KEY_U64, udp.rates.global_rate, 1, 1000000000, 32 * 1024 * 1024),
	INTEGER("global_burst", KEY_U64, udp.rates.global_burst, 65536 + 64, 1000000000, 4 * 1024 * 1024),
	{ .name = NULL },
};

static const struct key root_keys[] = {
	{ .name = "host", .type = KEY_STRING, .offset = C(host), .def_text = "",
	  .parse = parse_host, .release = release_host },
	{ .name = "log_connections", .type = KEY_BOOL, .offset = C(log_connections) },
	INTEGER("workers", KEY_UINT, workers, 0, WORKERS_MAX, 1),
	{ .name = "limits", .type = KEY_GROUP, .group = limits_keys },
	{ .name = "udp", .type = KEY_GROUP, .group = udp_keys },
	{ .name = "allow", .type = KEY_CIDRS, .offset = C(acl.allow) },
	{ .name = "deny", .type = KEY_CIDRS, .offset = C(acl.deny) },
	{ .name = "services", .type = KEY_LIST },
	{ .name = NULL },
};

/* A service's host defaults to the top level's; its handler's keys follow these. */
static const struct key service_keys[] = {
	{ .name = "name", .type = KEY_STRING, .offset = S(name), .required = true, .check = check_name },
	{ .name = "handler", .type = KEY_STRING, .offset = S(handler), .required = true,
	  .parse = parse_handler },
	{ .name = "port", .type = KEY_PORT, .offset = S(port), .required = true },
	{ .name = "protocol", .type = KEY_STRING, .offset = S(protocols), .def_text = "both",
	  .parse = parse_protocol },
	{ .name = "host", .type = KEY_STRING, .offset = S(host),
	  .parse = parse_host, .release = release_host },
	{ .name = "allow", .type = KEY_CIDRS, .offset = S(acl.allow) },
	{ .name = "deny", .type = KEY_CIDRS, .offset = S(acl.deny) },
	{ .name = NULL },
};

static const struct {
	int type;               /* libconfig's */
	const char *name;
} key_types[] = {
	[KEY_BOOL] = { CONFIG_TYPE_BOOL, "true or false" },
	[KEY_UINT] = { CONFIG_TYPE_INT, "an integer" },
	[KEY_U64] = { CONFIG_TYPE_INT, "an integer" },
	[KEY_PORT] = { CONFIG_TYPE_INT, "an integer" },
	[KEY_STRING] = { CONFIG_TYPE_STRING, "a string in double quotes" },
	[KEY_PORTS] = { CONFIG_TYPE_ARRAY, "an array in brackets" },
	[KEY_CIDRS] = { CONFIG_TYPE_ARRAY, "an array in brackets" },
	[KEY_STRINGS] = { CONFIG_TYPE_ARRAY, "an array in brackets" },
	[KEY_GROUP] = { CONFIG_TYPE_GROUP, "a group in braces" },
	[KEY_LIST] = { CONFIG_TYPE_LIST, "a list in parentheses" },
};

static bool type_matches(const struct key *k, const config_setting_t *s)
{
	int want = key_types[k->type].type, have = config_setting_type(s);

	return want == CONFIG_TYPE_INT ? have == CONFIG_TYPE_INT || have == CONFIG_TYPE_INT64 : want == have;
}

static const struct key *find_key(const struct key *keys, const char *name)
{
	for (const struct key *k = keys; k && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Where setting s was written, for messages. */
static struct config_place place_of(const config_setting_t *s, const struct config_place *parent)
{
	const char *file = config_setting_source_file(s);
	struct config_place at = *parent;

	at.file = file ? file : parent->config_path;
	at.line = (int)config_setting_source_line(s);
	return at;
}

/* Unknown keys, wrong types and, in a service, options of another handler than 'own',
 * the one named handler_name. Returns the number of problems. */
static int check_members(const config_setting_t *group, const struct key *keys, const struct handler *own,
			 const char *handler_name, const struct config_place *parent)
{
	int problems = 0;

	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct key *k = find_key(keys, name);
		const struct handler *other = !k && keys == service_keys ? handler_with_key(name) : NULL;
		struct config_place at = place_of(s, parent);

		if (other)
			k = find_key(other->keys, name);
		if (k && !type_matches(k, s))
			config_error(&at, "'%s' must be %s", name, key_types[k->type].name);
		else if (!k)
			config_error(&at, "unknown key '%s'", name);
		else if (other && other != own && handler_name)
			config_error(&at, "'%s' applies only to the %s handler", name, other->name);
		else
			continue;
		problems++;
	}
	return problems;
}

static int read_integer(const config_setting_t *s, const struct key *k, void *value,
			const struct config_place *at)
{
	uint64_t min = k->type == KEY_PORT ? 1 : k->min, max = k->type == KEY_PORT ? 65535 : k->max;
	bool int32 = s && config_setting_type(s) == CONFIG_TYPE_INT;
	long long v = !s ? (long long)k->def :
		      int32 ? config_setting_get_int(s) : config_setting_get_int64(s);

	if (v >= 0 && (uint64_t)v >= min && (uint64_t)v <= max) {
		if (k->type == KEY_U64)
			*(uint64_t *)value = (uint64_t)v;
		else
			*(unsigned *)value = (unsigned)v;
		return 0;
	}
	if (k->type == KEY_PORT)
		config_error(at, "port %lld out of range 1-65535", v);
	else    /* libconfig 1.5 cuts integers above 2^31-1 written without the L suffix */
		config_error(at, "'%s' is %lld, must be %llu to %llu%s", k->name, v, (unsigned long long)min,
			     (unsigned long long)max, int32 && max > INT32_MAX ?
			     " (write integers above 2147483647 with an L suffix: 5000000000L)" : "");
	return 1;
}

static int read_string(const char *text, const struct key *k, void *value, const struct config_place *at)
{
	int r;

	if (!text)
		return 0;
	if (k->parse)
		r = k->parse(value, text, at);
	else if ((r = k->check ? k->check(text, at) : 0) == 0)
		r = (*(char **)value = strdup(text)) ? 0 : -ENOMEM;
	return r;
}

static int read_ports(const config_setting_t *s, const struct key *k, struct port_list *out,
		      const struct config_place *at)
{
	int len = config_setting_length(s);

	if (!(out->items = calloc((size_t)len + 1, sizeof(*out->items))))
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int v = config_setting_get_int(e);
		if (config_setting_type(e) != CONFIG_TYPE_INT || v < 1 || v > 65535) {
			config_error(at, "'%s' holds ports, 1 to 65535", k->name);
			return 1;
		}
		out->items[out->n++] = (unsigned)v;
	}
	return 0;
}

/* An array of CIDR strings: "allow = [ "192.0.2.0/24", "::1" ];". */
static int read_cidrs(const config_setting_t *s, const struct key *k, struct cidr_list *out,
		      const struct config_place *at)
{
	int len = config_setting_length(s), problems = 0;

	if (!(out->items = calloc((size_t)len + 1, sizeof(*out->items))))
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const char *text = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
		if (text && cidr_parse(text, &out->items[out->n]) == 0) {
			out->n++;
			continue;
		}
		config_error(at, "'%s': invalid address or prefix %s%s%s", k->name, text ? "'" : "",
			     text ? text : "(not a string)", text ? "'" : "");
		problems++;
	}
	return problems;
}

/* An array of strings, none empty: "command = [ "/usr/bin/x", "-v" ];". */
static int read_strings(const config_setting_t *s, const struct key *k, struct string_list *out,
			const struct config_place *at)
{
	int len = config_setting_length(s);

	if (!(out->items = calloc((size_t)len + 1, sizeof(*out->items))))
		return -ENOMEM;
	for (int i = 0; i < len; i++) {
		const char *text = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
		if (!text || !text[0]) {
			config_error(at, "'%s' holds strings, none empty", k->name);
			return 1;
		}
		if (!(out->items[out->n++] = strdup(text)))
			return -ENOMEM;
	}
	return 0;
}

static int read_values(const config_setting_t *group, const struct key *keys, void *base,
		       const struct config_place *group_at);

/* One key's value from s, or its default when s is NULL. Returns the number of problems,
 * or -ENOMEM. */
static int read_value(const config_setting_t *s, const struct key *k, void *base,
		      const struct config_place *at)
{
	void *value = (char *)base + k->offset;
	int problems, r;

	switch (k->type) {
	case KEY_BOOL:
		*(bool *)value = s ? config_setting_get_bool(s) != 0 : k->def != 0;
		return 0;
	case KEY_UINT:
	case KEY_U64:
	case KEY_PORT:
		return read_integer(s, k, value, at);
	case KEY_STRING:
		return read_string(s ? config_setting_get_string(s) : k->def_text, k, value, at);
	case KEY_PORTS:
		return s ? read_ports(s, k, value, at) : 0;
	case KEY_CIDRS:
		return s ? read_cidrs(s, k, value, at) : 0;
	case KEY_STRINGS:
		return s ? read_strings(s, k, value, at) : 0;
	case KEY_GROUP:
		problems = s ? check_members(s, k->group, NULL, NULL, at) : 0;
		r = read_values(s, k->group, base, at);
		return r < 0 ? r : problems + r;
	case KEY_LIST:
		break;
	}
	return 0;
}

/* Every key of the table from group, or its default when group or the key is missing.
 * Returns the number of problems, or -ENOMEM. */
static int read_values(const config_setting_t *group, const struct key *keys, void *base,
		       const struct config_place *group_at)
{
	int problems = 0;

	for (const struct key *k = keys; k->name; k++) {
		const config_setting_t *s = group ? config_setting_get_member(group, k->name) : NULL;
		if (s && !type_matches(k, s)) {
			if (k->required)
				continue;       /* check_members said why */
			s = NULL;
		}
		if (!s && k->required) {
			config_error(group_at, "service without a '%s'", k->name);
			problems++;
			continue;
		}
		struct config_place at = s ? place_of(s, group_at) : *group_at;
		int r = read_value(s, k, base, &at);
		if (r < 0)
			return r;
		problems += r;
	}
	return problems;
}

static void release_strings(struct string_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i]);
	free(list->items);
}

static void release_values(const struct key *keys, void *base)
{
	for (const struct key *k = keys; k && k->name; k++) {
		void *value = (char *)base + k->offset;
		if (k->type == KEY_STRING && k->release)
			k->release(value);
		else if (k->type == KEY_STRING && !k->parse)
			free(*(char **)value);
		else if (k->type == KEY_PORTS)
			free(((struct port_list *)value)->items);
		else if (k->type == KEY_CIDRS)
			free(((struct cidr_list *)value)->items);
		else if (k->type == KEY_STRINGS)
			release_strings(value);
		else if (k->type == KEY_GROUP)
			release_values(k->group, base);
	}
}

/* The service's handler's own keys, once the service's are read without a problem. */
static int read_options(const config_setting_t *group, struct service *svc, const struct config_place *src)
{
	if (!(svc->replies = calloc(1, sizeof(*svc->replies))))
		return -ENOMEM;
	if (!svc->handler->keys)
		return 0;
	if (!(svc->options = calloc(1, svc->handler->options_size)))
		return -ENOMEM;
	int problems = read_values(group, svc->handler->keys, svc->options, src);
	if (problems == 0 && svc->handler->check)
		problems = svc->handler->check(svc->options, src);
	return problems;
}

/* Returns the number of problems, or -ENOMEM. */
static int read_service(const config_setting_t *group, const struct config *c, struct service *svc,
			const struct config_place *parent)
{
	struct config_place src = place_of(group, parent);
	const char *handler_name;
	int problems, r;

	svc->line = src.line;
	if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
		config_error(&src, "each service must be a group in braces");
		return 1;
	}
	if (config_setting_lookup_string(group, "handler", &handler_name) != CONFIG_TRUE)
		handler_name = NULL;
	problems = check_members(group, service_keys, handler_name ? handler_find(handler_name) : NULL,
				 handler_name, &src);
	r = read_values(group, service_keys, svc, &src);
	if (r < 0)
		return r;
	problems += r;
	if (!svc->host.text && c->host.text) {
		if ((r = parse_host(&svc->host, c->host.text, &src)) < 0)
			return r;
		problems += r;
	}
	return problems ? problems : read_options(group, svc, &src);
}

/* Returns the number of problems, or -ENOMEM. */
static int read_services(const config_setting_t *root, struct config *c, const struct config_place *src)
{
	const config_setting_t *list = config_setting_get_member(root, "services");
	int problems = 0;

	if (!list) {
		config_error(&(struct config_place){ c->path, 1, NULL, src->errors },
			     "no 'services' list: nothing to serve");
		return 1;
	}
	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return 1;       /* check_members said so */
	c->services = calloc((size_t)config_setting_length(list) + 1, sizeof(*c->services));
	if (!c->services)
		return -ENOMEM;
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *group = config_setting_get_elem(list, (unsigned)i);
		int r = read_service(group, c, &c->services[c->n_services++], src);
		if (r < 0)
			return r;
		problems += r > 0;
	}
	return problems;
}

/* Every address (none) overlaps everything. */
static bool hosts_overlap(const struct service *a, const struct service *b)
{
	return !a->host.n_addrs || !b->host.n_addrs ||
	       addrs_overlap(a->host.addrs, a->host.n_addrs, b->host.addrs, b->host.n_addrs);
}

/* Two services cannot share a port and protocol on overlapping addresses. Returns the number
 * of problems. */
static int check_conflicts(const struct config *c, struct config_errors *errors)
{
	int problems = 0;

	for (size_t i = 0; i < c->n_services; i++) {
		const struct service *a = &c->services[i];
		struct config_place at = { c->path, a->line, c->path, errors };
		for (size_t j = 0; j < i; j++) {
			const struct service *b = &c->services[j];
			if (strcmp(a->name, b->name) == 0)
				config_error(&at, "duplicate service name '%s' (first at line %d)", a->name,
					     b->line);
			else if (a->port == b->port && (a->protocols & b->protocols) && hosts_overlap(a, b))
				config_error(&at, "service '%s' uses port %u, as '%s' at line %d does",
					     a->name, a->port, b->name, b->line);
			else
				continue;
			problems++;
		}
	}
	return problems;
}

static void service_free(struct service *svc)
{
	release_values(service_keys, svc);
	if (svc->options && svc->handler->release)
		svc->handler->release(svc->options);
	if (svc->options)
		release_values(svc->handler->keys, svc->options);
	free(svc->options);
	free(svc->replies);
}

struct service *config_find_service(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

/* A service for sockets named after a handler, with its defaults. Returns 0, -ENOMEM,
 * or the number of problems that keep it out (they are in errors). */
static int add_socket_service(struct config *c, const struct named_socket *sock,
			      const struct config_place *src)
{
	struct service *svc = memset(&c->services[c->n_services], 0, sizeof(*svc));
	int r = -ENOMEM;

	svc->from_socket = true;
	svc->handler = handler_find(sock->name);
	svc->protocols = sock->protocol;
	if ((svc->name = strdup(sock->name)) && (svc->host.text = strdup("")))
		r = read_options(NULL, svc, src);
	if (r == 0) {
		c->n_services++;
		return 0;
	}
	service_free(svc);
	return r;
}

int config_add_sockets(struct config *c, const struct named_socket *sockets, size_t n,
		       struct config_errors *errors)
{
	struct config_place defaults = { c->path, 0, c->path, errors };
	struct service *services = realloc(c->services, (c->n_services + n + 1) * sizeof(*services));

	if (!services)
		return -ENOMEM;
	c->services = services;
	for (size_t i = 0; i < n; i++) {
		struct service *svc = config_find_service(c, sockets[i].name);
		if (svc && svc->from_socket)
			svc->protocols |= sockets[i].protocol;
		else if (!svc && handler_find(sockets[i].name) &&
			 add_socket_service(c, &sockets[i], &defaults) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

/* Returns the number of problems, or -ENOMEM. */
static int read_root(config_t *cf, struct config *c, struct config_errors *errors)
{
	const config_setting_t *root = config_root_setting(cf);
	struct config_place src = { c->path, 1, c->path, errors };
	int problems = check_members(root, root_keys, NULL, NULL, &src);
	int r = read_values(root, root_keys, c, &src);

	if (r >= 0) {
		problems += r;
		r = read_services(root, c, &src);
	}
	if (r < 0)
		return r;
	problems += r;
	return problems ? problems : check_conflicts(c, errors);
}

int config_load(const char *path, struct config **out, struct config_errors *errors)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash ? strdup(".") : slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
	struct config *c;
	config_t cf;
	int r;

	*out = NULL;
	if (!dir)
		return -ENOMEM;
	if (config_guard_files(path, dir, errors) > 0) {
		free(dir);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		free(dir);
		return -ENOMEM;
	}
	c->refs = 1;
	config_init(&cf);
	/* @include "x" is relative to the main file's directory. */
	config_set_include_dir(&cf, dir);
	free(dir);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		const char *file = config_error_file(&cf);
		struct config_place at = { file ? file : path, config_error_line(&cf), path, errors };
		config_error(&at, "%s", config_error_text(&cf));
		r = -EINVAL;
	} else {
		r = read_root(&cf, c, errors);
		r = r > 0 ? -EINVAL : r;
	}
	config_destroy(&cf);
	if (r < 0) {
		config_free(c);
		return r;
	}
	*out = c;
	return 0;
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
	release_values(root_keys, c);
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
