"""The daemon's life: its command line, start with stdin, stdout and stderr closed, signals
(SIGUSR1's counters, SIGTERM and SIGINT) and exit status. SIGHUP: test_reload.py; -t and
a bad config at start: test_config_check.py."""
import os
import signal
import socket
import struct
import time

from harness import (SLOW, WRAPPER, Daemon, Skip, TempDir, config_text,
                     notify_socket, free_port, recv_until_eof, run_minetd, service,
                     tcp_exchange, test, udp_exchange, run)


@test
def version_and_help_exit_0_and_bad_usage_exits_2():
    r = run_minetd("-V")
    assert r.returncode == 0 and r.stdout.startswith("minetd ") and r.stdout.count("\n") == 1
    r = run_minetd("--help")
    assert r.returncode == 0 and "--check-config" in r.stdout and "Usage: minetd" in r.stdout
    assert run_minetd("--bogus").returncode == 2
    assert run_minetd("-l", "syslog").returncode == 2
    assert run_minetd("extra-argument").returncode == 2


@test
def sigterm_and_sigint_exit_0():
    for sig in [signal.SIGTERM, signal.SIGINT]:
        port = free_port()
        d = Daemon(config_text([service("echo", "echo", port)]))
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"x")
            assert s.recv(1) == b"x"
            assert d.stop(sig) == 0
            assert s.recv(1) == b""        # clients are closed, not left hanging
        assert "stopped" in d.output()


@test
def sigusr1_logs_counters_per_service():
    p1, p2 = free_port(), free_port()
    d = Daemon(config_text([service("e1", "echo", p1), service("t1", "time", p2)]))
    tcp_exchange("127.0.0.1", p1, b"12345")
    udp_exchange("127.0.0.1", p2, b"")
    time.sleep(0.2)         # another event loop may count the reply just after sending it
    d.proc.send_signal(signal.SIGUSR1)
    out = d.wait_log("t1: tcp")
    e1 = [l for l in out.splitlines() if "e1: tcp" in l][0]
    assert "tcp 1 accepted" in e1 and "5 bytes in, 5 out" in e1, e1
    t1 = [l for l in out.splitlines() if "t1: tcp" in l][0]
    assert "udp 1 received, 1 replied" in t1, t1


# Started with stdin, stdout and stderr closed.

def wait_refused(port, timeout):
    """Until nothing listens on TCP port of 127.0.0.1. A connection caught in the backlog
    of a listener as it closes is reset: the next one tells."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        except ConnectionResetError:
            pass
        assert time.monotonic() < deadline, f"port {port} still listening after {timeout} s"
        time.sleep(0.05)


@test
def closed_stdio_never_sends_log_lines_to_clients():
    if WRAPPER and "valgrind" in WRAPPER[0]:
        raise Skip("valgrind exits 1 without a stderr to report on; the test runs natively and under ASan")
    for what, reopen_stdin in [("stdin, stdout and stderr closed", False), ("stdout and stderr closed", True)]:
        port, gone1, gone2 = free_port(), free_port(), free_port()
        # The listeners of two services take the lowest free descriptors, 1 and 2 (or 2
        # and 3); a reload that removes them frees those for the next clients.
        first = config_text([service("gone1", "discard", gone1, protocol="tcp"),
                             service("gone2", "discard", gone2, protocol="tcp"),
                             service("echo", "echo", port)], extra="log_connections = true;")
        d = Daemon(first, stdio="closed", wait=False,
                   preexec_fn=(lambda: os.open("/dev/null", os.O_RDONLY)) if reopen_stdin else None)
        deadline = time.monotonic() + 10 * SLOW
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and d.proc.poll() is None, \
                    f"{what}: minetd not serving (exit {d.proc.poll()})"
                time.sleep(0.05)
        d.write_config(config_text([service("echo", "echo", port)], extra="log_connections = true;"))
        d.proc.send_signal(signal.SIGHUP)
        wait_refused(gone1, 5 * SLOW)
        wait_refused(gone2, 5 * SLOW)
        for rnd in range(5):
            # Clients held open while others finish: the log line of each that finishes
            # (log_connections) must not land on any of them.
            held = [socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) for _ in range(4)]
            for i in range(4):
                msg = b"short %d %d\n" % (rnd, i)
                got = tcp_exchange("127.0.0.1", port, msg, timeout=5 * SLOW)
                assert got == msg, f"{what}: a client got {got[:120]!r}... for {msg!r}"
            for i, s in enumerate(held):
                msg = b"held %d %d\n" % (rnd, i)
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
                got = recv_until_eof(s)
                s.close()
                assert got == msg, f"{what}: a client got {got[:120]!r}... for {msg!r}"
            for i in range(3):
                msg = b"datagram %d %d" % (rnd, i)
                got = udp_exchange("127.0.0.1", port, msg, timeout=2 * SLOW)
                assert got == msg, f"{what}: udp: got {got!r} for {msg!r}"
        assert d.stop() == 0




def notify_messages(sock, seconds, until=None):
    """(sender pid, datagram) of what arrives on a NOTIFY_SOCKET within seconds; with until,
    until a datagram has that line."""
    got, end = [], time.monotonic() + seconds
    while time.monotonic() < end and not (until and any(until in m.split(b"\n") for _, m in got)):
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        pid = next((struct.unpack("iII", data[:12])[0] for level, kind, data in anc
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS), None)
        got.append((pid, msg))
    return got


@test
def ready_is_said_once_by_minetd_itself_when_it_serves():
    """With NOTIFY_SOCKET (a supervisor, or systemd with NotifyAccess=all), by hand: READY=1
    comes once, from minetd's own pid, when its port accepts. The helper it starts as its
    child inherited the variable and said READY=1 itself, before minetd served."""
    port = free_port()
    with TempDir() as tmp:
        notify, path = notify_socket(tmp, passcred=True)
        with notify:
            d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")]),
                       env=dict(os.environ, NOTIFY_SOCKET=path), wait=False)
            got = notify_messages(notify, 10 * SLOW, until=b"READY=1")
            with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW):
                pass                    # accepting when READY=1 came
            got += notify_messages(notify, 0.5)
            ready = [pid for pid, msg in got if b"READY=1" in msg.split(b"\n")]
            assert ready == [d.proc.pid], f"READY=1 from {ready}, minetd is {d.proc.pid}: {got}"


if __name__ == "__main__":
    run()
