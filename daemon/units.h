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
 * and for each socket minetd would close. (A service no socket unit passes is bound by
 * minetd-helper.) */
void units_check_config(const struct config *config, struct config_errors *warnings);

struct named_socket;
/* Which of the sockets systemd passed (sockets, n of them) no active socket unit of this
 * service passes any more: stopped[i] for each. 0, or -errno when systemd cannot be asked. */
int units_stopped(const struct named_socket *sockets, size_t n, bool *stopped);

/* The type of the job systemd is running on the unit of the calling process ("stop",
 * "restart", ...; "" when none) into type. 0, or -errno when systemd cannot be asked. */
int units_own_job(char *type, size_t size);

/* The warnings for config against sockets (what systemd said). units_check_config() asks;
 * tests give them. */
void units_check(const struct config *config, const struct unit_sockets *sockets, struct config_errors *warnings);
