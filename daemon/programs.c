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
#include "priv.h"
#include "proto.h"
#include "serving.h"

#define KILL_GRACE_USEC (2 * 1000000ULL)        /* from SIGTERM to SIGKILL */
#define LINE_MAX_LEN 1024                       /* a longer stderr line is logged in parts */
#define STDERR_ROUNDS 16                        /* reads of its stderr per wake-up */

#define ID_LOOP_SHIFT 48                        /* a program's id: its loop's number, a count */
#define STASH_MAX 64

/* One loop's programs: those it runs, the count the next one's id takes, the budget of
 * lines of programs whose service is gone, and the stderr of programs of the last run
 * (back from systemd's store) waiting for the helper to say those programs run on. */
struct programs {
	struct program *list;
	uint64_t count;
	struct log_ratelimit orphans_log;
	struct stashed {
		uint64_t id;
		int fd;
	} stash[STASH_MAX];
	size_t n_stash;
	unsigned ticks;
};

struct program {
	struct server *server;
	struct active_service *owner;   /* NULL once its service is gone */
	struct program *prev, *next;
	uint64_t id;                    /* the helper's name for it */
	pid_t pid;                      /* 0 until the helper says it started */
	bool found;                     /* started for an earlier minetd: it holds no client's place */
	bool no_client;                 /* a wait service's: it holds no client's place */
	struct listener *listener;      /* a wait service's socket, unwatched while it runs */
	loop_io_fn *listener_fn;        /* what watched it */
	struct loop_io err;             /* its stderr */
	struct loop_io out;             /* UDP: its stdout, the reply */
	unsigned proto;                 /* PROTO_TCP or PROTO_UDP */
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
	return (struct log_fields){ .service = p->name, .protocol = proto_name(p->proto), .peer = p->peer_text };
}

/* When a program started then is ended: its service's timeout later, or never (timeout 0,
 * as inetd.conf's lines have). */
static uint64_t deadline_of(const struct exec_options *o, uint64_t started_usec)
{
	return o->timeout ? started_usec + o->timeout * 1000000ULL : UINT64_MAX;
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
	return p->owner ? &p->owner->program_log : &p->server->programs->orphans_log;
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
		serving_refuse(p->server, p->owner, PROTO_UDP, (struct sockaddr *)&p->peer, refusal);
	else
		serving_udp_reply(p->server, p->owner, &p->bound, &r);
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

/* The end of every program, run or not: what it held is closed, its place and its
 * client's given back. */
static void program_free(struct program *p)
{
	unwatch(p, &p->err);
	unwatch(p, &p->out);
	if (p->owner)
		place_give(p->owner);
	if (!p->found && !p->no_client)
		serving_release(p->server, &p->peer);
	/* a wait service's socket is minetd's to watch again, non-blocking again */
	if (p->listener) {
		int fd = p->listener->io.fd;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (loop_add(p->server->loop, &p->listener->io, fd, LOOP_IN, p->listener_fn) < 0)
			p->listener->paused = true;     /* watched again at the next tick */
		p->listener->waiting = NULL;
	}
	free(p->reply);
	loop_release(p->server->loop, p, free);
}

static void program_link(struct program *p)
{
	struct programs *ps = p->server->programs;

	p->next = ps->list;
	if (p->next)
		p->next->prev = p;
	ps->list = p;
}

static void program_unlink(struct program *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->server->programs->list = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

/* It has exited: what it wrote is read, its reply sent, its place given back. */
static void program_finish(struct program *p, struct program_end end)
{
	if (p->err.fd >= 0)
		read_stderr(p);
	if (p->out.fd >= 0)
		read_stdout(p);
	if (p->err.fd >= 0 && p->line_len)
		log_line(p);
	if (p->reply && !p->signals_sent && !p->ended)  /* killed unfinished: no answer */
		send_reply(p);
	log_end(p, end);
	if (p->owner && p->proto == PROTO_TCP && p->pid && !p->no_client)
		counter_add(&p->owner->counters.tcp_active, (uint64_t)-1);
	program_unlink(p);
	program_free(p);
}

/* A program for as, if its service allows one more now; NULL when not (*why says why), or
 * without memory. */
static struct program *program_new(struct server *srv, struct active_service *as, unsigned proto,
				   const struct sockaddr_in6 *peer, const char **why)
{
	const struct exec_options *o = as->service->options;
	struct program *p;

	*why = "processes: as many programs run as the service allows";
	if (!place_take(as))
		return NULL;
	if (!exec_rate_take(o, now_usec())) {
		*why = "per_minute: as many programs started in the last minute as the service allows";
		place_give(as);
		return NULL;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		place_give(as);
		return NULL;
	}
	*p = (struct program){ .server = srv, .owner = as, .proto = proto, .peer = *peer, .err.fd = -1, .out.fd = -1,
			       .id = (uint64_t)srv->loop_index << ID_LOOP_SHIFT | ++srv->programs->count };
	snprintf(p->name, sizeof(p->name), "%s", as->service->name);
	addr_to_string((const struct sockaddr *)peer, p->peer_text);
	return p;
}

/* Asks the helper to run p with in as its stdin (a connection, the datagram, a wait
 * service's socket); for a datagram out is its stdout (reply the end to read, p's either
 * way); a pipe for its stderr when that goes to the journal. local: the address the client
 * reached. 0 or -errno; the answer comes as an event. */
static int program_start(struct program *p, enum privsep_stdio stdio, int in, int out, int reply,
			 const struct sockaddr_storage *local)
{
	struct server *srv = p->server;
	const struct exec_options *o = p->owner->service->options;
	bool own_stderr = stdio == PRIVSEP_STDIO_DATAGRAM ||
			  (stdio == PRIVSEP_STDIO_CONNECTION && o->stderr_to == STDERR_JOURNAL);
	int err[2] = { -1, -1 }, fds[3] = { in }, n = 1, r;

	p->out.fd = reply;      /* watched once it started: its lines then name its pid */
	if (!srv->priv)
		return -ENOTCONN;
	if (own_stderr && pipe2(err, O_CLOEXEC) < 0)
		return -errno;
	if (own_stderr) {
		fcntl(err[0], F_SETFL, O_NONBLOCK);
		p->err.fd = err[0];
	}
	if (stdio == PRIVSEP_STDIO_DATAGRAM)
		fds[n++] = out;
	if (own_stderr)
		fds[n++] = err[1];
	r = priv_spawn(srv->priv, p->id, p->name, p->proto, stdio, &p->peer, local, fds, (size_t)n);
	if (own_stderr)
		close(err[1]);
	if (r < 0)
		return r;
	p->started_usec = now_usec();
	p->deadline_usec = deadline_of(o, p->started_usec);
	program_link(p);
	return 0;
}

/* An admitted client that gets no program after all: none could be made (p NULL: as many
 * run as the service allows, or no memory), or it could not start (r, and the helper's
 * reason when it said one). */
static void program_refuse(struct server *srv, struct active_service *as, unsigned proto,
			   const struct sockaddr_in6 *peer, struct program *p, int r, const char *reason)
{
	const struct exec_options *o = as->service->options;
	char why[PRIVSEP_TEXT_MAX + 64];

	if (p)
		program_free(p);
	else
		serving_release(srv, peer);
	if (reason && reason[0])
		snprintf(why, sizeof(why), "%s", reason);
	else if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)
		snprintf(why, sizeof(why), "cannot run %s: minetd-helper is gone", o->command.items[0]);
	else
		snprintf(why, sizeof(why), "cannot run %s: %s", o->command.items[0], strerror(-r));
	serving_refuse(srv, as, proto, (const struct sockaddr *)peer, why);
}

void program_tcp(struct server *srv, struct active_service *as, int fd, const struct sockaddr_in6 *peer)
{
	const char *why;
	struct program *p = program_new(srv, as, PROTO_TCP, peer, &why);
	struct sockaddr_storage local = { 0 };
	socklen_t len = sizeof(local);
	int r = 0;

	if (p) {
		getsockname(fd, (struct sockaddr *)&local, &len);
		/* accepted non-blocking, for the loop: the program's reads wait, as on any socket */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		r = program_start(p, PRIVSEP_STDIO_CONNECTION, fd, -1, -1, &local);
	}
	close(fd);              /* the helper's, then the program's */
	if (!p || r < 0)
		program_refuse(srv, as, PROTO_TCP, peer, p, r, p ? NULL : why);
}

/* Hands a wait service's socket to its program, and stops watching it until the program
 * ends (program_free): the program reads the datagrams, or accepts the connections. */
static void program_hold(struct program *p, struct listener *l)
{
	p->listener = l;
	p->listener_fn = l->io.fn;
	l->waiting = p;
	loop_remove(p->server->loop, &l->io);
}

void program_wait(struct listener *l)
{
	struct server *srv = l->server;
	struct active_service *as = l->owner;
	const char *why;
	struct sockaddr_in6 nobody = { .sin6_family = AF_INET6 };
	struct program *p = program_new(srv, as, proto_of_socktype(l->type), &nobody, &why);
	int r;

	if (!p) {
		/* nothing is read: the socket waits, looked at again at the next tick */
		loop_remove(srv->loop, &l->io);
		l->paused = true;
		serving_refuse(srv, as, proto_of_socktype(l->type), (const struct sockaddr *)&nobody, why);
		return;
	}
	p->no_client = true;
	snprintf(p->peer_text, sizeof(p->peer_text), "%s", l->addr_text);     /* its clients come there */
	/* the program reads and accepts as inetd's do, waiting (one file: minetd's copy too, which
	 * it does not use meanwhile) */
	fcntl(l->io.fd, F_SETFL, fcntl(l->io.fd, F_GETFL) & ~O_NONBLOCK);
	if ((r = program_start(p, PRIVSEP_STDIO_SOCKET, l->io.fd, -1, -1, &l->addr)) < 0) {
		fcntl(l->io.fd, F_SETFL, fcntl(l->io.fd, F_GETFL) | O_NONBLOCK);
		program_refuse(srv, as, proto_of_socktype(l->type), &nobody, p, r, NULL);
		loop_remove(srv->loop, &l->io);
		l->paused = true;
		return;
	}
	program_hold(p, l);
}

void programs_forget_listener(struct listener *l)
{
	if (l->waiting)
		l->waiting->listener = NULL;
	l->waiting = NULL;
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
static void datagram_local(const struct program_datagram *d, struct sockaddr_storage *local)
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
	*local = a.ss;
}

/* Everything the reply needs, then the program; 0 or -errno. */
static int program_udp_start(struct program *p, const struct program_datagram *d)
{
	struct sockaddr_storage local;
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
	datagram_local(d, &local);
	if ((in = datagram_file(d)) < 0)
		return in;
	if (pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		close(in);
		return r;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	r = program_start(p, PRIVSEP_STDIO_DATAGRAM, in, out[1], out[0], &local);
	close(in);
	close(out[1]);
	return r;
}

void program_udp(struct server *srv, struct active_service *as, const struct program_datagram *d)
{
	/* a running program holds a connection of its client, over UDP as over TCP */
	const char *refusal = serving_admit(srv, as, d->from, PROTO_UDP), *why = NULL;
	struct program *p = refusal ? NULL : program_new(srv, as, PROTO_UDP, d->from, &why);
	int r = p ? program_udp_start(p, d) : 0;

	if (refusal)
		serving_refuse(srv, as, PROTO_UDP, (const struct sockaddr *)d->from, refusal);
	else if (!p || r < 0)
		program_refuse(srv, as, PROTO_UDP, d->from, p, r, p ? NULL : why);
}

void programs_tick(struct server *srv, uint64_t now)
{
	for (struct program *p = srv->programs->list; p; p = p->next) {
		if (now < p->deadline_usec || p->signals_sent == 2)
			continue;
		/* its group (its cgroup: what it started goes too) */
		priv_signal(srv->priv, p->id, p->signals_sent++ ? SIGKILL : SIGTERM);
		p->deadline_usec = now + KILL_GRACE_USEC;
	}
	for (struct active_service *as = srv->services; as; as = as->next)
		log_ratelimit_flush(&as->program_log, now);
	log_ratelimit_flush(&srv->programs->orphans_log, now);
	/* what the helper did not say runs on by now (the start's first seconds) is no one's */
	if (++srv->programs->ticks == 3)
		while (srv->programs->n_stash)
			close(srv->programs->stash[--srv->programs->n_stash].fd);
}

void programs_stash_stderr(struct server *srv, uint64_t id, int fd)
{
	struct programs *ps = srv->programs;

	if (ps->n_stash == STASH_MAX) {
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ps->stash[ps->n_stash++] = (struct stashed){ id, fd };
}

int programs_save_stderr(struct server *srv, int (*save)(void *ctx, uint64_t id, int fd), void *ctx)
{
	int n = 0;

	for (struct program *p = srv->programs->list; p; p = p->next)
		if (p->err.fd >= 0 && save(ctx, p->id, p->err.fd) == 0)
			n++;
	return n;
}

void programs_end(struct server *srv, struct active_service *as)
{
	for (struct program *p = srv->programs->list; p; p = p->next) {
		if (p->owner != as)
			continue;
		priv_signal(srv->priv, p->id, SIGKILL);         /* it is reaped as usual */
		p->signals_sent = 2;
		p->ended = true;
		place_give(p->owner);
		p->owner = NULL;
	}
}

static struct program *find(struct server *srv, uint64_t id)
{
	for (struct program *p = srv->programs->list; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

static struct active_service *running_programs(struct server *srv, const char *name)
{
	for (struct active_service *as = srv->services; as; as = as->next)
		if (strcmp(as->service->name, name) == 0 && serving_runs_program(as))
			return as;
	return NULL;
}

/* A program started for an earlier minetd (this one restarted): counted against its
 * service's 'processes', held to its timeout from when it started, its end logged, its
 * stderr read again when the store kept it. One whose service is gone ends. */
static void program_found(struct server *srv, const struct privsep_msg *m)
{
	struct active_service *as = running_programs(srv, m->service);
	const struct exec_options *o = as ? as->service->options : NULL;
	struct program *p = as ? calloc(1, sizeof(*p)) : NULL;

	if (!p) {
		priv_signal(srv->priv, m->id, SIGKILL);
		return;
	}
	*p = (struct program){ .server = srv, .owner = as, .id = m->id, .pid = m->value, .found = true,
			       .proto = m->proto == PROTO_UDP ? PROTO_UDP : PROTO_TCP, .peer = m->peer,
			       .started_usec = m->started_usec, .err.fd = -1, .out.fd = -1 };
	p->deadline_usec = deadline_of(o, p->started_usec);
	snprintf(p->name, sizeof(p->name), "%s", as->service->name);
	addr_to_string((const struct sockaddr *)&p->peer, p->peer_text);
	__atomic_add_fetch(o->running, 1, __ATOMIC_RELAXED);
	as->programs++;
	if (p->proto == PROTO_TCP && m->stdio != PRIVSEP_STDIO_SOCKET)
		counter_add(&as->counters.tcp_active, 1);
	for (size_t i = 0; m->stdio == PRIVSEP_STDIO_SOCKET && i < srv->n_listeners; i++) {
		struct listener *l = srv->listeners[i];
		if (l->owner == as && proto_of_socktype(l->type) == p->proto && !l->waiting && l->io.fn) {
			p->no_client = true;
			program_hold(p, l);
			break;
		}
	}
	/* a later program of this loop gets another id */
	if (m->id >> ID_LOOP_SHIFT == srv->loop_index && (m->id & ((1ULL << ID_LOOP_SHIFT) - 1)) > srv->programs->count)
		srv->programs->count = m->id & ((1ULL << ID_LOOP_SHIFT) - 1);
	program_link(p);
	for (size_t i = 0; i < srv->programs->n_stash; i++)
		if (srv->programs->stash[i].id == p->id) {
			watch(p, &p->err, srv->programs->stash[i].fd, on_stderr);
			srv->programs->stash[i] = srv->programs->stash[--srv->programs->n_stash];
			break;
		}
	log_info("%s: program %d for %s, started before a restart, runs on", p->name, (int)p->pid, p->peer_text);
}

static void program_started(struct program *p, pid_t pid)
{
	p->pid = pid;
	if (p->err.fd >= 0)
		watch(p, &p->err, p->err.fd, on_stderr);
	if (p->out.fd >= 0)
		watch(p, &p->out, p->out.fd, on_stdout);
	if (p->owner && p->proto == PROTO_TCP && !p->no_client) {
		counter_add(&p->owner->counters.tcp_accepted, 1);
		counter_add(&p->owner->counters.tcp_active, 1);
	}
	if (p->server->config->log_connections) {
		struct log_fields f = fields_of(p);
		log_fields(LOG_INFO, &f, "%s: program %d started for %s", p->name, (int)pid, p->peer_text);
	}
}

void programs_event(void *ctx, const struct privsep_msg *m)
{
	struct server *srv = ctx;
	struct program *p = m->type == PRIVSEP_RUNNING ? NULL : find(srv, m->id);

	if (m->type == PRIVSEP_RUNNING) {
		program_found(srv, m);
	} else if (!p) {
		return;         /* a program this loop no longer knows: its end was logged */
	} else if (m->type == PRIVSEP_STARTED) {
		program_started(p, m->value);
	} else if (m->type == PRIVSEP_EXITED) {
		program_finish(p, (struct program_end){ m->code, m->value });
	} else if (m->type == PRIVSEP_FAILED) {
		program_unlink(p);
		if (p->owner)
			program_refuse(srv, p->owner, p->proto, &p->peer, p, -(m->value ? m->value : EPROTO), m->text);
		else
			program_free(p);
	}
}

int programs_new(struct programs **out)
{
	struct programs *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return -ENOMEM;
	ps->orphans_log = (struct log_ratelimit){ .interval_usec = 10 * 1000000, .burst = 200,
						  .what = "lines of programs whose service is gone" };
	*out = ps;
	return 0;
}

void programs_free(struct server *srv)
{
	struct program *p, *next;

	if (!srv->programs)
		return;
	for (p = srv->programs->list; p; p = next) {
		next = p->next;
		program_free(p);
	}
	while (srv->programs->n_stash)
		close(srv->programs->stash[--srv->programs->n_stash].fd);
	free(srv->programs);
	srv->programs = NULL;
}
