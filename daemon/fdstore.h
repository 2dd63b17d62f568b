/* Restarts that keep connections: at a stop, every client connection and every socket
 * minetd bound itself goes to systemd's file descriptor store, each under a name of its
 * own, and what a connection needs besides its socket (unsent output, chargen's position,
 * its counts) into a memfd stored beside them. After a restart they come back, and the
 * clients go on as if nothing happened; after a stop, systemd closes them. */
#pragma once

struct server;

/* At a stop, on the server's own thread: stores what it serves, when systemd keeps it
 * ($FDSTORE). loop numbers the servers of one process. */
void fdstore_save(struct server *server, unsigned loop);
/* At a start, once the config is applied: serves the stored connections again, in the
 * services of the same name, and empties the store. */
void fdstore_restore(struct server *server);
