/*
 * refserver: the benchmark's reference (issue 7).  A minimal single-threaded
 * epoll server, level-triggered, non-blocking: TCP and UDP echo on one port,
 * and a TCP/UDP daytime responder on another.  No limits, no logging, no
 * features: what a server costs when it does nothing but the protocol.
 *
 *   refserver [-a ADDR] [-e ECHO_PORT] [-D DAYTIME_PORT] [-x EXEC_PORT [-u USER]]
 *
 * With -x, every TCP connection on EXEC_PORT runs /bin/cat with the connection
 * as its stdin and stdout, as an inetd "nowait" service does, in the cheapest
 * way we know: vfork (the child borrows the parent's memory until it execs, so
 * nothing is copied), then in the child only dup2, the user switch (-u) and
 * execve; children are reaped through a signalfd.  No limits, no environment,
 * no logging: the floor for a server that runs a program per connection.
 *
 * Per TCP connection the only state is the fd, plus a buffer that exists
 * only while a write back is incomplete.  Sends READY=1 to $NOTIFY_SOCKET
 * once bound, so start-up time has a reference too.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pending {
	size_t len;
	size_t off;
	char data[];
};

static struct pending **pending; /* indexed by fd */
static size_t pending_cap;
static int epoll_fd;
static char buffer[65536];
static volatile sig_atomic_t stop_requested;

/* -x: the program every exec connection runs, and as whom (-u). */
static char *const exec_argv[] = { "/bin/cat", NULL };
static char *const exec_envp[] = { NULL };
static struct exec_user {
	int set;
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	int n_groups;
} exec_user;
static sigset_t exec_sigmask; /* the mask the children get back */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int listen_on(int type, const struct in_addr *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr = *addr };
	int one = 1, fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		fprintf(stderr, "refserver: port %d: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

static void watch(int fd, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	epoll_ctl(epoll_fd, op, fd, &ev);
}

static void conn_close(int fd)
{
	if ((size_t)fd < pending_cap) {
		free(pending[fd]);
		pending[fd] = NULL;
	}
	close(fd); /* also removes it from epoll */
}

/* Write data back; keep what the socket does not take and wait for EPOLLOUT. */
static void conn_write(int fd, const char *data, size_t len)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
	struct pending *p;

	if (n < 0 && errno != EAGAIN) {
		conn_close(fd);
		return;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n == len)
		return;
	if ((size_t)fd >= pending_cap) {
		size_t cap = (size_t)fd * 2 + 64;

		pending = realloc(pending, cap * sizeof(*pending));
		memset(pending + pending_cap, 0, (cap - pending_cap) * sizeof(*pending));
		pending_cap = cap;
	}
	p = malloc(sizeof(*p) + len - (size_t)n);
	p->len = len - (size_t)n;
	p->off = 0;
	memcpy(p->data, data + n, p->len);
	pending[fd] = p;
	watch(fd, EPOLLOUT, EPOLL_CTL_MOD); /* stop reading until flushed */
}

static void conn_flush(int fd)
{
	struct pending *p = pending[fd];
	ssize_t n = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);

	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0) {
		conn_close(fd);
		return;
	}
	p->off += (size_t)n;
	if (p->off < p->len)
		return;
	free(p);
	pending[fd] = NULL;
	watch(fd, EPOLLIN, EPOLL_CTL_MOD);
}

static void conn_read(int fd)
{
	ssize_t n = recv(fd, buffer, sizeof(buffer), 0);

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(fd);
		return;
	}
	conn_write(fd, buffer, (size_t)n);
}

static size_t daytime_line(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	return strftime(out, size, "%a %b %e %H:%M:%S %Y\r\n", &tm);
}

static void accept_all(int listen_fd, int daytime)
{
	for (;;) {
		int one = 1, fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (daytime) {
			char line[64];

			send(fd, line, daytime_line(line, sizeof(line)), MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		watch(fd, EPOLLIN, EPOLL_CTL_ADD);
	}
}

/* Looked up once: the children only make system calls. */
static int exec_user_init(const char *name)
{
	struct passwd *pw = getpwnam(name);

	if (!pw) {
		fprintf(stderr, "refserver: no user %s\n", name);
		return -1;
	}
	exec_user.uid = pw->pw_uid;
	exec_user.gid = pw->pw_gid;
	exec_user.n_groups = 64;
	if (getgrouplist(name, pw->pw_gid, exec_user.groups, &exec_user.n_groups) < 0)
		return -1;
	exec_user.set = 1;
	return 0;
}

/* Runs in the vforked child, on the parent's memory: system calls only, then exec. */
static void exec_child(int fd)
{
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
		_exit(126);
	if (exec_user.set && (setgroups((size_t)exec_user.n_groups, exec_user.groups) < 0 ||
			      setgid(exec_user.gid) < 0 || setuid(exec_user.uid) < 0))
		_exit(126);
	sigprocmask(SIG_SETMASK, &exec_sigmask, NULL);
	execve(exec_argv[0], exec_argv, exec_envp);
	_exit(127);
}

static void exec_accept_all(int listen_fd)
{
	for (;;) {
		/* Blocking: the program reads and writes it as plain stdin/stdout. */
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (vfork() == 0)
			exec_child(fd);
		close(fd);
	}
}

static void exec_reap(int signal_fd)
{
	struct signalfd_siginfo info;

	while (read(signal_fd, &info, sizeof(info)) == sizeof(info))
		;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void udp_reply_all(int fd, int daytime)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		ssize_t n = recvfrom(fd, buffer, sizeof(buffer), 0, (struct sockaddr *)&peer,
				     &peer_len);

		if (n < 0)
			return;
		if (daytime)
			n = (ssize_t)daytime_line(buffer, sizeof(buffer));
		sendto(fd, buffer, (size_t)n, 0, (struct sockaddr *)&peer, peer_len);
	}
}

static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (!path || path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
		return;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
}

int main(int argc, char **argv)
{
	struct in_addr addr = { htonl(INADDR_LOOPBACK) };
	int echo_port = 15100, daytime_port = 15113, exec_port = 0, ch;
	int echo_tcp, echo_udp, day_tcp, day_udp, exec_tcp = -1, child_fd = -1;
	struct sigaction sa = { .sa_handler = on_signal };
	struct rlimit rl;
	struct epoll_event events[256];

	while ((ch = getopt(argc, argv, "a:e:D:x:u:")) != -1) {
		switch (ch) {
		case 'a':
			if (inet_pton(AF_INET, optarg, &addr) != 1)
				return 2;
			break;
		case 'e': echo_port = atoi(optarg); break;
		case 'D': daytime_port = atoi(optarg); break;
		case 'x': exec_port = atoi(optarg); break;
		case 'u':
			if (exec_user_init(optarg) < 0)
				return 2;
			break;
		default:
			fprintf(stderr, "usage: refserver [-a ADDR] [-e ECHO_PORT] [-D DAYTIME_PORT] "
					"[-x EXEC_PORT [-u USER]]\n");
			return 2;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	echo_tcp = listen_on(SOCK_STREAM, &addr, echo_port);
	echo_udp = listen_on(SOCK_DGRAM, &addr, echo_port);
	day_tcp = listen_on(SOCK_STREAM, &addr, daytime_port);
	day_udp = listen_on(SOCK_DGRAM, &addr, daytime_port);
	watch(echo_tcp, EPOLLIN, EPOLL_CTL_ADD);
	watch(echo_udp, EPOLLIN, EPOLL_CTL_ADD);
	watch(day_tcp, EPOLLIN, EPOLL_CTL_ADD);
	watch(day_udp, EPOLLIN, EPOLL_CTL_ADD);
	if (exec_port) {
		sigset_t chld;

		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_BLOCK, &chld, &exec_sigmask);
		child_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
		exec_tcp = listen_on(SOCK_STREAM, &addr, exec_port);
		watch(child_fd, EPOLLIN, EPOLL_CTL_ADD);
		watch(exec_tcp, EPOLLIN, EPOLL_CTL_ADD);
	}
	notify_ready();
	while (!stop_requested) {
		int n = epoll_wait(epoll_fd, events, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == echo_tcp || fd == day_tcp)
				accept_all(fd, fd == day_tcp);
			else if (fd == exec_tcp)
				exec_accept_all(fd);
			else if (fd == child_fd)
				exec_reap(fd);
			else if (fd == echo_udp || fd == day_udp)
				udp_reply_all(fd, fd == day_udp);
			else if (events[i].events & EPOLLOUT)
				conn_flush(fd);
			else
				conn_read(fd);
		}
	}
	return 0;
}
