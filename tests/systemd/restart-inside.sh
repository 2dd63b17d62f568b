#!/bin/sh
# Runs inside the booted container of restart.sh (helpers: tests/lib/inside.sh): the
# project's units in /lib/systemd/system, the binary at /usr/sbin/minetd.

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
restarted() {	# restarted CURSOR: the new minetd says it served the kept connections again
	journal_since "$1" -u minetd.service | grep -q 'connections served again after a restart'
}

check enable-sockets systemctl enable --now minetd.socket minetd-chargen.socket
check first-client client echo-tcp 5000
pid=$(prop minetd.service MainPID)

# --- systemctl restart: the connection of an echo client that sends before, while and
# after it gets every byte back, in order, from the next process.
c=$(cursor)
check restart-keeps-echo client echo-across 5000 systemctl restart minetd.service
new=$(prop minetd.service MainPID)
if [ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$pid" ]; then pass "restart-new-process ($pid -> $new)"
else fail restart-new-process "MainPID $pid, then $new"; fi
check restart-says-so restarted "$c"
check restart-udp-echo client echo-udp 5000

# --- chargen goes on where it was: its position travels in the state memfd.
check restart-keeps-chargen client chargen-across 19 systemctl restart minetd.service

# --- A socket added while minetd serves: systemd 252 starts a socket unit only while its
# service is not running, and `systemctl restart A B` is two transactions (a race); one
# restart transaction that wants the new socket orders the stop, the socket, the start.
add_daytime='systemctl enable minetd-daytime.socket &&
	systemctl add-wants --runtime minetd.service minetd-daytime.socket &&
	systemctl restart minetd.service &&
	rm /run/systemd/system/minetd.service.wants/minetd-daytime.socket && systemctl daemon-reload'
check add-socket-keeps-echo client echo-across 5000 sh -c "$add_daytime"
check add-socket-serves client daytime-tcp 13
check add-socket-serves-udp client daytime-udp 13
expect add-socket-runtime-want-gone "" "$(ls /run/systemd/system/minetd.service.wants 2>/dev/null)"

# --- A socket minetd bound itself (the drop-in of minetd.service's comment) is kept too,
# with its queue: a client that connects during the restart is served.
mkdir -p /etc/systemd/system/minetd.service.d
awk '/^#     / { if (!inside) block++; inside = 1; if (block == 1) print substr($0, 7); next }
	{ inside = 0 }' /lib/systemd/system/minetd.service >/etc/systemd/system/minetd.service.d/bind.conf
sed -i 's/^services = (/services = (\n  { name = "own"; handler = "echo"; port = 6010; },/' "$conf"
systemctl daemon-reload
check own-socket-start systemctl restart minetd.service
check own-socket-echo client echo-tcp 6010
check own-socket-kept client echo-across 6010 systemctl restart minetd.service
check own-socket-udp client echo-udp 6010

# --- An explicit stop ends the connections: the store is emptied, systemd closes them.
python3 - <<'PY' && pass stop-closes-clients || fail stop-closes-clients "the connection stayed open"
import socket, subprocess, sys
s = socket.create_connection(("127.0.0.1", 5000), timeout=10)
s.sendall(b"x"); s.recv(10)
subprocess.run(["systemctl", "stop", "minetd.service"], check=True)
s.settimeout(10)
try:
    sys.exit(0 if s.recv(10) == b"" else 1)
except ConnectionResetError:
    sys.exit(0)
PY
expect stop-result success "$(prop minetd.service Result)"
finish
