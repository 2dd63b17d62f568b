"""Logging: each connection's line (log_connections), and a log that never stalls the loop:
a stderr pipe that nobody reads, a journal that takes nothing; what is dropped is counted
and said, in order. A program's stderr in the log: test_programs.py."""
import os
import re
import shutil
import socket
import tempfile
import time

from harness import SLOW, Daemon, Skip, config_text, free_port, need_root, service, tcp_exchange, test, run

# A long service name makes each connection's line about 150 bytes: 3000 of them are more than
# the log queue (256 KiB) and the harness's pipe (4 KiB) hold together.
NAME = "echo-" + "x" * 59
EXCHANGES = 3000
PEER = re.compile(r"127\.0\.0\.1:(\d+)")


@test
def log_connections_logs_each_close():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port)], extra="log_connections = true;"))
    tcp_exchange("127.0.0.1", port, b"abc")
    out = d.wait_log("connection from 127.0.0.1")
    assert "3 bytes in, 3 out" in out, out


def config(port):
    return config_text([service(NAME, "echo", port, protocol="tcp")], extra="log_connections = true;")


def exchanges(port, n):
    """n echo exchanges, one after the other, each within a second; the clients' ports."""
    ports = []
    for i in range(n):
        data = b"%d\n" % i
        start = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1 * SLOW) as s:
                ports.append(s.getsockname()[1])
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := s.recv(100):
                    reply += chunk
        except OSError as e:
            raise AssertionError(f"exchange {i}: {e} (a blocked loop?)") from None
        took = time.monotonic() - start
        assert reply == data and took < 1 * SLOW, f"exchange {i}: {reply!r} after {took:.2f}s"
    return ports


def check_gap(logged, dropped, ports):
    """The messages logged are the first ones, in order, and the count of dropped ones is
    the rest: the queue takes nothing from its first drop until the writer has emptied it."""
    assert dropped > 0, "nothing was dropped: the test did not fill the queue"
    assert logged == ports[:len(logged)], "connection lines out of order or missing"
    assert len(logged) + dropped == len(ports), (len(logged), dropped, len(ports))


def stop_within_seconds(d, seconds):
    start = time.monotonic()
    rc = d.stop(timeout=seconds * SLOW)
    assert rc == 0, f"minetd exited with {rc}"
    return time.monotonic() - start


@test
def log_pipe_nobody_reads_never_blocks_the_loop():
    port = free_port()
    d = Daemon(config(port), stdio="pipe")
    ports = exchanges(port, EXCHANGES)
    out = d.wait_log(r"log messages dropped\n")      # reading the pipe lets the writer catch up
    lines = out[out.index("started"):].splitlines()[1:]
    notice = re.fullmatch(r"minetd: warning: (\d+) log messages dropped", lines[-1])
    assert notice, lines[-1]
    logged = lines[:-1]
    for line in logged:
        assert re.fullmatch(rf"minetd: info: {NAME}: connection from 127\.0\.0\.1:\d+ closed \([a-z ]+\): "
                            r"\d+ bytes in, \d+ out", line), line
    check_gap([int(PEER.search(line).group(1)) for line in logged], int(notice.group(1)), ports)
    # Once more without reading, and stop with the pipe full.
    exchanges(port, EXCHANGES)
    stop_within_seconds(d, 5)


def journal_fields(datagram):
    """The fields of a message in the journal's native protocol."""
    fields, i = {}, 0
    while i < len(datagram):
        end = datagram.index(b"\n", i)
        name, eq, value = datagram[i:end].partition(b"=")
        if eq:
            i = end + 1
        else:   # a value with newlines: its length in 64 bits, the bytes, a newline
            size = int.from_bytes(datagram[end + 1:end + 9], "little")
            value = datagram[end + 9:end + 9 + size]
            i = end + 9 + size + 1
        fields[name.decode()] = value.decode(errors="replace")
    return fields


def journal_until(sock, pattern, timeout=10):
    """Reads the journal's socket until a MESSAGE matches pattern; the messages read."""
    messages = []
    deadline = time.monotonic() + timeout * SLOW
    while not messages or not re.search(pattern, messages[-1].get("MESSAGE", "")):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            messages.append(journal_fields(sock.recv(1 << 16)))
        except socket.timeout:
            raise AssertionError(f"no '{pattern}' in the journal: {messages[-5:]}") from None
    return messages


# sd_journal_sendv() always sends to /run/systemd/journal/socket: a mount namespace of the
# daemon's own puts a socket of the test there, which it reads only when it chooses.
JOURNAL_AT = ("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && : >/run/systemd/journal/socket"
              ' && mount --bind "$0" /run/systemd/journal/socket && exec "$@"')


@test
def journal_that_reads_nothing_never_blocks_the_loop():
    need_root("a journal socket in a mount namespace")
    if not shutil.which("unshare"):
        raise Skip("no unshare (util-linux)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journal:
        path = os.path.join(tmp, "journal.socket")
        journal.bind(path)
        os.chmod(path, 0o777)           # as journald's: minetd gives root up
        d = Daemon(config(port), args=("-l", "journal"), wait=False,
                   launcher=("unshare", "-m", "sh", "-c", JOURNAL_AT, path))
        journal_until(journal, "started")
        ports = exchanges(port, EXCHANGES)
        messages = journal_until(journal, "log messages dropped")
        notice, logged = messages[-1], messages[:-1]
        assert notice["PRIORITY"] == "4" and notice["SYSLOG_IDENTIFIER"] == "minetd", notice
        assert notice["CODE_FILE"].endswith("log.c") and notice["CODE_FUNC"] and notice["CODE_LINE"], notice
        for m in logged:
            assert m["MINETD_SERVICE"] == NAME and m["MINETD_PROTOCOL"] == "tcp" and m["PRIORITY"] == "6", m
            assert m["MINETD_BYTES_IN"] == m["MINETD_BYTES_OUT"] and int(m["MINETD_DURATION_USEC"]) >= 0, m
            assert m["CODE_FUNC"] == "conn_log_end" and m["MESSAGE"].startswith(f"{NAME}: connection from"), m
            assert m["SYSLOG_IDENTIFIER"] == "minetd" and "MINETD_REASON" in m, m
        dropped = int(re.match(r"\d+", notice["MESSAGE"]).group())
        check_gap([int(PEER.fullmatch(m["MINETD_PEER"]).group(1)) for m in logged], dropped, ports)
        # Once more without reading, and stop with the socket full.
        exchanges(port, EXCHANGES)
        stop_within_seconds(d, 5)


if __name__ == "__main__":
    run()
