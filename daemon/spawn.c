#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct child {
	const struct spawn *s;
	int error;              /* what failed in the child: it shares our memory */
};

/* The kernel's struct sigaction: the C library's wrapper refuses the two real-time signals
 * it keeps for itself, which whoever started minetd may have ignored all the same. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

/* The child shares minetd's memory, thread-local storage included, until execve: it makes
 * raw system calls only, never through a sanitizer's interceptors, and is not instrumented
 * (ASan would take the suspended parent thread's frames for dead ones, TSan's interceptors
 * would write the parent thread's state). */
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined", "thread")))

/* The C library's clone under its own name: a sanitizer intercepts "clone" as a fork, and
 * resets in a child that shares our memory what it keeps for the whole process. */
extern int __clone(int (*fn)(void *arg), void *stack, int flags, void *arg, ...);

/* The sandbox a service may ask for (needs the privileges of root): a network of its own
 * with nothing up in it, a private copy of the mounts, read-only all of it, with an empty
 * read-only /home and /root and a /tmp and /var/tmp of its own; no new privileges. */
static inline __attribute__((always_inline)) CHILD_CODE int enter_sandbox(void)
{
	static const char *const hidden[] = { "/home", "/root", "/run/user" };
	static const char *const own[] = { "/tmp", "/var/tmp" };
	struct { uint64_t set, clear, propagation, userns; } ro = { MOUNT_ATTR_RDONLY, 0, 0, 0 };

	if (syscall(SYS_unshare, CLONE_NEWNS | CLONE_NEWNET) < 0 ||
	    syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		syscall(SYS_mount, "none", hidden[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			"mode=0755");
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (syscall(SYS_mount, "none", own[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
			return -1;
	return (int)syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* fd as descriptor 'to', open across execve. */
static inline __attribute__((always_inline)) CHILD_CODE int place_fd(int fd, int to)
{
	return fd == to ? (int)syscall(SYS_fcntl, fd, F_SETFD, 0) : (int)syscall(SYS_dup3, fd, to, 0);
}

/* The child, on its own stack in minetd's memory until execve. The credentials are changed
 * with the raw system calls: glibc's setuid() would ask every thread of the process it
 * believes it is, minetd's, to change theirs. */
static CHILD_CODE int child_main(void *arg)
{
	struct child *c = arg;
	const struct spawn *s = c->s;
	struct kernel_sigaction dfl = { .handler = SIG_DFL };
	uint64_t none = 0;

	/* First into its cgroup, from which nothing it starts can leave. */
	if (s->cgroup_procs >= 0 && syscall(SYS_write, s->cgroup_procs, "0", 1) < 0)
		goto fail;
	if (syscall(SYS_setsid) < 0 || place_fd(s->fds[0], 0) < 0 || place_fd(s->fds[1], 1) < 0 ||
	    place_fd(s->fds[2], 2) < 0)
		goto fail;
	/* Nothing but its stdin, stdout and stderr, whoever opened the rest without
	 * O_CLOEXEC (libconfig's fopen, minetd's own parent). */
	if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
		goto fail;
	/* Every disposition back to the default: a signal ignored by whoever started minetd
	 * (nohup's SIGHUP, a shell's SIGINT and SIGQUIT for a background job) or by minetd
	 * itself (SIGPIPE) would stay ignored across execve; and no signal blocked (minetd
	 * blocks those its loop reads). Handlers are reset by execve anyway. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
	/* What minetd may hold (CAP_NET_BIND_SERVICE under the low-port drop-in) is not the
	 * program's: ambient capabilities would survive execve. */
	syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* What it starts and leaves behind comes back to it, not to minetd, as long as it
	 * runs: so whatever reaches minetd is left over by a program that ended. */
	if (syscall(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		goto fail;
	if (s->sandbox && enter_sandbox() < 0)
		goto fail;
	if (s->switch_user && (syscall(SYS_setgroups, s->n_groups, s->groups) < 0 ||
			       syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0 ||
			       syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0))
		goto fail;
	syscall(SYS_execve, s->path, s->argv, s->envp);
fail:
	c->error = errno;
	syscall(SYS_exit, 127);
	return 127;
}

pid_t spawn(const struct spawn *s, int *pidfd)
{
	struct child c = { s, 0 };
	/* CLONE_VFORK: we go on once the child has exec'd or exited, so nothing is copied and
	 * the stack is ours again. */
	pid_t pid = __clone(child_main, (char *)s->stack + SPAWN_STACK_SIZE,
			    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &c, pidfd);

	if (pid < 0)
		return -errno;
	if (c.error) {
		close(*pidfd);
		waitpid(pid, NULL, 0);  /* it has exited: reaped at once */
		return -c.error;
	}
	return pid;
}

/* The children of the calling thread, from /proc/thread-self/children: the programs it
 * started, and what programs left behind (reparented to minetd, their subreaper's reaper,
 * as they ended). Returns how many pids were put in pids (at most n), or -errno. */
static int own_children(pid_t *pids, size_t n)
{
	char buf[4096], *p, *end;
	size_t count = 0;
	ssize_t len;
	int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len < 0)
		return -errno;
	buf[len] = '\0';
	for (p = buf; count < n; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		pids[count++] = (pid_t)pid;
	}
	return (int)count;
}

int spawn_end_leftovers(bool (*started)(pid_t pid, void *ctx), void *ctx)
{
	pid_t pids[256];
	int n = own_children(pids, sizeof(pids) / sizeof(pids[0])), left = 0;

	for (int i = 0; i < n; i++) {
		if (started(pids[i], ctx))
			continue;
		/* Our child: its pid is not another process's until we reap it. */
		kill(pids[i], SIGKILL);
		if (waitpid(pids[i], NULL, WNOHANG) != pids[i])
			left++;
	}
	return n < 0 ? n : left;
}
