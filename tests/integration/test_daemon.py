"""The daemon's life: command line, signals, reload, flow control, many clients."""
import glob
import os
import signal
import socket
import subprocess
import threading
import time

from harness import (MINETD, RSS_FACTOR, TOP, Daemon, config_text, free_port, recv_exactly, service, tcp_exchange, test,
                     udp_exchange, run)


def minetd(*args):
    return subprocess.run([MINETD, *args], capture_output=True, text=True, timeout=10)


@test
def cli_version_help_usage():
    r = minetd("-V")
    assert r.returncode == 0 and r.stdout.startswith("minetd ") and r.stdout.count("\n") == 1
    r = minetd("--help")
    assert r.returncode == 0 and "--check-config" in r.stdout and "Usage: minetd" in r.stdout
    assert minetd("--bogus").returncode == 2
    assert minetd("-l", "syslog").returncode == 2
    assert minetd("extra-argument").returncode == 2


@test
def check_config_ok_and_every_bad_file():
    r = minetd("-t", "-c", os.path.join(TOP, "config/minetd.conf"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == os.path.join(TOP, "config/minetd.conf") + ": ok\n"
    bad = sorted(glob.glob(os.path.join(TOP, "tests/data/bad/*.conf")))
    assert len(bad) >= 25
    for path in bad:
        expect = open(path).readline()[len("# expect: "):].rstrip("\n")
        if "unresolvable" in path:
            # A name lookup would leave this machine: no network namespace, no check.
            if os.geteuid() != 0:
                continue
            r = subprocess.run(["unshare", "-n", MINETD, "-t", "-c", path], capture_output=True, text=True,
                               timeout=10)
        else:
            r = minetd("-t", "-c", path)
        assert r.returncode == 1, (path, r.returncode)
        assert f"{path}:{expect}" in r.stderr, (path, r.stderr)
        assert r.stdout == ""
    r = minetd("-t", "-c", "/nonexistent/minetd.conf")
    assert r.returncode == 1 and r.stderr.startswith("/nonexistent/minetd.conf:0: cannot read: No such file")


@test
def bad_config_at_start_exits_1():
    path = os.path.join(TOP, "tests/data/bad/unknown-handler.conf")
    r = minetd("-c", path, "-l", "stderr")
    assert r.returncode == 1
    assert f"{path}:3: unknown handler 'chargenx'" in r.stderr


@test
def port_in_use_names_service_address_and_error():
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        conf = "/tmp/minetd-test-inuse.conf"
        with open(conf, "w") as f:
            f.write(config_text([service("busy", "echo", port, protocol="tcp")]))
        r = minetd("-c", conf, "-l", "stderr")
        os.unlink(conf)
    assert r.returncode == 1
    assert f"service 'busy': cannot listen on tcp 127.0.0.1:{port}: Address already in use" in r.stderr, r.stderr


@test
def unservable_service_is_its_own_failure_at_start():
    """A port taken (or any socket that cannot be had) fails that service alone: minetd
    starts with the rest and names the service, the address and the reason."""
    busy, free = free_port(), free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", busy))
        blocker.listen()
        d = Daemon(config_text([service("busy", "daytime", busy), service("echo", "echo", free)]))
        assert f"service 'busy': cannot listen on tcp 127.0.0.1:{busy}: Address already in use" in d.output()
        assert tcp_exchange("127.0.0.1", free, b"served") == b"served"
        assert len(udp_exchange("127.0.0.1", busy, b"")) > 20         # its UDP socket is there


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


@test
def echo_4mib_half_close_in_order():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")]))
    data = os.urandom(4 << 20)
    received = []
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        def reader():
            while True:
                b = s.recv(1 << 16)
                if not b:
                    return
                received.append(b)
        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(30)
    assert b"".join(received) == data


@test
def client_that_never_reads_does_not_grow_the_daemon():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")]))
    before = d.rss_kib()
    socks = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    chunk = b"z" * 65536
    deadline = time.monotonic() + 5
    sent = 0
    while time.monotonic() < deadline:
        progress = False
        for s in socks:
            try:
                sent += s.send(chunk)
                progress = True
            except BlockingIOError:
                pass
        if not progress:
            time.sleep(0.05)
            if all(not _can_send(s) for s in socks):
                break
    grown = d.rss_kib() - before
    for s in socks:
        s.close()
    # Each stalled client holds at most one 16 KiB buffer in the daemon; the rest waits
    # in the kernel's socket buffers, where it is bounded too.
    assert sent > 20 * 1024 * 1024 // 8, sent
    assert grown < 2048 * RSS_FACTOR, f"daemon grew by {grown} KiB while clients pushed {sent} bytes"


def _can_send(s):
    try:
        s.send(b"z")
        return True
    except BlockingIOError:
        return False


@test
def five_hundred_concurrent_clients():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")]))
    # 500 clients from 5 addresses: below the per-source limit (256) as real clients are.
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(f"127.0.0.{10 + i % 5}", 0))
             for i in range(500)]
    for i, s in enumerate(socks):
        s.sendall(b"client %d\n" % i)
    for i, s in enumerate(socks):
        want = b"client %d\n" % i
        assert recv_exactly(s, len(want)) == want, f"client {i}"
    for s in socks:
        s.close()


@test
def reload_adds_service_keeps_open_connection():
    p1, p2 = free_port(), free_port()
    d = Daemon(config_text([service("echo", "echo", p1)]))
    with socket.create_connection(("127.0.0.1", p1), timeout=5) as s:
        s.sendall(b"before")
        assert s.recv(100) == b"before"
        line = d.reload(config_text([service("echo", "echo", p1), service("daytime", "daytime", p2)]))
        assert "reloaded" in line and "not" not in line, line
        assert tcp_exchange("127.0.0.1", p2).endswith(b"\r\n")
        s.sendall(b"after")
        assert s.recv(100) == b"after"


@test
def reload_removes_and_moves_services():
    p1, p2, p3 = free_port(), free_port(), free_port()
    d = Daemon(config_text([service("echo", "echo", p1), service("gone", "discard", p2)]))
    with socket.create_connection(("127.0.0.1", p1), timeout=5) as kept:
        kept.sendall(b"1")
        assert kept.recv(1) == b"1"
        d.reload(config_text([service("echo", "echo", p3)]))
        # The moved service answers on its new port; its client on the old one stays.
        assert tcp_exchange("127.0.0.1", p3, b"moved") == b"moved"
        assert udp_exchange("127.0.0.1", p3, b"moved") == b"moved"
        kept.sendall(b"2")
        assert kept.recv(1) == b"2"
    for port in [p1, p2]:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError(f"port {port} still listening")
        except ConnectionRefusedError:
            pass


@test
def bad_reload_keeps_old_config_serving():
    p1, p2 = free_port(), free_port()
    d = Daemon(config_text([service("echo", "echo", p1)]))
    bad = config_text([service("echo", "echo", p1), service("x", "nosuch", p2)])
    line = d.reload(bad)
    assert "not reloaded" in line, line
    assert f"{d.config_path}:5: unknown handler 'nosuch'" in d.output(), d.output()
    assert tcp_exchange("127.0.0.1", p1, b"still") == b"still"
    assert udp_exchange("127.0.0.1", p1, b"still") == b"still"
    # A config that parses is what -t accepts, so it reloads; a socket that cannot be had
    # (port taken) is that one service's failure, said in the log; the rest is served.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", p2))
        blocker.listen()
        line = d.reload(config_text([service("echo", "echo", p1), service("t", "time", p2)]))
        assert "not reloaded" not in line, line
        assert f"service 't': cannot listen on tcp 127.0.0.1:{p2}: Address already in use" in d.output()
        assert len(udp_exchange("127.0.0.1", p2, b"")) == 4
    assert tcp_exchange("127.0.0.1", p1, b"still") == b"still"
    # ... and once the port is free, a reload binds it.
    line = d.reload(config_text([service("echo", "echo", p1), service("t", "time", p2)]))
    assert "not" not in line
    assert len(tcp_exchange("127.0.0.1", p2)) == 4


@test
def log_connections_logs_each_close():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port)], extra="log_connections = true;"))
    tcp_exchange("127.0.0.1", port, b"abc")
    out = d.wait_log("connection from 127.0.0.1")
    assert "3 bytes in, 3 out" in out, out


if __name__ == "__main__":
    run()
