/* TCP clients: bounded output, backpressure, one state machine per handler behaviour. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct active_service;
struct listener;
struct server;

/* Accepts what waits on a TCP listener and serves it; under load, the listener is looked at
 * every so often instead of waking the loop for each client. */
void conn_accept(struct listener *listener);
void conn_close_all(struct active_service *as, const char *reason);
/* Closes the connections a new config no longer allows: a protocol or an address gone. */
void conn_recheck(struct active_service *as);
/* Closes the connections that were idle, lived or moved more than the limits allow. */
void conn_enforce_limits(struct active_service *as, uint64_t now);
/* What a connection carries across a restart, besides its socket. */
struct conn_state {
	uint64_t stream_pos;            /* chargen: bytes of the stream sent */
	uint64_t bytes_in, bytes_out, started_usec, active_usec;
	bool read_closed, close_when_flushed;
	const uint8_t *out;             /* output not sent yet */
	uint32_t out_len;
};

typedef int conn_save_fn(void *ctx, int fd, const struct conn_state *state);
/* Hands every connection of as to save (which keeps a copy of what it needs); returns how
 * many it kept. */
int conn_save_all(struct active_service *as, conn_save_fn *save, void *ctx);
/* Serves fd as it was served before a restart; 0, or -errno when it cannot be (fd closed). */
int conn_restore(struct server *server, struct active_service *as, int fd, const struct conn_state *state);
/* Frees the loop's spare output buffers. */
void conn_bufs_free(struct server *server);
