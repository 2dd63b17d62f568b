"""Issue 13: handler "exec", an admin's own program as a service, over TCP and UDP. Each
test is named for what it proves; the programs are small scripts written by the test into a
directory of its own, run as "nobody" when the tests run as root (as they must then)."""
import json
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (MINETD, SLOW, Daemon, config_text, connect_from, counters, free_port, service, spoof_udp,
                     tcp_exchange, test, udp_exchange, udp_no_reply, run)

ROOT = os.geteuid() == 0
# Whom the programs run as: required when minetd runs as root.
AS_USER = {"user": "nobody"} if ROOT else {}
PYTHON = "/usr/bin/python3"     # not a python of root's own (pyenv): the programs run as nobody
UDP_MAX = 65507


class Programs:
    """A directory of programs, readable and searchable by everyone (the programs run as
    another user), removed at the end of the with block."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="minetd-exec-")
        os.chmod(self.dir, 0o755)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text, mode=0o755):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path


def exec_service(name, port, command, protocol="both", **options):
    for key, value in AS_USER.items():
        options.setdefault(key, value)
    return service(name, "exec", port, protocol=protocol, command=command if isinstance(command, list) else [command],
                   **options)


def proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[2])


def children(pid):
    """The processes whose parent is pid, as {pid: state}."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st and st[1] == pid:
                found[int(entry)] = st[0]
    return found


def gone(pid):
    """No such process, or one that died and waits for a parent other than minetd."""
    st = proc_stat(pid)
    return st is None or st[0] in "ZX"


def wait_until(what, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.05)
    raise AssertionError(message)


def pids_in_log(d, pattern):
    return [int(p) for p in re.findall(pattern, d.output())]


# --- What a user does: a request, an answer.

SEED = """#!%s
# Read a request, write an answer.
import sys
request = sys.stdin.buffer.readline().strip()
sys.stdout.buffer.write(b"Hello, " + request + b"!\\n")
""" % PYTHON


@test
def python_program_answers_a_request_over_tcp_and_udp():
    port = free_port()
    with Programs() as progs:
        d = Daemon(config_text([exec_service("hello", port, progs.write("hello.py", SEED))]))
        assert tcp_exchange("127.0.0.1", port, b"world\n") == b"Hello, world!\n"
        assert udp_exchange("127.0.0.1", port, b"datagram\n", timeout=5 * SLOW) == b"Hello, datagram!\n"
        c = counters(d, "hello")
        assert c["accepted"] == 1 and c["udp_received"] == 1 and c["udp_replied"] == 1, c


SHELL = """#!/bin/sh
# The connection is stdin and stdout: a line in, a line out, until the client is done.
while read -r line; do
	echo "$line" | tr a-z A-Z
done
"""


@test
def shell_script_answers_over_tcp_and_udp_even_when_the_request_comes_late():
    port = free_port()
    with Programs() as progs:
        Daemon(config_text([exec_service("upper", port, progs.write("upper.sh", SHELL))]))
        # The client speaks only after a while: the program's read must wait for it.
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            time.sleep(0.3)
            s.sendall(b"one\n")
            assert s.recv(100) == b"ONE\n"
            s.sendall(b"two\n")
            assert s.recv(100) == b"TWO\n"
            s.shutdown(socket.SHUT_WR)
            assert s.recv(100) == b""
        assert udp_exchange("127.0.0.1", port, b"three\n", timeout=5 * SLOW) == b"THREE\n"


if __name__ == "__main__":
    run()
