/* TCP clients: bounded output, backpressure, one state machine per handler behaviour. */
#pragma once

#include <stdint.h>

struct active_service;
struct listener;
struct server;

/* Accepts what waits on a TCP listener and serves it. */
void conn_accept(struct listener *listener);
void conn_close_all(struct active_service *as, const char *reason);
/* Closes the connections a new config no longer allows: a protocol or an address gone. */
void conn_recheck(struct active_service *as);
/* Closes the connections that were idle, lived or moved more than the limits allow. */
void conn_enforce_limits(struct active_service *as, uint64_t now);
/* Frees the loop's spare output buffers. */
void conn_bufs_free(struct server *server);
