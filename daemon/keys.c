/* The one reader of key tables, over a tree of values from any source (keys.h). */
#include "keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

void config_error(const struct config_place *at, const char *fmt, ...)
{
	char msg[512], *text;
	char **lines;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&text, "%s:%d: %s%s%s%s", at->file, at->line, at->consequence ? "warning: " : "", msg,
		     at->consequence ? "; " : "", at->consequence ? at->consequence : "") < 0)
		return;
	lines = realloc(at->errors->lines, (at->errors->n + 1) * sizeof(*lines));
	if (!lines) {
		free(text);
		return;
	}
	at->errors->lines = lines;
	at->errors->lines[at->errors->n++] = text;
}

void config_errors_clear(struct config_errors *errors)
{
	for (size_t i = 0; i < errors->n; i++)
		free(errors->lines[i]);
	free(errors->lines);
	errors->lines = NULL;
	errors->n = 0;
}

char *config_resolve_path(const struct config_place *at, const char *path)
{
	const char *slash = strrchr(at->config_path, '/');
	char *out;

	if (path[0] == '/' || !slash)
		return strdup(path);
	if (asprintf(&out, "%.*s/%s", (int)(slash - at->config_path), at->config_path, path) < 0)
		return NULL;
	return out;
}

const struct key_value *value_member(const struct key_value *group, const char *name)
{
	for (size_t i = 0; group && group->type == VALUE_GROUP && i < group->members.n; i++)
		if (strcmp(group->members.items[i].name, name) == 0)
			return &group->members.items[i];
	return NULL;
}

struct config_place value_place(const struct key_value *v, const struct config_place *parent)
{
	struct config_place at = *parent;

	at.file = v->file;
	at.line = v->line;
	return at;
}

void value_free(struct key_value *v)
{
	if (v->type < VALUE_ARRAY)
		return;
	for (size_t i = 0; i < v->members.n; i++)
		value_free(&v->members.items[i]);
	free(v->members.items);
}

const struct key *key_find(const struct key *keys, const char *name)
{
	for (const struct key *k = keys; k && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* What a key's value must be, and how that is said (in libconfig's terms). */
static const struct {
	enum value_type type;
	const char *name;
} key_types[] = {
	[KEY_BOOL] = { VALUE_BOOL, "true or false" },
	[KEY_UINT] = { VALUE_INT, "an integer" },
	[KEY_U64] = { VALUE_INT, "an integer" },
	[KEY_PORT] = { VALUE_INT, "an integer" },
	[KEY_STRING] = { VALUE_STRING, "a string in double quotes" },
	[KEY_PORTS] = { VALUE_ARRAY, "an array in brackets" },
	[KEY_CIDRS] = { VALUE_ARRAY, "an array in brackets" },
	[KEY_STRINGS] = { VALUE_ARRAY, "an array in brackets" },
	[KEY_GROUP] = { VALUE_GROUP, "a group in braces" },
	[KEY_LIST] = { VALUE_LIST, "a list in parentheses" },
};

static bool type_matches(const struct key *k, const struct key_value *v)
{
	enum value_type want = key_types[k->type].type;

	return want == VALUE_INT ? v->type == VALUE_INT || v->type == VALUE_INT64 : v->type == want;
}

int check_members(const struct key_value *group, const struct key *keys, key_elsewhere_fn *elsewhere,
		  const void *context, const struct config_place *at)
{
	int problems = 0;

	for (size_t i = 0; i < group->members.n; i++) {
		const struct key_value *v = &group->members.items[i];
		const struct key *k = key_find(keys, v->name);
		struct config_place place = value_place(v, at);
		const char *owner = NULL;

		if (!k && elsewhere)
			k = elsewhere(v->name, context, &owner);
		if (k && !type_matches(k, v))
			config_error(&place, "'%s' must be %s", v->name, key_types[k->type].name);
		else if (!k)
			config_error(&place, "unknown key '%s'", v->name);
		else if (owner)
			config_error(&place, "'%s' applies only to the %s handler", v->name, owner);
		else
			continue;
		problems++;
	}
	return problems;
}

/* v, or the default when v is NULL. */
static int read_integer(const struct key_value *v, const struct key *k, void *value,
			const struct config_place *at)
{
	uint64_t min = k->type == KEY_PORT ? 1 : k->min, max = k->type == KEY_PORT ? 65535 : k->max;
	long long i = v ? v->i : (long long)k->def;

	if (i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max) {
		if (k->type == KEY_U64)
			*(uint64_t *)value = (uint64_t)i;
		else
			*(unsigned *)value = (unsigned)i;
		return 0;
	}
	if (k->type == KEY_PORT)
		config_error(at, "port %lld out of range 1-65535", i);
	else
		config_error(at, "'%s' is %lld, must be %llu to %llu%s", k->name, i, (unsigned long long)min,
			     (unsigned long long)max, v && v->type == VALUE_INT && max > INT32_MAX ?
			     " (write integers above 2147483647 with an L suffix: 5000000000L)" : "");
	return 1;
}

static int read_string(const char *text, const struct key *k, void *value, const struct config_place *at)
{
	int r;

	if (!text)
		return 0;
	if (k->parse)
		r = k->parse(value, text, at);
	else if ((r = k->check ? k->check(text, at) : 0) == 0)
		r = (*(char **)value = strdup(text)) ? 0 : -ENOMEM;
	return r;
}

/* An array's items, each read into out, one of the array's slots. Returns 0, 1 for an item
 * reported, or -ENOMEM. */
static int read_port(const struct key_value *item, void *out, const struct key *k,
		     const struct config_place *at)
{
	/* VALUE_INT only: libconfig's 64-bit integers never were ports */
	if (item->type != VALUE_INT || item->i < 1 || item->i > 65535) {
		config_error(at, "'%s' holds ports, 1 to 65535", k->name);
		return 1;
	}
	*(unsigned *)out = (unsigned)item->i;
	return 0;
}

static int read_cidr(const struct key_value *item, void *out, const struct key *k,
		     const struct config_place *at)
{
	const char *text = item->type == VALUE_STRING ? item->s : NULL;

	if (text && cidr_parse(text, out) == 0)
		return 0;
	config_error(at, "'%s': invalid address or prefix %s%s%s", k->name, text ? "'" : "",
		     text ? text : "(not a string)", text ? "'" : "");
	return 1;
}

static int read_word(const struct key_value *item, void *out, const struct key *k,
		     const struct config_place *at)
{
	if (item->type != VALUE_STRING || !item->s[0]) {
		config_error(at, "'%s' holds strings, none empty", k->name);
		return 1;
	}
	return (*(char **)out = strdup(item->s)) ? 0 : -ENOMEM;
}

static const struct {
	size_t size;
	int (*read)(const struct key_value *item, void *out, const struct key *k,
		    const struct config_place *at);
	bool every;             /* report every bad item, not the first only */
} arrays[] = {
	[KEY_PORTS] = { sizeof(unsigned), read_port, false },
	[KEY_CIDRS] = { sizeof(struct cidr), read_cidr, true },
	[KEY_STRINGS] = { sizeof(char *), read_word, false },
};

/* The list a KEY_PORTS, KEY_CIDRS or KEY_STRINGS value is gets items; returns its count. */
static size_t *list_start(enum key_type type, void *value, void *items)
{
	struct port_list *ports = value;
	struct cidr_list *cidrs = value;
	struct string_list *strings = value;

	switch (type) {
	case KEY_PORTS:
		ports->items = items;
		return &ports->n;
	case KEY_CIDRS:
		cidrs->items = items;
		return &cidrs->n;
	default:
		strings->items = items;
		return &strings->n;
	}
}

/* An array of ports, CIDRs or strings: "allow = [ "192.0.2.0/24", "::1" ];". */
static int read_array(const struct key_value *v, const struct key *k, void *value,
		      const struct config_place *at)
{
	char *items = calloc(v->members.n + 1, arrays[k->type].size);
	size_t *n;
	int problems = 0;

	if (!items)
		return -ENOMEM;
	n = list_start(k->type, value, items);
	for (size_t i = 0; i < v->members.n; i++) {
		int r = arrays[k->type].read(&v->members.items[i], items + *n * arrays[k->type].size, k, at);
		if (r < 0)
			return r;
		*n += r == 0;
		problems += r;
		if (r > 0 && !arrays[k->type].every)
			break;
	}
	return problems;
}

/* One key's value from v, or its default when v is NULL. */
static int read_value(const struct key_value *v, const struct key *k, void *base,
		      const struct config_place *at)
{
	void *value = (char *)base + k->offset;

	switch (k->type) {
	case KEY_BOOL:
		*(bool *)value = v ? v->b : k->def != 0;
		return 0;
	case KEY_UINT:
	case KEY_U64:
	case KEY_PORT:
		return read_integer(v, k, value, at);
	case KEY_STRING:
		return read_string(v ? v->s : k->def_text, k, value, at);
	case KEY_PORTS:
	case KEY_CIDRS:
	case KEY_STRINGS:
		return v ? read_array(v, k, value, at) : 0;
	case KEY_GROUP:
		return read_group(v, k->group, base, at);
	case KEY_LIST:
		break;
	}
	return 0;
}

int read_values(const struct key_value *group, const struct key *keys, void *base,
		const struct config_place *at)
{
	int problems = 0;

	for (const struct key *k = keys; k->name; k++) {
		const struct key_value *v = value_member(group, k->name);
		if (v && !type_matches(k, v)) {
			if (k->required)
				continue;       /* check_members() said why */
			v = NULL;
		}
		if (!v && k->required) {
			config_error(at, "service without a '%s'", k->name);
			problems++;
			continue;
		}
		struct config_place place = v ? value_place(v, at) : *at;
		int r = read_value(v, k, base, &place);
		if (r < 0)
			return r;
		problems += r;
	}
	return problems;
}

int read_group(const struct key_value *group, const struct key *keys, void *base,
	       const struct config_place *at)
{
	int problems = group ? check_members(group, keys, NULL, NULL, at) : 0;
	int r = read_values(group, keys, base, at);

	return r < 0 ? r : problems + r;
}

static void release_strings(struct string_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i]);
	free(list->items);
}

void release_values(const struct key *keys, void *base)
{
	for (const struct key *k = keys; k && k->name; k++) {
		void *value = (char *)base + k->offset;
		if (k->type == KEY_STRING && k->release)
			k->release(value);
		else if (k->type == KEY_STRING && !k->parse)
			free(*(char **)value);
		else if (k->type == KEY_PORTS)
			free(((struct port_list *)value)->items);
		else if (k->type == KEY_CIDRS)
			free(((struct cidr_list *)value)->items);
		else if (k->type == KEY_STRINGS)
			release_strings(value);
		else if (k->type == KEY_GROUP)
			release_values(k->group, base);
	}
}
