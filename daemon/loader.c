#include "loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keys.h"
#include "priv.h"
#include "units.h"

struct loader {
	const char *path;
	struct named_socket *sockets;   /* the socket units' sockets still served */
	size_t n;
	bool ask_units;
	struct priv *priv;
};

static void forget(struct loader *l, size_t i)
{
	free((char *)l->sockets[i].name);
	l->sockets[i] = l->sockets[--l->n];
}

int loader_new(const char *path, const struct named_socket *sockets, size_t n, bool ask_units,
	       struct loader **out)
{
	struct loader *l = calloc(1, sizeof(*l));

	if (!l || !(l->sockets = calloc(n + 1, sizeof(*l->sockets)))) {
		free(l);
		return -ENOMEM;
	}
	*l = (struct loader){ .path = path, .sockets = l->sockets, .ask_units = ask_units };
	for (size_t i = 0; i < n; i++) {
		l->sockets[l->n] = sockets[i];
		if (!(l->sockets[l->n].name = strdup(sockets[i].name))) {
			loader_free(l);
			return -ENOMEM;
		}
		l->n++;
	}
	*out = l;
	return 0;
}

void loader_set_helper(struct loader *l, struct priv *priv)
{
	l->priv = priv;
}

static int load(const struct loader *l, const struct named_socket *sockets, size_t n, struct config **out,
		struct config_errors *errors)
{
	int r = config_load(l->path, out, errors);

	if (r == 0 && (r = config_add_sockets(*out, sockets, n, errors)) < 0) {
		config_free(*out);
		*out = NULL;
	}
	return r;
}

int loader_load_start(struct loader *l, struct config **out, struct config_errors *errors)
{
	return load(l, l->sockets, l->n, out, errors);
}

/* Splits the sockets into those still passed (first, *n_live of them) and the stopped
 * ones, which go into the config's list. Without an answer from systemd, all are live. */
static int sort_stopped(const struct loader *l, struct named_socket *sockets, size_t *n_live,
			struct named_socket **stopped, size_t *n_stopped)
{
	bool *gone = calloc(l->n + 1, sizeof(*gone));
	size_t live = 0;

	*n_stopped = 0;
	*stopped = calloc(l->n + 1, sizeof(**stopped));
	if (!gone || !*stopped) {
		free(gone);
		return -ENOMEM;
	}
	if (!l->ask_units || units_stopped(l->sockets, l->n, gone) < 0)
		memset(gone, 0, l->n * sizeof(*gone));
	for (size_t i = 0; i < l->n; i++) {
		struct named_socket *s = &(*stopped)[*n_stopped];
		if (!gone[i]) {
			sockets[live++] = l->sockets[i];
			continue;
		}
		*s = l->sockets[i];
		if ((s->name = strdup(l->sockets[i].name)))
			(*n_stopped)++;
	}
	*n_live = live;
	free(gone);
	return 0;
}

int loader_load(void *ctx, struct config **out, struct config_errors *errors)
{
	struct loader *l = ctx;
	struct named_socket *live = calloc(l->n + 1, sizeof(*live)), *stopped = NULL;
	size_t n_live = 0, n_stopped = 0;
	char why[PRIVSEP_TEXT_MAX + 1];
	int r = live ? sort_stopped(l, live, &n_live, &stopped, &n_stopped) : -ENOMEM;

	if (r == 0)
		r = load(l, live, n_live, out, errors);
	free(live);
	if (r == 0) {
		(*out)->stopped = stopped;
		(*out)->n_stopped = n_stopped;
		stopped = NULL;
	}
	for (size_t i = 0; stopped && i < n_stopped; i++)
		free((char *)stopped[i].name);
	free(stopped);
	/* the helper's view next: it binds and runs only what it loaded itself */
	if (r == 0 && l->priv && (r = priv_reload(l->priv, why)) < 0) {
		config_error(&(struct config_place){ .file = l->path, .config_path = l->path, .errors = errors },
			     "minetd-helper refused it: %s", why[0] ? why : strerror(-r));
		config_free(*out);
		*out = NULL;
	}
	return r;
}

void loader_forget_stopped(struct loader *l, const struct config *config)
{
	for (size_t k = 0; k < config->n_stopped; k++)
		for (size_t i = 0; i < l->n; i++)
			if (strcmp(l->sockets[i].name, config->stopped[k].name) == 0 &&
			    l->sockets[i].protocol == config->stopped[k].protocol) {
				forget(l, i);
				break;
			}
}

void loader_free(struct loader *l)
{
	if (!l)
		return;
	while (l->n)
		forget(l, 0);
	free(l->sockets);
	free(l);
}
