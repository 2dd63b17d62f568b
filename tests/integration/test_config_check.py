"""Checking a config: minetd -t says "FILE: ok" or one "FILE:LINE: message" per problem and
exits 1, at once whatever the file is (a FIFO, a device, @include graphs that reach a file
again); every file of the bad corpus (tests/data/bad) is refused at its line; and the check
and the daemon agree: what -t refuses, the start refuses with the same words. (A reload
refuses it too: test_reload.py. What -t checks of handler exec's programs: test_programs.py.)"""
import glob
import os
import re
import signal
import socket
import subprocess

from harness import (MINETD, SLOW, TOP, WRAPPER, A_LINE, Daemon, TempDir, check_config, config_text,
                     conflict_message, free_port, line_of, pair_config, run_minetd, service, tcp_echo_ok, test,
                     udp_echo_ok, write_file, run)

# Within how many seconds -t must refuse any file, however it is made.
AT_ONCE = 2


def start_must_fail(path):
    """Starts minetd on a config it must refuse; returns its stderr. A daemon that starts
    anyway is stopped and reported."""
    proc = subprocess.Popen([*WRAPPER, MINETD, "-c", path, "-l", "stderr"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=5 * SLOW)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        raise AssertionError(f"minetd started instead of refusing {path}:\n{out[-2000:]}") from None
    assert proc.returncode == 1, f"minetd exited with {proc.returncode} on {path}:\n{out[-2000:]}"
    return out


@test
def check_accepts_the_default_config_and_names_the_line_of_every_bad_one():
    r = run_minetd("-t", "-c", os.path.join(TOP, "config/minetd.conf"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == os.path.join(TOP, "config/minetd.conf") + ": ok\n"
    bad = sorted(glob.glob(os.path.join(TOP, "tests/data/bad/*.conf")))
    assert len(bad) >= 25
    for path in bad:
        expect = open(path).readline()[len("# expect: "):].rstrip("\n")
        if "unresolvable" in path:
            # A name lookup would leave this machine: no network namespace, no check.
            if os.geteuid() != 0:
                continue
            r = subprocess.run(["unshare", "-n", MINETD, "-t", "-c", path], capture_output=True, text=True,
                               timeout=10)
        else:
            r = run_minetd("-t", "-c", path)
        assert r.returncode == 1, (path, r.returncode)
        assert f"{path}:{expect}" in r.stderr, (path, r.stderr)
        assert r.stdout == ""
    r = run_minetd("-t", "-c", "/nonexistent/minetd.conf")
    assert r.returncode == 1 and r.stderr.startswith("/nonexistent/minetd.conf:0: cannot read: No such file")


@test
def bad_config_at_start_exits_1():
    path = os.path.join(TOP, "tests/data/bad/unknown-handler.conf")
    r = run_minetd("-c", path, "-l", "stderr")
    assert r.returncode == 1
    assert f"{path}:3: unknown handler 'chargenx'" in r.stderr


# Conflicting binds are found by address, not by host string.

OVERLAPPING_HOSTS = [("127.0.0.1", "localhost"), ("127.0.0.1", "127.1"), ("::1", "0:0::1"), ("0.0.0.0", "127.0.0.1"),
                     ("::", "127.0.0.1"), ("*", "::1"), ("::ffff:127.0.0.1", "127.0.0.1")]
OVERLAPPING_PROTOCOLS = [("both", "both"), ("tcp", "tcp"), ("udp", "udp"), ("both", "udp"), ("tcp", "both")]


@test
def check_refuses_two_services_on_overlapping_addresses_however_spelt():
    """Two services on one port and protocol whose addresses overlap, however spelt."""
    port = free_port()
    problems, missed = [], {}
    with TempDir() as tmp:
        for host_a, host_b in OVERLAPPING_HOSTS:
            for proto_a, proto_b in OVERLAPPING_PROTOCOLS:
                text = pair_config(host_a, host_b, port, proto_a, proto_b)
                path = write_file(os.path.join(tmp, "pair.conf"), text)
                r = check_config(path, within=AT_ONCE)
                want = conflict_message(path, text, port)
                ok = r.returncode == 1 and want in r.stderr
                if host_a.startswith("::ffff:"):
                    # -t may refuse an IPv4-mapped host outright (as
                    # check_and_start_agree_on_an_ipv4_mapped_host allows): an error on its
                    # line is as good as the conflict.
                    ok = ok or (r.returncode == 1 and f"{path}:{line_of(text, A_LINE)}:" in r.stderr)
                if not ok:
                    missed.setdefault(f"{host_a!r}/{host_b!r}", []).append(f"{proto_a}/{proto_b}")
                    problems.append(f"{host_a!r}/{host_b!r} {proto_a}/{proto_b}: exit {r.returncode}, "
                                    f"{(r.stdout + r.stderr).strip()!r}")
    assert not problems, (f"{len(problems)} of {len(OVERLAPPING_HOSTS) * len(OVERLAPPING_PROTOCOLS)} overlapping "
                          "pairs pass -t: " + ", ".join(f"{k} ({' '.join(v)})" for k, v in missed.items()) +
                          "\n" + "\n".join(problems))


@test
def start_refuses_overlapping_addresses_with_one_or_two_loops():
    port = free_port()
    problems = []
    with TempDir() as tmp:
        for host_a, host_b, proto_a, proto_b, extra in [("127.0.0.1", "localhost", "both", "both", ""),
                                                        ("127.0.0.1", "localhost", "both", "both", "workers = 2;"),
                                                        ("127.0.0.1", "127.1", "tcp", "tcp", "workers = 2;"),
                                                        ("::", "127.0.0.1", "udp", "udp", "workers = 2;"),
                                                        ("0.0.0.0", "127.0.0.1", "tcp", "both", "")]:
            text = pair_config(host_a, host_b, port, proto_a, proto_b, extra)
            path = write_file(os.path.join(tmp, "pair.conf"), text)
            what = f"{host_a!r}/{host_b!r} {proto_a}/{proto_b}{' ' + extra if extra else ''}"
            try:
                out = start_must_fail(path)
            except AssertionError as e:
                problems.append(f"{what}: {str(e).splitlines()[0]}")
                continue
            if conflict_message(path, text, port) not in out:
                errors = [l for l in out.splitlines() if "error" in l]
                problems.append(f"{what}: exit 1 with {errors[:1]}, not the conflict")
    assert not problems, "; ".join(problems)


@test
def check_and_start_agree_on_an_ipv4_mapped_host():
    port = free_port()
    text = config_text([service("echo", "echo", port, host="::ffff:127.0.0.1")])
    with TempDir() as tmp:
        path = write_file(os.path.join(tmp, "mapped.conf"), text)
        r = check_config(path, within=AT_ONCE)
        if r.returncode == 1:
            out = start_must_fail(path)
            assert r.stderr.strip() in out, f"-t said {r.stderr!r}, the daemon:\n{out}"
            return
    assert r.returncode == 0, r
    try:
        Daemon(text)
    except AssertionError as e:
        errors = [l for l in str(e).splitlines() if "error" in l]
        raise AssertionError(f"-t accepts host '::ffff:127.0.0.1', the daemon does not: {errors}") from None
    tcp_echo_ok("127.0.0.1", port)
    udp_echo_ok("127.0.0.1", port)


# A FIFO or any other non-regular file as config, @include or quotes file.

def non_regular_files(tmp):
    """(what, path) of each kind of file that is not a regular one."""
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    sock_path = os.path.join(tmp, "socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(sock_path)       # the file stays after the socket is closed
    os.symlink("fifo", os.path.join(tmp, "fifo-link"))
    os.symlink("/dev/zero", os.path.join(tmp, "zero"))
    os.mkdir(os.path.join(tmp, "directory"))
    return [("a FIFO", "fifo"), ("/dev/zero", "zero"), ("a unix socket", "socket"), ("a symlink to a FIFO", "fifo-link"),
            ("a directory", "directory")]


@test
def check_refuses_non_regular_config_include_and_quotes_files_at_once():
    port = free_port()
    problems = []
    with TempDir() as tmp:
        for what, name in non_regular_files(tmp):
            why = "Is a directory" if name == "directory" else "not a regular file"
            full = os.path.join(tmp, name)
            cases = [("config file", full if name != "zero" else "/dev/zero", None)]
            text = ('host = "127.0.0.1";\n'
                    f'@include "{name}"\n'
                    f'services = ( {service("echo", "echo", port)} );\n')
            cases.append(("@include", write_file(os.path.join(tmp, "include.conf"), text), 2))
            text = config_text([service("qotd", "qotd", port, quotes=full)])
            cases.append(("quotes file", write_file(os.path.join(tmp, f"quotes-{name}.conf"), text),
                          line_of(text, "quotes =")))
            for role, path, line in cases:
                try:
                    r = check_config(path, within=AT_ONCE)
                except AssertionError as e:
                    problems.append(f"{what} as {role}: {e}")
                    continue
                where = f"{path}:0: cannot read: " if line is None else f"{path}:{line}: "
                if r.returncode != 1 or not any(l.startswith(where) and why in l for l in r.stderr.splitlines()):
                    problems.append(f"{what} as {role}: exit {r.returncode}, {r.stderr.strip()!r}, "
                                    f"wanted '{where}...{why}'")
    assert not problems, (f"{len(problems)} of 15 not refused at once: " +
                          ", ".join(p.split(":")[0] for p in problems) + "\n" + "\n".join(problems))


# @include graphs that reach one file several times.

@test
def check_refuses_include_graphs_reaching_a_file_again_at_once():
    port = free_port()
    body = config_text([service("echo", "echo", port)])
    problems = []
    with TempDir() as tmp:
        graphs = {}
        d = os.path.join(tmp, "self")
        os.mkdir(d)
        graphs["main file including itself 6 times"] = write_file(os.path.join(d, "main.conf"),
                                                               '@include "main.conf"\n' * 6 + body)
        d = os.path.join(tmp, "other-self")
        os.mkdir(d)
        write_file(os.path.join(d, "x.conf"), '@include "x.conf"\n' * 6)
        graphs["included file including itself 6 times"] = write_file(os.path.join(d, "main.conf"),
                                                                   '@include "x.conf"\n' + body)
        d = os.path.join(tmp, "diamonds")
        os.mkdir(d)
        for level in range(4):      # top -> b0, c0 -> d0 -> b1, c1 -> d1 ...
            write_file(os.path.join(d, f"b{level}.conf"), f'@include "d{level}.conf"\n')
            write_file(os.path.join(d, f"c{level}.conf"), f'@include "d{level}.conf"\n')
            write_file(os.path.join(d, f"d{level}.conf"),
                  f'@include "b{level + 1}.conf"\n@include "c{level + 1}.conf"\n' if level < 3 else "# end\n")
        graphs["diamonds a->b,c->d, 4 deep"] = write_file(os.path.join(d, "main.conf"),
                                                     '@include "b0.conf"\n@include "c0.conf"\n' + body)
        d = os.path.join(tmp, "cycle")
        os.mkdir(d)
        write_file(os.path.join(d, "a.conf"), '@include "b.conf"\n')
        write_file(os.path.join(d, "b.conf"), '@include "a.conf"\n')
        graphs["cycle a->b->a"] = write_file(os.path.join(d, "main.conf"), '@include "a.conf"\n' + body)
        for what, path in graphs.items():
            try:
                r = check_config(path, within=AT_ONCE)
            except AssertionError as e:
                problems.append(f"{what}: {e}")
                continue
            where = re.compile(re.escape(os.path.dirname(path)) + r"/[^:]+:[1-9]\d*: .*include", re.I)
            if r.returncode != 1 or not any(where.match(l) for l in r.stderr.splitlines()):
                problems.append(f"{what}: exit {r.returncode}, {(r.stdout + r.stderr).strip()[:300]!r}")
    assert not problems, ("; ".join(p.split(": ")[0] for p in problems) + ": not refused at once\n" +
                          "\n".join(problems))


if __name__ == "__main__":
    run()
