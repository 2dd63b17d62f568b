#include "units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* What the config says: "*:7", "127.0.0.1:7", "[::1]:7", "localhost:7". */
static void config_address(const struct service *svc, char where[WHERE_MAX])
{
	const char *host = svc->host.text && *svc->host.text ? svc->host.text : "*";

	snprintf(where, WHERE_MAX, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, svc->port);
}

static bool passed(const struct unit_socket *s)
{
	return strcmp(s->state, "active") == 0;
}

static bool of_side(const struct unit_socket *s, const struct service *svc, int type)
{
	return s->type == type && strcmp(s->name, svc->name) == 0;
}

/* The sockets of a service's TCP or UDP side that a socket unit passes: where the config
 * says, or elsewhere only (then minetd serves them, not the configured address). Without
 * one, minetd-helper binds the configured address. */
static void check_service(const struct config_place *at, const struct service *svc, int type,
			  const struct unit_sockets *sockets)
{
	const char *proto = socket_type_name(type);
	size_t n_passed = 0, n_agree = 0;
	char where[WHERE_MAX];

	config_address(svc, where);
	for (size_t i = 0; i < sockets->n; i++) {
		const struct unit_socket *s = &sockets->items[i];
		if (of_side(s, svc, type) && passed(s)) {
			n_passed++;
			n_agree += service_at(svc, &s->addr);
		}
	}
	for (size_t i = 0; n_passed > 0 && n_agree == 0 && i < sockets->n; i++) {
		const struct unit_socket *s = &sockets->items[i];
		if (of_side(s, svc, type) && passed(s))
			config_error(at, "warning: service '%s' is configured for %s %s, but its socket "
				     "unit %s listens on %s: minetd will serve that socket, not the "
				     "configured address", svc->name, proto, where, s->unit, s->listen);
	}
}

/* A socket that minetd would close at start. */
static void check_socket(struct config_place at, const struct config *config, const struct unit_socket *s)
{
	const struct service *svc = config_find_service(config, s->name);

	at.file = svc ? svc->file : config->path;
	at.line = svc ? svc->line : 0;
	if (!s->type)
		config_error(&at, "warning: socket unit %s passes '%s' a socket that is neither TCP nor "
			     "UDP over IPv4 or IPv6 (%s): minetd will close it", s->unit, s->name, s->listen);
	else if (!svc && !handler_find(s->name))
		config_error(&at, "warning: socket unit %s passes a %s socket named '%s' (%s) that "
			     "matches no service and no handler: minetd will close it", s->unit,
			     socket_type_name(s->type), s->name, s->listen);
	else if (svc && !(svc->protocols & proto_of_socktype(s->type)))
		config_error(&at, "warning: service '%s' serves no %s, but socket unit %s passes it a %s "
			     "socket (%s): minetd will close it", svc->name, socket_type_name(s->type),
			     s->unit, socket_type_name(s->type), s->listen);
}

void units_check(const struct config *config, const struct unit_sockets *sockets, struct config_errors *warnings)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM };
	struct config_place at = { .file = config->path, .config_path = config->path, .errors = warnings };

	for (size_t i = 0; i < config->n_services; i++) {
		const struct service *svc = &config->services[i];
		at.file = svc->file;
		at.line = svc->line;
		for (size_t t = 0; t < 2; t++)
			if (svc->protocols & proto_of_socktype(types[t]))
				check_service(&at, svc, types[t], sockets);
	}
	for (size_t i = 0; i < sockets->n; i++)
		if (passed(&sockets->items[i]))
			check_socket(at, config, &sockets->items[i]);
}

void units_check_config(const struct config *config, struct config_errors *warnings)
{
	struct unit_sockets sockets;

	if (sd_booted() <= 0)
		return;         /* no systemd, no socket units */
	/* Unasked (no minetd.service here, no bus), nothing to say: minetd-helper binds every
	 * service that no socket unit passes. */
	if (units_ask(&sockets) == 0)
		units_check(config, &sockets, warnings);
	units_free(&sockets);
}

/* The service the calling process runs in: the last ".service" of its path in the unified
 * cgroup hierarchy ("0::/system.slice/minetd.service", or its helper's leaf below it). Read
 * here rather than with sd_pid_get_unit(), which a host that mounts cgroup v1 beside a
 * unified container misleads. 0 or -errno. */
static int own_unit(char **out)
{
	char line[512], *unit = NULL;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return -errno;
	while (!unit && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) != 0)
			continue;
		for (char *part = strtok(line + 3, "/"); part; part = strtok(NULL, "/"))
			if (ends_with(part, ".service")) {
				free(unit);
				unit = strdup(part);
			}
	}
	fclose(f);
	if (!unit)
		return sd_pid_get_unit(0, out);
	*out = unit;
	return 0;
}

int units_own_job(char *type, size_t size)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	char *unit = NULL, *path = NULL, *job_type = NULL;
	const char *job_path = NULL;
	sd_bus *bus = NULL;
	uint32_t id = 0;
	int r;

	type[0] = '\0';
	if ((r = own_unit(&unit)) < 0 || (r = sd_bus_open_system(&bus)) < 0 ||
	    (r = sd_bus_path_encode(UNIT_PATH, unit, &path)) < 0)
		goto out;
	(void)sd_bus_set_method_call_timeout(bus, BUS_TIMEOUT_USEC);
	if ((r = sd_bus_get_property(bus, SYSTEMD, path, UNIT_IFACE, "Job", &error, &reply, "(uo)")) < 0 ||
	    (r = sd_bus_message_read(reply, "(uo)", &id, &job_path)) < 0)
		goto out;
	if (id != 0 && (r = sd_bus_get_property_string(bus, SYSTEMD, job_path, SYSTEMD ".Job", "JobType", &error,
						       &job_type)) >= 0)
		snprintf(type, size, "%s", job_type);
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	free(job_type);
	free(path);
	free(unit);
	return r < 0 ? r : 0;
}

int units_stopped(const struct named_socket *sockets, size_t n, bool *stopped)
{
	struct unit_sockets us;
	int r = units_ask(&us);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		stopped[i] = true;
		for (size_t k = 0; k < us.n && stopped[i]; k++) {
			const struct unit_socket *s = &us.items[k];
			stopped[i] = !(passed(s) && s->type && strcmp(s->name, sockets[i].name) == 0 &&
				       proto_of_socktype(s->type) == sockets[i].protocol &&
				       addr_equal(&s->addr, &sockets[i].addr));
		}
	}
	units_free(&us);
	return 0;
}
