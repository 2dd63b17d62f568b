/* The key reader over a tree of values built by hand, as a source other than libconfig (an
 * inetd.conf line) builds it: the same rows, defaults and "FILE:LINE: message" problems. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"

struct options {
	struct string_list command;
	char *user;
	unsigned processes;
	bool wait;
	struct port_list ports;
};

#define O(field) offsetof(struct options, field)

static const struct key keys[] = {
	{ .name = "command", .type = KEY_STRINGS, .offset = O(command), .required = true },
	{ .name = "user", .type = KEY_STRING, .offset = O(user), .def_text = "nobody" },
	{ .name = "processes", .type = KEY_UINT, .offset = O(processes), .min = 1, .max = 100, .def = 32 },
	{ .name = "wait", .type = KEY_BOOL, .offset = O(wait) },
	{ .name = "ports", .type = KEY_PORTS, .offset = O(ports) },
	{ .name = NULL },
};

/* A value written on line 12 of inetd.conf. */
#define AT(type_, name_) .type = type_, .name = name_, .file = "inetd.conf", .line = 12

static void reads_a_tree_built_by_hand(void **state)
{
	struct key_value argv[] = {
		{ AT(VALUE_STRING, NULL), .s = "/bin/cat" }, { AT(VALUE_STRING, NULL), .s = "-u" },
	};
	struct key_value ports[] = { { AT(VALUE_INT, NULL), .i = 7 } };
	struct key_value members[] = {
		{ AT(VALUE_ARRAY, "command"), .members = { argv, 2 } },
		{ AT(VALUE_INT64, "processes"), .i = 64 },
		{ AT(VALUE_BOOL, "wait"), .b = true },
		{ AT(VALUE_ARRAY, "ports"), .members = { ports, 1 } },
	};
	struct key_value line = { AT(VALUE_GROUP, NULL), .members = { members, 4 } };
	struct config_errors errors = { 0 };
	struct config_place at = { "inetd.conf", 12, "inetd.conf", &errors, NULL };
	struct options o = { 0 };

	(void)state;
	assert_int_equal(read_group(&line, keys, &o, &at), 0);
	assert_int_equal(errors.n, 0);
	assert_int_equal(o.command.n, 2);
	assert_string_equal(o.command.items[1], "-u");
	assert_null(o.command.items[2]);                        /* argv ends in NULL */
	assert_string_equal(o.user, "nobody");                  /* the default */
	assert_int_equal(o.processes, 64);
	assert_true(o.wait);
	assert_int_equal(o.ports.n, 1);
	assert_int_equal(o.ports.items[0], 7);
	release_values(keys, &o);
}

/* Each problem once, where it was written: unknown keys and wrong types first, in the order
 * written, then what the rows refuse, in the table's order. */
static void problems_name_file_and_line(void **state)
{
	struct key_value empty[] = { { AT(VALUE_STRING, NULL), .s = "" } };
	struct key_value members[] = {
		{ AT(VALUE_STRING, "bogus"), .s = "x" },
		{ AT(VALUE_STRING, "wait"), .s = "yes" },
		{ AT(VALUE_INT, "processes"), .i = 0 },
		{ AT(VALUE_ARRAY, "ports"), .members = { empty, 1 } },
	};
	struct key_value line = { AT(VALUE_GROUP, NULL), .members = { members, 4 } };
	static const char *const want[] = {
		"inetd.conf:12: unknown key 'bogus'",
		"inetd.conf:12: 'wait' must be true or false",
		"inetd.conf:12: service without a 'command'",
		"inetd.conf:12: 'processes' is 0, must be 1 to 100",
		"inetd.conf:12: 'ports' holds ports, 1 to 65535",
	};
	struct config_errors errors = { 0 };
	struct config_place at = { "inetd.conf", 12, "inetd.conf", &errors, NULL };
	struct options o = { 0 };

	(void)state;
	assert_int_equal(read_group(&line, keys, &o, &at), 5);
	assert_int_equal(errors.n, 5);
	for (size_t i = 0; i < errors.n; i++)
		assert_string_equal(errors.lines[i], want[i]);
	release_values(keys, &o);
	config_errors_clear(&errors);
}

/* A place with a consequence makes warnings of its problems, each saying what comes of it. */
static void warnings_say_their_consequence(void **state)
{
	struct key_value members[] = { { AT(VALUE_STRING, "bogus"), .s = "x" } };
	struct key_value line = { AT(VALUE_GROUP, NULL), .members = { members, 1 } };
	struct config_errors errors = { 0 };
	struct config_place at = { "inetd.conf", 12, "inetd.conf", &errors, "the line is not served" };

	(void)state;
	assert_int_equal(check_members(&line, keys, NULL, NULL, &at), 1);
	assert_int_equal(errors.n, 1);
	assert_string_equal(errors.lines[0], "inetd.conf:12: warning: unknown key 'bogus'; the line is not served");
	config_errors_clear(&errors);
}

/* Relative paths are relative to the directory of the config they are written in. */
static void paths_relative_to_the_config(void **state)
{
	struct config_place at = { .config_path = "/etc/minetd/minetd.conf" };
	struct config_place bare = { .config_path = "minetd.conf" };
	char *p;

	(void)state;
	assert_string_equal(p = config_resolve_path(&at, "inetd.d"), "/etc/minetd/inetd.d");
	free(p);
	assert_string_equal(p = config_resolve_path(&at, "/etc/inetd.conf"), "/etc/inetd.conf");
	free(p);
	assert_string_equal(p = config_resolve_path(&bare, "inetd.conf"), "inetd.conf");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_a_tree_built_by_hand),
		cmocka_unit_test(problems_name_file_and_line),
		cmocka_unit_test(warnings_say_their_consequence),
		cmocka_unit_test(paths_relative_to_the_config),
	};

	return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
