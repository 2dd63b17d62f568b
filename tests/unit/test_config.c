/* Config validation: the bad corpus names its own expected line; good configs load. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "exec_options.h"
#include "handlers.h"
#include "corpus.h"
#include "../no_dns.h"

#define BAD_DIR "tests/data/bad"

/* Each bad config's first line is "# expect: LINE: message". */
static void check_bad(const char *path)
{
	char first[512], want[1024];
	struct config_errors errors = { 0 };
	struct config *c = NULL;
	FILE *f = fopen(path, "r");
	bool found = false;

	assert_non_null(f);
	assert_non_null(fgets(first, sizeof(first), f));
	fclose(f);
	first[strcspn(first, "\n")] = '\0';
	assert_int_equal(strncmp(first, "# expect: ", 10), 0);
	snprintf(want, sizeof(want), "%s:%s", path, first + 10);

	assert_int_equal(config_load(path, &c, &errors), -EINVAL);
	assert_null(c);
	for (size_t i = 0; i < errors.n; i++)
		found |= strncmp(errors.lines[i], want, strlen(want)) == 0;
	if (!found) {
		print_error("%s: want \"%s\", got:\n", path, want);
		for (size_t i = 0; i < errors.n; i++)
			print_error("  %s\n", errors.lines[i]);
	}
	assert_true(found);
	config_errors_clear(&errors);
}

static void bad_corpus_names_file_and_line(void **state)
{
	(void)state;
	assert_true(check_corpus(BAD_DIR, check_bad) >= 25);
}

static void missing_file_is_an_error(void **state)
{
	struct config_errors errors = { 0 };
	struct config *c;

	(void)state;
	assert_int_equal(config_load("tests/data/no-such.conf", &c, &errors), -EINVAL);
	assert_int_equal(errors.n, 1);
	assert_string_equal(errors.lines[0], "tests/data/no-such.conf:0: cannot read: No such file or directory");
	config_errors_clear(&errors);
	assert_int_equal(config_load("tests/data", &c, &errors), -EINVAL);
	assert_string_equal(errors.lines[0], "tests/data:0: cannot read: Is a directory");
	config_errors_clear(&errors);
}

static void every_problem_is_reported(void **state)
{
	struct config_errors errors = { 0 };
	struct config *c;

	(void)state;
	assert_int_equal(config_load("tests/data/several-errors.conf", &c, &errors), -EINVAL);
	assert_int_equal(errors.n, 3);
	config_errors_clear(&errors);
}

static struct config *load_good(const char *path)
{
	struct config_errors errors = { 0 };
	struct config *c = NULL;

	if (config_load(path, &c, &errors) != 0)
		for (size_t i = 0; i < errors.n; i++)
			print_error("%s\n", errors.lines[i]);
	assert_non_null(c);
	config_errors_clear(&errors);
	return c;
}

static void shipped_config_serves_echo_on_5000(void **state)
{
	struct config *c = load_good("config/minetd.conf");
	size_t own = 0;

	(void)state;
	for (size_t i = 0; i < c->n_services; i++)      /* the rest: this host's inetd.conf */
		own += strcmp(c->services[i].file, "config/minetd.conf") == 0;
	assert_int_equal(own, 1);
	assert_int_equal(c->inetd.n, 2);
	assert_string_equal(c->inetd.items[0], "/etc/inetd.conf");
	assert_string_equal(c->inetd.items[1], "/etc/inetd.d");
	assert_string_equal(c->services[0].name, "echo");
	assert_ptr_equal(c->services[0].handler, handler_find("echo"));
	assert_int_equal(c->services[0].port, 5000);
	assert_int_equal(c->services[0].protocols, PROTO_BOTH);
	assert_string_equal(c->services[0].host.text, "");
	assert_int_equal(c->services[0].host.n_addrs, 0);
	/* the safe defaults */
	assert_int_equal(c->limits.connections, 10000);
	assert_int_equal(c->limits.connections_per_source, 256);
	assert_int_equal(c->limits.idle_timeout, 60);
	assert_int_equal(c->limits.lifetime, 600);
	assert_false(c->udp.privileged_source_ports);
	assert_int_equal(c->udp.amplification, 1);
	assert_int_equal(c->udp.small_reply, 32);
	config_free(c);
}

static void defaults_and_options(void **state)
{
	struct config *c = load_good("tests/data/good/all.conf");
	const struct service *s;

	(void)state;
	assert_int_equal(c->n_services, 8);
	assert_int_equal(c->limits.connections, 500);
	assert_int_equal(c->limits.connections_per_source, 10);
	assert_int_equal(c->limits.idle_timeout, 30);
	assert_int_equal(c->limits.lifetime, 0);
	assert_true(c->limits.bytes == 5000000000ULL);
	assert_true(c->udp.privileged_source_ports);
	assert_int_equal(c->udp.loop_ports.n, 2);
	assert_int_equal(c->udp.loop_ports.items[1], 11211);
	assert_int_equal(c->udp.amplification, 2);
	assert_int_equal(c->udp.small_reply, 0);
	assert_int_equal(c->udp.verified_time, 60);
	assert_int_equal(c->udp.rates.source_rate, 1000);
	assert_int_equal(c->udp.rates.global_burst, 140000);
	assert_int_equal(c->acl.allow.n, 2);
	assert_int_equal(c->acl.deny.n, 1);
	s = config_find_service(c, "echo");
	assert_int_equal(s->acl.deny.n, 1);
	assert_int_equal(s->acl.allow.n, 0);
	assert_int_equal(s->protocols, PROTO_BOTH);
	assert_string_equal(s->host.text, "127.0.0.1");         /* the default host */
	assert_int_equal(s->host.n_addrs, 1);
	s = config_find_service(c, "chargen");
	assert_int_equal(s->protocols, PROTO_TCP);
	assert_string_equal(s->host.text, "::1");
	s = config_find_service(c, "qotd");
	const struct qotd_options *q = s->options;
	assert_int_equal(q->n_quotes, 2);                       /* relative to the config's directory */
	assert_int_equal(q->quotes[0].len, strlen("first quote\r\n"));
	assert_memory_equal(q->quotes[0].text, "first quote\r\n", q->quotes[0].len);
	assert_memory_equal(q->quotes[1].text, "second\r\nquote\r\n", q->quotes[1].len);
	s = config_find_service(c, "daytime");
	const struct daytime_options *d = s->options;
	assert_string_equal(d->format, "%a %b %e %H:%M:%S %Y");
	assert_false(d->utc);
	s = config_find_service(c, "time");
	assert_int_equal(s->protocols, PROTO_UDP);
	assert_null(config_find_service(c, "nope"));
	config_free(c);
}

static void exec_options_and_their_defaults(void **state)
{
	struct config *c = load_good("tests/data/good/all.conf");
	const struct exec_options *o = config_find_service(c, "exec")->options;
	const struct exec_options *d = config_find_service(c, "exec-defaults")->options;

	(void)state;
	assert_int_equal(o->command.n, 2);
	assert_string_equal(o->command.items[0], "/bin/cat");
	assert_string_equal(o->command.items[1], "-u");
	assert_null(o->command.items[2]);                       /* argv ends in NULL */
	assert_string_equal(o->user, "nobody");
	assert_int_equal(o->processes, 4);
	assert_int_equal(o->timeout, 3);
	assert_int_equal(d->processes, 32);
	assert_int_equal(d->timeout, 10);
	assert_null(d->group);
	assert_int_equal(*d->running, 0);
	assert_true(d->switch_user == (geteuid() == 0));
	config_free(c);
}

/* Sockets from systemd named after a handler, not a service, become services with the
 * handler's defaults, on the protocols of those sockets. */
static void socket_named_after_handler_is_a_service(void **state)
{
	static const struct named_socket sockets[] = {
		{ .name = "daytime", .protocol = PROTO_TCP }, { .name = "nope", .protocol = PROTO_TCP },
		{ .name = "daytime", .protocol = PROTO_UDP }, { .name = "echo", .protocol = PROTO_UDP },
	};
	struct config_errors errors = { 0 };
	struct config *c = load_good("config/minetd.conf");
	size_t before = c->n_services;          /* echo, and what this host's inetd.conf has */
	const struct service *s;

	(void)state;
	assert_int_equal(config_add_sockets(c, sockets, 4, &errors), 0);
	assert_int_equal(errors.n, 0);
	assert_int_equal(c->n_services, before + 1);
	s = config_find_service(c, "daytime");
	assert_non_null(s);
	assert_true(s->from_socket);
	assert_ptr_equal(s->handler, handler_find("daytime"));
	assert_int_equal(s->protocols, PROTO_BOTH);
	assert_string_equal(((const struct daytime_options *)s->options)->format, "%a %b %e %H:%M:%S %Y");
	assert_false(config_find_service(c, "echo")->from_socket);     /* the config's own */
	assert_null(config_find_service(c, "nope"));
	config_free(c);
}

/* A service is where it was written, an included file too: a conflict names both places. */
static void conflicts_name_the_file_of_each_service(void **state)
{
	char dir[] = "/tmp/minetd-config.XXXXXX", path[128], want[256];
	struct config_errors errors = { 0 };
	struct config *c;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/more.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("  { name = \"b\"; handler = \"time\"; port = 5000; }\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/minetd.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("services = (\n  { name = \"a\"; handler = \"echo\"; port = 5000; },\n"
	      "@include \"more.conf\"\n);\n", f);
	fclose(f);
	assert_int_equal(config_load(path, &c, &errors), -EINVAL);
	/* the included file as libconfig names it: as written, relative to the config's directory */
	snprintf(want, sizeof(want), "more.conf:1: service 'b' uses port 5000, as 'a' at %s/minetd.conf:2 does",
		 dir);
	assert_int_equal(errors.n, 1);
	assert_string_equal(errors.lines[0], want);
	config_errors_clear(&errors);
	unlink(path);
	snprintf(path, sizeof(path), "%s/more.conf", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_corpus_names_file_and_line),
		cmocka_unit_test(exec_options_and_their_defaults),
		cmocka_unit_test(missing_file_is_an_error),
		cmocka_unit_test(every_problem_is_reported),
		cmocka_unit_test(shipped_config_serves_echo_on_5000),
		cmocka_unit_test(defaults_and_options),
		cmocka_unit_test(socket_named_after_handler_is_a_service),
		cmocka_unit_test(conflicts_name_the_file_of_each_service),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
