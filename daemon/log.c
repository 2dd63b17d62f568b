/* Logging: the journal with structured fields, or stderr; a call never waits for the output.
 *
 * Neither output can be made non-blocking from here: O_NONBLOCK on stderr would change the file
 * for every process that shares it, and sd_journal_sendv() writes to libsystemd's own blocking
 * socket. So from log_open on, a call formats its record (the stderr line, or the journal's
 * fields) on its own stack and copies it into a queue of QUEUE_BYTES, and one writer thread
 * writes the records out in order: a pipe that nobody reads, or a stalled journald, stalls that
 * thread alone. The queue is static memory that the kernel provides as it is first used (an
 * emptied queue starts again at its beginning): nothing is allocated. A call that finds it full
 * drops its message and counts it; the queue then takes nothing until the writer has emptied it
 * and written "N log messages dropped" where the gap is. One lock keeps every thread's order;
 * the writer does not hold it while it writes. Before log_open (and for -t), and once log_close
 * has seen the writer end, a call writes at once as it always did. log_close (at exit at the
 * latest) waits a second for the writer, then leaves it to the exit: it holds no heap memory,
 * so LeakSanitizer has nothing to say. A child spawned to exec runs none of this, and the
 * journal's socket is close-on-exec.
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#define QUEUE_BYTES (256 * 1024)
#define MESSAGE_MAX 1024        /* a message's bytes, with its NUL */
#define FIELD_MAX 320           /* any other journal field's, with its NUL */
#define FIELDS_MAX 16           /* journal fields of a record (13 used) */
#define RECORD_MAX (MESSAGE_MAX + FIELDS_MAX * FIELD_MAX)
#define BATCH_MAX (4 * RECORD_MAX)      /* what the writer takes at once */
#define CLOSE_WAIT_SEC 1

/* What reaches the output: the stderr line, or the journal's fields, each ended by a NUL,
 * with an empty one after the last. */
struct record {
	size_t size;
	char text[RECORD_MAX];
};

static bool journal;
static bool writer_started;     /* a writer that log_close has not joined yet */
static char ring[QUEUE_BYTES];  /* records, each after its size as a uint32_t */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;            /* the writer's: a record, or log_close */
	pthread_t writer;
	bool running;                   /* records go to the writer; else they are written at once */
	bool closing;
	size_t head, tail;              /* bytes into the ring, counted without wrapping */
	unsigned long dropped;          /* since the last notice; nothing is queued while > 0 */
} queue = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

int log_parse_target(const char *s, enum log_target *out)
{
	static const char *const names[] = {
		[LOG_TARGET_AUTO] = "auto",
		[LOG_TARGET_JOURNAL] = "journal",
		[LOG_TARGET_STDERR] = "stderr",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_target)i;
			return 0;
		}
	}
	return -1;
}

/* systemd sets JOURNAL_STREAM to the device and inode of stderr when it connects it to
 * the journal; INVOCATION_ID marks any service it started. */
static bool started_by_systemd(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    st.st_dev == dev && st.st_ino == ino)
		return true;
	return getenv("INVOCATION_ID") != NULL;
}

bool log_to_journal(void)
{
	return journal;
}

/* Appends printf output to r, at most max - 1 bytes of it, and its NUL when nul is set.
 * RECORD_MAX has room for every field at its largest. */
static void record_vadd(struct record *r, size_t max, bool nul, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void record_vadd(struct record *r, size_t max, bool nul, const char *fmt, va_list ap)
{
	int len = vsnprintf(r->text + r->size, max, fmt, ap);

	if (len < 0)
		len = 0;
	r->size += ((size_t)len < max ? (size_t)len : max - 1) + nul;
}

static void record_add(struct record *r, size_t max, bool nul, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void record_add(struct record *r, size_t max, bool nul, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_vadd(r, max, nul, fmt, ap);
	va_end(ap);
}

/* The fields after MESSAGE, and the empty one that ends the record. */
static void journal_fields(struct record *r, int priority, const struct log_fields *f, const char *file,
			   int line, const char *func)
{
	const char *texts[][2] = {
		{ "MINETD_SERVICE", f ? f->service : NULL }, { "MINETD_PROTOCOL", f ? f->protocol : NULL },
		{ "MINETD_PEER", f ? f->peer : NULL }, { "MINETD_REASON", f ? f->reason : NULL },
	};

	record_add(r, FIELD_MAX, true, "PRIORITY=%d", priority);
	record_add(r, FIELD_MAX, true, "SYSLOG_IDENTIFIER=minetd");
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i][1])
			record_add(r, FIELD_MAX, true, "%s=%s", texts[i][0], texts[i][1]);
	if (f && f->has_traffic) {
		record_add(r, FIELD_MAX, true, "MINETD_BYTES_IN=%" PRIu64, f->bytes_in);
		record_add(r, FIELD_MAX, true, "MINETD_BYTES_OUT=%" PRIu64, f->bytes_out);
		record_add(r, FIELD_MAX, true, "MINETD_DURATION_USEC=%" PRIu64, f->duration_usec);
	}
	record_add(r, FIELD_MAX, true, "CODE_FILE=%s", file);
	record_add(r, FIELD_MAX, true, "CODE_LINE=%d", line);
	record_add(r, FIELD_MAX, true, "CODE_FUNC=%s", func);
	record_add(r, 1, true, "%s", "");
}

static const char *priority_name(int priority)
{
	switch (priority) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: case LOG_INFO: return "info";
	default: return "debug";
	}
}

static void record_vformat(struct record *r, int priority, const struct log_fields *fields, const char *file,
			   int line, const char *func, const char *fmt, va_list ap)
	__attribute__((format(printf, 7, 0)));

static void record_vformat(struct record *r, int priority, const struct log_fields *fields, const char *file,
			   int line, const char *func, const char *fmt, va_list ap)
{
	r->size = 0;
	if (journal) {
		record_add(r, FIELD_MAX, false, "MESSAGE=");
		record_vadd(r, MESSAGE_MAX, true, fmt, ap);
		journal_fields(r, priority, fields, file, line, func);
	} else {
		record_add(r, FIELD_MAX, false, "minetd: %s: ", priority_name(priority));
		record_vadd(r, MESSAGE_MAX, false, fmt, ap);
		record_add(r, FIELD_MAX, false, "\n");
	}
}

static void record_format(struct record *r, int priority, const char *file, int line, const char *func,
			  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void record_format(struct record *r, int priority, const char *file, int line, const char *func,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_vformat(r, priority, NULL, file, line, func, fmt, ap);
	va_end(ap);
}

/* Blocks on a full pipe, in the writer; lines that cannot be written are lost, as with stdio. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {  /* someone made stderr non-blocking */
			poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, -1);
		} else if (w == 0 || errno != EINTR) {
			return;
		}
	}
}

/* Writes n bytes of records out. */
static void output(const char *text, size_t n)
{
	struct iovec iov[FIELDS_MAX];
	const char *end = text + n;
	int fields = 0;

	if (!journal) {
		write_all(STDERR_FILENO, text, n);
		return;
	}
	for (size_t len; text < end; text += len + 1) {
		len = strlen(text);
		if (len == 0) {
			sd_journal_sendv(iov, fields);
			fields = 0;
		} else if (fields < FIELDS_MAX) {
			iov[fields++] = (struct iovec){ .iov_base = (void *)text, .iov_len = len };
		}
	}
}

/* Copies n bytes between buf and the ring at pos, wrapping at its end: into it when in. */
static void ring_copy(size_t pos, void *buf, size_t n, bool in)
{
	size_t at = pos % QUEUE_BYTES, first = n < QUEUE_BYTES - at ? n : QUEUE_BYTES - at;
	char *b = buf;

	if (in) {
		memcpy(ring + at, b, first);
		memcpy(ring, b + first, n - first);
	} else {
		memcpy(b, ring + at, first);
		memcpy(b + first, ring, n - first);
	}
}

/* Under the lock. */
static void queue_put(struct record *r)
{
	uint32_t size = (uint32_t)r->size;

	if (queue.dropped > 0 || queue.head - queue.tail + sizeof(size) + size > QUEUE_BYTES) {
		queue.dropped++;
		return;
	}
	ring_copy(queue.head, &size, sizeof(size), true);
	ring_copy(queue.head + sizeof(size), r->text, size, true);
	queue.head += sizeof(size) + size;
	pthread_cond_signal(&queue.wake);
}

/* Waits for records and moves the oldest, as many as fit, into batch; once the queue is
 * empty, says in *dropped how many were lost since the last notice. Returns the bytes moved:
 * none, and no drops, when log_close has asked the writer to end. */
static size_t queue_take(char batch[BATCH_MAX], unsigned long *dropped)
{
	size_t n = 0;
	uint32_t size;

	pthread_mutex_lock(&queue.lock);
	while (queue.head == queue.tail && !queue.dropped && !queue.closing)
		pthread_cond_wait(&queue.wake, &queue.lock);
	while (queue.head != queue.tail) {
		ring_copy(queue.tail, &size, sizeof(size), false);
		if (n + size > BATCH_MAX)
			break;
		ring_copy(queue.tail + sizeof(size), batch + n, size, false);
		queue.tail += sizeof(size) + size;
		n += size;
	}
	*dropped = 0;
	if (queue.head == queue.tail) {
		queue.head = queue.tail = 0;    /* reuse the pages in use already */
		*dropped = queue.dropped;
		queue.dropped = 0;
		if (n == 0 && *dropped == 0 && queue.closing)
			queue.running = false;  /* the writer ends: calls write at once again */
	}
	pthread_mutex_unlock(&queue.lock);
	return n;
}

static void *writer_run(void *arg)
{
	char batch[BATCH_MAX];
	unsigned long dropped;
	struct record notice;
	size_t n;

	(void)arg;
	while ((n = queue_take(batch, &dropped)) > 0 || dropped > 0) {
		output(batch, n);
		if (dropped > 0) {
			record_format(&notice, LOG_WARNING, __FILE__, __LINE__, __func__,
				      "%lu log messages dropped", dropped);
			output(notice.text, notice.size);
		}
	}
	return NULL;
}

void log_open(enum log_target target)
{
	static bool at_exit;
	sigset_t all, old;
	int r;

	if (writer_started)
		return;
	if (!at_exit)
		at_exit = atexit(log_close) == 0;
	journal = target == LOG_TARGET_AUTO ? started_by_systemd() : target == LOG_TARGET_JOURNAL;
	/* the writer takes no signal: the main loop reads them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&queue.lock);
	queue.closing = false;
	r = pthread_create(&queue.writer, NULL, writer_run, NULL);
	queue.running = writer_started = r == 0;
	pthread_mutex_unlock(&queue.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		log_warning("cannot start the log writer, logging waits for the output: %s", strerror(r));
}

void log_close(void)
{
	struct timespec deadline;

	if (!writer_started)
		return;
	pthread_mutex_lock(&queue.lock);
	queue.closing = true;
	pthread_cond_signal(&queue.wake);
	pthread_mutex_unlock(&queue.lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CLOSE_WAIT_SEC;
	if (pthread_timedjoin_np(queue.writer, NULL, &deadline) == 0)
		writer_started = false;
	/* else it waits for the output: the process's exit ends it */
}

void log_full(int priority, const struct log_fields *fields, const char *file, int line,
	      const char *func, const char *fmt, ...)
{
	struct record r;
	va_list ap;

	va_start(ap, fmt);
	record_vformat(&r, priority, fields, file, line, func, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&queue.lock);
	if (queue.running)
		queue_put(&r);
	else
		output(r.text, r.size);         /* before log_open and after log_close */
	pthread_mutex_unlock(&queue.lock);
}

void log_ratelimit_flush(struct log_ratelimit *rl, uint64_t now)
{
	struct log_fields f = { .service = rl->service[0] ? rl->service : NULL };
	const char *what = rl->what ? rl->what : "similar messages";

	if (now - rl->window_start < rl->interval_usec)
		return;
	if (rl->suppressed > 0 && f.service)
		log_fields(LOG_WARNING, &f, "%s: %u %s suppressed", f.service, rl->suppressed, what);
	else if (rl->suppressed > 0)
		log_warning("%u %s suppressed", rl->suppressed, what);
	rl->window_start = now;
	rl->printed = 0;
	rl->suppressed = 0;
}

bool log_ratelimit_pass(struct log_ratelimit *rl, uint64_t now)
{
	log_ratelimit_flush(rl, now);
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
