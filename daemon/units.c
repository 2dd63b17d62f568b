#include "units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "keys.h"
#include "listen.h"

#define SYSTEMD "org.freedesktop.systemd1"
#define UNIT_PATH "/org/freedesktop/systemd1/unit"
#define UNIT_IFACE SYSTEMD ".Unit"
#define SOCKET_IFACE SYSTEMD ".Socket"
#define MINETD_SERVICE "minetd.service"
#define BUS_TIMEOUT_USEC (5 * 1000000ULL)
#define WHERE_MAX 300                   /* a host name, a port, brackets */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "[::]:5000" or "127.0.0.1:5000", as systemd shows an IP address it listens on, into addr;
 * -EINVAL for anything else (a path, an abstract or a vsock address). */
static int parse_inet(const char *text, struct sockaddr_storage *addr)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
	struct sockaddr_in *in = (struct sockaddr_in *)addr;
	const char *colon = strrchr(text, ':');
	char host[INET6_ADDRSTRLEN + 16], *end;
	unsigned long port;
	size_t len;

	memset(addr, 0, sizeof(*addr));
	if (!colon || (len = (size_t)(colon - text)) >= sizeof(host))
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (end == colon + 1 || *end || port > 65535)
		return -EINVAL;
	if (text[0] == '[' && len > 2 && text[len - 1] == ']') {
		snprintf(host, sizeof(host), "%.*s", (int)(len - 2), text + 1);
		host[strcspn(host, "%")] = '\0';        /* a scope: "[fe80::1%2]:7" */
		addr->ss_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)len, text);
		addr->ss_family = AF_INET;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
	}
	addr_set_port(addr, (unsigned)port);
	return 0;
}

/* Every socket of a Listen= list, a(ss) of type and address, of one socket unit. */
static int add_sockets(sd_bus_message *listen, const char *unit, const char *name, const char *state,
		       struct unit_sockets *out)
{
	const char *type, *address;
	int r = sd_bus_message_enter_container(listen, 'a', "(ss)");

	while (r >= 0 && (r = sd_bus_message_read(listen, "(ss)", &type, &address)) > 0) {
		struct unit_socket *items = realloc(out->items, (out->n + 1) * sizeof(*items));
		if (!items)
			return -ENOMEM;
		out->items = items;
		struct unit_socket *s = memset(&items[out->n++], 0, sizeof(*items));
		if (!(s->unit = strdup(unit)) || !(s->name = strdup(name)) || !(s->state = strdup(state)) ||
		    !(s->listen = strdup(address)))
			return -ENOMEM;
		if (parse_inet(address, &s->addr) == 0)
			s->type = strcmp(type, "Stream") == 0 ? SOCK_STREAM :
				  strcmp(type, "Datagram") == 0 ? SOCK_DGRAM : 0;
	}
	return r;
}

static int get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
		      sd_bus_error *error, char **out)
{
	return sd_bus_get_property_string(bus, SYSTEMD, path, interface, property, error, out);
}

static int add_socket_unit(sd_bus *bus, const char *unit, struct unit_sockets *out)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *listen = NULL;
	char *path = NULL, *state = NULL, *name = NULL;
	int r;

	/* FileDescriptorName= defaults to the unit's name, ".socket" included: systemd says which. */
	if ((r = sd_bus_path_encode(UNIT_PATH, unit, &path)) >= 0 &&
	    (r = get_string(bus, path, UNIT_IFACE, "ActiveState", &error, &state)) >= 0 &&
	    (r = get_string(bus, path, SOCKET_IFACE, "FileDescriptorName", &error, &name)) >= 0 &&
	    (r = sd_bus_get_property(bus, SYSTEMD, path, SOCKET_IFACE, "Listen", &error, &listen,
				     "a(ss)")) >= 0)
		r = add_sockets(listen, unit, name, state, out);
	sd_bus_error_free(&error);
	sd_bus_message_unref(listen);
	free(path);
	free(state);
	free(name);
	return r;
}

/* The socket units that start service (its TriggeredBy=), listening or not; -ESRCH when
 * systemd has no such service loaded. */
static int add_service_sockets(sd_bus *bus, const char *service, struct unit_sockets *out)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	char *path = NULL, *load = NULL, **triggers = NULL;
	int r;

	if ((r = sd_bus_path_encode(UNIT_PATH, service, &path)) < 0 ||
	    (r = get_string(bus, path, UNIT_IFACE, "LoadState", &error, &load)) < 0)
		;
	else if (strcmp(load, "loaded") != 0)
		r = -ESRCH;     /* not found, masked, or a unit file systemd refused */
	else if ((r = sd_bus_get_property_strv(bus, SYSTEMD, path, UNIT_IFACE, "TriggeredBy", &error,
					       &triggers)) >= 0)
		r = (out->service = strdup(service)) ? 0 : -ENOMEM;
	for (size_t i = 0; triggers && triggers[i]; i++) {
		if (r >= 0 && ends_with(triggers[i], ".socket"))
			r = add_socket_unit(bus, triggers[i], out);
		free(triggers[i]);
	}
	sd_bus_error_free(&error);
	free(triggers);
	free(path);
	free(load);
	return r;
}

static void units_free(struct unit_sockets *sockets);

/* The socket units of the service -t runs in (its ExecReload=), if socket units trigger it,
 * else of minetd.service. Returns 0, -ESRCH when systemd knows no such service (or it is
 * masked), or another -errno when systemd cannot be asked. */
static int units_ask(struct unit_sockets *out)
{
	sd_bus *bus = NULL;
	char *own = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = sd_bus_open_system(&bus)) < 0)
		return r;
	(void)sd_bus_set_method_call_timeout(bus, BUS_TIMEOUT_USEC);
	/* Run by a service that socket units start, as its ExecReload=: that one's; run by
	 * anything else (a shell, systemd-run): minetd.service's. */
	r = -ESRCH;
	if (sd_pid_get_unit(0, &own) >= 0 && ends_with(own, ".service"))
		r = add_service_sockets(bus, own, out);
	if (r == -ESRCH || (r == 0 && out->n == 0)) {
		units_free(out);
		r = add_service_sockets(bus, MINETD_SERVICE, out);
	}
	free(own);
	sd_bus_flush_close_unref(bus);
	if (r < 0)
		units_free(out);
	return r;
}

static void units_free(struct unit_sockets *sockets)
{
	for (size_t i = 0; i < sockets->n; i++) {
		struct unit_socket *s = &sockets->items[i];
		free(s->unit);
		free(s->name);
		free(s->state);
		free(s->listen);
	}
	free(sockets->items);
	free(sockets->service);
	memset(sockets, 0, sizeof(*sockets));
}

/* Whether what this process binds is out of every client's reach (PrivateNetwork=): its
 * network is not PID 1's, where systemd's sockets are; or, when another user's /proc/1
 * cannot be seen, no interface but the loopback is up with an IPv4 address. */
static bool own_network(int fd)
{
	struct stat self, init;
	struct ifreq ifr[64];
	struct ifconf ifc = { .ifc_len = sizeof(ifr), .ifc_req = ifr };

	if (stat("/proc/self/ns/net", &self) == 0 && stat("/proc/1/ns/net", &init) == 0)
		return self.st_ino != init.st_ino || self.st_dev != init.st_dev;
	if (ioctl(fd, SIOCGIFCONF, &ifc) < 0)
		return false;
	for (size_t i = 0; i < (size_t)ifc.ifc_len / sizeof(*ifr); i++)
		if (ioctl(fd, SIOCGIFFLAGS, &ifr[i]) == 0 && (ifr[i].ifr_flags & IFF_UP) &&
		    !(ifr[i].ifr_flags & IFF_LOOPBACK))
			return false;
	return true;
}

/* Why minetd could not bind a socket of its own here, as under the hardened unit (no IPv4 or
 * IPv6 sockets, or a network of its own), or NULL when it could. */
static const char *units_bind_obstacle(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool own;

	/* As listen_bind(): IPv4 alone when the kernel has no IPv6. */
	if (fd < 0 && errno == EAFNOSUPPORT)
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT)
		return "no IPv4 or IPv6 socket may be created here (RestrictAddressFamilies=)";
	if (fd < 0)
		return "no IPv4 or IPv6 socket can be created here";
	own = own_network(fd);
	close(fd);
	return own ? "this process has a network of its own, only a loopback (PrivateNetwork=)" : NULL;
}

static unsigned protocol_of(int type)
{
	return type == SOCK_STREAM ? PROTO_TCP : PROTO_UDP;
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
					       : ((const struct sockaddr_in *)ss)->sin_port);
}

/* What the config says: "*:7", "127.0.0.1:7", "[::1]:7", "localhost:7". */
static void config_address(const struct service *svc, char where[WHERE_MAX])
{
	const char *host = svc->host.text && *svc->host.text ? svc->host.text : "*";

	snprintf(where, WHERE_MAX, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, svc->port);
}

/* Whether a socket is on the service's port, and on its host unless that is every address. */
static bool at_config_address(const struct service *svc, const struct unit_socket *s)
{
	bool host = svc->host.n_addrs == 0;

	for (size_t i = 0; i < svc->host.n_addrs; i++)
		host |= addr_overlap(&svc->host.addrs[i], &s->addr);
	return host && port_of(&s->addr) == svc->port;
}

static bool passed(const struct unit_socket *s)
{
	return strcmp(s->state, "active") == 0;
}

static bool of_side(const struct unit_socket *s, const struct service *svc, int type)
{
	return s->type == type && strcmp(s->name, svc->name) == 0;
}

/* The sockets of a service's TCP or UDP side: where the config says, elsewhere only, or none
 * at all while minetd cannot bind one itself. */
static void check_service(const struct config_place *at, const struct service *svc, int type,
			  const struct unit_sockets *sockets, const char *obstacle)
{
	const char *proto = socket_type_name(type), *service = sockets->service;
	const struct unit_socket *idle = NULL;
	size_t n_passed = 0, n_agree = 0;
	char where[WHERE_MAX];

	config_address(svc, where);
	for (size_t i = 0; i < sockets->n; i++) {
		const struct unit_socket *s = &sockets->items[i];
		if (of_side(s, svc, type) && !passed(s))
			idle = s;
		else if (of_side(s, svc, type)) {
			n_passed++;
			n_agree += at_config_address(svc, s);
		}
	}
	for (size_t i = 0; n_passed > 0 && n_agree == 0 && i < sockets->n; i++) {
		const struct unit_socket *s = &sockets->items[i];
		if (of_side(s, svc, type) && passed(s))
			config_error(at, "warning: service '%s' is configured for %s %s, but its socket "
				     "unit %s listens on %s: minetd will serve that socket, not the "
				     "configured address", svc->name, proto, where, s->unit, s->listen);
	}
	if (n_passed > 0 || !obstacle)
		return;
	if (idle)
		config_error(at, "warning: service '%s' (%s %s) will not be served: its socket unit %s "
			     "is %s and minetd cannot bind one itself: %s; start %s (with %s stopped)",
			     svc->name, proto, where, idle->unit, idle->state, obstacle, idle->unit, service);
	else
		config_error(at, "warning: service '%s' (%s %s) will not be served: no socket unit of %s "
			     "passes a %s socket named '%s' and minetd cannot bind one itself: %s; enable "
			     "or write minetd-%s.socket (%s=%u, FileDescriptorName=%s, Service=%s), or let "
			     "minetd bind with the drop-in in minetd(8)", svc->name, proto, where, service,
			     proto, svc->name, obstacle, svc->name,
			     type == SOCK_STREAM ? "ListenStream" : "ListenDatagram", svc->port, svc->name,
			     service);
}

/* A socket that minetd would close at start. */
static void check_socket(struct config_place at, const struct config *config, const struct unit_socket *s)
{
	const struct service *svc = config_find_service(config, s->name);

	at.line = svc ? svc->line : 0;
	if (!s->type)
		config_error(&at, "warning: socket unit %s passes '%s' a socket that is neither TCP nor "
			     "UDP over IPv4 or IPv6 (%s): minetd will close it", s->unit, s->name, s->listen);
	else if (!svc && !handler_find(s->name))
		config_error(&at, "warning: socket unit %s passes a %s socket named '%s' (%s) that "
			     "matches no service and no handler: minetd will close it", s->unit,
			     socket_type_name(s->type), s->name, s->listen);
	else if (svc && !(svc->protocols & protocol_of(s->type)))
		config_error(&at, "warning: service '%s' serves no %s, but socket unit %s passes it a %s "
			     "socket (%s): minetd will close it", svc->name, socket_type_name(s->type),
			     s->unit, socket_type_name(s->type), s->listen);
}

void units_check(const struct config *config, const struct unit_sockets *sockets, const char *obstacle,
		 struct config_errors *warnings)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	struct config_place at = { config->path, 0, config->path, warnings };

	for (size_t i = 0; i < config->n_services; i++) {
		const struct service *svc = &config->services[i];
		at.line = svc->line;
		for (size_t t = 0; t < 2; t++)
			if (svc->protocols & protocol_of(types[t]))
				check_service(&at, svc, types[t], sockets, obstacle);
	}
	for (size_t i = 0; i < sockets->n; i++)
		if (passed(&sockets->items[i]))
			check_socket(at, config, &sockets->items[i]);
}

void units_check_config(const struct config *config, struct config_errors *warnings)
{
	struct config_place at = { config->path, 0, config->path, warnings };
	struct unit_sockets sockets;
	const char *obstacle;
	int r;

	if (sd_booted() <= 0)
		return;         /* no systemd, no socket units */
	obstacle = units_bind_obstacle();
	r = units_ask(&sockets);
	if (r == 0)
		units_check(config, &sockets, obstacle, warnings);
	/* Unasked, they matter when every service needs one: -ESRCH, no minetd.service here. */
	else if (r != -ESRCH && obstacle)
		config_error(&at, "warning: the socket units systemd will pass were not checked (cannot "
			     "ask systemd over the system bus: %s) and minetd cannot bind sockets itself "
			     "(%s): a service without a socket unit named after it will not be served",
			     strerror(-r), obstacle);
	units_free(&sockets);
}
