/* The files a configuration names, read safely: regular files only, whole and bounded (a
 * path naming /dev/zero or a log file cannot exhaust memory); libconfig, which nothing else
 * knows, reading minetd.conf into the tree of values keys.c reads; and what libconfig 1.5
 * gets wrong, checked before it reads a file: it exits the process on an @include it cannot
 * read as a file (a directory), reads /dev/zero forever, reads an absolute @include below
 * the include directory, and cuts an @include name at a NUL byte. */
#pragma once

#include <sys/types.h>

#define FILE_SMALL_MAX (1024 * 1024)

struct config_errors;
struct key_value;

/* Returns the length, with the text in *out to free, or -errno: -EINVAL when path is no
 * regular file, -EFBIG when it holds more than FILE_SMALL_MAX bytes. */
ssize_t file_read_small(const char *path, char **out);
/* Why file_read_small() failed, for messages. */
const char *file_error(ssize_t r);
/* The line of text's first NUL byte, or 0 when it has none: not a text file. */
int nul_line(const char *text, size_t len);

/* Checks path and every file it includes, @include names being relative to include_dir.
 * Returns the number of problems, each added to errors with its file and line. */
int config_guard_files(const char *path, const char *include_dir, struct config_errors *errors);

/* What config_file_read hands the tree to; it returns as a load does (keys.h). */
typedef int config_tree_fn(const struct key_value *root, void *ctx, struct config_errors *errors);
/* Checks path as config_guard_files does, has libconfig read it, and hands fn its settings as
 * a tree of values (each with its file and line), valid during the call. Returns fn's
 * result, the number of problems found before (each in errors), or -ENOMEM. */
int config_file_read(const char *path, config_tree_fn *fn, void *ctx, struct config_errors *errors);
