"""Runs the real minetd on loopback for the integration tests, and what several of the
test files share.

Each test is a function decorated with @test (@exec_test for one that runs programs); run()
calls them in order (TEST=substring: only those whose name holds it) and prints
"PASS: name" or "FAIL: name: why" for each. Every daemon a test starts is stopped when
the test ends, pass or fail, and at exit."""

import atexit
import contextlib
import ctypes
import errno
import fcntl
import itertools
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
MINETD = os.environ.get("MINETD") or os.path.join(TOP, "build", "minetd")
# A command to run the daemon under, e.g. "valgrind --error-exitcode=99 --leak-check=full".
WRAPPER = os.environ.get("MINETD_WRAPPER", "").split()
# Slow wrappers (valgrind) need longer to start and stop.
SLOW = float(os.environ.get("MINETD_SLOW", "1"))
# Sanitizers and valgrind use more memory: the bounds on resident memory scale by this.
RSS_FACTOR = float(os.environ.get("MINETD_RSS_FACTOR", "1"))
_tests = []
_given_ports = set()
_daemons = []


def test(fn):
    _tests.append(fn)
    return fn


class Skip(Exception):
    pass


def _ephemeral_ports():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host=None):
    """A port free for TCP and UDP on every address, IPv6 and IPv4, so that it is free
    whatever address the test binds, and never one handed out before in this run. Never
    one of the kernel's ephemeral ports: a client's connection (the tests' own) may take
    such a port for its local end at any time, and a service bound to every address
    later could not have it. (host is accepted for readability only.)"""
    low, high = _ephemeral_ports()
    candidates = [p for p in range(20000, 40000) if not low <= p <= high] or list(range(10000, 20000))
    for _ in range(400):
        port = random.choice(candidates)
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as t:
            t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                t.bind(("::", port))
            except OSError:
                continue
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
                    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    u.bind(("::", port))
                _given_ports.add(port)
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def service(name, handler, port, protocol="both", host=None, **options):
    parts = [f'name = "{name}"', f'handler = "{handler}"', f"port = {port}", f'protocol = "{protocol}"']
    if host is not None:
        parts.append(f'host = "{host}"')
    for key, value in options.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = "[ " + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + " ]"
        elif isinstance(value, str):
            value = f'"{value}"'
        parts.append(f"{key} = {value}")
    return "{ " + "; ".join(parts) + "; }"


# ThreadSanitizer's run (tests/sanitize/tsan.sh) wants every config with this many event loops.
TEST_WORKERS = os.environ.get("MINETD_TEST_WORKERS")


def config_text(services, host="127.0.0.1", extra=""):
    # after the services: the lines the tests expect messages on stay where they are
    tail = f"workers = {TEST_WORKERS};\n" if TEST_WORKERS and "workers" not in extra else ""
    return f'host = "{host}";\n{extra}\nservices = (\n  ' + ",\n  ".join(services) + "\n);\n" + tail


class OwnersSignals(subprocess.Popen):
    """A daemon's process, signalled by its own user: started as root, minetd serves as
    _minetd or nobody, and valgrind (3.19) lets a signal from another user (root's SIGTERM)
    kill the process instead of handing it to minetd's signalfd. Natively either works."""

    def send_signal(self, sig):
        if not WRAPPER or os.geteuid() != 0 or self.poll() is not None:
            return super().send_signal(sig)
        try:
            with open(f"/proc/{self.pid}/status") as f:
                uid = next(int(l.split()[1]) for l in f if l.startswith("Uid:"))
        except (OSError, StopIteration):
            return super().send_signal(sig)
        if uid == 0:
            return super().send_signal(sig)
        child = os.fork()
        if child == 0:
            try:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(uid, uid, uid)
                os.kill(self.pid, sig)
            finally:
                os._exit(0)
        os.waitpid(child, 0)


class Daemon:
    """The daemon under test. launcher is a command it runs under, before WRAPPER, that
    execs it in the same process (ip netns exec, systemd-socket-activate, ...). stdio:
    "file" (stdout and stderr to a file that output() reads), "pipe" (to a 4 KiB pipe that
    nothing but output() drains) or "closed" (no stdin, stdout or stderr at all: output()
    is empty). wait: until it says "started" (impossible with closed stdio)."""

    def __init__(self, config, args=(), env=None, launcher=(), preexec_fn=None, stdio="file", wait=True,
                 pass_fds=()):
        self.dir = tempfile.mkdtemp(prefix="minetd-test-")
        # Started as root, minetd serves (and rereads its config) as _minetd or nobody.
        os.chmod(self.dir, 0o755)
        self.config_path = os.path.join(self.dir, "minetd.conf")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.write_config(config)
        self.log = self.pipe = None
        self.piped = bytearray()
        if stdio == "pipe":
            self.pipe, out = os.pipe()
            fcntl.fcntl(out, 1031, 4096)        # F_SETPIPE_SZ: full after a few dozen lines
            os.set_blocking(self.pipe, False)
        elif stdio == "file":
            out = self.log = open(self.log_path, "wb")
        else:
            out = None

        def prepare():
            if stdio == "closed":
                for fd in (0, 1, 2):
                    os.close(fd)
            if preexec_fn:
                preexec_fn()
        try:
            self.proc = OwnersSignals([*launcher, *WRAPPER, MINETD, "-c", self.config_path, "-l", "stderr", *args],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                         preexec_fn=prepare if stdio == "closed" or preexec_fn else None,
                                         pass_fds=pass_fds)
        except OSError:
            if self.log:
                self.log.close()
            self.remove_files()
            raise
        finally:
            if stdio == "pipe":
                os.close(out)
        _daemons.append(self)
        if wait:
            self.wait_log("started", timeout=10 * SLOW)

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)
        os.chmod(self.config_path, 0o644)

    def output(self):
        if self.pipe is not None:
            while True:
                try:
                    chunk = os.read(self.pipe, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                self.piped += chunk
            return self.piped.decode(errors="replace")
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, count=1, timeout=10 * SLOW):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if len(re.findall(pattern, out)) >= count:
                return out
            if self.proc.poll() is not None:
                raise AssertionError(f"minetd exited with {self.proc.returncode}:\n{out}")
            time.sleep(0.02)
        raise AssertionError(f"no '{pattern}' in minetd's log after {timeout}s:\n{self.output()}")

    def reload(self, config):
        """Writes config, sends SIGHUP, waits until minetd says how it went: every reload
        ends in one line saying "reloaded" or "not reloaded". Returns that line."""
        n = self.output().count("reloaded")
        self.write_config(config)
        self.proc.send_signal(signal.SIGHUP)
        out = self.wait_log("reloaded", count=n + 1)
        return [l for l in out.splitlines() if "reloaded" in l][n]

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=10 * SLOW):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("minetd did not stop within %ss" % timeout)
        if self.log:
            self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log and not self.log.closed:
            self.log.close()

    def cpu_seconds(self):
        """User and system time the daemon has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def remove_files(self):
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _stop_all():
    """Stops every daemon still running with SIGTERM; each must exit 0 (under valgrind or
    a sanitizer, that also means no error and no leak)."""
    bad = []
    for d in _daemons:
        if d.proc.poll() is None:
            rc = d.stop()
        else:
            rc = d.proc.returncode
            d.kill()
        if rc != 0:
            bad.append(f"minetd exited with {rc}:\n{d.output()[-3000:]}")
        d.remove_files()
    _daemons.clear()
    if bad:
        raise AssertionError("\n".join(bad))


def _kill_all():
    for d in _daemons:
        d.kill()
        d.remove_files()
    _daemons.clear()


atexit.register(_kill_all)


def with_fds(named_fds, env=None):
    """What makes minetd start with these (name, descriptor) pairs as a service manager
    passes them (LISTEN_FDS from 3 on, LISTEN_FDNAMES): Daemon keyword arguments. The
    descriptors stay the caller's."""
    n = len(named_fds)
    env = dict(env or os.environ, LISTEN_FDS=str(n), LISTEN_FDNAMES=":".join(name for name, _ in named_fds))

    def place():
        # first out of the way of 3..n+2, then into place
        high = [os.dup(fd) for _, fd in named_fds]
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100 + n) for fd in high]
        for i, fd in enumerate(moved):
            os.dup2(fd, 3 + i)
    return {"env": env, "preexec_fn": place, "pass_fds": tuple(range(3, 3 + n)),
            "launcher": ["sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', "sh"]}


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def recv_until_eof(s, limit=1 << 26):
    """What s receives until end of file, or the first limit bytes and more."""
    chunks = []
    total = 0
    while total < limit:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def recv_exactly(s, n):
    """The next n bytes s receives; ConnectionError when it reaches end of file first."""
    got = b""
    while len(got) < n:
        b = s.recv(min(65536, n - len(got)))
        if not b:
            raise ConnectionError(f"closed after {got[:60]!r} ({len(got)} of {n} bytes)")
        got += b
    return got


def tcp_exchange(host, port, data=b"", shutdown=True, timeout=5, limit=1 << 26, source=None):
    """Connects (from source, an address, when given), sends data, shuts down the write
    side, reads until EOF."""
    with socket.create_connection((host, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        if data:
            s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return recv_until_eof(s, limit)


def udp_exchange(host, port, data, timeout=2, bufsize=65536):
    with socket.socket(family_of(host), socket.SOCK_DGRAM) as u:
        u.settimeout(timeout)
        u.sendto(data, (host, port))
        reply, _ = u.recvfrom(bufsize)
        return reply


def udp_no_reply(host, port, data, wait=0.5):
    with socket.socket(family_of(host), socket.SOCK_DGRAM) as u:
        u.settimeout(wait)
        u.sendto(data, (host, port))
        try:
            reply = u.recv(65536)
        except socket.timeout:
            return True
        raise AssertionError(f"unexpected reply {reply[:60]!r}")


def need_root(what):
    if os.geteuid() != 0:
        raise Skip(f"{what} needs root")


def counters(d, name):
    """The counters line SIGUSR1 logs for service name, as a dict."""
    time.sleep(0.2)         # each event loop counts what it did just after doing it
    n = d.output().count(f"{name}: tcp ")
    d.proc.send_signal(signal.SIGUSR1)
    out = d.wait_log(f"{name}: tcp ", count=n + 1)
    line = [l for l in out.splitlines() if f"{name}: tcp " in l][n]
    nums = dict((k.replace(" ", "_"), int(v)) for v, k in re.findall(r"(\d+) (accepted|active|refused|received|replied|bytes in)", line))
    tcp, udp = line.split("udp")
    nums["tcp_refused"] = int(re.search(r"(\d+) refused", tcp).group(1))
    nums["udp_refused"] = int(re.search(r"(\d+) refused", udp).group(1))
    nums["udp_received"] = int(re.search(r"(\d+) received", udp).group(1))
    nums["udp_replied"] = int(re.search(r"(\d+) replied", udp).group(1))
    return nums


def ipv4_header(src, dst, payload_len, proto=socket.IPPROTO_UDP):
    """An IPv4 header with its checksum (the kernel fills it in only for raw IP sockets)."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0x1234, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    total = sum(struct.unpack("!10H", hdr))
    total = (total & 0xffff) + (total >> 16)
    total = (total & 0xffff) + (total >> 16)
    return hdr[:10] + struct.pack("!H", ~total & 0xffff) + hdr[12:]


def spoof_udp(src, sport, dst, dport, payload):
    """Sends one IPv4/UDP datagram with a forged source, through a raw socket."""
    need_root("a raw socket with a spoofed source")
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)      # checksum 0: none, legal over IPv4
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.sendto(ipv4_header(src, dst, 8 + len(payload)) + udp + payload, (dst, 0))


def connect_from(src, port, dst="127.0.0.1", timeout=5):
    return socket.create_connection((dst, port), timeout=timeout, source_address=(src, 0))


_libc = ctypes.CDLL(None, use_errno=True)
_netns_ids = itertools.count()


class Netns:
    """A network namespace of the test's own with loopback up, deleted at the end of the
    with block. Its daemons run under launcher(); sockets the test makes inside entered()
    belong to it."""

    def __init__(self):
        need_root("a network namespace")
        if not shutil.which("ip"):
            raise Skip("no ip command (package iproute2)")
        self.name = f"minetd-test-{os.getpid()}-{next(_netns_ids)}"
        r = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise Skip(f"cannot make a network namespace: {r.stderr.strip()}")
        self.ip("link", "set", "lo", "up")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=10)

    def ip(self, *args):
        """Runs ip(8) inside, e.g. ns.ip("addr", "add", ...)."""
        r = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise AssertionError(f"ip -n {self.name} {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def sysctl(self, *settings):
        r = subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", *settings], capture_output=True,
                           text=True, timeout=10)
        if r.returncode != 0:
            raise AssertionError(f"sysctl {' '.join(settings)}: {r.stderr.strip()}")

    def launcher(self):
        return ["ip", "netns", "exec", self.name]

    @contextlib.contextmanager
    def entered(self):
        """This thread in the namespace for the block (setns(2) is per thread)."""
        with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{self.name}") as ns:
            if _libc.setns(ns.fileno(), 0x40000000) != 0:       # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "setns")
            try:
                yield
            finally:
                if _libc.setns(home.fileno(), 0x40000000) != 0:
                    os._exit(99)        # sockets made from here on would land in the wrong place


# --- Shared by several test files: minetd run once, configs and files, echo checks.

def run_minetd(*args, timeout=10):
    """minetd run with args to its end (no MINETD_WRAPPER: -t, -V and refusals are quick)."""
    return subprocess.run([MINETD, *args], capture_output=True, text=True, timeout=timeout)


def check_config(path, within=10):
    """minetd -t, which must finish within the given seconds whatever the file is (it runs
    without MINETD_WRAPPER: no need to scale by SLOW)."""
    try:
        return run_minetd("-t", "-c", path, timeout=within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"minetd -t -c {path} still running after {within} s") from None


def line_of(text, needle):
    """The line number of the first line of text holding needle."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise ValueError(needle)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class TempDir:
    """A directory of the test's own, removed at the end of the with block."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="minetd-test-")
        os.chmod(self.path, 0o755)      # minetd started as root serves as _minetd or nobody
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def notify_socket(directory, passcred=False):
    """A NOTIFY_SOCKET in directory: (its bound datagram socket, its path). Writable by all,
    as systemd's: minetd started as root gives root up before it speaks. With passcred, each
    datagram comes with its sender's pid (SCM_CREDENTIALS)."""
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o777)
    if passcred:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return sock, path


def udp_echo_ok(host, port, data=b"still there"):
    got = udp_exchange(host, port, data, timeout=2 * SLOW)
    assert got == data, f"udp {host}:{port} answered {got!r} to {data!r}"


def tcp_echo_ok(host, port, data=b"still there"):
    got = tcp_exchange(host, port, data, timeout=5 * SLOW)
    assert got == data, f"tcp {host}:{port} answered {got!r} to {data!r}"


def pair_config(host_a, host_b, port, proto_a="both", proto_b="both", extra=""):
    """Two services on one port: "a" (echo) on host_a, "b" (daytime) on host_b."""
    return config_text([service("a", "echo", port, protocol=proto_a, host=host_a),
                        service("b", "daytime", port, protocol=proto_b, host=host_b)], extra=extra)


A_LINE, B_LINE = 'name = "a"', 'name = "b"'


def conflict_message(path, text, port):
    """What -t, the start and a reload say of pair_config's two services when they overlap."""
    return f"{path}:{line_of(text, B_LINE)}: service 'b' uses port {port}, as 'a' at line {line_of(text, A_LINE)} does"


def ipv6_lab(ns, n):
    """n addresses of 2001:db8:7::/64 on the namespace's loopback: [0] for the server."""
    addrs = [f"2001:db8:7::{i + 1:x}" for i in range(n)]
    for a in addrs:
        ns.ip("addr", "add", f"{a}/64", "dev", "lo", "nodad")
    return addrs


# --- Programs (handler exec): written by a test into a directory of its own, run as
# "nobody" when the tests run as root (as they must then).

ROOT = os.geteuid() == 0
# Whom the programs run as: required when minetd runs as root.
AS_USER = {"user": "nobody"} if ROOT else {}
# A root directory that other users cannot search (a chroot made with mktemp -d, such as
# the fresh-root check's) lets no program run as nobody: every test says so, loudly.
UNREACHABLE = ROOT and not os.stat("/").st_mode & 0o001


def exec_test(fn):
    """@test for a test that runs programs: a SKIP naming the reason where none can run."""
    if not UNREACHABLE:
        return test(fn)

    def skipped():
        raise Skip(f"'/' has mode {os.stat('/').st_mode & 0o777:o} here (a chroot made with mktemp -d?): "
                   "no program can run as nobody")
    skipped.__name__ = fn.__name__
    return test(skipped)


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
    argv = command if isinstance(command, list) else [command]
    return service(name, "exec", port, protocol=protocol, command=argv, **options)


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


def helper_of(d):
    """The pid of minetd's privileged helper (minetd-helper, its child), which starts the
    programs: they are its children."""
    for pid in children(d.proc.pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "minetd-helper":
                    return pid
        except OSError:
            pass
    return None


def programs_of(d):
    """The programs minetd runs, as {pid: state}: the children of its helper."""
    helper = helper_of(d)
    return children(helper) if helper else {}


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


def refused(port):
    """Whether a TCP client of port is closed without an answer (over the limits)."""
    try:
        return tcp_exchange("127.0.0.1", port, b"x", timeout=5 * SLOW) == b""
    except ConnectionResetError:
        return True
    except OSError as e:
        if e.errno == errno.ENOTCONN:       # reset before the client's shutdown()
            return True
        raise


def nothing_came(sock):
    """Nothing waits in sock: called once minetd logged the end of what would have sent it
    (a reply goes out before the program's end is logged), so no wait is needed."""
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        sock.recv(65536)
        return False
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(timeout)


def run():
    only = os.environ.get("TEST")
    failed = 0
    for fn in _tests:
        if only and only not in fn.__name__:
            continue
        try:
            fn()
            _stop_all()
            print(f"PASS: {fn.__name__}", flush=True)
        except Skip as e:
            print(f"SKIP: {fn.__name__}: {e}", flush=True)
        except Exception as e:
            failed += 1
            detail = traceback.format_exc()
            print(f"FAIL: {fn.__name__}: {str(e).splitlines()[0] if str(e) else type(e).__name__}", flush=True)
            print(detail, flush=True)
        finally:
            _kill_all()
    sys.exit(1 if failed else 0)
