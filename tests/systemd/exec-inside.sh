#!/bin/sh
# Runs inside the booted container of exec.sh (helpers: tests/lib/inside.sh): the project's
# units in /lib/systemd/system, the binary at /usr/sbin/minetd, minetd(8) at /minetd.8.
# Three exec services, each with a socket unit written here as minetd(8) shows: hello (the
# seed's request and answer, TCP and UDP), store (writes a file) and fetch (opens a
# connection of its own), first under the shipped unit, then with the drop-in of minetd(8).

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
bin=/usr/local/bin
mkdir -p $bin /var/lib/minetd-open
chmod 1777 /var/lib/minetd-open         # anyone may write here, but for the sandbox

cat >$bin/minetd-hello <<'SH'
#!/bin/sh
# Read a request, write an answer; say so on stderr.
read -r request
echo "hello from $REMOTE_ADDR: $request" >&2
echo "Hello, $request! uid $(id -u)"
SH
cat >$bin/minetd-store <<'SH'
#!/bin/sh
# Appends the request to each file named, and says how it went.
read -r request
for file in "$@"; do
	if echo "$request" >>"$file" 2>/dev/null; then
		echo "stored in $file"
	else
		echo "cannot write $file"
	fi
done
SH
cat >$bin/minetd-fetch <<'SH'
#!/usr/bin/python3
# A connection of its own: asks minetd's echo service on port 5000.
import socket, sys
request = sys.stdin.readline().strip()
try:
    with socket.create_connection(("127.0.0.1", 5000), timeout=5) as s:
        s.sendall(request.encode())
        s.shutdown(socket.SHUT_WR)
        print("echo said:", s.recv(100).decode())
except OSError as e:
    print("no network:", e.strerror)
SH
chmod 755 $bin/minetd-hello $bin/minetd-store $bin/minetd-fetch

# 'user' as minetd(8) advises: not used under the unit (minetd is not root there), it lets
# root's minetd -t check the file.
cat >$conf <<'CONF'
services = (
  { name = "echo"; handler = "echo"; port = 5000; },
  { name = "hello"; handler = "exec"; port = 7000; user = "nobody";
    command = [ "/usr/local/bin/minetd-hello" ]; },
  { name = "store"; handler = "exec"; port = 7001; protocol = "tcp"; user = "nobody";
    command = [ "/usr/local/bin/minetd-store", "/var/lib/minetd-open/requests",
                "/var/lib/minetd/requests" ]; },
  { name = "fetch"; handler = "exec"; port = 7002; protocol = "tcp"; user = "nobody";
    command = [ "/usr/local/bin/minetd-fetch" ]; }
);
CONF
# The socket unit of minetd(8)'s PROGRAMS, one per service.
for svc in hello:7000 store:7001 fetch:7002; do
	name=${svc%:*} port=${svc#*:}
	datagram=
	[ "$name" = hello ] && datagram="ListenDatagram=$port"
	cat >/etc/systemd/system/minetd-$name.socket <<UNIT
[Socket]
ListenStream=$port
$datagram
FileDescriptorName=$name
Service=minetd.service

[Install]
WantedBy=sockets.target
UNIT
done
systemctl daemon-reload
check config-check /usr/sbin/minetd -t -c $conf
check enable-sockets systemctl enable --now minetd.socket minetd-hello.socket minetd-store.socket \
	minetd-fetch.socket

# ask tcp|udp PORT REQUEST: the answer, without its last newline.
ask() {
	python3 - "$@" <<'PY'
import socket, sys
proto, port, request = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode() + b"\n"
with socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM) as s:
    s.settimeout(10)
    if proto == "udp":
        s.sendto(request, ("127.0.0.1", port))
        answer = s.recv(65536)
    else:
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
print(answer.decode(errors="replace").rstrip("\n"))
PY
}

# --- The seed's program, over TCP and UDP, as the unit's own unprivileged user.
c=$(cursor)
tcp=$(ask tcp 7000 tcp)
check service-active wait_for 5 sh -c '[ "$(systemctl is-active minetd.service)" = active ]'
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$(prop minetd.service MainPID)/status")
if [ -n "$uid" ] && [ "$uid" != 0 ]; then
	pass "minetd-unprivileged (uid $uid)"
else
	fail minetd-unprivileged "uid '$uid'"
fi
expect hello-tcp "Hello, tcp! uid $uid" "$tcp"
expect hello-udp "Hello, udp! uid $uid" "$(ask udp 7000 udp)"

# --- Its stderr in the journal, with the service and the client.
sleep 0.5
records=$(journal_since "$c" -o verbose SYSLOG_IDENTIFIER=minetd MINETD_SERVICE=hello)
for proto in tcp udp; do
	record=$(echo "$records" | awk -v want="hello from 127.0.0.1: $proto" '
		/^[A-Z][a-z][a-z] / { if (found) exit; text = "" } { text = text $0 "\n" }
		index($0, want) { found = 1 } END { if (found) printf "%s", text }')
	if echo "$record" | grep -q '^ *MINETD_PEER=127\.0\.0\.1:[0-9]*$'; then
		pass "journal-stderr-$proto"
	else
		fail "journal-stderr-$proto" "no record with MINETD_PEER and the line: $(echo "$records" |
			tail -n 20 | tr '\n' ' ')"
	fi
done

# --- The sandbox: no writes outside what the unit allows, no network of its own.
expect store-sandboxed "cannot write /var/lib/minetd-open/requests
cannot write /var/lib/minetd/requests" "$(ask tcp 7001 first)"
expect fetch-sandboxed "no network: Address family not supported by protocol" "$(ask tcp 7002 ping)"

# --- minetd(8)'s drop-in for programs that need more, as the page has it.
mkdir -p /etc/systemd/system/minetd.service.d
dropin=/etc/systemd/system/minetd.service.d/programs.conf
awk '/minetd.service.d\/programs.conf/ { found = 1 } found && /^\.EE/ { exit } inside { print }
	found && /^\.EX/ { inside = 1 }' /minetd.8 | sed 's/\\-/-/g' >$dropin
check drop-in-from-man grep -qx StateDirectory=minetd $dropin
systemctl daemon-reload
check restart-with-drop-in systemctl restart minetd.service
expect store-with-drop-in "cannot write /var/lib/minetd-open/requests
stored in /var/lib/minetd/requests" "$(ask tcp 7001 second)"
expect stored-file second "$(cat /var/lib/minetd/requests 2>&1)"
expect fetch-with-drop-in "echo said: ping" "$(ask tcp 7002 ping)"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$(prop minetd.service MainPID)/status")
expect hello-with-drop-in "Hello, again! uid $uid" "$(ask tcp 7000 again)"
finish
