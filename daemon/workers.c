#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "fdstore.h"
#include "log.h"
#include "priv.h"
#include "programs.h"
#include "loop.h"
#include "server.h"

enum request { REQUEST_APPLY, REQUEST_STOP };

struct worker {
	unsigned number;                /* the main loop is 0 */
	pthread_t thread;
	bool running;
	struct loop *loop;
	struct server *server;
	struct loop_io control, tick;
	int done_fd;
	enum request request;           /* set by the main thread before it writes control */
	struct config *config;
	int result;
};

struct workers {
	struct worker *w;
	size_t n;
};

static void on_control(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct worker *w = container_of(io, struct worker, control);
	uint64_t value = 1;

	(void)events;
	if (read(io->fd, &value, sizeof(value)) != sizeof(value))
		return;
	if (w->request == REQUEST_APPLY) {
		w->result = server_apply(w->server, w->config, false);
		if (w->result < 0)
			config_free(w->config);
	} else {
		fdstore_save(w->server, w->number);
		server_stop(w->server);
		loop_stop(loop);
		w->result = 0;
	}
	value = 1;
	if (write(w->done_fd, &value, sizeof(value)) != sizeof(value))
		log_error("worker: cannot answer the main thread: %s", strerror(errno));
}

static void on_tick(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct worker *w = container_of(io, struct worker, tick);

	(void)loop;
	(void)events;
	server_tick(w->server);
}

/* Asks a worker's thread to do something and waits until it has. */
static int worker_request(struct worker *w, enum request request, struct config *config)
{
	uint64_t value = 1;

	w->request = request;
	w->config = config;
	if (write(w->control.fd, &value, sizeof(value)) != sizeof(value) ||
	    read(w->done_fd, &value, sizeof(value)) != sizeof(value))
		return -errno;
	return w->result;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	int r = loop_run(w->loop);

	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	return NULL;
}

static int worker_init(struct worker *w, struct server *main, unsigned loops)
{
	int efd, r;

	w->done_fd = eventfd(0, EFD_CLOEXEC);
	if (w->done_fd < 0)
		return -errno;
	if ((r = loop_new(&w->loop)) < 0 || (r = server_new(w->loop, main->clients, &w->server)) < 0 ||
	    (r = server_share_inherited(w->server, main)) < 0)
		return r;
	/* a connection of its own to the helper, for its binds and its programs' events */
	if (main->priv && ((r = priv_attach(main->priv, &w->server->priv)) < 0 ||
			   (r = priv_watch(w->server->priv, w->loop, programs_event, w->server)) < 0))
		return r;
	w->server->loops = loops;
	w->server->loop_index = w->number;
	w->server->fd_limit = main->fd_limit;
	r = server_apply(w->server, config_ref(main->config), false);
	if (r < 0) {
		config_free(main->config);
		return r;
	}
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	if ((r = loop_add(w->loop, &w->control, efd, LOOP_IN, on_control)) < 0) {
		close(efd);
		return r;
	}
	if ((r = loop_add_timer(w->loop, &w->tick, SERVER_TICK_USEC, on_tick)) < 0)
		return r;
	r = -pthread_create(&w->thread, NULL, worker_run, w);
	w->running = r == 0;
	return r;
}

static void worker_free(struct worker *w)
{
	if (w->running) {
		worker_request(w, REQUEST_STOP, NULL);
		pthread_join(w->thread, NULL);
	}
	if (w->control.fn)
		close(w->control.fd);
	if (w->tick.fn)
		close(w->tick.fd);
	if (w->server) {
		struct priv *p = w->server->priv;
		server_free(w->server);
		priv_close(p);
	}
	loop_free(w->loop);
	if (w->done_fd >= 0)
		close(w->done_fd);
}

int workers_start(struct server *main, unsigned n, struct server **servers, struct workers **out)
{
	struct workers *ws = calloc(1, sizeof(*ws));
	int r = 0;

	*out = NULL;
	if (!ws || !(ws->w = calloc(n + 1, sizeof(*ws->w)))) {
		free(ws);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		ws->w[i].done_fd = -1;
		ws->w[i].number = i + 1;
		r = worker_init(&ws->w[i], main, n + 1);
		ws->n++;
		if (r < 0) {
			log_error("cannot start event loop %u: %s", i + 2, strerror(-r));
			workers_stop(ws);
			return r;
		}
		servers[i] = ws->w[i].server;
	}
	*out = ws;
	return 0;
}

int workers_apply(struct workers *ws, struct config *config)
{
	int first = 0;

	for (size_t i = 0; ws && i < ws->n; i++) {
		int r = worker_request(&ws->w[i], REQUEST_APPLY, config_ref(config));
		if (r < 0) {
			log_error("event loop %zu keeps its previous configuration: %s", i + 2, strerror(-r));
			if (!first)
				first = r;
		}
	}
	return first;
}

void workers_stop(struct workers *ws)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->n; i++)
		worker_free(&ws->w[i]);
	free(ws->w);
	free(ws);
}
