#include "serving.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "handlers.h"
#include "proto.h"

/* What the programs of one service may write to stderr: 200 lines in 10 s. */
#define PROGRAM_LINES_BURST 200
#define PROGRAM_LINES_INTERVAL_USEC (10 * 1000000ULL)

struct active_service *serving_service_new(void)
{
	struct active_service *as = calloc(1, sizeof(*as));

	if (as)
		as->program_log = (struct log_ratelimit){ .interval_usec = PROGRAM_LINES_INTERVAL_USEC,
							  .burst = PROGRAM_LINES_BURST,
							  .what = "lines its programs wrote to stderr" };
	return as;
}

void serving_service_set(struct active_service *as, const struct service *svc)
{
	as->service = svc;
	snprintf(as->program_log.service, sizeof(as->program_log.service), "%s", svc->name);
}

void serving_refuse(struct server *srv, struct active_service *as, const char *protocol,
		    const struct sockaddr *peer, const char *reason)
{
	char addr[ADDR_TEXT_MAX];

	if (strcmp(protocol, "tcp") == 0)
		counter_add(&as->counters.tcp_refused, 1);
	else
		counter_add(&as->counters.udp_refused, 1);
	if (!log_ratelimit_pass(&srv->client_log, now_usec()))
		return;
	struct log_fields f = {
		.service = as->service->name,
		.protocol = protocol,
		.peer = addr_to_string(peer, addr),
		.reason = reason,
	};
	log_fields(LOG_NOTICE, &f, "%s: refused %s client %s: %s", as->service->name, protocol, addr, reason);
}

bool serving_permits(const struct server *srv, const struct active_service *as, const struct in6_addr *addr)
{
	return acl_permits(&srv->config->acl, addr) && acl_permits(&as->service->acl, addr);
}

/* Amplification cap and budgets, once the reply's size is known. */
const char *serving_reply_refusal(struct server *srv, const struct sockaddr_in6 *peer, size_t request,
				     size_t reply, uint64_t now)
{
	const struct udp_policy *policy = &srv->config->udp;

	if (reply > policy->small_reply && reply > request * policy->amplification &&
	    !client_registry_verified(srv->clients, &peer->sin6_addr, now))
		return "amplification";
	return udp_budgets_take(&srv->clients->udp, &peer->sin6_addr, reply + DATAGRAM_OVERHEAD,
				&policy->rates, now);
}

/* Access lists first, then the limits: no work for a client that will be refused. */
const char *serving_admit(struct server *srv, struct active_service *as, const struct sockaddr_in6 *peer)
{
	const struct tcp_limits *limits = &srv->config->limits;
	const char *refusal = !serving_permits(srv, as, &peer->sin6_addr) ? "access list" :
			      client_registry_take(srv->clients, &peer->sin6_addr, limits->connections,
						   limits->connections_per_source);

	/* The handshake proved the client receives at this address: UDP may answer it in full. */
	if (!refusal)
		client_registry_verify(srv->clients, &peer->sin6_addr,
				       now_usec() + srv->config->udp.verified_time * 1000000ULL);
	return refusal;
}

ssize_t serving_reply(struct active_service *as, const struct reply_input *in, uint8_t *out, size_t cap)
{
	const struct handler *h = as->service->handler;
	ssize_t n;

	if (!h->per_second)
		return h->reply(in, out, cap);
	if (as->reply_for != as->service || as->reply_at != in->now) {
		n = h->reply(in, as->reply, sizeof(as->reply));
		as->reply_for = n < 0 ? NULL : as->service;     /* a reload makes it stale too */
		as->reply_at = in->now;
		as->reply_len = n < 0 ? 0 : (size_t)n;
		if (n < 0)
			return -1;
	}
	if (as->reply_len > cap)
		return -1;
	memcpy(out, as->reply, as->reply_len);
	return (ssize_t)as->reply_len;
}
