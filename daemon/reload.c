#include "reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "loop.h"

#define EXIT_WAIT_SEC 2

struct reload {
	struct loop *loop;
	struct loop_io done;            /* eventfd: the thread has loaded */
	pthread_t thread;
	bool running;
	const char *path;
	reload_load_fn *load_fn;
	reload_done_fn *done_fn;
	void *ctx;
	/* what the thread hands over */
	struct config *config;
	struct config_errors errors;
	int result;
};

static void *load(void *arg)
{
	struct reload *rl = arg;
	uint64_t one = 1;

	rl->result = rl->load_fn(rl->ctx, &rl->config, &rl->errors);
	if (write(rl->done.fd, &one, sizeof(one)) != sizeof(one))
		abort();        /* an eventfd takes this write, or the loop would wait forever */
	return NULL;
}

static void loaded(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct reload *rl = container_of(io, struct reload, done);
	uint64_t value;

	(void)loop;
	(void)events;
	if (read(io->fd, &value, sizeof(value)) != sizeof(value))
		return;
	pthread_join(rl->thread, NULL);
	rl->running = false;
	for (size_t i = 0; i < rl->errors.n; i++)
		log_error("%s", rl->errors.lines[i]);
	if (rl->result == -ENOMEM && rl->errors.n == 0)
		log_error("%s: out of memory", rl->path);
	rl->done_fn(rl->ctx, rl->result < 0 ? NULL : rl->config, &rl->errors);
	config_errors_clear(&rl->errors);
}

int reload_new(struct loop *loop, const char *path, reload_load_fn *load_fn, reload_done_fn *done, void *ctx,
	       struct reload **out)
{
	struct reload *rl = calloc(1, sizeof(*rl));
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), r;

	if (!rl || fd < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		free(rl);
		if (fd >= 0)
			close(fd);
		return r;
	}
	*rl = (struct reload){ .loop = loop, .path = path, .load_fn = load_fn, .done_fn = done, .ctx = ctx };
	if ((r = loop_add(loop, &rl->done, fd, LOOP_IN, loaded)) < 0) {
		close(fd);
		free(rl);
		return r;
	}
	*out = rl;
	return 0;
}

int reload_start(struct reload *rl)
{
	int r;

	rl->config = NULL;
	if ((r = pthread_create(&rl->thread, NULL, load, rl)) != 0)
		return -r;
	rl->running = true;
	return 0;
}

bool reload_running(const struct reload *rl)
{
	return rl->running;
}

void reload_free(struct reload *rl)
{
	struct timespec deadline;

	if (!rl)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += EXIT_WAIT_SEC;
	if (rl->running && pthread_timedjoin_np(rl->thread, NULL, &deadline) != 0)
		return;         /* still waiting for a resolver: the exit ends it */
	if (rl->running) {
		config_free(rl->config);
		config_errors_clear(&rl->errors);
	}
	loop_remove(rl->loop, &rl->done);
	close(rl->done.fd);
	free(rl);
}
