#!/bin/sh
# Runs inside the booted container of exec.sh (helpers: tests/lib/inside.sh): the project's
# units in /lib/systemd/system, the binary at /usr/sbin/minetd, the helper at
# /usr/libexec/minetd/minetd-helper. Programs of exec services under the shipped units run
# as the user (and group) of their config line, root included, started by minetd-helper in a
# cgroup of their own below its unit, with the host's view: its network, /home, every file
# their user may write. minetd itself stays unprivileged in its sandbox.
#   hello    the seed's request and answer, TCP and UDP (its socket from a socket unit,
#            as minetd(8) shows; the others' from the config alone)
#   who-*    prints its uid, gid, groups, cgroup and whether it can read a file in alice's
#            home (mode 600)
#   store    writes files; fetch opens a connection of its own

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
bin=/usr/local/bin
add_minetd_user
# alice, with a home of her own (0700) and a secret in it (0600), in group project; group
# other is not hers.
groupadd project
groupadd other
useradd --create-home --home-dir /home/alice --groups project alice
chmod 700 /home/alice
echo "alice's secret" >/home/alice/secret
chown alice:alice /home/alice/secret
chmod 600 /home/alice/secret
mkdir -p $bin /var/lib/minetd-open
chmod 1777 /var/lib/minetd-open         # anyone may write here

cat >$bin/minetd-hello <<'SH'
#!/bin/sh
# Read a request, write an answer; say so on stderr.
read -r request
echo "hello from $REMOTE_ADDR: $request" >&2
echo "Hello, $request! uid $(id -u)"
SH
cat >$bin/minetd-whoami <<'SH'
#!/bin/sh
# Who runs this, where, and may it read alice's secret?
read -r request
if cat /home/alice/secret >/dev/null 2>&1; then home=readable; else home=unreadable; fi
echo "uid=$(id -u) gid=$(id -g) groups=$(id -G | tr ' ' '\n' | sort -n | paste -sd, -) home=$home"
echo "cgroup=$(sed -n 's/^0:://p' /proc/self/cgroup)"
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
chmod 755 $bin/minetd-hello $bin/minetd-whoami $bin/minetd-store $bin/minetd-fetch

cat >$conf <<'CONF'
services = (
  { name = "echo"; handler = "echo"; port = 5000; },
  { name = "hello"; handler = "exec"; port = 7000; user = "nobody";
    command = [ "/usr/local/bin/minetd-hello" ]; },
  { name = "who-alice"; handler = "exec"; port = 7010; protocol = "tcp"; user = "alice";
    command = [ "/usr/local/bin/minetd-whoami" ]; },
  { name = "who-alice-other"; handler = "exec"; port = 7011; protocol = "tcp"; user = "alice";
    group = "other"; command = [ "/usr/local/bin/minetd-whoami" ]; },
  { name = "who-nobody"; handler = "exec"; port = 7012; protocol = "tcp"; user = "nobody";
    group = "nogroup"; command = [ "/usr/local/bin/minetd-whoami" ]; },
  { name = "who-root"; handler = "exec"; port = 7013; protocol = "tcp"; user = "root";
    command = [ "/usr/local/bin/minetd-whoami" ]; },
  { name = "store"; handler = "exec"; port = 7001; protocol = "tcp"; user = "alice";
    command = [ "/usr/local/bin/minetd-store", "/var/lib/minetd-open/requests",
                "/home/alice/requests", "/etc/minetd/requests" ]; },
  { name = "fetch"; handler = "exec"; port = 7002; protocol = "tcp"; user = "nobody";
    command = [ "/usr/local/bin/minetd-fetch" ]; }
);
CONF
# The socket unit of minetd(8)'s PROGRAMS, for hello.
cat >/etc/systemd/system/minetd-hello.socket <<'UNIT'
[Socket]
ListenStream=7000
ListenDatagram=7000
FileDescriptorName=hello
Service=minetd.service

[Install]
WantedBy=sockets.target
UNIT
systemctl daemon-reload
check config-check /usr/sbin/minetd -t -c $conf
check enable-sockets systemctl enable --now minetd.socket minetd-hello.socket

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

# --- The seed's program, over TCP and UDP, as its configured user (nobody), not as minetd's.
c=$(cursor)
tcp=$(ask tcp 7000 tcp)
check service-active wait_for 5 sh -c '[ "$(systemctl is-active minetd.service)" = active ]'
pid=$(prop minetd.service MainPID)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
if [ -n "$uid" ] && [ "$uid" != 0 ] && [ "$uid" != 65534 ]; then
	pass "minetd-unprivileged (uid $uid)"
else
	fail minetd-unprivileged "uid '$uid'"
fi
expect minetd-no-capabilities 0000000000000000 "$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")"
expect hello-tcp "Hello, tcp! uid 65534" "$tcp"
expect hello-udp "Hello, udp! uid 65534" "$(ask udp 7000 udp)"

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

# --- Who runs the program: uid, gid and groups as configured (initgroups: the configured
# group and the user's supplementary groups, as getgrouplist(3) gives them), and alice's
# home as that user sees it; each in a cgroup below minetd-helper.service, not in
# minetd.service.
# who USER GROUP HOME: the first line minetd-whoami should print.
who() {
	python3 - "$@" <<'PY'
import grp, os, pwd, sys
user, group, home = sys.argv[1:]
pw = pwd.getpwnam(user)
gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
groups = ",".join(map(str, sorted(set(os.getgrouplist(user, gid)))))
print("uid=%d gid=%d groups=%s home=%s" % (pw.pw_uid, gid, groups, home))
PY
}
# asked NAME PORT USER GROUP HOME: the answer of the who-* service on PORT.
asked() {
	answer=$(ask tcp "$2" "")
	expect "$1" "$(who "$3" "$4" "$5")" "$(echo "$answer" | head -n 1)"
	case $(echo "$answer" | sed -n 's/^cgroup=//p') in
	/system.slice/minetd-helper.service/program-*) pass "$1-cgroup" ;;
	*) fail "$1-cgroup" "not below minetd-helper.service: $answer" ;;
	esac
}
asked program-as-user 7010 alice "" readable
asked program-as-user-group 7011 alice other readable
asked program-as-nobody 7012 nobody nogroup unreadable
asked program-as-root 7013 root "" readable

# --- The host's files and network, as their user may: alice writes in a directory open to
# all and in her home, not in /etc/minetd; fetch connects to the echo service on 5000 (it had
# no network in minetd.service's sandbox before issue 19).
expect store-as-user "stored in /var/lib/minetd-open/requests
stored in /home/alice/requests
cannot write /etc/minetd/requests" "$(ask tcp 7001 first)"
expect stored-file-owner "first alice" "$(cat /home/alice/requests 2>&1) $(stat -c %U /home/alice/requests 2>&1)"
expect fetch-host-network "echo said: ping" "$(ask tcp 7002 ping)"
finish
