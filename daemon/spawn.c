#include "spawn.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct child {
	const struct spawn *s;
	int error;              /* what failed in the child: it shares our memory */
};

/* The child, on its own stack in minetd's memory until execve: system calls only. The
 * credentials are changed with the raw system calls: glibc's setuid() would ask every
 * thread of the process it believes it is, minetd's, to change theirs. */
static int child_main(void *arg)
{
	struct child *c = arg;
	const struct spawn *s = c->s;
	sigset_t none;

	sigemptyset(&none);
	if (setsid() < 0 || dup2(s->fds[0], 0) < 0 || dup2(s->fds[1], 1) < 0 || dup2(s->fds[2], 2) < 0)
		goto fail;
	/* minetd ignores SIGPIPE and blocks the signals its loop reads: not the program's */
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (s->switch_user && (syscall(SYS_setgroups, s->n_groups, s->groups) < 0 ||
			       syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0 ||
			       syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0))
		goto fail;
	execve(s->path, s->argv, s->envp);
fail:
	c->error = errno;
	_exit(127);
}

pid_t spawn(const struct spawn *s, int *pidfd)
{
	struct child c = { s, 0 };
	/* CLONE_VFORK: we go on once the child has exec'd or exited, so nothing is copied and
	 * the stack is ours again. */
	pid_t pid = clone(child_main, (char *)s->stack + SPAWN_STACK_SIZE,
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
