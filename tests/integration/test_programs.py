"""Programs (handler exec): an admin's own program as a service, over TCP and UDP. What a
program gets (its peer, its service, no descriptor, signal or capability of minetd's), what
it says (stderr lines in the log, a budget per service), whom it runs as, how it ends (its
timeout, its whole process group, whatever it started in a session of its own), what
limits how many run ('processes', per source), UDP replies of at most a datagram, and
what -t checks of its command and user. The programs are small scripts written by the test
into a directory of its own, run as "nobody" when the tests run as root (as they must
then). Programs across a reload: test_reload.py; the amplification rule for their UDP
replies: test_udp_protection.py."""
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

from harness import (programs_of, MINETD, ROOT, SLOW, TOP, Daemon, Programs, Skip, check_config, children, config_text,
                     connect_from, counters, exec_service, exec_test, free_port, gone, need_root, nothing_came,
                     notify_socket, refused, service, tcp_exchange, udp_exchange, udp_no_reply, wait_until, run)

PYTHON = "/usr/bin/python3"     # not a python of root's own (pyenv): the programs run as nobody
UDP_MAX = 65507


def connect_when_listening(port, timeout=10 * SLOW):
    """A connection to a socket that a launcher binds when it gets to it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def descriptors(d):
    """minetd's open descriptors, but for valgrind's vgdb FIFO, which comes and goes."""
    fd_dir = f"/proc/{d.proc.pid}/fd"
    return sorted(int(fd) for fd in os.listdir(fd_dir) if "vgdb" not in os.readlink(f"{fd_dir}/{fd}"))


def pids_in_log(d, pattern):
    return [int(p) for p in re.findall(pattern, d.output())]


# --- What a user does: a request, an answer.

SEED = """#!%s
# Read a request, write an answer.
import sys
request = sys.stdin.buffer.readline().strip()
sys.stdout.buffer.write(b"Hello, " + request + b"!\\n")
""" % PYTHON


@exec_test
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


def readme_example():
    """The script and the config of README.md's example (after the hello.sh marker)."""
    with open(os.path.join(TOP, "README.md")) as f:
        text = f.read().split("<!-- hello.sh", 1)[1]
    script, config = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)[:2]
    return script, config


@exec_test
def readme_example_answers_over_tcp_and_udp():
    port = free_port()
    script, config = readme_example()
    with Programs() as progs:
        config = config.replace("/usr/local/bin/hello", progs.write("hello", script))
        d = Daemon('host = "127.0.0.1";\n' + config.replace("port = 7000", f"port = {port}"))
        assert tcp_exchange("127.0.0.1", port, b"world\n") == b"Hello, world!\n"
        assert tcp_exchange("127.0.0.1", port, b"telnet\r\n") == b"Hello, telnet!\n"
        assert tcp_exchange("127.0.0.1", port, b"") == b"Who is there?\n"
        assert udp_exchange("127.0.0.1", port, b"world\n", timeout=5 * SLOW) == b"Hello, world!\n"
        d.wait_log(r"hello: program \d+ for 127.0.0.1:\d+: answered 127.0.0.1:\d+ over udp")


@exec_test
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


# --- What a program sees, and what it says.

ENV = """#!%s
# Its environment and its open descriptors beyond 0, 1 and 2, as JSON.
import json, os, sys
sys.stdin.buffer.read()
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
json.dump({"env": dict(os.environ), "fds": [fd for fd in range(3, 1024) if is_open(fd)]}, sys.stdout)
""" % PYTHON
# What the environment holds, beyond what python3 adds itself (LC_CTYPE, PEP 538).
ENV_NAMES = {"PATH", "REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT", "MINETD_SERVICE",
             "MINETD_PROTOCOL"}


def check_env(seen, protocol, client, local):
    env = seen["env"]
    assert set(env) - {"LC_CTYPE"} == ENV_NAMES, sorted(env)
    want = {"REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1]), "LOCAL_ADDR": local[0],
            "LOCAL_PORT": str(local[1]), "MINETD_SERVICE": "envs", "MINETD_PROTOCOL": protocol}
    assert {k: env[k] for k in want} == want, (env, want)
    assert seen["fds"] == [], f"{protocol}: descriptors of minetd's open in the program: {seen['fds']}"


@exec_test
def program_sees_its_peer_and_service_and_nothing_of_minetds_own():
    """TCP from a socket unit's socket (systemd-socket-activate), UDP on a dual-stack socket
    minetd bound itself; minetd itself is given what systemd gives a service (LISTEN_FDS,
    NOTIFY_SOCKET, FDSTORE, INVOCATION_ID): none of it, nor any descriptor, reaches the program."""
    if not shutil.which("systemd-socket-activate"):
        raise Skip("no systemd-socket-activate (package systemd)")
    port = free_port()
    with Programs() as progs, notify_socket(progs.dir)[0] as notify:
        env = dict(os.environ, NOTIFY_SOCKET=notify.getsockname(), FDSTORE="16",
                   INVOCATION_ID="0123456789abcdef0123456789abcdef")
        launcher = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=envs"]
        d = Daemon(config_text([exec_service("envs", port, progs.write("env.py", ENV), host="::")]), env=env,
                   launcher=launcher, wait=False)
        with connect_when_listening(port) as s:
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
            check_env(json.loads(got), "tcp", s.getsockname(), ("127.0.0.1", port))
        d.wait_log("socket from systemd")
        for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            with socket.socket(family, socket.SOCK_DGRAM) as u:
                u.bind((host, 0))
                u.settimeout(5 * SLOW)
                u.sendto(b"x" * 4000, (host, port))      # no reply larger than the request
                check_env(json.loads(u.recv(65536)), "udp", u.getsockname()[:2], (host, port))


STDERR = """#!/bin/sh
printf 'first line\nsecond line, no newline' >&2
echo answer
exit 3
"""


@exec_test
def stderr_lines_reach_the_log_with_service_and_peer():
    port = free_port()
    with Programs() as progs:
        d = Daemon(config_text([exec_service("talker", port, progs.write("talk.sh", STDERR))],
                               extra="log_connections = true;"))
        with connect_from("127.0.0.5", port) as s:
            peer = "127.0.0.5:%d" % s.getsockname()[1]
            s.shutdown(socket.SHUT_WR)
            assert s.recv(100) == b"answer\n"
        out = d.wait_log("exited with status 3")
        pid = pids_in_log(d, r"talker: program (\d+) started for " + re.escape(peer))[0]
        for line in ("first line", "second line, no newline"):
            assert f"talker: program {pid} for {peer}: {line}\n" in out, out
        ended = rf"talker: program {pid} for {re.escape(peer)} exited with status 3 after \d+ ms"
        assert re.search(ended, out), out


@exec_test
def a_chatty_program_silences_neither_another_service_nor_its_own_end():
    """Each service's programs have a budget of stderr lines of their own; how a program
    ended is always logged, and how many lines were left out is said."""
    chatty, slow = free_port(), free_port()
    with Programs() as progs:
        talk = progs.write("talk.sh", "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do echo \"line $i\" >&2; "
                                      "i=$((i + 1)); done\nexit 4\n")
        d = Daemon(config_text([exec_service("chatty", chatty, talk),
                                exec_service("slow", slow, progs.write("slow.sh", "#!/bin/sh\nsleep 100\n"),
                                             timeout=1)]))
        with socket.create_connection(("127.0.0.1", slow), timeout=5 * SLOW):
            tcp_exchange("127.0.0.1", chatty, b"", timeout=10 * SLOW)
            d.wait_log(r"chatty: program \d+ .* exited with status 4")
            d.wait_log(r"slow: program \d+ .* was killed by signal 15 at its timeout", timeout=5 * SLOW)
        out = d.wait_log(r"chatty: \d+ lines its programs wrote to stderr suppressed", timeout=15 * SLOW)
        suppressed = int(re.search(r"chatty: (\d+) lines its programs wrote to stderr suppressed", out).group(1))
        logged = len(re.findall(r"chatty: program \d+ for [^:]+:\d+: line \d+", out))
        assert logged + suppressed == 2000, (logged, suppressed)


# --- Programs that do not end by themselves, or write too much, or nothing.

FOREVER = {
    # its shell and its child both end at SIGTERM
    "term": "sleep 1000 & echo \"grandchild $!\" >&2; wait",
    # neither minds SIGTERM: SIGKILL
    "kill": "trap '' TERM; sleep 1000 & echo \"grandchild $!\" >&2; while :; do wait; done",
    # the shell ends at SIGTERM, its child does not: SIGKILL for what is left of the group
    "left": "(trap '' TERM; exec sleep 1000) & echo \"grandchild $!\" >&2; wait",
}


@exec_test
def program_past_its_timeout_is_killed_with_its_whole_process_group():
    ports = {name: free_port() for name in FOREVER}
    with Programs() as progs:
        services = [exec_service(name, ports[name], progs.write(name, "#!/bin/sh\n" + script), timeout=1)
                    for name, script in FOREVER.items()]
        d = Daemon(config_text(services, extra="log_connections = true;"))
        conns = {name: socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
                 for name, port in ports.items()}
        check_timeouts(d, conns)


def check_timeouts(d, conns):
    grandchildren = []
    try:
        d.wait_log("grandchild", count=3)
        for name in FOREVER:
            pid = pids_in_log(d, rf"{name}: program (\d+) started")[0]
            grandchild = pids_in_log(d, rf"{name}: program {pid} for .*: grandchild (\d+)")[0]
            grandchildren.append(grandchild)
            signal_number = signal.SIGKILL if name == "kill" else signal.SIGTERM
            d.wait_log(rf"{name}: program {pid} .* was killed by signal {signal_number:d} at its timeout")
            wait_until(lambda: gone(grandchild), 5 * SLOW, f"{name}: grandchild {grandchild} still runs")
            assert conns[name].recv(100) == b"", name         # nobody holds the connection any more
        # what comes back to the helper, the subreaper, is reaped within a tick
        wait_until(lambda: not programs_of(d), 2 * SLOW, f"the helper's children: {programs_of(d)}")
    finally:
        for c in conns.values():
            c.close()
        for pid in grandchildren:          # what a failed test leaves
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


@exec_test
def what_a_program_leaves_running_ends_with_it():
    """Over UDP a flood of requests would otherwise leave processes that 'processes' does
    not count; its stdout and stderr would keep the reply and the log waiting."""
    port = free_port()
    with Programs() as progs:
        script = "#!/bin/sh\nsleep 1000 >/dev/null 2>&1 &\necho \"grandchild $!\" >&2\necho done\n"
        d = Daemon(config_text([exec_service("leaver", port, progs.write("leave.sh", script))]))
        assert udp_exchange("127.0.0.1", port, b"go", timeout=5 * SLOW) == b"done\n"
        d.wait_log("grandchild")        # the log has a writer of its own: it may come after the reply
        grandchild = pids_in_log(d, r"leaver: program \d+ for .*: grandchild (\d+)")[0]
        try:
            wait_until(lambda: gone(grandchild), 2 * SLOW, f"grandchild {grandchild} still runs")
        finally:
            if not gone(grandchild):
                os.kill(grandchild, signal.SIGKILL)


@exec_test
def udp_reply_of_more_than_a_datagram_is_not_sent_and_of_exactly_one_is():
    """A cut reply would be a wrong one: the documented choice is none at all."""
    full, over = free_port(), free_port()
    head = ["/usr/bin/head", "-c"]
    d = Daemon(config_text([exec_service("full", full, head + [str(UDP_MAX), "/dev/zero"]),
                            exec_service("over", over, head + [str(UDP_MAX + 1), "/dev/zero"])]))
    request = b"r" * UDP_MAX        # as large as the reply: no amplification
    assert udp_exchange("127.0.0.1", full, request, timeout=5 * SLOW) == bytes(UDP_MAX)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(request, ("127.0.0.1", over))
        d.wait_log(r"over: program \d+ for 127.0.0.1:\d+ wrote more than a datagram: no reply")
        assert nothing_came(u)
    assert counters(d, "over")["udp_replied"] == 0


@exec_test
def program_with_no_output_sends_no_reply():
    port = free_port()
    d = Daemon(config_text([exec_service("quiet", port, "/bin/true")], extra="log_connections = true;"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"anyone?", ("127.0.0.1", port))
        d.wait_log("quiet: program .* exited with status 0")
        assert nothing_came(u)
    c = counters(d, "quiet")
    assert c["udp_received"] == 1 and c["udp_replied"] == 0 and c["udp_refused"] == 0, c


@exec_test
def program_killed_at_its_timeout_sends_no_reply():
    port = free_port()
    script = "#!/bin/sh\necho partial\nsleep 30\n"
    with Programs() as progs, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        d = Daemon(config_text([exec_service("slow", port, progs.write("slow", script), protocol="udp",
                                             timeout=1)]))
        u.sendto(b"anyone?", ("127.0.0.1", port))
        d.wait_log(r"slow: program .* was killed by signal 15 at its timeout", timeout=10 * SLOW)
        assert nothing_came(u), "an unfinished program's output was sent as the reply"
    c = counters(d, "slow")
    assert c["udp_received"] == 1 and c["udp_replied"] == 0, c


# --- Many requests: limits hold, nothing is left behind.

def settled_descriptors(d):
    """minetd's descriptors once two looks 0.3 s apart agree."""
    before = descriptors(d)
    while True:
        time.sleep(0.3)
        now = descriptors(d)
        if now == before:
            return now
        before = now


@exec_test
def two_thousand_tcp_connections_in_a_row_leave_no_zombie_and_no_descriptor():
    port = free_port()
    d = Daemon(config_text([exec_service("cat", port, "/bin/cat", protocol="tcp")]))
    assert tcp_exchange("127.0.0.1", port, b"first") == b"first"
    wait_until(lambda: not programs_of(d), 5 * SLOW, "the first program was not reaped")
    fds = settled_descriptors(d)        # the first connection's may still be closing
    for i in range(2000):
        data = b"%d" % i
        assert tcp_exchange("127.0.0.1", port, data) == data
        if i % 500 == 0:        # a program that just ended may wait a moment to be reaped
            zombies = [pid for pid, state in programs_of(d).items() if state == "Z"]
            wait_until(lambda: not set(zombies) & set(programs_of(d)), 2 * SLOW,
                       f"after {i} connections: zombies {zombies}")
    wait_until(lambda: not programs_of(d), 5 * SLOW, f"programs left: {programs_of(d)}")
    wait_until(lambda: descriptors(d) == fds, 2 * SLOW, f"descriptors: {fds} before, {descriptors(d)} after")
    c = counters(d, "cat")
    assert c["accepted"] == 2001 and c["active"] == 0, c


class Flood:
    """Datagrams from each of sources to port, as fast as a thread sends them, while the
    block runs; the most programs seen running at once is .most (children of minetd)."""

    def __init__(self, d, port, sources):
        self.d, self.port, self.sources = d, port, sources
        self.stop = threading.Event()
        self.most = 0
        self.threads = [threading.Thread(target=self.send, args=(src,)) for src in sources]
        self.threads.append(threading.Thread(target=self.count))

    def send(self, src):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as f:
            f.bind((src, 0))
            f.setblocking(False)
            while not self.stop.is_set():
                try:
                    f.sendto(b"flood", ("127.0.0.1", self.port))
                except BlockingIOError:
                    pass
                time.sleep(0.001)

    def count(self):
        while not self.stop.is_set():
            self.most = max(self.most, len(programs_of(self.d)))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def ask_until_answered(u, port, tries=5):
    """As a UDP client does: asks again when no answer comes (a flood may fill the socket's
    queue before minetd reads it, under valgrind)."""
    u.settimeout(1 * SLOW)
    for _ in range(tries):
        u.sendto(b"honest", ("127.0.0.1", port))
        try:
            return u.recv(100)
        except socket.timeout:
            pass
    raise AssertionError(f"no answer to {tries} requests")


SLOW_ANSWER = "#!/bin/sh\nsleep 0.3\necho ok\n"


@exec_test
def udp_flood_from_many_sources_never_runs_more_than_processes_programs():
    """With two event loops, which share the limit; what is over it is refused and counted."""
    port = free_port()
    with Programs() as progs:
        slow = exec_service("slow", port, progs.write("slow.sh", SLOW_ANSWER), protocol="udp", processes=3)
        d = Daemon(config_text([slow], extra="workers = 2;"))
        with Flood(d, port, [f"127.0.1.{i}" for i in range(1, 9)]) as flood:
            time.sleep(2)
        assert flood.most == 3, f"{flood.most} programs at once, 'processes' is 3"
        c = counters(d, "slow")
        assert c["udp_refused"] > 0 and c["udp_refused"] + c["udp_replied"] <= c["udp_received"], c
        assert "refused udp client 127.0.1." in d.output() and "processes: as many programs" in d.output()


@exec_test
def source_is_answered_while_others_flood():
    """connections_per_source holds for programs over UDP as over TCP: three flooding
    sources hold at most two programs each, the others are left to other clients."""
    port = free_port()
    with Programs() as progs:
        slow = exec_service("slow", port, progs.write("slow.sh", SLOW_ANSWER), protocol="udp", processes=7)
        d = Daemon(config_text([slow], extra="workers = 2;\nlimits = { connections_per_source = 2; };"))
        with Flood(d, port, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]) as flood:
            time.sleep(0.3)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.9", 0))
                for i in range(5):
                    assert ask_until_answered(u, port) == b"ok\n", i
        assert 6 <= flood.most <= 7, flood.most
        assert counters(d, "slow")["udp_refused"] > 0


# --- Whom a program runs as, and what -t checks.

@exec_test
def as_root_a_service_without_user_is_refused_with_file_and_line():
    if not ROOT:
        raise Skip("minetd asks for 'user' only when it runs as root")
    with Programs() as progs:
        text = config_text([service("noone", "exec", free_port(), command=["/bin/cat"])])
        path = progs.write("minetd.conf", text, mode=0o644)
        line = text.splitlines().index(next(l for l in text.splitlines() if "noone" in l)) + 1
        want = f"{path}:{line}: exec: minetd runs as root: say which 'user' the program runs as"
        r = check_config(path)
        assert r.returncode == 1 and want in r.stderr, r
        start = subprocess.run([MINETD, "-c", path, "-l", "stderr"], capture_output=True, text=True,
                               timeout=10)
        assert start.returncode == 1 and want in start.stderr, start


@exec_test
def check_refuses_a_command_that_is_missing_or_that_the_user_cannot_execute():
    with Programs() as progs:
        ok = progs.write("ok.sh", "#!/bin/sh\n")
        hidden_dir = os.path.join(progs.dir, "hidden")
        os.mkdir(hidden_dir, 0o700)
        cases = {
            "missing": (os.path.join(progs.dir, "no-such"), "No such file or directory"),
            "relative": ("cat", "the command must start with an absolute path, not 'cat'"),
            "directory": (progs.dir, "not a regular file"),
            "not-executable": (progs.write("plain.sh", "#!/bin/sh\n", mode=0o644),
                               "not executable by that user" if ROOT else "Permission denied"),
        }
        if ROOT:
            mine = progs.write("mine.sh", "#!/bin/sh\n", mode=0o744)
            cases["owner-only"] = (mine, "not executable by that user")
            hidden = os.path.join(hidden_dir, "prog.sh")
            shutil.copy(ok, hidden)
            cases["hidden"] = (hidden, "a directory on the way is not searchable by that user")
        for name, (command, message) in cases.items():
            text = config_text([exec_service(name, free_port(), command)])
            path = progs.write("minetd.conf", text, mode=0o644)
            r = check_config(path)
            assert r.returncode == 1 and re.search(rf"^{re.escape(path)}:4: exec: .*{re.escape(message)}",
                                                   r.stderr, re.M), (name, r.stderr)
        # executable through the group the program runs with
        group_only = progs.write("group.sh", "#!/bin/sh\n", mode=0o750)
        extra = {}
        if ROOT:
            os.chown(group_only, 0, grp.getgrnam("nogroup").gr_gid)
            extra = {"group": "nogroup"}
        path = progs.write("minetd.conf", config_text([exec_service("g", free_port(), group_only, **extra)]))
        r = check_config(path)
        assert r.returncode == 0, r.stderr


@exec_test
def command_that_cannot_run_any_more_is_refused_and_said_why():
    """Removed after the config was loaded: the client is refused, the log names the
    command and the reason (the child's report of its failed execve)."""
    port = free_port()
    with Programs() as progs:
        prog = progs.write("gone.sh", SHELL)
        d = Daemon(config_text([exec_service("gone", port, prog)]))
        os.unlink(prog)
        assert refused(port)
        d.wait_log(rf"gone: refused tcp client 127.0.0.1:\d+: cannot run {re.escape(prog)}: No such file")
        udp_no_reply("127.0.0.1", port, b"x", wait=0.5 * SLOW)
        c = counters(d, "gone")
        assert c["tcp_refused"] == 1 and c["udp_refused"] == 1 and not programs_of(d), c


IDENTITY = """#!/bin/sh
grep -E '^(Uid|Gid|Groups|CapEff):' /proc/self/status
"""


def identity(port):
    lines = tcp_exchange("127.0.0.1", port, timeout=5 * SLOW).decode().splitlines()
    fields = dict(l.split(":", 1) for l in lines)
    return (int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0]),
            sorted(int(g) for g in fields["Groups"].split()), int(fields["CapEff"], 16))


def user_with_supplementary_groups():
    for g in grp.getgrall():
        for member in g.gr_mem:
            try:
                pwd.getpwnam(member)
                return member
            except KeyError:
                pass
    return None


@exec_test
def program_runs_as_the_configured_user_with_its_groups():
    if not ROOT:
        raise Skip("minetd switches user only when it runs as root")
    users = [("nobody", None), ("nobody", "daemon")]
    member = user_with_supplementary_groups()
    if member:
        users.append((member, None))
    with Programs() as progs:
        prog = progs.write("id.sh", IDENTITY)
        ports = [free_port() for _ in users]
        Daemon(config_text([exec_service(f"id{i}", ports[i], prog, protocol="tcp", user=user,
                                         **({"group": group} if group else {}))
                            for i, (user, group) in enumerate(users)]))
        for port, (user, group) in zip(ports, users):
            pw = pwd.getpwnam(user)
            gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
            want = (pw.pw_uid, gid, sorted(set(os.getgrouplist(user, gid))), 0)
            assert identity(port) == want, (user, group, identity(port), want)


# --- The end: minetd stops.

@exec_test
def sigterm_ends_running_programs_and_minetd_exits_0():
    port = free_port()
    with Programs() as progs:
        d = Daemon(config_text([exec_service("long", port, progs.write("long.sh", "#!/bin/sh\nsleep 30\n"))]))
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(b"x", ("127.0.0.1", port))
                wait_until(lambda: len(programs_of(d)) == 2, 5 * SLOW, "two programs do not run")
                programs = list(programs_of(d))
                assert d.stop() == 0, d.output()
                assert s.recv(10) == b""
        wait_until(lambda: all(gone(pid) for pid in programs), 2 * SLOW, f"programs left: {programs}")


# --- A program starts clean, and nothing it starts outlives it.

@exec_test
def programs_started_while_connections_close_never_meet_a_freed_connection():
    """A program's start copies minetd's descriptor table until its exec; a connection
    closed meanwhile stayed registered with epoll and its events came for freed memory
    (ASan: heap-use-after-free in the loop; without it: SIGSEGV within seconds)."""
    echo, prog = free_port(), free_port()
    services = [service("echo", "echo", echo, protocol="tcp"),
                exec_service("quick", prog, "/bin/true", protocol="tcp", processes=64)]
    d = Daemon(config_text(services, extra="workers = 1;"))
    stop = time.monotonic() + 6 * SLOW

    def spawner():
        while time.monotonic() < stop:
            try:
                socket.create_connection(("127.0.0.1", prog), timeout=2).close()
            except OSError:
                pass

    def closer():
        while time.monotonic() < stop:
            try:
                tcp_exchange("127.0.0.1", echo, b"line\n", timeout=2)
            except OSError:
                pass
    threads = [threading.Thread(target=f) for f in (spawner, spawner, spawner, closer, closer, closer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert d.proc.poll() is None, f"minetd died ({d.proc.returncode}):\n{d.output()[-3000:]}"
    assert tcp_exchange("127.0.0.1", echo, b"alive") == b"alive"


CLEAN = """#!%s
# What the program got besides its stdin, stdout and stderr.
import json, os
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print(json.dumps({"fds": [fd for fd in range(3, 1024) if is_open(fd)]}))
""" % PYTHON


def clean_start(port):
    return json.loads(tcp_exchange("127.0.0.1", port, b"", timeout=5 * SLOW))


def status_of_program(port):
    """The /proc/PID/status fields of a program (cat, which ignores no signal of its own,
    unlike python)."""
    text = tcp_exchange("127.0.0.1", port, b"", timeout=5 * SLOW).decode()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: int(fields[k], 16) for k in ("SigIgn", "SigBlk", "CapEff", "CapAmb", "CapPrm")}


def status_service(port):
    return exec_service("status", port, ["/bin/cat", "/proc/self/status"])


@exec_test
def program_gets_no_descriptor_and_no_ignored_signal_that_minetd_was_started_with():
    """Started from a shell that ignores SIGINT and SIGQUIT (a background job) and with a
    descriptor open without close-on-exec: the program has neither."""
    port, status = free_port(), free_port()
    fd = os.open("/etc/hostname", os.O_RDONLY)

    def ignore():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    try:
        with Programs() as progs:
            Daemon(config_text([exec_service("clean", port, progs.write("clean.py", CLEAN)), status_service(status)]),
                   preexec_fn=ignore, pass_fds=(fd,))
            seen = clean_start(port)
            assert seen["fds"] == [], f"descriptors in the program: {seen['fds']}"
            seen = status_of_program(status)
            assert seen["SigIgn"] == 0 and seen["SigBlk"] == 0, seen
    finally:
        os.close(fd)


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return {"Uid": [int(u) for u in fields["Uid"].split()], "CapEff": int(fields["CapEff"], 16),
            "CapPrm": int(fields["CapPrm"], 16), "NoNewPrivs": int(fields["NoNewPrivs"])}


@exec_test
def by_hand_as_root_the_serving_process_is_not_root_also_while_a_root_program_runs():
    """Started as root (an init script, sudo), minetd leaves root's part to the helper it
    starts and serves as _minetd (else nobody) with no capability, also while a program of
    the config runs as root; the helper, its child, is the one root process."""
    need_root("minetd started as root")
    port = free_port()
    with Programs() as progs:
        hold = progs.write("hold.sh", "#!/bin/sh\nid -u\nexec sleep 30\n")
        d = Daemon(config_text([exec_service("rooted", port, [hold], protocol="tcp", user="root")]))
        expected = "_minetd" if user_exists("_minetd") else "nobody"
        assert "serving as %s" % expected in d.output(), d.output()
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            s.settimeout(5 * SLOW)
            assert s.recv(64) == b"0\n"            # the program is root
            seen = proc_status(d.proc.pid)
            assert seen["Uid"] == [pwd.getpwnam(expected).pw_uid] * 4, seen
            assert seen["CapEff"] == seen["CapPrm"] == 0 and seen["NoNewPrivs"] == 1, seen
            helpers = [c for c in children(d.proc.pid) if proc_comm(c) == "minetd-helper"]
            assert len(helpers) == 1 and proc_status(helpers[0])["Uid"][1] == 0, helpers


@exec_test
def by_hand_a_helper_gone_leaves_the_built_ins_served_and_says_programs_cannot_start():
    """By hand the helper is minetd's child, started while minetd could still be root: when
    it is gone (here killed) minetd cannot bring it back and says so; its built-in services
    are served on, and a program's client is closed, not left waiting. (Under systemd,
    minetd restarts to reach the helper again: tests/systemd/restart-inside.sh.)"""
    eport, pport = free_port(), free_port()
    d = Daemon(config_text([service("echo", "echo", eport, protocol="tcp"),
                            exec_service("cat", pport, ["/bin/cat"], protocol="tcp")]))
    assert tcp_exchange("127.0.0.1", pport, b"before\n", timeout=5 * SLOW) == b"before\n"
    helpers = [c for c in children(d.proc.pid) if proc_comm(c) == "minetd-helper"]
    assert len(helpers) == 1, helpers
    os.kill(helpers[0], signal.SIGKILL)
    d.wait_log("minetd-helper is gone: no program can start until minetd is started again")
    assert tcp_exchange("127.0.0.1", eport, b"still served\n", timeout=5 * SLOW) == b"still served\n"
    assert refused(pport), "a program's client got an answer from a program that cannot start"
    assert tcp_exchange("127.0.0.1", eport, b"and still\n", timeout=5 * SLOW) == b"and still\n"
    assert d.proc.poll() is None, d.output()
    d.wait_log("cannot run /bin/cat: minetd-helper is gone")    # the log's writer thread may lag


@exec_test
def program_gets_no_capability_of_minetds():
    """minetd as a user with an ambient CAP_NET_BIND_SERVICE (minetd(8)'s drop-in for low
    ports): its programs have no capability."""
    need_root("setpriv to another user with an ambient capability")
    if not shutil.which("setpriv"):
        raise Skip("no setpriv (package util-linux)")
    port = free_port()
    launcher = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"]
    Daemon(config_text([service("status", "exec", port, command=["/bin/cat", "/proc/self/status"])]),
           launcher=launcher)
    seen = status_of_program(port)
    assert seen["CapEff"] == seen["CapAmb"] == seen["CapPrm"] == 0, seen


def marked(marker):
    """The processes whose command line holds marker."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def leaving(marker, then):
    """A program that starts a process in a session of its own (setsid) and one that its
    child leaves behind (a double fork), both holding the connection, then does 'then'."""
    return f"""#!/bin/sh
setsid {PYTHON} -c 'import time; time.sleep(1000)' {marker} &
( {PYTHON} -c 'import time; time.sleep(1000)' {marker} & )
echo started
{then}
"""


def check_left_nothing(marker, conn, d=None):
    """The connection closed, nothing marked left running, and (d: a minetd still running)
    no child of its helper."""
    try:
        conn.settimeout(5 * SLOW)
        assert conn.recv(100) == b"", "the connection is still held"
        wait_until(lambda: not marked(marker), 5 * SLOW, f"left running: {marked(marker)}")
        if d:
            wait_until(lambda: not programs_of(d), 5 * SLOW, f"the helper's children: {programs_of(d)}")
    finally:
        for pid in marked(marker):
            os.kill(pid, signal.SIGKILL)


@exec_test
def what_a_program_starts_in_a_session_of_its_own_ends_when_it_ends():
    marker = f"minetd-left-{os.getpid()}-ended"
    port = free_port()
    with Programs() as progs:
        # a second for the two to be on their way, the first in its own session by then
        script = leaving(marker, "sleep 1; exit 0")
        d = Daemon(config_text([exec_service("leaver", port, progs.write("leave.sh", script))]))
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            assert s.recv(100) == b"started\n"
            check_left_nothing(marker, s, d)


@exec_test
def what_a_program_starts_in_a_session_of_its_own_ends_at_its_timeout():
    marker = f"minetd-left-{os.getpid()}-timeout"
    port = free_port()
    with Programs() as progs:
        script = leaving(marker, "sleep 1000")
        d = Daemon(config_text([exec_service("leaver", port, progs.write("leave.sh", script), timeout=1)]))
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            assert s.recv(100) == b"started\n"
            d.wait_log("killed by signal 15 at its timeout")
            check_left_nothing(marker, s, d)


@exec_test
def what_a_program_starts_in_a_session_of_its_own_ends_when_minetd_stops():
    marker = f"minetd-left-{os.getpid()}-stop"
    port = free_port()
    with Programs() as progs:
        d = Daemon(config_text([exec_service("leaver", port, progs.write("leave.sh", leaving(marker, "sleep 1000")))]))
        with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
            assert s.recv(100) == b"started\n"
            wait_until(lambda: len(marked(marker)) == 2, 5 * SLOW, "the program did not start its two")
            assert d.stop() == 0, d.output()
            check_left_nothing(marker, s)


@exec_test
def programs_end_is_seen_when_minetd_was_started_with_sigchld_ignored():
    """The kernel reaps children itself while SIGCHLD is ignored: minetd never saw its
    programs end, kept their places and spun on their pidfds."""
    port = free_port()
    with Programs() as progs:
        d = Daemon(config_text([exec_service("once", port, progs.write("once.sh", "#!/bin/sh\necho hi\n"),
                                             processes=1)], extra="log_connections = true;"),
                   preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
        for i in range(5):     # one place: each program's end must be seen before the next
            assert tcp_exchange("127.0.0.1", port, b"", timeout=5 * SLOW) == b"hi\n", i
            d.wait_log(r"once: program \d+ for .* exited with status 0", count=i + 1)
        before = d.cpu_seconds()
        time.sleep(2)
        assert d.cpu_seconds() - before < 0.5, "minetd spins while idle"


PROBE = r"""#!/bin/sh
# What the program may do on this host.
( echo x > "$1/written" ) 2>/dev/null && echo "write: yes" || echo "write: no"
( echo x > /tmp/minetd-probe-$$ && rm /tmp/minetd-probe-$$ ) 2>/dev/null && echo "tmp: yes" || echo "tmp: no"
[ -r "$2" ] && echo "home: yes" || echo "home: no"
%s -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)" "$3" \
	2>/dev/null && echo "network: yes" || echo "network: no"
""" % PYTHON


@exec_test
def sandbox_strict_takes_the_network_the_home_and_writing_away_and_none_leaves_them():
    """The default ("none") is what a program of inetd sees; "strict" runs the program with
    no network, a read-only file system, an empty /home and a /tmp of its own."""
    need_root("sandbox = \"strict\" (it needs the helper's privileges)")
    open_port, strict_port, echo = free_port(), free_port(), free_port()
    home = tempfile.mkdtemp(prefix="minetd-home-", dir="/home") if os.path.isdir("/home") else None
    if not home:
        raise Skip("no /home on this machine")
    writable = tempfile.mkdtemp(prefix="minetd-open-", dir="/var/lib")
    probe_dir = tempfile.mkdtemp(prefix="minetd-probe-", dir="/srv" if os.path.isdir("/srv") else "/var/lib")
    try:
        for d in (home, writable, probe_dir):
            os.chmod(d, 0o777 if d == writable else 0o755)
        secret = os.path.join(home, "plan")
        with open(secret, "w") as f:
            f.write("a plan\n")
        os.chmod(secret, 0o644)
        probe = os.path.join(probe_dir, "probe")
        with open(probe, "w") as f:
            f.write(PROBE)
        os.chmod(probe, 0o755)
        argv = [probe, writable, secret, str(echo)]
        Daemon(config_text([service("echo", "echo", echo, protocol="tcp"),
                            exec_service("open", open_port, argv, protocol="tcp"),
                            exec_service("shut", strict_port, argv, protocol="tcp", sandbox="strict")]))
        assert tcp_exchange("127.0.0.1", open_port, b"").decode().split("\n")[:4] == \
            ["write: yes", "tmp: yes", "home: yes", "network: yes"]
        assert tcp_exchange("127.0.0.1", strict_port, b"").decode().split("\n")[:4] == \
            ["write: no", "tmp: yes", "home: no", "network: no"]
    finally:
        for d in (home, writable, probe_dir):
            shutil.rmtree(d, ignore_errors=True)


# --- What inetd's lines ask of a program: its socket (wait), stderr to the client, argv0,
# a budget per minute, no timeout.

WAIT_UDP = """#!%s
# A wait service's program: the socket is its stdin; it answers two datagrams, then ends.
import os, socket
s = socket.socket(fileno=0)
for _ in range(2):
    data, peer = s.recvfrom(100)
    s.sendto(b"%%d:" %% os.getpid() + data, peer)
""" % PYTHON

WAIT_TCP = """#!%s
# A wait service's program: the listening socket is its stdin; it accepts two clients.
import os, socket
s = socket.socket(fileno=0)
for _ in range(2):
    c, _ = s.accept()
    c.sendall(b"%%d\\n" %% os.getpid())
    c.close()
""" % PYTHON


def pid_said(text):
    return int(text.split(b":")[0].split(b"\n")[0])


@exec_test
def wait_program_reads_its_socket_itself_and_minetd_takes_it_back_when_it_ends():
    udp, tcp = free_port(), free_port()
    with Programs() as progs:
        d = Daemon(config_text([exec_service("wudp", udp, progs.write("wudp.py", WAIT_UDP), protocol="udp",
                                             wait=True, timeout=0),
                                exec_service("wtcp", tcp, progs.write("wtcp.py", WAIT_TCP), protocol="tcp",
                                             wait=True, timeout=0)], extra="log_connections = true;"))
        pids = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(10 * SLOW)
            for msg in (b"one", b"two", b"three", b"four"):
                u.sendto(msg, ("127.0.0.1", udp))
                reply = u.recv(100)
                assert reply.endswith(b":" + msg), reply
                pids.append(pid_said(reply))
        assert pids[0] == pids[1] != pids[2] == pids[3], f"two programs, two datagrams each: {pids}"
        said = [pid_said(tcp_exchange("127.0.0.1", tcp, b"", timeout=10 * SLOW)) for _ in range(4)]
        assert said[0] == said[1] != said[2] == said[3], f"two programs, two clients each: {said}"
        d.wait_log(r"wudp: program \d+ for 127.0.0.1:\d+ exited with status 0", count=2)


@exec_test
def stderr_to_the_client_and_argv0_as_inetd_gives_them():
    port = free_port()
    d = Daemon(config_text([exec_service("named", port, ["/bin/sh", "-c", "echo I am $0; echo oops >&2"],
                                         protocol="tcp", argv0="in.named", stderr="client")]))
    assert tcp_exchange("127.0.0.1", port, b"") == b"I am in.named\noops\n"
    out = d.output()
    assert ": oops" not in out, out


@exec_test
def per_minute_refuses_programs_beyond_the_budget():
    port = free_port()
    d = Daemon(config_text([exec_service("few", port, ["/bin/echo", "hi"], protocol="tcp", per_minute=2)]))
    assert [tcp_exchange("127.0.0.1", port, b"") for _ in range(2)] == [b"hi\n", b"hi\n"]
    assert refused(port)
    d.wait_log(r"few: refused tcp client 127.0.0.1:\d+: per_minute: as many programs started in the last "
               r"minute as the service allows")


@exec_test
def timeout_zero_lets_a_program_run_past_any_timeout():
    short, none = free_port(), free_port()
    sleeper = ["/bin/sh", "-c", "sleep 2; echo done"]
    Daemon(config_text([exec_service("short", short, sleeper, protocol="tcp", timeout=1),
                        exec_service("none", none, sleeper, protocol="tcp", timeout=0)]))
    assert tcp_exchange("127.0.0.1", short, b"", timeout=10 * SLOW) == b""
    assert tcp_exchange("127.0.0.1", none, b"", timeout=10 * SLOW) == b"done\n"


if __name__ == "__main__":
    run()
