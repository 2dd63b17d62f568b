#!/usr/bin/env python3
"""Asks minetd-helper for one thing, as minetd's serving process would, and prints its answer.

    helper-request.py [--as-minetd] SOCKET bind SERVICE tcp|udp
    helper-request.py [--as-minetd] SOCKET spawn SERVICE tcp

--as-minetd first moves this process into minetd.service's cgroup (root, unified hierarchy),
the only place the helper takes a connection from. Prints "ERROR <errno>: <text>",
"FAILED <errno>: <text>", "BOUND", "STARTED <pid>", or "closed" when the helper hangs up
without an answer; exit 0 when the helper answered at all.

The message is daemon/privsep.h's struct privsep_msg (ctypes lays it out as the C compiler
does: 480 bytes on x86-64), one per SOCK_SEQPACKET packet, descriptors beside it. No HELLO is
sent: that would make this connection the owner of the programs that run.
"""
import array
import ctypes
import os
import socket
import sys

BIND, SPAWN = 4, 5
ERROR, BOUND, STARTED, FAILED = 9, 10, 12, 13
PROTOS = {"tcp": 1, "udp": 2}
STDIO_CONNECTION = 0


class SockaddrIn6(ctypes.Structure):
    _fields_ = [("family", ctypes.c_uint16), ("port", ctypes.c_uint16), ("flowinfo", ctypes.c_uint32),
                ("addr", ctypes.c_uint8 * 16), ("scope_id", ctypes.c_uint32)]


class SockaddrStorage(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64 * 16)]


class Msg(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("seq", ctypes.c_uint32), ("id", ctypes.c_uint64),
                ("service", ctypes.c_char * 65), ("proto", ctypes.c_uint8), ("stdio", ctypes.c_uint8),
                ("addr_index", ctypes.c_uint16), ("loop", ctypes.c_uint16), ("loops", ctypes.c_uint16),
                ("value", ctypes.c_int32), ("code", ctypes.c_int32), ("started_usec", ctypes.c_uint64),
                ("peer", SockaddrIn6), ("addr", SockaddrStorage), ("text", ctypes.c_char * 201)]


def join_minetd_cgroup():
    path = "/sys/fs/cgroup/system.slice/minetd.service/cgroup.procs"
    with open(path, "w") as f:
        f.write(str(os.getpid()))


def main(argv):
    if argv and argv[0] == "--as-minetd":
        join_minetd_cgroup()
        argv = argv[1:]
    path, what, service, proto = argv
    msg = Msg(type=BIND if what == "bind" else SPAWN, seq=1, id=424242, service=service.encode(),
              proto=PROTOS[proto], stdio=STDIO_CONNECTION)
    fds = []
    if what == "spawn":         # a connection as stdin and stdout, and a pipe for stderr
        pair = socket.socketpair()
        rd, wr = os.pipe()
        fds = [pair[0].fileno(), wr]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendmsg([bytes(msg)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
                  if fds else [])
        data, _, _, _ = s.recvmsg(ctypes.sizeof(Msg), socket.CMSG_SPACE(3 * 4))
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    if not data:
        print("closed")
        return 1
    answer = Msg.from_buffer_copy(data.ljust(ctypes.sizeof(Msg), b"\0"))
    text = answer.text.decode(errors="replace")
    names = {ERROR: "ERROR", FAILED: "FAILED", BOUND: "BOUND", STARTED: "STARTED"}
    name = names.get(answer.type, "type %d" % answer.type)
    if answer.type in (ERROR, FAILED):
        print("%s %s: %s" % (name, os.strerror(answer.value), text))
    elif answer.type == STARTED:
        print("%s %d" % (name, answer.value))
    else:
        print(name)
    return 0


if __name__ == "__main__":
    assert ctypes.sizeof(Msg) == 480, ctypes.sizeof(Msg)
    sys.exit(main(sys.argv[1:]))
