/* inetd.conf as a source of services: the files openbsd-inetd reads on Debian 12 (and
 * update-inetd writes), turned into the tree of values keys.c reads, one group of minetd's
 * service keys per line (name, handler, port, protocol, host, and exec's for a program),
 * placed at its file and line. config.c reads each group through the same tables and
 * checks as its own services. What cannot become a service (RPC, a unix socket, an unknown name, a
 * field minetd does not take) is a warning, "FILE:LINE: warning: ...; the line is not
 * served", and never an error of the config. */
#pragma once

#include <stddef.h>

#include "keys.h"

/* The end of each warning about a line: the line alone is left out. */
#define INETD_LINE_LEFT_OUT "the line is not served"

/* Called with each line that reads as a service: its group of keys, placed at the line,
 * and valid during the call only. Returns 0, or -ENOMEM to stop the reading. */
typedef int inetd_service_fn(const struct key_value *group, void *context);

/* Reads each of paths (written in the config at->config_path, relative to its directory):
 * a file, or a directory whose regular files are read in the order of their names, but for
 * names that start with '.', end in '~' or hold ".dpkg-" or ".ucf-" (what editors, dpkg
 * and ucf leave). A path that does not exist holds no line. Every problem is a warning in
 * at->errors, in the order of the lines. Returns 0 or -ENOMEM. */
int inetd_read(const struct string_list *paths, const struct config_place *at, inetd_service_fn *fn,
	       void *context);
