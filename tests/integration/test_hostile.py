"""Hostile traffic against the real daemon: loops, amplification, floods, slow clients,
access lists, connection limits, reload under load, 10,000 connections."""
import os
import resource
import socket
import threading
import time

from harness import (RSS_FACTOR, SLOW, TOP, Daemon, Skip, config_text, connect_from, counters, free_port,
                     need_root, recv_exactly, service, spoof_udp, tcp_exchange, test, udp_exchange, udp_no_reply, run)


@test
def regression_ca_1996_01_spoofed_chargen_to_echo_gets_no_reply():
    """CERT CA-1996-01: a datagram "from" chargen to echo would ping-pong forever."""
    echo, chargen = free_port(), free_port()
    d = Daemon(config_text([service("echo", "echo", echo, protocol="udp"),
                            service("chargen", "chargen", chargen, protocol="udp")]))
    # From the real small-service port 19, and from our own chargen's port.
    spoof_udp("127.0.0.1", 19, "127.0.0.1", echo, b"x" * 100)
    spoof_udp("127.0.0.1", chargen, "127.0.0.1", echo, b"x" * 100)
    time.sleep(1)
    e, c = counters(d, "echo"), counters(d, "chargen")
    assert e["udp_received"] == 2 and e["udp_replied"] == 0 and e["udp_refused"] == 2, e
    assert c["udp_received"] == 0, c
    assert "refused udp client 127.0.0.1:19: privileged or small-service source port" in d.output()


@test
def two_port_loop_dies_at_first_datagram():
    """Two echo services, one datagram forged from one to the other: nothing persists."""
    a, b = free_port(), free_port()
    d = Daemon(config_text([service("a", "echo", a, protocol="udp"), service("b", "echo", b, protocol="udp")]))
    spoof_udp("127.0.0.1", a, "127.0.0.1", b, b"ping")
    time.sleep(1.5)
    ca, cb = counters(d, "a"), counters(d, "b")
    assert cb["udp_received"] == 1 and cb["udp_replied"] == 0, cb
    assert ca["udp_received"] == 0, ca


@test
def configured_loop_ports_and_privileged_ports_are_not_answered():
    need_root("binding source port 7")
    echo, other = free_port(), free_port()
    d = Daemon(config_text([service("echo", "echo", echo, protocol="udp")],
                           extra=f"udp = {{ loop_ports = [ {other} ]; }};"))
    for sport in [7, 1023, other]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", sport))
            u.settimeout(0.5)
            u.sendto(b"loop?", ("127.0.0.1", echo))
            try:
                raise AssertionError(f"reply to source port {sport}: {u.recv(100)!r}")
            except socket.timeout:
                pass
    assert udp_exchange("127.0.0.1", echo, b"fine") == b"fine"


@test
def regression_ta14_017a_udp_amplification_capped():
    """US-CERT TA14-017A: chargen (359x) and qotd (140x) over UDP amplify floods."""
    chargen, qotd, daytime = free_port(), free_port(), free_port()
    d = Daemon(config_text([service("chargen", "chargen", chargen, protocol="both"),
                            service("qotd", "qotd", qotd, protocol="udp",
                                    quotes=os.path.join(TOP, "config/quotes")),
                            service("daytime", "daytime", daytime, protocol="udp")]))
    # An unverified source asking with one byte gets nothing larger than policy allows.
    udp_no_reply("127.0.0.1", chargen, b"x")
    udp_no_reply("127.0.0.1", qotd, b"")
    # Small replies are fine: daytime's 26 bytes are under small_reply (32).
    assert udp_exchange("127.0.0.1", daytime, b"").endswith(b"\r\n")
    # A request as large as the reply is answered: no amplification at all.
    assert len(udp_exchange("127.0.0.1", chargen, b"x" * 74)) == 74
    udp_no_reply("127.0.0.1", chargen, b"x" * 73)
    # A source that completed a TCP handshake proved it receives: it is answered in full.
    with socket.create_connection(("127.0.0.1", chargen)) as s:
        s.recv(10)
    assert len(udp_exchange("127.0.0.1", chargen, b"")) == 74
    assert counters(d, "chargen")["udp_refused"] >= 2


@test
def udp_flood_from_one_source_leaves_others_answered():
    echo = free_port()
    d = Daemon(config_text([service("echo", "echo", echo, protocol="udp")], host="127.0.0.1"))
    stop = threading.Event()
    sent = [0]

    def flood():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as f:
            f.bind(("127.0.0.2", 0))
            f.setblocking(False)
            payload = b"F" * 1000
            while not stop.is_set():
                try:
                    f.sendto(payload, ("127.0.0.1", echo))
                    sent[0] += 1
                except BlockingIOError:
                    time.sleep(0.0005)
    t = threading.Thread(target=flood)
    t.start()
    time.sleep(0.5)
    answered = 0
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.3", 0))
            u.settimeout(0.3)
            for i in range(200):
                u.sendto(b"honest %d" % i, ("127.0.0.1", echo))
                try:
                    while u.recv(100) != b"honest %d" % i:
                        pass
                    answered += 1
                except socket.timeout:
                    pass
    finally:
        stop.set()
        t.join()
    c = counters(d, "echo")
    print(f"flood: {sent[0]} datagrams sent from 127.0.0.2, {c['udp_refused']} refused; honest: {answered}/200")
    assert c["udp_refused"] > 0, c          # the flooder ran out of budget
    assert answered >= 190, answered
    # refusals are logged at a bounded rate, not once each
    assert d.output().count("refused udp client") <= 20, d.output().count("refused udp client")


@test
def global_budget_caps_total_output():
    echo = free_port()
    d = Daemon(config_text([service("echo", "echo", echo, protocol="udp")],
                           extra="workers = 1;\nudp = { global_rate = 10000; global_burst = 70000; };"))
    replied = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(0.2)
        for i in range(40):
            src = f"127.0.1.{i + 1}"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((src, 0))
                s.settimeout(0.2)
                s.sendto(b"g" * 8000, ("127.0.0.1", echo))
                try:
                    s.recv(9000)
                    replied += 1
                except socket.timeout:
                    pass
    # 70,000 bytes of burst and 10,000 a second: about eight 8 KB replies, from 40 sources.
    assert 5 <= replied <= 15, replied


@test
def regression_7_global_budget_whole_with_two_loops():
    """The global budget was shared out among the loops, each with a burst of at least the
    largest reply: two loops answered twice the burst at once."""
    echo = free_port()
    d = Daemon(config_text([service("echo", "echo", echo, protocol="udp")],
                           extra="workers = 2;\nudp = { global_rate = 1; global_burst = 70000; };"))
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(40)]
    for i, s in enumerate(socks):       # 40 sources: SO_REUSEPORT gives both loops some
        s.bind((f"127.0.2.{i + 1}", 0))
        s.sendto(b"g" * 8000, ("127.0.0.1", echo))
        time.sleep(0.002 * SLOW)        # more at once would overflow the sockets' buffers
    time.sleep(0.5 * SLOW)
    replied = 0
    for s in socks:
        s.setblocking(False)
        try:
            replied += len(s.recv(9000)) == 8000
        except BlockingIOError:
            pass
        s.close()
    # 70,000 bytes for the whole process, 1 a second: eight replies of 8000 + 64 bytes.
    assert 6 <= replied <= 8, f"{replied} replies to 40 sources over 2 loops; the global burst pays for 8"
    c = counters(d, "echo")
    assert c["udp_refused"] >= 30, c


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
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
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
def access_lists_global_and_per_service_v4_and_v6():
    p1, p2 = free_port(), free_port("::1")
    d = Daemon(config_text([
        service("open", "echo", p1, host="127.0.0.1"),
        service("v6", "echo", p2, host="::1", deny=["::1/128"]),
    ], extra='deny = [ "127.0.0.2" ];\n'), )
    assert tcp_exchange("127.0.0.1", p1, b"ok") == b"ok"
    s = connect_from("127.0.0.2", p1)
    assert s.recv(1) == b""
    s.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.2", 0))
        u.settimeout(0.5)
        u.sendto(b"x", ("127.0.0.1", p1))
        try:
            raise AssertionError(u.recv(10))
        except socket.timeout:
            pass
    with socket.create_connection(("::1", p2)) as s:
        assert s.recv(1) == b""
    udp_no_reply("::1", p2, b"x")
    c = counters(d, "open")
    assert c["tcp_refused"] == 1 and c["udp_refused"] == 1, c


@test
def allow_list_admits_only_its_prefixes():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, allow=["127.0.3.0/24", "::1"])]))
    s = connect_from("127.0.3.77", port)
    s.sendall(b"y")
    assert s.recv(1) == b"y"
    s.close()
    s = connect_from("127.0.4.1", port)
    assert s.recv(1) == b""
    s.close()


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


@test
def ten_thousand_concurrent_connections():
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
