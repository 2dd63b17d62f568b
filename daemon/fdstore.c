#include "fdstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "tcp.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "programs.h"
#include "server.h"
#include "serving.h"

#define STATE_MAGIC "minetd state 1\n"
#define STORED_PREFIX "minetd."
#define STORED_LISTENER "minetd.listen."        /* a socket minetd bound itself */
#define STORED_CONN "minetd.conn."              /* a client connection */
#define STORED_STATE "minetd.state."            /* a memfd with the connections' state */
#define STORED_STDERR "minetd.stderr."          /* a program's stderr, by the program's id */
#define NAME_LEN 64

/* One connection in the state memfd; out_len bytes of unsent output follow it. */
struct record {
	uint32_t index;                 /* its socket is STORED_CONN "<loop>.<index>" */
	char service[NAME_LEN + 1];
	uint8_t read_closed, close_when_flushed;
	uint32_t out_len;
	uint64_t stream_pos, bytes_in, bytes_out, started_usec, active_usec;
};

struct saving {
	int state;                      /* the memfd */
	unsigned loop, n;
	const char *service;
};

static int save_conn(void *ctx, int fd, const struct tcp_conn_state *st)
{
	struct saving *s = ctx;
	struct record r = {
		.index = s->n, .read_closed = st->read_closed, .close_when_flushed = st->close_when_flushed,
		.out_len = st->out_len, .stream_pos = st->stream_pos, .bytes_in = st->bytes_in,
		.bytes_out = st->bytes_out, .started_usec = st->started_usec, .active_usec = st->active_usec,
	};
	char name[NAME_LEN];

	snprintf(r.service, sizeof(r.service), "%s", s->service);
	snprintf(name, sizeof(name), STORED_CONN "%u.%u", s->loop, s->n);
	if (write(s->state, &r, sizeof(r)) != sizeof(r) ||
	    (r.out_len && write(s->state, st->out, r.out_len) != (ssize_t)r.out_len) ||
	    notify_store(fd, name) < 0)
		return -1;
	s->n++;
	return 0;
}

/* A program's stderr: the program runs on, and the next minetd reads it again. */
static int save_stderr(void *ctx, uint64_t id, int fd)
{
	char name[NAME_LEN];

	(void)ctx;
	snprintf(name, sizeof(name), STORED_STDERR "%" PRIu64, id);
	return notify_store(fd, name);
}

void fdstore_save(struct server *srv, unsigned loop)
{
	struct saving s = { .loop = loop };
	unsigned listeners = 0;
	char name[NAME_LEN];

	if (!notify_can_store())
		return;
	s.state = memfd_create("minetd-state", MFD_CLOEXEC);
	if (s.state < 0 || write(s.state, STATE_MAGIC, strlen(STATE_MAGIC)) < 0) {
		log_error("cannot keep the connections for the next start: %s", strerror(errno));
		if (s.state >= 0)
			close(s.state);
		return;
	}
	for (size_t i = 0; i < srv->n_listeners; i++) {
		snprintf(name, sizeof(name), STORED_LISTENER "%u.%zu", loop, i);
		if (!srv->listeners[i]->inherited && notify_store(srv->listeners[i]->io.fd, name) == 0)
			listeners++;
	}
	for (struct active_service *as = srv->services; as; as = as->next) {
		s.service = as->service->name;
		tcp_save_all(as, save_conn, &s);
	}
	programs_save_stderr(srv, save_stderr, NULL);
	snprintf(name, sizeof(name), STORED_STATE "%u", loop);
	if (notify_store(s.state, name) < 0)
		log_error("cannot keep the connections' state for the next start");
	else
		log_info("%u connections and %u sockets kept by systemd for the next start", s.n, listeners);
	close(s.state);
}

/* What the last run left in systemd's store, as it came back: a descriptor (-1 once it is
 * served again or closed) and its name, which the store must forget at the end. */
struct stored {
	int fd;
	int type;                       /* a listener's: SOCK_STREAM or SOCK_DGRAM */
	char *name;
};

struct fdstore {
	struct stored *items;
	size_t n;
};

static bool named(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Why a stored descriptor is not what its name says, or NULL when it is. */
static const char *unfit(const struct inherited_socket *sock)
{
	struct stat st;

	if (named(sock->name, STORED_LISTENER))
		return sock->type ? NULL : "not a listening TCP or a UDP socket";
	if (named(sock->name, STORED_CONN))
		return sd_is_socket_inet(sock->fd, AF_UNSPEC, SOCK_STREAM, 0, 0) > 0 ? NULL :
		       "not a connected TCP socket";
	if (named(sock->name, STORED_STATE))
		return fstat(sock->fd, &st) == 0 && S_ISREG(st.st_mode) ? NULL : "not a regular file";
	if (named(sock->name, STORED_STDERR))
		return fstat(sock->fd, &st) == 0 && S_ISFIFO(st.st_mode) ? NULL : "not a pipe";
	return "not a name minetd stores";
}

int fdstore_take(struct inherited_socket *socks, size_t *n, struct fdstore **out)
{
	struct fdstore *store = calloc(1, sizeof(*store));
	size_t kept = 0;
	int r = 0;

	if (store && !(store->items = calloc(*n + 1, sizeof(*store->items))))
		r = -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		struct inherited_socket *sock = &socks[i];
		const char *why;
		if (!named(sock->name, STORED_PREFIX)) {
			socks[kept++] = *sock;
			continue;
		}
		if (!store || r < 0) {  /* out of memory: nothing is kept */
			close(sock->fd);
			free(sock->name);
			continue;
		}
		if ((why = unfit(sock))) {
			log_warning("'%s' (fd %d) from systemd's store is %s; closing it", sock->name, sock->fd,
				    why);
			close(sock->fd);
			sock->fd = -1;
		}
		store->items[store->n++] = (struct stored){ sock->fd, sock->type, sock->name };
	}
	*n = kept;
	*out = store;
	return store && r == 0 ? 0 : -ENOMEM;
}

void fdstore_adopt_listeners(struct fdstore *store, struct server *srv)
{
	for (size_t i = 0; store && i < store->n; i++) {
		struct stored *s = &store->items[i];
		if (s->fd < 0 || !named(s->name, STORED_LISTENER))
			continue;
		if (server_adopt_listener(srv, s->fd, s->type) < 0)
			close(s->fd);
		s->fd = -1;
	}
}

static struct stored *find(struct fdstore *store, const char *name)
{
	for (size_t i = 0; i < store->n; i++)
		if (store->items[i].fd >= 0 && strcmp(store->items[i].name, name) == 0)
			return &store->items[i];
	return NULL;
}

static struct active_service *service_named(struct server *srv, const char *name)
{
	for (struct active_service *as = srv->services; as; as = as->next)
		if (strcmp(as->service->name, name) == 0)
			return as;
	return NULL;
}

static bool read_at(int fd, off_t *offset, void *buf, size_t len)
{
	if (pread(fd, buf, len, *offset) != (ssize_t)len)
		return false;
	*offset += (off_t)len;
	return true;
}

/* The connections of one loop's state file (loop: "<loop>."); a record names a stored
 * connection of that loop, and there are never more records than stored descriptors.
 * Returns how many are served again. */
static unsigned restore_loop(struct fdstore *store, struct server *srv, const char *loop, int state)
{
	char magic[sizeof(STATE_MAGIC) - 1], name[NAME_LEN * 2];
	uint8_t *out = malloc(CONN_BUF_SIZE);
	off_t offset = 0;
	struct record r;
	unsigned n = 0;

	if (!out || !read_at(state, &offset, magic, sizeof(magic)) || memcmp(magic, STATE_MAGIC, sizeof(magic))) {
		free(out);
		return 0;
	}
	for (size_t i = 0; i < store->n && read_at(state, &offset, &r, sizeof(r)) &&
			   r.out_len <= CONN_BUF_SIZE && read_at(state, &offset, out, r.out_len); i++) {
		struct tcp_conn_state st = {
			.stream_pos = r.stream_pos, .bytes_in = r.bytes_in, .bytes_out = r.bytes_out,
			.started_usec = r.started_usec, .active_usec = r.active_usec,
			.read_closed = r.read_closed, .close_when_flushed = r.close_when_flushed,
			.out = out, .out_len = r.out_len,
		};
		struct stored *sock;
		struct active_service *as;
		r.service[NAME_LEN] = '\0';
		snprintf(name, sizeof(name), STORED_CONN "%s%u", loop, r.index);
		if (!(sock = find(store, name)))
			continue;
		if (!(as = service_named(srv, r.service)))
			close(sock->fd);
		else if (tcp_restore(srv, as, sock->fd, &st) == 0)
			n++;
		sock->fd = -1;
	}
	free(out);
	return n;
}

void fdstore_restore(struct fdstore *store, struct server *srv)
{
	unsigned n = 0;

	for (size_t i = 0; store && i < store->n; i++) {
		struct stored *s = &store->items[i];
		char prefix[NAME_LEN];
		if (s->fd >= 0 && named(s->name, STORED_STDERR)) {
			programs_stash_stderr(srv, strtoull(s->name + strlen(STORED_STDERR), NULL, 10), s->fd);
			s->fd = -1;
		}
		if (s->fd < 0 || !named(s->name, STORED_STATE))
			continue;
		snprintf(prefix, sizeof(prefix), "%s.", s->name + strlen(STORED_STATE));
		n += restore_loop(store, srv, prefix, s->fd);
		close(s->fd);
		s->fd = -1;
	}
	/* What was stored is ours now (or gone): systemd must not keep a copy open. */
	for (size_t i = 0; store && i < store->n; i++) {
		if (store->items[i].fd >= 0)
			close(store->items[i].fd);
		notify_unstore(store->items[i].name);
		free(store->items[i].name);
	}
	if (store && store->n)
		log_info("%u connections served again after a restart", n);
	if (store)
		free(store->items);
	free(store);
}
