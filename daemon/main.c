/* minetd: the small inetd services in one event-driven process. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "server.h"
#include "workers.h"

#define STATUS_EVERY_TICKS 5

enum { EXIT_CONFIG = 1, EXIT_USAGE = 2 };

struct daemon {
	struct loop *loop;
	struct server *server;
	struct workers *workers;        /* the other event loops, if any */
	struct client_registry clients;
	unsigned loops;
	const char *config_path;
	struct loop_io signals, tick, watchdog;
	unsigned ticks;
};

static const char usage[] =
	"Usage: minetd [-c FILE] [-t] [-l auto|journal|stderr] [-V] [-h]\n"
	"Serve the small inetd services: echo, discard, chargen, qotd, daytime, time.\n"
	"\n"
	"  -c, --config FILE     configuration file (default " MINETD_CONFIG_PATH ")\n"
	"  -t, --check-config    check the configuration file and exit\n"
	"  -l, --log TARGET      auto (journal when started by systemd, else stderr),\n"
	"                        journal or stderr\n"
	"  -V, --version         print the version and exit\n"
	"  -h, --help            print this help and exit\n"
	"\n"
	"Signals: TERM or INT stop, HUP reloads the configuration, USR1 logs counters.\n";

#define LOOPS_MAX 64

static unsigned loops_wanted(const struct config *config)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (config->workers)
		return config->workers;
	return cpus < 1 ? 1 : cpus > LOOPS_MAX ? LOOPS_MAX : (unsigned)cpus;
}

static struct server *const *all_servers(const struct daemon *d, size_t *n)
{
	if (d->workers)
		return workers_servers(d->workers, n);
	*n = 1;
	return &d->server;
}

/* Loads path and, for a running daemon (d), adds a service for each socket from systemd
 * named after a handler; reports every problem. */
static int load_config(const char *path, const struct daemon *d, struct config **out, bool to_stderr)
{
	struct config_errors errors = { 0 };
	int r = config_load(path, out, &errors);

	if (r == 0 && d) {
		struct named_socket *sockets;
		size_t n = server_named_sockets(d->server, &sockets);
		r = config_add_sockets(*out, sockets, n, &errors);
		free(sockets);
		if (r < 0)
			config_free(*out);
	}
	for (size_t i = 0; i < errors.n; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", errors.lines[i]);
		else
			log_error("%s", errors.lines[i]);
	}
	if (r == -ENOMEM && errors.n == 0) {
		if (to_stderr)
			fprintf(stderr, "%s: out of memory\n", path);
		else
			log_error("%s: out of memory", path);
	}
	config_errors_clear(&errors);
	return r;
}

static void notify_ready_with_status(const struct daemon *d)
{
	size_t n;
	struct server *const *servers = all_servers(d, &n);
	char status[256];

	server_status(servers, n, status, sizeof(status));
	notify_ready(status);
}

static void reload(struct daemon *d)
{
	struct config *config;

	notify_reloading();
	log_info("reloading %s", d->config_path);
	if (load_config(d->config_path, d, &config, false) < 0) {
		log_error("%s: not reloaded, the running configuration stays in force", d->config_path);
	} else if (server_apply(d->server, config_ref(config), false) < 0) {
		config_free(config);
		config_free(config);
		log_error("%s: not reloaded, the running configuration stays in force", d->config_path);
	} else {
		if (workers_apply(d->workers, config) < 0)
			log_error("%s: reloaded, but not by every event loop", d->config_path);
		if (loops_wanted(config) != d->loops)
			log_warning("'workers' takes effect at the next start: %u event loops run now", d->loops);
		log_info("reloaded %s: %zu services", d->config_path, config->n_services);
		config_free(config);
	}
	notify_ready_with_status(d);
}

static void on_signal(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct daemon *d = container_of(io, struct daemon, signals);
	int sig;

	(void)events;
	while ((sig = loop_read_signal(io)) > 0) {
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			log_info("stopping on %s", strsignal(sig));
			loop_stop(loop);
			return;
		case SIGHUP:
			reload(d);
			break;
		case SIGUSR1: {
			size_t n;
			struct server *const *servers = all_servers(d, &n);
			server_log_counters(servers, n);
			break;
		}
		}
	}
}

static void on_tick(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct daemon *d = container_of(io, struct daemon, tick);

	(void)loop;
	(void)events;
	server_tick(d->server);
	if (++d->ticks % STATUS_EVERY_TICKS == 0) {
		size_t n;
		struct server *const *servers = all_servers(d, &n);
		char status[256];
		server_status(servers, n, status, sizeof(status));
		notify_status(status);
	}
}

static void on_watchdog(struct loop *loop, struct loop_io *io, uint32_t events)
{
	(void)loop;
	(void)io;
	(void)events;
	notify_watchdog();
}

/* Sockets, the loop, signals, timers, the journal. */
#define FILES_RESERVED 64

/* Every client is a file descriptor: take all the kernel allows us, and say so when that
 * is less than the connection limit needs. */
static void raise_file_limit(const struct config *config)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warning("cannot raise the open files limit to %llu: %s", (unsigned long long)rl.rlim_max,
				    strerror(errno));
			getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur < (rlim_t)config->limits.connections + FILES_RESERVED)
		log_warning("open files limit %llu is below limits.connections (%u) + %d: clients beyond it "
			    "will be refused; raise LimitNOFILE= or lower the limit",
			    (unsigned long long)rl.rlim_cur, config->limits.connections, FILES_RESERVED);
}

static int run(const char *config_path)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct daemon d = { .config_path = config_path };
	struct config *config;
	uint64_t watchdog_usec;
	int r, status = EXIT_CONFIG;

	signal(SIGPIPE, SIG_IGN);
	if ((r = client_registry_init(&d.clients)) < 0 || (r = loop_new(&d.loop)) < 0 ||
	    (r = server_new(d.loop, &d.clients, &d.server)) < 0) {
		log_error("cannot start: %s", strerror(-r));
		goto out;
	}
	r = server_take_inherited(d.server);
	if (r < 0)
		log_error("cannot take the sockets passed by systemd: %s", strerror(-r));
	if (load_config(config_path, &d, &config, !log_to_journal()) < 0)
		goto out;
	raise_file_limit(config);
	d.loops = d.server->serving.loops = loops_wanted(config);
	if (server_apply(d.server, config, true) < 0) {
		config_free(config);
		goto out;
	}
	/* Signals are blocked before the other loops start, so that their threads inherit
	 * the mask and the main loop alone gets them. */
	r = loop_add_signals(d.loop, &d.signals, signals, 4, on_signal);
	if (r == 0)
		r = loop_add_timer(d.loop, &d.tick, SERVER_TICK_USEC, on_tick);
	watchdog_usec = notify_watchdog_interval();
	if (r == 0 && watchdog_usec)
		r = loop_add_timer(d.loop, &d.watchdog, watchdog_usec, on_watchdog);
	if (r < 0) {
		log_error("cannot start the event loop: %s", strerror(-r));
		goto out;
	}
	if (d.loops > 1 && workers_start(d.server, d.loops - 1, &d.workers) < 0)
		goto out;
	log_info("minetd %s started with %s: %zu services, %zu sockets, %u event loops", MINETD_VERSION,
		 config_path, d.server->serving.config->n_services, d.server->n_listeners, d.loops);
	notify_ready_with_status(&d);
	r = loop_run(d.loop);
	notify_stopping();
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	else
		status = EXIT_SUCCESS;
out:
	workers_stop(d.workers);
	server_free(d.server);
	loop_free(d.loop);
	client_registry_free(&d.clients);
	if (status == EXIT_SUCCESS)
		log_info("stopped");
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = MINETD_CONFIG_PATH;
	enum log_target target = LOG_TARGET_AUTO;
	bool check = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tl:Vh", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'l':
			if (log_parse_target(optarg, &target) < 0) {
				fprintf(stderr, "minetd: unknown log target '%s' (auto, journal or stderr)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'V':
			printf("minetd %s\n", MINETD_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			fputs(usage, stdout);
			return EXIT_SUCCESS;
		default:
			fputs("Try 'minetd --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "minetd: unexpected argument '%s'\nTry 'minetd --help'.\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (check) {
		struct config *config;
		if (load_config(config_path, NULL, &config, true) < 0)
			return EXIT_CONFIG;
		config_free(config);
		printf("%s: ok\n", config_path);
		return EXIT_SUCCESS;
	}
	log_open(target);
	return run(config_path);
}
