#include "priv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define CALL_TIMEOUT_MSEC 10000
#define HELPER_NAME "minetd-helper"
#ifndef MINETD_USER
#define MINETD_USER "_minetd"   /* the package's system user, also minetd.service's */
#endif

struct priv {
	int fd;
	struct loop *loop;
	struct loop_io io;              /* fd, for events */
	struct loop_io pending;         /* an eventfd: events read during a call wait for it */
	priv_event_fn *fn;
	void *ctx;
	void (*end_fn)(void *ctx);
	void *end_ctx;
	uint32_t seq;
	struct privsep_msg *queue;
	size_t n_queue, cap_queue;
	pid_t helper;                   /* by hand: the helper this process started, else 0 */
};

/* The helper's binary: beside ours (a build tree, or /usr/sbin), else where it is installed. */
static void helper_path(char *path, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", path, size - sizeof(HELPER_NAME) - 1);
	char *slash;

	if (n > 0) {
		path[n] = '\0';
		if ((slash = strrchr(path, '/'))) {
			memcpy(slash + 1, HELPER_NAME, sizeof(HELPER_NAME));
			if (access(path, X_OK) == 0)
				return;
		}
	}
	snprintf(path, size, "%s", MINETD_HELPER_PATH);
}

/* By hand: the helper as a child, in a process group of its own (a terminal's Ctrl-C is
 * minetd's to handle: the helper ends when minetd's connection does). */
static int start_helper(const char *config_path, int *fd, pid_t *pid)
{
	int pair[2];
	char path[PATH_MAX];

	helper_path(path, sizeof(path));
	if (access(path, X_OK) < 0) {
		int r = -errno;
		log_error("%s: %s", path, strerror(-r));
		return r;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	*pid = fork();
	if (*pid == 0) {
		setpgid(0, 0);
		if (dup2(pair[1], 3) == 3)
			execl(path, HELPER_NAME, "-c", config_path, "--connection", "3", (char *)NULL);
		_exit(127);
	}
	close(pair[1]);
	if (*pid < 0) {
		close(pair[0]);
		return -errno;
	}
	*fd = pair[0];
	return 0;
}

static int connect_helper(const char *path, int *fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

static struct priv *priv_new(int fd)
{
	struct priv *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = fd;
	p->io.fd = p->pending.fd = -1;
	return p;
}

int priv_open(struct loop *loop, const char *path, const char *config_path, struct priv **out)
{
	pid_t pid = 0;
	int fd, r = path ? connect_helper(path, &fd) : start_helper(config_path, &fd, &pid);

	if (r < 0)
		return r;
	if (!(*out = priv_new(fd))) {
		close(fd);
		return -ENOMEM;
	}
	(*out)->helper = pid;
	(*out)->loop = loop;
	return 0;
}

static void dispatch(struct priv *p, const struct privsep_msg *m)
{
	if (p->fn)
		p->fn(p->ctx, m);
}

/* An event read while a call waited: it is dispatched from the loop, after the call. */
static void queue(struct priv *p, const struct privsep_msg *m)
{
	uint64_t one = 1;

	if (p->n_queue == p->cap_queue) {
		size_t cap = p->cap_queue ? 2 * p->cap_queue : 16;
		struct privsep_msg *q = realloc(p->queue, cap * sizeof(*q));
		if (!q) {
			log_error("out of memory for an event of the helper (program %llu)", (unsigned long long)m->id);
			return;
		}
		p->queue = q;
		p->cap_queue = cap;
	}
	p->queue[p->n_queue++] = *m;
	if (p->pending.fd >= 0 && write(p->pending.fd, &one, sizeof(one)) < 0)
		log_error("cannot wake the loop for the helper's events: %s", strerror(errno));
}

static void on_pending(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct priv *p = container_of(io, struct priv, pending);
	uint64_t value;

	(void)loop;
	(void)events;
	if (read(io->fd, &value, sizeof(value)) < 0)
		return;
	/* one at a time: a handler may make a call that queues more */
	for (size_t i = 0; i < p->n_queue; i++) {
		struct privsep_msg m = p->queue[i];
		dispatch(p, &m);
	}
	p->n_queue = 0;
}

static void on_io(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct priv *p = container_of(io, struct priv, io);
	struct privsep_msg m;
	int fds[PRIVSEP_FDS_MAX];
	size_t n;

	(void)loop;
	(void)events;
	for (int i = 0; i < 64; i++) {
		int r = privsep_recv(p->fd, &m, fds, &n);
		for (size_t k = 0; k < n; k++)
			close(fds[k]);          /* events carry none */
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			log_error("the connection to minetd-helper ended: %s", strerror(-r));
			loop_remove(p->loop, &p->io);
			if (p->end_fn)
				p->end_fn(p->end_ctx);
			return;
		}
		if (p->n_queue)
			queue(p, &m);   /* after what a call left: in order */
		else
			dispatch(p, &m);
	}
}

int priv_watch(struct priv *p, struct loop *loop, priv_event_fn *fn, void *ctx)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), r;

	if (efd < 0)
		return -errno;
	p->loop = loop;
	p->fn = fn;
	p->ctx = ctx;
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	if ((r = loop_add(loop, &p->pending, efd, LOOP_IN, on_pending)) < 0) {
		close(efd);
		return r;
	}
	if (p->n_queue) {               /* what came before: dispatched from the loop */
		uint64_t one = 1;
		if (write(efd, &one, sizeof(one)) < 0)
			return -errno;
	}
	return loop_add(loop, &p->io, p->fd, LOOP_IN, on_io);
}

void priv_on_end(struct priv *p, void (*fn)(void *ctx), void *ctx)
{
	p->end_fn = fn;
	p->end_ctx = ctx;
}

/* Sends req and waits for its answer; the events that come meanwhile (a HELLO's RUNNING
 * ones too) are queued, for the loop to dispatch once the caller is done. */
static int call(struct priv *p, struct privsep_msg *req, const int *fds, size_t n_fds,
		struct privsep_msg *answer, int *fd)
{
	int got[PRIVSEP_FDS_MAX], r;
	size_t n;

	*answer = privsep_message(PRIVSEP_OK);
	req->seq = ++p->seq;
	if ((r = privsep_send(p->fd, req, fds, n_fds)) < 0)
		return r;
	for (;;) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		if ((r = poll(&pfd, 1, CALL_TIMEOUT_MSEC)) <= 0)
			return r == 0 ? -ETIMEDOUT : errno == EINTR ? -EINTR : -errno;
		if ((r = privsep_recv(p->fd, answer, got, &n)) == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		bool mine = answer->seq == req->seq;
		if (mine && fd && n > 0) {
			*fd = got[0];
			got[0] = -1;
		}
		for (size_t k = 0; k < n; k++)
			if (got[k] >= 0)
				close(got[k]);
		if (mine && answer->type != PRIVSEP_RUNNING)
			return answer->type == PRIVSEP_OK || answer->type == PRIVSEP_BOUND ? 0 :
			       answer->value > 0 ? -answer->value : -EPROTO;
		else
			queue(p, answer);
	}
}

static int simple_call(struct priv *p, enum privsep_type type, char *why)
{
	struct privsep_msg req = privsep_message(type), answer;
	int r = call(p, &req, NULL, 0, &answer, NULL);

	if (why)
		snprintf(why, PRIVSEP_TEXT_MAX + 1, "%s", r < 0 && answer.type == PRIVSEP_ERROR ? answer.text :
			 r < 0 ? strerror(-r) : "");
	return r;
}

int priv_hello(struct priv *p, char *why)
{
	return simple_call(p, PRIVSEP_HELLO, why);
}

int priv_reload(struct priv *p, char *why)
{
	return simple_call(p, PRIVSEP_RELOAD, why);
}

int priv_end_all(struct priv *p)
{
	return simple_call(p, PRIVSEP_END_ALL, NULL);
}

int priv_attach(struct priv *main, struct priv **out)
{
	struct privsep_msg req = privsep_message(PRIVSEP_ATTACH), answer;
	int pair[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	r = call(main, &req, &pair[1], 1, &answer, NULL);
	close(pair[1]);
	if (r == 0 && !(*out = priv_new(pair[0])))
		r = -ENOMEM;
	if (r < 0)
		close(pair[0]);
	return r;
}

int priv_bind(struct priv *p, const char *service, unsigned proto, unsigned addr_index, unsigned loop,
	      unsigned loops, int *family, struct sockaddr_storage *bound, int *fd, char *why)
{
	struct privsep_msg req = privsep_message(PRIVSEP_BIND), answer;
	int r;

	snprintf(req.service, sizeof(req.service), "%s", service);
	req.proto = (uint8_t)proto;
	req.addr_index = (uint16_t)addr_index;
	req.loop = (uint16_t)loop;
	req.loops = (uint16_t)loops;
	req.code = *family;
	*fd = -1;
	r = call(p, &req, NULL, 0, &answer, fd);
	if (r == 0 && *fd < 0)
		r = -EPROTO;
	if (r == 0) {
		*bound = answer.addr;
		*family = answer.code;
	}
	snprintf(why, PRIVSEP_TEXT_MAX + 1, "%s", r < 0 && answer.type == PRIVSEP_ERROR ? answer.text : "");
	return r;
}

int priv_spawn(struct priv *p, uint64_t id, const char *service, unsigned proto, enum privsep_stdio stdio,
	       const struct sockaddr_in6 *peer, const struct sockaddr_storage *local, const int *fds, size_t n)
{
	struct privsep_msg req = privsep_message(PRIVSEP_SPAWN);

	req.seq = ++p->seq;
	req.id = id;
	snprintf(req.service, sizeof(req.service), "%s", service);
	req.proto = (uint8_t)proto;
	req.stdio = (uint8_t)stdio;
	req.peer = *peer;
	req.addr = *local;
	return privsep_send(p->fd, &req, fds, n);
}

void priv_signal(struct priv *p, uint64_t id, int sig)
{
	struct privsep_msg req = privsep_message(PRIVSEP_SIGNAL);

	req.seq = ++p->seq;
	req.id = id;
	req.value = sig;
	privsep_send(p->fd, &req, NULL, 0);
}

void priv_close(struct priv *p)
{
	if (!p)
		return;
	if (p->io.fn)
		loop_remove(p->loop, &p->io);
	if (p->pending.fd >= 0) {
		loop_remove(p->loop, &p->pending);
		close(p->pending.fd);
	}
	close(p->fd);
	/* by hand: the helper sees the end of the connection, ends the programs and exits */
	if (p->helper > 0)
		waitpid(p->helper, NULL, 0);
	free(p->queue);
	free(p);
}

/* Leaving root drops every capability (no PR_SET_KEEPCAPS) and makes the process not
 * dumpable, so that a program started as the same user (nobody) cannot ptrace it. */
int priv_drop_root(const char **user)
{
	const char *name = MINETD_USER;
	struct passwd *pw;

	*user = NULL;
	if (geteuid() != 0)
		return 0;
	if (!(pw = getpwnam(name)) && !(pw = getpwnam(name = "nobody")))
		return -ENOENT;
	if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (geteuid() == 0 || getuid() == 0)
		return -EPERM;
	*user = name;
	return 0;
}
