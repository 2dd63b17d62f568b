/*
 * loadgen: closed-loop load generator for the minetd benchmark (issue 7).
 *
 * Every client sends one request and waits for the whole reply before it
 * sends the next, so the figures measure the server, not queueing in the
 * generator.  One epoll loop per thread; clients are dealt out to threads.
 *
 *   loadgen tcp-echo -p PORT [-c 50] [-s 64] [-d 3]   requests/s and latency
 *   loadgen udp-echo -p PORT [-c 50] [-s 64] [-d 3]   datagrams/s, loss
 *   loadgen connect  -p PORT [-c 20] [-d 3]           connect, read to EOF, close
 *   loadgen request  -p PORT [-c 20] [-s 64] [-d 3]   connect, send, shut down writing,
 *                                                     read the echo to EOF, close (exec)
 *   loadgen idle     -p PORT [-c 10000] [-d 60]       hold N idle echo connections
 *   loadgen startup  -p PORT [-n NOTIFY_PATH] -- CMD  exec to READY=1 / listening
 *
 * Prints one line "key=value ..." on stdout.  Latencies are in microseconds,
 * kept in a log-linear histogram (16 steps per power of two, <= 6.25% error).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HIST_SUB_BITS 4
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB * 40)
#define MAX_REQUEST 65536
#define CONNECT_WINDOW 256 /* idle mode: connects in flight at once */
#define IDLE_SETUP_LIMIT_NS (60ull * 1000000000u)

enum mode { MODE_TCP_ECHO, MODE_UDP_ECHO, MODE_CONNECT, MODE_IDLE, MODE_STARTUP, MODE_REQUEST };

enum client_state {
	CLIENT_DOWN,       /* no socket; (re)connect at retry_at */
	CLIENT_CONNECTING, /* non-blocking connect in progress */
	CLIENT_WAITING,    /* request (partly) sent, reply expected */
	CLIENT_IDLE,       /* idle mode: echo verified, holding */
	CLIENT_FAILED,     /* idle mode: gave up on this one */
};

struct options {
	enum mode mode;
	struct sockaddr_in server;
	int clients;
	int request_size;
	double duration;
	double warmup;
	int threads;
	int timeout_ms;
	bool spread_sources;
	int source_offset;
	const char *histogram_path;
	const char *notify_path;
	const char *command_log;
	char **command;
};

struct histogram {
	uint64_t count[HIST_BUCKETS];
	uint64_t total;
	uint64_t max_us;
	double sum_us;
};

struct client {
	int fd;
	int index;
	enum client_state state;
	uint64_t seq;
	uint64_t started_ns; /* current request (or connect) began */
	uint64_t retry_at_ns;
	size_t sent;
	size_t received;
};

struct worker {
	const struct options *opt;
	int epoll_fd;
	struct client *clients;
	int nclients;
	uint64_t measure_from_ns;
	uint64_t end_ns;
	struct histogram hist;
	uint64_t ops;
	uint64_t errors;
	uint64_t lost;
	uint64_t late;
	uint64_t bytes_in;
	bool holding; /* idle mode: set-up done, now holding */
	pthread_t thread;
};

static volatile sig_atomic_t stop_requested;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int hist_index(uint64_t us)
{
	int msb, idx;

	if (us < HIST_SUB)
		return (int)us;
	msb = 63 - __builtin_clzll(us);
	idx = (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	      (int)((us >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Largest value that falls into bucket idx. */
static uint64_t hist_upper(int idx)
{
	int exp, sub;

	if (idx < HIST_SUB)
		return (uint64_t)idx;
	exp = idx / HIST_SUB - 1 + HIST_SUB_BITS;
	sub = idx % HIST_SUB;
	return ((uint64_t)(HIST_SUB + sub + 1) << (exp - HIST_SUB_BITS)) - 1;
}

static void hist_add(struct histogram *h, uint64_t us)
{
	h->count[hist_index(us)]++;
	h->total++;
	h->sum_us += (double)us;
	if (us > h->max_us)
		h->max_us = us;
}

static void hist_merge(struct histogram *into, const struct histogram *from)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += from->count[i];
	into->total += from->total;
	into->sum_us += from->sum_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

static uint64_t hist_percentile(const struct histogram *h, double p)
{
	uint64_t want, seen = 0;

	if (h->total == 0)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)h->total + 0.5);
	if (want < 1)
		want = 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= want)
			return hist_upper(i) < h->max_us ? hist_upper(i) : h->max_us;
	}
	return h->max_us;
}

static int hist_write(const struct histogram *h, const char *path)
{
	uint64_t seen = 0;
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "# upper_us count cumulative_fraction\n");
	for (int i = 0; i < HIST_BUCKETS; i++) {
		if (!h->count[i])
			continue;
		seen += h->count[i];
		fprintf(f, "%llu %llu %.6f\n", (unsigned long long)hist_upper(i),
			(unsigned long long)h->count[i], (double)seen / (double)h->total);
	}
	return fclose(f) ? -errno : 0;
}

static void raise_fd_limit(int needed)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)needed) {
		rl.rlim_max = (rlim_t)needed; /* works as root */
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < (rlim_t)needed)
		fprintf(stderr, "loadgen: open files limited to %llu, need %d\n",
			(unsigned long long)rl.rlim_cur, needed);
}

/* Client i gets its own source address in the server's /16 (127.0.x.y for
 * 127.0.0.1; the prefix must be routed locally), so a server's per-source
 * limits see many peers, as they would in real use. */
static void bind_source(int fd, int index, const struct sockaddr_in *server)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	src.sin_addr.s_addr = htonl((ntohl(server->sin_addr.s_addr) & 0xffff0000u) |
				    (uint32_t)(index / 250 + 1) << 8 | (uint32_t)(index % 250 + 1));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		fprintf(stderr, "loadgen: bind %s: %s\n", inet_ntoa(src.sin_addr),
			strerror(errno));
}

/* Request bytes: the sequence number, then letters that depend on it. */
static char request_byte(size_t i, size_t size, uint64_t seq, int index)
{
	if (size >= sizeof(seq) && i < sizeof(seq))
		return (char)(seq >> (8 * i));
	return (char)('a' + (i + seq + (size_t)index) % 26);
}

static void fill_request(char *buf, size_t size, uint64_t seq, int index)
{
	for (size_t i = 0; i < size; i++)
		buf[i] = request_byte(i, size, seq, index);
}

static bool reply_matches(const char *buf, size_t n, size_t offset, size_t size, uint64_t seq,
			  int index)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != request_byte(offset + i, size, seq, index))
			return false;
	return true;
}

static void epoll_set(struct worker *w, struct client *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(w->epoll_fd, op, c->fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
}

/* close() also takes the fd out of the epoll set: we never dup sockets. */
static void client_close(struct worker *w, struct client *c, uint64_t retry_delay_ns)
{
	(void)w;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CLIENT_DOWN;
	c->retry_at_ns = now_ns() + retry_delay_ns;
}

/* Count a failed request or connection; the first few say why on stderr. */
static void client_fail(struct worker *w, struct client *c, const char *why, int err)
{
	if (++w->errors <= 5)
		fprintf(stderr, "loadgen: client %d: %s%s%s\n", c->index, why, err ? ": " : "",
			err ? strerror(err) : "");
	if (w->opt->mode == MODE_IDLE) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->state = CLIENT_FAILED;
		return;
	}
	/* Back off a little so a dead server does not make us spin. */
	client_close(w, c, w->opt->mode == MODE_CONNECT ? 1000000 : 100000000);
}

static bool measuring(const struct worker *w, const struct client *c)
{
	return c->started_ns >= w->measure_from_ns;
}

static void record(struct worker *w, struct client *c, uint64_t t)
{
	if (!measuring(w, c))
		return;
	w->ops++;
	hist_add(&w->hist, (t - c->started_ns) / 1000);
}

/* Send (the rest of) the current request; false on a broken connection. */
static bool tcp_send_request(struct worker *w, struct client *c)
{
	char buf[MAX_REQUEST];
	size_t size = (size_t)w->opt->request_size;

	fill_request(buf, size, c->seq, c->index);
	while (c->sent < size) {
		ssize_t n = send(c->fd, buf + c->sent, size - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			epoll_set(w, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
			return true;
		}
		if (n <= 0)
			return false;
		c->sent += (size_t)n;
	}
	return true;
}

static void tcp_start_request(struct worker *w, struct client *c, uint64_t t)
{
	c->seq++;
	c->sent = 0;
	c->received = 0;
	c->started_ns = t;
	c->state = CLIENT_WAITING;
	if (!tcp_send_request(w, c))
		client_fail(w, c, "send", errno);
}

static int new_socket(struct worker *w, struct client *c, int type)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (w->opt->spread_sources)
		bind_source(fd, c->index + w->opt->source_offset, &w->opt->server);
	if (w->opt->mode == MODE_TCP_ECHO) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

/* Start a non-blocking connect; the client is CONNECTING or DOWN after. */
static void client_connect(struct worker *w, struct client *c, uint64_t t)
{
	int fd = new_socket(w, c, SOCK_STREAM);

	if (fd < 0) {
		w->errors++;
		c->retry_at_ns = t + 10000000;
		return;
	}
	c->fd = fd;
	c->started_ns = t;
	c->received = 0;
	c->state = CLIENT_CONNECTING;
	if (connect(fd, (const struct sockaddr *)&w->opt->server, sizeof(w->opt->server)) < 0 &&
	    errno != EINPROGRESS) {
		client_fail(w, c, "connect", errno);
		return;
	}
	/* connect mode: the reply (or an error) tells that the connect is done;
	 * the fewer syscalls here, the more of the CPU is left to the server. */
	epoll_set(w, c, w->opt->mode == MODE_CONNECT ? EPOLLIN : EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
}

static bool connect_finished(struct worker *w, struct client *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		client_fail(w, c, "connect", err ? err : errno);
		return false;
	}
	return true;
}

static void handle_tcp_echo(struct worker *w, struct client *c, uint32_t events, uint64_t t)
{
	char buf[MAX_REQUEST];
	size_t size = (size_t)w->opt->request_size;
	ssize_t n;

	if (c->state == CLIENT_CONNECTING) {
		if (!connect_finished(w, c))
			return;
		epoll_set(w, c, EPOLLIN, EPOLL_CTL_MOD);
		tcp_start_request(w, c, t);
		return;
	}
	if (events & EPOLLOUT) {
		epoll_set(w, c, EPOLLIN, EPOLL_CTL_MOD);
		if (!tcp_send_request(w, c)) {
			client_fail(w, c, "send", errno);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	n = recv(c->fd, buf, size - c->received, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_fail(w, c, n ? "recv" : "closed by server", n ? errno : 0);
		return;
	}
	if (!reply_matches(buf, (size_t)n, c->received, size, c->seq, c->index)) {
		client_fail(w, c, "echo differs from request", 0);
		return;
	}
	c->received += (size_t)n;
	w->bytes_in += (uint64_t)n;
	if (c->received < size)
		return;
	record(w, c, t);
	tcp_start_request(w, c, t);
}

static void udp_send(struct worker *w, struct client *c, uint64_t t)
{
	char buf[MAX_REQUEST];

	c->seq++;
	c->started_ns = t;
	c->state = CLIENT_WAITING;
	fill_request(buf, (size_t)w->opt->request_size, c->seq, c->index);
	if (send(c->fd, buf, (size_t)w->opt->request_size, 0) < 0)
		w->errors++; /* the timeout counts it as lost and resends */
}

static void handle_udp_echo(struct worker *w, struct client *c, uint64_t t)
{
	char buf[MAX_REQUEST + 1];
	size_t size = (size_t)w->opt->request_size;

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		uint64_t seq = 0;

		if (n < 0) {
			if (errno == EAGAIN)
				return;
			w->errors++; /* e.g. ECONNREFUSED: port unreachable */
			continue;
		}
		if (size >= sizeof(seq) && (size_t)n >= sizeof(seq))
			for (size_t i = 0; i < sizeof(seq); i++)
				seq |= (uint64_t)(unsigned char)buf[i] << (8 * i);
		else
			seq = c->seq;
		if (seq != c->seq) {
			w->late++; /* reply to a request we already counted as lost */
			continue;
		}
		if ((size_t)n != size || !reply_matches(buf, size, 0, size, c->seq, c->index)) {
			w->errors++;
			continue;
		}
		w->bytes_in += (uint64_t)n;
		record(w, c, t);
		udp_send(w, c, t);
	}
}

/* Reads what the server sends on c until end of file, each piece checked against the
 * request when checked is set: true at end of file, false while more is to come or when
 * c has failed (client_fail has then closed it). */
static bool recv_to_eof(struct worker *w, struct client *c, bool checked)
{
	char buf[4096];
	size_t size = (size_t)w->opt->request_size;

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0) {
			client_fail(w, c, "recv", errno);
			return false;
		}
		if (n == 0)
			return true;
		if (checked && (c->received + (size_t)n > size ||
				!reply_matches(buf, (size_t)n, c->received, size, c->seq, c->index))) {
			client_fail(w, c, "reply differs from request", 0);
			return false;
		}
		c->received += (size_t)n;
		w->bytes_in += (uint64_t)n;
	}
}

/* A whole exchange done: counted, and the client connects again. */
static void exchange_done(struct worker *w, struct client *c, uint64_t t)
{
	record(w, c, t);
	client_close(w, c, 0);
	client_connect(w, c, t);
}

static void handle_connect(struct worker *w, struct client *c, uint64_t t)
{
	c->state = CLIENT_WAITING;
	if (!recv_to_eof(w, c, false))
		return;
	if (c->received == 0) {
		client_fail(w, c, "closed without a reply", 0);
		return;
	}
	exchange_done(w, c, t);
}

/* One request per connection: send it, shut down our side (the program's stdin
 * ends), read the echo (/bin/cat) to end of file. */
static void handle_request(struct worker *w, struct client *c, uint64_t t)
{
	size_t size = (size_t)w->opt->request_size;

	if (c->state == CLIENT_CONNECTING) {
		if (!connect_finished(w, c))
			return;
		c->seq++;
		c->sent = 0;
		c->state = CLIENT_WAITING;
	}
	if (c->sent < size) {
		if (!tcp_send_request(w, c)) {
			client_fail(w, c, "send", errno);
			return;
		}
		if (c->sent < size)
			return; /* tcp_send_request waits for EPOLLOUT */
		if (shutdown(c->fd, SHUT_WR) < 0) {
			client_fail(w, c, "shutdown", errno);
			return;
		}
		epoll_set(w, c, EPOLLIN, EPOLL_CTL_MOD);
		return;
	}
	if (!recv_to_eof(w, c, true))
		return;
	if (c->received != size) {
		client_fail(w, c, c->received ? "reply shorter than request" : "closed without a reply", 0);
		return;
	}
	exchange_done(w, c, t);
}

static void handle_idle(struct worker *w, struct client *c, uint64_t t)
{
	char buf[64];
	ssize_t n;

	if (c->state == CLIENT_CONNECTING) {
		if (!connect_finished(w, c))
			return;
		epoll_set(w, c, EPOLLIN, EPOLL_CTL_MOD);
		c->state = CLIENT_WAITING;
		/* One byte round trip: the server has really accepted it. */
		if (send(c->fd, "i", 1, MSG_NOSIGNAL) != 1)
			client_fail(w, c, "send", errno);
		return;
	}
	n = recv(c->fd, buf, sizeof(buf), 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n != 1 || c->state != CLIENT_WAITING) {
		client_fail(w, c, n < 0 ? "recv" : "closed by server or unexpected data", n < 0 ? errno : 0); /* closed by the server, or unexpected data */
		return;
	}
	record(w, c, t);
	c->state = CLIENT_IDLE;
}

/* Timeouts and reconnects; called every few milliseconds. */
static void worker_tick(struct worker *w, uint64_t t)
{
	const struct options *opt = w->opt;
	uint64_t timeout_ns = (uint64_t)opt->timeout_ms * 1000000u;
	int connecting = 0;

	for (int i = 0; i < w->nclients; i++)
		connecting += w->clients[i].state == CLIENT_CONNECTING;
	for (int i = 0; i < w->nclients; i++) {
		struct client *c = &w->clients[i];

		switch (c->state) {
		case CLIENT_DOWN:
			if (t < c->retry_at_ns)
				break;
			if (opt->mode == MODE_IDLE && connecting >= CONNECT_WINDOW)
				break;
			connecting++;
			client_connect(w, c, t);
			break;
		case CLIENT_CONNECTING:
		case CLIENT_WAITING:
			if (t - c->started_ns < timeout_ns)
				break;
			if (opt->mode == MODE_UDP_ECHO) {
				if (c->started_ns >= w->measure_from_ns)
					w->lost++;
				udp_send(w, c, t);
			} else {
				client_fail(w, c, c->state == CLIENT_CONNECTING ? "connect timed out" : "reply timed out", 0);
			}
			break;
		default:
			break;
		}
	}
}

static bool idle_setup_done(const struct worker *w)
{
	for (int i = 0; i < w->nclients; i++)
		if (w->clients[i].state != CLIENT_IDLE && w->clients[i].state != CLIENT_FAILED)
			return false;
	return true;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[256];
	uint64_t next_tick = 0;

	for (;;) {
		uint64_t t = now_ns();
		int n;

		if (t >= w->end_ns || stop_requested)
			break;
		if (t >= next_tick) {
			worker_tick(w, t);
			next_tick = t + 2000000;
		}
		n = epoll_wait(w->epoll_fd, events, 256, 2);
		t = now_ns();
		for (int i = 0; i < n; i++) {
			struct client *c = events[i].data.ptr;

			if (c->fd < 0)
				continue;
			switch (w->opt->mode) {
			case MODE_TCP_ECHO:
				handle_tcp_echo(w, c, events[i].events, t);
				break;
			case MODE_UDP_ECHO:
				handle_udp_echo(w, c, t);
				break;
			case MODE_CONNECT:
				handle_connect(w, c, t);
				break;
			case MODE_IDLE:
				handle_idle(w, c, t);
				break;
			case MODE_REQUEST:
				handle_request(w, c, t);
				break;
			default:
				break;
			}
		}
		if (w->opt->mode == MODE_IDLE && !w->holding && idle_setup_done(w))
			break;
	}
	return NULL;
}

static int worker_init(struct worker *w, const struct options *opt, int first, int count)
{
	w->opt = opt;
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epoll_fd < 0)
		return -errno;
	w->nclients = count;
	w->clients = calloc((size_t)count, sizeof(*w->clients));
	if (!w->clients)
		return -ENOMEM;
	for (int i = 0; i < count; i++) {
		struct client *c = &w->clients[i];

		c->fd = -1;
		c->index = first + i;
		c->state = CLIENT_DOWN;
	}
	return 0;
}

/* Open the UDP client sockets; they are never "connecting". */
static int udp_clients_open(struct worker *w, uint64_t t)
{
	for (int i = 0; i < w->nclients; i++) {
		struct client *c = &w->clients[i];

		c->fd = new_socket(w, c, SOCK_DGRAM);
		if (c->fd < 0)
			return c->fd;
		if (connect(c->fd, (const struct sockaddr *)&w->opt->server,
			    sizeof(w->opt->server)) < 0)
			return -errno;
		epoll_set(w, c, EPOLLIN, EPOLL_CTL_ADD);
		udp_send(w, c, t);
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void run_workers(struct worker *workers, int n)
{
	for (int i = 1; i < n; i++)
		pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]);
	worker_run(&workers[0]);
	for (int i = 1; i < n; i++)
		pthread_join(workers[i].thread, NULL);
}

static int run_load(const struct options *opt)
{
	struct worker *workers = calloc((size_t)opt->threads, sizeof(*workers));
	struct histogram total;
	uint64_t ops = 0, errors = 0, lost = 0, late = 0, bytes = 0, start, measured_ns;
	int per = opt->clients / opt->threads, extra = opt->clients % opt->threads, first = 0;
	int established = 0;

	memset(&total, 0, sizeof(total));
	raise_fd_limit(opt->clients + 64);
	start = now_ns();
	for (int i = 0; i < opt->threads; i++) {
		struct worker *w = &workers[i];
		int count = per + (i < extra);
		int r = worker_init(w, opt, first, count);

		if (r < 0) {
			fprintf(stderr, "loadgen: %s\n", strerror(-r));
			return 1;
		}
		first += count;
		w->measure_from_ns = start + (uint64_t)(opt->warmup * 1e9);
		w->end_ns = start + (uint64_t)((opt->warmup + opt->duration) * 1e9);
		if (opt->mode == MODE_UDP_ECHO && (r = udp_clients_open(w, start)) < 0) {
			fprintf(stderr, "loadgen: udp socket: %s\n", strerror(-r));
			return 1;
		}
		if (opt->mode == MODE_IDLE) {
			w->measure_from_ns = 0;
			w->end_ns = start + IDLE_SETUP_LIMIT_NS;
		}
	}
	run_workers(workers, opt->threads);

	if (opt->mode == MODE_IDLE) {
		uint64_t setup_ns = now_ns() - start;
		int failed = 0, dropped = 0;

		for (int i = 0; i < opt->threads; i++)
			for (int j = 0; j < workers[i].nclients; j++) {
				established += workers[i].clients[j].state == CLIENT_IDLE;
				failed += workers[i].clients[j].state != CLIENT_IDLE;
			}
		printf("ready established=%d failed=%d setup_ms=%.1f\n", established, failed,
		       (double)setup_ns / 1e6);
		fflush(stdout);
		/* Hold; count connections the server closes meanwhile. */
		for (int i = 0; i < opt->threads; i++) {
			workers[i].errors = 0;
			workers[i].holding = true;
			workers[i].end_ns = now_ns() + (uint64_t)(opt->duration * 1e9);
		}
		run_workers(workers, opt->threads);
		for (int i = 0; i < opt->threads; i++)
			dropped += (int)workers[i].errors;
		printf("mode=idle clients=%d established=%d failed=%d dropped=%d setup_ms=%.1f\n",
		       opt->clients, established, failed, dropped, (double)setup_ns / 1e6);
		return established == opt->clients && dropped == 0 ? 0 : 1;
	}

	for (int i = 0; i < opt->threads; i++) {
		hist_merge(&total, &workers[i].hist);
		ops += workers[i].ops;
		errors += workers[i].errors;
		lost += workers[i].lost;
		late += workers[i].late;
		bytes += workers[i].bytes_in;
	}
	measured_ns = now_ns() - workers[0].measure_from_ns;
	if (opt->histogram_path && hist_write(&total, opt->histogram_path) < 0)
		fprintf(stderr, "loadgen: %s: %s\n", opt->histogram_path, strerror(errno));
	printf("mode=%s clients=%d size=%d secs=%.2f ops=%llu rps=%.0f p50_us=%llu p90_us=%llu "
	       "p99_us=%llu max_us=%llu mean_us=%.1f errors=%llu lost=%llu late=%llu "
	       "loss_pct=%.4f\n",
	       opt->mode == MODE_TCP_ECHO ? "tcp-echo" :
	       opt->mode == MODE_UDP_ECHO ? "udp-echo" :
	       opt->mode == MODE_REQUEST ? "request" : "connect",
	       opt->clients, opt->request_size, (double)measured_ns / 1e9,
	       (unsigned long long)ops, (double)ops / ((double)measured_ns / 1e9),
	       (unsigned long long)hist_percentile(&total, 50),
	       (unsigned long long)hist_percentile(&total, 90),
	       (unsigned long long)hist_percentile(&total, 99), (unsigned long long)total.max_us,
	       total.total ? total.sum_us / (double)total.total : 0.0,
	       (unsigned long long)errors, (unsigned long long)lost, (unsigned long long)late,
	       ops + lost ? 100.0 * (double)lost / (double)(ops + lost) : 0.0);
	return ops > 0 ? 0 : 1;
}

static bool tcp_port_open(const struct sockaddr_in *server)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0;
	close(fd);
	return ok;
}

static int notify_socket_open(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Writable by anyone, as systemd's own: a server that gives up root before it is ready
	 * (minetd started as root) must still reach it. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0777) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* True once a datagram with a READY=1 line arrived. */
static bool notify_ready(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
			if (strcmp(line, "READY=1") == 0)
				return true;
	}
	return false;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) { /* 2 s */
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Time from fork+exec of the server to READY=1 on our notify socket, and to
 * the first accepted TCP connection on the port.  A server that never sends
 * READY gets ready_ms=n/a half a second after it listens.
 */
static int run_startup(const struct options *opt)
{
	uint64_t start, deadline, listen_ns = 0, ready_ns = 0;
	int notify_fd = -1;
	pid_t pid;

	if (opt->notify_path) {
		notify_fd = notify_socket_open(opt->notify_path);
		if (notify_fd < 0) {
			fprintf(stderr, "loadgen: %s: %s\n", opt->notify_path, strerror(-notify_fd));
			return 1;
		}
	}
	start = now_ns();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int log_fd = opt->command_log ?
			open(opt->command_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;

		if (log_fd >= 0) {
			dup2(log_fd, STDOUT_FILENO);
			dup2(log_fd, STDERR_FILENO);
		}
		if (opt->notify_path)
			setenv("NOTIFY_SOCKET", opt->notify_path, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		execvp(opt->command[0], opt->command);
		fprintf(stderr, "loadgen: exec %s: %s\n", opt->command[0], strerror(errno));
		_exit(127);
	}
	deadline = start + (uint64_t)opt->timeout_ms * 1000000u;
	while (now_ns() < deadline && !stop_requested) {
		struct pollfd pfd = { .fd = notify_fd, .events = POLLIN };
		uint64_t t;

		if (!ready_ns && notify_fd >= 0 && notify_ready(notify_fd))
			ready_ns = now_ns();
		if (!listen_ns && tcp_port_open(&opt->server))
			listen_ns = now_ns();
		t = now_ns();
		if (listen_ns && (ready_ns || !opt->notify_path || t - listen_ns > 500000000u))
			break;
		/* Poll the port every 100 us; sleep on the notify socket meanwhile. */
		if (notify_fd >= 0 && !ready_ns)
			ppoll(&pfd, 1, &(struct timespec){ 0, 100000 }, NULL);
		else
			usleep(100);
	}
	stop_child(pid);
	if (opt->notify_path)
		unlink(opt->notify_path);
	printf("mode=startup ");
	if (ready_ns)
		printf("ready_ms=%.2f ", (double)(ready_ns - start) / 1e6);
	else
		printf("ready_ms=n/a ");
	if (listen_ns)
		printf("listen_ms=%.2f\n", (double)(listen_ns - start) / 1e6);
	else
		printf("listen_ms=n/a\n");
	return listen_ns || ready_ns ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen MODE -p PORT [options] [-- COMMAND...]\n"
		"modes: tcp-echo udp-echo connect idle startup request\n"
		"  -a ADDR      server IPv4 address (127.0.0.1)\n"
		"  -p PORT      server port\n"
		"  -c N         clients (50; idle: 10000)\n"
		"  -s BYTES     request size (64)\n"
		"  -d SECONDS   measured duration (3; idle: hold time, 60)\n"
		"  -w SECONDS   warm-up, not measured (0.5)\n"
		"  -t THREADS   event loops (1)\n"
		"  -T MS        per-request timeout (udp 200, tcp 2000; startup 5000)\n"
		"  -S           give each client its own source address in the server's /16\n"
		"  -o N         with -S, start at the N-th such address (0)\n"
		"  -H FILE      write the latency histogram to FILE\n"
		"  -n PATH      startup: NOTIFY_SOCKET path to listen on\n"
		"  -L FILE      startup: append the command's output to FILE\n");
}

static int parse_mode(const char *s, enum mode *mode)
{
	static const char *const names[] = { "tcp-echo", "udp-echo", "connect", "idle",
					     "startup", "request" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*mode = (enum mode)i;
			return 0;
		}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct options opt = {
		.server = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
		.clients = -1,
		.request_size = 64,
		.duration = -1,
		.warmup = 0.5,
		.threads = 1,
		.timeout_ms = -1,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	int ch, port = 0;

	if (argc < 2 || parse_mode(argv[1], &opt.mode) < 0) {
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((ch = getopt(argc, argv, "a:p:c:s:d:w:t:T:So:H:n:L:h")) != -1) {
		switch (ch) {
		case 'a':
			if (inet_pton(AF_INET, optarg, &opt.server.sin_addr) != 1) {
				fprintf(stderr, "loadgen: bad address %s\n", optarg);
				return 2;
			}
			break;
		case 'p': port = atoi(optarg); break;
		case 'c': opt.clients = atoi(optarg); break;
		case 's': opt.request_size = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 't': opt.threads = atoi(optarg); break;
		case 'T': opt.timeout_ms = atoi(optarg); break;
		case 'S': opt.spread_sources = true; break;
		case 'o': opt.source_offset = atoi(optarg); break;
		case 'H': opt.histogram_path = optarg; break;
		case 'n': opt.notify_path = optarg; break;
		case 'L': opt.command_log = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (port <= 0 || port > 65535 || opt.request_size < 1 || opt.request_size > MAX_REQUEST ||
	    opt.threads < 1 || opt.source_offset < 0) {
		usage(stderr);
		return 2;
	}
	opt.server.sin_port = htons((uint16_t)port);
	if (opt.clients < 0)
		opt.clients = opt.mode == MODE_IDLE ? 10000 :
			      opt.mode == MODE_CONNECT || opt.mode == MODE_REQUEST ? 20 : 50;
	if (opt.duration < 0)
		opt.duration = opt.mode == MODE_IDLE ? 60 : 3;
	if (opt.timeout_ms < 0)
		opt.timeout_ms = opt.mode == MODE_UDP_ECHO ? 200 :
				 opt.mode == MODE_STARTUP ? 5000 : 2000;
	if (opt.mode == MODE_IDLE)
		opt.timeout_ms = 10000; /* connects may queue behind each other */
	if (opt.threads > opt.clients)
		opt.threads = opt.clients > 0 ? opt.clients : 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (opt.mode == MODE_STARTUP) {
		if (optind >= argc) {
			usage(stderr);
			return 2;
		}
		opt.command = argv + optind;
		return run_startup(&opt);
	}
	if (opt.clients < 1) {
		usage(stderr);
		return 2;
	}
	return run_load(&opt);
}
