"""Sockets: the addresses services bind (one, every one, IPv4 and IPv6 on one socket), ports
shared by services on distinct addresses or protocols, a port that cannot be had, and
sockets inherited from a service manager (socket activation, without systemd itself).
Overlapping addresses are a config error: test_config_check.py; sockets kept across a
restart: test_fdstore.py."""
import os
import re
import shutil
import socket
import time

from harness import (SLOW, Daemon, Skip, TempDir, check_config, config_text, free_port, run_minetd, service,
                     tcp_echo_ok, tcp_exchange, test, udp_echo_ok, udp_exchange, write_file, run)


@test
def wildcard_serves_ipv4_and_ipv6():
    port = free_port("127.0.0.1")
    d = Daemon(config_text([service("echo", "echo", port)], host=""))
    for host in ["127.0.0.1", "127.0.0.9", "::1"]:
        assert tcp_exchange(host, port, b"any") == b"any"
        assert udp_exchange(host, port, b"any") == b"any"


@test
def udp_reply_comes_from_the_address_asked():
    port = free_port("127.0.0.1")
    d = Daemon(config_text([service("echo", "echo", port, protocol="udp")], host=""))
    # A connected UDP client only accepts replies from the address it sent to.
    for addr in ["127.0.0.1", "127.0.0.5", "::1"]:
        with socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(2)
            u.connect((addr, port))
            u.send(b"where from")
            assert u.recv(100) == b"where from"


@test
def services_on_one_port_with_distinct_addresses_or_protocols_load():
    p1, p2, p3 = free_port(), free_port(), free_port()
    services = [service("a1", "echo", p1, host="127.0.0.1"), service("b1", "daytime", p1, host="127.0.0.2"),
                service("a2", "echo", p2, protocol="tcp", host="127.0.0.1"),
                service("b2", "daytime", p2, protocol="udp", host="127.0.0.1"),
                service("a3", "echo", p3, host="::1"), service("b3", "daytime", p3, host="127.0.0.1")]
    with TempDir() as tmp:
        r = check_config(write_file(os.path.join(tmp, "ok.conf"), config_text(services)), within=2)
        assert r.returncode == 0, r.stderr
    d = Daemon(config_text(services[:1]))
    line = d.reload(config_text(services))
    assert "not" not in line, line
    tcp_echo_ok("127.0.0.1", p1)
    assert tcp_exchange("127.0.0.2", p1).endswith(b"\r\n")
    tcp_echo_ok("127.0.0.1", p2)
    assert udp_exchange("127.0.0.1", p2, b"").endswith(b"\r\n")
    tcp_echo_ok("::1", p3)
    assert tcp_exchange("127.0.0.1", p3).endswith(b"\r\n")
    d.stop()
    Daemon(config_text(services))       # and at start


@test
def port_in_use_names_service_address_and_error():
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        conf = "/tmp/minetd-test-inuse.conf"
        with open(conf, "w") as f:
            f.write(config_text([service("busy", "echo", port, protocol="tcp")]))
        r = run_minetd("-c", conf, "-l", "stderr")
        os.unlink(conf)
    assert r.returncode == 1
    assert f"service 'busy': cannot listen on tcp 127.0.0.1:{port}: Address already in use" in r.stderr, r.stderr


def answers(host, port, tcp=True, timeout=2):
    try:
        if tcp:
            return tcp_exchange(host, port, b"here?", timeout=timeout) == b"here?"
        return udp_exchange(host, port, b"here?", timeout=timeout) == b"here?"
    except OSError:
        return False


@test
def every_address_with_ipv4_taken_serves_ipv6_then_ipv4_once_free():
    """Another socket holds the port on IPv4 alone (a socket unit's 0.0.0.0:80): minetd
    serves the service's every address over IPv6 ([::], IPv6 alone), says IPv4 is taken,
    and binds 0.0.0.0 as soon as it is free; a reload keeps both sockets. openbsd-inetd
    binds the two families apart; one dual-stack socket would have served neither."""
    port = free_port("127.0.0.1")
    holders = []
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        h = socket.socket(socket.AF_INET, kind)
        h.bind(("0.0.0.0", port))
        if kind == socket.SOCK_STREAM:
            h.listen()
        holders.append(h)
    config = config_text([service("echo", "echo", port)], host="")
    try:
        d = Daemon(config)
        out = d.output()
        for proto in ("tcp", "udp"):
            assert (f"service 'echo': {proto} 0.0.0.0:{port} is taken (another socket holds the port on "
                    f"IPv4 alone): serving [::]:{port} over IPv6 alone") in out, out
        assert answers("::1", port) and answers("::1", port, tcp=False)
        assert not answers("127.0.0.1", port, tcp=False, timeout=0.5)     # the holder reads nothing
    finally:
        for h in holders:
            h.close()
    deadline = time.monotonic() + 5 * SLOW
    while not (answers("127.0.0.1", port) and answers("127.0.0.1", port, tcp=False)):
        assert time.monotonic() < deadline, f"IPv4 not served once free:\n{d.output()}"
        time.sleep(0.1)
    out = d.output()
    assert f"echo: serving tcp on 0.0.0.0:{port} now" in out and f"echo: serving udp on 0.0.0.0:{port} now" in out, out
    line = d.reload(config)
    assert "not reloaded" not in line, d.output()
    for host in ("127.0.0.1", "::1"):
        assert answers(host, port) and answers(host, port, tcp=False), host
    assert "cannot listen" not in d.output(), d.output()


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


# An inherited socket of a type minetd does not serve.

def inherited_unserved_socket(what, option, kind):
    """minetd started by systemd-socket-activate with a unix socket named "echo" of a kind
    it does not serve; returns the problems seen."""
    echo, own = free_port(), free_port()
    problems = []
    with TempDir() as tmp:
        path = os.path.join(tmp, "echo.sock")
        # It waits for a first client on its socket, then execs minetd with it as "echo".
        d = Daemon(config_text([service("echo", "echo", echo), service("own", "echo", own)]),
                   launcher=["systemd-socket-activate", *option, "-l", path, "--fdname=echo"], wait=False)
        deadline = time.monotonic() + 5 * SLOW
        while not os.path.exists(path):
            assert time.monotonic() < deadline and d.proc.poll() is None, f"no socket {path}:\n{d.output()}"
            time.sleep(0.02)
        with socket.socket(socket.AF_UNIX, kind) as first:
            first.settimeout(5 * SLOW)
            first.connect(path)
            d.wait_log("started")
            cpu = d.cpu_seconds()
            time.sleep(2)
            cpu = d.cpu_seconds() - cpu
            if cpu >= 0.2 * SLOW:
                problems.append(f"{what}: minetd used {cpu:.2f} s of CPU in 2 s idle (spinning)")
            if not re.search(r"warning: .*'echo'.*clos", d.output()):
                problems.append(f"{what}: no warning naming 'echo' and closing it")
            tcp_echo_ok("127.0.0.1", own)
            udp_echo_ok("127.0.0.1", own)
            with socket.socket(socket.AF_UNIX, kind) as again:
                again.settimeout(5 * SLOW)
                try:
                    again.connect(path)
                    problems.append(f"{what}: the socket still accepts connections")
                except ConnectionRefusedError:
                    pass
        if problems:
            print(f"--- minetd's log with {what}:\n{d.output()[-1500:]}")
        assert d.stop() == 0, f"{what}: exit status {d.proc.returncode}"
    return problems


@test
def inherited_socket_of_an_unserved_type_is_closed_not_spun_on():
    if not shutil.which("systemd-socket-activate"):
        raise Skip("systemd-socket-activate not installed (package systemd)")
    problems = inherited_unserved_socket("SOCK_SEQPACKET 'echo'", ["--seqpacket"], socket.SOCK_SEQPACKET)
    problems += inherited_unserved_socket("AF_UNIX stream 'echo'", [], socket.SOCK_STREAM)
    assert not problems, "; ".join(problems)


if __name__ == "__main__":
    run()
