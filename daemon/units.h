/* The socket units systemd will pass minetd.service, asked over D-Bus, and what -t says when
 * they and the config disagree. Only -t uses it: the daemon itself learns its sockets from
 * sd_listen_fds(3). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct config;
struct config_errors;

/* One socket of a socket unit (a unit with ListenStream=5000 and ListenDatagram=5000 has
 * two). Systemd passes the ones whose unit is active at the next start of the service. */
struct unit_socket {
	char *unit;                     /* "minetd-daytime.socket" */
	char *name;                     /* its FileDescriptorName= */
	char *state;                    /* the unit's ActiveState: "active", "inactive", "failed" */
	char *listen;                   /* as systemd shows it: "[::]:13", "/run/x.sock" */
	int type;                       /* SOCK_STREAM or SOCK_DGRAM over IPv4 or IPv6; 0: neither */
	struct sockaddr_storage addr;   /* with the port; when type is not 0 */
};

struct unit_sockets {
	char *service;                  /* whose sockets these are: "minetd.service" */
	struct unit_socket *items;
	size_t n;
};

/* -t: when this machine runs systemd, adds a "FILE:LINE: warning: ..." line to warnings for
 * each service that the socket units of minetd.service serve elsewhere than the config says,
 * or not at all, and for each socket minetd would close; when systemd cannot be asked, one
 * line if minetd cannot bind sockets itself here, else none. */
void units_check_config(const struct config *config, struct config_errors *warnings);

/* The warnings for config against sockets (what systemd said), obstacle being why minetd
 * could not bind a socket of its own here, or NULL. units_check_config() asks both; tests
 * give them. */
void units_check(const struct config *config, const struct unit_sockets *sockets, const char *obstacle,
		 struct config_errors *warnings);
