/* UDP: one reply per datagram, sent from the address the datagram was sent to. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "handlers.h"
#include "proto.h"
#include "server.h"

#define UDP_BATCH 64            /* datagrams per wake-up, so one socket cannot starve others */
#define DATAGRAM_OVERHEAD 64    /* what a reply costs beyond its payload, so empty ones count */

union control {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct cmsghdr align;
};

/* Keeps only the destination address of the request, as the source of the reply. */
static size_t reply_control(struct msghdr *req, union control *out)
{
	struct msghdr m = { .msg_control = out->buf, .msg_controllen = sizeof(out->buf) };
	struct cmsghdr *dst = CMSG_FIRSTHDR(&m);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(req); c; c = CMSG_NXTHDR(req, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo info;
			memcpy(&info, CMSG_DATA(c), sizeof(info));
			info.ipi6_ifindex = 0;
			dst->cmsg_level = IPPROTO_IPV6;
			dst->cmsg_type = IPV6_PKTINFO;
			dst->cmsg_len = CMSG_LEN(sizeof(info));
			memcpy(CMSG_DATA(dst), &info, sizeof(info));
			return CMSG_SPACE(sizeof(info));
		}
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo info;
			memcpy(&info, CMSG_DATA(c), sizeof(info));
			info.ipi_spec_dst = info.ipi_addr;
			info.ipi_ifindex = 0;
			dst->cmsg_level = IPPROTO_IP;
			dst->cmsg_type = IP_PKTINFO;
			dst->cmsg_len = CMSG_LEN(sizeof(info));
			memcpy(CMSG_DATA(dst), &info, sizeof(info));
			return CMSG_SPACE(sizeof(info));
		}
	}
	return 0;
}

static void udp_log_failure(struct listener *l, const struct sockaddr_storage *peer, const char *what, int err)
{
	char addr[ADDR_TEXT_MAX];
	const char *name = l->owner->service->name;
	struct log_fields f = {
		.service = name,
		.protocol = "udp",
		.peer = addr_to_string((const struct sockaddr *)peer, addr),
		.reason = strerror(err),
	};

	if (log_ratelimit_pass(&l->server->client_log, now_usec()))
		log_fields(LOG_WARNING, &f, "%s: %s %s: %s", name, what, addr, strerror(err));
}

/* Loops first, then access lists, so that no work is done for what is refused. */
static const char *udp_refusal_before(const struct server *srv, const struct active_service *as,
				      const struct sockaddr_in6 *peer)
{
	unsigned port = ntohs(peer->sin6_port);

	if (srv->refused_ports[port / 64] & (1ULL << (port % 64)))
		return port < 1024 ? "privileged or small-service source port" : "loop port";
	if (!server_permits(srv, as, &peer->sin6_addr))
		return "access list";
	return NULL;
}

/* Amplification cap and budgets, once the reply's size is known. */
static const char *udp_refusal_after(struct server *srv, const struct sockaddr_in6 *peer, size_t request,
				     size_t reply, uint64_t now)
{
	const struct udp_policy *policy = &srv->config->udp;
	struct source_slot *source = source_lookup(&srv->sources, &peer->sin6_addr);
	uint64_t cost = reply + DATAGRAM_OVERHEAD;

	if (reply > policy->small_reply && reply > request * policy->amplification &&
	    source->verified_until_usec <= now)
		return "amplification";
	if (!bucket_take(&source->udp, policy->source_rate, policy->source_burst, cost, now))
		return "source budget";
	if (!bucket_take(&srv->udp_global, policy->global_rate, policy->global_burst, cost, now))
		return "global budget";
	return NULL;
}

void udp_serve(struct listener *l)
{
	struct server *srv = l->server;
	uint8_t *buf = srv->scratch;

	for (int i = 0; i < UDP_BATCH && l->io.fn; i++) {
		struct active_service *as = l->owner;
		struct sockaddr_storage peer;
		union control req_control, reply_ctl;
		struct iovec iov = { buf, SCRATCH_SIZE };
		struct msghdr msg = {
			.msg_name = &peer, .msg_namelen = sizeof(peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = req_control.buf, .msg_controllen = sizeof(req_control.buf),
		};
		ssize_t n = recvmsg(l->io.fd, &msg, MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				udp_log_failure(l, &peer, "cannot receive from", errno);
			return;
		}
		as->counters.udp_received++;
		as->counters.bytes_in += (uint64_t)n;
		if (msg.msg_flags & MSG_TRUNC)
			continue;       /* larger than any UDP payload: nothing sane to answer */

		struct sockaddr_in6 from;
		addr_to_in6(&peer, &from);
		const char *refusal = udp_refusal_before(srv, as, &from);
		if (refusal) {
			server_refuse(srv, as, "udp", (struct sockaddr *)&from, refusal);
			continue;
		}
		struct reply_input in = {
			.service = as->service, .seq = as->seq, .now = time(NULL), .data = buf, .len = (size_t)n,
		};
		ssize_t len = as->service->handler->reply(&in, buf, SCRATCH_SIZE);
		if (len < 0)
			continue;
		refusal = udp_refusal_after(srv, &from, (size_t)n, (size_t)len, now_usec());
		if (refusal) {
			server_refuse(srv, as, "udp", (struct sockaddr *)&from, refusal);
			continue;
		}
		as->seq++;
		iov.iov_len = (size_t)len;
		msg.msg_controllen = reply_control(&msg, &reply_ctl);
		msg.msg_control = msg.msg_controllen ? reply_ctl.buf : NULL;
		msg.msg_flags = 0;
		if (sendmsg(l->io.fd, &msg, MSG_DONTWAIT) < 0) {
			udp_log_failure(l, &peer, "cannot reply to", errno);
			continue;
		}
		as->counters.udp_replied++;
		as->counters.bytes_out += (uint64_t)len;
	}
}
