#include "udp.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "handlers.h"
#include "programs.h"
#include "proto.h"
#include "serving.h"

#define UDP_BATCH 16            /* datagrams per system call */
#define UDP_ROUNDS 4            /* batches per wake-up, so one socket cannot starve others */
#define DATAGRAM_BUF (64 * 1024)        /* a whole datagram */
#define BROADCASTS_MAX 32

/* RFC 862-868's own ports: a datagram from one of them is another small service's reply. */
static const unsigned small_service_ports[] = { 7, 9, 13, 17, 19, 37 };

struct control {
	_Alignas(struct cmsghdr)
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
};

struct udp_slot {
	uint8_t *buf;                   /* DATAGRAM_BUF: a whole datagram, then its reply */
	struct sockaddr_storage peer;
	struct iovec iov, reply_iov;
	struct control control, reply_control;
};

/* One loop's UDP state: recvmmsg()/sendmmsg()'s, allocated once, and what is never
 * answered under the config in force. */
struct udp {
	struct udp_slot slots[UDP_BATCH];
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	uint64_t refused_ports[65536 / 64];     /* source ports never answered */
	uint32_t broadcasts[BROADCASTS_MAX];    /* of the interfaces, host order: forged sources */
	size_t n_broadcasts;
	unsigned loopback_ifindex;
};

/* Keeps only the destination address of the request, as the source of the reply. */
static size_t reply_control(struct msghdr *req, struct control *out)
{
	struct msghdr m = { .msg_control = out->buf, .msg_controllen = sizeof(out->buf) };
	struct cmsghdr *dst = CMSG_FIRSTHDR(&m);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(req); c; c = CMSG_NXTHDR(req, c)) {
		bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO;
		size_t len = v6 ? sizeof(struct in6_pktinfo) : sizeof(struct in_pktinfo);
		if (!v6 && (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO))
			continue;
		*dst = (struct cmsghdr){ .cmsg_len = CMSG_LEN(len), .cmsg_level = c->cmsg_level,
					 .cmsg_type = c->cmsg_type };
		memcpy(CMSG_DATA(dst), CMSG_DATA(c), len);
		if (v6) {
			((struct in6_pktinfo *)(void *)CMSG_DATA(dst))->ipi6_ifindex = 0;
		} else {
			struct in_pktinfo *info = (struct in_pktinfo *)(void *)CMSG_DATA(dst);
			info->ipi_spec_dst = info->ipi_addr;
			info->ipi_ifindex = 0;
		}
		return CMSG_SPACE(len);
	}
	return 0;
}

/* Loops first, then access lists, so that no work is done for what is refused. */
static const char *udp_refusal_before(const struct server *srv, const struct active_service *as,
				      const struct sockaddr_in6 *peer)
{
	unsigned port = ntohs(peer->sin6_port);

	if (srv->udp->refused_ports[port / 64] & (1ULL << (port % 64)))
		return port < 1024 ? "privileged or small-service source port" : "loop port";
	if (!serving_permits(srv, as, &peer->sin6_addr))
		return "access list";
	return NULL;
}

/* A source only a forger can put in a datagram (as OpenBSD's dg_badinput has it):
 * multicast, broadcast, 0.0.0.0/8, an unspecified or IPv4-mapped source in an IPv6 packet,
 * a loopback source that did not come in on the loopback interface. */
static bool spoofed_source(const struct udp *u, const struct in6_addr *a, const struct msghdr *req)
{
	bool ipv6_packet = false;
	unsigned ifindex = 0;
	uint32_t v4;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(req); c; c = CMSG_NXTHDR((struct msghdr *)req, c)) {
		struct in6_pktinfo i6;
		struct in_pktinfo i4;
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			/* also given for IPv4 on a dual-stack socket, with a mapped destination */
			memcpy(&i6, CMSG_DATA(c), sizeof(i6));
			ipv6_packet = !IN6_IS_ADDR_V4MAPPED(&i6.ipi6_addr);
			ifindex = i6.ipi6_ifindex;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&i4, CMSG_DATA(c), sizeof(i4));
			ifindex = (unsigned)i4.ipi_ifindex;
		}
	}
	if (!IN6_IS_ADDR_V4MAPPED(a))
		return IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_V4COMPAT(a) ||
		       (IN6_IS_ADDR_LOOPBACK(a) && ifindex != u->loopback_ifindex);
	memcpy(&v4, &a->s6_addr[12], 4);
	v4 = ntohl(v4);
	if (ipv6_packet || IN_MULTICAST(v4) || v4 >> 24 == 0 || v4 >> 24 == 255 ||
	    (v4 >> 24 == 127 && ifindex != u->loopback_ifindex))
		return true;
	for (size_t i = 0; i < u->n_broadcasts; i++)
		if (u->broadcasts[i] == v4)
			return true;
	return false;
}

/* One datagram taken from a batch: answered in place, in its own buffer. Returns the
 * reply's length, or -1 when there is none. */
static ssize_t udp_answer(struct server *srv, struct listener *l, struct udp_slot *slot, size_t len,
			  struct msghdr *req, time_t now)
{
	struct active_service *as = l->owner;
	struct sockaddr_in6 from;
	const char *refusal;
	ssize_t reply;

	counter_add(&as->counters.udp_received, 1);
	counter_add(&as->counters.bytes_in, len);
	if (req->msg_flags & MSG_TRUNC)
		return -1;      /* larger than any UDP payload: nothing sane to answer */
	addr_to_in6(&slot->peer, &from);
	if (spoofed_source(srv->udp, &from.sin6_addr, req))
		refusal = "source address that can only be forged";
	else if (!(refusal = udp_refusal_before(srv, as, &from)) && serving_runs_program(as)) {
		struct control control;
		struct program_datagram d = {
			.data = slot->buf, .len = len, .peer = &slot->peer, .peer_len = req->msg_namelen,
			.from = &from, .control = control.buf, .control_len = reply_control(req, &control),
			.bound = &l->addr,
		};
		program_udp(srv, as, &d);       /* its reply, if any, comes later */
		return -1;
	} else if (!refusal) {
		struct reply_input in = {
			.options = as->service->options, .seq = service_replies(as->service), .now = now,
			.data = slot->buf, .len = len,
		};
		if ((reply = serving_reply(as, &in, slot->buf, DATAGRAM_BUF)) < 0)
			return -1;
		if (!(refusal = serving_reply_refusal(srv, &from, len, (size_t)reply, now_usec()))) {
			service_count_reply(as->service);
			return reply;
		}
	}
	serving_refuse(srv, as, PROTO_UDP, (struct sockaddr *)&from, refusal);
	return -1;
}

/* Sends the batch's replies. */
static void udp_send_replies(struct listener *l, struct mmsghdr *out, unsigned n)
{
	unsigned sent = 0;

	while (sent < n) {
		int r = sendmmsg(l->io.fd, out + sent, n - sent, MSG_DONTWAIT);
		if (r < 0) {
			serving_udp_failed(l->server, l->owner, out[sent++].msg_hdr.msg_name);
			continue;
		}
		for (int i = 0; i < r; i++, sent++)
			serving_udp_sent(l->owner, out[sent].msg_hdr.msg_iov->iov_len);
	}
}

void udp_serve(struct listener *l)
{
	struct server *srv = l->server;
	struct udp *b = srv->udp;

	if (serving_waits(l->owner)) {
		program_wait(l);        /* the program reads the datagrams */
		return;
	}
	for (int round = 0; round < UDP_ROUNDS && l->io.fn; round++) {
		struct active_service *as = l->owner;
		unsigned replies = 0;
		time_t now = time(NULL);

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			struct udp_slot *s = &b->slots[i];
			s->iov = (struct iovec){ s->buf, DATAGRAM_BUF };
			b->in[i].msg_hdr = (struct msghdr){
				.msg_name = &s->peer, .msg_namelen = sizeof(s->peer),
				.msg_iov = &s->iov, .msg_iovlen = 1,
				.msg_control = s->control.buf, .msg_controllen = sizeof(s->control.buf),
			};
		}
		int n = recvmmsg(l->io.fd, b->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    log_ratelimit_pass(&srv->client_log, now_usec()))
				log_warning("%s: cannot receive on udp %s: %s", as->service->name,
					    l->addr_text, strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct udp_slot *s = &b->slots[i];
			struct msghdr *req = &b->in[i].msg_hdr;
			ssize_t len = udp_answer(srv, l, s, b->in[i].msg_len, req, now);
			if (len < 0)
				continue;
			s->reply_iov = (struct iovec){ s->buf, (size_t)len };
			struct msghdr *m = &b->out[replies++].msg_hdr;
			*m = (struct msghdr){ .msg_name = &s->peer, .msg_namelen = req->msg_namelen,
					      .msg_iov = &s->reply_iov, .msg_iovlen = 1 };
			m->msg_controllen = reply_control(req, &s->reply_control);
			m->msg_control = m->msg_controllen ? s->reply_control.buf : NULL;
		}
		udp_send_replies(l, b->out, replies);
		if ((unsigned)n < UDP_BATCH)
			return;         /* drained: epoll says when there is more */
	}
}

static void refuse_port(uint64_t *bitmap, unsigned port)
{
	bitmap[port / 64] |= 1ULL << (port % 64);
}

/* The broadcast addresses of the interfaces: no datagram comes from one. */
static void find_broadcasts(struct udp *u)
{
	struct ifaddrs *ifs;

	u->loopback_ifindex = if_nametoindex("lo");
	u->n_broadcasts = 0;
	if (getifaddrs(&ifs) < 0)
		return;
	for (struct ifaddrs *i = ifs; i && u->n_broadcasts < BROADCASTS_MAX; i = i->ifa_next)
		if ((i->ifa_flags & IFF_BROADCAST) && i->ifa_broadaddr &&
		    i->ifa_broadaddr->sa_family == AF_INET)
			u->broadcasts[u->n_broadcasts++] =
				ntohl(((struct sockaddr_in *)(void *)i->ifa_broadaddr)->sin_addr.s_addr);
	freeifaddrs(ifs);
}

/* Datagrams from these source ports are never answered: they break echo/chargen loops
 * (CA-1996-01), including loops between our own services. And the sources that can only
 * be forged, as the interfaces are now. */
void udp_refuse(struct server *srv)
{
	const struct config *cfg = srv->config;
	uint64_t *bitmap = srv->udp->refused_ports;

	find_broadcasts(srv->udp);
	memset(bitmap, 0, sizeof(srv->udp->refused_ports));
	refuse_port(bitmap, 0);
	for (size_t i = 0; i < sizeof(small_service_ports) / sizeof(small_service_ports[0]); i++)
		refuse_port(bitmap, small_service_ports[i]);
	if (!cfg->udp.privileged_source_ports)
		for (unsigned p = 1; p < 1024; p++)
			refuse_port(bitmap, p);
	for (size_t i = 0; i < cfg->udp.loop_ports.n; i++)
		refuse_port(bitmap, cfg->udp.loop_ports.items[i]);
	for (size_t i = 0; i < cfg->n_services; i++)
		if (cfg->services[i].protocols & PROTO_UDP)
			refuse_port(bitmap, cfg->services[i].port);
	for (size_t i = 0; i < srv->n_listeners; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (srv->listeners[i]->type == SOCK_DGRAM &&
		    getsockname(srv->listeners[i]->io.fd, (struct sockaddr *)&ss, &len) == 0) {
			struct sockaddr_in6 in6;
			addr_to_in6(&ss, &in6);
			refuse_port(bitmap, ntohs(in6.sin6_port));
		}
	}
}

int udp_new(struct udp **out)
{
	struct udp *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		/* Untouched pages cost no memory: small datagrams use a page of each. */
		u->slots[i].buf = malloc(DATAGRAM_BUF);
		if (!u->slots[i].buf) {
			udp_free(u);
			return -ENOMEM;
		}
	}
	*out = u;
	return 0;
}

void udp_free(struct udp *u)
{
	if (!u)
		return;
	for (unsigned i = 0; i < UDP_BATCH; i++)
		free(u->slots[i].buf);
	free(u);
}
