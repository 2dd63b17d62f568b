/* UDP: one reply per datagram, sent from the address the datagram was sent to, unless a
 * loop, an access list, the amplification rule or a budget says no. */
#pragma once

#include <stddef.h>

struct config;
struct listener;
struct server;
struct udp_batch;

/* Answers what waits on a UDP listener. */
void udp_serve(struct listener *listener);
/* Works out the sources never answered under config, with these listeners: loop ports,
 * and the interfaces' broadcast addresses. */
void udp_refuse(struct server *server, const struct config *config, struct listener *const *listeners,
		size_t n);
int udp_batch_new(struct udp_batch **out);
void udp_batch_free(struct udp_batch *batch);
