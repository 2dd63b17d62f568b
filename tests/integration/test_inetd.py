"""inetd.conf and inetd.d as a source of services: the real daemon, run by hand (as root,
starting its own helper, which runs each program as its line's user), serves the lines of
the files its config names, says which lines it leaves out and why (FILE:LINE), and follows
the files' edits at a reload as update-inetd makes them."""
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time

from harness import (MINETD, SLOW, Daemon, Skip, config_text, free_port, recv_exactly, service, tcp_exchange,
                     test, udp_exchange, udp_no_reply, wait_until, run)

ROOT = os.geteuid() == 0
CTIME = re.compile(rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                   rb"[ 123]\d \d\d:\d\d:\d\d \d{4}\r\n$")
LEFT_OUT = "; the line is not served"


class InetdFiles:
    """A directory with inetd.conf and inetd.d/, readable by everyone, removed at the end of
    the with block; config() is a minetd.conf that reads both."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="minetd-inetd-")
        os.chmod(self.dir, 0o755)
        os.mkdir(self.path("inetd.d"), 0o755)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        """As update-inetd does: a new file renamed over the old one."""
        tmp = self.path(".new")
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.path(name))

    def config(self, services=()):
        paths = f'"{self.path("inetd.conf")}", "{self.path("inetd.d")}"'
        return config_text(list(services), extra=f"inetd = [ {paths} ];")


def refused(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def chargen_line(start):
    return bytes(32 + (start + i) % 95 for i in range(72)) + b"\r\n"


@test
def internal_lines_answer_over_tcp_and_udp():
    ports = {name: free_port() for name in ["echo", "discard", "chargen", "daytime", "time"]}
    lines = ["# minetd's built-ins, on ports of their own (after 'internal': which one)", "127.0.0.1:"]
    for name, port in ports.items():
        lines.append(f"{port}\tstream\ttcp\tnowait\troot\tinternal {name}")
        lines.append(f"{port}\tdgram\tudp\twait\troot\tinternal {name}")
    with InetdFiles() as files:
        files.write("inetd.conf", "\n".join(lines) + "\n")
        d = Daemon(files.config())
        assert "warning" not in d.output(), d.output()
        assert tcp_exchange("127.0.0.1", ports["echo"], b"hello, inetd\n") == b"hello, inetd\n"
        assert udp_exchange("127.0.0.1", ports["echo"], b"datagram") == b"datagram"
        assert tcp_exchange("127.0.0.1", ports["discard"], b"x" * 10000) == b""
        udp_no_reply("127.0.0.1", ports["discard"], b"into the void")
        with socket.create_connection(("127.0.0.1", ports["chargen"]), timeout=5) as s:
            assert recv_exactly(s, 148) == chargen_line(0) + chargen_line(1)
        line = udp_exchange("127.0.0.1", ports["chargen"], b"x" * 74)   # as large as the reply
        assert line == chargen_line(line[0] - 32)
        assert CTIME.match(tcp_exchange("127.0.0.1", ports["daytime"], shutdown=False))
        assert CTIME.match(udp_exchange("127.0.0.1", ports["daytime"], b"\n"))
        for data in [tcp_exchange("127.0.0.1", ports["time"], shutdown=False),
                     udp_exchange("127.0.0.1", ports["time"], b"")]:
            assert len(data) == 4
            assert abs(struct.unpack("!I", data)[0] - 2208988800 - time.time()) < 3
        # the names the lines give the services: SERVICE.PROTO
        out = d.output()
        assert f"started with {d.config_path}: 10 services" in out, out


@test
def a_program_line_runs_as_its_user():
    if not ROOT:
        raise Skip("a program runs as its line's user only when minetd runs as root")
    if not os.stat("/").st_mode & 0o001:
        raise Skip("'/' is not searchable by others here: no program can run as nobody")
    cat, whoami = free_port(), free_port()
    with InetdFiles() as files:
        files.write("inetd.conf", "127.0.0.1:\n"
                    f"{cat}\tstream\ttcp\tnowait\tnobody\t/bin/cat\tcat\n"
                    f"{whoami}\tstream\ttcp\tnowait\tnobody.nogroup\t/usr/bin/id\tid -un\n")
        d = Daemon(files.config())
        assert tcp_exchange("127.0.0.1", cat, b"through /bin/cat\n") == b"through /bin/cat\n"
        assert tcp_exchange("127.0.0.1", whoami, shutdown=False) == b"nobody\n"


@test
def a_bad_line_is_warned_and_the_others_are_served():
    echo, daytime, extra, taken = free_port(), free_port(), free_port(), free_port()
    with InetdFiles() as files:
        files.write("inetd.conf", "127.0.0.1:\n"
                    f"{echo} stream tcp nowait root internal echo\n"
                    "no-such-service stream tcp nowait root internal echo\n"
                    f"{daytime} stream tcp nowait root internal daytime\n"
                    f"{taken} stream tcp nowait root internal echo\n")
        files.write("inetd.d/extra", f"127.0.0.1:{extra} stream tcp nowait root internal echo\n")
        d = Daemon(files.config([service("conf-echo", "echo", taken, protocol="tcp")]))
        conf = files.path("inetd.conf")
        bad = f"{conf}:3: warning: unknown service 'no-such-service': not in /etc/services for tcp{LEFT_OUT}"
        with open(d.config_path) as f:
            conf_line = next(i for i, l in enumerate(f, 1) if "conf-echo" in l)
        conflict = (f"{conf}:5: warning: service '{taken}.tcp' uses port {taken}, as 'conf-echo' at "
                    f"{d.config_path}:{conf_line} does{LEFT_OUT}")
        out = d.output()
        assert out.count(bad) == 1, out         # once: minetd says it, its helper does not again
        assert out.count(conflict) == 1, out
        assert tcp_exchange("127.0.0.1", echo, b"still served") == b"still served"
        assert CTIME.match(tcp_exchange("127.0.0.1", daytime, shutdown=False))
        assert tcp_exchange("127.0.0.1", extra, b"from inetd.d") == b"from inetd.d"
        assert tcp_exchange("127.0.0.1", taken, b"minetd.conf's") == b"minetd.conf's"


@test
def check_prints_the_warnings_and_says_ok():
    port = free_port()
    with InetdFiles() as files:
        files.write("inetd.conf", f"{port} stream tcp nowait root internal echo\n"
                    "rstatd/1-5\tdgram\trpc/udp\twait\tnobody\t/usr/sbin/tcpd\t/usr/sbin/rpc.rstatd\n"
                    f"{port} stream sctp nowait root internal echo\n")
        conf = files.path("minetd.conf")
        with open(conf, "w") as f:
            f.write(files.config())
        r = subprocess.run([MINETD, "-t", "-c", conf], capture_output=True, text=True, timeout=30)
        inetd_conf = files.path("inetd.conf")
        assert r.returncode == 0, r
        assert r.stdout == f"{conf}: ok\n", r.stdout
        assert r.stderr.splitlines()[:2] == [
            f"{inetd_conf}:2: warning: rstatd/1-5 (rpc/udp): minetd serves no RPC services{LEFT_OUT}",
            f"{inetd_conf}:3: warning: unknown protocol 'sctp' (tcp, udp, tcp4, udp4, tcp6, udp6, tcp46 or "
            f"udp46){LEFT_OUT}"], r.stderr


@test
def a_reload_follows_the_edits_of_update_inetd():
    kept, disabled, removed, added = free_port(), free_port(), free_port(), free_port()
    with InetdFiles() as files:
        files.write("inetd.conf", "127.0.0.1:\n"
                    f"{kept}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                    f"{disabled}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                    f"{removed}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                    "no-such-service stream tcp nowait root internal echo\n")
        d = Daemon(files.config())
        for port in [kept, disabled, removed]:
            assert tcp_exchange("127.0.0.1", port, b"before") == b"before"
        assert refused(added)
        with socket.create_connection(("127.0.0.1", kept), timeout=5) as client:
            client.sendall(b"one")
            assert recv_exactly(client, 3) == b"one"
            files.write("inetd.conf", "127.0.0.1:\n"
                        f"{kept}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                        f"#<off># {disabled}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                        "no-such-service stream tcp nowait root internal echo\n"
                        f"{added}\tstream\ttcp\tnowait\troot\tinternal echo\n")
            line = d.reload(files.config())
            assert "not reloaded" not in line, d.output()
            client.sendall(b"two")          # a connection of a line that stays goes on
            assert recv_exactly(client, 3) == b"two"
        assert tcp_exchange("127.0.0.1", kept, b"after") == b"after"
        assert tcp_exchange("127.0.0.1", added, b"added") == b"added"
        assert refused(disabled) and refused(removed)
        # each load says what it left out once: the start, then each reload (the SIGHUP's,
        # and the one minetd makes itself when it notices the file changed, unless the
        # SIGHUP's came after that and the two were one)
        time.sleep(1 * SLOW)
        out = d.output()
        reloads = out.count("reloaded")
        assert out.count(f"{files.path('inetd.conf')}:5: warning: unknown service") == 1, out
        assert 1 <= out.count(f"{files.path('inetd.conf')}:4: warning: unknown service") == reloads <= 2, out


def answers(port, text=b"ping"):
    try:
        return tcp_exchange("127.0.0.1", port, text, timeout=2) == text
    except OSError:
        return False


@test
def edits_are_served_without_a_reload_signal():
    """update-inetd wakes no minetd: minetd notices the files' changes itself (inotify), each
    a reload within a second or so, the established connection kept. A rename over the file
    (update-inetd), an edit in place (an admin's editor), a file added to and removed from
    inetd.d, and one burst of several edits is one reload."""
    kept, added, in_dir = free_port(), free_port(), free_port()
    with InetdFiles() as files:
        files.write("inetd.conf", f"127.0.0.1:{kept}\tstream\ttcp\tnowait\troot\tinternal echo\n")
        d = Daemon(files.config())
        assert answers(kept) and not answers(added)
        with socket.create_connection(("127.0.0.1", kept), timeout=5) as client:
            files.write("inetd.conf", f"127.0.0.1:{kept}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                        f"127.0.0.1:{added}\tstream\ttcp\tnowait\troot\tinternal echo\n")
            wait_until(lambda: answers(added), 5 * SLOW, f"no reload after a rename:\n{d.output()}")
            with open(files.path("inetd.conf"), "a") as f:         # in place
                f.write(f"#<off># 127.0.0.1:{in_dir}\tstream\ttcp\tnowait\troot\tinternal echo\n")
            with open(files.path("inetd.d/pkg"), "w") as f:
                f.write(f"127.0.0.1:{in_dir}\tstream\ttcp\tnowait\troot\tinternal echo\n")
            wait_until(lambda: answers(in_dir), 5 * SLOW, f"inetd.d's new file not served:\n{d.output()}")
            os.unlink(files.path("inetd.d/pkg"))
            wait_until(lambda: refused(in_dir), 5 * SLOW, f"inetd.d's removed file still served:\n{d.output()}")
            client.sendall(b"kept")
            assert recv_exactly(client, 4) == b"kept"
        out = d.output()
        assert "not reloaded" not in out, out
        # rename; append + new file (one burst, or two if the loop saw a pause); unlink
        assert 3 <= out.count("an inetd file changed") <= 4, out
        assert "warning" not in out, out


@test
def by_hand_as_root_a_reload_still_checks_the_users_of_lines():
    """Started as root, minetd serves as _minetd or nobody once its helper holds root: a
    reload that brings a line with a user the system lacks still says so itself, with
    FILE:LINE, as the start would, and serves the rest."""
    if not ROOT:
        raise Skip("minetd by hand as root")
    good, bad = free_port(), free_port()
    with InetdFiles() as files:
        files.write("inetd.conf", f"127.0.0.1:{good}\tstream\ttcp\tnowait\troot\tinternal echo\n")
        d = Daemon(files.config())
        files.write("inetd.conf", f"127.0.0.1:{good}\tstream\ttcp\tnowait\troot\tinternal echo\n"
                    f"127.0.0.1:{bad}\tstream\ttcp\tnowait\tno-such-user-4711\t/bin/cat\tcat\n")
        wait_until(lambda: "no-such-user-4711" in d.output(), 5 * SLOW, f"no warning:\n{d.output()}")
        time.sleep(0.5 * SLOW)
        out = d.output()
        assert f"{files.path('inetd.conf')}:2: warning: exec: no user 'no-such-user-4711'" in out, out
        assert "minetd-helper left it out" not in out and "not reloaded" not in out, out
        assert answers(good) and refused(bad)


if __name__ == "__main__":
    run()
