/* minetd: the small inetd services in one event-driven process. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "exec_options.h"
#include "fdstore.h"
#include "keys.h"
#include "listen.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "priv.h"
#include "programs.h"
#include "reload.h"
#include "server.h"
#include "units.h"
#include "watch.h"
#include "workers.h"

#define STATUS_EVERY_TICKS 1     /* sent only when it changed */
#define STATUS_MAX 256
#define CPU_LOOPS_MAX 64        /* workers = 0: one loop per CPU, up to this many */

enum { EXIT_CONFIG = 1, EXIT_USAGE = 2 };

struct daemon {
	struct loop *loop;
	struct server *server;          /* the main loop's */
	struct server *servers[WORKERS_MAX];    /* every loop's, the main one's first */
	struct workers *workers;        /* the other event loops, if any */
	struct client_registry clients;
	unsigned loops;
	const char *config_path;
	struct reload *reload;
	struct loader *loader;          /* what a start or a reload loads */
	struct priv *priv;              /* the main loop's connection to minetd-helper */
	struct priv *priv_reload;       /* the reload thread's */
	bool under_helper_unit;         /* the helper is systemd's, not this process's child */
	bool helper_gone;               /* systemd's helper ended under it: a restart reaches it */
	bool reload_again;              /* asked for while one was loading */
	struct watch *watch;            /* the config's inetd files: a change reloads */
	struct loop_io signals, tick, watchdog;
	unsigned ticks;
};

static const char usage[] =
	"Usage: minetd [-c FILE] [-t] [-l auto|journal|stderr] [-V] [-h]\n"
	"Serve the small inetd services (echo, discard, chargen, qotd, daytime, time) and programs.\n"
	"\n"
	"  -c, --config FILE     configuration file (default " MINETD_CONFIG_PATH ")\n"
	"  -t, --check-config    check the configuration file and exit\n"
	"  -l, --log TARGET      auto (journal when started by systemd, else stderr),\n"
	"                        journal or stderr\n"
	"  -V, --version         print the version and exit\n"
	"  -h, --help            print this help and exit\n"
	"\n"
	"Signals: TERM or INT stop, HUP reloads the configuration, USR1 logs counters.\n";

static unsigned loops_wanted(const struct config *config)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (config->workers)
		return config->workers;
	return cpus < 1 ? 1 : cpus > CPU_LOOPS_MAX ? CPU_LOOPS_MAX : (unsigned)cpus;
}

static void report(const char *line, int priority, bool to_stderr)
{
	if (to_stderr)
		fprintf(stderr, "%s\n", line);
	else
		log_fields(priority, NULL, "%s", line);
}

/* Reports every problem of a load of path that returned r, or what the config it loaded
 * left out (inetd's lines). */
static int report_load(const char *path, int r, const struct config *config, struct config_errors *errors,
		       bool to_stderr)
{
	for (size_t i = 0; i < errors->n; i++)
		report(errors->lines[i], LOG_ERR, to_stderr);
	if (r == -ENOMEM && errors->n == 0) {
		char line[PATH_MAX + 32];
		snprintf(line, sizeof(line), "%s: out of memory", path);
		report(line, LOG_ERR, to_stderr);
	}
	for (size_t i = 0; r == 0 && i < config->warnings.n; i++)
		report(config->warnings.lines[i], LOG_WARNING, to_stderr);
	config_errors_clear(errors);
	return r;
}

static const char *status_text(const struct daemon *d, char buf[STATUS_MAX])
{
	serving_status(d->servers, d->loops, buf, STATUS_MAX);
	return buf;
}

static void start_reload(struct daemon *d)
{
	int r;

	if (reload_running(d->reload)) {
		d->reload_again = true;
		return;
	}
	notify_reloading();
	log_info("reloading %s", d->config_path);
	if ((r = reload_start(d->reload)) < 0) {
		char status[STATUS_MAX];
		log_error("%s: not reloaded: %s", d->config_path, strerror(-r));
		notify_ready(status_text(d, status));
	}
}

/* update-inetd and admins edit inetd.conf without telling anyone: its changes reload. */
static void watch_inetd_files(struct daemon *d, const struct config *config)
{
	int r = d->watch ? watch_set(d->watch, config->inetd.items, config->inetd.n) : 0;

	if (r < 0)
		log_warning("changes to the inetd files are not noticed (reload by hand): %s", strerror(-r));
}

static void inetd_files_changed(void *ctx)
{
	struct daemon *d = ctx;

	log_info("an inetd file changed");
	start_reload(d);
}

/* On the reload's thread. */
static int load(void *ctx, struct config **out, struct config_errors *errors)
{
	return loader_load(((struct daemon *)ctx)->loader, out, errors);
}

/* On the loop, once the config is loaded (NULL: refused). */
static void reloaded(void *ctx, struct config *config, const struct config_errors *errors)
{
	struct daemon *d = ctx;
	char status[STATUS_MAX];

	(void)errors;           /* logged */
	for (size_t i = 0; config && i < config->warnings.n; i++)      /* what it left out */
		log_warning("%s", config->warnings.lines[i]);
	if (!config || server_apply(d->server, config_ref(config), false) < 0) {
		if (config)
			config_free(config);
		log_error("%s: not reloaded, the running configuration stays in force", d->config_path);
	} else {
		if (workers_apply(d->workers, config) < 0)
			log_error("%s: reloaded, but not by every event loop", d->config_path);
		if (loops_wanted(config) != d->loops)
			log_warning("'workers' takes effect at the next start: %u event loops run now",
				    d->loops);
		loader_forget_stopped(d->loader, config);
		watch_inetd_files(d, config);
		log_info("reloaded %s: %zu service%s", d->config_path, config->n_services,
			 config->n_services == 1 ? "" : "s");
	}
	config_free(config);
	notify_ready(status_text(d, status));
	if (d->reload_again) {
		d->reload_again = false;
		start_reload(d);
	}
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
			start_reload(d);
			break;
		case SIGUSR1:
			serving_log_counters(d->servers, d->loops);
			break;
		}
	}
}

static void on_tick(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct daemon *d = container_of(io, struct daemon, tick);
	char status[STATUS_MAX];

	(void)loop;
	(void)events;
	server_tick(d->server);
	if (++d->ticks % STATUS_EVERY_TICKS == 0)
		notify_status(status_text(d, status));
}

static void on_watchdog(struct loop *loop, struct loop_io *io, uint32_t events)
{
	(void)loop;
	(void)io;
	(void)events;
	notify_watchdog();
}

/* Sockets, the loop, signals, timers, the journal, a config being read: clients never take
 * these last descriptors, so that minetd never runs out of them itself. */
#define FILES_RESERVED 32

/* Every client is a file descriptor: take all the kernel allows us, and say so when that
 * is less than the connection limit needs. Returns the limit. */
static rlim_t raise_file_limit(const struct config *config)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return RLIM_INFINITY;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warning("cannot raise the open files limit to %llu: %s",
				    (unsigned long long)rl.rlim_max, strerror(errno));
			getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur < (rlim_t)config->limits.connections + FILES_RESERVED)
		log_warning("open files limit %llu is below limits.connections (%u) + %d: clients beyond it "
			    "will be refused; raise LimitNOFILE= or lower the limit",
			    (unsigned long long)rl.rlim_cur, config->limits.connections, FILES_RESERVED);
	return rl.rlim_cur;
}

/* A client socket must never become descriptor 0, 1 or 2, where log lines and stray
 * writes go. */
static void keep_std_fds_open(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= STDERR_FILENO)
		;
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Signals, the tick and the watchdog; signals are blocked before the other loops start,
 * so that their threads inherit the mask and the main loop alone gets them. */
static int watch_events(struct daemon *d)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	uint64_t watchdog_usec = notify_watchdog_interval();
	int r = loop_add_signals(d->loop, &d->signals, signals, 4, on_signal);

	if (r == 0)
		r = loop_add_timer(d->loop, &d->tick, SERVER_TICK_USEC, on_tick);
	if (r == 0 && watchdog_usec)
		r = loop_add_timer(d->loop, &d->watchdog, watchdog_usec, on_watchdog);
	if (r == 0) {
		int w = watch_new(d->loop, inetd_files_changed, d, &d->watch);
		if (w < 0)
			log_warning("changes to the inetd files are not noticed (reload by hand): %s", strerror(-w));
		watch_inetd_files(d, d->server->config);
	}
	if (r < 0)
		log_error("cannot start the event loop: %s", strerror(-r));
	return r;
}

/* systemd's helper ended while this process serves: it failed, or was killed or stopped
 * without minetd (its unit's PartOf= makes a restart or stop of the helper minetd's too,
 * minetd's first). A restart of this process reaches the helper again: it stops as for a
 * restart, its clients kept in systemd's store, and exits with 1 for Restart=on-failure;
 * the programs run on and the next minetd finds them. By hand the helper was a child
 * started as root, which this process no longer is: it serves on without programs. */
static void helper_ended(void *ctx)
{
	struct daemon *d = ctx;
	char job[32] = "";

	if (!d->under_helper_unit) {
		log_error("minetd-helper is gone: no program can start until minetd is started again");
		return;
	}
	if (units_own_job(job, sizeof(job)) == 0 && job[0]) {
		log_info("minetd-helper is gone, during systemd's %s of minetd", job);
		return;
	}
	log_warning("minetd-helper is gone: minetd restarts to reach it again, its clients and programs kept");
	d->helper_gone = true;
	loop_stop(d->loop);
}

/* The privileged helper: systemd's (its socket in $MINETD_HELPER), or a child of this
 * process. The programs it runs for an earlier minetd come as events once the loop runs. */
static int start_helper(struct daemon *d)
{
	const char *path = getenv("MINETD_HELPER");
	char why[PRIVSEP_TEXT_MAX + 1];
	int r;

	d->under_helper_unit = path && *path;
	if ((r = priv_open(d->loop, d->under_helper_unit ? path : NULL, d->config_path, &d->priv)) < 0) {
		log_error("cannot start minetd-helper%s%s: %s", path ? " at " : "", path ? path : "", strerror(-r));
		return r;
	}
	d->server->priv = d->priv;
	priv_on_end(d->priv, helper_ended, d);
	if ((r = priv_watch(d->priv, d->loop, programs_event, d->server)) < 0 || (r = priv_hello(d->priv, why)) < 0)
		log_error("minetd-helper: %s", r == -EPIPE ? "ended (its messages say why)" : why[0] ? why :
			  strerror(-r));
	/* systemd's helper may have run on since an earlier minetd, with the config as it was
	 * then: it loads it again now, as this process just did */
	else if (d->under_helper_unit && (r = priv_reload(d->priv, why)) < 0)
		log_error("minetd-helper refused %s: %s", d->config_path, why[0] ? why : strerror(-r));
	else if ((r = priv_attach(d->priv, &d->priv_reload)) < 0)
		log_error("minetd-helper: no connection for reloads: %s", strerror(-r));
	else
		loader_set_helper(d->loader, d->priv_reload);
	return r;
}

/* By hand as root, the helper (a child) keeps root's part and this process lets go of it
 * before it serves; later loads still check programs as root's helper will (users, who may
 * run a program), so that a reload refuses what the helper would, and says so. */
static int serve_unprivileged(const char *config_path)
{
	const char *user;
	int r = priv_drop_root(&user);

	if (r < 0)
		log_error("cannot give up root to serve the network (as _minetd, else nobody): %s", strerror(-r));
	else if (user) {
		log_info("serving as %s: minetd-helper keeps root's part", user);
		if (access(config_path, R_OK) < 0)
			log_warning("%s: %s cannot read it (%s): a reload will fail until it can", config_path,
				    user, strerror(errno));
		exec_check_for_root_helper();
	}
	return r;
}

/* A stop ends the programs; a restart (a package upgrade) leaves them to the next minetd.
 * By hand, the helper ends them when this process's connection ends. */
static void stop_helper(struct daemon *d)
{
	char job[32];

	if (!d->priv)
		return;
	int r = d->under_helper_unit && !d->helper_gone ? units_own_job(job, sizeof(job)) : 0;

	if (d->helper_gone || (d->under_helper_unit && r == 0 && strcmp(job, "restart") == 0)) {
		log_info("restarting: the programs run on");
	} else if (d->under_helper_unit) {
		if (r < 0)
			log_warning("cannot ask systemd whether this stop is a restart (%s): the programs end",
				    strerror(-r));
		priv_end_all(d->priv);
	}
	priv_close(d->priv_reload);
	priv_close(d->priv);
	d->priv = d->priv_reload = NULL;
}

/* The config at the start, its problems or what it left out said. 0 and *out, or -errno. */
static int load_start(struct daemon *d, struct config **out)
{
	struct config_errors errors = { 0 };
	int r = loader_load_start(d->loader, out, &errors);

	return report_load(d->config_path, r, *out, &errors, !log_to_journal());
}

/* The sockets from systemd, the config, the main loop's server: 0, or the exit status. */
static int start(struct daemon *d)
{
	struct named_socket *sockets = NULL;
	struct inherited_socket *socks = NULL;
	struct fdstore *stored = NULL;
	struct config *config;
	size_t n;
	int r;

	if ((r = client_registry_init(&d->clients)) < 0 || (r = loop_new(&d->loop)) < 0 ||
	    (r = server_new(d->loop, &d->clients, &d->server)) < 0) {
		log_error("cannot start: %s", strerror(-r));
		return EXIT_CONFIG;
	}
	/* From systemd: what the last run stored, and the socket units' sockets. */
	if ((r = listen_inherited(&socks)) < 0)
		log_error("cannot take the sockets passed by systemd: %s", strerror(-r));
	n = r < 0 ? 0 : (size_t)r;
	if (fdstore_take(socks, &n, &stored) < 0)
		log_error("cannot take what the last run stored: out of memory");
	/* what the store did not take: the socket units' */
	if (server_take_inherited(d->server, socks, n) < 0)
		log_error("cannot take the sockets of socket units: out of memory");
	free(socks);
	fdstore_adopt_listeners(stored, d->server);
	n = server_named_sockets(d->server, &sockets);
	r = loader_new(d->config_path, sockets, n, getenv("MINETD_HELPER") != NULL, &d->loader);
	free(sockets);
	if (r == 0)
		r = load_start(d, &config);
	if (r == 0 && (r = reload_new(d->loop, d->config_path, load, reloaded, d, &d->reload)) < 0)
		config_free(config);
	if (r < 0) {
		fdstore_restore(stored, d->server);
		return EXIT_CONFIG;
	}
	if ((r = start_helper(d)) < 0) {
		config_free(config);
		fdstore_restore(stored, d->server);
		return EXIT_CONFIG;
	}
	if (!d->under_helper_unit && (r = serve_unprivileged(d->config_path)) < 0) {
		config_free(config);
		return EXIT_CONFIG;
	}
	rlim_t files = raise_file_limit(config);
	d->server->fd_limit = files > 2 * FILES_RESERVED ? (int)(files - FILES_RESERVED) : (int)(files / 2);
	d->loops = d->server->loops = loops_wanted(config);
	if (server_apply(d->server, config, true) < 0) {
		config_free(config);
		fdstore_restore(stored, d->server);
		return EXIT_CONFIG;
	}
	fdstore_restore(stored, d->server);
	/* Under systemd it serves what it can; by hand, nothing at all to serve is an error. */
	if (d->server->n_listeners == 0 && d->server->n_inherited == 0) {
		log_error("%s: no service could be served", d->config_path);
		return EXIT_CONFIG;
	}
	d->servers[0] = d->server;
	if (watch_events(d) < 0 ||
	    (d->loops > 1 && workers_start(d->server, d->loops - 1, d->servers + 1, &d->workers) < 0))
		return EXIT_CONFIG;
	return 0;
}

static int run(const char *config_path)
{
	/* static: a reload thread still waiting for a resolver at exit never sees it gone */
	static struct daemon d;
	char status[STATUS_MAX];
	int r, exit_status;

	d.config_path = config_path;
	if (getenv("MINETD_HELPER"))
		exec_leave_checks_to_helper();
	signal(SIGPIPE, SIG_IGN);
	/* Started with SIGCHLD ignored, the kernel would reap the programs itself, and their
	 * ends would go unnoticed. */
	signal(SIGCHLD, SIG_DFL);

	if ((exit_status = start(&d)) == 0) {
		size_t services = d.server->config->n_services;
		log_info("minetd %s started with %s: %zu service%s, %zu sockets, %u event loops", MINETD_VERSION,
			 config_path, services, services == 1 ? "" : "s", d.server->n_listeners, d.loops);
		notify_ready(status_text(&d, status));
		r = loop_run(d.loop);
		notify_stopping();
		if (r < 0)
			log_error("event loop failed: %s", strerror(-r));
		exit_status = r < 0 || d.helper_gone ? EXIT_CONFIG : EXIT_SUCCESS;
	}
	workers_stop(d.workers);
	if (exit_status == EXIT_SUCCESS || d.helper_gone)
		fdstore_save(d.server, 0);
	/* a reload's thread still waiting for a resolver at exit keeps its connection */
	if (d.reload && reload_running(d.reload))
		d.priv_reload = NULL;
	reload_free(d.reload);
	watch_free(d.watch);
	stop_helper(&d);
	loader_free(d.loader);
	server_free(d.server);
	loop_free(d.loop);
	client_registry_free(&d.clients);
	if (exit_status == EXIT_SUCCESS)
		log_info("stopped");
	return exit_status;
}

/* -t: every problem of the file on stderr, or "FILE: ok" after the warnings: the lines of
 * inetd files left out, and about the socket units systemd will pass beside it. */
static int check_config(const char *path)
{
	struct config_errors warnings = { 0 };
	struct config *config;

	struct config_errors errors = { 0 };
	int r = config_load(path, &config, &errors);

	if (report_load(path, r, config, &errors, true) < 0)
		return EXIT_CONFIG;
	units_check_config(config, &warnings);
	for (size_t i = 0; i < warnings.n; i++)
		report(warnings.lines[i], LOG_WARNING, true);
	config_errors_clear(&warnings);
	config_free(config);
	printf("%s: ok\n", path);
	return EXIT_SUCCESS;
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
				fprintf(stderr, "minetd: unknown log target '%s' (auto, journal or stderr)\n",
					optarg);
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
	keep_std_fds_open();
	if (check)
		return check_config(config_path);
	log_open(target);
	return run(config_path);
}
