/* For the harnesses that load configs: a private directory of files (in $TMPDIR, which
 * run.sh removes whatever becomes of a fuzzer, else /dev/shm or /tmp), removed at exit; and
 * no DNS: names other than localhost fail at once, as when offline (the harness is linked
 * with -Wl,--wrap=getaddrinfo, see build.sh). */
#pragma once

#include <ftw.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[256];

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	struct addrinfo h = { 0 };

	if (hints)
		h = *hints;
	if (node && strcmp(node, "localhost") != 0)
		h.ai_flags |= AI_NUMERICHOST;
	return __real_getaddrinfo(node, service, &h, res);
}

/* name, in the directory: a file holding data, or (data NULL) a directory. */
static inline void fuzz_write(const char *name, const void *data, size_t len)
{
	char p[320];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", fuzz_dir, name);
	if (!data) {
		if (mkdir(p, 0700) == 0)
			return;
		perror(p);
		abort();
	}
	f = fopen(p, "we");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(p);
		abort();
	}
}

static int fuzz_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void fuzz_dir_remove(void)
{
	nftw(fuzz_dir, fuzz_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* The directory, named after the harness. */
static inline void fuzz_dir_make(const char *harness)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/%s.XXXXXX", tmp, harness);
	if (!mkdtemp(fuzz_dir)) {
		perror(fuzz_dir);
		abort();
	}
	atexit(fuzz_dir_remove);
}
