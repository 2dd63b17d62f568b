#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "listen.h"
#include "priv.h"
#include "programs.h"
#include "tcp.h"
#include "udp.h"

int server_new(struct loop *loop, struct client_registry *clients, struct server **out)
{
	struct server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->clients = clients;
	srv->loops = 1;
	srv->fd_limit = INT_MAX;
	srv->client_log = (struct log_ratelimit){ .interval_usec = 10 * 1000000, .burst = 20 };
	if (tcp_new(&srv->tcp) < 0 || udp_new(&srv->udp) < 0 || programs_new(&srv->programs) < 0) {
		server_free(srv);
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
		tcp_accept(l);
	else
		udp_serve(l);
}

/* Sockets several loops watch wake one loop per client, not all of them. */
static int listener_watch(struct server *srv, struct listener *l)
{
	uint32_t events = LOOP_IN | (l->inherited && srv->loops > 1 ? LOOP_EXCLUSIVE : 0);

	return loop_add(srv->loop, &l->io, l->io.fd, events, listener_io);
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

/* Closes a socket from systemd, unless another loop's server owns it. */
static void inherited_free(struct listener *l)
{
	if (!l->shared && l->io.fd >= 0)
		close(l->io.fd);
	free((char *)l->fd_name);
	free(l);
}

static void inherited_release(void *ptr)
{
	inherited_free(ptr);
}

/* Whether the config says that l's socket unit has stopped since it was passed. */
static bool unit_stopped(const struct config *cfg, const struct listener *l)
{
	for (size_t i = 0; i < cfg->n_stopped; i++)
		if (strcmp(cfg->stopped[i].name, l->fd_name) == 0 &&
		    cfg->stopped[i].protocol == proto_of_socktype(l->type) && addr_equal(&cfg->stopped[i].addr, &l->addr))
			return true;
	return false;
}

/* The sockets of stopped socket units go once a config is applied: closed (by the loop
 * that took them from systemd), never served again. */
static void drop_stopped(struct server *srv)
{
	for (size_t i = 0; i < srv->n_inherited; i++) {
		struct listener *l = srv->inherited[i];
		if (!l->stopped)
			continue;
		log_info("socket '%s' (%s %s): its socket unit has stopped; %s", l->fd_name,
			 socket_type_name(l->type), l->addr_text, l->shared ? "no longer served" : "closing it");
		loop_remove(srv->loop, &l->io);
		/* closed now, out of epoll already, so that its port is free for a bind that
		 * follows; the struct goes once the events fetched are dispatched */
		if (!l->shared) {
			close(l->io.fd);
			l->io.fd = -1;
		}
		if (loop_release(srv->loop, l, inherited_release) < 0)
			inherited_free(l);
		srv->inherited[i--] = srv->inherited[--srv->n_inherited];
	}
}

/* Stops serving l; own sockets are closed, systemd's are kept for a later config. */
static void listener_retire(struct server *srv, struct listener *l)
{
	loop_remove(srv->loop, &l->io);
	programs_forget_listener(l);
	l->owner = NULL;
	if (l->inherited)
		return;
	close(l->io.fd);
	loop_release(srv->loop, l, free);
}

int server_adopt_listener(struct server *srv, int fd, int type)
{
	struct listener *l = listener_new(srv, fd, type);
	struct listener **ls = realloc(srv->listeners, (srv->n_listeners + 1) * sizeof(*ls));
	socklen_t len = sizeof(l ? l->addr : (struct sockaddr_storage){ 0 });
	int r = !l || !ls ? -ENOMEM : listen_prepare(fd, type);

	if (ls)
		srv->listeners = ls;
	if (r == 0 && getsockname(fd, (struct sockaddr *)&l->addr, &len) < 0)
		r = -errno;
	if (r < 0) {
		free(l);
		return r;
	}
	addr_to_string((struct sockaddr *)&l->addr, l->addr_text);
	/* a [::] that serves IPv6 alone, bound so because IPv4's port was taken: the config
	 * applied next binds IPv4 beside it (plan_binds) */
	int v6only = 0;
	socklen_t optlen = sizeof(v6only);
	if (l->addr.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&l->addr)->sin6_addr) &&
	    getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen) == 0)
		l->ipv6_alone = v6only != 0;
	srv->listeners[srv->n_listeners++] = l;
	return 0;
}

int server_take_inherited(struct server *srv, struct inherited_socket *socks, size_t n)
{
	srv->inherited = calloc(n + 1, sizeof(*srv->inherited));
	for (size_t i = 0; i < n; i++) {
		int type = socks[i].type;
		struct listener *l = type && srv->inherited ? listener_new(srv, socks[i].fd, type) : NULL;
		int r = !type ? -ESOCKTNOSUPPORT : l ? listen_prepare(socks[i].fd, type) : -ENOMEM;
		if (r < 0) {
			log_warning("inherited socket '%s' (fd %d) unusable: %s; closing it",
				    socks[i].name, socks[i].fd, r != -ESOCKTNOSUPPORT ? strerror(-r) :
				    "not a listening TCP or a UDP socket of IPv4 or IPv6");
			close(socks[i].fd);
			free(socks[i].name);
			free(l);
			continue;
		}
		l->inherited = true;
		l->fd_name = socks[i].name;
		snprintf(l->addr_text, sizeof(l->addr_text), "'%s'", socks[i].name);
		socklen_t len = sizeof(l->addr);
		if (getsockname(socks[i].fd, (struct sockaddr *)&l->addr, &len) == 0)
			addr_to_string((struct sockaddr *)&l->addr, l->addr_text);
		srv->inherited[srv->n_inherited++] = l;
	}
	return srv->inherited ? (int)srv->n_inherited : -ENOMEM;
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
		l->addr = o->addr;
		memcpy(l->addr_text, o->addr_text, sizeof(l->addr_text));
		srv->inherited[srv->n_inherited++] = l;
		if (!l->fd_name)
			return -ENOMEM;
	}
	return 0;
}

size_t server_named_sockets(const struct server *srv, struct named_socket **out)
{
	*out = calloc(srv->n_inherited + 1, sizeof(**out));
	for (size_t i = 0; *out && i < srv->n_inherited; i++) {
		const struct listener *l = srv->inherited[i];
		(*out)[i] = (struct named_socket){ l->fd_name, proto_of_socktype(l->type), l->addr };
	}
	return *out ? srv->n_inherited : 0;
}

/* What a config will run with: for each of its services the running active service or a
 * new one; its sockets: running ones it keeps, systemd's, and addresses still to bind. */
struct plan {
	const struct config *config;
	struct active_service **as;     /* per service of the config */
	struct planned_listener {
		struct listener *listener;      /* running or from systemd; NULL: to bind */
		size_t service;                 /* index in config->services */
		int type;
		const struct sockaddr_storage *addr;    /* to bind; NULL: every address */
		int family;                     /* every address: 0 (both), or AF_INET alone */
	} *listeners;
	size_t n_listeners;
};

static void plan_listener(struct plan *p, struct listener *l, size_t service, int type,
			  const struct sockaddr_storage *addr, int family)
{
	p->listeners[p->n_listeners++] = (struct planned_listener){ l, service, type, addr, family };
}

/* The socket wins, but an admin who wrote another port or address should know. */
static void warn_if_elsewhere(const struct service *svc, const struct listener *l)
{
	if (svc->from_socket || service_at(svc, &l->addr))
		return;
	log_warning("service '%s': the config says port %u on %s, but its %s socket from systemd "
		    "listens on %s; serving the socket", svc->name, svc->port,
		    svc->host.n_addrs ? svc->host.text : "every address", socket_type_name(l->type),
		    l->addr_text);
}

/* Finds the service an inherited socket belongs to, by FileDescriptorName= and type.
 * Returns 1 when it belongs to none. */
static int plan_inherited(struct plan *p, struct listener *l, bool starting)
{
	const struct service *svc = config_find_service(p->config, l->fd_name);
	const char *type = socket_type_name(l->type);

	if (!svc && handler_find(l->fd_name))
		log_warning("socket '%s' (%s %s): cannot serve it with the handler's defaults",
			    l->fd_name, type, l->addr_text);
	else if (svc && !(svc->protocols & proto_of_socktype(l->type)) && starting)
		log_warning("socket '%s' (%s %s) from systemd: service '%s' does not serve %s; closing it",
			    l->fd_name, type, l->addr_text, svc->name, type);
	else if (!svc && starting)
		log_warning("socket '%s' (%s %s) from systemd matches no service or handler; closing it",
			    l->fd_name, type, l->addr_text);
	if (!svc || !(svc->protocols & proto_of_socktype(l->type)))
		return 1;
	warn_if_elsewhere(svc, l);
	plan_listener(p, l, (size_t)(svc - p->config->services), l->type, NULL, 0);
	return 0;
}

static bool plan_has(const struct plan *p, size_t service, const struct listener *l, int type)
{
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct planned_listener *pl = &p->listeners[i];
		if (l ? pl->listener == l :
			pl->listener && pl->listener->inherited && pl->service == service && pl->type == type)
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

/* Every socket of service i that no socket from systemd stands for: a running one bound
 * the same way, kept with its clients, or one to bind. */
static void plan_binds(struct server *srv, struct plan *p, size_t i)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	const struct service *svc = &p->config->services[i];
	size_t n_addrs = svc->host.n_addrs;

	if (srv->loop_index > 0 && serving_service_waits(svc))
		return;         /* one socket, the main loop's, for its one program at a time */
	for (size_t t = 0; t < 2; t++) {
		if (!(svc->protocols & proto_of_socktype(types[t])) || plan_has(p, i, NULL, types[t]))
			continue;
		for (size_t a = 0; a < (n_addrs ? n_addrs : 1); a++) {
			const struct sockaddr_storage *addr = n_addrs ? &svc->host.addrs[a] : NULL;
			bool found = false, ipv6_alone = false, ipv4 = false;
			/* every address may be two sockets: IPv6 alone, and IPv4 once it was free */
			for (size_t k = 0; k < srv->n_listeners && !(found && addr); k++) {
				struct listener *l = srv->listeners[k];
				if (!same_bind(l, types[t], addr, svc->port) || plan_has(p, i, l, 0))
					continue;
				plan_listener(p, l, i, types[t], addr, 0);
				found = true;
				ipv6_alone |= l->ipv6_alone;
				ipv4 |= l->addr.ss_family == AF_INET;
			}
			if (!found)
				plan_listener(p, NULL, i, types[t], addr, 0);
			else if (ipv6_alone && !ipv4)
				plan_listener(p, NULL, i, types[t], NULL, AF_INET);
		}
	}
}

/* The running active service of that name and handler, so that its clients stay. */
static struct active_service *running(const struct server *srv, const struct service *svc)
{
	for (struct active_service *as = srv->services; as; as = as->next)
		if (strcmp(as->service->name, svc->name) == 0 && as->service->handler == svc->handler)
			return as;
	return NULL;
}

static int plan_build(struct server *srv, struct plan *p, bool starting)
{
	const struct config *cfg = p->config;
	size_t most = srv->n_inherited;

	for (size_t i = 0; i < cfg->n_services; i++) {
		/* TCP and UDP; every address may be two sockets each (plan_binds) */
		most += 2 * (cfg->services[i].host.n_addrs ? cfg->services[i].host.n_addrs : 2);
		if (!(p->as[i] = running(srv, &cfg->services[i])) && !(p->as[i] = serving_service_new()))
			return -ENOMEM;
	}
	if (!(p->listeners = calloc(most + 1, sizeof(*p->listeners))))
		return -ENOMEM;
	for (size_t i = 0; i < srv->n_inherited; i++) {
		if ((srv->inherited[i]->stopped = unit_stopped(cfg, srv->inherited[i])))
			continue;
		if (plan_inherited(p, srv->inherited[i], starting) == 1 && starting) {
			/* Nobody will ever serve it. */
			inherited_free(srv->inherited[i]);
			srv->inherited[i--] = srv->inherited[--srv->n_inherited];
		}
	}
	for (size_t i = 0; i < cfg->n_services; i++)
		plan_binds(srv, p, i);
	return 0;
}

/* New active services have no service until the plan is committed. */
static void plan_abort(struct plan *p)
{
	for (size_t i = 0; i < p->config->n_services && p->as[i]; i++)
		if (!p->as[i]->service)
			free(p->as[i]);
}

/* Closes the services and listeners the plan drops (first, so that their ports are free
 * for the new binds), and makes its services the list. */
static void plan_retire(struct server *srv, struct plan *p)
{
	struct active_service *as, *next;

	for (size_t i = 0; i < srv->n_listeners; i++)
		if (!plan_has(p, 0, srv->listeners[i], 0))
			listener_retire(srv, srv->listeners[i]);
	for (as = srv->services; as; as = as->next)
		as->keep = false;
	for (size_t i = 0; i < p->config->n_services; i++)
		p->as[i]->keep = true;
	for (as = srv->services; as; as = next) {
		next = as->next;
		if (as->keep)
			continue;
		log_info("service '%s' removed", as->service->name);
		tcp_close_all(as, "service removed");
		programs_end(srv, as);
		loop_release(srv->loop, as, free);
	}
	srv->services = NULL;
	for (size_t i = p->config->n_services; i-- > 0;) {
		programs_keep(p->as[i], &p->config->services[i]);
		serving_service_set(p->as[i], &p->config->services[i]);
		p->as[i]->failure[0] = '\0';
		p->as[i]->next = srv->services;
		srv->services = p->as[i];
	}
}

/* Every address, where another socket held the port on IPv4 alone: [::] serves IPv6, and
 * 0.0.0.0 is the service's failure, bound later (unbound_ipv4) as the port is free. */
static void ipv4_taken(struct listener *l, struct active_service *as, bool quiet)
{
	unsigned port = as->service->port;

	l->ipv6_alone = true;
	snprintf(as->failure, sizeof(as->failure), "%s 0.0.0.0:%u: %s", socket_type_name(l->type), port,
		 strerror(EADDRINUSE));
	if (!quiet)
		log_warning("service '%s': %s 0.0.0.0:%u is taken (another socket holds the port on IPv4 "
			    "alone): serving %s over IPv6 alone, and IPv4 as soon as the port is free (trying "
			    "again every second)", as->service->name, socket_type_name(l->type), port,
			    l->addr_text);
}

/* Binds what the plan says to bind; a socket that cannot be had is its service's failure,
 * said in the log (unless quiet: a retry) and in the status, and the others go on. *retry:
 * whether another try may succeed (a port taken may be freed; a service the helper did not
 * load stays unknown to it until a reload). */
static struct listener *plan_bind(struct server *srv, const struct planned_listener *pl,
				  struct active_service *as, bool quiet, bool *retry)
{
	const struct service *svc = as->service;
	struct sockaddr_storage bound = { 0 };
	struct listener *l = NULL;
	char text[ADDR_TEXT_MAX], why[PRIVSEP_TEXT_MAX + 1] = "";
	unsigned addr_index = pl->addr ? (unsigned)(pl->addr - svc->host.addrs) : 0;
	int family = pl->family;
	int fd, r = srv->priv ? priv_bind(srv->priv, svc->name, proto_of_socktype(pl->type), addr_index,
					 srv->loop_index, srv->loops, &family, &bound, &fd, why) :
			listen_bind(pl->addr, svc->port, pl->type, srv->loops > 1, &family, &bound, &fd);

	if (r < 0 && why[0])
		snprintf(text, sizeof(text), "%s", why);       /* the helper's: where it tried */
	else
		addr_to_string((struct sockaddr *)&bound, text);
	if (r == 0 && !(l = listener_new(srv, fd, pl->type))) {
		close(fd);
		r = -ENOMEM;
	}
	*retry = !(srv->priv && r == -ENOENT);
	if (!*retry) {
		snprintf(as->failure, sizeof(as->failure), "%s: %s", socket_type_name(pl->type), text);
		if (!quiet)
			log_error("service '%s': minetd-helper left it out (%s; under systemd its journal "
				  "says why, minetd -t run as root too); not served until a reload", svc->name, text);
		return NULL;
	}
	if (r < 0) {
		bool sandbox = r == -EAFNOSUPPORT || r == -EPERM || r == -EACCES;
		snprintf(as->failure, sizeof(as->failure), "%s %s: %s", socket_type_name(pl->type), text,
			 strerror(-r));
		if (!quiet)
			log_error("service '%s': cannot listen on %s%s; trying again every second", svc->name,
				  as->failure, !sandbox || srv->priv ? "" : " (under a hardened systemd unit, "
				  "enable a socket unit for this service instead)");
		return NULL;
	}
	l->addr = bound;
	memcpy(l->addr_text, text, sizeof(text));
	if (!pl->family && family == AF_INET6)
		ipv4_taken(l, as, quiet);
	return l;
}

/* Serves l for as from now on. */
static void listener_add(struct server *srv, struct listener *l, struct active_service *as, const char *now)
{
	struct listener **ls = realloc(srv->listeners, (srv->n_listeners + 1) * sizeof(*ls));
	struct log_fields f = { .service = as->service->name, .protocol = socket_type_name(l->type) };
	int r;

	if (!ls) {
		log_error("%s: out of memory for %s %s", f.service, f.protocol, l->addr_text);
		listener_retire(srv, l);
		return;
	}
	srv->listeners = ls;
	srv->listeners[srv->n_listeners++] = l;
	l->owner = as;
	if (l->io.fn || l->paused || l->waiting)       /* a wait service's program has it */
		return;
	if ((r = listener_watch(srv, l)) < 0)
		log_fields(LOG_ERR, &f, "%s: cannot watch %s %s: %s", f.service, f.protocol, l->addr_text,
			   strerror(-r));
	else
		log_fields(LOG_INFO, &f, "%s: serving %s on %s%s%s", f.service, f.protocol, l->addr_text,
			   l->inherited ? " (socket from systemd)" : "", now);
}

static void plan_commit(struct server *srv, struct plan *p)
{
	plan_retire(srv, p);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->n_listeners = 0;
	srv->n_unbound = 0;
	/* first: a service whose socket unit stopped is bound anew on the same port */
	drop_stopped(srv);
	for (size_t i = 0; i < p->n_listeners; i++) {
		struct planned_listener *pl = &p->listeners[i];
		struct active_service *as = p->as[pl->service];
		bool retry = false;
		struct listener *l = pl->listener ? pl->listener : plan_bind(srv, pl, as, false, &retry);
		if (l)
			listener_add(srv, l, as, "");
		else if (retry)
			srv->unbound[srv->n_unbound++] = (struct unbound){ as, pl->type, pl->addr, pl->family };
		if (l && !pl->listener && l->ipv6_alone)
			srv->unbound[srv->n_unbound++] = (struct unbound){ as, pl->type, NULL, AF_INET };
	}
	/* The clients of kept services are held to the new access lists and protocols. */
	for (struct active_service *as = srv->services; as; as = as->next)
		tcp_recheck(as);
}

/* The sockets that could not be had when the config was applied: once a second, until the
 * port is free. */
static void retry_binds(struct server *srv)
{
	size_t kept = 0;

	for (size_t i = 0; i < srv->n_unbound; i++) {
		struct unbound *u = &srv->unbound[i];
		struct planned_listener pl = { .type = u->type, .addr = u->addr, .family = u->family };
		bool retry;
		struct listener *l = plan_bind(srv, &pl, u->as, true, &retry);
		if (l)
			listener_add(srv, l, u->as, " now");
		else
			srv->unbound[kept++] = *u;
		if (l && l->ipv6_alone)  /* both could be had at once no longer: IPv4 later */
			srv->unbound[kept++] = (struct unbound){ u->as, u->type, NULL, AF_INET };
	}
	if (kept == srv->n_unbound)
		return;
	srv->n_unbound = kept;
	for (struct active_service *as = srv->services; as; as = as->next) {
		bool missing = false;
		for (size_t i = 0; i < kept; i++)
			missing |= srv->unbound[i].as == as;
		if (!missing)
			as->failure[0] = '\0';
	}
	udp_refuse(srv);
}

int server_apply(struct server *srv, struct config *cfg, bool starting)
{
	struct plan p = { .config = cfg, .as = calloc(cfg->n_services + 1, sizeof(*p.as)) };
	int r = p.as ? plan_build(srv, &p, starting) : -ENOMEM;

	struct config *old = srv->config;

	/* each planned socket may leave one more to bind: IPv4 of every address */
	struct unbound *unbound = r < 0 ? NULL : realloc(srv->unbound, (2 * p.n_listeners + 1) * sizeof(*unbound));

	if (r == 0 && !unbound)
		r = -ENOMEM;
	if (r < 0) {
		plan_abort(&p);
	} else {
		srv->unbound = unbound;
		srv->config = cfg;
		plan_commit(srv, &p);
		config_free(old);       /* the services it drops are gone now */
		udp_refuse(srv);
	}
	free(p.listeners);
	free(p.as);
	return r;
}

void server_stop(struct server *srv)
{
	for (struct active_service *as = srv->services; as; as = as->next)
		tcp_close_all(as, "stopping");
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
	programs_free(srv);
	for (as = srv->services; as; as = next) {
		next = as->next;
		free(as);
	}
	for (size_t i = 0; i < srv->n_inherited; i++)
		inherited_free(srv->inherited[i]);
	free(srv->inherited);
	free(srv->unbound);
	free(srv->listeners);
	tcp_free(srv->tcp);
	udp_free(srv->udp);
	config_free(srv->config);
	free(srv);
}

void server_tick(struct server *srv)
{
	uint64_t now = now_usec();

	for (struct active_service *as = srv->services; as; as = as->next)
		tcp_enforce_limits(as, now);
	programs_tick(srv, now);
	retry_binds(srv);
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct listener *l = srv->listeners[i];
		if (l->paused && listener_watch(srv, l) == 0)
			l->paused = false;
	}
}
