#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#define FIELD_MAX 12

static bool journal;

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

void log_open(enum log_target target)
{
	if (target == LOG_TARGET_AUTO)
		journal = started_by_systemd();
	else
		journal = target == LOG_TARGET_JOURNAL;
}

bool log_to_journal(void)
{
	return journal;
}

static void add_field(struct iovec *iov, int *n, char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add_field(struct iovec *iov, int *n, char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= cap)
		len = (int)cap - 1;
	iov[*n].iov_base = buf;
	iov[*n].iov_len = (size_t)len;
	(*n)++;
}

static void send_journal(int priority, const struct log_fields *f, const char *file, int line,
			 const char *func, const char *msg)
{
	const char *texts[][2] = {
		{ "MINETD_SERVICE", f ? f->service : NULL }, { "MINETD_PROTOCOL", f ? f->protocol : NULL },
		{ "MINETD_PEER", f ? f->peer : NULL }, { "MINETD_REASON", f ? f->reason : NULL },
	};
	char b[FIELD_MAX][320];
	struct iovec iov[FIELD_MAX];
	char code_file[256], code_line[32];
	int n = 0;

	add_field(iov, &n, b[n], sizeof(b[n]), "MESSAGE=%s", msg);
	add_field(iov, &n, b[n], sizeof(b[n]), "PRIORITY=%d", priority);
	add_field(iov, &n, b[n], sizeof(b[n]), "SYSLOG_IDENTIFIER=minetd");
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i][1])
			add_field(iov, &n, b[n], sizeof(b[n]), "%s=%s", texts[i][0], texts[i][1]);
	if (f && f->has_traffic) {
		add_field(iov, &n, b[n], sizeof(b[n]), "MINETD_BYTES_IN=%" PRIu64, f->bytes_in);
		add_field(iov, &n, b[n], sizeof(b[n]), "MINETD_BYTES_OUT=%" PRIu64, f->bytes_out);
		add_field(iov, &n, b[n], sizeof(b[n]), "MINETD_DURATION_USEC=%" PRIu64, f->duration_usec);
	}
	snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
	snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
	sd_journal_sendv_with_location(code_file, code_line, func, iov, n);
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

void log_full(int priority, const struct log_fields *fields, const char *file, int line,
	      const char *func, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (journal)
		send_journal(priority, fields, file, line, func, msg);
	else
		fprintf(stderr, "minetd: %s: %s\n", priority_name(priority), msg);
}

bool log_ratelimit_pass(struct log_ratelimit *rl, uint64_t now)
{
	if (now - rl->window_start >= rl->interval_usec) {
		if (rl->suppressed > 0)
			log_warning("%u similar messages suppressed", rl->suppressed);
		rl->window_start = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
