/* Programs in cgroups of their own, below the helper's delegated cgroup (systemd's
 * Delegate=yes, cgroup v2): nothing a program starts can leave it, cgroup.kill ends all of
 * it at once, and a helper that restarts (KillMode=process keeps the programs) finds what
 * its predecessor started. Without a delegated cgroup (by hand, cgroup v1) nothing here is
 * used and the helper falls back to process groups and its subreaper. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_PREFIX "program-"
#define CGROUP_NAME_MAX 32

/* Opens the calling process's own cgroup when it is delegated to it (writable), and moves
 * the process into a leaf of its own ("supervisor"), as a cgroup with children may hold no
 * process. Returns the directory's descriptor, or -errno. */
int cgroup_open_delegated(void);
/* Makes the cgroup name below dir; *procs is its cgroup.procs, opened for the program to
 * write itself into before it execs. 0 or -errno. */
int cgroup_create(int dir, const char *name, int *procs);
/* Sends sig to every process in it; with SIGKILL through cgroup.kill when the kernel has it.
 * 0 or -errno. */
int cgroup_signal(int dir, const char *name, int sig);
/* Whether a process is still in it. */
bool cgroup_populated(int dir, const char *name);
/* Removes it once empty: 0, -EBUSY while not, or another -errno. */
int cgroup_remove(int dir, const char *name);
/* What the helper notes of a program on its cgroup (an extended attribute) for its
 * successor, and reads back: a line of text. 0 or -errno. */
int cgroup_set_note(int dir, const char *name, const char *text);
int cgroup_get_note(int dir, const char *name, char *text, size_t size);
/* Calls found for each program cgroup below dir (name starting CGROUP_PREFIX). */
void cgroup_each(int dir, void (*found)(void *ctx, const char *name), void *ctx);
