#include "serving.h"

#include <string.h>

#include "config.h"

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
