/* Watching inetd.conf and /etc/inetd.d with inotify: a change is a reload. */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

/* What a file's directory reports about it: written, created, renamed in or out, deleted.
 * A directory's own contents: the same for any name in it. */
#define DIR_EVENTS (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | \
		    IN_ONLYDIR)

struct watched {
	char *path;
	int dir_wd;             /* its directory's watch */
	const char *name;       /* its name in that directory (inside path) */
	int self_wd;            /* a directory: its own watch, else -1 */
};

struct watch {
	struct loop *loop;
	struct loop_io inotify, quiet;
	watch_fn *fn;
	void *ctx;
	struct watched *paths;
	size_t n_paths;
};

static void arm_quiet(struct watch *w)
{
	struct itimerspec its = { .it_value = { 0, WATCH_QUIET_USEC * 1000 } };

	timerfd_settime(w->quiet.fd, 0, &its, NULL);
}

static bool concerns(const struct watch *w, const struct inotify_event *e)
{
	for (size_t i = 0; i < w->n_paths; i++) {
		const struct watched *p = &w->paths[i];
		if (e->wd == p->self_wd)
			return true;
		if (e->wd == p->dir_wd && e->len && strcmp(e->name, p->name) == 0)
			return true;
	}
	return false;
}

static void on_inotify(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct watch *w = container_of(io, struct watch, inotify);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	(void)loop;
	(void)events;
	while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			/* a lost event may have been ours */
			if ((e->mask & IN_Q_OVERFLOW) || concerns(w, e))
				changed = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (changed)
		arm_quiet(w);
}

static void on_quiet(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct watch *w = container_of(io, struct watch, quiet);
	uint64_t expired;

	(void)loop;
	(void)events;
	if (read(io->fd, &expired, sizeof(expired)) == (ssize_t)sizeof(expired))
		w->fn(w->ctx);
}

int watch_new(struct loop *loop, watch_fn *fn, void *ctx, struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	int in = -1, quiet = -1, r;

	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->fn = fn;
	w->ctx = ctx;
	if ((in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    (quiet = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = loop_add(loop, &w->inotify, in, LOOP_IN, on_inotify)) < 0)
		goto fail;
	if ((r = loop_add(loop, &w->quiet, quiet, LOOP_IN, on_quiet)) < 0) {
		loop_remove(loop, &w->inotify);
		goto fail;
	}
	*out = w;
	return 0;
fail:
	if (in >= 0)
		close(in);
	if (quiet >= 0)
		close(quiet);
	free(w);
	return r;
}

static bool wd_in(const struct watched *paths, size_t n, int wd)
{
	for (size_t i = 0; i < n; i++)
		if (paths[i].dir_wd == wd || paths[i].self_wd == wd)
			return true;
	return false;
}

/* Forgets paths[0..n), and their watches but those the new set keeps. */
static void forget(struct watch *w, struct watched *paths, size_t n, const struct watched *kept, size_t n_kept)
{
	for (size_t i = 0; i < n; i++) {
		int wds[2] = { paths[i].dir_wd, paths[i].self_wd };
		for (int k = 0; k < 2; k++)
			/* a directory watched for two paths has one watch: a second removal fails */
			if (wds[k] >= 0 && !wd_in(kept, n_kept, wds[k]))
				inotify_rm_watch(w->inotify.fd, wds[k]);
		free(paths[i].path);
	}
	free(paths);
}

/* path's directory, and path itself when it is a directory. false: not watched. */
static bool watch_one(struct watch *w, const char *path, struct watched *p)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash || slash - path >= (ptrdiff_t)sizeof(dir) || !(p->path = strdup(path)))
		return false;
	memcpy(dir, path, slash - path);
	dir[slash == path ? 1 : slash - path] = '\0';
	p->name = p->path + (slash - path) + 1;
	p->self_wd = -1;
	if ((p->dir_wd = inotify_add_watch(w->inotify.fd, dir, DIR_EVENTS)) < 0) {
		log_warning("%s: changes to it are not noticed: its directory %s: %s", path, dir,
			    strerror(errno));
		free(p->path);
		return false;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		p->self_wd = inotify_add_watch(w->inotify.fd, path, DIR_EVENTS);
	return true;
}

/* The new watches are added before the old ones go: a watch both sets have (the same
 * directory gives the same watch) never stops, so no change in between goes unseen. */
int watch_set(struct watch *w, char *const *paths, size_t n)
{
	struct watched *now = n ? calloc(n, sizeof(*now)) : NULL;
	size_t n_now = 0;

	if (n && !now)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (watch_one(w, paths[i], &now[n_now]))
			n_now++;
	forget(w, w->paths, w->n_paths, now, n_now);
	w->paths = now;
	w->n_paths = n_now;
	return 0;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	forget(w, w->paths, w->n_paths, NULL, 0);
	loop_remove(w->loop, &w->inotify);
	loop_remove(w->loop, &w->quiet);
	close(w->inotify.fd);
	close(w->quiet.fd);
	free(w);
}
