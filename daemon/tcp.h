/* TCP: the clients of one loop's listeners, each served by its handler's behaviour (echo,
 * discard, chargen's stream, a one-shot reply) with bounded output and backpressure, or
 * handed to a program (exec). Pairs with udp.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct active_service;
struct listener;
struct server;
struct tcp;

/* A loop's TCP state, its buffers (server.c makes and frees it). */
int tcp_new(struct tcp **out);
void tcp_free(struct tcp *tcp);

/* Accepts what waits on a TCP listener and serves it. */
void tcp_accept(struct listener *listener);
void tcp_close_all(struct active_service *as, const char *reason);
/* Closes the connections a new config no longer allows: a protocol or an address gone. */
void tcp_recheck(struct active_service *as);
/* Closes the connections that were idle, lived or moved more than the limits allow. */
void tcp_enforce_limits(struct active_service *as, uint64_t now);

/* What a connection carries across a restart, besides its socket. */
struct tcp_conn_state {
	uint64_t stream_pos;            /* chargen: bytes of the stream sent */
	uint64_t bytes_in, bytes_out, started_usec, active_usec;
	bool read_closed, close_when_flushed;
	const uint8_t *out;             /* output not sent yet */
	uint32_t out_len;
};

typedef int tcp_save_fn(void *ctx, int fd, const struct tcp_conn_state *state);
/* Hands every connection of as to save (which keeps a copy of what it needs); returns how
 * many it kept. */
int tcp_save_all(struct active_service *as, tcp_save_fn *save, void *ctx);
/* Serves fd as it was served before a restart; 0, or -errno when it cannot be (fd closed). */
int tcp_restore(struct server *server, struct active_service *as, int fd, const struct tcp_conn_state *state);
