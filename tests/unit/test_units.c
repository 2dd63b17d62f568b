/* -t's warnings about the socket units systemd will pass: a config and made-up sockets in,
 * "FILE:LINE: warning: ..." lines out. Asking systemd is tested in a booted container
 * (tests/systemd/check-units.sh). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "keys.h"
#include "listen.h"
#include "units.h"
#include "../no_dns.h"


static char path[] = "/tmp/test_units.XXXXXX";

/* Line 2 is 'six' (tcp, port 6000), line 3 'lo' (both, 127.0.0.1:6100). */
static const char config_text[] =
	"services = (\n"
	"  { name = \"six\"; handler = \"echo\"; port = 6000; protocol = \"tcp\"; },\n"
	"  { name = \"lo\"; handler = \"echo\"; port = 6100; host = \"127.0.0.1\"; }\n"
	");\n";

static struct config *config;

static int setup(void **state)
{
	struct config_errors errors = { 0 };
	int fd = mkstemp(path);

	(void)state;
	if (fd < 0 || write(fd, config_text, strlen(config_text)) != (ssize_t)strlen(config_text))
		return -1;
	close(fd);
	return config_load(path, &config, &errors);
}

static int teardown(void **state)
{
	(void)state;
	config_free(config);
	unlink(path);
	return 0;
}

/* A socket of a unit; listen is "[v6]:port" or "v4:port", and a path makes it neither. */
static struct unit_socket sock(const char *unit, const char *name, const char *state, int type,
			       const char *listen)
{
	struct unit_socket s = { (char *)unit, (char *)name, (char *)state, (char *)listen, type, { 0 } };
	char host[64];
	unsigned port;

	if (sscanf(listen, "[%63[^]]]:%u", host, &port) == 2) {
		s.addr.ss_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&s.addr)->sin6_addr), 1);
	} else if (sscanf(listen, "%63[0-9.]:%u", host, &port) == 2) {
		s.addr.ss_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, host, &((struct sockaddr_in *)&s.addr)->sin_addr), 1);
	} else {
		s.type = 0;
		return s;
	}
	addr_set_port(&s.addr, port);
	return s;
}

/* Runs the check; each of want (NULL-terminated) must be a line of its own, whole or begun
 * with "LINE: " and containing the rest. */
static void expect(struct unit_socket *items, size_t n, const char *const want[][4])
{
	struct unit_sockets sockets = { (char *)"minetd.service", items, n };
	struct config_errors warnings = { 0 };
	size_t n_want = 0;

	units_check(config, &sockets, &warnings);
	for (; want[n_want][0]; n_want++) {
		const char *line = n_want < warnings.n ? warnings.lines[n_want] : "(none)";
		char head[600];
		snprintf(head, sizeof(head), "%s:%s: warning: ", path, want[n_want][0]);
		if (strncmp(line, head, strlen(head)) != 0)
			fail_msg("warning %zu: want \"%s...\", got \"%s\"", n_want, head, line);
		for (size_t i = 1; i < 4 && want[n_want][i]; i++)
			if (!strstr(line, want[n_want][i]))
				fail_msg("warning %zu: no \"%s\" in \"%s\"", n_want, want[n_want][i], line);
	}
	if (warnings.n != n_want)
		fail_msg("%zu warnings, want %zu; the first: %s", warnings.n, n_want,
			 warnings.n ? warnings.lines[0] : "(none)");
	config_errors_clear(&warnings);
}

static const char *const none[][4] = { { NULL } };

static void sockets_where_the_config_says(void **state)
{
	struct unit_socket items[] = {
		sock("minetd-six.socket", "six", "active", SOCK_STREAM, "[::]:6000"),
		/* a second address besides the configured one: served too, no word */
		sock("minetd-six7.socket", "six", "active", SOCK_STREAM, "[::]:7"),
		sock("minetd-lo.socket", "lo", "active", SOCK_STREAM, "127.0.0.1:6100"),
		sock("minetd-lo.socket", "lo", "active", SOCK_DGRAM, "[::]:6100"),   /* covers 127.0.0.1 */
		sock("minetd-daytime.socket", "daytime", "active", SOCK_DGRAM, "[::]:13"),  /* a handler */
	};

	(void)state;
	expect(items, 5, none);
}

static void socket_elsewhere_names_both(void **state)
{
	struct unit_socket items[] = {
		sock("minetd-six.socket", "six", "active", SOCK_STREAM, "[::]:6001"),
		sock("minetd-lo.socket", "lo", "active", SOCK_STREAM, "127.0.0.2:6100"),
		sock("minetd-lo.socket", "lo", "active", SOCK_DGRAM, "127.0.0.1:6100"),
	};
	const char *const want[][4] = {
		{ "2", "service 'six' is configured for tcp *:6000",
		  "minetd-six.socket listens on [::]:6001" },
		{ "3", "service 'lo' is configured for tcp 127.0.0.1:6100",
		  "minetd-lo.socket listens on 127.0.0.2:6100" },
		{ NULL },
	};

	(void)state;
	expect(items, 3, want);
}

/* minetd-helper binds what no active socket unit stands for: nothing to warn of, a failed
 * socket unit or none at all. */
static void no_socket_is_the_helpers_to_bind(void **state)
{
	struct unit_socket items[] = {
		sock("minetd-lo.socket", "lo", "active", SOCK_STREAM, "127.0.0.1:6100"),
		sock("minetd-lo-udp.socket", "lo", "failed", SOCK_DGRAM, "127.0.0.1:6100"),
	};

	(void)state;
	expect(items, 2, none);
	expect(items, 1, none);
	expect(items, 0, none);
}

static void sockets_minetd_would_close(void **state)
{
	struct unit_socket items[] = {
		sock("minetd-nothing.socket", "nothing", "active", SOCK_STREAM, "[::]:6002"),
		sock("minetd-six-udp.socket", "six", "active", SOCK_DGRAM, "[::]:6000"),
		sock("minetd-path.socket", "lo", "active", SOCK_STREAM, "/run/minetd-lo.sock"),
		sock("minetd-six.socket", "six", "active", SOCK_STREAM, "[::]:6000"),
		sock("minetd-lo.socket", "lo", "active", SOCK_STREAM, "127.0.0.1:6100"),
		sock("minetd-lo.socket", "lo", "active", SOCK_DGRAM, "127.0.0.1:6100"),
		/* not listening: not passed, so not closed either */
		sock("minetd-idle.socket", "idle", "inactive", SOCK_STREAM, "[::]:6003"),
	};
	const char *const want[][4] = {
		{ "0", "socket unit minetd-nothing.socket passes a tcp socket named 'nothing' ([::]:6002)",
		  "matches no service and no handler" },
		{ "2", "service 'six' serves no udp",
		  "minetd-six-udp.socket passes it a udp socket ([::]:6000)" },
		{ "3", "minetd-path.socket passes 'lo' a socket that is neither TCP nor UDP",
		  "(/run/minetd-lo.sock)" },
		{ NULL },
	};

	(void)state;
	expect(items, 7, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sockets_where_the_config_says),
		cmocka_unit_test(socket_elsewhere_names_both),
		cmocka_unit_test(no_socket_is_the_helpers_to_bind),
		cmocka_unit_test(sockets_minetd_would_close),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
