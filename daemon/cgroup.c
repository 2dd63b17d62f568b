#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define NOTE_XATTR "user.minetd"

/* The unified hierarchy's path of this process ("0::/system.slice/x.service"), into buf. */
static int own_path(char *buf, size_t size)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			r = snprintf(buf, size, CGROUP_ROOT "%s", line + 3) < (int)size ? 0 : -ENAMETOOLONG;
			break;
		}
	fclose(f);
	return r;
}

static int write_at(int dir, const char *path, const char *text)
{
	int fd = openat(dir, path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int cgroup_open_delegated(void)
{
	char path[4096], pid[32];
	int dir, r;

	if ((r = own_path(path, sizeof(path))) < 0)
		return r;
	/* Already in the leaf (a process forked from a helper that moved there)? */
	size_t len = strlen(path);
	if (len > 11 && strcmp(path + len - 11, "/supervisor") == 0)
		path[len - 11] = '\0';
	if ((dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (faccessat(dir, "cgroup.procs", W_OK, AT_EACCESS) < 0 ||
	    (mkdirat(dir, "supervisor", 0755) < 0 && errno != EEXIST)) {
		r = -errno;
		close(dir);
		return r;
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if ((r = write_at(dir, "supervisor/cgroup.procs", pid)) < 0) {
		close(dir);
		return r;
	}
	return dir;
}

int cgroup_create(int dir, const char *name, int *procs)
{
	char path[CGROUP_NAME_MAX + 16];

	if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/cgroup.procs", name);
	if ((*procs = openat(dir, path, O_WRONLY | O_CLOEXEC)) < 0) {
		int r = -errno;
		unlinkat(dir, name, AT_REMOVEDIR);
		return r;
	}
	return 0;
}

int cgroup_signal(int dir, const char *name, int sig)
{
	char path[CGROUP_NAME_MAX + 16];
	FILE *f;
	long pid;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.kill", name);
	if (sig == SIGKILL && write_at(dir, path, "1") == 0)
		return 0;
	/* Before 5.14, or another signal: each process in turn. One that forks meanwhile may
	 * escape a round, not the cgroup. */
	snprintf(path, sizeof(path), "%s/cgroup.procs", name);
	if ((fd = openat(dir, path, O_RDONLY | O_CLOEXEC)) < 0 || !(f = fdopen(fd, "r"))) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (fscanf(f, "%ld", &pid) == 1)
		kill((pid_t)pid, sig);
	fclose(f);
	return 0;
}

bool cgroup_populated(int dir, const char *name)
{
	char path[CGROUP_NAME_MAX + 16], line[64];
	bool populated = false;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.events", name);
	if ((fd = openat(dir, path, O_RDONLY | O_CLOEXEC)) < 0 || !(f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (fgets(line, sizeof(line), f))
		if (strcmp(line, "populated 1\n") == 0)
			populated = true;
	fclose(f);
	return populated;
}

int cgroup_remove(int dir, const char *name)
{
	return unlinkat(dir, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* The note is an attribute of the directory, reached through a descriptor of it. */
static int note_fd(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int cgroup_set_note(int dir, const char *name, const char *text)
{
	int fd = note_fd(dir, name), r;

	if (fd < 0)
		return fd;
	r = fsetxattr(fd, NOTE_XATTR, text, strlen(text), 0) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int cgroup_get_note(int dir, const char *name, char *text, size_t size)
{
	int fd = note_fd(dir, name);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = fgetxattr(fd, NOTE_XATTR, text, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	return 0;
}

void cgroup_each(int dir, void (*found)(void *ctx, const char *name), void *ctx)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && strncmp(e->d_name, CGROUP_PREFIX, strlen(CGROUP_PREFIX)) == 0 &&
		    strlen(e->d_name) < CGROUP_NAME_MAX)
			found(ctx, e->d_name);
	closedir(d);
}
