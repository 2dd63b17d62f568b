/* minetd's privileged part (minetd-helper): binds the sockets of the services of the config
 * it loaded itself and starts their programs as their configured users, for minetd's
 * serving process only, and reads no network input. It passes every descriptor it creates
 * and keeps none; its programs live in cgroups of their own (or, without a delegated cgroup,
 * in process groups it reaps as their subreaper), and outlive a restart of the serving
 * process, which counts, times and logs them again; they end at an explicit stop. */
#pragma once

#include <stdbool.h>

struct helper_options {
	const char *config_path;
	/* by hand: the connection of the minetd that started it; -1 under systemd, where the
	 * socket comes from its socket unit */
	int connection;
	/* under systemd: the unit whose processes alone may connect ("minetd.service") */
	const char *client_unit;
};

/* Runs until it is stopped, or (by hand) until its minetd is gone; returns the exit status. */
int helper_run(const struct helper_options *options);
