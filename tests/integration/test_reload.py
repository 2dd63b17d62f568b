"""Reloads (SIGHUP): what a reload adds, moves and removes while open connections go on; a
config that is refused (a problem -t finds, overlapping addresses, a FIFO) leaves the old
one serving; a port that cannot be had is tried again; live connections are checked again
(a client now denied, TCP removed); a silent resolver never blocks the loop; programs that
run across a reload; a hundred reloads under load lose no request. Reloads after a start
from systemd's file descriptor store: test_fdstore.py."""
import os
import shutil
import signal
import socket
import threading
import time

from harness import (programs_of, SLOW, Daemon, Programs, Skip, TempDir, children, config_text, conflict_message, connect_from,
                     exec_service, exec_test, free_port, gone, need_root, pair_config, recv_exactly, refused,
                     service, tcp_echo_ok, tcp_exchange, test, udp_echo_ok, udp_exchange, wait_until, write_file, run)


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
def reload_between_one_address_and_every_address_keeps_serving():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, host="127.0.0.1")]))
    with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as kept:
        line = d.reload(config_text([service("echo", "echo", port, host="")]))
        assert "not" not in line, f"from '127.0.0.1' to '': {line}"
        for host in ["127.0.0.1", "::1"]:
            tcp_echo_ok(host, port)
            udp_echo_ok(host, port)
        line = d.reload(config_text([service("echo", "echo", port, host="127.0.0.1")]))
        assert "not" not in line, f"from '' to '127.0.0.1': {line}"
        tcp_echo_ok("127.0.0.1", port)
        udp_echo_ok("127.0.0.1", port)
        kept.sendall(b"kept")
        assert kept.recv(4) == b"kept"


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
def bind_that_fails_at_a_reload_is_tried_again_until_the_port_is_free():
    port, taken = free_port(), free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        services = [service("echo", "echo", port)]
        d = Daemon(config_text(services))
        d.reload(config_text(services + [service("second", "echo", taken, protocol="tcp")]))
        d.wait_log(rf"service 'second': cannot listen on tcp 127.0.0.1:{taken}: .*; trying again every second")
    d.wait_log(rf"second: serving tcp on 127.0.0.1:{taken} now", timeout=5 * SLOW)
    assert tcp_exchange("127.0.0.1", taken, b"at last") == b"at last"
    assert "not served" not in status_now(d)


def status_now(d):
    """What the counters say of every service."""
    return "\n".join(l for l in d.output().splitlines() if "not served" in l)


@test
def reload_to_overlapping_addresses_is_refused_and_the_old_config_serves():
    """A reload that took them would own the listener twice and free it twice."""
    port = free_port()
    d = Daemon(config_text([service("a", "echo", port, host="127.0.0.1")]))
    for host_a, host_b in [("127.0.0.1", "localhost"), ("127.0.0.1", "127.1"), ("127.0.0.1", "0.0.0.0"),
                           ("127.0.0.1", "::")]:
        text = pair_config(host_a, host_b, port)
        line = d.reload(text)
        assert "not reloaded" in line, f"{host_a!r}/{host_b!r} on one port: {line}"
        want = conflict_message(d.config_path, text, port)
        assert want in d.output(), f"no '{want}' in the log:\n{d.output()[-1500:]}"
        tcp_echo_ok("127.0.0.1", port)
        udp_echo_ok("127.0.0.1", port)


@test
def reload_onto_a_fifo_is_refused_and_echo_keeps_answering():
    port = free_port()
    text = config_text([service("echo", "echo", port)])
    d = Daemon(text)
    fifo = os.path.join(d.dir, "fifo")
    os.mkfifo(fifo)
    os.rename(fifo, d.config_path)
    n = d.output().count("not reloaded")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("not reloaded", count=n + 1, timeout=2 * SLOW)
    tcp_echo_ok("127.0.0.1", port)
    udp_echo_ok("127.0.0.1", port)
    # the same through an @include that became a FIFO
    os.unlink(d.config_path)
    os.mkfifo(os.path.join(d.dir, "more.conf"))
    d.write_config('@include "more.conf"\n' + text)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("not reloaded", count=n + 2, timeout=2 * SLOW)
    tcp_echo_ok("127.0.0.1", port)
    udp_echo_ok("127.0.0.1", port)


# Reloads check live connections again.

def closed_within(s, seconds):
    """Whether the peer closes s (EOF or reset) within the given seconds; reads and drops
    whatever comes before, as fast as it comes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not s.recv(1 << 20):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
    return False


def chargen_reader(src, port):
    """A chargen client that reads only when asked: the stream waits in the socket buffers
    meanwhile (a few MB, which closed_within drains in milliseconds: with a small receive
    buffer it could take longer than the stream's end takes to arrive)."""
    s = connect_from(src, port, timeout=5 * SLOW)
    assert s.recv(100), f"no chargen stream for {src}"
    return s


def still_streaming(s, src):
    s.settimeout(2 * SLOW)
    try:
        assert s.recv(4096), f"the stream of {src} ended"
    except ConnectionError as e:
        raise AssertionError(f"the stream of {src} was cut: {e!r}") from None


@test
def reload_that_denies_a_client_closes_its_connection():
    port = free_port()
    services = [service("chargen", "chargen", port, protocol="tcp")]
    limits = "limits = { bytes = 0; };"     # no byte limit: nothing else ends the streams
    d = Daemon(config_text(services, extra=limits))
    streams = {src: chargen_reader(src, port) for src in ["127.0.0.2", "127.0.0.3", "127.0.0.4"]}
    try:
        line = d.reload(config_text(services, extra=limits + '\ndeny = [ "127.0.0.2" ];'))
        assert "not" not in line, line
        assert closed_within(streams["127.0.0.2"], 2 * SLOW), \
            "the stream of 127.0.0.2 goes on 2 s after a reload denied it (global deny)"
        still_streaming(streams["127.0.0.3"], "127.0.0.3")
        services = [service("chargen", "chargen", port, protocol="tcp", deny=["127.0.0.3"])]
        line = d.reload(config_text(services, extra=limits + '\ndeny = [ "127.0.0.2" ];'))
        assert "not" not in line, line
        assert closed_within(streams["127.0.0.3"], 2 * SLOW), \
            "the stream of 127.0.0.3 goes on 2 s after a reload denied it (the service's deny)"
        still_streaming(streams["127.0.0.4"], "127.0.0.4")
    finally:
        for s in streams.values():
            s.close()


@test
def reload_that_makes_a_service_udp_only_closes_its_tcp_connections():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="both")]))
    with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
        s.sendall(b"before")
        assert s.recv(6) == b"before"
        line = d.reload(config_text([service("echo", "echo", port, protocol="udp")]))
        assert "not" not in line, line
        udp_echo_ok("127.0.0.1", port)
        try:
            s.sendall(b"after")
        except (BrokenPipeError, ConnectionResetError):
            return
        assert closed_within(s, 2 * SLOW), "a TCP connection goes on (and echoes) 2 s after the service became udp"


# Nothing a reload waits for blocks the event loop.

@test
def reload_waiting_on_a_silent_resolver_never_blocks_the_loop():
    need_root("a private mount namespace")
    if not shutil.which("unshare") or not os.path.exists("/etc/resolv.conf"):
        raise Skip("no unshare (package util-linux) or no /etc/resolv.conf to bind over")
    port, other = free_port(), free_port()
    with TempDir() as tmp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dns:
        try:
            dns.bind(("127.0.53.53", 53))       # a nameserver that never answers
        except OSError as e:
            raise Skip(f"cannot bind 127.0.53.53:53: {e}")
        resolv = write_file(os.path.join(tmp, "resolv.conf"), "nameserver 127.0.53.53\noptions timeout:1 attempts:2\n")
        # minetd sees that resolv.conf, in a mount namespace of its own
        d = Daemon(config_text([service("echo", "echo", port)]),
                   launcher=["unshare", "-m", "--propagation", "private", "sh", "-c",
                             'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv])
        n = d.output().count("reloaded")
        d.write_config(config_text([service("echo", "echo", port),
                                    service("named", "daytime", other, host="never-answers.example")]))
        with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as held, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(10 * SLOW)
            d.proc.send_signal(signal.SIGHUP)
            worst, i = 0, 0
            deadline = time.monotonic() + 30 * SLOW
            while d.output().count("reloaded") <= n:
                assert time.monotonic() < deadline, f"reload still running after {30 * SLOW} s"
                i += 1
                start = time.monotonic()
                u.sendto(b"tick %d" % i, ("127.0.0.1", port))
                while u.recv(100) != b"tick %d" % i:
                    pass
                held.sendall(b"tick %d" % i)
                recv_exactly(held, len(b"tick %d" % i))
                worst = max(worst, time.monotonic() - start)
                time.sleep(0.05)
        line = [l for l in d.output().splitlines() if "reloaded" in l][n]
        dns.settimeout(0.1)
        try:
            dns.recv(512)
        except socket.timeout:
            raise Skip("the resolver never asked the silent nameserver (nsswitch.conf without dns?)") from None
    assert "not reloaded" in line, line
    assert "never-answers.example" in d.output(), d.output()[-1500:]
    assert worst <= 0.2 * SLOW, f"echo answered {worst:.2f} s late while the reload waited for the resolver"


# Programs (handler exec) across a reload.

@exec_test
def reload_moves_a_udp_port_to_every_address_while_its_program_still_runs():
    """The program's reply goes out through its service's socket of the moment: no copy of
    the old socket keeps its port from the new one."""
    port = free_port()
    with Programs() as progs:
        late = progs.write("late.sh", "#!/bin/sh\nsleep 2\necho late\n")
        svc = lambda host: exec_service("late", port, late, protocol="udp", host=host, processes=4)
        d = Daemon(config_text([svc("127.0.0.1")], extra="log_connections = true;"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.settimeout(10 * SLOW)
            first.sendto(b"first", ("127.0.0.1", port))
            d.wait_log("late: program .* started")
            line = d.reload(config_text([svc("")], host="", extra="log_connections = true;"))
            assert "not reloaded" not in line and "cannot listen" not in d.output(), d.output()
            d.wait_log(r"late: serving udp on \[::\]")
            assert udp_exchange("127.0.0.1", port, b"second", timeout=10 * SLOW) == b"late\n"
            assert first.recv(100) == b"late\n"


@exec_test
def reload_keeps_the_count_of_running_programs_and_removing_the_service_ends_them():
    port, other = free_port(), free_port()
    waiting = exec_service("wait", port, "/bin/cat", protocol="tcp", processes=2)
    d = Daemon(config_text([waiting]))
    held = [socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) for _ in range(2)]
    try:
        wait_until(lambda: len(programs_of(d)) == 2, 5 * SLOW, "two programs do not run")
        programs = list(programs_of(d))
        d.reload(config_text([waiting.replace("processes = 2", "processes = 2; timeout = 20")]))
        assert refused(port), "a third program ran after a reload that kept the service"
        assert sorted(programs_of(d)) == sorted(programs)
        d.reload(config_text([service("echo", "echo", other)]))
        d.wait_log("service 'wait' removed")
        d.wait_log(r"wait: program \d+ for .* was killed by signal 9 as its service ended", count=2)
        wait_until(lambda: not programs_of(d), 5 * SLOW, f"programs left: {programs_of(d)}")
        assert all(gone(pid) for pid in programs)
        for s in held:
            assert s.recv(10) == b""
    finally:
        for s in held:
            s.close()


# Reloads under load.

@test
def reload_under_load_loses_no_request():
    tcp_port = free_port()
    cfg = config_text([service("echo", "echo", tcp_port)])
    d = Daemon(cfg)
    stop = threading.Event()
    errors = []
    done = [0]

    def tcp_client(i):
        try:
            with connect_from(f"127.0.5.{i + 1}", tcp_port) as s:
                n = 0
                while not stop.is_set():
                    msg = b"req %d %d\n" % (i, n)
                    s.sendall(msg)
                    assert recv_exactly(s, len(msg)) == msg
                    n += 1
                done[0] += n
        except Exception as e:
            errors.append(f"tcp {i}: {e!r}")

    def udp_client(i):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((f"127.0.6.{i + 1}", 0))
                u.settimeout(2)
                n = 0
                while not stop.is_set():
                    msg = b"dgram %d %d" % (i, n)
                    u.sendto(msg, ("127.0.0.1", tcp_port))
                    assert u.recv(100) == msg
                    n += 1
                done[0] += n
        except Exception as e:
            errors.append(f"udp {i}: {e!r}")
    threads = [threading.Thread(target=tcp_client, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=udp_client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    reloads = 0
    for i in range(100):
        # alternate between two configs that both keep echo, so that each reload changes something
        extra = "log_connections = true;" if i % 2 else ""
        line = d.reload(config_text([service("echo", "echo", tcp_port)], extra=extra))
        assert "not" not in line, line
        reloads += 1
    stop.set()
    for t in threads:
        t.join(10)
    # connections opened during the run: fresh TCP clients must work too
    assert tcp_exchange("127.0.0.1", tcp_port, b"fresh") == b"fresh"
    print(f"reloads: {reloads}, requests answered meanwhile: {done[0]}")
    assert not errors, errors
    assert reloads == 100 and done[0] > 1000


if __name__ == "__main__":
    run()
