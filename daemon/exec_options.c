/* Handler exec's options and their load-time checks: whether the command exists and may run,
 * and as whom. Nothing here runs a program (programs.c and spawn.c do). */
#include "exec_options.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

#define X(field) offsetof(struct exec_options, field)
#define MINUTE_USEC (60 * 1000000ULL)

/* A token bucket of per_minute programs a minute, refilled smoothly (in millionths). */
struct exec_rate {
	pthread_mutex_t lock;
	uint64_t tokens;                /* millionths of a program */
	uint64_t updated_usec;
};

static int parse_sandbox(void *value, const char *text, const struct config_place *at)
{
	if (strcmp(text, "none") == 0 || strcmp(text, "strict") == 0) {
		*(unsigned *)value = strcmp(text, "strict") == 0 ? SANDBOX_STRICT : SANDBOX_NONE;
		return 0;
	}
	config_error(at, "exec: unknown sandbox '%s' (none or strict)", text);
	return 1;
}

static int parse_stderr(void *value, const char *text, const struct config_place *at)
{
	if (strcmp(text, "journal") == 0 || strcmp(text, "client") == 0) {
		*(unsigned *)value = strcmp(text, "client") == 0 ? STDERR_CLIENT : STDERR_JOURNAL;
		return 0;
	}
	config_error(at, "exec: unknown stderr '%s' (journal or client)", text);
	return 1;
}

const struct key exec_keys[] = {
	{ .name = "command", .type = KEY_STRINGS, .offset = X(command), .required = true },
	{ .name = "argv0", .type = KEY_STRING, .offset = X(argv0) },
	{ .name = "user", .type = KEY_STRING, .offset = X(user) },
	{ .name = "group", .type = KEY_STRING, .offset = X(group) },
	{ .name = "processes", .type = KEY_UINT, .offset = X(processes), .min = 1, .max = 100000, .def = 32 },
	{ .name = "timeout", .type = KEY_UINT, .offset = X(timeout), .min = 0, .max = 86400 * 365, .def = 10 },
	{ .name = "per_minute", .type = KEY_UINT, .offset = X(per_minute), .min = 0, .max = 1000000, .def = 0 },
	{ .name = "wait", .type = KEY_BOOL, .offset = X(wait) },
	{ .name = "stderr", .type = KEY_STRING, .offset = X(stderr_to), .def_text = "journal", .parse = parse_stderr },
	{ .name = "sandbox", .type = KEY_STRING, .offset = X(sandbox), .def_text = "none", .parse = parse_sandbox },
	{ .name = NULL },
};

/* Off in a serving process whose programs a helper of systemd's starts: it could neither see
 * every path (ProtectHome=) nor tell another user's rights; the helper checks at its load.
 * As root's: the serving process by hand, once it gave root up to its helper. */
static enum { CHECK_AS_SELF, CHECK_AS_ROOT, CHECK_NOT } checks = CHECK_AS_SELF;

/* Who runs it: the user's uid and groups, the group's gid (default: the user's). */
static int resolve_user(struct exec_options *o, const struct config_place *at)
{
	struct passwd *pw = getpwnam(o->user);
	struct group *gr = o->group ? getgrnam(o->group) : NULL;
	int n = 0;

	if (!pw || (o->group && !gr)) {
		config_error(at, "exec: no %s '%s' on this system", !pw ? "user" : "group",
			     !pw ? o->user : o->group);
		return 1;
	}
	o->uid = pw->pw_uid;
	o->gid = gr ? gr->gr_gid : pw->pw_gid;
	getgrouplist(o->user, o->gid, NULL, &n);
	if (!(o->groups = calloc((size_t)n + 1, sizeof(*o->groups))))
		return -ENOMEM;
	o->n_groups = n;
	if (getgrouplist(o->user, o->gid, o->groups, &o->n_groups) < 0)
		o->n_groups = 0;
	return 0;
}

/* Whether the user the program runs as may execute (search, for a directory) a file with
 * st's owner and mode. */
static bool may_execute(const struct exec_options *o, const struct stat *st)
{
	if (o->uid == 0)
		return S_ISDIR(st->st_mode) || st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH);
	if (st->st_uid == o->uid)
		return st->st_mode & S_IXUSR;
	if (st->st_gid == o->gid)
		return st->st_mode & S_IXGRP;
	for (int i = 0; i < o->n_groups; i++)
		if (st->st_gid == o->groups[i])
			return st->st_mode & S_IXGRP;
	return st->st_mode & S_IXOTH;
}

/* Why the program cannot run path, or NULL. As another user than minetd's: the file and
 * every directory on the way, by their mode bits (ACLs are not read). */
static const char *cannot_run(const struct exec_options *o, const char *path)
{
	char dir[PATH_MAX];
	struct stat st;

	if (stat(path, &st) < 0)
		/* out of the sight of a process that gave root up: the helper, root, looks */
		return errno == EACCES && checks == CHECK_AS_ROOT ? NULL : strerror(errno);
	if (!S_ISREG(st.st_mode))
		return "not a regular file";
	if (!o->switch_user)
		return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0 ? strerror(errno) : NULL;
	if (!may_execute(o, &st))
		return "not executable by that user";
	for (const char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (stat(dir, &st) == 0 && !may_execute(o, &st))
			return "a directory on the way is not searchable by that user";
	}
	return NULL;
}

/* Whether the strict sandbox hides path (spawn.c's enter_sandbox). */
static bool hidden_by_sandbox(const char *path)
{
	static const char *const dirs[] = { "/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (strncmp(path, dirs[i], strlen(dirs[i])) == 0)
			return true;
	return false;
}

void exec_leave_checks_to_helper(void)
{
	checks = CHECK_NOT;
}

void exec_check_for_root_helper(void)
{
	checks = CHECK_AS_ROOT;
}

int exec_check(void *options, const struct config_place *at)
{
	struct exec_options *o = options;
	const char *path = o->command.n ? o->command.items[0] : "", *why;
	int r;

	if (!(o->running = calloc(1, sizeof(*o->running))) || !(o->rate = calloc(1, sizeof(*o->rate))))
		return -ENOMEM;
	pthread_mutex_init(&o->rate->lock, NULL);
	o->rate->tokens = (uint64_t)o->per_minute * 1000000;
	if (path[0] != '/') {
		config_error(at, "exec: the command must start with an absolute path, not '%s'", path);
		return 1;
	}
	if (o->sandbox == SANDBOX_STRICT && hidden_by_sandbox(path)) {
		config_error(at, "exec: '%s' is out of sight under sandbox \"strict\" (it hides /home, /root, "
			     "/run/user and gives the program a /tmp and /var/tmp of its own)", path);
		return 1;
	}
	if (checks == CHECK_NOT)
		return 0;
	/* A program never runs as root by accident. */
	o->switch_user = checks == CHECK_AS_ROOT || geteuid() == 0;
	if (o->switch_user && !o->user) {
		config_error(at, "exec: minetd runs as root: say which 'user' the program runs as");
		return 1;
	}
	if (o->switch_user && (r = resolve_user(o, at)) != 0)
		return r;
	if ((why = cannot_run(o, path))) {
		config_error(at, "exec: cannot run '%s' as %s: %s", path,
			     o->switch_user ? o->user : "minetd's user", why);
		return 1;
	}
	return 0;
}

void exec_release(void *options)
{
	struct exec_options *o = options;

	free(o->groups);
	free(o->running);
	if (o->rate)
		pthread_mutex_destroy(&o->rate->lock);
	free(o->rate);
}

bool exec_rate_take(const struct exec_options *o, uint64_t now)
{
	struct exec_rate *r = o->rate;
	uint64_t full = (uint64_t)o->per_minute * 1000000;
	bool ok;

	if (!o->per_minute || !r)
		return true;
	pthread_mutex_lock(&r->lock);
	if (r->updated_usec && now > r->updated_usec) {
		uint64_t gained = (now - r->updated_usec) * o->per_minute / 60;   /* millionths */
		r->tokens = r->tokens + gained > full ? full : r->tokens + gained;
	}
	r->updated_usec = now;
	if ((ok = r->tokens >= 1000000))
		r->tokens -= 1000000;
	pthread_mutex_unlock(&r->lock);
	return ok;
}
