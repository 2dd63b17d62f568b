/* inetd.conf's lines as services (daemon/inetd.c, read by config.c): each rule of the reading
 * and of the mapping onto minetd's keys, line by line, through config_load as minetd and its
 * helper load a config; and the corpus of tests/data/inetd, each file naming the warnings it
 * gives ("# expect: LINE: message") and the services it serves ("# serves: NAME ..."). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "exec_options.h"
#include "handlers.h"
#include "corpus.h"
#include "keys.h"
#include "../no_dns.h"

#define CORPUS_DIR "tests/data/inetd"

static char dir[256];              /* this run's files: minetd.conf, inetd.conf, inetd.d */

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void remove_tree(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/minetd-inetd.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	remove_tree(dir);
	return 0;
}

/* inetd.conf holding text; NULL: none. */
static void write_inetd_conf(const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/inetd.conf", dir);
	unlink(path);
	if (text)
		write_file("inetd.conf", text);
}

/* minetd.conf with these services, reading inetd.conf and inetd.d beside it, loaded. Returns
 * config_load's result, the config in *out. */
static int load_config(const char *services, struct config **out, struct config_errors *errors)
{
	char conf[4096], path[512];

	snprintf(conf, sizeof(conf), "services = (\n%s\n);\ninetd = [ \"inetd.conf\", \"inetd.d\" ];\n", services);
	write_file("minetd.conf", conf);
	snprintf(path, sizeof(path), "%s/minetd.conf", dir);
	return config_load(path, out, errors);
}

static int load_with(const char *services, const char *text, struct config **out,
		     struct config_errors *errors)
{
	write_inetd_conf(text);
	return load_config(services, out, errors);
}

/* The config of the inetd files as they are, beside these services of minetd.conf's, which
 * loads. */
static struct config *load_files(const char *services)
{
	struct config_errors errors = { 0 };
	struct config *c = NULL;

	if (load_config(services, &c, &errors) != 0)
		for (size_t i = 0; i < errors.n; i++)
			print_error("%s\n", errors.lines[i]);
	assert_non_null(c);
	assert_int_equal(errors.n, 0);
	return c;
}

/* The config of these inetd.conf lines beside these services of minetd.conf's. */
static struct config *load_beside(const char *services, const char *text)
{
	write_inetd_conf(text);
	return load_files(services);
}

static struct config *load(const char *text)
{
	return load_beside("", text);
}

/* c's warnings are these, in order, and no more: each "LINE: message" of inetd.conf's, which
 * reads "DIR/inetd.conf:LINE: warning: message; the line is not served". */
static void expect_warnings(const struct config *c, const char *const *want)
{
	char full[2048];
	size_t n = 0;

	for (; want[n]; n++) {
		const char *colon = strchr(want[n], ':');
		snprintf(full, sizeof(full), "%s/inetd.conf:%.*s: warning: %s; the line is not served", dir,
			 (int)(colon - want[n]), want[n], colon + 2);
		if (n >= c->warnings.n || strcmp(c->warnings.lines[n], full) != 0)
			print_error("warning %zu: want \"%s\", got \"%s\"\n", n, full,
				    n < c->warnings.n ? c->warnings.lines[n] : "(none)");
		assert_true(n < c->warnings.n);
		assert_string_equal(c->warnings.lines[n], full);
	}
	for (size_t i = n; i < c->warnings.n; i++)
		print_error("and a warning more: %s\n", c->warnings.lines[i]);
	assert_int_equal(c->warnings.n, n);
}

#define NO_WARNING ((const char *const[]){ NULL })

static const struct service *find(const struct config *c, const char *name)
{
	const struct service *s = config_find_service(c, name);

	if (!s)
		print_error("no service '%s'\n", name);
	assert_non_null(s);
	return s;
}

static const struct exec_options *exec_of(const struct config *c, const char *name)
{
	const struct service *s = find(c, name);

	assert_ptr_equal(s->handler, handler_find("exec"));
	return s->options;
}

/* internal: minetd's built-in of the service's name (an alias of /etc/services too), or of
 * the name after "internal", which lets a numeric service have one. */
static void internal_lines_are_served_by_the_builtins(void **state)
{
	struct config *c = load("echo\tstream\ttcp\tnowait\troot\tinternal\n"
				"discard\tdgram\tudp\twait\troot\tinternal\n"
				"daytime stream tcp nowait nobody internal\n"
				"time dgram udp wait root internal\n"
				"chargen stream tcp nowait.10 root internal\n"
				"sink stream tcp4 nowait root internal\n"
				"7005 stream tcp nowait root internal echo\n"
				"7006 dgram udp wait root internal chargen\n");
	const struct service *s;

	(void)state;
	expect_warnings(c, NO_WARNING);
	assert_int_equal(c->n_services, 8);
	s = find(c, "echo.tcp");
	assert_ptr_equal(s->handler, handler_find("echo"));
	assert_int_equal(s->port, 7);
	assert_int_equal(s->protocols, PROTO_TCP);
	assert_string_equal(s->host.text, "");
	assert_int_equal(s->host.n_addrs, 0);
	s = find(c, "discard.udp");
	assert_ptr_equal(s->handler, handler_find("discard"));
	assert_int_equal(s->port, 9);
	assert_int_equal(s->protocols, PROTO_UDP);
	assert_string_equal(((const struct daytime_options *)find(c, "daytime.tcp")->options)->format,
			    "%a %b %e %H:%M:%S %Y");        /* a built-in's own defaults */
	assert_int_equal(find(c, "time.udp")->port, 37);
	assert_ptr_equal(find(c, "chargen.tcp")->handler, handler_find("chargen"));
	assert_ptr_equal(find(c, "sink.tcp4")->handler, handler_find("discard"));
	assert_int_equal(find(c, "7005.tcp")->port, 7005);
	assert_ptr_equal(find(c, "7005.tcp")->handler, handler_find("echo"));
	assert_ptr_equal(find(c, "7006.udp")->handler, handler_find("chargen"));
	config_free(c);
}

/* A program: the server and the arguments after argv0, as whom, and as inetd runs it. */
static void a_program_line_maps_onto_exec_keys(void **state)
{
	struct config *c = load("finger\t\tstream\ttcp\tnowait\tnobody\t/bin/cat\t/usr/sbin/in.fingerd -w -l\n"
				"7001 stream tcp nowait nobody.nogroup /bin/cat\n"
				"7002 stream tcp nowait nobody:nogroup /bin/cat cat\n");
	const struct exec_options *o = exec_of(c, "finger.tcp");

	(void)state;
	expect_warnings(c, NO_WARNING);
	assert_int_equal(find(c, "finger.tcp")->port, 79);
	assert_int_equal(find(c, "finger.tcp")->protocols, PROTO_TCP);
	assert_int_equal(o->command.n, 3);
	assert_string_equal(o->command.items[0], "/bin/cat");
	assert_string_equal(o->command.items[1], "-w");
	assert_string_equal(o->command.items[2], "-l");
	assert_null(o->command.items[3]);
	assert_string_equal(o->argv0, "/usr/sbin/in.fingerd");
	assert_string_equal(o->user, "nobody");
	assert_null(o->group);
	assert_false(o->wait);
	assert_int_equal(o->stderr_to, STDERR_CLIENT);  /* inetd's programs have the socket as fd 2 */
	assert_int_equal(o->per_minute, 256);           /* openbsd-inetd's default */
	assert_int_equal(o->processes, 256);
	assert_int_equal(o->timeout, 0);                /* none: an inetd program may run for hours */
	assert_int_equal(o->sandbox, SANDBOX_NONE);
	o = exec_of(c, "7001.tcp");
	assert_string_equal(o->argv0, "cat");           /* none written: the server's name */
	assert_int_equal(o->command.n, 1);
	assert_string_equal(o->user, "nobody");         /* user.group */
	assert_string_equal(o->group, "nogroup");
	assert_string_equal(exec_of(c, "7002.tcp")->user, "nobody");    /* user:group */
	assert_string_equal(exec_of(c, "7002.tcp")->group, "nogroup");
	config_free(c);
}

/* wait: one program at a time, with the socket; .max: invocations a minute, and for nowait
 * the programs at once too; a datagram of nowait is minetd's own UDP exchange. */
static void wait_and_max_map_onto_processes_and_per_minute(void **state)
{
	struct config *c = load("tftp dgram udp wait.10 nobody /bin/cat in.tftpd -s /srv/tftp\n"
				"7001 dgram udp nowait nobody /bin/cat cat\n"
				"7002 stream tcp nowait.40 nobody /bin/cat cat\n"
				"7003 stream tcp wait nobody /bin/cat cat\n");
	const struct exec_options *o;

	(void)state;
	expect_warnings(c, NO_WARNING);
	o = exec_of(c, "tftp.udp");
	assert_true(o->wait);
	assert_int_equal(o->processes, 1);
	assert_int_equal(o->per_minute, 10);
	assert_int_equal(o->stderr_to, STDERR_CLIENT);
	assert_string_equal(o->command.items[1], "-s");
	o = exec_of(c, "7001.udp");
	assert_false(o->wait);
	assert_int_equal(o->stderr_to, STDERR_JOURNAL);
	assert_int_equal(o->processes, 256);
	o = exec_of(c, "7002.tcp");
	assert_int_equal(o->processes, 40);
	assert_int_equal(o->per_minute, 40);
	o = exec_of(c, "7003.tcp");
	assert_true(o->wait);
	assert_int_equal(o->processes, 1);
	assert_int_equal(o->per_minute, 256);
	config_free(c);
}

/* tcp and udp: every address, IPv4 and IPv6; tcp4: IPv4's; tcp6 and tcp46: "::", which
 * minetd binds dual-stack. */
static void protos_choose_the_protocol_and_addresses(void **state)
{
	struct config *c = load("7001 stream tcp nowait root internal echo\n"
				"7002 stream tcp4 nowait root internal echo\n"
				"7003 stream tcp6 nowait root internal echo\n"
				"7004 stream tcp46 nowait root internal echo\n"
				"7001 dgram udp wait root internal echo\n"
				"7002 dgram udp4 wait root internal echo\n"
				"7003 dgram udp6 wait root internal echo\n"
				"7004 dgram udp46 wait root internal echo\n");
	static const char *const names[] = { "tcp", "tcp4", "tcp6", "tcp46", "udp", "udp4", "udp6", "udp46" };
	static const char *const hosts[] = { "", "0.0.0.0", "::", "::" };

	(void)state;
	expect_warnings(c, NO_WARNING);
	assert_int_equal(c->n_services, 8);
	for (size_t i = 0; i < 8; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%zu.%s", 7001 + i % 4, names[i]);
		const struct service *s = find(c, name);
		assert_int_equal(s->protocols, i < 4 ? PROTO_TCP : PROTO_UDP);
		assert_string_equal(s->host.text, hosts[i % 4]);
		assert_int_equal(s->host.n_addrs, i % 4 ? 1 : 0);
	}
	config_free(c);
}

static void addresses_and_default_address_lines(void **state)
{
	struct config *c = load("127.0.0.1:7001 stream tcp nowait root internal echo\n"
				"[::1]:7002 stream tcp nowait root internal echo\n"
				"::1:7003 stream tcp6 nowait root internal echo\n"
				"127.0.0.2:\n"
				"7004 stream tcp nowait root internal echo\n"
				"*:7005 stream tcp4 nowait root internal echo\n"
				"[::1]:\n"
				"7006 stream tcp nowait root internal echo\n"
				"*:\n"
				"7007 stream tcp nowait root internal echo\n"
				"127.0.0.3: 7008 stream tcp nowait root internal echo\n");

	(void)state;
	expect_warnings(c, NO_WARNING);
	assert_string_equal(find(c, "7001.tcp")->host.text, "127.0.0.1");
	assert_string_equal(find(c, "7002.tcp")->host.text, "::1");
	assert_string_equal(find(c, "7003.tcp6")->host.text, "::1");
	assert_string_equal(find(c, "7004.tcp")->host.text, "127.0.0.2");     /* the default */
	assert_string_equal(find(c, "7005.tcp4")->host.text, "0.0.0.0");      /* "*": every address */
	assert_string_equal(find(c, "7006.tcp")->host.text, "::1");
	assert_string_equal(find(c, "7007.tcp")->host.text, "");               /* reset */
	assert_string_equal(find(c, "7008.tcp")->host.text, "127.0.0.3");
	config_free(c);
}

/* A default address holds in its file only. */
static void a_default_address_ends_with_its_file(void **state)
{
	char path[512];
	struct config *c;

	(void)state;
	snprintf(path, sizeof(path), "%s/inetd.d", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file("inetd.d/a", "7002 stream tcp nowait root internal echo\n");
	c = load("127.0.0.1:\n7001 stream tcp nowait root internal echo\n");
	expect_warnings(c, NO_WARNING);
	assert_string_equal(find(c, "7001.tcp")->host.text, "127.0.0.1");
	assert_string_equal(find(c, "7002.tcp")->host.text, "");
	config_free(c);
	remove_tree(path);
}

static void comments_blank_and_disabled_lines_are_off(void **state)
{
	struct config *c = load("# a comment\n"
				"#echo\t\tstream\ttcp\tnowait\troot\tinternal\n"
				"#<off># finger\tstream\ttcp\tnowait\tnobody\t/bin/cat\tin.fingerd\n"
				"#<off>#daytime stream tcp nowait root internal\n"
				"\n"
				"   \t \n"
				"#:INFO: Info services\n"
				"time stream tcp nowait root internal\n");

	(void)state;
	expect_warnings(c, NO_WARNING);
	assert_int_equal(c->n_services, 1);
	find(c, "time.tcp");
	config_free(c);
}

/* A line that starts with a blank continues the entry before it, if the line before it was
 * one; after a comment or a blank line it is an entry of its own. */
static void blank_led_lines_continue_an_entry(void **state)
{
	struct config *c = load("7001 stream tcp nowait\n"
				"\tnobody /bin/cat cat\n"
				"  -u\n"
				"# the entry before ends here\n"
				"\t7002 stream tcp nowait root internal echo\n"
				"7003 stream tcp\n"
				"\n"
				"\tnowait root internal echo\n");

	(void)state;
	expect_warnings(c, (const char *const[]){
		"6: 3 fields, not 'service socktype proto wait|nowait user server [argv0 args]'",
		"8: 4 fields, not 'service socktype proto wait|nowait user server [argv0 args]'", NULL });
	assert_int_equal(exec_of(c, "7001.tcp")->command.n, 2);
	assert_string_equal(exec_of(c, "7001.tcp")->command.items[1], "-u");
	assert_int_equal(find(c, "7001.tcp")->line, 1);
	assert_int_equal(find(c, "7002.tcp")->line, 5);
	assert_int_equal(c->n_services, 2);
	config_free(c);
}

static void services_by_name_or_number(void **state)
{
	struct config *c = load("ident stream tcp nowait nobody /bin/cat cat\n"
				"echo dgram udp4 nowait nobody /bin/cat cat\n"
				"65535 stream tcp nowait nobody /bin/cat cat\n");

	(void)state;
	expect_warnings(c, NO_WARNING);
	assert_int_equal(find(c, "ident.tcp")->port, 113);      /* an alias of auth */
	assert_int_equal(find(c, "echo.udp4")->port, 7);
	assert_int_equal(find(c, "65535.tcp")->port, 65535);
	config_free(c);
}

/* Lines that are not served, rule by rule, and what minetd says of each line. */
static const struct left_out {
	const char *lines;
	const char *const warnings[6];
} left_out[] = {
	/* a service that is no built-in of minetd's */
	{ "finger stream tcp nowait root internal\n"
	  "7007 stream tcp nowait root internal\n"
	  "7008 stream tcp nowait root internal qotd\n",
	  { "1: internal service 'finger' unknown (echo, discard, chargen, daytime or time)",
	    "2: internal service '7007' unknown (echo, discard, chargen, daytime or time)",
	    "3: internal service 'qotd' unknown (echo, discard, chargen, daytime or time)" } },
	/* wait or nowait, and a max of 1 or more, which 'processes' takes too */
	{ "7001 stream tcp nowait.0 nobody /bin/cat cat\n"
	  "7002 stream tcp nowait.x nobody /bin/cat cat\n"
	  "7003 stream tcp waiting nobody /bin/cat cat\n"
	  "7004 stream tcp nowait.200000 nobody /bin/cat cat\n"
	  "7005 stream tcp nowait. nobody /bin/cat cat\n",
	  { "1: illegal max field '0': invocations a minute, 1 or more",
	    "2: illegal max field 'x': invocations a minute, 1 or more",
	    "3: 'waiting' is neither wait nor nowait",
	    "4: 'processes' is 200000, must be 1 to 100000",
	    "5: illegal max field '': invocations a minute, 1 or more" } },
	/* an address of the protocol's family, and a valid one */
	{ "[::1]:7001 stream tcp4 nowait root internal echo\n"
	  "127.0.0.1:7002 stream tcp6 nowait root internal echo\n"
	  "127.0.0.300:7004 stream tcp nowait root internal echo\n",
	  { "1: address ::1 is not IPv4, as protocol tcp4 is",
	    "2: address 127.0.0.1 is not IPv6, as protocol tcp6 is",
	    "3: invalid address '127.0.0.300'" } },
	/* a service of /etc/services for the protocol, or a port */
	{ "no-such-service stream tcp nowait nobody /bin/cat cat\n"
	  "tftp stream tcp nowait nobody /bin/cat cat\n"
	  "0 stream tcp nowait nobody /bin/cat cat\n"
	  "65536 dgram udp wait nobody /bin/cat cat\n"
	  "99999999999999999999 stream tcp nowait nobody /bin/cat cat\n",
	  { "1: unknown service 'no-such-service': not in /etc/services for tcp",
	    "2: unknown service 'tftp': not in /etc/services for tcp",
	    "3: port 0 out of range 1-65535",
	    "4: port 65536 out of range 1-65535",
	    "5: port 9223372036854775807 out of range 1-65535" } },
	/* stream over TCP, dgram over UDP */
	{ "7001 raw tcp nowait root internal echo\n"
	  "7002 stream udp nowait root internal echo\n"
	  "7003 dgram tcp6 wait root internal echo\n",
	  { "1: socket type 'raw': minetd serves stream (TCP) and dgram (UDP) only",
	    "2: socket type stream does not go with protocol udp",
	    "3: socket type dgram does not go with protocol tcp6" } },
	/* RPC and unix sockets, said once whatever the families of the protocol */
	{ "rstatd/1-5\tdgram\trpc/udp\twait\tnobody\t/usr/sbin/tcpd\t/usr/sbin/rpc.rstatd\n"
	  "walld/1 dgram udp wait nobody /bin/cat rpc.rwalld\n"
	  "/run/x.sock stream unix nowait root /bin/cat cat\n"
	  "x stream unix nowait root /bin/cat cat\n"
	  "7001 stream rpc/tcp nowait root /bin/cat cat\n",
	  { "1: rstatd/1-5 (rpc/udp): minetd serves no RPC services",
	    "2: walld/1 (udp): minetd serves no RPC services",
	    "3: /run/x.sock (unix): minetd serves no unix sockets",
	    "4: x (unix): minetd serves no unix sockets",
	    "5: 7001 (rpc/tcp): minetd serves no RPC services" } },
	/* protocols minetd has, without socket buffer sizes */
	{ "7001 stream sctp nowait root internal echo\n"
	  "7002 stream tcp,rcvbuf=64k nowait root internal echo\n"
	  "7003 stream tcp6only nowait root internal echo\n",
	  { "1: unknown protocol 'sctp' (tcp, udp, tcp4, udp4, tcp6, udp6, tcp46 or udp46)",
	    "2: protocol 'tcp,rcvbuf=64k': minetd sets no socket buffer sizes",
	    "3: unknown protocol 'tcp6only' (tcp, udp, tcp4, udp4, tcp6, udp6, tcp46 or udp46)" } },
	/* six fields at least */
	{ "echo\n"
	  "7001 stream tcp nowait root\n",
	  { "1: 1 field, not 'service socktype proto wait|nowait user server [argv0 args]'",
	    "2: 5 fields, not 'service socktype proto wait|nowait user server [argv0 args]'" } },
	/* what exec's checks refuse */
	{ "7001 stream tcp nowait nobody bin/cat cat\n",
	  { "1: exec: the command must start with an absolute path, not 'bin/cat'" } },
};

static void lines_left_out_say_why(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(left_out) / sizeof(left_out[0]); i++) {
		struct config *c = load(left_out[i].lines);
		expect_warnings(c, left_out[i].warnings);
		assert_int_equal(c->n_services, 0);
		config_free(c);
	}
}

/* A line that would take minetd.conf's port, or an earlier line's, is left out; minetd.conf
 * and the earlier line stay as they are. */
static void conflicts_leave_the_later_line_out(void **state)
{
	struct config *c = load_beside("  { name = \"conf-echo\"; handler = \"echo\"; port = 7001; "
				       "protocol = \"tcp\"; }",
				       "7001 stream tcp nowait root internal echo\n"
				       "7002 stream tcp nowait root internal echo\n"
				       "7002 stream tcp6 nowait root internal echo\n"
				       "127.0.0.1:7003 stream tcp4 nowait root internal echo\n"
				       "[::1]:7003 stream tcp6 nowait root internal echo\n"
				       "127.0.0.1:7004 stream tcp nowait root internal echo\n"
				       "[::1]:7004 stream tcp nowait root internal echo\n"
				       "7002 dgram udp wait root internal echo\n");
	char want[2048];

	(void)state;
	snprintf(want, sizeof(want), "1: service '7001.tcp' uses port 7001, as 'conf-echo' at %s/minetd.conf:2 does",
		 dir);
	expect_warnings(c, (const char *const[]){ want,
		"3: service '7002.tcp6' uses port 7002, as '7002.tcp' at line 2 does",
		"7: duplicate service name '7004.tcp' (first at line 6)", NULL });
	assert_int_equal(find(c, "conf-echo")->port, 7001);
	assert_string_equal(find(c, "7003.tcp4")->host.text, "127.0.0.1");
	assert_string_equal(find(c, "7003.tcp6")->host.text, "::1");  /* addresses apart: both */
	assert_int_equal(find(c, "7002.udp")->protocols, PROTO_UDP);    /* another protocol */
	assert_int_equal(c->n_services, 6);
	config_free(c);
}

/* What the exec handler's checks refuse leaves its line out, and that line alone. */
static void key_checks_refuse_a_line_alone(void **state)
{
	struct config *c = load("7002 stream tcp nowait nobody /no/such/program prog\n"
				"7003 stream tcp nowait nobody /bin/cat cat\n");

	(void)state;
	expect_warnings(c, (const char *const[]){ geteuid() == 0 ?
		"1: exec: cannot run '/no/such/program' as nobody: No such file or directory" :
		"1: exec: cannot run '/no/such/program' as minetd's user: No such file or directory", NULL });
	assert_int_equal(c->n_services, 1);
	find(c, "7003.tcp");
	config_free(c);
}

/* As root, minetd (and its helper) see whom a program would run as. */
static void unknown_users_and_groups_are_warned_as_root(void **state)
{
	struct config *c;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	c = load("7001 stream tcp nowait no-such-user-minetd /bin/cat cat\n"
		 "7002 stream tcp nowait nobody:no-such-group-minetd /bin/cat cat\n"
		 "7003 stream tcp nowait nobody:nogroup /bin/cat cat\n");
	expect_warnings(c, (const char *const[]){ "1: exec: no user 'no-such-user-minetd' on this system",
						  "2: exec: no group 'no-such-group-minetd' on this system", NULL });
	assert_int_equal(exec_of(c, "7003.tcp")->uid, 65534);
	config_free(c);
}

/* inetd.d: every regular file, in the order of their names, but what editors, dpkg and
 * ucf leave; a path that does not exist holds no line. */
static void directories_are_read_in_name_order(void **state)
{
	char path[512], want[2048];
	struct config *c;

	(void)state;
	snprintf(path, sizeof(path), "%s/inetd.d", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file("inetd.d/b", "7001 stream tcp nowait root internal echo\n");
	write_file("inetd.d/a", "7001 stream tcp nowait root internal daytime\n");
	write_file("inetd.d/.hidden", "7002 stream tcp nowait root internal echo\n");
	write_file("inetd.d/c~", "7003 stream tcp nowait root internal echo\n");
	write_file("inetd.d/c.dpkg-old", "7004 stream tcp nowait root internal echo\n");
	write_file("inetd.d/c.dpkg-dist", "7005 stream tcp nowait root internal echo\n");
	write_file("inetd.d/c.ucf-dist", "7006 stream tcp nowait root internal echo\n");
	snprintf(path, sizeof(path), "%s/inetd.d/sub", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file("inetd.d/sub/d", "7007 stream tcp nowait root internal echo\n");
	c = load(NULL);         /* no inetd.conf at all: no problem */
	assert_int_equal(c->n_services, 1);
	assert_ptr_equal(find(c, "7001.tcp")->handler, handler_find("daytime"));
	snprintf(path, sizeof(path), "%s/inetd.d/a", dir);
	assert_string_equal(find(c, "7001.tcp")->file, path);
	snprintf(want, sizeof(want), "%s/inetd.d/b:1: warning: duplicate service name '7001.tcp' (first at "
		 "%s/inetd.d/a:1); the line is not served", dir, dir);
	assert_int_equal(c->warnings.n, 1);
	assert_string_equal(c->warnings.lines[0], want);
	config_free(c);
	snprintf(path, sizeof(path), "%s/inetd.d", dir);
	remove_tree(path);
}

/* A file that cannot be read is left out as a whole, with a warning. */
static void unreadable_files_are_warned(void **state)
{
	char path[512], want[2048];
	struct config *c;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/inetd.conf", dir);
	unlink(path);
	assert_int_equal(mkfifo(path, 0644), 0);
	c = load_files("");
	snprintf(want, sizeof(want), "%s:0: warning: cannot read: not a regular file; the file is not read", path);
	assert_int_equal(c->warnings.n, 1);
	assert_string_equal(c->warnings.lines[0], want);
	config_free(c);
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite("echo stream tcp nowait root internal\n\n\0x\n", 1, 41, f), 41);
	assert_int_equal(fclose(f), 0);
	c = load_files("");
	snprintf(want, sizeof(want), "%s:3: warning: NUL byte: not a text file; the file is not read", path);
	assert_int_equal(c->warnings.n, 1);
	assert_string_equal(c->warnings.lines[0], want);
	assert_int_equal(c->n_services, 0);
	config_free(c);
}

/* inetd's warnings never fail the config; minetd.conf's problems stay errors, and then the
 * inetd files are not read. */
static void warnings_never_fail_the_config(void **state)
{
	struct config *c = load_beside("  { name = \"e\"; handler = \"echo\"; port = 7001; }",
				       "nonsense\n7002 stream tcp nowait root internal echo\n");
	struct config_errors errors = { 0 };
	char path[512];

	(void)state;
	assert_int_equal(c->warnings.n, 1);
	assert_int_equal(c->n_services, 2);
	assert_int_equal(find(c, "e")->line, 2);        /* minetd.conf's, where it was written */
	snprintf(path, sizeof(path), "%s/minetd.conf", dir);
	assert_string_equal(find(c, "e")->file, path);
	snprintf(path, sizeof(path), "%s/inetd.conf", dir);
	assert_string_equal(find(c, "7002.tcp")->file, path);
	assert_int_equal(find(c, "7002.tcp")->line, 2);
	config_free(c);
	assert_int_equal(load_with("  { name = \"e\"; handler = \"echo\"; port = 0; }",
				   "nonsense\n", &c, &errors), -EINVAL);
	assert_null(c);
	assert_int_equal(errors.n, 1);
	assert_non_null(strstr(errors.lines[0], "minetd.conf:2: port 0 out of range 1-65535"));
	config_errors_clear(&errors);
	write_file("minetd.conf", "services = ( );\ninetd = [ \"\" ];\n");
	snprintf(path, sizeof(path), "%s/minetd.conf", dir);
	assert_int_equal(config_load(path, &c, &errors), -EINVAL);
	assert_int_equal(errors.n, 1);
	assert_non_null(strstr(errors.lines[0], "minetd.conf:2: 'inetd' holds strings, none empty"));
	config_errors_clear(&errors);
}

/* What a corpus file says of itself: its "# serves: NAME ..." lines (the names of the
 * services it gives, in order) and its "# expect: LINE: message" lines (its warnings). */
struct expectations {
	char serves[4096];
	char expect[64][512];
	size_t n_expect;
};

static void read_expectations(const char *path, struct expectations *e)
{
	FILE *f = fopen(path, "r");
	char line[512];

	assert_non_null(f);
	memset(e, 0, sizeof(*e));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		for (char *name = strncmp(line, "# serves:", 9) == 0 ? strtok(line + 9, " ") : NULL; name;
		     name = strtok(NULL, " "))
			strcat(strcat(e->serves, e->serves[0] ? " " : ""), name);
		if (strncmp(line, "# expect: ", 10) == 0 && e->n_expect < 64)
			strcpy(e->expect[e->n_expect++], line + 10);
	}
	fclose(f);
}

/* Loaded beside a service of minetd.conf's on port 5000, a corpus file gives the warnings
 * it expects, in order, and serves what it says. */
static void check_corpus_file(const char *path)
{
	char conf[PATH_MAX + 256], file[PATH_MAX], want[PATH_MAX + 600], got[4096] = "";
	struct config_errors errors = { 0 };
	struct config *c = NULL;
	struct expectations e;

	read_expectations(path, &e);
	assert_non_null(realpath(path, file));
	snprintf(conf, sizeof(conf), "services = (\n  { name = \"conf-echo\"; handler = \"echo\"; "
		 "port = 5000; }\n);\ninetd = [ \"%s\" ];\n", file);
	write_file("minetd.conf", conf);
	snprintf(conf, sizeof(conf), "%s/minetd.conf", dir);
	assert_int_equal(config_load(conf, &c, &errors), 0);
	for (size_t i = 0; i < e.n_expect || i < c->warnings.n; i++) {
		snprintf(want, sizeof(want), "%s:%s", file, i < e.n_expect ? e.expect[i] : "(no more)");
		if (i >= e.n_expect || i >= c->warnings.n || strncmp(c->warnings.lines[i], want, strlen(want)) != 0) {
			print_error("%s: warning %zu: want \"%s\", got \"%s\"\n", path, i, want,
				    i < c->warnings.n ? c->warnings.lines[i] : "(none)");
			fail();
		}
	}
	for (size_t i = 1; i < c->n_services; i++)
		strcat(strcat(got, i > 1 ? " " : ""), c->services[i].name);
	assert_string_equal(got, e.serves);
	config_free(c);
}

static void corpus_files_give_the_warnings_they_expect(void **state)
{
	(void)state;
	assert_true(check_corpus(CORPUS_DIR, check_corpus_file) >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(internal_lines_are_served_by_the_builtins),
		cmocka_unit_test(a_program_line_maps_onto_exec_keys),
		cmocka_unit_test(wait_and_max_map_onto_processes_and_per_minute),
		cmocka_unit_test(protos_choose_the_protocol_and_addresses),
		cmocka_unit_test(addresses_and_default_address_lines),
		cmocka_unit_test(a_default_address_ends_with_its_file),
		cmocka_unit_test(comments_blank_and_disabled_lines_are_off),
		cmocka_unit_test(blank_led_lines_continue_an_entry),
		cmocka_unit_test(services_by_name_or_number),
		cmocka_unit_test(lines_left_out_say_why),
		cmocka_unit_test(conflicts_leave_the_later_line_out),
		cmocka_unit_test(key_checks_refuse_a_line_alone),
		cmocka_unit_test(unknown_users_and_groups_are_warned_as_root),
		cmocka_unit_test(directories_are_read_in_name_order),
		cmocka_unit_test(unreadable_files_are_warned),
		cmocka_unit_test(warnings_never_fail_the_config),
		cmocka_unit_test(corpus_files_give_the_warnings_they_expect),
	};

	return cmocka_run_group_tests_name("inetd", tests, make_dir, remove_dir);
}
