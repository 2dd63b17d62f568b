"""The built-in services' wire formats: echo, discard, chargen, qotd, daytime and time, over
TCP and UDP, on 127.0.0.1 and ::1, against the real daemon."""
import datetime
import os
import re
import socket
import struct
import threading
import time

from harness import (Daemon, SLOW, TOP, config_text, free_port, recv_exactly, recv_until_eof, service, tcp_exchange, test, udp_exchange,
                     udp_no_reply, wait_until, run)

HOSTS = ["127.0.0.1", "::1"]
CTIME = re.compile(rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                   rb"[ 123]\d \d\d:\d\d:\d\d \d{4}\r\n$")
QUOTES = os.path.join(TOP, "config", "quotes")


def chargen_stream(start_line, n):
    out = bytearray()
    line = start_line
    while len(out) < n:
        out += bytes(32 + (line + i) % 95 for i in range(72)) + b"\r\n"
        line += 1
    return bytes(out[:n])


def all_services():
    ports = {}
    services = []
    for host in HOSTS:
        for handler in ["echo", "discard", "chargen", "qotd", "daytime", "time"]:
            port = free_port(host)
            ports[(handler, host)] = port
            opts = {"quotes": QUOTES} if handler == "qotd" else {}
            services.append(service(f"{handler}-{'v6' if ':' in host else 'v4'}", handler, port, host=host, **opts))
    return Daemon(config_text(services)), ports


def quotes():
    text = open(QUOTES).read()
    return [q.strip("\n").replace("\n", "\r\n").encode() + b"\r\n" for q in text.split("\n%\n") if q.strip()]


@test
def echo_returns_every_byte_over_tcp_and_udp():
    d, ports = all_services()
    for host in HOSTS:
        port = ports[("echo", host)]
        assert tcp_exchange(host, port, b"hello, echo\n") == b"hello, echo\n"
        # The seed's client: connect, send, recv, without closing first.
        with socket.create_connection((host, port), timeout=5) as s:
            for msg in [b"one", b"two" * 100, bytes(range(256))]:
                s.sendall(msg)
                assert recv_exactly(s, len(msg)) == msg
        assert udp_exchange(host, port, b"datagram") == b"datagram"


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
def udp_echo_sizes_never_truncated():
    d, ports = all_services()
    for host in HOSTS:
        port = ports[("echo", host)]
        for size in [0, 1, 1472, 9000, 65507]:
            payload = os.urandom(size)
            reply = udp_exchange(host, port, payload, bufsize=70000)
            assert reply == payload, (host, size, len(reply))


@test
def discard_answers_nothing_over_tcp_and_udp():
    d, ports = all_services()
    for host in HOSTS:
        port = ports[("discard", host)]
        assert tcp_exchange(host, port, b"x" * 100000) == b""
        udp_no_reply(host, port, b"into the void")


@test
def chargen_tcp_streams_rfc864_lines():
    d, ports = all_services()
    for host in HOSTS:
        with socket.create_connection((host, ports[("chargen", host)]), timeout=5) as s:
            got = recv_exactly(s, 100000)
        assert got == chargen_stream(0, 100000)


@test
def chargen_udp_one_rotating_line():
    d, ports = all_services()
    for host in HOSTS:
        port = ports[("chargen", host)]
        # A request as large as the reply: no amplification, so any source is answered.
        first = udp_exchange(host, port, b"x" * 74)
        second = udp_exchange(host, port, b"y" * 74)
        assert len(first) == 74 and first.endswith(b"\r\n")
        assert first[:72] == chargen_stream(first[0] - 32, 72)
        assert second == chargen_stream(first[0] - 32 + 1, 74)


@test
def qotd_one_quote_then_close():
    d, ports = all_services()
    known = quotes()
    seen = set()
    for host in HOSTS:
        port = ports[("qotd", host)]
        for _ in range(3):
            q = tcp_exchange(host, port, shutdown=False)
            assert q in known, q
            assert len(q) <= 512
            seen.add(q)
            u = udp_exchange(host, port, b"q" * 512)
            assert u in known, u
            seen.add(u)
    assert len(seen) > 1            # one per request, not always the same


@test
def daytime_ctime_line_crlf():
    d, ports = all_services()
    for host in HOSTS:
        port = ports[("daytime", host)]
        line = tcp_exchange(host, port, shutdown=False)
        assert CTIME.match(line), line
        expect = datetime.datetime.now().strftime("%a %b %e %H:%M").encode()
        assert line.startswith(expect[:10]), (line, expect)
        assert CTIME.match(udp_exchange(host, port, b"\n"))


@test
def time_four_bytes_since_1900():
    d, ports = all_services()
    for host in HOSTS:
        port = ports[("time", host)]
        data = tcp_exchange(host, port, shutdown=False)
        assert len(data) == 4, data
        t = struct.unpack("!I", data)[0] - 2208988800
        assert abs(t - time.time()) < 3
        data = udp_exchange(host, port, b"")
        assert len(data) == 4
        assert abs(struct.unpack("!I", data)[0] - 2208988800 - time.time()) < 3


def epoll_watch(pid, port):
    """A function that says whether one of minetd's epoll instances watches its IPv4 TCP
    listener on port, quick enough to ask between clients (one read of an fdinfo each)."""
    inode = None
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                inode = int(fields[9])
    assert inode, f"nothing listens on port {port}"
    fdinfos = [f"/proc/{pid}/fdinfo/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")
               if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[eventpoll]"]
    watched = re.compile(rf"^tfd:.* ino:{inode:x}\b", re.M)

    def listener_in_epoll():
        for path in fdinfos:
            with open(path) as f:
                if watched.search(f.read()):
                    return True
        return False
    return listener_in_epoll


def spin(usec):
    """Waits usec microseconds on the CPU: a sleep would be tens of microseconds late."""
    due = time.monotonic_ns() + usec * 1000
    while time.monotonic_ns() < due:
        pass


@test
def a_listener_under_a_burst_is_looked_at_then_watched_again_and_every_client_served():
    """Issue 21: clients closer together than 100 µs (here 60 µs) are taken by a look at the
    listener every 100 µs, out of epoll, not by a wake-up each, and so through a lull shorter
    than a millisecond; a millisecond after the last client, epoll watches it again, so an
    idle minetd is not woken for nothing. Every client of the bursts, and each one between
    them, gets its line."""
    port = free_port("127.0.0.1")
    d = Daemon(config_text([service("daytime", "daytime", port, protocol="tcp")]))
    listener_in_epoll = epoll_watch(d.proc.pid, port)
    assert listener_in_epoll(), "idle, the listener is not watched by epoll"
    looked_at = lulls_looked_through = 0
    for burst in range(8):
        socks = []
        for i in range(300):
            # 60 µs apart: closer than a look, and far enough for minetd to keep up even
            # under ASan (clients faster than it can take leave the listener with epoll,
            # which wakes it at once each time).
            spin(60)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            if i % 25 == 24:
                looked_at += not listener_in_epoll()
                # A lull of 0.4 ms: longer than a look, shorter than the millisecond after
                # which the listener goes back to epoll.
                spin(400)
                lulls_looked_through += not listener_in_epoll()
        for s in socks:
            s.setblocking(True)
            s.settimeout(10 * SLOW)
            line = recv_until_eof(s)
            s.close()
            assert CTIME.match(line), (burst, line)
        # One more client, alone.
        time.sleep(0.0003)
        assert CTIME.match(tcp_exchange("127.0.0.1", port, shutdown=False, timeout=10 * SLOW))
    print(f"listener out of epoll at {looked_at} of 96 looks, and after {lulls_looked_through} of 96 lulls")
    assert looked_at, "in 8 bursts of 300 clients, the listener never left epoll"
    # Busy, minetd may look later than it meant to and find a lull still short: a look
    # through most lulls is what tells.
    assert lulls_looked_through >= looked_at / 2, \
        "lulls of 0.4 ms took the listener back to epoll: a wake-up each when clients came again"
    wait_until(listener_in_epoll, 5 * SLOW, "after the bursts, the listener is not watched by epoll again")
    assert CTIME.match(tcp_exchange("127.0.0.1", port, shutdown=False, timeout=10 * SLOW))


if __name__ == "__main__":
    run()
