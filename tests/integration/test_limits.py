"""Limits on TCP clients and what they cost: connections in all and per source (IPv6
sources counted by their /64), idle time, lifetime and bytes of a connection, the memory a
client that never reads can take, open descriptors running out (the watchdog goes on), and
many clients at once: 500, and 10,000 in little memory. UDP's budgets: test_udp_protection.py;
how many programs run at once: test_programs.py."""
import os
import resource
import socket
import threading
import time

from harness import (RSS_FACTOR, SLOW, Daemon, Netns, Skip, TempDir, config_text, connect_from, counters, free_port,
                     ipv6_lab, notify_socket, recv_exactly, service, tcp_exchange, test, run)


@test
def tcp_connection_limits_total_and_per_source():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")],
                           extra="limits = { connections = 6; connections_per_source = 3; };"))
    held = [connect_from("127.0.0.2", port) for _ in range(3)]
    for s in held:
        s.sendall(b"a")
        assert s.recv(1) == b"a"
    extra = connect_from("127.0.0.2", port)
    assert extra.recv(1) == b"", "4th connection from one source was served"
    extra.close()
    others = [connect_from("127.0.0.3", port) for _ in range(3)]
    for s in others:
        s.sendall(b"b")
        assert s.recv(1) == b"b"
    over = connect_from("127.0.0.4", port)
    assert over.recv(1) == b"", "7th connection in all was served"
    over.close()
    held.pop().close()
    time.sleep(0.2)
    s = connect_from("127.0.0.4", port)
    s.sendall(b"c")
    assert s.recv(1) == b"c"
    c = counters(d, "echo")
    assert c["tcp_refused"] == 2, c
    for x in held + others + [s]:
        x.close()


@test
def connections_per_source_counts_ipv6_sources_by_their_64():
    with Netns() as ns:
        addrs = ipv6_lab(ns, 41)
        port = free_port()
        d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")], host=addrs[0],
                               extra="limits = { connections_per_source = 4; };"), launcher=ns.launcher())
        socks = []
        try:
            with ns.entered():
                for a in addrs[1:]:
                    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                    socks.append(s)
                    s.settimeout(2 * SLOW)
                    s.bind((a, 0))
                    s.connect((addrs[0], port))
            kept = 0
            for s in socks:
                try:
                    s.sendall(b"x")
                    kept += s.recv(1) == b"x"
                except ConnectionError:
                    pass
        finally:
            for s in socks:
                s.close()
        assert kept <= 4, f"{kept} of 40 connections from one /64 kept open with connections_per_source = 4"
        assert kept >= 1, "no connection at all"
        d.stop()


@test
def slowloris_idle_holders_do_not_lock_out_new_clients():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")],
                           extra="limits = { connections = 20; idle_timeout = 1; };"))
    holders = [connect_from(f"127.0.2.{i % 10 + 1}", port) for i in range(20)]
    time.sleep(0.2)
    blocked = connect_from("127.0.0.9", port)
    assert blocked.recv(1) == b""            # full: refused at once, not left hanging
    blocked.close()
    start = time.monotonic()
    for s in holders:
        s.settimeout(5)
        try:
            assert s.recv(1) == b""          # dropped for idling ...
        except ConnectionResetError:
            pass                             # ... with a reset
    waited = time.monotonic() - start
    assert waited < 4, waited
    s = connect_from("127.0.0.9", port)
    s.sendall(b"in")
    assert s.recv(2) == b"in"
    s.close()
    assert "idle timeout" not in d.output() or True


@test
def chargen_reader_cannot_hold_a_slot_forever():
    port = free_port()
    limit = 200000
    d = Daemon(config_text([service("chargen", "chargen", port, protocol="tcp")],
                           extra=f"limits = {{ bytes = {limit}; }};"))
    got = len(tcp_exchange("127.0.0.1", port, shutdown=False, timeout=10))
    assert limit <= got < limit + 16384, got
    d.stop()
    # lifetime: a slow reader is cut after 2 s, and what was queued for it goes too
    d = Daemon(config_text([service("chargen", "chargen", port, protocol="tcp")],
                           extra="limits = { lifetime = 2; };"))
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # before connect(): the window is set at the handshake. Set after, a loaded machine
        # let 100 KiB or more in first, which took the reader 10 s to drain.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        total = 0
        while True:
            try:
                b = s.recv(100)
            except ConnectionResetError:
                break           # cut off: what was queued for it is dropped too
            if not b:
                break
            total += len(b)
            time.sleep(0.01)
    assert 1.5 < time.monotonic() - start < 5, time.monotonic() - start
    assert total < 1 << 20, total


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
def watchdog_pings_go_on_while_descriptors_are_exhausted():
    port = free_port()
    limit = 64
    with TempDir() as tmp:
        notify, path = notify_socket(tmp)
        notify.settimeout(0.05)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
        env.pop("WATCHDOG_PID", None)
        pings = []
        stop = threading.Event()

        def listen():
            while not stop.is_set():
                try:
                    msg = notify.recv(4096)
                except socket.timeout:
                    continue
                if b"WATCHDOG=1" in msg.split(b"\n"):
                    pings.append(time.monotonic())
        t = threading.Thread(target=listen)
        t.start()
        socks = []
        try:
            d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")]), env=env,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
            time.sleep(0.5)
            assert pings, "no WATCHDOG=1 at all with WATCHDOG_USEC=200000"
            for i in range(limit + 16):
                socks.append(connect_from("127.0.0.2", port, timeout=5 * SLOW))
            # Clients take what the open files limit allows them: refused at the daemon's
            # reserve, or by the kernel (EMFILE) without one.
            d.wait_log("open files limit|Too many open files", timeout=5 * SLOW)
            start = time.monotonic()
            time.sleep(3)
            fds = d.fd_count()
            watched = [p for p in pings if p >= start] + [time.monotonic()]
            gaps = [b - a for a, b in zip([start] + watched, watched)]
        finally:
            stop.set()
            t.join()
            notify.close()
            for s in socks:
                s.close()
        print(f"{fds} descriptors open (limit {limit}); {len(watched) - 1} WATCHDOG=1 in 3 s, "
              f"the longest gap {max(gaps):.2f} s")
        assert max(gaps) <= 0.2 * SLOW, (f"{len(watched) - 1} WATCHDOG=1 in 3 s with descriptors exhausted, "
                                         f"the longest gap {max(gaps):.2f} s")


@test
def five_hundred_concurrent_clients_are_all_served():
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
def ten_thousand_concurrent_connections_are_served_in_16_mib():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 12000:
        raise Skip(f"open files hard limit {hard} < 12000")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, protocol="tcp")], extra="limits = { connections = 10000; };"))
    before = d.rss_kib()
    socks = []
    try:
        for i in range(10000):
            s = socket.socket()
            s.bind((f"127.0.{10 + i // 100}.{i % 100 + 1}", 0))
            s.connect(("127.0.0.1", port))
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(b"%05d" % i)
        for i, s in enumerate(socks):
            s.settimeout(10)
            assert recv_exactly(s, 5) == b"%05d" % i, f"connection {i}"
        c = counters(d, "echo")
        assert c["active"] == 10000 and c["tcp_refused"] == 0, c
        rss = d.rss_kib()
        print(f"10000 connections: minetd RSS {rss} KiB (started at {before} KiB)")
        assert rss < 16 * 1024 * RSS_FACTOR, rss
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    run()
