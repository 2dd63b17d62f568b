#include "programs.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "exec_options.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "serving.h"
#include "spawn.h"
#include "udp.h"

#define KILL_GRACE_USEC (2 * 1000000ULL)        /* from SIGTERM to SIGKILL */
#define LINE_MAX_LEN 1024                       /* a longer stderr line is logged in parts */
#define STDERR_ROUNDS 16                        /* reads of its stderr per wake-up */
#define ENV_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct program {
	struct server *server;
	struct active_service *owner;   /* NULL once its service is gone */
	struct program *prev, *next;
	pid_t pid;
	struct loop_io exited;          /* its pidfd */
	struct loop_io err;             /* its stderr */
	struct loop_io out;             /* UDP: its stdout, the reply */
	const char *protocol;
	char name[65];                  /* its service's */
	char peer_text[ADDR_TEXT_MAX];
	struct sockaddr_in6 peer;       /* IPv4 as mapped */
	uint64_t started_usec, deadline_usec;
	int signals_sent;               /* 0, then SIGTERM, then SIGKILL */
	bool ended;                     /* killed as its service went or minetd stopped */
	size_t line_len;
	char line[LINE_MAX_LEN];
	/* UDP: the reply goes out through the service's socket bound as 'bound' then, not
	 * through a copy that would keep a port a reload frees */
	struct sockaddr_storage bound;
	struct sockaddr_storage to;
	socklen_t to_len;
	_Alignas(struct cmsghdr) uint8_t control[64];
	size_t control_len, request_len;
	uint8_t *reply;                 /* UDP_MAX_PAYLOAD + 1 bytes while it runs */
	size_t reply_len;
};

static struct log_fields fields_of(const struct program *p)
{
	return (struct log_fields){ .service = p->name, .protocol = p->protocol, .peer = p->peer_text };
}

/* One of the 'processes' places of as's service, which every loop shares; false when
 * they are all taken. */
static bool place_take(struct active_service *as)
{
	const struct exec_options *o = as->service->options;

	if (__atomic_add_fetch(o->running, 1, __ATOMIC_RELAXED) > o->processes) {
		__atomic_sub_fetch(o->running, 1, __ATOMIC_RELAXED);
		return false;
	}
	as->programs++;
	return true;
}

static void place_give(struct active_service *as)
{
	__atomic_sub_fetch(((const struct exec_options *)as->service->options)->running, 1, __ATOMIC_RELAXED);
	as->programs--;
}

void programs_keep(struct active_service *as, const struct service *next)
{
	if (as->service && as->programs)
		__atomic_add_fetch(((const struct exec_options *)next->options)->running, as->programs,
				   __ATOMIC_RELAXED);
}

static int watch(struct program *p, struct loop_io *io, int fd, loop_io_fn *fn)
{
	int r = loop_add(p->server->loop, io, fd, LOOP_IN, fn);

	if (r < 0) {
		close(fd);
		io->fd = -1;
	}
	return r;
}

/* Closes what watch opened, if it is still open. */
static void unwatch(struct program *p, struct loop_io *io)
{
	if (io->fd < 0)
		return;
	loop_remove(p->server->loop, io);
	close(io->fd);
	io->fd = -1;
}

/* Each service's programs have a budget of their own: one chatty program cannot silence
 * another service's. */
static struct log_ratelimit *stderr_budget(struct program *p)
{
	return p->owner ? &p->owner->program_log : &p->server->program_log;
}

/* Its stderr, a line at a time, into the log: "PROGRAM[PID]: LINE". */
static void log_line(struct program *p)
{
	struct log_fields f = fields_of(p);

	p->line[p->line_len] = '\0';
	if (log_ratelimit_pass(stderr_budget(p), now_usec()))
		log_fields(LOG_NOTICE, &f, "%s: program %d for %s: %s", p->name, (int)p->pid, p->peer_text,
			   p->line);
	p->line_len = 0;
}

/* Reads what waits on its stderr, a bounded amount per wake-up: a program that writes
 * without end must not keep the loop from everything else. */
static void read_stderr(struct program *p)
{
	char buf[4096];
	ssize_t n = -1;

	for (int round = 0; round < STDERR_ROUNDS && (n = read(p->err.fd, buf, sizeof(buf))) > 0; round++) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n')
				p->line[p->line_len++] = buf[i];
			if (buf[i] == '\n' || p->line_len == sizeof(p->line) - 1)
				log_line(p);
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (p->line_len)
			log_line(p);
		unwatch(p, &p->err);
	}
}

/* UDP: one datagram at most; more is no reply at all (a cut reply would be a wrong one). */
static void read_stdout(struct program *p)
{
	ssize_t n = 0;

	while (p->reply_len <= UDP_MAX_PAYLOAD &&
	       (n = read(p->out.fd, p->reply + p->reply_len, UDP_MAX_PAYLOAD + 1 - p->reply_len)) > 0)
		p->reply_len += (size_t)n;
	if (p->reply_len > UDP_MAX_PAYLOAD || n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		unwatch(p, &p->out);
}

static void on_stderr(struct loop *loop, struct loop_io *io, uint32_t events)
{
	(void)loop;
	(void)events;
	read_stderr(container_of(io, struct program, err));
}

static void on_stdout(struct loop *loop, struct loop_io *io, uint32_t events)
{
	(void)loop;
	(void)events;
	read_stdout(container_of(io, struct program, out));
}

/* UDP: the reply, from the address the request was sent to, under the same rules as a
 * built-in's: the amplification rule, the budgets. */
static void send_reply(struct program *p)
{
	const char *refusal;
	struct udp_reply r = { .to = &p->to, .to_len = p->to_len, .control = p->control,
			       .control_len = p->control_len, .data = p->reply, .len = p->reply_len };

	if (p->reply_len > UDP_MAX_PAYLOAD) {
		struct log_fields f = fields_of(p);
		if (log_ratelimit_pass(stderr_budget(p), now_usec()))
			log_fields(LOG_WARNING, &f, "%s: program %d for %s wrote more than a datagram: "
				   "no reply", p->name, (int)p->pid, p->peer_text);
		return;
	}
	if (p->reply_len == 0 || !p->owner)
		return;
	refusal = serving_reply_refusal(p->server, &p->peer, p->request_len, p->reply_len, now_usec());
	if (refusal)
		serving_refuse(p->server, p->owner, "udp", (struct sockaddr *)&p->peer, refusal);
	else
		udp_send_reply(p->server, p->owner, &p->bound, &r);
}

/* How it ended, from its siginfo: code CLD_EXITED, CLD_KILLED or CLD_DUMPED with the exit
 * status or the signal; 0 when that is lost (reaped by someone else). */
struct program_end {
	int code, status;
};

/* Always logged (as a warning when it did not exit 0), whatever its programs wrote to
 * stderr: how each one ended is what an admin looks for. */
static void log_end(const struct program *p, struct program_end end)
{
	struct log_fields f = fields_of(p);
	char how[80];
	bool odd = end.code != CLD_EXITED || end.status != 0;

	if (end.code == CLD_KILLED || end.code == CLD_DUMPED)
		snprintf(how, sizeof(how), "was killed by signal %d%s", end.status,
			 p->ended ? " as its service ended" : p->signals_sent ? " at its timeout" : "");
	else if (end.code == CLD_EXITED)
		snprintf(how, sizeof(how), "exited with status %d", end.status);
	else
		snprintf(how, sizeof(how), "ended, its exit status lost");
	f.has_traffic = true;
	f.duration_usec = now_usec() - p->started_usec;
	f.reason = how;
	if (odd || p->server->config->log_connections)
		log_fields(odd ? LOG_WARNING : LOG_INFO, &f, "%s: program %d for %s %s after %" PRIu64 " ms",
			   p->name, (int)p->pid, p->peer_text, how, f.duration_usec / 1000);
}

static bool started_here(pid_t pid, void *ctx)
{
	for (const struct program *p = ((struct server *)ctx)->programs; p; p = p->next)
		if (p->pid == pid)
			return true;
	return false;
}

/* What programs left behind as they ended (setsid'd or not) comes to minetd: it ends. */
static int end_leftovers(struct server *srv)
{
	return spawn_end_leftovers(started_here, srv);
}

/* It has exited: what it wrote is read, its reply sent, its place given back. */
static void program_finish(struct program *p, struct program_end end)
{
	struct server *srv = p->server;

	if (p->err.fd >= 0)
		read_stderr(p);
	if (p->out.fd >= 0)
		read_stdout(p);
	if (p->err.fd >= 0 && p->line_len)
		log_line(p);
	if (p->reply && !p->signals_sent && !p->ended)  /* killed unfinished: no answer */
		send_reply(p);
	log_end(p, end);
	client_registry_give(srv->clients, &p->peer.sin6_addr);
	if (p->owner && strcmp(p->protocol, "tcp") == 0)
		counter_add(&p->owner->counters.tcp_active, (uint64_t)-1);
	if (p->owner)
		place_give(p->owner);
	unwatch(p, &p->exited);
	unwatch(p, &p->err);
	unwatch(p, &p->out);
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->programs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p->reply);
	loop_release(srv->loop, p, free);
}

/* Reaps it through its pidfd. What it leaves in its process group ends with it, as in
 * systemd's unit per connection: nothing runs on unbounded by 'processes' and 'timeout';
 * killed while it is a zombie, whose pid (the group's id) is no other process's. Its
 * status is lost when someone else reaped it (started with SIGCHLD ignored): then its
 * group, whose id may be another's by now, is left alone. Returns false while it runs. */
static bool reap(struct program *p, struct program_end *end)
{
	siginfo_t si = { 0 };

	if (waitid(P_PIDFD, (id_t)p->exited.fd, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		*end = (struct program_end){ 0, 0 };
		return true;
	}
	if (si.si_pid == 0)
		return false;
	kill(-p->pid, SIGKILL);
	if (waitid(P_PIDFD, (id_t)p->exited.fd, &si, WEXITED | WNOHANG) < 0)
		si.si_code = 0;
	*end = (struct program_end){ si.si_code, si.si_status };
	return true;
}

static void on_exited(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct program *p = container_of(io, struct program, exited);
	struct server *srv = p->server;
	struct program_end end;

	(void)loop;
	(void)events;
	if (!reap(p, &end))
		return;
	program_finish(p, end);
	end_leftovers(srv);
}

/* The environment: as systemd's Accept=yes sets it, and the service's; nothing of minetd's
 * own (no LISTEN_FDS, NOTIFY_SOCKET or FDSTORE). Sizes are bounded: names of at most 64
 * bytes, addresses of at most 46. */
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

static void program_env(struct env *e, const struct program *p, const char *local, unsigned local_port)
{
	char remote[INET6_ADDRSTRLEN] = "";
	unsigned remote_port = 0;

	addr_host_port((const struct sockaddr *)&p->peer, remote, &remote_port);
	env_add(e, "%s", ENV_PATH);
	env_add(e, "REMOTE_ADDR=%s", remote);
	env_add(e, "REMOTE_PORT=%u", remote_port);
	env_add(e, "LOCAL_ADDR=%s", local);
	env_add(e, "LOCAL_PORT=%u", local_port);
	env_add(e, "MINETD_SERVICE=%s", p->name);
	env_add(e, "MINETD_PROTOCOL=%s", p->protocol);
	e->vars[e->n] = NULL;
}

/* A program for as, if its service allows one more; NULL when not, or without memory. */
static struct program *program_new(struct server *srv, struct active_service *as, const char *protocol,
				   const struct sockaddr_in6 *peer)
{
	struct program *p;

	if (!place_take(as))
		return NULL;
	if (!(p = calloc(1, sizeof(*p)))) {
		place_give(as);
		return NULL;
	}
	*p = (struct program){ .server = srv, .owner = as, .protocol = protocol, .peer = *peer,
			       .exited.fd = -1, .err.fd = -1, .out.fd = -1 };
	snprintf(p->name, sizeof(p->name), "%s", as->service->name);
	addr_to_string((const struct sockaddr *)peer, p->peer_text);
	return p;
}

/* Forgets a program that never ran, and closes what it held. */
static void program_drop(struct program *p)
{
	unwatch(p, &p->err);
	unwatch(p, &p->out);
	place_give(p->owner);
	free(p->reply);
	free(p);
}

/* Runs p with in and out as its stdin and stdout, reply (or -1) the end of out to read,
 * local the address the client reached. Returns 0, or -errno when it does not run. reply
 * is p's either way: program_drop closes it with the rest. */
static int program_start(struct program *p, int in, int out, int reply, const char *local,
			 unsigned local_port)
{
	struct server *srv = p->server;
	const struct exec_options *o = p->owner->service->options;
	struct env env = { .n = 0 };
	int err[2], pidfd = -1, r;
	pid_t pid;

	p->out.fd = reply;
	if (!srv->spawn_stack && !(srv->spawn_stack = malloc(SPAWN_STACK_SIZE)))
		return -ENOMEM;
	if (pipe2(err, O_CLOEXEC) < 0)
		return -errno;
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	if ((r = watch(p, &p->err, err[0], on_stderr)) < 0 ||
	    (reply >= 0 && (r = watch(p, &p->out, reply, on_stdout)) < 0)) {
		close(err[1]);
		return r;
	}
	program_env(&env, p, local, local_port);
	struct spawn s = {
		.stack = srv->spawn_stack, .path = o->command.items[0], .argv = o->command.items,
		.envp = env.vars, .fds = { in, out, err[1] }, .switch_user = o->switch_user,
		.uid = o->uid, .gid = o->gid, .groups = o->groups, .n_groups = (size_t)o->n_groups,
	};
	pid = spawn(&s, &pidfd);
	close(err[1]);
	if (pid > 0 && (r = watch(p, &p->exited, pidfd, on_exited)) < 0) {
		kill(pid, SIGKILL);     /* it must not run unwatched */
		waitpid(pid, NULL, 0);
	}
	if (pid < 0 || r < 0)
		return pid < 0 ? pid : r;
	p->pid = pid;
	p->started_usec = now_usec();
	p->deadline_usec = p->started_usec + o->timeout * 1000000ULL;
	p->next = srv->programs;
	if (srv->programs)
		srv->programs->prev = p;
	srv->programs = p;
	if (srv->config->log_connections) {
		struct log_fields f = fields_of(p);
		log_fields(LOG_INFO, &f, "%s: program %d started for %s", p->name, (int)pid, p->peer_text);
	}
	return 0;
}

/* A client the limits had taken that gets no program after all. */
static void program_refuse(struct server *srv, struct active_service *as, const char *protocol,
			   const struct sockaddr_in6 *peer, int r)
{
	const struct exec_options *o = as->service->options;
	char why[160];

	client_registry_give(srv->clients, &peer->sin6_addr);
	if (r == 0)
		snprintf(why, sizeof(why), "processes: as many programs run as the service allows");
	else
		snprintf(why, sizeof(why), "cannot run %s: %s", o->command.items[0], strerror(-r));
	serving_refuse(srv, as, protocol, (const struct sockaddr *)peer, why);
}

void program_tcp(struct server *srv, struct active_service *as, int fd, const struct sockaddr_in6 *peer)
{
	struct program *p = program_new(srv, as, "tcp", peer);
	struct sockaddr_storage bound;
	socklen_t len = sizeof(bound);
	char local[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	int r = 0;

	if (p && getsockname(fd, (struct sockaddr *)&bound, &len) == 0)
		addr_host_port((struct sockaddr *)&bound, local, &port);
	/* accepted non-blocking, for the loop: the program's reads wait, as on any socket */
	if (p)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (p && (r = program_start(p, fd, fd, -1, local, port)) < 0) {
		program_drop(p);
		p = NULL;
	}
	close(fd);              /* the program's now */
	if (!p) {
		program_refuse(srv, as, "tcp", peer, r);
		return;
	}
	counter_add(&as->counters.tcp_accepted, 1);
	counter_add(&as->counters.tcp_active, 1);
}

/* The datagram as a file to read to its end: no pipe to fill, nothing to wait for. */
static int datagram_file(const struct program_datagram *d)
{
	int fd = memfd_create("minetd-datagram", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if ((d->len && write(fd, d->data, d->len) != (ssize_t)d->len) || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/* Where the datagram was sent to: the address of the cmsg that will be the reply's
 * source (IPv4 as such, also on a dual-stack socket), and the port of the socket. */
static void datagram_local(const struct program_datagram *d, char host[INET6_ADDRSTRLEN], unsigned *port)
{
	struct msghdr m = { .msg_control = (void *)d->control, .msg_controllen = d->control_len };
	struct cmsghdr *c = d->control_len ? CMSG_FIRSTHDR(&m) : NULL;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} a;
	struct in6_pktinfo i6;
	struct in_pktinfo i4;

	memcpy(&a.ss, d->bound, sizeof(a.ss));
	if (c && c->cmsg_level == IPPROTO_IP) {         /* the port stays: same offset */
		memcpy(&i4, CMSG_DATA(c), sizeof(i4));
		a.in.sin_family = AF_INET;
		a.in.sin_addr = i4.ipi_spec_dst;
	} else if (c && c->cmsg_level == IPPROTO_IPV6) {
		memcpy(&i6, CMSG_DATA(c), sizeof(i6));
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_addr = i6.ipi6_addr;
	}
	addr_host_port(&a.sa, host, port);
}

/* Everything the reply needs, then the program; 0 or -errno. */
static int program_udp_start(struct program *p, const struct program_datagram *d)
{
	char local[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	int in, out[2], r;

	if (d->control_len > sizeof(p->control) || !(p->reply = malloc(UDP_MAX_PAYLOAD + 1)))
		return -ENOMEM;
	p->bound = *d->bound;
	memcpy(&p->to, d->peer, d->peer_len);
	p->to_len = d->peer_len;
	/* the cmsg, not the padding after it, which nobody wrote: p's stays zero */
	if (d->control_len)
		memcpy(p->control, d->control, ((const struct cmsghdr *)d->control)->cmsg_len);
	p->control_len = d->control_len;
	p->request_len = d->len;
	datagram_local(d, local, &port);
	if ((in = datagram_file(d)) < 0)
		return in;
	if (pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		close(in);
		return r;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	r = program_start(p, in, out[1], out[0], local, port);
	close(in);
	close(out[1]);
	return r;
}

void program_udp(struct server *srv, struct active_service *as, const struct program_datagram *d)
{
	const struct tcp_limits *limits = &srv->config->limits;
	/* a running program holds a connection of its client, over UDP as over TCP */
	const char *refusal = client_registry_take(srv->clients, &d->from->sin6_addr, limits->connections,
						   limits->connections_per_source);
	struct program *p = refusal ? NULL : program_new(srv, as, "udp", d->from);
	int r = p ? program_udp_start(p, d) : 0;

	if (refusal) {
		serving_refuse(srv, as, "udp", (const struct sockaddr *)d->from, refusal);
	} else if (!p || r < 0) {
		if (p)
			program_drop(p);
		program_refuse(srv, as, "udp", d->from, r);
	}
}

void programs_tick(struct server *srv, uint64_t now)
{
	for (struct program *p = srv->programs; p; p = p->next) {
		if (now < p->deadline_usec || p->signals_sent == 2)
			continue;
		/* its whole process group; what it started in another ends with it */
		kill(-p->pid, p->signals_sent++ ? SIGKILL : SIGTERM);
		p->deadline_usec = now + KILL_GRACE_USEC;
	}
	/* the leftovers that were still going when last ended, and their own */
	end_leftovers(srv);
	for (struct active_service *as = srv->services; as; as = as->next)
		log_ratelimit_flush(&as->program_log, now);
	log_ratelimit_flush(&srv->program_log, now);
}

/* At a stop: until every leftover is gone (each one's own come to minetd as it ends), for
 * a few seconds at most. */
#define STOP_WAIT_USEC (3 * 1000000ULL)

void programs_end(struct server *srv, struct active_service *as)
{
	struct program *p, *next;
	struct program_end end;

	for (p = srv->programs; p; p = next) {
		next = p->next;
		if (as && p->owner != as)
			continue;
		kill(-p->pid, SIGKILL);
		p->signals_sent = 2;
		p->ended = true;
		if (as) {               /* the service goes: it is reaped as usual */
			place_give(p->owner);
			p->owner = NULL;
			continue;
		}
		siginfo_t si = { 0 };   /* minetd stops: now */
		waitid(P_PIDFD, (id_t)p->exited.fd, &si, WEXITED | WNOWAIT);
		if (reap(p, &end))
			program_finish(p, end);
	}
	for (uint64_t until = now_usec() + STOP_WAIT_USEC; !as && end_leftovers(srv) > 0 && now_usec() < until;)
		usleep(10000);
}
