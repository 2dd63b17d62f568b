#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include <arpa/inet.h>

#define FREE_BUFS_MAX 64
#define SOURCE_TABLE_SIZE 8192

/* RFC 862-868's own ports: a datagram from one of them is another small service's reply. */
static const unsigned small_service_ports[] = { 7, 9, 13, 17, 19, 37 };

int server_new(struct loop *loop, struct client_registry *clients, unsigned loops, struct server **out)
{
	struct server *srv = calloc(1, sizeof(*srv));

	if (!srv || !(srv->scratch = malloc(SCRATCH_SIZE))) {
		free(srv);
		return -ENOMEM;
	}
	srv->loop = loop;
	srv->clients = clients;
	srv->loops = loops;
	srv->client_log = (struct log_ratelimit){ .interval_usec = 10 * 1000000, .burst = 20 };
	if (source_table_init(&srv->sources, SOURCE_TABLE_SIZE) < 0 || udp_batch_new(&srv->udp) < 0) {
		source_table_free(&srv->sources);
		free(srv->scratch);
		free(srv);
		return -ENOMEM;
	}
	*out = srv;
	return 0;
}

void *server_buf_take(struct server *srv)
{
	if (srv->n_free_bufs > 0)
		return srv->free_bufs[--srv->n_free_bufs];
	return malloc(CONN_BUF_SIZE);
}

void server_buf_give(struct server *srv, void *buf)
{
	if (srv->n_free_bufs < FREE_BUFS_MAX) {
		if (!srv->free_bufs && !(srv->free_bufs = calloc(FREE_BUFS_MAX, sizeof(void *)))) {
			free(buf);
			return;
		}
		srv->free_bufs[srv->n_free_bufs++] = buf;
	} else {
		free(buf);
	}
}

static void listener_io(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct listener *l = (struct listener *)((char *)io - offsetof(struct listener, io));

	(void)loop;
	(void)events;
	if (l->type == SOCK_STREAM)
		conn_accept(l);
	else
		udp_serve(l);
}

/* Sockets several loops watch wake one loop per client, not all of them. */
static int listener_watch(struct server *srv, struct listener *l)
{
	return loop_add(srv->loop, &l->io, l->io.fd, LOOP_IN | (l->inherited && srv->loops > 1 ? LOOP_EXCLUSIVE : 0),
			listener_io);
}

static struct listener *listener_new(struct server *srv, int fd, int type)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->server = srv;
	l->type = type;
	l->io.fd = fd;
	return l;
}

static void listener_free(void *p)
{
	free(p);
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
	loop_remove(srv->loop, &l->io);
	l->owner = NULL;
	if (l->inherited)
		return;
	close(l->io.fd);
	loop_release(srv->loop, l, listener_free);
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

/* Adds a service to the plan, reusing the running one of that name and handler (and
 * kind: from the config or implicit), so that its clients stay. Returns its index. */
static int plan_service(struct server *srv, struct plan *p, const struct service *svc, bool implicit)
{
	struct active_service *as = NULL;

	for (size_t i = 0; i < p->n_services; i++)
		if (strcmp(p->services[i].service->name, svc->name) == 0)
			return (int)i;
	for (struct active_service *o = srv->services; o && !as; o = o->next)
		if (strcmp(o->service->name, svc->name) == 0 && o->service->handler == svc->handler &&
		    !o->implicit == !implicit)
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
	struct config_errors errors = { 0 };
	struct service *implicit = NULL;
	int i, r;

	if (svc && (svc->protocols & protocol_of(l->type))) {
		i = plan_service(srv, p, svc, false);
	} else if (!svc && handler_find(l->fd_name)) {
		/* Running already: keep its service and clients. */
		for (struct active_service *o = srv->services; o; o = o->next)
			if (o->implicit && strcmp(o->implicit->name, l->fd_name) == 0)
				svc = o->implicit;
		if (!svc) {
			for (size_t k = 0; k < p->n_services; k++)
				if (strcmp(p->services[k].service->name, l->fd_name) == 0)
					svc = p->services[k].service;
		}
		if (!svc) {
			r = service_new_implicit(l->fd_name, &implicit, &errors);
			for (size_t k = 0; k < errors.n; k++)
				log_error("%s", errors.lines[k]);
			config_errors_clear(&errors);
			if (r < 0) {
				log_warning("socket '%s' (%s %s): cannot serve it with the handler's defaults",
					    l->fd_name, socket_type_name(l->type), l->addr_text);
				return r == -ENOMEM ? r : 1;
			}
			svc = implicit;
		}
		i = plan_service(srv, p, svc, true);
		if (i >= 0 && p->services[i].is_new)
			p->services[i].as->implicit = implicit;
		else if (implicit) {
			service_free(implicit);
			free(implicit);
		}
	} else {
		if (starting)
			log_warning("socket '%s' (%s %s) from systemd matches no service or handler; closing it",
				    l->fd_name, socket_type_name(l->type), l->addr_text);
		return 1;
	}
	if (i < 0)
		return i;
	return plan_add_listener(p, l, (size_t)i, false);
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
	r = listen_bind(addr, svc->port, type, srv->loops > 1, &bound, &fd);
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

static void plan_abort(struct plan *p)
{
	for (size_t i = 0; i < p->n_listeners; i++) {
		if (p->listeners[i].is_new) {
			close(p->listeners[i].listener->io.fd);
			free(p->listeners[i].listener);
		}
	}
	for (size_t i = 0; i < p->n_services; i++) {
		if (!p->services[i].is_new)
			continue;
		if (p->services[i].as->implicit) {
			service_free(p->services[i].as->implicit);
			free(p->services[i].as->implicit);
		}
		free(p->services[i].as);
	}
}

static void active_free(void *ptr)
{
	struct active_service *as = ptr;

	if (as->implicit) {
		service_free(as->implicit);
		free(as->implicit);
	}
	free(as);
}

static void plan_commit(struct server *srv, struct plan *p)
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
		loop_release(srv->loop, as, active_free);
	}
	srv->services = NULL;
	for (size_t i = p->n_services; i-- > 0;) {
		as = p->services[i].as;
		as->service = p->services[i].service;
		as->next = srv->services;
		srv->services = as;
	}
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
		int r = listener_watch(srv, l);
		struct log_fields f = { .service = l->owner->service->name, .protocol = socket_type_name(l->type) };
		if (r < 0)
			log_fields(LOG_ERR, &f, "%s: cannot watch %s %s: %s", f.service, f.protocol, l->addr_text,
				   strerror(-r));
		else
			log_fields(LOG_INFO, &f, "%s: serving %s on %s%s", f.service, f.protocol, l->addr_text,
				   l->inherited ? " (socket from systemd)" : "");
	}
}

static int plan_build(struct server *srv, struct plan *p, const struct config *cfg, bool starting)
{
	int r;

	for (size_t i = 0; i < cfg->n_services; i++) {
		r = plan_service(srv, p, &cfg->services[i], false);
		if (r < 0)
			return r;
	}
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
	for (size_t i = 0; i < p->n_services; i++) {
		const struct service *svc = p->services[i].service;
		static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
		if (svc->line == 0)
			continue;       /* implicit: only its inherited sockets */
		for (size_t t = 0; t < 2; t++) {
			if (!(svc->protocols & protocol_of(types[t])) || plan_has_inherited(p, i, types[t]))
				continue;
			for (size_t a = 0; a < (svc->n_addrs ? svc->n_addrs : 1); a++) {
				r = plan_bind(srv, p, i, types[t], svc->n_addrs ? &svc->addrs[a] : NULL);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

static void refuse_port(uint64_t *bitmap, unsigned port)
{
	bitmap[port / 64] |= 1ULL << (port % 64);
}

/* Datagrams from these source ports are never answered: they break echo/chargen loops
 * (CA-1996-01), including loops between our own services. */
static void build_refused_ports(struct server *srv, const struct config *cfg)
{
	uint64_t *bitmap = srv->refused_ports;

	memset(srv->refused_ports, 0, sizeof(srv->refused_ports));
	refuse_port(bitmap, 0);
	for (size_t i = 0; i < sizeof(small_service_ports) / sizeof(small_service_ports[0]); i++)
		refuse_port(bitmap, small_service_ports[i]);
	if (!cfg->udp.privileged_source_ports)
		for (unsigned p = 1; p < 1024; p++)
			refuse_port(bitmap, p);
	for (size_t i = 0; i < cfg->udp.n_loop_ports; i++)
		refuse_port(bitmap, cfg->udp.loop_ports[i]);
	for (size_t i = 0; i < cfg->n_services; i++)
		if (cfg->services[i].protocols & PROTO_UDP)
			refuse_port(bitmap, cfg->services[i].port);
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (srv->listeners[i]->type == SOCK_DGRAM &&
		    getsockname(srv->listeners[i]->io.fd, (struct sockaddr *)&ss, &len) == 0) {
			struct sockaddr_in6 in6;
			addr_to_in6(&ss, &in6);
			refuse_port(bitmap, ntohs(in6.sin6_port));
		}
	}
}

int server_apply(struct server *srv, struct config *cfg, bool starting)
{
	struct plan p = { 0 };
	int r;

	p.services = calloc(cfg->n_services + srv->n_inherited + 1, sizeof(*p.services));
	r = p.services ? plan_build(srv, &p, cfg, starting) : -ENOMEM;
	if (r < 0) {
		plan_abort(&p);
	} else {
		plan_commit(srv, &p);
		config_free(srv->config);
		srv->config = cfg;
		build_refused_ports(srv, cfg);
	}
	free(p.listeners);
	free(p.services);
	return r;
}

void server_refuse(struct server *srv, struct active_service *as, const char *protocol,
		   const struct sockaddr *peer, const char *reason)
{
	char addr[ADDR_TEXT_MAX];

	if (strcmp(protocol, "tcp") == 0)
		counter_add(&as->counters.tcp_refused, 1);
	else
		counter_add(&as->counters.udp_refused, 1);
	if (!log_ratelimit_pass(&srv->client_log, now_usec()))
		return;
	struct log_fields f = {
		.service = as->service->name,
		.protocol = protocol,
		.peer = addr_to_string(peer, addr),
		.reason = reason,
	};
	log_fields(LOG_NOTICE, &f, "%s: refused %s client %s: %s", as->service->name, protocol, addr, reason);
}

bool server_permits(const struct server *srv, const struct active_service *as, const struct in6_addr *addr)
{
	return acl_permits(&srv->config->acl, addr) && acl_permits(&as->service->acl, addr);
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
		active_free(as);
	}
	for (size_t i = 0; i < srv->n_inherited; i++)
		inherited_free(srv->inherited[i]);
	free(srv->inherited);
	free(srv->listeners);
	for (size_t i = 0; i < srv->n_free_bufs; i++)
		free(srv->free_bufs[i]);
	free(srv->free_bufs);
	source_table_free(&srv->sources);
	udp_batch_free(srv->udp);
	config_free(srv->config);
	free(srv->scratch);
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

/* Every loop runs the same services: the first one's list names them. */
void server_totals(struct server *const *servers, size_t n, struct counters *t, size_t *n_services)
{
	memset(t, 0, sizeof(*t));
	*n_services = 0;
	for (const struct active_service *as = servers[0]->services; as; as = as->next)
		(*n_services)++;
	for (size_t i = 0; i < n; i++)
		for (const struct active_service *as = servers[i]->services; as; as = as->next)
			counters_add(t, &as->counters);
}

void server_log_counters(struct server *const *servers, size_t n)
{
	for (const struct active_service *as = servers[0]->services; as; as = as->next) {
		struct counters c = { 0 };
		for (size_t i = 0; i < n; i++)
			for (const struct active_service *o = servers[i]->services; o; o = o->next)
				if (strcmp(o->service->name, as->service->name) == 0)
					counters_add(&c, &o->counters);
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
		if (l->paused && listener_watch(srv, l) == 0)
			l->paused = false;
	}
}
