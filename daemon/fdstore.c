#include "fdstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "serving.h"

#define STATE_MAGIC "minetd state 1\n"
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

static int save_conn(void *ctx, int fd, const struct conn_state *st)
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
		conn_save_all(as, save_conn, &s);
	}
	snprintf(name, sizeof(name), STORED_STATE "%u", loop);
	if (notify_store(s.state, name) < 0)
		log_error("cannot keep the connections' state for the next start");
	else
		log_info("%u connections and %u sockets kept by systemd for the next start", s.n, listeners);
	close(s.state);
}

static struct inherited_socket *stored(struct server *srv, const char *name)
{
	for (size_t i = 0; i < srv->n_stored; i++)
		if (srv->stored[i].fd >= 0 && strcmp(srv->stored[i].name, name) == 0)
			return &srv->stored[i];
	return NULL;
}

static struct active_service *service_named(struct server *srv, const char *name)
{
	for (struct active_service *as = srv->services; as; as = as->next)
		if (strcmp(as->service->name, name) == 0)
			return as;
	return NULL;
}

/* The connections of one loop's state memfd; returns how many are served again. */
static unsigned restore_loop(struct server *srv, const char *loop, FILE *state)
{
	char magic[sizeof(STATE_MAGIC)], name[NAME_LEN * 2];
	uint8_t *out = malloc(CONN_BUF_SIZE);
	struct record r;
	unsigned n = 0;

	if (!out || !fgets(magic, sizeof(magic), state) || strcmp(magic, STATE_MAGIC) != 0) {
		free(out);
		return 0;
	}
	while (fread(&r, sizeof(r), 1, state) == 1 && r.out_len <= CONN_BUF_SIZE &&
	       fread(out, 1, r.out_len, state) == r.out_len) {
		struct conn_state st = {
			.stream_pos = r.stream_pos, .bytes_in = r.bytes_in, .bytes_out = r.bytes_out,
			.started_usec = r.started_usec, .active_usec = r.active_usec,
			.read_closed = r.read_closed, .close_when_flushed = r.close_when_flushed,
			.out = out, .out_len = r.out_len,
		};
		struct inherited_socket *sock;
		struct active_service *as;
		r.service[NAME_LEN] = '\0';
		snprintf(name, sizeof(name), STORED_CONN "%s%u", loop, r.index);
		if (!(sock = stored(srv, name)))
			continue;
		if (!(as = service_named(srv, r.service)))
			close(sock->fd);
		else if (conn_restore(srv, as, sock->fd, &st) == 0)
			n++;
		sock->fd = -1;
	}
	free(out);
	return n;
}

void fdstore_restore(struct server *srv)
{
	unsigned n = 0;

	for (size_t i = 0; i < srv->n_stored; i++) {
		struct inherited_socket *sock = &srv->stored[i];
		const char *loop = sock->name + strlen(STORED_STATE);
		FILE *state;
		if (strncmp(sock->name, STORED_STATE, strlen(STORED_STATE)) != 0 || sock->fd < 0)
			continue;
		lseek(sock->fd, 0, SEEK_SET);
		if ((state = fdopen(sock->fd, "r"))) {
			char prefix[NAME_LEN];
			snprintf(prefix, sizeof(prefix), "%s.", loop);
			n += restore_loop(srv, prefix, state);
			fclose(state);
		} else {
			close(sock->fd);
		}
		sock->fd = -1;
	}
	/* What was stored is ours now (or gone): systemd must not keep a copy open. */
	for (size_t i = 0; i < srv->n_stored; i++) {
		if (srv->stored[i].fd >= 0)
			close(srv->stored[i].fd);
		notify_unstore(srv->stored[i].name);
		free(srv->stored[i].name);
	}
	if (srv->n_stored)
		log_info("%u connections served again after a restart", n);
	free(srv->stored);
	srv->stored = NULL;
	srv->n_stored = 0;
}
