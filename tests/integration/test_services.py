"""The built-in services' wire formats: echo, discard, chargen, qotd, daytime and time, over
TCP and UDP, on 127.0.0.1 and ::1, against the real daemon."""
import datetime
import os
import re
import socket
import struct
import threading
import time

from harness import (Daemon, TOP, config_text, free_port, recv_exactly, service, tcp_exchange, test, udp_exchange,
                     udp_no_reply, run)

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


if __name__ == "__main__":
    run()
