"""Runs the real minetd on loopback for the integration tests.

Each test is a function decorated with @test; run() calls them in order and prints
"PASS: name" or "FAIL: name: why" for each. Every daemon a test starts is stopped when
the test ends, pass or fail, and at exit."""

import atexit
import os
import re
import shutil
import signal
import socket
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


def free_port(host=None):
    """A port free for TCP and UDP on every address, IPv6 and IPv4, so that it is free
    whatever address the test binds, and never one handed out before in this run.
    (host is accepted for readability only.)"""
    for _ in range(200):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as t:
            t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            t.bind(("::", 0))
            port = t.getsockname()[1]
            if port < 20000 or port in _given_ports:
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


def config_text(services, host="127.0.0.1", extra=""):
    return f'host = "{host}";\n{extra}\nservices = (\n  ' + ",\n  ".join(services) + "\n);\n"


class Daemon:
    def __init__(self, config, args=(), env=None):
        self.dir = tempfile.mkdtemp(prefix="minetd-test-")
        self.config_path = os.path.join(self.dir, "minetd.conf")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.write_config(config)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([*WRAPPER, MINETD, "-c", self.config_path, "-l", "stderr", *args],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     env=env)
        _daemons.append(self)
        self.wait_log("started", timeout=10 * SLOW)

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def output(self):
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
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def remove_files(self):
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


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_exchange(host, port, data=b"", shutdown=True, timeout=5, limit=1 << 26):
    """Connects, sends data, shuts down the write side, reads until EOF."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        if data:
            s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        total = 0
        while total < limit:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
            total += len(b)
        return b"".join(chunks)


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
