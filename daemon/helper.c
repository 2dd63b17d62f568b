#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cgroup.h"
#include "config.h"
#include "exec_options.h"
#include "handlers.h"
#include "keys.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "privsep.h"
#include "reload.h"
#include "spawn.h"
#include "units.h"

#define TICK_USEC 1000000
#define STOP_WAIT_USEC (3 * 1000000ULL)
#define ENV_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct helper;

/* A connection of the serving process: one per event loop. */
struct client {
	struct client *next;
	struct helper *h;
	struct loop_io io;
	bool main;                      /* said HELLO: programs nobody owns go to it */
};

/* A program it started, or one its predecessor did (no pidfd then: no longer its child). */
struct child {
	struct child *next;
	struct helper *h;
	struct client *owner;           /* who asked for it; NULL once that one went */
	uint64_t id;
	char service[PRIVSEP_NAME_MAX + 1];
	uint8_t proto;
	struct sockaddr_in6 peer;
	uint64_t started_usec;
	pid_t pid;
	struct loop_io exited;          /* its pidfd, or fd -1 */
	char cgroup[CGROUP_NAME_MAX];   /* "" without cgroups */
	uint8_t stdio;                  /* enum privsep_stdio: a wait service's has its socket */
	bool reaped;                    /* its cgroup is being emptied */
};

struct helper {
	struct loop *loop;
	const char *config_path;
	const char *client_unit;
	struct config *config;
	struct loop_io listener, signals, tick;
	struct client *clients;
	struct child *children;
	struct reload *reload;          /* its config, loaded off its loop (a resolver may wait) */
	struct reload_request {
		struct client *client;
		uint32_t seq;
	} waiting[8];                   /* the RELOADs the running load will answer */
	size_t n_waiting;
	int cgroups;                    /* the delegated cgroup, or -1 */
	void *stack;
	bool by_hand;
	bool ending;                    /* every program is being ended: the helper waits for them */
	uint64_t idle_since;            /* no client and no program since then, or 0 */
};

static void reply(struct client *c, const struct privsep_msg *m, const int *fds, size_t n)
{
	int r = privsep_send(c->io.fd, m, fds, n);

	if (r < 0 && r != -EPIPE)
		log_warning("helper: cannot answer minetd: %s", strerror(-r));
}

static void reply_error(struct client *c, const struct privsep_msg *req, enum privsep_type type, int err,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(struct client *c, const struct privsep_msg *req, enum privsep_type type, int err,
			const char *fmt, ...)
{
	struct privsep_msg m = privsep_message(type);
	va_list ap;

	m.seq = req->seq;
	m.id = req->id;
	m.value = err;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	reply(c, &m, NULL, 0);
}

/* What a config left out (inetd's lines): said in the helper's own journal under systemd,
 * where it alone checks the programs' users; by hand, minetd says it. */
static void log_config_warnings(const struct helper *h, const struct config *config)
{
	for (size_t i = 0; !h->by_hand && i < config->warnings.n; i++)
		log_warning("%s", config->warnings.lines[i]);
}

static int load(struct helper *h, struct config **out)
{
	struct config_errors errors = { 0 };
	int r = config_load(h->config_path, out, &errors);

	for (size_t i = 0; i < errors.n; i++)
		log_error("%s", errors.lines[i]);
	config_errors_clear(&errors);
	if (r == 0)
		log_config_warnings(h, *out);
	return r;
}

/* --- Programs. */

static struct child *child_find(struct helper *h, uint64_t id)
{
	for (struct child *k = h->children; k; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

static bool started_here(pid_t pid, void *ctx)
{
	for (const struct child *k = ((struct helper *)ctx)->children; k; k = k->next)
		if (k->pid == pid && k->exited.fd >= 0)
			return true;
	return false;
}

/* Sends sig to the program and what it started: its cgroup, or its process group. */
static void child_signal(struct child *k, int sig)
{
	if (k->cgroup[0])
		cgroup_signal(k->h->cgroups, k->cgroup, sig);
	else if (k->exited.fd >= 0)
		kill(-k->pid, sig);
}

static void child_free(struct child *k)
{
	struct helper *h = k->h;

	for (struct child **p = &h->children; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			break;
		}
	if (k->exited.fd >= 0) {
		loop_remove(h->loop, &k->exited);
		close(k->exited.fd);
		k->exited.fd = -1;
	}
	loop_release(h->loop, k, free);
}

/* Its end goes to its serving process, or, when that went, into the helper's own log. */
static void report_end(struct child *k, int code, int status)
{
	struct privsep_msg m = privsep_message(PRIVSEP_EXITED);
	char peer[ADDR_TEXT_MAX];

	if (k->owner) {
		m.id = k->id;
		m.code = code;
		m.value = status;
		reply(k->owner, &m, NULL, 0);
		return;
	}
	struct log_fields f = { .service = k->service, .protocol = proto_name(k->proto),
				.peer = addr_to_string((struct sockaddr *)&k->peer, peer) };
	log_fields(LOG_INFO, &f, "%s: program %d for %s ended (%s %d) while no minetd ran", k->service,
		   (int)k->pid, peer, code == CLD_EXITED ? "status" : code ? "signal" : "status lost", status);
}

/* It has ended: what it left behind ends too (its cgroup is emptied, or what came back to
 * the helper as their subreaper is killed), and the cgroup goes once empty. */
static void child_ended(struct child *k, int code, int status)
{
	report_end(k, code, status);
	if (!k->cgroup[0]) {
		spawn_end_leftovers(started_here, k->h);
		child_free(k);
		return;
	}
	cgroup_signal(k->h->cgroups, k->cgroup, SIGKILL);
	k->reaped = true;
	if (k->exited.fd >= 0) {
		loop_remove(k->h->loop, &k->exited);
		close(k->exited.fd);
		k->exited.fd = -1;
	}
	if (cgroup_remove(k->h->cgroups, k->cgroup) == 0)
		child_free(k);
}

static void on_exited(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct child *k = container_of(io, struct child, exited);
	siginfo_t si = { 0 };

	(void)loop;
	(void)events;
	if (waitid(P_PIDFD, (id_t)io->fd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0)
		return;
	/* A zombie still: its pid, its group's id, is no other process's. */
	if (!k->cgroup[0])
		kill(-k->pid, SIGKILL);
	if (waitid(P_PIDFD, (id_t)io->fd, &si, WEXITED | WNOHANG) < 0)
		si.si_code = 0;
	child_ended(k, si.si_code, si.si_status);
}

/* The environment: as systemd's Accept=yes sets it, and the service's; nothing of minetd's
 * own. Sizes are bounded: names of at most 64 bytes, addresses of at most 46. */
struct env {
	char text[1024];
	char *vars[8];
	int used, n;
};

static void env_add(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void env_add(struct env *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	e->vars[e->n++] = e->text + e->used;
	e->used += vsnprintf(e->text + e->used, sizeof(e->text) - (size_t)e->used, fmt, ap) + 1;
	va_end(ap);
}

static void program_env(struct env *e, const struct privsep_msg *m, const struct service *svc)
{
	char remote[INET6_ADDRSTRLEN] = "", local[INET6_ADDRSTRLEN] = "";
	unsigned remote_port = 0, local_port = 0;

	addr_host_port((const struct sockaddr *)&m->peer, remote, &remote_port);
	addr_host_port((const struct sockaddr *)&m->addr, local, &local_port);
	env_add(e, "%s", ENV_PATH);
	env_add(e, "REMOTE_ADDR=%s", remote);
	env_add(e, "REMOTE_PORT=%u", remote_port);
	env_add(e, "LOCAL_ADDR=%s", local);
	env_add(e, "LOCAL_PORT=%u", local_port);
	env_add(e, "MINETD_SERVICE=%s", svc->name);
	env_add(e, "MINETD_PROTOCOL=%s", proto_name(m->proto));
	e->vars[e->n] = NULL;
}

/* Its cgroup, named after its id, with a note for a successor: pid, start, service, proto,
 * peer. Returns cgroup.procs for the child to enter, or -1 without cgroups. */
static int child_cgroup(struct child *k)
{
	int procs;

	if (k->h->cgroups < 0)
		return -1;
	snprintf(k->cgroup, sizeof(k->cgroup), CGROUP_PREFIX "%" PRIu64, k->id);
	if (cgroup_create(k->h->cgroups, k->cgroup, &procs) < 0) {
		k->cgroup[0] = '\0';
		return -1;
	}
	return procs;
}

static void child_note(struct child *k)
{
	char note[256], peer[ADDR_TEXT_MAX];

	if (!k->cgroup[0])
		return;
	snprintf(note, sizeof(note), "%d %" PRIu64 " %u %u %s %s", (int)k->pid, k->started_usec, k->proto,
		 k->stdio, addr_to_string((struct sockaddr *)&k->peer, peer), k->service);
	cgroup_set_note(k->h->cgroups, k->cgroup, note);
}

/* The service a spawn names: one of the helper's config that runs programs over that
 * protocol, or NULL (the client is told why). */
static const struct service *program_service(struct client *c, const struct privsep_msg *m, size_t n_fds)
{
	const struct service *svc = config_find_service(c->h->config, m->service);
	const struct exec_options *o = svc && svc->handler->tcp == TCP_PROGRAM ? svc->options : NULL;
	size_t want = !o ? 0 : o->wait ? 1 : m->proto == PROTO_UDP ? 3 : o->stderr_to == STDERR_CLIENT ? 1 : 2;
	enum privsep_stdio stdio = !o ? 0 : o->wait ? PRIVSEP_STDIO_SOCKET : m->proto == PROTO_UDP ?
				   PRIVSEP_STDIO_DATAGRAM : PRIVSEP_STDIO_CONNECTION;

	if (!o || !(svc->protocols & m->proto)) {
		reply_error(c, m, PRIVSEP_FAILED, EPERM, "no program service '%s' over %s in %s", m->service,
			    proto_name(m->proto), c->h->config_path);
		return NULL;
	}
	if (n_fds != want || m->stdio != stdio) {
		reply_error(c, m, PRIVSEP_FAILED, EINVAL, "service '%s' gives a program %zu descriptors (%s), not %zu",
			    svc->name, want, o->wait ? "its socket" : "the client's", n_fds);
		return NULL;
	}
	return svc;
}

/* Its argv: the line's argv0 (inetd.conf's own field) or the path, then the arguments. */
static char **program_argv(const struct exec_options *o)
{
	char **argv = calloc(o->command.n + 1, sizeof(*argv));

	if (!argv)
		return NULL;
	for (size_t i = 0; i < o->command.n; i++)
		argv[i] = o->command.items[i];
	if (o->argv0)
		argv[0] = o->argv0;
	return argv;
}

static void do_spawn(struct client *c, const struct privsep_msg *m, const int *fds, size_t n)
{
	struct helper *h = c->h;
	const struct service *svc = program_service(c, m, n);
	const struct exec_options *o = svc ? svc->options : NULL;
	struct child *k = svc ? calloc(1, sizeof(*k)) : NULL;
	char **argv = svc ? program_argv(o) : NULL;
	struct env env = { .n = 0 };
	int pidfd = -1, procs;
	pid_t pid = -ENOMEM;

	if (!svc)
		return;
	if (k && argv && (h->stack || (h->stack = malloc(SPAWN_STACK_SIZE)))) {
		*k = (struct child){ .h = h, .owner = c, .id = m->id, .proto = m->proto, .peer = m->peer,
				     .exited.fd = -1, .stdio = m->stdio };
		snprintf(k->service, sizeof(k->service), "%s", svc->name);
		program_env(&env, m, svc);
		procs = child_cgroup(k);
		/* a connection as stdin and stdout, stderr its own pipe or the connection; the
		 * datagram, the reply's pipe, stderr's; a wait service's socket as all three */
		struct spawn s = {
			.stack = h->stack, .path = o->command.items[0], .argv = argv,
			.envp = env.vars, .cgroup_procs = procs, .sandbox = o->sandbox == SANDBOX_STRICT,
			.switch_user = o->switch_user,
			.uid = o->uid, .gid = o->gid, .groups = o->groups, .n_groups = (size_t)o->n_groups,
			.fds = { fds[0], m->stdio == PRIVSEP_STDIO_DATAGRAM ? fds[1] : fds[0], fds[n - 1] },
		};
		pid = spawn(&s, &pidfd);
		if (procs >= 0)
			close(procs);
	}
	free(argv);
	if (pid > 0 && loop_add(h->loop, &k->exited, pidfd, LOOP_IN, on_exited) < 0) {
		kill(pid, SIGKILL);     /* it must not run unwatched */
		waitpid(pid, NULL, 0);
		close(pidfd);
		pid = -EMFILE;
	}
	if (pid < 0) {
		if (k && k->cgroup[0])
			cgroup_remove(h->cgroups, k->cgroup);
		free(k);
		reply_error(c, m, PRIVSEP_FAILED, (int)-pid, "cannot run %s: %s", o->command.items[0],
			    strerror((int)-pid));
		return;
	}
	k->pid = pid;
	k->started_usec = now_usec();
	k->next = h->children;
	h->children = k;
	child_note(k);
	struct privsep_msg ok = privsep_message(PRIVSEP_STARTED);
	ok.seq = m->seq;
	ok.id = m->id;
	ok.value = pid;
	reply(c, &ok, NULL, 0);
}

/* --- Sockets. */

static void do_bind(struct client *c, const struct privsep_msg *m)
{
	const struct service *svc = config_find_service(c->h->config, m->service);
	int type = m->proto == PROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, fd;
	struct privsep_msg ok = privsep_message(PRIVSEP_BOUND);
	size_t n_addrs;

	if (!svc || !(svc->protocols & m->proto) || (m->proto != PROTO_TCP && m->proto != PROTO_UDP)) {
		/* ENOENT: not in what the helper loaded, which may have left it out (an unknown
		 * user of an inetd line: said in the helper's journal) */
		reply_error(c, m, PRIVSEP_ERROR, ENOENT, "no service '%s' over %s in %s", m->service,
			    proto_name(m->proto), c->h->config_path);
		return;
	}
	n_addrs = svc->host.n_addrs ? svc->host.n_addrs : 1;
	if (m->addr_index >= n_addrs || m->loop >= m->loops) {
		reply_error(c, m, PRIVSEP_ERROR, EINVAL, "service '%s' has no address %u", svc->name, m->addr_index);
		return;
	}
	/* code: 0, or one family of a service on every address (AF_INET6, AF_INET) */
	int family = m->code == AF_INET || m->code == AF_INET6 ? m->code : 0;
	if (family && svc->host.n_addrs) {
		reply_error(c, m, PRIVSEP_ERROR, EINVAL, "service '%s' is not on every address", svc->name);
		return;
	}
	int r = listen_bind(svc->host.n_addrs ? &svc->host.addrs[m->addr_index] : NULL, svc->port, type,
			    m->loops > 1, &family, &ok.addr, &fd);
	if (r < 0) {
		char where[ADDR_TEXT_MAX];
		reply_error(c, m, PRIVSEP_ERROR, -r, "%s", addr_to_string((struct sockaddr *)&ok.addr, where));
		return;
	}
	ok.seq = m->seq;
	ok.code = family;       /* AF_INET6 where IPv6 alone could be had for every address */
	reply(c, &ok, &fd, 1);
	close(fd);              /* minetd's now: the helper keeps none */
}

/* --- Connections. */

static void client_io(struct loop *loop, struct loop_io *io, uint32_t events);

static int client_add(struct helper *h, int fd, bool main)
{
	struct client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->h = h;
	c->main = main;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if ((r = loop_add(h->loop, &c->io, fd, LOOP_IN, client_io)) < 0) {
		free(c);
		return r;
	}
	c->next = h->clients;
	h->clients = c;
	return 0;
}

/* Its programs are nobody's until the next HELLO; by hand, its minetd is gone: they end. */
static void client_gone(struct client *c)
{
	struct helper *h = c->h;

	for (struct client **p = &h->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	for (size_t i = 0; i < h->n_waiting; i++)
		if (h->waiting[i].client == c)
			h->waiting[i--] = h->waiting[--h->n_waiting];
	for (struct child *k = h->children; k; k = k->next)
		if (k->owner == c) {
			k->owner = NULL;
			if (h->by_hand)
				child_signal(k, SIGKILL);
		}
	loop_remove(h->loop, &c->io);
	close(c->io.fd);
	loop_release(h->loop, c, free);
	if (h->by_hand && !h->clients)
		loop_stop(h->loop);
}

/* HELLO: the programs nobody owns are this one's, each said in a RUNNING, then OK. */
static void do_hello(struct client *c, const struct privsep_msg *m)
{
	struct privsep_msg ok = privsep_message(PRIVSEP_OK);

	c->main = true;
	for (struct child *k = c->h->children; k; k = k->next) {
		if (k->owner || k->reaped)
			continue;
		struct privsep_msg run = privsep_message(PRIVSEP_RUNNING);
		k->owner = c;
		run.seq = m->seq;
		run.id = k->id;
		run.proto = k->proto;
		run.peer = k->peer;
		run.value = k->pid;
		run.stdio = k->stdio;
		run.started_usec = k->started_usec;
		snprintf(run.service, sizeof(run.service), "%s", k->service);
		reply(c, &run, NULL, 0);
	}
	ok.seq = m->seq;
	reply(c, &ok, NULL, 0);
}

/* A RELOAD: answered once the load it starts (or the one that runs) ends. */
static void do_reload(struct client *c, const struct privsep_msg *m)
{
	struct helper *h = c->h;
	int r = 0;

	if (h->n_waiting == sizeof(h->waiting) / sizeof(h->waiting[0])) {
		reply_error(c, m, PRIVSEP_ERROR, EBUSY, "too many reloads at once");
		return;
	}
	if (!reload_running(h->reload) && (r = reload_start(h->reload)) < 0) {
		reply_error(c, m, PRIVSEP_ERROR, -r, "cannot load %s: %s", h->config_path, strerror(-r));
		return;
	}
	h->waiting[h->n_waiting++] = (struct reload_request){ c, m->seq };
}

/* On the load's thread. */
static int reload_config(void *ctx, struct config **out, struct config_errors *errors)
{
	return config_load(((struct helper *)ctx)->config_path, out, errors);
}

/* The load ended: the config in force, or the first problem, for every RELOAD waiting. */
static void reloaded(void *ctx, struct config *config, const struct config_errors *errors)
{
	struct helper *h = ctx;

	if (config) {
		log_config_warnings(h, config);
		config_free(h->config);
		h->config = config;
	}
	for (size_t i = 0; i < h->n_waiting; i++) {
		struct privsep_msg m = privsep_message(config ? PRIVSEP_OK : PRIVSEP_ERROR);
		m.seq = h->waiting[i].seq;
		m.value = config ? 0 : EINVAL;
		snprintf(m.text, sizeof(m.text), "%s", config ? "" : errors->n ? errors->lines[0] : "out of memory");
		reply(h->waiting[i].client, &m, NULL, 0);
	}
	h->n_waiting = 0;
}

static void do_signal(struct client *c, const struct privsep_msg *m)
{
	struct child *k = child_find(c->h, m->id);

	if (k && k->owner == c && !k->reaped && m->value > 0 && m->value < NSIG)
		child_signal(k, m->value);
}

static void end_all(struct helper *h)
{
	h->ending = true;
	for (struct child *k = h->children; k; k = k->next)
		if (!k->reaped)
			child_signal(k, SIGKILL);
}

static void handle(struct client *c, const struct privsep_msg *m, int *fds, size_t n)
{
	struct privsep_msg ok = privsep_message(PRIVSEP_OK);

	switch (m->type) {
	case PRIVSEP_HELLO:
		do_hello(c, m);
		break;
	case PRIVSEP_ATTACH:
		if (n == 1 && client_add(c->h, fds[0], false) == 0)
			fds[0] = -1;
		ok.seq = m->seq;
		reply(c, &ok, NULL, 0);
		break;
	case PRIVSEP_RELOAD:
		do_reload(c, m);
		break;
	case PRIVSEP_BIND:
		do_bind(c, m);
		break;
	case PRIVSEP_SPAWN:
		do_spawn(c, m, fds, n);
		break;
	case PRIVSEP_SIGNAL:
		do_signal(c, m);
		break;
	case PRIVSEP_END_ALL:
		end_all(c->h);
		ok.seq = m->seq;
		reply(c, &ok, NULL, 0);
		break;
	default:
		reply_error(c, m, PRIVSEP_ERROR, EBADMSG, "not a request: %u", m->type);
	}
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void client_io(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct client *c = container_of(io, struct client, io);
	struct privsep_msg m;
	int fds[PRIVSEP_FDS_MAX];
	size_t n;

	(void)loop;
	(void)events;
	for (int i = 0; i < 16; i++) {
		int r = privsep_recv(io->fd, &m, fds, &n);
		if (r == -EAGAIN)
			return;
		if (r == -EBADMSG) {
			log_warning("helper: a malformed message from minetd; closing its connection");
			r = -EPIPE;
		}
		if (r < 0) {
			client_gone(c);
			return;
		}
		handle(c, &m, fds, n);
	}
}

/* Under systemd: a connection is taken only from a process of the client unit (its cgroup
 * path ends in "/minetd.service"): the uid is not enough, as programs may run as minetd's
 * user. */
static bool peer_allowed(struct helper *h, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char path[64], line[512], want[128];
	bool ok = false;
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)cred.pid);
	snprintf(want, sizeof(want), "/%s\n", h->client_unit);
	if (!(f = fopen(path, "re")))
		return false;
	while (!ok && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line), w = strlen(want);
		/* the unified hierarchy's line, or systemd's own of a v1 host */
		ok = (strncmp(line, "0::", 3) == 0 || strstr(line, ":name=systemd:")) && n >= w &&
		     strcmp(line + n - w, want) == 0;
	}
	fclose(f);
	if (!ok)
		log_warning("helper: refused a connection from pid %d (uid %d): not a process of %s", (int)cred.pid,
			    (int)cred.uid, h->client_unit);
	return ok;
}

static void on_accept(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct helper *h = container_of(io, struct helper, listener);
	int fd;

	(void)loop;
	(void)events;
	while ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		if (!peer_allowed(h, fd) || client_add(h, fd, false) < 0)
			close(fd);
}

/* --- The helper itself. */

/* A program its predecessor started: its cgroup is there, and its note says what it is. */
static void adopt(void *ctx, const char *name)
{
	struct helper *h = ctx;
	struct child *k = calloc(1, sizeof(*k));
	char note[256], peer[ADDR_TEXT_MAX] = "";
	unsigned proto = 0, stdio = 0;
	int pid = 0;

	if (!k)
		return;
	*k = (struct child){ .h = h, .exited.fd = -1, .id = strtoull(name + strlen(CGROUP_PREFIX), NULL, 10) };
	snprintf(k->cgroup, sizeof(k->cgroup), "%s", name);
	if (cgroup_get_note(h->cgroups, name, note, sizeof(note)) == 0)
		sscanf(note, "%d %" SCNu64 " %u %u %45s %64s", &pid, &k->started_usec, &proto, &stdio, peer, k->service);
	k->pid = pid;
	struct sockaddr_storage addr;
	if (peer[0] && addr_from_string(peer, &addr))
		addr_to_in6(&addr, &k->peer);
	k->proto = (uint8_t)proto;
	k->stdio = (uint8_t)stdio;
	k->reaped = !cgroup_populated(h->cgroups, name);
	k->next = h->children;
	h->children = k;
	log_info("helper: found program %d of '%s' (%s), started by a helper before", pid, k->service, name);
}

/* Under systemd, the helper ends once nobody has needed it for this long: its socket starts
 * it again for the next minetd. */
#define IDLE_EXIT_USEC (30 * 1000000ULL)

/* Once a second: the programs of a predecessor that ended, cgroups left to remove, and
 * (under systemd) an exit once nobody needs the helper. */
static void on_tick(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct helper *h = container_of(io, struct helper, tick);
	struct child *k, *next;

	(void)events;
	for (k = h->children; k; k = next) {
		next = k->next;
		if (k->exited.fd < 0 && !k->reaped && !cgroup_populated(h->cgroups, k->cgroup))
			child_ended(k, 0, 0);
		else if (k->reaped && cgroup_remove(h->cgroups, k->cgroup) == 0)
			child_free(k);
	}
	if (h->cgroups < 0)
		spawn_end_leftovers(started_here, h);
	if (h->by_hand || h->clients || h->children)
		h->idle_since = 0;
	else if (!h->idle_since)
		h->idle_since = now_usec();
	else if (now_usec() - h->idle_since >= IDLE_EXIT_USEC)
		loop_stop(loop);
}

static void on_signal(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct helper *h = container_of(io, struct helper, signals);
	char job[32];
	int sig;

	(void)events;
	while ((sig = loop_read_signal(io)) > 0) {
		if (sig == SIGHUP) {
			if (!reload_running(h->reload))
				reload_start(h->reload);
			continue;
		}
		/* A restart (a package upgrade) leaves the programs to the next helper; a stop
		 * ends them. */
		if (h->by_hand || units_own_job(job, sizeof(job)) < 0 || strcmp(job, "restart") != 0)
			end_all(h);
		else
			log_info("helper: restarting; %s programs stay", h->children ? "its" : "no");
		loop_stop(loop);
		return;
	}
}

static int start(struct helper *h, const struct helper_options *o)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
	int r, n;

	if ((r = load(h, &h->config)) < 0)
		return r;
	if ((r = loop_new(&h->loop)) < 0 || (r = loop_add_signals(h->loop, &h->signals, signals, 3, on_signal)) < 0 ||
	    (r = loop_add_timer(h->loop, &h->tick, TICK_USEC, on_tick)) < 0 ||
	    (r = reload_new(h->loop, h->config_path, reload_config, reloaded, h, &h->reload)) < 0)
		return r;
	h->cgroups = h->by_hand ? -1 : cgroup_open_delegated();
	if (h->cgroups >= 0)
		cgroup_each(h->cgroups, adopt, h);
	else    /* what programs leave behind comes back here, to be ended */
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (h->by_hand)
		return client_add(h, o->connection, true);
	if ((n = sd_listen_fds(1)) != 1 || sd_is_socket(SD_LISTEN_FDS_START, AF_UNIX, SOCK_SEQPACKET, 1) <= 0) {
		log_error("helper: expected one listening AF_UNIX seqpacket socket from systemd, got %d", n);
		return -EBADF;
	}
	fcntl(SD_LISTEN_FDS_START, F_SETFL, O_NONBLOCK);
	return loop_add(h->loop, &h->listener, SD_LISTEN_FDS_START, LOOP_IN, on_accept);
}

int helper_run(const struct helper_options *o)
{
	struct helper h = { .config_path = o->config_path, .client_unit = o->client_unit, .cgroups = -1,
			    .by_hand = o->connection >= 0 };
	int r;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if ((r = start(&h, o)) < 0) {
		log_error("helper: cannot start: %s", strerror(-r));
		return 1;
	}
	/* By hand, a NOTIFY_SOCKET it inherited is its minetd's: minetd is ready once it serves,
	 * which is minetd's to say. */
	if (!h.by_hand)
		sd_notify(0, "READY=1");
	r = loop_run(h.loop);
	if (h.by_hand)
		end_all(&h);
	while (h.clients)
		client_gone(h.clients);
	/* by hand, and at an explicit stop, what still runs ends with the helper: reaped here,
	 * and (without cgroups) what they left behind, a few seconds at most */
	for (struct child *k = h.children; h.ending && k; k = k->next)
		if (k->exited.fd >= 0)
			waitpid(k->pid, NULL, 0);
	for (uint64_t until = now_usec() + STOP_WAIT_USEC; h.ending && h.cgroups < 0 &&
	     spawn_end_leftovers(started_here, &h) > 0 && now_usec() < until;)
		usleep(10000);
	reload_free(h.reload);
	config_free(h.config);
	free(h.stack);
	loop_free(h.loop);
	if (h.cgroups >= 0)
		close(h.cgroups);
	return r < 0 ? 1 : 0;
}
