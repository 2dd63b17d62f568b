/* Restarts that keep connections: at a stop, every client connection and every socket
 * minetd bound itself goes to systemd's file descriptor store, each under a name of its
 * own, and what a connection needs besides its socket (unsent output, chargen's position,
 * its counts) into a memfd stored beside them. After a restart they come back, and the
 * clients go on as if nothing happened; after a stop, systemd closes them.
 *
 * What comes back is input like any other: each descriptor is checked for the kind its name
 * promises (a listening socket, a connected TCP socket, a regular file for the state) and
 * closed when it is not, and nothing read from the store can block the start. */
#pragma once

#include <stddef.h>

struct fdstore;
struct inherited_socket;
struct server;

/* At a stop, on the server's own thread: stores what it serves, when systemd keeps it
 * ($FDSTORE). loop numbers the servers of one process. */
void fdstore_save(struct server *server, unsigned loop);

/* At a start: takes out of socks (n of them, compacted in place) what the last run left in
 * the store, its names starting "minetd.". Returns 0, or -ENOMEM (what it took is closed). */
int fdstore_take(struct inherited_socket *socks, size_t *n, struct fdstore **out);
/* Before the first config is applied: the sockets minetd bound itself are the server's
 * again, so that a config that still binds them keeps them, with their queue of clients. */
void fdstore_adopt_listeners(struct fdstore *store, struct server *server);
/* Once the config is applied: serves the stored connections again, in the services of the
 * same name; closes what is left, empties systemd's store and frees store. */
void fdstore_restore(struct fdstore *store, struct server *server);
