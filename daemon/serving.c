#include "serving.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exec_options.h"
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

bool serving_runs_program(const struct active_service *as)
{
	return as->service->handler->tcp == TCP_PROGRAM;
}

bool serving_service_waits(const struct service *svc)
{
	return svc->handler->tcp == TCP_PROGRAM && ((const struct exec_options *)svc->options)->wait;
}

bool serving_waits(const struct active_service *as)
{
	return serving_service_waits(as->service);
}

void serving_refuse(struct server *srv, struct active_service *as, unsigned proto,
		    const struct sockaddr *peer, const char *reason)
{
	char addr[ADDR_TEXT_MAX];

	counter_add(proto == PROTO_TCP ? &as->counters.tcp_refused : &as->counters.udp_refused, 1);
	if (!log_ratelimit_pass(&srv->client_log, now_usec()))
		return;
	struct log_fields f = {
		.service = as->service->name,
		.protocol = proto_name(proto),
		.peer = addr_to_string(peer, addr),
		.reason = reason,
	};
	log_fields(LOG_NOTICE, &f, "%s: refused %s client %s: %s", as->service->name, f.protocol, addr, reason);
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
const char *serving_admit(struct server *srv, struct active_service *as, const struct sockaddr_in6 *peer,
			  unsigned proto)
{
	const struct tcp_limits *limits = &srv->config->limits;
	const char *refusal = !serving_permits(srv, as, &peer->sin6_addr) ? "access list" :
			      client_registry_take(srv->clients, &peer->sin6_addr, limits->connections,
						   limits->connections_per_source);

	/* The handshake proved the client receives at this address: UDP may answer it in full. */
	if (!refusal && proto == PROTO_TCP)
		client_registry_verify(srv->clients, &peer->sin6_addr,
				       now_usec() + srv->config->udp.verified_time * 1000000ULL);
	return refusal;
}

void serving_release(struct server *srv, const struct sockaddr_in6 *peer)
{
	client_registry_give(srv->clients, &peer->sin6_addr);
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

void serving_udp_sent(struct active_service *as, size_t len)
{
	counter_add(&as->counters.udp_replied, 1);
	counter_add(&as->counters.bytes_out, len);
}

void serving_udp_failed(struct server *srv, struct active_service *as, const void *to)
{
	char addr[ADDR_TEXT_MAX];
	struct log_fields f = { .service = as->service->name, .protocol = proto_name(PROTO_UDP), .reason = strerror(errno),
				.peer = addr_to_string(to, addr) };

	if (log_ratelimit_pass(&srv->client_log, now_usec()))
		log_fields(LOG_WARNING, &f, "%s: cannot reply to %s: %s", f.service, addr, f.reason);
}

/* The UDP socket of as bound to 'bound', else one of the same family, else a dual-stack one
 * for an IPv4 client (a reload moved the service from an IPv4 address to every address). */
static const struct listener *reply_socket(const struct server *srv, const struct active_service *as,
					   const struct sockaddr_storage *bound)
{
	const struct listener *same = NULL, *v6 = NULL;

	for (size_t i = 0; i < srv->n_listeners; i++) {
		const struct listener *l = srv->listeners[i];
		if (l->owner != as || l->type != SOCK_DGRAM)
			continue;
		if (addr_equal(&l->addr, bound))
			return l;
		if (l->addr.ss_family == bound->ss_family)
			same = l;
		else if (l->addr.ss_family == AF_INET6)
			v6 = l;
	}
	return same ? same : v6;
}

void serving_udp_reply(struct server *srv, struct active_service *as, const struct sockaddr_storage *bound,
		    const struct udp_reply *r)
{
	const struct listener *l = reply_socket(srv, as, bound);
	struct sockaddr_in6 mapped;
	struct iovec iov = { (void *)r->data, r->len };
	struct msghdr m = { .msg_name = (void *)r->to, .msg_namelen = r->to_len, .msg_iov = &iov,
			    .msg_iovlen = 1, .msg_control = r->control_len ? (void *)r->control : NULL,
			    .msg_controllen = r->control_len };

	if (l && l->addr.ss_family != r->to->ss_family) {
		addr_to_in6(r->to, &mapped);    /* its IP_PKTINFO source holds for a mapped peer */
		m.msg_name = &mapped;
		m.msg_namelen = sizeof(mapped);
	}
	if (!l)
		errno = ENOTCONN;       /* its service serves UDP on another kind of address now */
	if (l && sendmsg(l->io.fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)r->len)
		serving_udp_sent(as, r->len);
	else
		serving_udp_failed(srv, as, r->to);
}

/* The counters of the service called name (NULL: of all) in every loop: every loop runs
 * the same services. The counters are all uint64_t. */
static void counters_sum(struct server *const *servers, size_t n, const char *name, struct counters *sum)
{
	uint64_t *total = (uint64_t *)sum;

	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < n; i++)
		for (const struct active_service *as = servers[i]->services; as; as = as->next)
			if (!name || strcmp(as->service->name, name) == 0)
				for (size_t k = 0; k < sizeof(*sum) / sizeof(*total); k++)
					total[k] += counter_get(&((const uint64_t *)&as->counters)[k]);
}

void serving_status(struct server *const *servers, size_t n, char *buf, size_t len)
{
	struct counters t;
	size_t n_services = 0;
	int used;

	for (const struct active_service *as = servers[0]->services; as; as = as->next)
		n_services++;
	counters_sum(servers, n, NULL, &t);
	used = snprintf(buf, len, "%zu service%s; tcp %" PRIu64 " active, %" PRIu64 " accepted; udp %" PRIu64
			" datagrams; %" PRIu64 " refused", n_services, n_services == 1 ? "" : "s", t.tcp_active,
			t.tcp_accepted, t.udp_received, t.tcp_refused + t.udp_refused);
	for (const struct active_service *as = servers[0]->services; as && used >= 0 && (size_t)used < len;
	     as = as->next)
		if (as->failure[0])
			used += snprintf(buf + used, len - (size_t)used, "; not served: %s (%s)",
					 as->service->name, as->failure);
}

void serving_log_counters(struct server *const *servers, size_t n)
{
	for (const struct active_service *as = servers[0]->services; as; as = as->next) {
		struct counters c;
		counters_sum(servers, n, as->service->name, &c);
		struct log_fields f = {
			.service = as->service->name,
			.has_traffic = true,
			.bytes_in = c.bytes_in,
			.bytes_out = c.bytes_out,
		};
		log_fields(LOG_INFO, &f, "%s: tcp %" PRIu64 " accepted, %" PRIu64 " active, %" PRIu64
			   " refused; udp %" PRIu64 " received, %" PRIu64 " replied, %" PRIu64 " refused; %"
			   PRIu64 " bytes in, %" PRIu64 " out", as->service->name, c.tcp_accepted,
			   c.tcp_active, c.tcp_refused, c.udp_received, c.udp_replied, c.udp_refused,
			   c.bytes_in, c.bytes_out);
	}
}
