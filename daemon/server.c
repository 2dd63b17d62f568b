#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "handlers.h"
#include "listen.h"
#include "udp.h"

#define SOURCE_TABLE_SIZE 8192

int server_new(struct loop *loop, struct client_registry *clients, struct server **out)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct serving *sv = srv ? &srv->serving : NULL;

	if (!srv || !(sv->scratch = malloc(SCRATCH_SIZE))) {
		free(srv);
		return -ENOMEM;
	}
	sv->loop = loop;
	sv->clients = clients;
	sv->loops = 1;
	sv->client_log = (struct log_ratelimit){ .interval_usec = 10 * 1000000, .burst = 20 };
	if (source_table_init(&sv->sources, SOURCE_TABLE_SIZE) < 0 || udp_batch_new(&sv->udp) < 0) {
		source_table_free(&sv->sources);
		free(sv->scratch);
		free(srv);
		return -ENOMEM;
	}
	*out = srv;
	return 0;
}

static void listener_io(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct listener *l = container_of(io, struct listener, io);

	(void)loop;
	(void)events;
	if (l->type == SOCK_STREAM)
		conn_accept(l);
	else
		udp_serve(l);
}

/* Sockets several loops watch wake one loop per client, not all of them. */
static int listener_watch(struct serving *sv, struct listener *l)
{
	return loop_add(sv->loop, &l->io, l->io.fd, LOOP_IN | (l->inherited && sv->loops > 1 ? LOOP_EXCLUSIVE : 0),
			listener_io);
}

static struct listener *listener_new(struct server *srv, int fd, int type)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->serving = &srv->serving;
	l->type = type;
	l->io.fd = fd;
	return l;
}

/* Closes a socket from systemd, unless another loop's server owns it. */
static void inherited_free(struct listener *l)
{
	if (!l->shared)
		close(l->io.fd);
	free((char *)l->fd_name);
	free(l);
}

/* Stops serving l; own sockets are closed, systemd's are kept for a later config. */
static void listener_retire(struct server *srv, struct listener *l)
{
	loop_remove(srv->serving.loop, &l->io);
	l->owner = NULL;
	if (l->inherited)
		return;
	close(l->io.fd);
	loop_release(srv->serving.loop, l, free);
}

int server_take_inherited(struct server *srv)
{
	struct inherited_socket *socks;
	int n = listen_inherited(&socks);

	if (n <= 0)
		return n;
	srv->inherited = calloc((size_t)n, sizeof(*srv->inherited));
	for (int i = 0; srv->inherited && i < n; i++) {
		struct listener *l = listener_new(srv, socks[i].fd, socks[i].type);
		int r = l ? listen_prepare(socks[i].fd, socks[i].type) : -ENOMEM;
		if (r < 0) {
			log_warning("inherited socket '%s' (fd %d) unusable: %s; closing it", socks[i].name,
				    socks[i].fd, strerror(-r));
			close(socks[i].fd);
			free(socks[i].name);
			free(l);
			continue;
		}
		l->inherited = true;
		l->fd_name = socks[i].name;
		snprintf(l->addr_text, sizeof(l->addr_text), "'%s'", socks[i].name);
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (getsockname(socks[i].fd, (struct sockaddr *)&ss, &len) == 0)
			addr_to_string((struct sockaddr *)&ss, l->addr_text);
		srv->inherited[srv->n_inherited++] = l;
	}
	free(socks);
	return (int)srv->n_inherited;
}

int server_share_inherited(struct server *srv, const struct server *owner)
{
	srv->inherited = calloc(owner->n_inherited + 1, sizeof(*srv->inherited));
	if (!srv->inherited)
		return -ENOMEM;
	for (size_t i = 0; i < owner->n_inherited; i++) {
		const struct listener *o = owner->inherited[i];
		struct listener *l = listener_new(srv, o->io.fd, o->type);
		if (!l)
			return -ENOMEM;
		l->inherited = l->shared = true;
		l->fd_name = strdup(o->fd_name);
		memcpy(l->addr_text, o->addr_text, sizeof(l->addr_text));
		srv->inherited[srv->n_inherited++] = l;
		if (!l->fd_name)
			return -ENOMEM;
	}
	return 0;
}

static unsigned protocol_of(int type)
{
	return type == SOCK_STREAM ? PROTO_TCP : PROTO_UDP;
}

size_t server_named_sockets(const struct server *srv, struct named_socket **out)
{
	*out = calloc(srv->n_inherited + 1, sizeof(**out));
	for (size_t i = 0; *out && i < srv->n_inherited; i++)
		(*out)[i] = (struct named_socket){ srv->inherited[i]->fd_name, protocol_of(srv->inherited[i]->type) };
	return *out ? srv->n_inherited : 0;
}

/* What a config will run with, worked out without touching the running server, so that
 * a config that cannot be served leaves it as it was. */
struct planned_service {
	struct active_service *as;      /* running, or new */
	const struct service *service;
	bool is_new;
};

struct planned_listener {
	struct listener *listener;      /* running, or new */
	size_t service;                 /* index in plan.services */
	bool is_new;
};

struct plan {
	struct planned_service *services;
	size_t n_services;
	struct planned_listener *listeners;
	size_t n_listeners, cap_listeners;
};

static int plan_add_listener(struct plan *p, struct listener *l, size_t service, bool is_new)
{
	if (p->n_listeners == p->cap_listeners) {
		size_t cap = p->cap_listeners ? p->cap_listeners * 2 : 16;
		struct planned_listener *ls = realloc(p->listeners, cap * sizeof(*ls));
		if (!ls)
			return -ENOMEM;
		p->listeners = ls;
		p->cap_listeners = cap;
	}
	p->listeners[p->n_listeners++] = (struct planned_listener){ l, service, is_new };
	return 0;
}

/* Adds a service to the plan, reusing the running one of that name and handler, so that
 * its clients stay. Returns its index. */
static int plan_service(struct server *srv, struct plan *p, const struct service *svc)
{
	struct active_service *as = NULL;

	for (size_t i = 0; i < p->n_services; i++)
		if (p->services[i].service == svc)
			return (int)i;
	for (struct active_service *o = srv->services; o && !as; o = o->next)
		if (strcmp(o->service->name, svc->name) == 0 && o->service->handler == svc->handler)
			as = o;
	p->services[p->n_services] = (struct planned_service){ as, svc, as == NULL };
	if (!as && !(p->services[p->n_services].as = calloc(1, sizeof(*as))))
		return -ENOMEM;
	return (int)p->n_services++;
}

/* Finds the service an inherited socket belongs to, by FileDescriptorName= and type.
 * Returns 1 when it belongs to none. */
static int plan_inherited(struct server *srv, struct plan *p, const struct config *cfg, struct listener *l,
			  bool starting)
{
	const struct service *svc = config_find_service(cfg, l->fd_name);
	int i;

	if (!svc && handler_find(l->fd_name)) {
		log_warning("socket '%s' (%s %s): cannot serve it with the handler's defaults", l->fd_name,
			    socket_type_name(l->type), l->addr_text);
		return 1;
	}
	if (!svc || !(svc->protocols & protocol_of(l->type))) {
		if (starting)
			log_warning("socket '%s' (%s %s) from systemd matches no service or handler; closing it",
				    l->fd_name, socket_type_name(l->type), l->addr_text);
		return 1;
	}
	i = plan_service(srv, p, svc);
	return i < 0 ? i : plan_add_listener(p, l, (size_t)i, false);
}

static bool plan_has_inherited(const struct plan *p, size_t service, int type)
{
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct listener *l = p->listeners[i].listener;
		if (l->inherited && p->listeners[i].service == service && l->type == type)
			return true;
	}
	return false;
}

static bool same_bind(const struct listener *l, int type, const struct sockaddr_storage *addr, unsigned port)
{
	struct sockaddr_storage want;

	if (l->inherited || l->type != type)
		return false;
	if (addr)
		want = *addr;
	else {
		/* the wildcard of the family it was bound with */
		memset(&want, 0, sizeof(want));
		want.ss_family = l->addr.ss_family;
	}
	addr_set_port(&want, port);
	return addr_equal(&want, &l->addr);
}

static int plan_bind(struct server *srv, struct plan *p, size_t service, int type,
		     const struct sockaddr_storage *addr)
{
	const struct service *svc = p->services[service].service;
	struct sockaddr_storage bound;
	struct listener *l;
	int fd, r;

	for (size_t i = 0; i < srv->n_listeners; i++)
		if (same_bind(srv->listeners[i], type, addr, svc->port))
			return plan_add_listener(p, srv->listeners[i], service, false);
	r = listen_bind(addr, svc->port, type, srv->serving.loops > 1, &bound, &fd);
	if (r < 0) {
		char text[ADDR_TEXT_MAX];
		log_error("service '%s': cannot listen on %s %s: %s%s", svc->name, socket_type_name(type),
			  addr_to_string((struct sockaddr *)&bound, text), strerror(-r),
			  r == -EAFNOSUPPORT || r == -EPERM || r == -EACCES ?
			  " (under a hardened systemd unit, enable a socket unit for this service instead)" : "");
		return r;
	}
	if (!(l = listener_new(srv, fd, type))) {
		close(fd);
		return -ENOMEM;
	}
	l->addr = bound;
	addr_to_string((struct sockaddr *)&bound, l->addr_text);
	r = plan_add_listener(p, l, service, true);
	if (r < 0) {
		close(fd);
		free(l);
	}
	return r;
}

/* Every socket of the planned service i that no socket from systemd stands for. */
static int plan_binds(struct server *srv, struct plan *p, size_t i)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	const struct service *svc = p->services[i].service;
	size_t n_addrs = svc->host.n_addrs;

	for (size_t t = 0; t < 2; t++) {
		if (!(svc->protocols & protocol_of(types[t])) || plan_has_inherited(p, i, types[t]))
			continue;
		for (size_t a = 0; a < (n_addrs ? n_addrs : 1); a++) {
			int r = plan_bind(srv, p, i, types[t], n_addrs ? &svc->host.addrs[a] : NULL);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int plan_build(struct server *srv, struct plan *p, const struct config *cfg, bool starting)
{
	int r;

	for (size_t i = 0; i < cfg->n_services; i++)
		if ((r = plan_service(srv, p, &cfg->services[i])) < 0)
			return r;
	for (size_t i = 0; i < srv->n_inherited; i++) {
		r = plan_inherited(srv, p, cfg, srv->inherited[i], starting);
		if (r < 0)
			return r;
		if (r == 1 && starting) {
			/* Nobody will ever serve it. */
			inherited_free(srv->inherited[i]);
			srv->inherited[i--] = srv->inherited[--srv->n_inherited];
		}
	}
	for (size_t i = 0; i < p->n_services; i++)
		if ((r = plan_binds(srv, p, i)) < 0)
			return r;
	return 0;
}

static void plan_abort(struct plan *p)
{
	for (size_t i = 0; i < p->n_listeners; i++) {
		if (p->listeners[i].is_new) {
			close(p->listeners[i].listener->io.fd);
			free(p->listeners[i].listener);
		}
	}
	for (size_t i = 0; i < p->n_services; i++)
		if (p->services[i].is_new)
			free(p->services[i].as);
}

/* Closes the services and listeners the plan drops, and makes its services the list. */
static void plan_retire(struct server *srv, struct plan *p)
{
	struct active_service *as, *next;

	for (size_t i = 0; i < srv->n_listeners; i++) {
		bool kept = false;
		for (size_t k = 0; k < p->n_listeners && !kept; k++)
			kept = p->listeners[k].listener == srv->listeners[i];
		if (!kept)
			listener_retire(srv, srv->listeners[i]);
	}
	for (as = srv->services; as; as = as->next)
		as->keep = false;
	for (size_t i = 0; i < p->n_services; i++)
		p->services[i].as->keep = true;
	for (as = srv->services; as; as = next) {
		next = as->next;
		if (as->keep)
			continue;
		log_info("service '%s' removed", as->service->name);
		conn_close_all(as, "service removed");
		loop_release(srv->serving.loop, as, free);
	}
	srv->services = NULL;
	for (size_t i = p->n_services; i-- > 0;) {
		as = p->services[i].as;
		as->service = p->services[i].service;
		as->next = srv->services;
		srv->services = as;
	}
}

static void plan_commit(struct server *srv, struct plan *p)
{
	plan_retire(srv, p);
	free(srv->listeners);
	srv->listeners = calloc(p->n_listeners + 1, sizeof(*srv->listeners));
	srv->n_listeners = 0;
	for (size_t i = 0; i < p->n_listeners; i++) {
		struct listener *l = p->listeners[i].listener;
		l->owner = p->services[p->listeners[i].service].as;
		if (srv->listeners)
			srv->listeners[srv->n_listeners++] = l;
		if (l->io.fn || l->paused)
			continue;
		int r = listener_watch(&srv->serving, l);
		struct log_fields f = { .service = l->owner->service->name, .protocol = socket_type_name(l->type) };
		if (r < 0)
			log_fields(LOG_ERR, &f, "%s: cannot watch %s %s: %s", f.service, f.protocol, l->addr_text,
				   strerror(-r));
		else
			log_fields(LOG_INFO, &f, "%s: serving %s on %s%s", f.service, f.protocol, l->addr_text,
				   l->inherited ? " (socket from systemd)" : "");
	}
}

int server_apply(struct server *srv, struct config *cfg, bool starting)
{
	struct plan p = { 0 };
	int r;

	p.services = calloc(cfg->n_services + 1, sizeof(*p.services));
	r = p.services ? plan_build(srv, &p, cfg, starting) : -ENOMEM;
	if (r < 0) {
		plan_abort(&p);
	} else {
		plan_commit(srv, &p);
		config_free(srv->serving.config);
		srv->serving.config = cfg;
		udp_refuse_ports(&srv->serving, cfg, srv->listeners, srv->n_listeners);
	}
	free(p.listeners);
	free(p.services);
	return r;
}

void server_stop(struct server *srv)
{
	for (struct active_service *as = srv->services; as; as = as->next)
		conn_close_all(as, "stopping");
	for (size_t i = 0; i < srv->n_listeners; i++)
		listener_retire(srv, srv->listeners[i]);
	srv->n_listeners = 0;
}

void server_free(struct server *srv)
{
	struct active_service *as, *next;

	if (!srv)
		return;
	server_stop(srv);
	for (as = srv->services; as; as = next) {
		next = as->next;
		free(as);
	}
	for (size_t i = 0; i < srv->n_inherited; i++)
		inherited_free(srv->inherited[i]);
	free(srv->inherited);
	free(srv->listeners);
	conn_bufs_free(&srv->serving);
	source_table_free(&srv->serving.sources);
	udp_batch_free(srv->serving.udp);
	config_free(srv->serving.config);
	free(srv->serving.scratch);
	free(srv);
}

static void counters_add(struct counters *sum, const struct counters *c)
{
	sum->tcp_accepted += counter_get(&c->tcp_accepted);
	sum->tcp_active += counter_get(&c->tcp_active);
	sum->tcp_refused += counter_get(&c->tcp_refused);
	sum->udp_received += counter_get(&c->udp_received);
	sum->udp_replied += counter_get(&c->udp_replied);
	sum->udp_refused += counter_get(&c->udp_refused);
	sum->bytes_in += counter_get(&c->bytes_in);
	sum->bytes_out += counter_get(&c->bytes_out);
}

/* The counters of the service called name (NULL: of all) in every loop: every loop runs
 * the same services. */
static void counters_sum(struct server *const *servers, size_t n, const char *name, struct counters *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < n; i++)
		for (const struct active_service *as = servers[i]->services; as; as = as->next)
			if (!name || strcmp(as->service->name, name) == 0)
				counters_add(sum, &as->counters);
}

void server_status(struct server *const *servers, size_t n, char *buf, size_t len)
{
	struct counters t;
	size_t n_services = 0;

	for (const struct active_service *as = servers[0]->services; as; as = as->next)
		n_services++;
	counters_sum(servers, n, NULL, &t);
	snprintf(buf, len,
		 "%zu services; tcp %" PRIu64 " active, %" PRIu64 " accepted; udp %" PRIu64 " datagrams; %" PRIu64
		 " refused", n_services, t.tcp_active, t.tcp_accepted, t.udp_received, t.tcp_refused + t.udp_refused);
}

void server_log_counters(struct server *const *servers, size_t n)
{
	for (const struct active_service *as = servers[0]->services; as; as = as->next) {
		struct counters c;
		counters_sum(servers, n, as->service->name, &c);
		struct log_fields f = {
			.service = as->service->name,
			.has_traffic = true,
			.bytes_in = c.bytes_in,
			.bytes_out = c.bytes_out,
		};
		log_fields(LOG_INFO, &f,
			   "%s: tcp %" PRIu64 " accepted, %" PRIu64 " active, %" PRIu64 " refused; udp %" PRIu64
			   " received, %" PRIu64 " replied, %" PRIu64 " refused; %" PRIu64 " bytes in, %" PRIu64
			   " out", as->service->name, c.tcp_accepted, c.tcp_active, c.tcp_refused, c.udp_received,
			   c.udp_replied, c.udp_refused, c.bytes_in, c.bytes_out);
	}
}

void server_tick(struct server *srv)
{
	uint64_t now = now_usec();

	for (struct active_service *as = srv->services; as; as = as->next)
		conn_enforce_limits(as, now);
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct listener *l = srv->listeners[i];
		if (l->paused && listener_watch(&srv->serving, l) == 0)
			l->paused = false;
	}
}
