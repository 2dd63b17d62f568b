#!/usr/bin/env python3
"""Small loopback clients for the systemd tests.

    client.py freeports N             N ports free for TCP and UDP, not ephemeral ones
    client.py wait-tcp PORT SECONDS   until a TCP connect to PORT succeeds
    client.py echo-tcp PORT           bytes sent come back, in order
    client.py echo-udp PORT           a datagram comes back unchanged
    client.py daytime-tcp PORT        one ctime(3)-like line ending in CRLF, then close
    client.py daytime-udp PORT        the same line in reply to a datagram
    client.py time-tcp PORT           4 bytes: seconds since 1900, close to now
    client.py time-udp PORT           the same in reply to a datagram
    client.py refused-tcp PORT        a TCP connect is refused
    client.py refused-udp PORT        a datagram draws ICMP port unreachable
    client.py echo-across PORT CMD... one connection echoes lines sent before, while and
                                      after CMD runs (a restart), every byte in order
    client.py chargen-across PORT CMD...
                                      one chargen stream read before, while and after CMD
                                      runs goes on without a gap or a repeat
    client.py echo-across-timeout PORT SECONDS CMD...
                                      echo-across (a program such as /bin/cat), then the
                                      connection is held until the server closes it, which
                                      must come SECONDS (the program's timeout) after the
                                      connection was made, not much sooner or later
    client.py held PORT SECONDS       one connection held open without a byte sent; closed
                                      by the server within SECONDS: exit 0, else 1
    client.py within SECONDS CHECK ARGS...
                                      CHECK (any of the above but freeports) again and again
                                      until it succeeds, for at most SECONDS from now; says
                                      how long it took

Every client talks to 127.0.0.1 (or $CLIENT_HOST) with a timeout. Exit 0 on
success; otherwise exit 1 with the reason on stdout, for a FAIL: line.
"""

import os
import re
import socket
import struct
import sys
import time

HOST = os.environ.get("CLIENT_HOST", "127.0.0.1")
TIMEOUT = float(os.environ.get("CLIENT_TIMEOUT", "10"))
RFC868_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
CTIME = re.compile(rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
                   rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                   rb"[ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}\r\n$")


class Failure(Exception):
    pass


def family():
    return socket.AF_INET6 if ":" in HOST else socket.AF_INET


def tcp(port):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT)
    return s


def read_to_close(s, limit=65536):
    data = b""
    while len(data) <= limit:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    raise Failure("more than %d bytes and no close" % limit)


def udp_exchange(port, payload):
    s = socket.socket(family(), socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    s.connect((HOST, port))
    s.send(payload)
    reply = s.recv(65536)
    s.close()
    return reply


def freeports(n):
    """Ports free for TCP and UDP on every IPv4 address, never among the kernel's ephemeral
    ports: a client's connection may take one of those for its own end at any time, and a
    service bound later could not have it (as harness.free_port in tests/integration)."""
    import random
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = map(int, f.read().split())
    candidates = [p for p in range(20000, 40000) if not low <= p <= high] or list(range(10000, 20000))
    held, ports = [], []
    while len(ports) < n:
        port = random.choice(candidates)
        if port in ports:
            continue
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("0.0.0.0", port))
            u.bind(("0.0.0.0", port))
        except OSError:
            t.close()
            u.close()
            continue
        held += [t, u]
        ports.append(port)
    print(" ".join(map(str, ports)))
    for s in held:
        s.close()


def wait_tcp(port, seconds):
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise Failure("nothing listening on %s:%d after %ss: %s"
                              % (HOST, port, seconds, e))
            time.sleep(0.05)


def echo_tcp(port):
    payload = os.urandom(100000)
    s = tcp(port)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = read_to_close(s, len(payload))
    if got != payload:
        raise Failure("sent %d bytes, got %d back%s" % (
            len(payload), len(got), "" if len(got) != len(payload) else ", different"))


def echo_udp(port):
    payload = b"minetd udp echo " + os.urandom(16).hex().encode()
    got = udp_exchange(port, payload)
    if got != payload:
        raise Failure("sent %r, got %r" % (payload, got))


def check_daytime(line):
    if not CTIME.match(line):
        raise Failure("not a ctime-like line ending in CRLF: %r" % line)
    text = line.decode().strip()
    stamp = time.strptime(text, "%a %b %d %H:%M:%S %Y")
    now = time.time()
    # The daemon's time zone may differ from ours (systemd-socket-activate
    # passes no TZ): accept local time or UTC.
    for candidate in (time.mktime(stamp), time.mktime(stamp) - time.timezone,
                      time.mktime(stamp) - time.altzone):
        if abs(candidate - now) < 15:
            return
    raise Failure("%r is not close to now (%s)" % (text, time.ctime(now)))


def check_time(data):
    if len(data) != 4:
        raise Failure("expected 4 bytes, got %d: %r" % (len(data), data))
    value = struct.unpack("!I", data)[0]
    now = (int(time.time()) + RFC868_OFFSET) % 2**32
    if abs(value - now) > 5:
        raise Failure("time %d is not close to now (%d)" % (value, now))


def refused_tcp(port):
    try:
        socket.create_connection((HOST, port), timeout=TIMEOUT).close()
    except ConnectionRefusedError:
        return
    raise Failure("connect to %s:%d succeeded" % (HOST, port))


def refused_udp(port):
    try:
        got = udp_exchange(port, b"anyone there?")
    except ConnectionRefusedError:
        return
    except socket.timeout:
        raise Failure("no reply and no ICMP refusal from %s:%d" % (HOST, port))
    raise Failure("got a reply %r from %s:%d" % (got, HOST, port))


def run_meanwhile(cmd):
    """Runs cmd in the background; returns a function that waits for it and checks it."""
    import subprocess
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def done():
        out = proc.communicate(timeout=60)[0]
        if proc.returncode != 0:
            raise Failure("%s failed: %s" % (" ".join(cmd), out.decode(errors="replace").strip()))
    return done


def echo_across(port, cmd, s=None):
    s = s or tcp(port)
    sent = b""
    got = b""

    def send_line(i):
        nonlocal sent
        line = b"line %06d of the connection that outlives the restart\n" % i
        s.sendall(line)
        sent += line

    for i in range(10):
        send_line(i)
    while len(got) < len(sent):
        got += s.recv(65536)
    done = run_meanwhile(cmd)
    deadline = time.monotonic() + 3
    i = 10
    while time.monotonic() < deadline:         # while the command runs, and after
        send_line(i)
        i += 1
        time.sleep(0.01)
    done()
    for j in range(10):
        send_line(i + j)
    s.settimeout(15)
    while len(got) < len(sent):
        chunk = s.recv(65536)
        if not chunk:
            raise Failure("closed after %d of %d bytes" % (len(got), len(sent)))
        got += chunk
    if got != sent:
        raise Failure("%d bytes back, not what was sent (%d bytes)" % (len(got), len(sent)))
    print("%d lines, %d bytes back in order" % (i + 10, len(got)))
    return s


def echo_across_timeout(port, seconds, cmd):
    """The program's timeout counts from its start, across the restart: the server closes
    the connection at about SECONDS after it was made (a little later is the SIGTERM's way to
    the program; the ticks that check the timeouts are a second apart)."""
    start = time.monotonic()
    s = echo_across(port, cmd, tcp(port))
    s.settimeout(seconds + 15)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    after = time.monotonic() - start
    if not seconds - 1 <= after <= seconds + 4:
        raise Failure("closed %.1f s after the connection was made; the timeout is %d s" % (after, seconds))
    print("closed %.1f s after the connection was made (timeout %d s)" % (after, seconds))


def held(port, seconds):
    s = tcp(port)
    s.settimeout(seconds)
    start = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise Failure("still open after %ss" % seconds)
    print("closed after %.1f s" % (time.monotonic() - start))


def chargen_across(port, cmd):
    s = tcp(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    data = bytearray()
    while len(data) < 200000:
        data += s.recv(65536)
    done = run_meanwhile(cmd)
    done()
    s.settimeout(15)
    while len(data) < 2000000:
        chunk = s.recv(65536)
        if not chunk:
            raise Failure("closed after %d bytes" % len(data))
        data += chunk
    # RFC 864: line k is 72 characters starting at ' ' + k mod 95, then CR LF.
    for pos in range(0, len(data) - 74, 74):
        k = pos // 74
        want = bytes(32 + (k + c) % 95 for c in range(72)) + b"\r\n"
        if bytes(data[pos:pos + 74]) != want:
            raise Failure("stream broken at byte %d (line %d)" % (pos, k))
    print("%d bytes of one unbroken stream" % len(data))


def within(seconds, argv):
    global TIMEOUT
    start = time.monotonic()
    saved, TIMEOUT = TIMEOUT, min(TIMEOUT, 1)
    while True:
        try:
            main(argv)
            break
        except (Failure, OSError, ValueError) as e:
            if time.monotonic() - start > seconds:
                raise Failure("not within %ss: %s" % (seconds, e))
            time.sleep(0.02)
    TIMEOUT = saved
    print("after %.2f s" % (time.monotonic() - start))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "within":
        within(float(args[0]), argv[:1] + args[1:])
    elif cmd == "freeports":
        freeports(int(args[0]))
    elif cmd == "wait-tcp":
        wait_tcp(int(args[0]), args[1])
    elif cmd == "echo-tcp":
        echo_tcp(int(args[0]))
    elif cmd == "echo-udp":
        echo_udp(int(args[0]))
    elif cmd == "daytime-tcp":
        check_daytime(read_to_close(tcp(int(args[0])), 512))
    elif cmd == "daytime-udp":
        check_daytime(udp_exchange(int(args[0]), b"\n"))
    elif cmd == "time-tcp":
        check_time(read_to_close(tcp(int(args[0])), 512))
    elif cmd == "time-udp":
        check_time(udp_exchange(int(args[0]), b"\n"))
    elif cmd == "refused-tcp":
        refused_tcp(int(args[0]))
    elif cmd == "refused-udp":
        refused_udp(int(args[0]))
    elif cmd == "echo-across":
        echo_across(int(args[0]), args[1:])
    elif cmd == "chargen-across":
        chargen_across(int(args[0]), args[1:])
    elif cmd == "echo-across-timeout":
        echo_across_timeout(int(args[0]), float(args[1]), args[2:])
    elif cmd == "held":
        held(int(args[0]), float(args[1]))
    else:
        raise Failure("unknown command %s" % cmd)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Failure as e:
        print(e)
        sys.exit(1)
    except (OSError, ValueError) as e:
        print("%s: %s" % (type(e).__name__, e))
        sys.exit(1)
