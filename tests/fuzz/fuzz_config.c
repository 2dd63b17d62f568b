/* The config loader and validator (daemon/config.c and keys.c, libconfig underneath) with arbitrary
 * file contents. The input is written to a file in a private directory ($TMPDIR, else
 * /dev/shm), which also holds a quotes file, a file to @include and a directory etc/passwd,
 * and loaded with config_load. A config that loads must hold only what the daemon can serve
 * (for exec: a command that can run, and as whom; none is run); one that does not must say
 * why, as FILE:LINE: lines. Everything is freed, so LeakSanitizer checks both paths. */
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "exec_options.h"
#include "keys.h"
#include "fuzz_data.h"
#include "fuzz_files.h"
#include "handlers.h"
#include "proto.h"
#include "../no_dns.h"

static char path[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char quotes[] = "The first quote.\n%\nThe second,\non two lines.\n%\n";
	static const char include[] = "services = ( { name = \"inc\"; handler = \"echo\"; port = 7; } );\n";

	(void)argc;
	(void)argv;
	fuzz_dir_make("fuzz_config");
	snprintf(path, sizeof(path), "%s/minetd.conf", fuzz_dir);
	fuzz_write("quotes.txt", quotes, sizeof(quotes) - 1);
	fuzz_write("include.conf", include, sizeof(include) - 1);
	/* A directory where libconfig 1.5 looks for @include "/etc/passwd": the include
	 * directory, then the name as written, absolute or not. */
	fuzz_write("etc", NULL, 0);
	fuzz_write("etc/passwd", NULL, 0);
	return 0;
}

static bool valid_name(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= 64 &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

/* "FILE:LINE: message", FILE being the config, an included file or a quotes file. */
static void check_error_line(const char *line)
{
	const char *p = line;
	bool shaped = false;

	while ((p = strchr(p, ':'))) {
		const char *q = ++p;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q > p && q[0] == ':' && q[1] == ' ' && q[2] != '\0') {
			shaped = true;
			break;
		}
	}
	CHECK(shaped, "error line not FILE:LINE: message: '%s'", line);
}

/* An exec service that loaded can run: its command, its limits, whom it runs as. */
static void check_exec(const struct service *s)
{
	const struct exec_options *o = s->options;

	CHECK(o->command.n >= 1 && o->command.items[0][0] == '/', "'%s' command", s->name);
	CHECK(o->command.items[o->command.n] == NULL, "'%s' argv without its NULL", s->name);
	CHECK(o->processes >= 1 && o->processes <= 100000, "'%s' processes %u", s->name, o->processes);
	CHECK(o->timeout <= 86400 * 365, "'%s' timeout %u", s->name, o->timeout);     /* 0: none */
	CHECK(o->switch_user == (geteuid() == 0) && (!o->switch_user || o->user), "'%s' user", s->name);
	CHECK(o->running && *o->running == 0, "'%s' programs counted before any ran", s->name);
}

/* A format the loader accepted gives a daytime line at any date the daemon may see: the
 * longest day and month names, the years to come. */
static void check_replies(const struct service *s, const char *format)
{
	static const time_t times[] = {
		0, 1790000000 /* 2026 */, 1757462400 /* a Wednesday in September 2025 */,
		253402300799 /* 9999-12-31 */, 7258118400 /* 2200 */, 2147483647,
	};
	uint8_t *out = malloc(UDP_MAX_PAYLOAD);

	if (!out)
		abort();
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		/* An empty datagram: echo is asked for replies only over UDP. */
		struct reply_input in = { .options = s->options, .seq = i, .now = times[i], .data = out, .len = 0 };
		ssize_t n = s->handler->reply(&in, out, UDP_MAX_PAYLOAD);
		if (strcmp(s->handler->name, "discard") == 0 || strcmp(s->handler->name, "echo") == 0) {
			CHECK(n == (strcmp(s->handler->name, "echo") == 0 ? 0 : -1), "%s gave %zd", s->handler->name, n);
			continue;
		}
		CHECK(n > 0, "service '%s' (%s) gives no reply at %lld%s%s%s", s->name, s->handler->name,
		      (long long)times[i], format ? " with format '" : "", format ? format : "", format ? "'" : "");
	}
	free(out);
}

/* What the daemon will do with a config that loaded: every reply must work, every
 * program must be able to run. */
static void check_service(const struct config *c, const struct service *s)
{
	CHECK(s->name && valid_name(s->name), "service name '%s'", s->name ? s->name : "(null)");
	CHECK(config_find_service(c, s->name) == s, "'%s' found as another service", s->name);
	CHECK(s->handler && handler_find(s->handler->name) == s->handler, "service '%s' handler", s->name);
	CHECK(s->from_socket || (s->port >= 1 && s->port <= 65535), "'%s' port %u", s->name, s->port);
	CHECK(s->protocols >= 1 && s->protocols <= PROTO_BOTH, "'%s' protocols %u", s->name, s->protocols);
	CHECK(s->host.text, "'%s' host missing", s->name);
	CHECK(!s->handler->keys == !s->options, "'%s' options", s->name);
	const struct daytime_options *day = strcmp(s->handler->name, "daytime") == 0 ? s->options : NULL;
	const char *format = day ? day->format : NULL;
	CHECK(!day || format, "'%s' daytime format missing", s->name);
	if (strcmp(s->handler->name, "qotd") == 0) {
		const struct qotd_options *o = s->options;
		CHECK(o->n_quotes > 0, "qotd service '%s' without quotes", s->name);
		for (size_t i = 0; i < o->n_quotes; i++) {
			const struct quote *q = &o->quotes[i];
			CHECK(q->len >= 2 && q->len <= QOTD_MAX, "quote %zu of '%s' is %zu bytes", i, s->name, q->len);
			CHECK(q->text[q->len - 2] == '\r' && q->text[q->len - 1] == '\n', "quote %zu without CRLF", i);
		}
	}
	for (size_t i = 0; i < s->acl.allow.n; i++)
		CHECK(s->acl.allow.items[i].prefix <= 128, "allow prefix");
	for (size_t i = 0; i < s->acl.deny.n; i++)
		CHECK(s->acl.deny.items[i].prefix <= 128, "deny prefix");
	/* exec: a program answers, and a fuzzer runs none */
	CHECK(!s->handler->reply == (strcmp(s->handler->name, "exec") == 0), "'%s' reply", s->name);
	if (s->handler->reply)
		check_replies(s, format);
	else
		check_exec(s);
}

static void check_config(const struct config *c)
{
	CHECK(c->path && strcmp(c->path, path) == 0, "path");
	CHECK(c->host.text, "host");
	CHECK(c->workers <= 256, "workers %u", c->workers);
	CHECK(c->limits.connections >= 1 && c->limits.connections_per_source >= 1, "connection limits");
	CHECK(c->udp.rates.source_burst >= 65536 + 64 && c->udp.rates.global_burst >= 65536 + 64,
	      "bursts below the largest datagram: %llu %llu", (unsigned long long)c->udp.rates.source_burst,
	      (unsigned long long)c->udp.rates.global_burst);
	CHECK(c->udp.rates.source_rate >= 1 && c->udp.rates.global_rate >= 1, "rates");
	for (size_t i = 0; i < c->udp.loop_ports.n; i++)
		CHECK(c->udp.loop_ports.items[i] >= 1 && c->udp.loop_ports.items[i] <= 65535, "loop port");
	for (size_t i = 0; i < c->n_services; i++) {
		check_service(c, &c->services[i]);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(c->services[i].name, c->services[j].name) != 0, "duplicate name '%s'",
			      c->services[i].name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errors = { 0 };
	struct config *c = (struct config *)1;

	fuzz_write("minetd.conf", data, size);
	int r = config_load(path, &c, &errors);
	if (r == 0) {
		CHECK(c != NULL, "config_load returned 0 and no config");
		CHECK(errors.n == 0, "loaded, yet %zu problems, the first '%s'", errors.n, errors.lines[0]);
		check_config(c);
		/* Sockets named after each service, and after each handler: a name that is no
		 * service but a handler's becomes a service with the handler's defaults. */
		static const char *const handler_names[] = {
			"echo", "discard", "chargen", "qotd", "daytime", "time", "exec",
		};
		const size_t n_handlers = sizeof(handler_names) / sizeof(handler_names[0]);
		struct named_socket *sockets = calloc(c->n_services + n_handlers, sizeof(*sockets));
		size_t n = c->n_services, n_file = c->n_services;
		if (!sockets)
			abort();
		for (size_t i = 0; i < n_file; i++)
			sockets[i] = (struct named_socket){ .name = c->services[i].name, .protocol = PROTO_UDP };
		for (size_t i = 0; i < n_handlers; i++)
			sockets[n++] = (struct named_socket){ .name = handler_names[i], .protocol = PROTO_TCP };
		struct config_errors e = { 0 };
		CHECK(config_add_sockets(c, sockets, n, &e) == 0, "config_add_sockets");
		for (size_t i = 0; i < n_handlers; i++) {
			const struct service *s = config_find_service(c, handler_names[i]);
			CHECK(s || e.n > 0, "no service for a socket named '%s', and no reason", handler_names[i]);
			if (s && s->from_socket)
				CHECK(s->protocols == PROTO_TCP && s->handler == handler_find(handler_names[i]),
				      "service for socket '%s'", handler_names[i]);
		}
		for (size_t i = n_file; i < c->n_services; i++)
			check_service(c, &c->services[i]);
		config_errors_clear(&e);
		free(sockets);
		config_free(c);
	} else {
		CHECK(r == -EINVAL || r == -ENOMEM, "config_load returned %d", r);
		CHECK(c == NULL, "config_load failed and left a config");
		CHECK(errors.n > 0 || r == -ENOMEM, "config_load failed without saying why");
		for (size_t i = 0; i < errors.n; i++)
			check_error_line(errors.lines[i]);
	}
	config_errors_clear(&errors);
	CHECK(errors.n == 0 && errors.lines == NULL, "config_errors_clear leaves it empty");
	return 0;
}
