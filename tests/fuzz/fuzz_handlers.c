/* Every handler's reply to an arbitrary datagram, at an arbitrary time and sequence number,
 * for a service whose options (quotes, daytime format) come from the input too. The reply
 * buffer is exactly UDP_MAX_PAYLOAD bytes, the least a caller may pass; half of the time the
 * datagram sits in the reply buffer, as the daemon receives and replies from one buffer.
 * exec has no reply (a program answers, and a fuzzer runs none): its options go through its
 * check, which decides what may run and as whom. */
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "exec_options.h"
#include "fuzz_data.h"
#include "handlers.h"
#include "proto.h"

static const char *const names[] = { "echo", "discard", "chargen", "qotd", "daytime", "time", "exec" };
#define N_NAMES (sizeof(names) / sizeof(names[0]))

/* Quotes as qotd.c stores them: formatted for the wire, at most QOTD_MAX bytes. */
static void make_quotes(struct qotd_options *s, struct fuzz_data *d)
{
	size_t n = fd_range(d, 0, 4);

	s->quotes = calloc(n + 1, sizeof(*s->quotes));
	if (!s->quotes)
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char *raw = fd_string(d, 600, &len), buf[QOTD_MAX];
		size_t out = qotd_format(buf, sizeof(buf), raw, len);
		free(raw);
		if (out == 0)
			continue;
		struct quote *q = &s->quotes[s->n_quotes++];
		q->text = malloc(out);
		if (!q->text)
			abort();
		memcpy(q->text, buf, out);
		q->len = out;
	}
}

static void check_reply(const struct handler *h, const struct qotd_options *s, const struct reply_input *in,
			const uint8_t *datagram, const uint8_t *out, ssize_t n)
{
	const char *name = h->name;

	if (strcmp(name, "echo") == 0) {
		CHECK(n == (ssize_t)in->len, "echo of %zu bytes gave %zd", in->len, n);
		CHECK(memcmp(out, datagram, in->len) == 0, "echo changed the data");
	} else if (strcmp(name, "discard") == 0) {
		CHECK(n == -1, "discard replied %zd bytes", n);
	} else if (strcmp(name, "chargen") == 0) {
		uint8_t line[CHARGEN_LINE_LEN];
		chargen_line(line, in->seq);
		CHECK(n == CHARGEN_LINE_LEN, "chargen gave %zd bytes", n);
		CHECK(memcmp(out, line, CHARGEN_LINE_LEN) == 0, "chargen line %llu", (unsigned long long)in->seq);
		CHECK(out[0] == 32 + in->seq % CHARGEN_PRINTABLE, "chargen rotation");
	} else if (strcmp(name, "qotd") == 0) {
		if (s->n_quotes == 0) {
			CHECK(n == -1, "qotd without quotes gave %zd", n);
			return;
		}
		const struct quote *q = &s->quotes[in->seq % s->n_quotes];
		CHECK(n == (ssize_t)q->len && q->len <= QOTD_MAX, "qotd gave %zd, quote is %zu", n, q->len);
		CHECK(memcmp(out, q->text, q->len) == 0, "qotd text");
		CHECK(out[n - 2] == '\r' && out[n - 1] == '\n', "qotd without CRLF");
	} else if (strcmp(name, "daytime") == 0) {
		CHECK(n == -1 || (n >= 3 && n <= DAYTIME_MAX), "daytime gave %zd", n);
		if (n > 0)
			CHECK(out[n - 2] == '\r' && out[n - 1] == '\n', "daytime without CRLF");
	} else if (strcmp(name, "time") == 0) {
		uint32_t want = (uint32_t)((uint64_t)in->now + 2208988800ULL);
		CHECK(n == TIME_LEN, "time gave %zd", n);
		uint32_t got = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
		CHECK(got == want, "time %lld: %u, want %u", (long long)in->now, got, want);
	} else {
		CHECK(0, "handler '%s' has no check here: add one", name);     /* exec never gets here */
	}
}

/* One of choices, or (past them) a string of the input; a heap copy either way. */
static char *fd_pick(struct fuzz_data *d, const char *const *choices, size_t n)
{
	size_t i = fd_range(d, 0, n);
	char *s = i < n ? (choices[i] ? strdup(choices[i]) : NULL) : fd_string(d, 64, NULL);

	if (i < n && choices[i] && !s)
		abort();
	return s;
}

/* What exec's check accepts: an absolute path to a regular file; as root, a user that
 * exists, whose uid and groups (the group's gid among them) the program will have. */
static void check_exec_accepted(const struct exec_options *o)
{
	struct stat st;

	CHECK(o->command.items[0][0] == '/', "command '%s' accepted", o->command.items[0]);
	CHECK(stat(o->command.items[0], &st) == 0 && S_ISREG(st.st_mode), "'%s' accepted",
	      o->command.items[0]);
	CHECK(o->switch_user == (geteuid() == 0), "switch_user %d as uid %d", o->switch_user, (int)geteuid());
	if (!o->switch_user)
		return;
	struct passwd *pw = o->user ? getpwnam(o->user) : NULL;
	CHECK(pw && pw->pw_uid == o->uid, "user '%s' is uid %d", o->user ? o->user : "(none)", (int)o->uid);
	bool has_gid = false;
	for (int i = 0; i < o->n_groups; i++)
		has_gid |= o->groups[i] == o->gid;
	CHECK(has_gid, "gid %d not among the %d groups of '%s'", (int)o->gid, o->n_groups, o->user);
}

/* exec's options from the input, through its check: accepted only when they can run,
 * else one "FILE:LINE: exec: ..." line; what the check made is released (LeakSanitizer). */
static void fuzz_exec_options(struct fuzz_data *d)
{
	static const char *const paths[] = { "/bin/cat", "/bin", "/etc/passwd", "/nonexistent/x", "cat", "" };
	static const char *const users[] = { NULL, "nobody", "root", "no-such-user.minetd" };
	static const char *const groups[] = { NULL, "nogroup", "root", "no-such-group.minetd" };
	const struct handler *h = handler_find("exec");
	struct config_errors errors = { 0 };
	struct config_place at = { .file = "fuzz.conf", .line = 7, .config_path = "fuzz.conf", .errors = &errors };
	struct exec_options o = { .command.n = fd_range(d, 0, 3), .processes = 1, .timeout = 1 };

	if (!(o.command.items = calloc(o.command.n + 1, sizeof(char *))))
		abort();
	if (o.command.n)                /* none: as 'command = [ ];' */
		o.command.items[0] = fd_pick(d, paths, sizeof(paths) / sizeof(paths[0]));
	for (size_t i = 1; i < o.command.n; i++)
		o.command.items[i] = fd_string(d, 64, NULL);
	o.user = fd_pick(d, users, sizeof(users) / sizeof(users[0]));
	o.group = fd_pick(d, groups, sizeof(groups) / sizeof(groups[0]));
	int r = h->check(&o, &at);
	CHECK(r == 0 || r == 1, "exec check returned %d", r);
	CHECK(r == 0 ? errors.n == 0 : errors.n == 1, "exec check: %d and %zu errors", r, errors.n);
	if (r == 0)
		check_exec_accepted(&o);
	else
		CHECK(strncmp(errors.lines[0], "fuzz.conf:7: ", 13) == 0, "error '%s'", errors.lines[0]);
	CHECK(!o.running || *o.running == 0, "programs counted before any ran");
	h->release(&o);
	for (size_t i = 0; i < o.command.n; i++)
		free(o.command.items[i]);
	free(o.command.items);
	free(o.user);
	free(o.group);
	config_errors_clear(&errors);
}

/* Fills the stack below us with junk, so that a reply reading a local it never set (a
 * struct tm that gmtime_r could not fill, say) reads junk, and different junk each time:
 * a pure function gives the same reply both times. */
static void __attribute__((noinline, no_sanitize("address"))) scribble_stack(int junk_byte)
{
	volatile uint8_t junk[16384];

	for (size_t i = 0; i < sizeof(junk); i++)     /* volatile: not a dead store */
		junk[i] = (uint8_t)junk_byte;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_data d = { data, size };
	struct qotd_options s = { 0 };
	struct daytime_options day = { 0 };
	uint8_t flags = fd_u8(&d);
	uint64_t seq = fd_u64(&d);
	/* Half the time a time the daemon may see (1900 to 2400), else any. */
	time_t now = flags & 1 ? (time_t)fd_u64(&d) : (time_t)fd_range(&d, 0, 14000000000ULL) - 2208988800LL;
	char *lookup = fd_string(&d, 16, NULL);

	/* handler_find: only the six names, each its own row. */
	const struct handler *found = handler_find(lookup);
	bool known = false;
	for (size_t i = 0; i < N_NAMES; i++)
		known |= strcmp(lookup, names[i]) == 0;
	CHECK(known == (found != NULL), "handler_find('%s')", lookup);
	CHECK(!found || strcmp(found->name, lookup) == 0, "handler_find('%s') gave '%s'", lookup, found->name);
	free(lookup);

	day.format = fd_string(&d, DAYTIME_MAX, NULL);
	day.utc = flags & 2;
	make_quotes(&s, &d);
	fuzz_exec_options(&d);
	size_t len;
	uint8_t *datagram = fd_rest(&d, &len);
	if (flags & 4) {        /* stretch it, up to and past the largest UDP payload */
		size_t want = (size_t)seq % (UDP_MAX_PAYLOAD + 64);
		uint8_t *big = malloc(want ? want : 1);
		if (!big)
			abort();
		for (size_t i = 0; i < want; i++)
			big[i] = len ? datagram[i % len] : (uint8_t)i;
		free(datagram);
		datagram = big;
		len = want;
	}

	uint8_t *out = malloc(UDP_MAX_PAYLOAD), *out2 = malloc(UDP_MAX_PAYLOAD);
	if (!out || !out2)
		abort();
	for (size_t i = 0; i < N_NAMES; i++) {
		const struct handler *h = handler_find(names[i]);
		CHECK(h, "no handler '%s'", names[i]);
		CHECK(!h->reply == (h->tcp == TCP_PROGRAM), "%s: a reply, or a program", names[i]);
		if (!h->reply)
			continue;
		const void *options = strcmp(h->name, "qotd") == 0 ? (const void *)&s :
				      strcmp(h->name, "daytime") == 0 ? (const void *)&day : NULL;
		struct reply_input in = { .options = options, .seq = seq, .now = now, .data = datagram, .len = len };
		bool in_place = flags & 8 && len <= UDP_MAX_PAYLOAD;
		if (in_place) {
			memcpy(out, datagram, len);
			in.data = out;
		} else {
			memset(out, 0xa5, UDP_MAX_PAYLOAD);
		}
		scribble_stack(0xa5);
		ssize_t n = h->reply(&in, out, UDP_MAX_PAYLOAD);
		if (len > UDP_MAX_PAYLOAD && strcmp(h->name, "echo") == 0) {
			CHECK(n == -1, "echo of %zu bytes into %d gave %zd", len, UDP_MAX_PAYLOAD, n);
			continue;
		}
		check_reply(h, &s, &in, datagram, out, n);
		in.data = datagram;
		scribble_stack(0x5a);
		ssize_t again = h->reply(&in, out2, UDP_MAX_PAYLOAD);
		CHECK(again == n && (n <= 0 || memcmp(out, out2, (size_t)n) == 0),
		      "%s: another reply to the same input (%zd bytes, then %zd)", h->name, n, again);
	}
	free(out);
	free(out2);
	free(datagram);
	for (size_t i = 0; i < s.n_quotes; i++)
		free(s.quotes[i].text);
	free(s.quotes);
	free(day.format);
	return 0;
}
