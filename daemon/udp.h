/* UDP: one reply per datagram, sent from the address the datagram was sent to, unless a
 * loop, an access list, the amplification rule or a budget says no. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct active_service;
struct config;
struct listener;
struct server;
struct udp_batch;

/* One reply: to whom, from which address (an IP_PKTINFO or IPV6_PKTINFO cmsg), what. */
struct udp_reply {
	const struct sockaddr_storage *to;
	socklen_t to_len;
	const void *control;
	size_t control_len;
	const uint8_t *data;
	size_t len;
};

/* Answers what waits on a UDP listener. */
void udp_serve(struct listener *listener);
/* Works out the sources never answered under config, with these listeners: loop ports,
 * and the interfaces' broadcast addresses. */
void udp_refuse(struct server *server, const struct config *config, struct listener *const *listeners,
		size_t n);
/* Sends a reply of as, past every check, through its UDP socket bound to 'bound' now (or
 * another of its UDP sockets that reaches r->to, when a reload moved it), and counts it. */
void udp_send_reply(struct server *server, struct active_service *as, const struct sockaddr_storage *bound,
		    const struct udp_reply *r);
int udp_batch_new(struct udp_batch **out);
void udp_batch_free(struct udp_batch *batch);
