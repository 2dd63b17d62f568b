"""Access lists: the global and the per-service deny and allow lists, by address and
prefix, IPv4 and IPv6, over TCP and UDP, counted as refused. A reload that denies a client
with a connection open: test_reload.py."""
import socket

from harness import Daemon, config_text, connect_from, counters, free_port, service, tcp_exchange, test, udp_no_reply, run


@test
def access_lists_global_and_per_service_v4_and_v6():
    p1, p2 = free_port(), free_port("::1")
    d = Daemon(config_text([
        service("open", "echo", p1, host="127.0.0.1"),
        service("v6", "echo", p2, host="::1", deny=["::1/128"]),
    ], extra='deny = [ "127.0.0.2" ];\n'), )
    assert tcp_exchange("127.0.0.1", p1, b"ok") == b"ok"
    s = connect_from("127.0.0.2", p1)
    assert s.recv(1) == b""
    s.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.2", 0))
        u.settimeout(0.5)
        u.sendto(b"x", ("127.0.0.1", p1))
        try:
            raise AssertionError(u.recv(10))
        except socket.timeout:
            pass
    with socket.create_connection(("::1", p2)) as s:
        assert s.recv(1) == b""
    udp_no_reply("::1", p2, b"x")
    c = counters(d, "open")
    assert c["tcp_refused"] == 1 and c["udp_refused"] == 1, c


@test
def allow_list_admits_only_its_prefixes():
    port = free_port()
    d = Daemon(config_text([service("echo", "echo", port, allow=["127.0.3.0/24", "::1"])]))
    s = connect_from("127.0.3.77", port)
    s.sendall(b"y")
    assert s.recv(1) == b"y"
    s.close()
    s = connect_from("127.0.4.1", port)
    assert s.recv(1) == b""
    s.close()


if __name__ == "__main__":
    run()
