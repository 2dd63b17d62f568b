"""The file descriptor store: what a restart leaves in systemd's store comes back at the next
start as input like any other. A descriptor that is not the kind its name promises is
closed with a warning naming it, nothing read from the store can hold up the start, and what
was closed is never closed a second time (by then its number is another descriptor's).
Restarts that keep connections, with a real systemd, are tests/systemd/restart.sh's."""
import os
import socket
import tempfile

from harness import (SLOW, Daemon, config_text, free_port, service, tcp_exchange, test, udp_exchange, with_fds,
                     run)


def inode(fd):
    return os.fstat(fd).st_ino


@test
def stored_descriptors_of_the_wrong_kind_are_closed_and_minetd_serves_on():
    """A pipe for a listener, a pipe nobody closes for the state (reading it would wait
    forever), a UDP and a listening TCP socket for connections, a file under a name minetd
    never stores: each closed with a warning; the start does not wait, echo answers, and
    reloads work (the number of the listener that was closed goes to the reload's own
    descriptor next: closing it again would end minetd at the next SIGHUP)."""
    port = free_port()
    listen_r, listen_w = os.pipe()
    state_r, state_w = os.pipe()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    other = tempfile.TemporaryFile()
    stored = [("minetd.listen.0.0", listen_r), ("minetd.state.0", state_r), ("minetd.conn.0.0", udp.fileno()),
              ("minetd.conn.0.1", listening.fileno()), ("minetd.other", other.fileno())]
    try:
        d = Daemon(config_text([service("echo", "echo", port)]), **with_fds(stored))
        out = d.wait_log("serving udp")
        for name, kind in (("minetd.listen.0.0", "not a listening TCP or a UDP socket"),
                           ("minetd.state.0", "not a regular file"),
                           ("minetd.conn.0.0", "not a connected TCP socket"),
                           ("minetd.conn.0.1", "not a connected TCP socket"),
                           ("minetd.other", "not a name minetd stores")):
            assert f"'{name}' (fd " in out and f"from systemd's store is {kind}; closing it" in out, (name, out)
        theirs = {inode(fd) for _, fd in stored}
        fd_dir = f"/proc/{d.proc.pid}/fd"
        kept = [fd for fd in os.listdir(fd_dir) if os.stat(f"{fd_dir}/{fd}").st_ino in theirs]
        assert not kept, f"minetd keeps stored descriptors it refused: {kept}"
        for _ in range(3):
            assert "not reloaded" not in d.reload(config_text([service("echo", "echo", port)]))
            assert tcp_exchange("127.0.0.1", port, b"still here") == b"still here"
            assert udp_exchange("127.0.0.1", port, b"and here", timeout=5 * SLOW) == b"and here"
        assert d.stop() == 0, d.output()
    finally:
        for fd in (listen_r, listen_w, state_r, state_w):
            os.close(fd)
        udp.close()
        listening.close()
        other.close()


@test
def stored_listener_that_is_no_socket_is_closed_once_and_reloads_go_on():
    """The number of the refused listener goes to the reload's own descriptor next: closing
    it a second time made the next SIGHUP end minetd."""
    port = free_port()
    r, w = os.pipe()
    try:
        d = Daemon(config_text([service("echo", "echo", port)]), **with_fds([("minetd.listen.0.0", r)]))
        for _ in range(3):
            assert "not reloaded" not in d.reload(config_text([service("echo", "echo", port)]))
        assert tcp_exchange("127.0.0.1", port, b"still here") == b"still here"
        assert "from systemd's store is not a listening TCP or a UDP socket; closing it" in d.output()
        assert d.stop() == 0, d.output()
    finally:
        os.close(r)
        os.close(w)


if __name__ == "__main__":
    run()
