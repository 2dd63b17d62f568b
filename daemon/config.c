/* minetd's own keys (the top level's, its groups' and a service's), the hosts they name and
 * the services that would conflict, read from the tree of values of minetd.conf
 * (config_guard.c's, from libconfig) and of inetd's files (inetd.c's). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_guard.h"
#include "handlers.h"
#include "inetd.h"
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
	{ .name = "inetd", .type = KEY_STRINGS, .offset = C(inetd) },
	{ .name = NULL },
};

/* A service's host defaults to the top level's; its handler's keys follow these. */
static const struct key service_keys[] = {
	{ .name = "name", .type = KEY_STRING, .offset = S(name), .required = true, .check = check_name },
	{ .name = "handler", .type = KEY_STRING, .offset = S(handler), .required = true,
	  .parse = handler_parse },
	{ .name = "port", .type = KEY_PORT, .offset = S(port), .required = true },
	{ .name = "protocol", .type = KEY_STRING, .offset = S(protocols), .def_text = "both",
	  .parse = parse_protocol },
	{ .name = "host", .type = KEY_STRING, .offset = S(host),
	  .parse = parse_host, .release = release_host },
	{ .name = "allow", .type = KEY_CIDRS, .offset = S(acl.allow) },
	{ .name = "deny", .type = KEY_CIDRS, .offset = S(acl.deny) },
	{ .name = NULL },
};

/* The service's handler's own keys, once the service's are read without a problem. */
static int read_options(const struct key_value *group, struct service *svc, const struct config_place *src)
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

static int read_service(const struct key_value *group, const struct config *c, struct service *svc,
			const struct config_place *parent)
{
	struct config_place src = value_place(group, parent);
	const struct key_value *handler = value_member(group, "handler");
	const char *handler_name = handler && handler->type == VALUE_STRING ? handler->s : NULL;
	int problems, r;

	svc->line = src.line;
	if (!(svc->file = strdup(src.file)))
		return -ENOMEM;
	if (group->type != VALUE_GROUP) {
		config_error(&src, "each service must be a group in braces");
		return 1;
	}
	problems = check_members(group, service_keys, handler_option, handler_name, &src);
	if ((r = read_values(group, service_keys, svc, &src)) < 0)
		return r;
	problems += r;
	if (!svc->host.text && c->host.text) {
		if ((r = parse_host(&svc->host, c->host.text, &src)) < 0)
			return r;
		problems += r;
	}
	return problems ? problems : read_options(group, svc, &src);
}

/* The services of list, after those c holds: whichever source's list it is. */
static int read_services(const struct key_value *list, struct config *c, const struct config_place *src)
{
	struct service *services;
	int problems = 0;

	if (list->type != VALUE_LIST)
		return 1;       /* check_members() said so */
	services = realloc(c->services, (c->n_services + list->members.n + 1) * sizeof(*services));
	if (!services)
		return -ENOMEM;
	c->services = services;
	for (size_t i = 0; i < list->members.n; i++) {
		struct service *svc = memset(&services[c->n_services++], 0, sizeof(*svc));
		int r = read_service(&list->members.items[i], c, svc, src);
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

/* Where b was defined, as said in a message about a: its line, and its file if another. */
static const char *defined_at(const struct service *b, const struct service *a, char *buf, size_t size)
{
	if (strcmp(a->file, b->file) == 0)
		snprintf(buf, size, "line %d", b->line);
	else
		snprintf(buf, size, "%s:%d", b->file, b->line);
	return buf;
}

/* Two services cannot share a name, nor a port and protocol on overlapping addresses: a
 * against the first n services of c, each conflict said at 'at'. Returns how many. */
static int check_conflicts(const struct config *c, size_t n, const struct service *a,
			   const struct config_place *at)
{
	char where[PATH_MAX + 16];
	int problems = 0;

	for (size_t j = 0; j < n; j++) {
		const struct service *b = &c->services[j];
		if (strcmp(a->name, b->name) == 0)
			config_error(at, "duplicate service name '%s' (first at %s)", a->name,
				     defined_at(b, a, where, sizeof(where)));
		else if (a->port == b->port && (a->protocols & b->protocols) && hosts_overlap(a, b))
			config_error(at, "service '%s' uses port %u, as '%s' at %s does", a->name, a->port, b->name,
				     defined_at(b, a, where, sizeof(where)));
		else
			continue;
		problems++;
	}
	return problems;
}

static void service_free(struct service *svc)
{
	free(svc->file);
	release_values(service_keys, svc);
	if (svc->options && svc->handler->release)
		svc->handler->release(svc->options);
	if (svc->options)
		release_values(svc->handler->keys, svc->options);
	free(svc->options);
	free(svc->replies);
}

/* A line of an inetd file, read as a service of the config is, through the same keys and
 * checks, after the config's own and the lines before it; but its problems (a conflict
 * too) leave it out, with a warning, and nothing else. An inetd_service_fn. */
static int add_inetd_service(const struct key_value *group, void *context)
{
	struct config *c = context;
	struct config_place at = { .file = group->file, .line = group->line, .config_path = c->path,
				   .errors = &c->warnings, .consequence = INETD_LINE_LEFT_OUT };
	struct service *services = realloc(c->services, (c->n_services + 1) * sizeof(*services)), *svc;
	int r;

	if (!services)
		return -ENOMEM;
	c->services = services;
	svc = memset(&services[c->n_services++], 0, sizeof(*svc));
	if ((r = read_service(group, c, svc, &at)) == 0)
		r = check_conflicts(c, c->n_services - 1, svc, &at);
	if (r > 0) {
		service_free(svc);
		c->n_services--;
	}
	return r < 0 ? r : 0;
}

bool service_at(const struct service *svc, const struct sockaddr_storage *addr)
{
	/* sin_port and sin6_port sit at the same offset */
	unsigned port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
	bool here = svc->host.n_addrs == 0;

	for (size_t i = 0; i < svc->host.n_addrs && !here; i++)
		here = addr_overlap(&svc->host.addrs[i], addr);
	return here && port == svc->port;
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
	if ((svc->name = strdup(sock->name)) && (svc->host.text = strdup("")) && (svc->file = strdup(c->path)))
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
	struct config_place defaults = { .file = c->path, .config_path = c->path, .errors = errors };
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

static int read_root(const struct key_value *root, struct config *c, struct config_errors *errors)
{
	struct config_place src = { .file = c->path, .line = 1, .config_path = c->path, .errors = errors };
	const struct key_value *services = value_member(root, "services");
	int problems = read_group(root, root_keys, c, &src), conflicts = 0, r;

	if (problems < 0)
		return problems;
	if (!services) {
		config_error(&src, "no 'services' list: nothing to serve");
		return problems + 1;
	}
	if ((r = read_services(services, c, &src)) < 0)
		return r;
	problems += r;
	for (size_t i = 0; problems == 0 && i < c->n_services; i++) {
		const struct service *svc = &c->services[i];
		struct config_place at = { .file = svc->file, .line = svc->line, .config_path = c->path,
					   .errors = errors };
		conflicts += check_conflicts(c, i, svc, &at);
	}
	problems += conflicts;
	if (problems)
		return problems;
	src.errors = &c->warnings;
	return inetd_read(&c->inetd, &src, add_inetd_service, c);
}

static int read_tree(const struct key_value *root, void *ctx, struct config_errors *errors)
{
	return read_root(root, ctx, errors);
}

int config_load(const char *path, struct config **out, struct config_errors *errors)
{
	struct config *c = calloc(1, sizeof(*c));
	int r;

	*out = NULL;
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return -ENOMEM;
	}
	c->refs = 1;
	r = config_file_read(path, read_tree, c, errors);
	if (r != 0) {
		config_free(c);
		return r < 0 ? r : -EINVAL;
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
	for (size_t i = 0; i < c->n_stopped; i++)
		free((char *)c->stopped[i].name);
	free(c->stopped);
	config_errors_clear(&c->warnings);
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
