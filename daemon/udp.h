/* UDP: one reply per datagram, sent from the address the datagram was sent to, unless a
 * loop, an access list, the amplification rule or a budget says no. */
#pragma once

#include <stddef.h>

struct active_service;
struct listener;
struct server;
struct udp;

/* Answers what waits on a UDP listener. */
void udp_serve(struct listener *listener);
/* Works out the sources never answered under the server's config and sockets: loop
 * ports, and the interfaces' broadcast addresses. */
void udp_refuse(struct server *server);
/* A loop's UDP state (server.c makes and frees it). */
int udp_new(struct udp **out);
void udp_free(struct udp *udp);
