/* inetd.conf's reader (daemon/inetd.c, through config.c) with arbitrary file contents. The
 * input is an inetd.conf beside a minetd.conf that reads it and inetd.d/ (one fixed line) and
 * serves a service of its own; loaded with config_load as minetd and its helper load it.
 * Whatever the input, the config loads (a line is never an error of the config); every
 * service of a line is one the daemon can serve, named SERVICE.PROTO, at its file and a line
 * of it; every line left out says so, "FILE:LINE: warning: ...; CONSEQUENCE". Everything is
 * freed, so LeakSanitizer checks that too. */
#include <errno.h>
#include <netdb.h>
#include <sys/types.h>
#include <unistd.h>

#include "config.h"
#include "exec_options.h"
#include "handlers.h"
#include "keys.h"
#include "fuzz_data.h"
#include "fuzz_files.h"
#include "../no_dns.h"

static char path[300], inetd_conf[300], fixed[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char conf[] = "services = ( { name = \"conf-echo\"; handler = \"echo\"; port = 7;\n"
				   "  protocol = \"tcp\"; host = \"127.0.0.1\"; } );\n"
				   "inetd = [ \"inetd.conf\", \"inetd.d\" ];\n";
	static const char line[] = "7777\tdgram\tudp\twait\troot\tinternal echo\n";

	(void)argc;
	(void)argv;
	fuzz_dir_make("fuzz_inetd");
	snprintf(path, sizeof(path), "%s/minetd.conf", fuzz_dir);
	snprintf(inetd_conf, sizeof(inetd_conf), "%s/inetd.conf", fuzz_dir);
	snprintf(fixed, sizeof(fixed), "%s/inetd.d/fixed", fuzz_dir);
	fuzz_write("minetd.conf", conf, sizeof(conf) - 1);
	fuzz_write("inetd.d", NULL, 0);
	fuzz_write("inetd.d/fixed", line, sizeof(line) - 1);
	return 0;
}

/* "FILE:LINE: warning: message; CONSEQUENCE" about one of the inetd files, at most at lines,
 * or about the whole file (line 0). */
static void check_warning(const char *w, int lines)
{
	const char *file = strncmp(w, inetd_conf, strlen(inetd_conf)) == 0 ? inetd_conf :
			   strncmp(w, fixed, strlen(fixed)) == 0 ? fixed : NULL;
	const char *p = file ? w + strlen(file) : NULL;
	char *end = NULL;
	long line = p && *p == ':' ? strtol(p + 1, &end, 10) : -1;

	CHECK(file && end && strncmp(end, ": warning: ", 11) == 0, "warning not FILE:LINE: warning: '%s'", w);
	CHECK(line >= 0 && line <= lines, "warning of line %ld of %d: '%s'", line, lines, w);
	/* a line's, or (line 0, or a NUL byte's line) its file's */
	CHECK((line && strstr(w, "; the line is not served")) || strstr(w, "; the file is not read"),
	      "warning without its end: '%s'", w);
}

/* A program of a line, as inetd runs it. */
static void check_program(const struct service *s)
{
	const struct exec_options *o = s->options;

	CHECK(o->command.n >= 1 && o->command.items[0][0] == '/', "'%s' command", s->name);
	CHECK(o->command.items[o->command.n] == NULL, "'%s' argv without its NULL", s->name);
	CHECK(o->argv0 && o->user, "'%s' argv0 or user missing", s->name);
	CHECK(o->timeout == 0, "'%s' timeout %u", s->name, o->timeout);
	CHECK(o->per_minute >= 1 && o->processes == (o->wait ? 1 : o->per_minute),
	      "'%s' processes %u, per minute %u", s->name, o->processes, o->per_minute);
	CHECK(o->stderr_to == (!o->wait && s->protocols == PROTO_UDP ? STDERR_JOURNAL : STDERR_CLIENT),
	      "'%s' stderr", s->name);
	CHECK(o->switch_user == (geteuid() == 0), "'%s' user", s->name);
	CHECK(o->running && *o->running == 0, "'%s' programs counted before any ran", s->name);
}

/* A service of a line: SERVICE.PROTO, on one protocol, from a line of its file. */
static void check_service(const struct config *c, const struct service *s, int lines)
{
	static const char *const protos[] = {
		".tcp", ".udp", ".tcp4", ".udp4", ".tcp6", ".udp6", ".tcp46", ".udp46",
	};
	const char *dot = strrchr(s->name, '.');
	bool known = false;

	for (size_t i = 0; dot && i < sizeof(protos) / sizeof(protos[0]); i++)
		known |= strcmp(dot, protos[i]) == 0 && (protos[i][1] == 't') == (s->protocols == PROTO_TCP);
	CHECK(known && dot > s->name, "service name '%s' (protocols %u)", s->name, s->protocols);
	CHECK(config_find_service(c, s->name) == s, "'%s' found as another service", s->name);
	CHECK(s->protocols == PROTO_TCP || s->protocols == PROTO_UDP, "'%s' protocols %u", s->name, s->protocols);
	CHECK(s->port >= 1 && s->port <= 65535, "'%s' port %u", s->name, s->port);
	CHECK(s->host.text, "'%s' host", s->name);
	CHECK(strcmp(s->file, inetd_conf) == 0 ? s->line >= 1 && s->line <= lines :
	      strcmp(s->file, fixed) == 0 && s->line == 1, "'%s' at %s:%d", s->name, s->file, s->line);
	CHECK(s->handler && handler_find(s->handler->name) == s->handler && strcmp(s->handler->name, "qotd") != 0,
	      "'%s' handler", s->name);
	if (!s->handler->reply)
		check_program(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errors = { 0 };
	struct config *c = NULL;
	int lines = 1;

	fuzz_write("inetd.conf", data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	int r = config_load(path, &c, &errors);
	CHECK(r == 0 || r == -ENOMEM, "config_load returned %d, the first problem '%s'", r,
	      errors.n ? errors.lines[0] : "none");
	if (r == 0) {
		CHECK(errors.n == 0, "loaded, yet %zu problems, the first '%s'", errors.n, errors.lines[0]);
		CHECK(c->n_services >= 1 && strcmp(c->services[0].name, "conf-echo") == 0, "minetd.conf's service");
		for (size_t i = 0; i < c->warnings.n; i++)
			check_warning(c->warnings.lines[i], lines);
		for (size_t i = 1; i < c->n_services; i++) {
			check_service(c, &c->services[i], lines);
			for (size_t j = 0; j < i; j++)
				CHECK(strcmp(c->services[i].name, c->services[j].name) != 0, "duplicate name '%s'",
				      c->services[i].name);
		}
		config_free(c);
	}
	config_errors_clear(&errors);
	return 0;
}
