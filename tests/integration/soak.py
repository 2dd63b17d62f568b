"""Soak: reloads with random valid and invalid configs, UDP and TCP load from several
sources, programs (handler exec over TCP and UDP: honest ones, and others that fork, start
sessions of their own and write to stderr without end until their timeout), file descriptor
exhaustion and clients that vanish, against one daemon with one event loop, then another
with two. Each ends with every honest request answered, the daemon back at the file
descriptors it started with, no process left of any program (found in /proc by the
program's path in its command line), and (the harness) exit status 0 at SIGTERM, which
under ASan/UBSan (tests/sanitize/test_asan.sh) also means no leak and no error.

Honest: a request within the limits (per-source budgets, connection limits and open files:
no short TCP exchange is made while the descriptors are deliberately exhausted), from a
permitted source (127.0.0.2 to .5, ::1, never denied), to a service in the config in force
(echo, in every config, all the time; the others only between the reload that brought
them and the next one). Everything else (127.0.0.6 to .9: vanishing clients, descriptor
hogs) is load whose answers are not checked.

make check runs it under ASan/UBSan only (it is no test_*.py: the sanitizer run is the one
that finds what a minute of this breaks): tests/sanitize/test_asan.sh. By hand:
python3 tests/integration/soak.py. SOAK_SECONDS (default 45) is how long the load runs."""
import contextlib
import os
import random
import resource
import shutil
import socket
import struct
import tempfile
import threading
import time

from harness import (programs_of, SLOW, TOP, UNREACHABLE, Daemon, children, config_text, counters, exec_service, free_port,
                     recv_exactly, service, tcp_exchange, test, run)

SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
HONEST = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
QUOTES = os.path.join(TOP, "config", "quotes")
OPEN_FILES = 256
RESERVED = 32                   # descriptors minetd keeps from its clients
HANDLERS = ["echo", "discard", "chargen", "qotd", "daytime", "time"]
# Fixed in every valid config, so that "within the limits" does not change under the load.
COMMON = "limits = { idle_timeout = 120; lifetime = 600; };"
# Programs run as nobody when the soak runs as root; a root that nobody cannot search (a
# chroot made with mktemp -d) leaves them out, and says so.
PROGRAMS = not UNREACHABLE
# The soak's program: answers the line it reads; asked to, leaves processes behind (a
# subshell, whose command line is this script's, and a session of its own named after it)
# or writes to stderr until it is killed at its timeout.
PROGRAM = r"""#!/bin/sh
read -r line
case "$line" in
fork*) ( while :; do sleep 1; done ) & ;;
setsid*) setsid sh -c 'while :; do sleep 1; done' "$0" & ;;
chatter*) while :; do echo "chatter chatter chatter" >&2; done ;;
esac
printf '%s\n' "$line"
"""


class Soak:
    def __init__(self, workers, program_dir):
        self.seed = os.environ.get("SOAK_SEED") or str(time.time_ns())
        self.rng = random.Random(self.seed)
        self.workers = workers
        self.echo = free_port()
        self.slots = [free_port() for _ in range(4)]     # one port per optional service
        # honest programs, and the ones the vanishing clients ask to misbehave
        self.prog, self.wild = free_port(), free_port()
        self.program = None
        if PROGRAMS:
            self.program = os.path.join(program_dir, "soak-program")
            with open(self.program, "w") as f:
                f.write(PROGRAM)
            os.chmod(self.program, 0o755)
        self.failures = []
        self.answered = {"udp": 0, "tcp persistent": 0, "tcp short": 0, "after reload": 0, "program tcp": 0,
                         "program udp": 0}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.tcp_gate = threading.Condition()
        self.tcp_paused = False
        self.tcp_in_flight = 0
        self.in_force = []      # the optional services of the config in force

    def fail(self, what):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(f"{time.monotonic() - self.t0:6.2f} s: {what}")

    def count(self, kind):
        with self.lock:
            self.answered[kind] += 1

    # configs

    def program_services(self):
        if not self.program:
            return []
        return [exec_service("prog", self.prog, self.program, host="", processes=64, timeout=10),
                exec_service("wild", self.wild, self.program, host="", processes=8, timeout=2)]

    def valid_config(self):
        extra = [COMMON, f"workers = {self.workers};",
                 f"log_connections = {'true' if self.rng.random() < 0.5 else 'false'};"]
        if self.rng.random() < 0.5:
            extra.append('deny = [ "127.0.0.7" ];')
        services = [service("echo", "echo", self.echo, host="")] + self.program_services()
        optional = []
        for i, port in enumerate(self.slots):
            if self.rng.random() < 0.4:
                continue
            handler = self.rng.choice(HANDLERS)
            opts = {"quotes": QUOTES} if handler == "qotd" else {}
            if self.rng.random() < 0.3:
                opts["allow"] = ["127.0.0.0/8", "::1"]
            svc = {"name": f"opt{i}", "handler": handler, "port": port,
                   "protocol": self.rng.choice(["tcp", "udp", "both"]),
                   "host": self.rng.choice(["127.0.0.1", "", "localhost", "::1"])}
            optional.append(svc)
            services.append(service(svc["name"], handler, port, protocol=svc["protocol"], host=svc["host"], **opts))
        return config_text(services, host="", extra="\n".join(extra)), optional

    def invalid_config(self, directory):
        """A valid config broken in one of several ways; returns it and how."""
        text, _ = self.valid_config()
        lines = text.splitlines()
        at = len(lines) - 1          # the line of ");"
        kind = self.rng.randrange(10)
        if kind == 0:
            lines.insert(at, f',  {service("bad", "echo", self.slots[0], nosuchkey=1)}')
        elif kind == 1:
            lines.insert(at, f',  {service("bad", "echo", 70000)}')
        elif kind == 2:
            lines.insert(at, f',  {service("bad", "nosuchhandler", self.slots[1])}')
        elif kind == 3:
            lines.insert(at, f',  {service("echo", "daytime", self.slots[2])}')
        elif kind == 4:
            lines.insert(at, f',  {service("bad", "daytime", self.echo, host="localhost")}')
        elif kind == 5:
            lines.insert(at, ",  { name = ")
        elif kind == 6:
            lines.insert(0, '@include "no-such-file.conf"')
        elif kind == 7:
            fifo = os.path.join(directory, "fifo.conf")
            if not os.path.exists(fifo):
                os.mkfifo(fifo)
            lines.insert(0, '@include "fifo.conf"')
        elif kind == 8:
            lines.insert(at, f',  {service("bad", "qotd", self.slots[3], quotes="/nonexistent/quotes")}')
        else:
            lines.insert(1, 'deny = [ "300.1.2.3/8" ];')
        how = ["unknown key", "port out of range", "unknown handler", "duplicate name",
               "echo's port on 'localhost'", "syntax error", "missing @include", "@include of a FIFO",
               "missing quotes file", "bad access list"][kind]
        return "\n".join(lines) + "\n", how

    # honest clients

    def udp_load(self, src):
        rng = random.Random(src)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((src, 0))
            u.settimeout(2 * SLOW)
            n = 0
            while not self.stop.is_set():
                n += 1
                msg = b"%s %d " % (src.encode(), n) + b"u" * rng.randrange(0, 1200)
                u.sendto(msg, ("127.0.0.1", self.echo))
                try:
                    while u.recv(2000) != msg:
                        pass
                    self.count("udp")
                except socket.timeout:
                    self.fail(f"udp echo from {src}: no answer to datagram {n}")
                time.sleep(0.01)

    def tcp_persistent(self, src, conn):
        rng = random.Random(f"{src}/{conn}")
        try:
            s = socket.create_connection(("127.0.0.1", self.echo), timeout=5 * SLOW, source_address=(src, 0))
        except OSError as e:
            self.fail(f"persistent tcp {src}/{conn}: cannot connect: {e!r}")
            return
        with s:
            n = 0
            while not self.stop.is_set():
                n += 1
                msg = b"%s %d %d|" % (src.encode(), conn, n) + b"p" * rng.randrange(0, 3000)
                try:
                    s.sendall(msg)
                    got = recv_exactly(s, len(msg))
                    if got != msg:
                        raise ValueError(f"got {got[:40]!r}...")
                    self.count("tcp persistent")
                except (OSError, ValueError) as e:
                    self.fail(f"persistent tcp {src}/{conn}: exchange {n}: {e!r}")
                    return
                time.sleep(0.01)

    @contextlib.contextmanager
    def new_descriptors(self):
        """Around a request that needs new descriptors of minetd (a connection, a program's
        pipes): not while they are deliberately exhausted, when a refusal is the documented
        answer."""
        with self.tcp_gate:
            while self.tcp_paused and not self.stop.is_set():
                self.tcp_gate.wait(0.1)
            self.tcp_in_flight += 1
        try:
            yield
        finally:
            with self.tcp_gate:
                self.tcp_in_flight -= 1
                self.tcp_gate.notify_all()

    def tcp_short(self, src):
        n = 0
        while not self.stop.is_set():
            with self.new_descriptors():
                n += 1
                msg = b"%s short %d" % (src.encode(), n)
                try:
                    got = tcp_exchange("127.0.0.1", self.echo, msg, timeout=5 * SLOW, source=src)
                    if got != msg:
                        raise ValueError(f"got {got!r}")
                    self.count("tcp short")
                except (OSError, ValueError) as e:
                    self.fail(f"short tcp {src}: exchange {n}: {e!r}")
            time.sleep(0.02)

    def check_service(self, svc):
        """One honest request to each protocol of an optional service in force."""
        v6 = svc["host"] == "::1"
        dst = "::1" if v6 else "127.0.0.1"
        src = "::1" if v6 else self.rng.choice(HONEST)
        family = socket.AF_INET6 if v6 else socket.AF_INET
        handler, port = svc["handler"], svc["port"]
        what = f"{svc['name']} ({handler} {svc['protocol']} on {svc['host']!r})"
        if svc["protocol"] in ("tcp", "both"):
            try:
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(5 * SLOW)
                    s.bind((src, 0))
                    s.connect((dst, port))
                    if handler in ("echo", "discard"):
                        s.sendall(b"honest")
                        s.shutdown(socket.SHUT_WR)
                    want = {"echo": 6, "discard": 0, "chargen": 74, "time": 4}.get(handler)
                    got = b""
                    while want is None or len(got) < want or handler == "discard":
                        b = s.recv(4096)
                        if not b:
                            break
                        got += b
                ok = {"echo": got == b"honest", "discard": got == b"", "chargen": len(got) >= 74,
                      "time": len(got) == 4}.get(handler, got.endswith(b"\r\n"))
                if not ok:
                    raise ValueError(f"got {got[:60]!r}")
                self.count("after reload")
            except (OSError, ValueError) as e:
                errors = [l for l in self.daemon.output().splitlines()[-40:] if "error" in l]
                self.fail(f"tcp to {what}: {e!r}; minetd's last errors: {errors[-3:]}")
        if svc["protocol"] in ("udp", "both") and handler != "discard":
            with socket.socket(family, socket.SOCK_DGRAM) as u:
                u.settimeout(2 * SLOW)
                u.bind((src, 0))
                msg = b"h" * 600        # as large as any reply: no amplification
                try:
                    u.sendto(msg, (dst, port))
                    got = u.recv(2000)
                    if handler == "echo" and got != msg or not got:
                        raise ValueError(f"got {got[:60]!r}")
                    self.count("after reload")
                except (OSError, ValueError) as e:
                    self.fail(f"udp to {what}: {e!r}")

    def program_load(self, src):
        """Honest requests to a program, over TCP and UDP in turn: each answered."""
        n = 0
        while not self.stop.is_set():
            n += 1
            msg = b"%s program %d\n" % (src.encode(), n)
            with self.new_descriptors():
                self.program_request(src, n, msg)
            time.sleep(0.05)

    def program_request(self, src, n, msg):
        try:
            if n % 2:
                got = tcp_exchange("127.0.0.1", self.prog, msg, timeout=10 * SLOW, source=src)
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((src, 0))
                    u.settimeout(10 * SLOW)
                    u.sendto(msg, ("127.0.0.1", self.prog))
                    got = u.recv(2000)
            if got != msg:
                raise ValueError(f"got {got!r}")
            self.count("program udp" if n % 2 == 0 else "program tcp")
        except (OSError, ValueError) as e:
            self.fail(f"program {'tcp' if n % 2 else 'udp'} from {src}: request {n}: {e!r}")

    def wild_programs(self, src):
        """Programs asked to leave processes behind and to chatter, over TCP and UDP; the
        clients go away without waiting for them."""
        rng = random.Random(src + "wild")
        while not self.stop.is_set():
            what = rng.choice([b"fork\n", b"setsid\n", b"chatter\n", b"plain\n"])
            try:
                if rng.random() < 0.5:
                    with socket.create_connection(("127.0.0.1", self.wild), timeout=1,
                                                  source_address=(src, 0)) as s:
                        s.sendall(what)
                        time.sleep(rng.random() * 0.2)
                else:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                        u.bind((src, 0))
                        u.sendto(what, ("127.0.0.1", self.wild))
            except OSError:
                pass
            time.sleep(0.05)

    def left_running(self):
        """Processes of programs still there: the program's path is in their command line."""
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if self.program.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
        return found

    # the other clients

    def vanishing(self, src):
        """Clients that go away mid-way: resets, half-open, never reading."""
        rng = random.Random(src)
        while not self.stop.is_set():
            kind = rng.randrange(5)
            port = rng.choice([self.echo] + self.slots)
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(1)
                s.bind((src, 0))
                s.connect(("127.0.0.1", port))
                if kind >= 1:
                    s.send(b"v" * rng.randrange(1, 200000))
                if kind == 2:
                    s.shutdown(socket.SHUT_WR)          # half-open: never reads the echo
                if kind == 3:
                    s.recv(100)
                time.sleep(rng.random() * 0.05)
                if kind != 4:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))     # RST
                s.close()
            except OSError:
                s.close()
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((src, 0))
                    u.sendto(b"x" * rng.randrange(0, 1500), ("127.0.0.1", port))
            except OSError:
                pass
            time.sleep(0.005)

    @staticmethod
    def wait_for_fds(d, reached):
        """Whether minetd's descriptor count meets reached within a few seconds."""
        deadline = time.monotonic() + 5 * SLOW
        while not reached(d.fd_count()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def exhaust_descriptors(self, d):
        """Holds more connections than minetd has descriptors, then resets them all."""
        with self.tcp_gate:
            self.tcp_paused = True
            while self.tcp_in_flight:
                self.tcp_gate.wait(1)
        hogs = []
        try:
            for i in range(OPEN_FILES + 40):
                try:
                    hogs.append(socket.create_connection(("127.0.0.1", self.echo), timeout=2,
                                                         source_address=(f"127.0.0.{8 + i % 2}", 0)))
                except OSError:
                    break
            # Exhausted: clients hold every descriptor minetd lets them have, all but the
            # 32 it keeps for itself (minetd(8)). (Its refusals may be held back by the
            # log's rate limit.)
            # The count reaching the limit once is what counts: the vanishing clients'
            # connections come and go meanwhile, so a second look may find one fewer. The
            # honest UDP requests to programs go on too, and a program's pipes (three at
            # most) may hold the last places while the hogs are taken, and be gone by the
            # look: a few programs' worth less is the limit all the same (one exhaustion of
            # 59 in a 5-minute ASan run saw 217 of 224).
            slack = 3 * 4 if self.program else 0
            if not self.wait_for_fds(d, lambda n: n >= OPEN_FILES - RESERVED - slack):
                self.fail(f"{len(hogs)} connections did not exhaust minetd's {OPEN_FILES} descriptors "
                          f"(it has {d.fd_count()})")
            time.sleep(1.5)             # honest UDP and established TCP go on meanwhile
        finally:
            for s in hogs:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            # The exhaustion ends when minetd has closed the reset connections, not when the
            # client has: a connection before that may be refused, as minetd(8) says.
            if not self.wait_for_fds(d, lambda n: n < OPEN_FILES - 2 * RESERVED):
                self.fail(f"minetd still has {d.fd_count()} descriptors open after the reset of "
                          f"{len(hogs)} connections")
            with self.tcp_gate:
                self.tcp_paused = False
                self.tcp_gate.notify_all()
        return len(hogs)

    def run(self):
        first, self.in_force = self.valid_config()
        d = self.daemon = Daemon(first, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                             (OPEN_FILES, OPEN_FILES)))
        time.sleep(0.5)
        fds_at_start = d.fd_count()
        self.t0 = time.monotonic()
        threads = [threading.Thread(target=self.udp_load, args=(src,)) for src in HONEST]
        threads += [threading.Thread(target=self.tcp_persistent, args=(src, i)) for src in HONEST for i in range(2)]
        threads += [threading.Thread(target=self.tcp_short, args=(src,)) for src in HONEST]
        threads += [threading.Thread(target=self.vanishing, args=(src,)) for src in ["127.0.0.6", "127.0.0.7"]]
        if self.program:
            threads += [threading.Thread(target=self.program_load, args=(src,)) for src in HONEST[:2]]
            threads += [threading.Thread(target=self.wild_programs, args=(src,)) for src in ["127.0.0.6"]]
        for t in threads:
            t.start()
        reloads = {"valid": 0, "invalid": 0}
        hogged = []
        try:
            while time.monotonic() - self.t0 < SECONDS:
                for _ in range(8):
                    valid = self.rng.random() < 0.65
                    if valid:
                        text, optional = self.valid_config()
                        how = "valid"
                    else:
                        text, how = self.invalid_config(d.dir)
                    logged = len(d.output())
                    try:
                        line = d.reload(text)
                    except AssertionError as e:
                        raise AssertionError(f"reload {sum(reloads.values()) + 1} ({how}) did not end: "
                                             f"{str(e).splitlines()[0]}\n{text}\nfailures so far: {self.failures}")
                    reloads["valid" if valid else "invalid"] += 1
                    if valid and "not reloaded" in line:
                        why = [l for l in d.output()[logged:].splitlines() if "error" in l and "not reloaded" not in l]
                        self.fail(f"a valid config was not reloaded: {why[:2]}\n{text}")
                    elif valid:
                        self.in_force = optional
                    elif "not reloaded" not in line:
                        self.fail(f"an invalid config ({how}) was reloaded: {line}\n{text}")
                    for svc in self.in_force:
                        self.check_service(svc)
                    time.sleep(0.1)
                hogged.append(self.exhaust_descriptors(d))
        finally:
            self.stop.set()
            with self.tcp_gate:
                self.tcp_gate.notify_all()
            for t in threads:
                t.join(30)
        # Back to the first config: its sockets, no client left.
        line = d.reload(first)
        assert "not reloaded" not in line, line
        deadline = time.monotonic() + 10 * SLOW
        while d.fd_count() != fds_at_start and time.monotonic() < deadline:
            time.sleep(0.1)
        fds_at_end = d.fd_count()
        c = counters(d, "echo")
        left = []
        if self.program:
            # the wild programs end at their timeout, and what they left with them
            deadline = time.monotonic() + 10 * SLOW
            while (self.left_running() or programs_of(d)) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = self.left_running() + list(programs_of(d))
            for pid in self.left_running():
                os.kill(pid, 9)
            c["wild"] = counters(d, "wild")
        print(f"workers {self.workers}, seed {self.seed} (SOAK_SEED), {time.monotonic() - self.t0:.0f} s: reloads "
              f"{reloads}, descriptor exhaustions {len(hogged)} (hogs {hogged}), honest answers {self.answered}; "
              f"echo counters {c}")
        assert not self.failures, (f"{len(self.failures)} honest requests failed, the first at {self.failures[0]}\n" +
                                   "\n".join(self.failures))
        assert reloads["valid"] and reloads["invalid"] and hogged, (reloads, hogged)
        assert fds_at_end == fds_at_start, f"minetd has {fds_at_end} descriptors open after the load, {fds_at_start} at start"
        assert not left, f"processes of programs left running: {left}"


def soak(workers):
    if not PROGRAMS:
        print(f"note: '/' has mode {os.stat('/').st_mode & 0o777:o}: no program can run as nobody, the soak runs "
              "without programs")
    directory = tempfile.mkdtemp(prefix="minetd-soak-")
    os.chmod(directory, 0o755)
    try:
        Soak(workers, directory).run()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@test
def soak_one_event_loop():
    soak(1)


@test
def soak_two_event_loops():
    soak(2)


if __name__ == "__main__":
    run()
