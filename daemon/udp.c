#include "udp.h"

#include <errno.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "handler.h"
#include "proto.h"
#include "serving.h"

#define UDP_BATCH 16            /* datagrams per system call */
#define UDP_ROUNDS 4            /* batches per wake-up, so one socket cannot starve others */
#define DATAGRAM_OVERHEAD 64    /* what a reply costs beyond its payload, so empty ones count */

/* RFC 862-868's own ports: a datagram from one of them is another small service's reply. */
static const unsigned small_service_ports[] = { 7, 9, 13, 17, 19, 37 };

struct control {
	_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
};

struct udp_slot {
	uint8_t *buf;                   /* SCRATCH_SIZE: a whole datagram, then its reply */
	struct sockaddr_storage peer;
	struct iovec iov, reply_iov;
	struct control control, reply_control;
};

/* recvmmsg()/sendmmsg() state, one per loop, allocated once. */
struct udp_batch {
	struct udp_slot slots[UDP_BATCH];
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
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
		*dst = (struct cmsghdr){ .cmsg_len = CMSG_LEN(len), .cmsg_level = c->cmsg_level, .cmsg_type = c->cmsg_type };
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

static void udp_log_failure(struct listener *l, const void *peer, const char *what, int err)
{
	char addr[ADDR_TEXT_MAX];
	const char *name = l->owner->service->name;
	struct log_fields f = {
		.service = name,
		.protocol = "udp",
		.peer = addr_to_string((const struct sockaddr *)peer, addr),
		.reason = strerror(err),
	};

	if (log_ratelimit_pass(&l->serving->client_log, now_usec()))
		log_fields(LOG_WARNING, &f, "%s: %s %s: %s", name, what, addr, strerror(err));
}

/* Loops first, then access lists, so that no work is done for what is refused. */
static const char *udp_refusal_before(const struct serving *sv, const struct active_service *as,
				      const struct sockaddr_in6 *peer)
{
	unsigned port = ntohs(peer->sin6_port);

	if (sv->refused_ports[port / 64] & (1ULL << (port % 64)))
		return port < 1024 ? "privileged or small-service source port" : "loop port";
	if (!serving_permits(sv, as, &peer->sin6_addr))
		return "access list";
	return NULL;
}

static uint64_t share(uint64_t rate, unsigned loops)
{
	return (rate + loops - 1) / loops;
}

static uint64_t burst_share(uint64_t burst, unsigned loops)
{
	uint64_t s = share(burst, loops);

	return s < UDP_MAX_PAYLOAD + DATAGRAM_OVERHEAD ? UDP_MAX_PAYLOAD + DATAGRAM_OVERHEAD : s;
}

/* Amplification cap and budgets, once the reply's size is known. */
static const char *udp_refusal_after(struct serving *sv, const struct sockaddr_in6 *peer, size_t request,
				     size_t reply, uint64_t now)
{
	const struct udp_policy *policy = &sv->config->udp;
	struct source_slot *source = source_lookup(&sv->sources, &peer->sin6_addr);
	uint64_t cost = reply + DATAGRAM_OVERHEAD;

	if (reply > policy->small_reply && reply > request * policy->amplification &&
	    !client_registry_verified(sv->clients, &peer->sin6_addr, now))
		return "amplification";
	/* A source's datagrams from one port always reach the same loop (SO_REUSEPORT
	 * hashes the addresses and ports), so its budget is per loop. The global budget is
	 * shared out, so that it holds for the whole process; a burst never shrinks below
	 * the largest datagram. */
	if (!bucket_take(&source->udp, policy->source_rate, policy->source_burst, cost, now))
		return "source budget";
	if (!bucket_take(&sv->udp_global, share(policy->global_rate, sv->loops),
			 burst_share(policy->global_burst, sv->loops), cost, now))
		return "global budget";
	return NULL;
}

/* One datagram taken from a batch: answered in place, in its own buffer. Returns the
 * reply's length, or -1 when there is none. */
static ssize_t udp_answer(struct serving *sv, struct active_service *as, struct udp_slot *slot, size_t len,
			  int flags, time_t now)
{
	struct sockaddr_in6 from;
	const char *refusal;
	ssize_t reply;

	counter_add(&as->counters.udp_received, 1);
	counter_add(&as->counters.bytes_in, len);
	if (flags & MSG_TRUNC)
		return -1;      /* larger than any UDP payload: nothing sane to answer */
	addr_to_in6(&slot->peer, &from);
	refusal = udp_refusal_before(sv, as, &from);
	if (refusal) {
		serving_refuse(sv, as, "udp", (struct sockaddr *)&from, refusal);
		return -1;
	}
	struct reply_input in = {
		.options = as->service->options, .seq = service_replies(as->service), .now = now,
		.data = slot->buf, .len = len,
	};
	reply = as->service->handler->reply(&in, slot->buf, SCRATCH_SIZE);
	if (reply < 0)
		return -1;
	refusal = udp_refusal_after(sv, &from, len, (size_t)reply, now_usec());
	if (refusal) {
		serving_refuse(sv, as, "udp", (struct sockaddr *)&from, refusal);
		return -1;
	}
	service_count_reply(as->service);
	return reply;
}

/* Sends the batch's replies; a reply the kernel refuses is dropped, as UDP allows. */
static void udp_send_replies(struct listener *l, struct mmsghdr *out, unsigned n)
{
	struct active_service *as = l->owner;
	unsigned sent = 0;

	while (sent < n) {
		int r = sendmmsg(l->io.fd, out + sent, n - sent, MSG_DONTWAIT);
		if (r < 0) {
			udp_log_failure(l, out[sent].msg_hdr.msg_name, "cannot reply to", errno);
			sent++;
			continue;
		}
		for (int i = 0; i < r; i++) {
			counter_add(&as->counters.udp_replied, 1);
			counter_add(&as->counters.bytes_out, out[sent + (unsigned)i].msg_hdr.msg_iov->iov_len);
		}
		sent += (unsigned)r;
	}
}

void udp_serve(struct listener *l)
{
	struct serving *sv = l->serving;
	struct udp_batch *b = sv->udp;

	for (int round = 0; round < UDP_ROUNDS && l->io.fn; round++) {
		struct active_service *as = l->owner;
		unsigned replies = 0;
		time_t now = time(NULL);

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			struct udp_slot *s = &b->slots[i];
			s->iov = (struct iovec){ s->buf, SCRATCH_SIZE };
			b->in[i].msg_hdr = (struct msghdr){
				.msg_name = &s->peer, .msg_namelen = sizeof(s->peer),
				.msg_iov = &s->iov, .msg_iovlen = 1,
				.msg_control = s->control.buf, .msg_controllen = sizeof(s->control.buf),
			};
		}
		int n = recvmmsg(l->io.fd, b->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    log_ratelimit_pass(&sv->client_log, now_usec()))
				log_warning("%s: cannot receive on udp %s: %s", as->service->name, l->addr_text,
					    strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct udp_slot *s = &b->slots[i];
			struct msghdr *req = &b->in[i].msg_hdr;
			ssize_t len = udp_answer(sv, as, s, b->in[i].msg_len, req->msg_flags, now);
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

/* Datagrams from these source ports are never answered: they break echo/chargen loops
 * (CA-1996-01), including loops between our own services. */
void udp_refuse_ports(struct serving *sv, const struct config *cfg, struct listener *const *listeners, size_t n)
{
	uint64_t *bitmap = sv->refused_ports;

	memset(sv->refused_ports, 0, sizeof(sv->refused_ports));
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
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (listeners[i]->type == SOCK_DGRAM &&
		    getsockname(listeners[i]->io.fd, (struct sockaddr *)&ss, &len) == 0) {
			struct sockaddr_in6 in6;
			addr_to_in6(&ss, &in6);
			refuse_port(bitmap, ntohs(in6.sin6_port));
		}
	}
}

int udp_batch_new(struct udp_batch **out)
{
	struct udp_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		/* Untouched pages cost no memory: small datagrams use a page of each. */
		b->slots[i].buf = malloc(SCRATCH_SIZE);
		if (!b->slots[i].buf) {
			udp_batch_free(b);
			return -ENOMEM;
		}
	}
	*out = b;
	return 0;
}

void udp_batch_free(struct udp_batch *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < UDP_BATCH; i++)
		free(b->slots[i].buf);
	free(b);
}
