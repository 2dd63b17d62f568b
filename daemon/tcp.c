#include "tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "programs.h"
#include "proto.h"
#include "serving.h"

#define ACCEPT_BATCH 64
#define ACCEPT_POLL_USEC 100    /* under load, a listener is looked at this often (+ timer slack) */
#define ACCEPT_IDLE_USEC 1000   /* and still so long after its last client, before epoll again */
#define READ_BATCH 8            /* reads per wake-up, so one client cannot starve others */
#define SPARE_BUFS 64           /* CONN_BUF_SIZE buffers kept for reuse */

/* One loop's TCP state: a buffer every connection reads into and generates in, one at a
 * time, and output buffers kept for reuse. */
struct tcp {
	uint8_t *scratch;               /* CONN_BUF_SIZE */
	void *spare[SPARE_BUFS];
	size_t n_spare;
};

struct conn {
	struct loop_io io;
	struct active_service *owner;
	struct server *server;
	struct conn *prev, *next;
	uint8_t *out;                   /* output not yet written, CONN_BUF_SIZE, or NULL */
	uint32_t out_start, out_end;
	bool read_closed;               /* the client shut down its side */
	bool close_when_flushed;
	uint64_t stream_pos;            /* chargen: bytes of the stream sent */
	uint64_t bytes_in, bytes_out;
	uint64_t started_usec, active_usec;
	struct sockaddr_in6 peer;       /* IPv4 as mapped addresses */
};

static void conn_io(struct loop *loop, struct loop_io *io, uint32_t events);

int tcp_new(struct tcp **out)
{
	struct tcp *t = calloc(1, sizeof(*t));

	if (!t || !(t->scratch = malloc(CONN_BUF_SIZE))) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void tcp_free(struct tcp *t)
{
	if (!t)
		return;
	while (t->n_spare > 0)
		free(t->spare[--t->n_spare]);
	free(t->scratch);
	free(t);
}

static void *buf_take(struct server *srv)
{
	struct tcp *t = srv->tcp;

	return t->n_spare > 0 ? t->spare[--t->n_spare] : malloc(CONN_BUF_SIZE);
}

static void buf_give(struct server *srv, void *buf)
{
	struct tcp *t = srv->tcp;

	if (t->n_spare < SPARE_BUFS)
		t->spare[t->n_spare++] = buf;
	else
		free(buf);
}

static void conn_log_end(const struct conn *c, const char *reason)
{
	const struct service *svc = c->owner->service;
	char peer[ADDR_TEXT_MAX];
	struct log_fields f = {
		.service = svc->name,
		.protocol = proto_name(PROTO_TCP),
		.peer = addr_to_string((const struct sockaddr *)&c->peer, peer),
		.reason = reason,
		.has_traffic = true,
		.bytes_in = c->bytes_in,
		.bytes_out = c->bytes_out,
		.duration_usec = now_usec() - c->started_usec,
	};

	log_fields(LOG_INFO, &f, "%s: connection from %s closed (%s): %llu bytes in, %llu out", svc->name,
		   peer, reason, (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
}

static void conn_close(struct conn *c, const char *reason)
{
	struct active_service *as = c->owner;

	if (c->server->config->log_connections)
		conn_log_end(c, reason);
	loop_remove(c->server->loop, &c->io);   /* a one-shot reply was never added */
	close(c->io.fd);
	if (c->out)
		buf_give(c->server, c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		as->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	counter_add(&as->counters.tcp_active, (uint64_t)-1);
	serving_release(c->server, &c->peer);
	loop_release(c->server->loop, c, free);
}

/* Ends a connection at once, dropping what the kernel still queues for it: a client
 * past its time must not go on reading for minutes from a full send buffer. */
static void conn_abort(struct conn *c, const char *reason)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	conn_close(c, reason);
}

void tcp_close_all(struct active_service *as, const char *reason)
{
	while (as->conns)
		conn_close(as->conns, reason);
}

void tcp_recheck(struct active_service *as)
{
	struct conn *c, *next;

	if (!(as->service->protocols & PROTO_TCP))
		tcp_close_all(as, "tcp removed from the service");
	for (c = as->conns; c; c = next) {
		next = c->next;
		if (!serving_permits(c->server, as, &c->peer.sin6_addr))
			conn_close(c, "access list");
	}
}

static void conn_count(struct conn *c, uint64_t *bytes, uint64_t *counter, size_t n)
{
	*bytes += n;
	counter_add(counter, n);
	c->active_usec = now_usec();
}

/* What the connection waits for next. */
static void conn_update_events(struct conn *c)
{
	uint32_t events;

	if (c->out)
		events = LOOP_OUT;              /* backpressure: no reading while output waits */
	else if (c->owner->service->handler->tcp == TCP_GENERATE)
		events = LOOP_IN | LOOP_OUT;
	else
		events = LOOP_IN;
	/* Registered only once it has to wait: a one-shot reply usually never does. */
	int r = c->io.fn ? loop_modify(c->server->loop, &c->io, events)
			 : loop_add(c->server->loop, &c->io, c->io.fd, events, conn_io);
	if (r < 0)
		conn_close(c, "epoll failed");
}

/* Sends what the socket takes of data (flags: MSG_MORE or 0); returns how much, or -1
 * when the connection closed on an error. */
static ssize_t conn_write(struct conn *c, const uint8_t *data, size_t len, int flags)
{
	ssize_t n = send(c->io.fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT | flags);

	if (n >= 0)
		conn_count(c, &c->bytes_out, &c->owner->counters.bytes_out, (size_t)n);
	else if (errno == EAGAIN || errno == EINTR)
		n = 0;
	else
		conn_close(c, "send failed");
	return n;
}

/* Sends data; whatever the socket does not take waits in the connection's buffer.
 * flags: MSG_MORE when the close follows at once. Returns false when the connection was
 * closed. */
static bool conn_send(struct conn *c, const uint8_t *data, size_t len, int flags)
{
	ssize_t n = conn_write(c, data, len, flags);

	if (n < 0 || (size_t)n == len)
		return n >= 0;
	/* len never exceeds CONN_BUF_SIZE: at most one read is in flight. */
	if (!(c->out = buf_take(c->server))) {
		conn_close(c, "out of memory");
		return false;
	}
	memcpy(c->out, data + n, len - (size_t)n);
	c->out_start = 0;
	c->out_end = (uint32_t)(len - (size_t)n);
	return true;
}

/* Returns false when the connection was closed. */
static bool conn_flush_output(struct conn *c)
{
	ssize_t n = conn_write(c, c->out + c->out_start, c->out_end - c->out_start, 0);

	if (n < 0)
		return false;
	c->out_start += (uint32_t)n;
	if (c->out_start == c->out_end) {
		buf_give(c->server, c->out);
		c->out = NULL;
	}
	return true;
}

static void conn_generate(struct conn *c)
{
	ssize_t n;

	chargen_stream(c->server->tcp->scratch, CONN_BUF_SIZE, c->stream_pos);
	if ((n = conn_write(c, c->server->tcp->scratch, CONN_BUF_SIZE, 0)) > 0)
		c->stream_pos += (uint64_t)n;
}

/* Reads what the client sent; echo sends it back. Returns false when closed. */
static bool conn_read(struct conn *c)
{
	uint8_t *buf = c->server->tcp->scratch;
	enum tcp_behaviour behaviour = c->owner->service->handler->tcp;

	for (int i = 0; i < READ_BATCH && !c->out; i++) {
		ssize_t n = recv(c->io.fd, buf, CONN_BUF_SIZE, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			conn_close(c, "receive failed");
			return false;
		}
		if (n == 0) {
			c->read_closed = true;
			return true;
		}
		conn_count(c, &c->bytes_in, &c->owner->counters.bytes_in, (size_t)n);
		if (behaviour == TCP_ECHO && !conn_send(c, buf, (size_t)n, 0))
			return false;
		/* A short read emptied the socket: epoll says when there is more, which
		 * saves a recv() that would only say EAGAIN. */
		if ((size_t)n < CONN_BUF_SIZE)
			break;
	}
	return true;
}

static void conn_io(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct conn *c = container_of(io, struct conn, io);
	enum tcp_behaviour behaviour = c->owner->service->handler->tcp;

	(void)loop;
	if (c->out && (events & (LOOP_OUT | LOOP_ERR)) && !conn_flush_output(c))
		return;
	if (!c->out && c->close_when_flushed) {
		conn_close(c, "done");
		return;
	}
	if (!c->out && (events & (LOOP_IN | LOOP_ERR)) && !conn_read(c))
		return;
	if (c->read_closed && !c->out) {
		/* Echo's last bytes are out: finish as the client did. */
		conn_close(c, "client closed");
		return;
	}
	if (behaviour == TCP_GENERATE && !c->out && (events & LOOP_OUT))
		conn_generate(c);
	if (!c->io.fn)
		return;
	const struct tcp_limits *limits = &c->server->config->limits;
	if (limits->bytes && c->bytes_in + c->bytes_out >= limits->bytes) {
		conn_close(c, "byte limit");
		return;
	}
	conn_update_events(c);
}

void tcp_enforce_limits(struct active_service *as, uint64_t now)
{
	const struct tcp_limits *limits;
	struct conn *c, *next;

	if (!as->conns)
		return;
	limits = &as->conns->server->config->limits;
	for (c = as->conns; c; c = next) {
		next = c->next;
		if (limits->idle_timeout && now - c->active_usec >= limits->idle_timeout * 1000000ULL)
			conn_abort(c, "idle timeout");
		else if (limits->lifetime && now - c->started_usec >= limits->lifetime * 1000000ULL)
			conn_abort(c, "lifetime");
	}
}

/* The one-shot services answer at once, usually without ever waiting. */
static void conn_start(struct conn *c)
{
	struct active_service *as = c->owner;
	const struct service *svc = as->service;
	struct reply_input in = { .options = svc->options, .seq = service_replies(svc), .now = time(NULL) };
	ssize_t n;

	if (svc->handler->tcp != TCP_ONESHOT) {
		conn_update_events(c);
		return;
	}
	service_count_reply(svc);
	n = serving_reply(as, &in, c->server->tcp->scratch, CONN_BUF_SIZE);
	/* MSG_MORE holds the reply until the close adds the FIN to the same segment: a packet
	 * fewer for both ends. A reply that waits for room goes with the next send, which
	 * has no MSG_MORE. */
	if (n > 0 && !conn_send(c, c->server->tcp->scratch, (size_t)n, MSG_MORE))
		return;
	if (!c->out) {
		conn_close(c, "done");
		return;
	}
	c->close_when_flushed = true;
	conn_update_events(c);
}

/* A client on fd, once the access lists and the limits let it in: a connection served
 * here, or a program's. Returns the connection, or NULL when it is none of ours (fd is
 * closed then, or the program's, and a refusal is counted and logged). */
static struct conn *conn_admit(struct server *srv, struct active_service *as, int fd,
			       const struct sockaddr_storage *addr)
{
	bool program = serving_runs_program(as);
	struct conn *c = program ? NULL : calloc(1, sizeof(*c));
	uint64_t now = now_usec();
	struct sockaddr_in6 peer;
	const char *refusal;
	int one = 1;

	addr_to_in6(addr, &peer);
	refusal = !program && !c ? "out of memory" : serving_admit(srv, as, &peer, PROTO_TCP);
	if (refusal) {
		free(c);
		close(fd);
		serving_refuse(srv, as, PROTO_TCP, (const struct sockaddr *)&peer, refusal);
		return NULL;
	}
	if (program) {
		program_tcp(srv, as, fd, &peer);
		return NULL;
	}
	*c = (struct conn){ .io.fd = fd, .owner = as, .server = srv, .next = as->conns, .started_usec = now,
			    .active_usec = now, .peer = peer };
	/* Echoed requests go out at once; a one-shot reply is a single write anyway. */
	if (as->service->handler->tcp != TCP_ONESHOT)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (as->conns)
		as->conns->prev = c;
	as->conns = c;
	counter_add(&as->counters.tcp_active, 1);
	return c;
}

int tcp_save_all(struct active_service *as, tcp_save_fn *save, void *ctx)
{
	int n = 0;

	for (struct conn *c = as->conns; c; c = c->next) {
		struct tcp_conn_state st = {
			.stream_pos = c->stream_pos, .bytes_in = c->bytes_in, .bytes_out = c->bytes_out,
			.started_usec = c->started_usec, .active_usec = c->active_usec,
			.read_closed = c->read_closed, .close_when_flushed = c->close_when_flushed,
			.out = c->out ? c->out + c->out_start : NULL,
			.out_len = c->out ? c->out_end - c->out_start : 0,
		};
		if (save(ctx, c->io.fd, &st) == 0)
			n++;
	}
	return n;
}

int tcp_restore(struct server *srv, struct active_service *as, int fd, const struct tcp_conn_state *st)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct conn *c;

	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || st->out_len > CONN_BUF_SIZE ||
	    !(as->service->protocols & PROTO_TCP) || serving_runs_program(as)) {
		close(fd);
		return -EINVAL;
	}
	if (!(c = conn_admit(srv, as, fd, &peer)))
		return -EPERM;
	c->stream_pos = st->stream_pos;
	c->bytes_in = st->bytes_in;
	c->bytes_out = st->bytes_out;
	c->started_usec = st->started_usec;
	c->active_usec = st->active_usec;
	c->read_closed = st->read_closed;
	c->close_when_flushed = st->close_when_flushed;
	if (st->out_len && (c->out = buf_take(srv))) {
		memcpy(c->out, st->out, st->out_len);
		c->out_end = st->out_len;
	}
	conn_update_events(c);
	return 0;
}

/* Takes what waits on l, at most ACCEPT_BATCH clients; returns how many. */
static int accept_batch(struct listener *l)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && l->io.fn; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(l->io.fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd >= l->server->fd_limit) {
			close(fd);
			serving_refuse(l->server, l->owner, PROTO_TCP, (struct sockaddr *)&peer, "open files limit");
			continue;
		}
		if (fd >= 0) {
			if ((c = conn_admit(l->server, l->owner, fd, &peer))) {
				counter_add(&l->owner->counters.tcp_accepted, 1);
				conn_start(c);
			}
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Leave the queue to the kernel and try again on the next tick. */
			counter_add(&l->owner->counters.tcp_refused, 1);
			if (log_ratelimit_pass(&l->server->client_log, now_usec()))
				log_warning("%s: cannot accept on %s: %s; pausing", l->owner->service->name,
					    l->addr_text, strerror(errno));
			loop_remove(l->server->loop, &l->io);
			l->paused = true;
		}
		break;
	}
	return i;
}

/* Clients that come closer together than ACCEPT_POLL_USEC are taken by a look at the queue
 * every ACCEPT_POLL_USEC rather than by a wake-up each: waking a loop asleep on its listener
 * takes an interrupt to its CPU, paid by whoever queued the client (on loopback, the
 * client's own connect()). A look that finds none keeps looking until ACCEPT_IDLE_USEC
 * after the last client: a lull of a few looks under load would otherwise cost a wake-up
 * each time load resumes. After a full batch, epoll says at once that more wait. */
static void accept_polled(struct listener *l)
{
	uint64_t now = now_usec();
	int taken = accept_batch(l);
	bool busy = taken < ACCEPT_BATCH &&
		    (taken > 0 ? l->polling || now - l->clients_usec < ACCEPT_POLL_USEC
			       : l->polling && now - l->clients_usec < ACCEPT_IDLE_USEC);

	if (taken > 0)
		l->clients_usec = now;
	l->polling = busy && l->io.fn && loop_defer(l->server->loop, &l->io, now + ACCEPT_POLL_USEC) == 0;
}

void tcp_accept(struct listener *l)
{
	if (serving_waits(l->owner)) {
		program_wait(l);        /* the program accepts */
		return;
	}
	accept_polled(l);
}
