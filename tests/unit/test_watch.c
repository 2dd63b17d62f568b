/* watch.c: the changes update-inetd and admins make to inetd.conf and /etc/inetd.d are
 * noticed, once per burst; other files in the same directory are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../daemon/loop.h"
#include "../../daemon/watch.h"

struct fixture {
	char dir[64], conf[96], confd[96];
	struct loop *loop;
	struct watch *watch;
	int calls;
};

static void changed(void *ctx)
{
	((struct fixture *)ctx)->calls++;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Runs the loop until a call comes (or 3 s pass), then for twice the quiet time more, to
 * see a second call if there is one; returns the calls seen. A machine slow to run the
 * loop makes this wait longer, never miscount. */
static int settle(struct fixture *f)
{
	uint64_t end = now_usec() + 3000000;

	f->calls = 0;
	while (now_usec() < end && f->calls == 0)
		assert_int_equal(loop_dispatch(f->loop, 20), 0);
	end = now_usec() + 2 * WATCH_QUIET_USEC;
	while (now_usec() < end)
		assert_int_equal(loop_dispatch(f->loop, 20), 0);
	return f->calls;
}

/* For a change that must not be one: three quiet times with no call. */
static int quiet(struct fixture *f)
{
	uint64_t end = now_usec() + 3 * WATCH_QUIET_USEC;

	f->calls = 0;
	while (now_usec() < end)
		assert_int_equal(loop_dispatch(f->loop, 20), 0);
	return f->calls;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *paths[2];

	strcpy(f->dir, "/tmp/minetd-watch.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf, sizeof(f->conf), "%s/inetd.conf", f->dir);
	snprintf(f->confd, sizeof(f->confd), "%s/inetd.d", f->dir);
	write_file(f->conf, "# nothing\n");
	assert_int_equal(mkdir(f->confd, 0755), 0);
	assert_int_equal(loop_new(&f->loop), 0);
	assert_int_equal(watch_new(f->loop, changed, f, &f->watch), 0);
	paths[0] = f->conf;
	paths[1] = f->confd;
	assert_int_equal(watch_set(f->watch, paths, 2), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	watch_free(f->watch);
	loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* update-inetd's way: a temporary file beside it, then a rename over it; and a copy. */
static void test_rename_over_and_rewrite(void **state)
{
	struct fixture *f = *state;
	char tmp[128];

	snprintf(tmp, sizeof(tmp), "%s/inetd.conf.new", f->dir);
	write_file(tmp, "finger stream tcp nowait nobody /bin/cat cat\n");
	assert_int_equal(rename(tmp, f->conf), 0);
	assert_int_equal(settle(f), 1);
	write_file(f->conf, "# rewritten in place\n");
	assert_int_equal(settle(f), 1);
	assert_int_equal(unlink(f->conf), 0);
	assert_int_equal(settle(f), 1);
	write_file(f->conf, "# back\n");
	assert_int_equal(settle(f), 1);
}

static void test_other_files_beside_are_not_a_change(void **state)
{
	struct fixture *f = *state;
	char other[128];

	snprintf(other, sizeof(other), "%s/hosts", f->dir);
	write_file(other, "127.0.0.1 localhost\n");
	assert_int_equal(unlink(other), 0);
	assert_int_equal(quiet(f), 0);
	/* reading is no change either */
	int fd = open(f->conf, O_RDONLY);
	char c;
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	close(fd);
	assert_int_equal(quiet(f), 0);
}

/* Any file in the directory, added, changed, removed; a burst is one call. */
static void test_directory_contents(void **state)
{
	struct fixture *f = *state;
	char path[128];

	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/pkg%d", f->confd, i);
		write_file(path, "ident stream tcp nowait nobody /bin/cat cat\n");
	}
	assert_int_equal(settle(f), 1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(settle(f), 1);
}

/* The directory removed and made again: noticed through its parent, and watched again by
 * the next watch_set (a reload calls it). */
static void test_directory_made_later(void **state)
{
	struct fixture *f = *state;
	char path[128], *paths[2] = { f->conf, f->confd };
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->confd);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(settle(f), 1);
	assert_int_equal(watch_set(f->watch, paths, 2), 0);
	assert_int_equal(mkdir(f->confd, 0755), 0);
	assert_int_equal(settle(f), 1);
	assert_int_equal(watch_set(f->watch, paths, 2), 0);
	snprintf(path, sizeof(path), "%s/late", f->confd);
	write_file(path, "# late\n");
	assert_int_equal(settle(f), 1);
}

/* A new set replaces the old: the old paths are no longer a change. */
static void test_set_replaces(void **state)
{
	struct fixture *f = *state;
	char path[128], *paths[1] = { f->confd };

	assert_int_equal(watch_set(f->watch, paths, 1), 0);
	write_file(f->conf, "# not watched now\n");
	assert_int_equal(quiet(f), 0);
	snprintf(path, sizeof(path), "%s/x", f->confd);
	write_file(path, "# watched\n");
	assert_int_equal(settle(f), 1);
	assert_int_equal(watch_set(f->watch, NULL, 0), 0);
	write_file(path, "# nothing watched\n");
	assert_int_equal(quiet(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rename_over_and_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_files_beside_are_not_a_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_made_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_replaces, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
