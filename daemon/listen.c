#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

int listen_inherited(struct inherited_socket **out)
{
	char **names = NULL;
	struct inherited_socket *socks;
	int n = sd_listen_fds_with_names(1, &names);

	*out = NULL;
	if (n <= 0) {
		free(names);
		return n;
	}
	socks = calloc((size_t)n, sizeof(*socks));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (socks) {
			socks[i].fd = fd;
			/* Only what minetd serves: listening TCP, or UDP, over IPv4 or IPv6. */
			socks[i].type =
				sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0 ? SOCK_STREAM :
				sd_is_socket_inet(fd, AF_UNSPEC, SOCK_DGRAM, -1, 0) > 0 ? SOCK_DGRAM : 0;
			socks[i].name = names[i];
		} else {
			free(names[i]);
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	free(names);
	if (!socks)
		return -ENOMEM;
	*out = socks;
	return n;
}

int listen_prepare(int fd, int type)
{
	int flags = fcntl(fd, F_GETFL);
	int one = 1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (type != SOCK_DGRAM)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			return -errno;
		/* A dual-stack socket also gets IPv4 datagrams; their destination comes as
		 * IP_PKTINFO. Fails harmlessly on an IPv6-only socket. */
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	} else if (ss.ss_family == AF_INET) {
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			return -errno;
	}
	return 0;
}

static int bind_one(const struct sockaddr_storage *addr, int type, bool reuseport, bool v6only_any,
		    int *fd_out)
{
	socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	int fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, r;

	if (fd < 0)
		return -errno;
	if (addr->ss_family == AF_INET6) {
		/* The wildcard serves IPv4 too; a given IPv6 address only itself. */
		int v6only = v6only_any || !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
			goto fail;
	}
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* One socket per loop on the same port: the kernel spreads clients over them. */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, len) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	r = listen_prepare(fd, type);
	if (r < 0) {
		close(fd);
		return r;
	}
	*fd_out = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

static void wildcard(struct sockaddr_storage *a, int family, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->ss_family = (sa_family_t)family;
	if (family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_addr = in6addr_any;
	addr_set_port(a, port);
}

int listen_bind(const struct sockaddr_storage *addr, unsigned port, int type, bool reuseport, int *family,
		struct sockaddr_storage *bound, int *fd_out)
{
	int want = *family, r;

	memset(bound, 0, sizeof(*bound));
	if (addr) {
		*bound = *addr;
		addr_set_port(bound, port);
		return bind_one(bound, type, reuseport, false, fd_out);
	}
	if (want == AF_INET)
		goto ipv4;
	wildcard(bound, AF_INET6, port);
	r = bind_one(bound, type, reuseport, want == AF_INET6, fd_out);
	if (r == -EADDRINUSE && want == 0) {
		/* the port may be taken on IPv4 alone (another inetd's socket, a socket unit's
		 * 0.0.0.0): then IPv6 alone, as openbsd-inetd's separate sockets would have it,
		 * and the caller says IPv4 is not served */
		if (bind_one(bound, type, reuseport, true, fd_out) == 0) {
			*family = AF_INET6;
			return 0;
		}
		return r;
	}
	if (r != -EAFNOSUPPORT || want == AF_INET6)
		return r;
	/* No IPv6 in this kernel: every IPv4 address. */
ipv4:
	wildcard(bound, AF_INET, port);
	return bind_one(bound, type, reuseport, false, fd_out);
}

unsigned proto_of_socktype(int type)
{
	return type == SOCK_STREAM ? PROTO_TCP : PROTO_UDP;
}

const char *proto_name(unsigned proto)
{
	return proto == PROTO_TCP ? "tcp" : proto == PROTO_UDP ? "udp" : "both";
}

const char *socket_type_name(int type)
{
	return type == SOCK_STREAM ? "tcp" : type == SOCK_DGRAM ? "udp" : "unknown";
}

bool addr_host_port(const struct sockaddr *sa, char host[INET6_ADDRSTRLEN], unsigned *port)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, INET6_ADDRSTRLEN);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &in6->sin6_addr, host, INET6_ADDRSTRLEN);
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &in->sin_addr, host, INET6_ADDRSTRLEN);
	else
		return false;
	/* sin_port and sin6_port sit at the same offset */
	*port = ntohs(in->sin_port);
	return true;
}

const char *addr_to_string(const struct sockaddr *sa, char buf[ADDR_TEXT_MAX])
{
	char host[INET6_ADDRSTRLEN];
	unsigned port;

	if (!addr_host_port(sa, host, &port))
		snprintf(buf, ADDR_TEXT_MAX, "(family %d)", sa->sa_family);
	else
		snprintf(buf, ADDR_TEXT_MAX, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	return buf;
}

bool addr_from_string(const char *text, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return false;
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return false;
	memset(out, 0, sizeof(*out));
	if (text[0] == '[' && colon > text + 1 && colon[-1] == ']') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text - 2), text + 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &in->sin_addr) == 1;
}

void addr_to_in6(const struct sockaddr_storage *src, struct sockaddr_in6 *dst)
{
	memset(dst, 0, sizeof(*dst));
	dst->sin6_family = AF_INET6;
	if (src->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)src;
		dst->sin6_addr.s6_addr[10] = 0xff;
		dst->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&dst->sin6_addr.s6_addr[12], &in->sin_addr, 4);
		dst->sin6_port = in->sin_port;
	} else {
		memcpy(dst, src, sizeof(*dst));
	}
}

void addr_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(a, b, sizeof(struct sockaddr_in)) == 0;
	return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

void addr_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 in6 = *(struct sockaddr_in6 *)ss;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = in6.sin6_port;
	memcpy(&in->sin_addr, &in6.sin6_addr.s6_addr[12], 4);
}

static bool is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
}

bool addr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct sockaddr_storage x = *a, y = *b;

	addr_unmap(&x);
	addr_unmap(&y);
	addr_set_port(&x, 0);
	addr_set_port(&y, 0);
	if ((is_any(&x) && x.ss_family == AF_INET6) || (is_any(&y) && y.ss_family == AF_INET6))
		return true;
	if (x.ss_family != y.ss_family)
		return false;
	return is_any(&x) || is_any(&y) || addr_equal(&x, &y);
}
