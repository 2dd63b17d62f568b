#!/usr/bin/env python3
"""A client of minetd-helper speaking its wire format (daemon/privsep.h: one fixed-size
struct privsep_msg per SOCK_SEQPACKET packet, descriptors beside it), to see whom the helper
answers and what it refuses.

    helper-client.py LAYOUT SOCKET [--cgroup DIR] [--user NAME] REQUEST...

LAYOUT is the output of tests/systemd/privsep-layout.c (the struct's offsets and sizes, the
message types). --cgroup DIR: this process first writes its pid into DIR/cgroup.procs (as
root), then --user NAME: it becomes NAME (groups, gid, uid), then connects to SOCKET.
REQUEST is bind:SERVICE:tcp|udp (PRIVSEP_BIND, address 0, loop 0 of 1 loop). One line per
request, in order:

    BOUND ADDR:PORT listening|datagram     the helper passed a socket (kept till the end)
    ERROR ERRNO-NAME TEXT                  PRIVSEP_ERROR, value an errno, and its text
    CLOSED                                 the helper closed the connection (refused it)
    TIMEOUT                                no answer in 10 s

Exit 0 when every line was printed, 1 on another failure (the reason on stdout).
"""

import errno
import grp
import os
import pwd
import socket
import struct
import sys


def load_layout(path):
    layout = {}
    with open(path) as f:
        for line in f:
            key, value = line.strip().split("=", 1)
            if ":" in value:
                off, size = value.split(":")
                layout[key] = (int(off), int(size))
            else:
                layout[key] = int(value)
    return layout


def become(name):
    pw = pwd.getpwnam(name)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


def address(L, msg):
    off, _ = L["addr"]
    family = struct.unpack_from("=H", msg, off)[0]
    if family == socket.AF_INET6:
        port = struct.unpack_from("!H", msg, off + 2)[0]
        host = socket.inet_ntop(socket.AF_INET6, bytes(msg[off + 8:off + 24]))
        return "[%s]:%d" % (host, port)
    if family == socket.AF_INET:
        port = struct.unpack_from("!H", msg, off + 2)[0]
        return "%s:%d" % (socket.inet_ntop(socket.AF_INET, bytes(msg[off + 4:off + 8])), port)
    return "family-%d" % family


def request(L, s, seq, service, proto, kept):
    msg = bytearray(L["size"])
    struct.pack_into("=I", msg, L["type"][0], L["PRIVSEP_BIND"])
    struct.pack_into("=I", msg, L["seq"][0], seq)
    name = service.encode()
    if len(name) >= L["service"][1]:
        raise SystemExit("service name too long")
    msg[L["service"][0]:L["service"][0] + len(name)] = name
    struct.pack_into("=B", msg, L["proto"][0], L["PROTO_TCP"] if proto == "tcp" else L["PROTO_UDP"])
    struct.pack_into("=H", msg, L["addr_index"][0], 0)
    struct.pack_into("=H", msg, L["loop"][0], 0)
    struct.pack_into("=H", msg, L["loops"][0], 1)
    try:
        s.send(msg)
        data, fds, _, _ = socket.recv_fds(s, L["size"] + 1, 4)
    except (BrokenPipeError, ConnectionResetError):
        return "CLOSED"
    except socket.timeout:
        return "TIMEOUT"
    if not data:
        return "CLOSED"
    if len(data) != L["size"]:
        return "BAD-SIZE %d" % len(data)
    mtype = struct.unpack_from("=I", data, L["type"][0])[0]
    if mtype == L["PRIVSEP_ERROR"]:
        value = struct.unpack_from("=i", data, L["value"][0])[0]
        off, size = L["text"]
        text = bytes(data[off:off + size]).split(b"\0", 1)[0].decode(errors="replace")
        return "ERROR %s %s" % (errno.errorcode.get(value, str(value)), text)
    if mtype == L["PRIVSEP_BOUND"]:
        if len(fds) != 1:
            return "BOUND without a socket (%d descriptors)" % len(fds)
        sock = socket.socket(fileno=fds[0])
        kept.append(sock)
        kind = sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
        if kind == socket.SOCK_STREAM:
            kind = "listening" if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) else "not-listening"
        elif kind == socket.SOCK_DGRAM:
            kind = "datagram"
        name = sock.getsockname()
        return "BOUND %s %s (helper says %s)" % ("[%s]:%d" % name[:2] if sock.family == socket.AF_INET6
                                                 else "%s:%d" % name, kind, address(L, data))
    return "TYPE %d" % mtype


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    L = load_layout(argv[1])
    path, args = argv[2], argv[3:]
    while args and args[0].startswith("--"):
        opt, value, args = args[0], args[1], args[2:]
        if opt == "--cgroup":
            with open(os.path.join(value, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        elif opt == "--user":
            become(value)
        else:
            print("unknown option", opt)
            return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    kept = []
    for seq, req in enumerate(args, 1):
        kind, service, proto = req.split(":")
        answer = request(L, s, seq, service, proto, kept)
        print(answer, flush=True)
        if answer == "CLOSED":
            break
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except OSError as e:
        print("%s: %s" % (type(e).__name__, e))
        sys.exit(1)
