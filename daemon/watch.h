/* Files that reload the config when they change: inetd.conf and /etc/inetd.d, which
 * update-inetd (and admins) edit without telling minetd. */
#pragma once

#include <stddef.h>

struct loop;
struct watch;

/* Called on the loop once the watched files have been quiet for WATCH_QUIET_USEC after
 * a change: a burst of changes (update-inetd writes a temporary file and renames it,
 * dpkg runs it once per package) is one call. */
typedef void watch_fn(void *ctx);

#define WATCH_QUIET_USEC 200000

/* 0 and *out, or -errno. Watches nothing until watch_set. */
int watch_new(struct loop *loop, watch_fn *fn, void *ctx, struct watch **out);
/* Watches paths from now on instead of what it watched before: a file is watched through
 * its directory, so that it may be created, replaced by a rename, or deleted; a path that
 * is a directory is watched for what changes in it as well. A path whose directory does
 * not exist is not watched (a warning says so). 0 or -errno. */
int watch_set(struct watch *watch, char *const *paths, size_t n);
void watch_free(struct watch *watch);
