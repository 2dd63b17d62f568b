/* What minetd's serving process and its privileged helper (minetd-helper) say to each other:
 * one fixed-size message per SOCK_SEQPACKET packet, descriptors beside it (SCM_RIGHTS).
 * The language is small and fixed, as OpenSSH's monitor's: the serving process names a
 * service of the config and what it wants of it; the helper, which loaded the same config
 * itself, decides the rest (the address and port to bind, the command, the user), creates
 * the descriptors or the program, and keeps no descriptor it passes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define PRIVSEP_NAME_MAX 64
#define PRIVSEP_TEXT_MAX 200
#define PRIVSEP_FDS_MAX 3

enum privsep_type {
	/* serving process -> helper */
	PRIVSEP_HELLO = 1,      /* first: answered by a PRIVSEP_RUNNING per program it runs, then OK */
	PRIVSEP_ATTACH,         /* one more connection (the descriptor), for another event loop */
	PRIVSEP_RELOAD,         /* read the config again: OK or ERROR (the helper logs why) */
	PRIVSEP_BIND,           /* a socket of a service (proto, addr_index, loop; code: 0, or
				 * AF_INET6 or AF_INET for one family of a service on every
				 * address): BOUND or ERROR */
	PRIVSEP_SPAWN,          /* a program for a service (id; the descriptors): STARTED or FAILED */
	PRIVSEP_SIGNAL,         /* a signal (value) to a program (id) and what it started */
	PRIVSEP_END_ALL,        /* end every program (an explicit stop): OK once they are gone */
	/* helper -> serving process */
	PRIVSEP_OK,
	PRIVSEP_ERROR,          /* value: an errno; text: why */
	PRIVSEP_BOUND,          /* the socket; addr: what it is bound to; code AF_INET6: IPv6
				 * alone, IPv4's port being taken */
	PRIVSEP_RUNNING,        /* a program started before this connection (a restart) */
	PRIVSEP_STARTED,        /* value: its pid */
	PRIVSEP_FAILED,         /* value: an errno; text: why */
	PRIVSEP_EXITED,         /* code: CLD_EXITED, CLD_KILLED or CLD_DUMPED, 0 when lost; value */
	PRIVSEP_TYPE_MAX,
};

/* PRIVSEP_SPAWN: what its descriptors are. */
enum privsep_stdio {
	PRIVSEP_STDIO_CONNECTION,       /* a TCP connection as stdin and stdout; stderr a pipe, or
					 * the connection too (the service's stderr = "client") */
	PRIVSEP_STDIO_DATAGRAM,         /* the datagram (a memfd), the reply's pipe, stderr's pipe */
	PRIVSEP_STDIO_SOCKET,           /* a wait service's socket as stdin, stdout and stderr */
};

struct privsep_msg {
	uint32_t type;                  /* enum privsep_type */
	uint32_t seq;                   /* a request's, echoed by its answer */
	uint64_t id;                    /* a program's, chosen by the serving process */
	char service[PRIVSEP_NAME_MAX + 1];
	uint8_t proto;                  /* PROTO_TCP or PROTO_UDP */
	uint8_t stdio;                  /* enum privsep_stdio */
	uint16_t addr_index;            /* BIND: which of the service's addresses */
	uint16_t loop;                  /* BIND: which event loop (a socket each, SO_REUSEPORT) */
	uint16_t loops;
	int32_t value;
	int32_t code;
	uint64_t started_usec;          /* RUNNING: CLOCK_MONOTONIC */
	struct sockaddr_in6 peer;       /* SPAWN, RUNNING: the client (IPv4 as mapped) */
	struct sockaddr_storage addr;   /* SPAWN: where the client came; BOUND: the socket's */
	char text[PRIVSEP_TEXT_MAX + 1];
};

/* Sends msg with n descriptors (the caller keeps them); 0 or -errno. */
int privsep_send(int sock, const struct privsep_msg *msg, const int *fds, size_t n);
/* Receives one message and up to PRIVSEP_FDS_MAX descriptors (fds[0..*n), the caller's to
 * close; more are closed); 0, -EPIPE at the end of the connection, -EAGAIN when nothing
 * waits on a non-blocking socket, -EBADMSG for a message of the wrong size or type (its
 * descriptors are closed), or another -errno. */
int privsep_recv(int sock, struct privsep_msg *msg, int *fds, size_t *n);
/* A message of that type, everything else zero. */
struct privsep_msg privsep_message(enum privsep_type type);
