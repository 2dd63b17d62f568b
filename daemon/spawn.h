/* Starting a program the way a small server can afford per request: vfork semantics (the
 * child shares minetd's memory until it execs, nothing is copied), a session and process
 * group of its own, chosen descriptors as its stdin, stdout and stderr and no other, every
 * signal at its default, no ambient capability, the reaper of its own orphans, and, when
 * minetd runs as root, another user. Knows nothing of the rest of minetd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SPAWN_STACK_SIZE (64 * 1024)

struct spawn {
	void *stack;                    /* SPAWN_STACK_SIZE bytes the child runs on until it execs */
	const char *path;
	char *const *argv;
	char *const *envp;
	int fds[3];                     /* its stdin, stdout, stderr */
	int cgroup_procs;               /* a cgroup's cgroup.procs to enter before execve, or -1 */
	bool sandbox;                   /* no network, a read-only file system, no /home or /root,
					 * a /tmp of its own, no new privileges: needs root */
	bool switch_user;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
};

/* Starts it; *pidfd is a pidfd for the loop (readable once it exits). Returns its pid, or
 * -errno: from clone, or from the child (setuid, execve, ...) before it could run. */
pid_t spawn(const struct spawn *s, int *pidfd);

/* Ends what programs left behind: every child of the calling thread but those it started
 * (started() says which), with SIGKILL, and reaps it once it is gone. Returns how many are
 * not gone yet (a later call reaps them), or -errno. */
int spawn_end_leftovers(bool (*started)(pid_t pid, void *ctx), void *ctx);
