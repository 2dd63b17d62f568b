/* Listening sockets, inherited from systemd by name or bound by minetd itself, and
 * their addresses: text for messages, and the one IPv6 form the tables use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX 64        /* "[ffff:...:ffff]:65535" */

/* What a service serves, and a socket is: TCP, UDP (a service: either or both). */
enum {
	PROTO_TCP = 1 << 0,
	PROTO_UDP = 1 << 1,
	PROTO_BOTH = PROTO_TCP | PROTO_UDP,
};

/* PROTO_TCP for SOCK_STREAM, PROTO_UDP for SOCK_DGRAM. */
unsigned proto_of_socktype(int type);
/* "tcp", "udp" or "both". */
const char *proto_name(unsigned proto);

struct inherited_socket {
	int fd;
	int type;               /* SOCK_STREAM (listening) or SOCK_DGRAM, IPv4 or IPv6; 0: neither */
	char *name;             /* FileDescriptorName= */
};

/* Takes the sockets systemd passed, with their names; returns how many, or -errno. */
int listen_inherited(struct inherited_socket **out);

/* Opens, binds and (for TCP) listens on addr; addr NULL means every address: with family
 * 0 IPv6 and IPv4 on one dual-stack socket, or else [::] IPv6 alone when another socket
 * holds the port on IPv4 alone (*family is then AF_INET6: IPv4 is not served); with family
 * AF_INET6 or AF_INET, that family's wildcard alone. reuseport lets each event loop bind a
 * socket of its own to the same port. On failure returns -errno; *bound holds what was
 * tried, for the message. */
int listen_bind(const struct sockaddr_storage *addr, unsigned port, int type, bool reuseport, int *family,
		struct sockaddr_storage *bound, int *fd_out);

/* Options every serving socket needs, own or inherited: non-blocking, and for UDP the
 * destination address of each datagram so that replies leave from it. */
int listen_prepare(int fd, int type);

/* "tcp" for SOCK_STREAM, "udp" for SOCK_DGRAM. */
const char *socket_type_name(int type);
/* The address as text (IPv4-mapped IPv6 as IPv4) and the port; false for no IP address. */
bool addr_host_port(const struct sockaddr *sa, char host[INET6_ADDRSTRLEN], unsigned *port);
/* "127.0.0.1:7", "[::1]:7"; IPv4-mapped IPv6 addresses are shown as IPv4. */
const char *addr_to_string(const struct sockaddr *sa, char buf[ADDR_TEXT_MAX]);
/* Back from addr_to_string's "HOST:PORT" or "[HOST]:PORT"; false for anything else. */
bool addr_from_string(const char *text, struct sockaddr_storage *out);
/* Stores an address as IPv6, IPv4 as mapped, for the tables and lists. */
void addr_to_in6(const struct sockaddr_storage *src, struct sockaddr_in6 *dst);
void addr_set_port(struct sockaddr_storage *ss, unsigned port);
bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* The IPv4 form of an IPv4-mapped IPv6 address, the one it is bound and matched as. */
void addr_unmap(struct sockaddr_storage *ss);
/* Whether sockets bound to a and b (ports aside) would compete for the same clients: the
 * same address, or a wildcard covering the other ("::" is dual-stack, as listen_bind()
 * binds it). */
bool addr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
