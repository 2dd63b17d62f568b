/* A corpus of files that say what loading them must give (tests/data/bad, tests/data/inetd):
 * each *.conf file of a directory checked in turn. Included by the tests that read one. */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* check(path) for each .conf file of dir; returns how many. A file with "-root-" in its name
 * is checked as root only: minetd asks about (and for) a program's user only then. */
static int check_corpus(const char *dir, void (*check)(const char *path))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[512];
		if (!strstr(e->d_name, ".conf") || (strstr(e->d_name, "-root-") && geteuid() != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		check(path);
		n++;
	}
	closedir(d);
	return n;
}
