/* Running the programs of handler "exec" from the event loop: one per TCP connection (the
 * connection is its stdin and stdout) or per datagram (stdin the datagram, stdout the
 * reply); each in a process group of its own, its stderr logged line by line, ended at its
 * timeout, reaped through a pidfd; never more at once than its service allows. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct active_service;
struct programs;
struct server;
struct service;
struct sockaddr_in6;

/* A loop's programs (server.c makes and frees them). Freeing them forgets the programs
 * that still run: the helper runs them on (a restart), or ends them (a stop, priv_end_all). */
int programs_new(struct programs **out);
void programs_free(struct server *server);

/* A datagram for a program, past the loop ports and the access lists. */
struct program_datagram {
	const uint8_t *data;
	size_t len;
	const struct sockaddr_storage *peer;
	socklen_t peer_len;
	const struct sockaddr_in6 *from;        /* peer, IPv4 as mapped */
	const void *control;                    /* the reply's source address, as a cmsg */
	size_t control_len;
	const struct sockaddr_storage *bound;   /* the service's socket it came in on: the reply's */
};

/* fd, a TCP connection admitted (serving_admit), becomes the program's stdin and stdout;
 * the client keeps its place until the program ends. */
void program_tcp(struct server *server, struct active_service *as, int fd, const struct sockaddr_in6 *peer);
void program_udp(struct server *server, struct active_service *as, const struct program_datagram *d);
struct listener;
/* A wait service's socket has a client (a datagram, a connection): its program gets the
 * socket as its stdin, stdout and stderr, and minetd leaves the socket alone until the
 * program ends. */
void program_wait(struct listener *listener);
/* listener goes (a reload): its program, if one has it, runs on without it. */
void programs_forget_listener(struct listener *listener);
/* A reload keeps as, to go on as next: its programs count against next's 'processes'. */
void programs_keep(struct active_service *as, const struct service *next);
/* Once a tick: programs past their timeout get SIGTERM, then SIGKILL. */
void programs_tick(struct server *server, uint64_t now);
/* Ends the programs of as, whose service goes: they get SIGKILL, what they still send is
 * dropped, their ends are logged as they come. */
void programs_end(struct server *server, struct active_service *as);
struct privsep_msg;
/* What the helper says of the loop's programs (a priv_event_fn; ctx: the server). */
void programs_event(void *ctx, const struct privsep_msg *msg);
/* At a stop: hands the stderr of every running program, with its id, to save (which keeps a
 * copy); returns how many it kept. */
int programs_save_stderr(struct server *server, int (*save)(void *ctx, uint64_t id, int fd), void *ctx);
/* At a start: the stderr of a program of the last run (fd is the loop's now), read again
 * once the helper says it runs on; closed when it does not, within seconds. */
void programs_stash_stderr(struct server *server, uint64_t id, int fd);
