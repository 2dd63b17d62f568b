/* What a restart's store gives back, as fdstore.c reads it at the next start: any number of
 * descriptors of any kind (a state memfd with any content, a pipe, an AF_UNIX stream, a
 * connected TCP socket, a UDP socket, a listening TCP socket, a regular file) under any of
 * the names minetd stores (or another), taken, adopted and restored into a real server
 * that serves "echo" and "chargen" over TCP on 127.0.0.1. Half of the states start with
 * the right magic line, so that the records behind it are read.
 *
 * Checked beyond "no crash, no leak, no UB": reading never blocks (a pipe is never read:
 * the test would hang), every descriptor handed over is either served or closed (the
 * process has as many open after the round, once the restored clients are closed, as
 * before it), and a restored connection is a connected TCP socket of a service. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "tcp.h"
#include "fdstore.h"
#include "fuzz_data.h"
#include "keys.h"
#include "limits.h"
#include "listen.h"
#include "loop.h"
#include "server.h"

#define ENTRIES_MAX 8
#define MAGIC "minetd state 1\n"

static struct loop *loop;
static struct server *server;
static struct config *config;
static struct client_registry clients;
static int listener = -1;               /* the harness's own, for connected TCP sockets */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/minetd-fuzz-fdstore-XXXXXX";
	struct config_errors errors = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = mkstemp(path);
	FILE *f;

	(void)argc;
	(void)argv;
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || !(f = fdopen(fd, "w")) || listener < 0 || bind(listener, (struct sockaddr *)&a, len) < 0 ||
	    listen(listener, 64) < 0 || getsockname(listener, (struct sockaddr *)&a, &len) < 0)
		abort();
	/* the services' own ports: the listener's, plus one and two (free or not: a service
	 * that cannot bind is still a service) */
	fprintf(f, "host = \"127.0.0.1\";\nservices = (\n"
		"{ name = \"echo\"; handler = \"echo\"; port = %u; protocol = \"tcp\"; },\n"
		"{ name = \"chargen\"; handler = \"chargen\"; port = %u; protocol = \"tcp\"; }\n);\n",
		ntohs(a.sin_port) % 60000 + 1001, ntohs(a.sin_port) % 60000 + 1002);
	fclose(f);
	if (client_registry_init(&clients) < 0 || loop_new(&loop) < 0 || server_new(loop, &clients, &server) < 0 ||
	    config_load(path, &config, &errors) < 0 || server_apply(server, config_ref(config), true) < 0)
		abort();
	unlink(path);
	return 0;
}

/* The harness's own calls failing: which one and why, then the crash libFuzzer reports. */
static void die(const char *what)
{
	fprintf(stderr, "fuzz_fdstore harness: %s: %s\n", what, strerror(errno));
	abort();
}

/* A connect() that waits (the handshake left to ksoftirqd on a busy machine) is
 * interrupted by libFuzzer's SIGALRM, its -timeout watchdog, every second; the connection
 * goes on, and poll says when it is made. */
static int connect_through_signals(int fd, const struct sockaddr *a, socklen_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t errlen = sizeof(int);
	int err = 0;

	if (connect(fd, a, len) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

/* One descriptor of the kind the input picks; *peer is what the harness keeps of it (the
 * other end), or -1. */
static int make(unsigned kind, const uint8_t *state, size_t len, bool magic, int *peer)
{
	int fds[2] = { -1, -1 }, fd = -1;

	*peer = -1;
	switch (kind) {
	case 0:         /* the state memfd */
		if ((fd = memfd_create("state", MFD_CLOEXEC)) < 0 ||
		    (magic && write(fd, MAGIC, strlen(MAGIC)) < 0) || (len && write(fd, state, len) < 0))
			die("the state memfd");
		return fd;
	case 1:         /* a pipe whose writer stays: reading it would wait forever */
		if (pipe2(fds, O_CLOEXEC) < 0)
			die("pipe2");
		*peer = fds[1];
		return fds[0];
	case 2:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
			die("socketpair");
		*peer = fds[1];
		return fds[0];
	case 3: {       /* a connected TCP socket, the server's end */
		struct sockaddr_storage a;
		socklen_t alen = sizeof(a);
		/* closed by minetd first: with a reset, so that tens of thousands of rounds leave
		 * no TIME_WAIT behind (about 50 during a run instead of 70) */
		struct linger reset = { .l_onoff = 1, .l_linger = 0 };
		if (getsockname(listener, (struct sockaddr *)&a, &alen) < 0)
			die("getsockname");
		if ((*peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die("socket");
		if (connect_through_signals(*peer, (struct sockaddr *)&a, alen) < 0)
			die("connect");
		while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
			if (errno != EINTR)
				die("accept4");
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)) < 0)
			die("SO_LINGER");
		return fd;
	}
	case 4:
		return socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	case 5: {       /* a listening TCP socket on a port of its own */
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0)
			die("a listening socket");
		return fd;
	}
	default:        /* a regular file that is not a memfd */
		return open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	}
}

static char *name_for(struct fuzz_data *d)
{
	static const char *const prefixes[] = { "minetd.listen.", "minetd.conn.", "minetd.state.", "minetd.", "echo" };
	unsigned which = (unsigned)fd_range(d, 0, 4), loop_n = (unsigned)fd_range(d, 0, 2);
	unsigned index = (unsigned)fd_range(d, 0, 3);
	char *name;

	if (which == 2)
		return asprintf(&name, "%s%u", prefixes[which], loop_n) < 0 ? NULL : name;
	return asprintf(&name, "%s%u.%u", prefixes[which], loop_n, index) < 0 ? NULL : name;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_data d = { data, size };
	size_t n = (size_t)fd_range(&d, 0, ENTRIES_MAX), taken = 0;
	struct inherited_socket socks[ENTRIES_MAX];
	int peers[ENTRIES_MAX], before = open_fds();
	unsigned kinds[ENTRIES_MAX];
	bool magic = fd_bool(&d);
	struct fdstore *store;
	size_t state_len;
	uint8_t *state;

	for (size_t i = 0; i < n; i++) {
		kinds[i] = (unsigned)fd_range(&d, 0, 6);
		if (!(socks[i].name = name_for(&d)))
			abort();
	}
	state = fd_rest(&d, &state_len);
	for (size_t i = 0; i < n; i++) {
		socks[i].fd = make(kinds[i], state, state_len, magic, &peers[i]);
		if (socks[i].fd < 0)
			die("a descriptor of the input's kind");
		/* as listen_inherited() classifies what systemd passes */
		socks[i].type = kinds[i] == 5 ? SOCK_STREAM : kinds[i] == 4 ? SOCK_DGRAM : 0;
	}
	free(state);
	taken = n;
	if (fdstore_take(socks, &taken, &store) < 0)
		abort();
	for (size_t i = 0; i < taken; i++) {      /* not a stored name: the socket units' */
		CHECK(strncmp(socks[i].name, "minetd.", 7) != 0, "%s left to the socket units", socks[i].name);
		close(socks[i].fd);
		free(socks[i].name);
	}
	fdstore_adopt_listeners(store, server);
	/* the config again: what it does not bind of what was adopted is closed */
	if (server_apply(server, config_ref(config), false) < 0)
		abort();
	fdstore_restore(store, server);
	for (struct active_service *as = server->services; as; as = as->next)
		tcp_close_all(as, "fuzzed");
	loop_dispatch(loop, 0);         /* frees what was released */
	for (size_t i = 0; i < n; i++)
		if (peers[i] >= 0)
			close(peers[i]);
	CHECK(open_fds() == before, "%d descriptors open after the round, %d before", open_fds(), before);
	return 0;
}
