#!/bin/sh
# Runs inside the booted container of listen.sh (helpers: tests/lib/inside.sh), the tree
# installed as the package installs it: the config is what listens (issue 19).
#   1-2  a service added to minetd.conf on a port below 1024 answers within a second of
#        `systemctl reload minetd`, and is refused once removed and reloaded: with minetd
#        started by a client of minetd.socket, then started as a service;
#   3    the same for a service added while minetd is stopped, or before a restart;
#   4    an admin's own socket unit is served; disable --now or mask --now and a reload
#        close its port, a plain disable does not;
#   5    a config service whose socket unit stops is bound by the helper at the next reload;
#   6    the serving process: not root, no capability, exposure at most 0.5;
#   7    minetd-helper answers minetd.service only, and binds only what its config has, once.
# /minetd-helper-client.py is tests/systemd/helper-client.py, /minetd-privsep-layout the
# output of tests/systemd/privsep-layout.c.

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
add_minetd_user
# within SECONDS CHECK ARGS...: client.py's CHECK, until it passes, for SECONDS from now.
within() { client within "$@"; }
held_by() {	# held_by PROCESS PORT: a process named PROCESS holds a TCP socket listening on PORT
	ss -Hltnp "sport = :$2" | grep -q "\"$1\""
}
said() {	# said CURSOR TEXT: a line of minetd.service's journal since CURSOR has TEXT
	journal_since "$1" -u minetd.service | grep -F -- "$2"
}
not_said() { ! said "$@"; }

# add_remove NAME HANDLER PORT TCP-CHECK UDP-CHECK: service NAME added to the config, a
# reload, and the port answers within a second over TCP and UDP, from a socket minetd holds;
# removed, a reload, and it is refused; the same minetd process throughout, echo on 5000
# served.
add_remove() {
	_n=$1 _port=$3 _pid=$(prop minetd.service MainPID)
	check "$_n-closed-before" client refused-tcp "$_port"
	add_service "{ name = \"$1\"; handler = \"$2\"; port = $3; },"
	check "$_n-add-reload" systemctl reload minetd.service
	check "$_n-added-tcp-within-1s" within 1 "$4" "$_port"
	check "$_n-added-udp-within-1s" within 1 "$5" "$_port"
	check "$_n-added-socket-is-minetd" held_by minetd "$_port"
	remove_service "$_n"
	check "$_n-remove-reload" systemctl reload minetd.service
	check "$_n-removed-tcp-refused" within 2 refused-tcp "$_port"
	check "$_n-removed-udp-refused" within 2 refused-udp "$_port"
	check "$_n-echo-served" client echo-tcp 5000
	expect "$_n-same-process" "$_pid" "$(prop minetd.service MainPID)"
}

# --- 1. minetd started by the first client of minetd.socket (minetd.service neither enabled
# nor started).
check enable-socket systemctl enable --now minetd.socket
expect service-not-enabled disabled "$(systemctl is-enabled minetd.service)"
expect service-not-started inactive "$(systemctl is-active minetd.service)"
check first-client-starts-minetd client echo-tcp 5000
check socket-activated wait_for 5 systemctl -q is-active minetd.service
add_remove socket-activated-daytime daytime 13 daytime-tcp daytime-udp

# --- 2. minetd started as a service.
check stop-minetd systemctl stop minetd.service
check start-minetd systemctl start minetd.service
add_remove started-time time 37 time-tcp time-udp

# --- 3. A service added while minetd is stopped (the helper, idle for less than 30 s, still
# runs), then a start; another added before a restart. Each listens once minetd runs.
check stop-before-adding systemctl stop minetd.service
add_service '{ name = "stopped-discard"; handler = "discard"; port = 9; protocol = "tcp"; },'
check start-after-adding systemctl start minetd.service
check added-while-stopped-listens-at-start client wait-tcp 9 2
add_service '{ name = "restart-chargen"; handler = "chargen"; port = 19; protocol = "tcp"; },'
check restart-after-adding systemctl restart minetd.service
check added-before-restart-listens client wait-tcp 19 2
remove_service stopped-discard
remove_service restart-chargen
check reload-after-restart systemctl reload minetd.service

# --- 4. An admin's own socket unit, enabled while minetd is stopped, then minetd started:
# served (named after a handler, in no config line). A plain disable leaves PID 1 its
# socket: still served after a reload. disable --now, then a reload: closed.
admin_socket() {	# admin_socket DIR NAME PORT: DIR/minetd-NAME.socket
	mkdir -p "$1"
	printf '[Socket]\nListenStream=%s\nListenDatagram=%s\nFileDescriptorName=%s\nService=minetd.service\n\n[Install]\nWantedBy=sockets.target\n' \
		"$3" "$3" "$2" >"$1/minetd-$2.socket"
	systemctl daemon-reload
}
systemctl stop minetd.service
admin_socket /etc/systemd/system daytime 13
check admin-socket-enable systemctl enable --now minetd-daytime.socket
check admin-socket-start-minetd systemctl start minetd.service
check admin-socket-served-tcp client daytime-tcp 13
check admin-socket-served-udp client daytime-udp 13
check admin-socket-is-systemds held_by systemd 13
check plain-disable systemctl disable minetd-daytime.socket
expect plain-disable-socket-active active "$(systemctl is-active minetd-daytime.socket)"
check plain-disable-reload systemctl reload minetd.service
sleep 0.5
check plain-disable-served-tcp client daytime-tcp 13
check plain-disable-served-udp client daytime-udp 13
check re-enable systemctl enable minetd-daytime.socket
c=$(cursor)
check disable-now systemctl disable --now minetd-daytime.socket
check disable-now-reload systemctl reload minetd.service
check disable-now-closed-tcp within 2 refused-tcp 13
check disable-now-closed-udp within 2 refused-udp 13
check disable-now-says-so wait_for 2 said "$c" "its socket unit has stopped; closing it"
check disable-now-echo-served client echo-tcp 5000
# mask --now: the same (the unit in /usr/local/lib/systemd/system: systemctl mask refuses a
# unit whose file is in /etc/systemd/system).
systemctl stop minetd.service
mv /etc/systemd/system/minetd-daytime.socket /tmp/
admin_socket /usr/local/lib/systemd/system daytime 13
check mask-enable systemctl enable --now minetd-daytime.socket
check mask-start-minetd systemctl start minetd.service
check mask-served-before client daytime-tcp 13
check mask-now systemctl mask --now minetd-daytime.socket
check mask-now-reload systemctl reload minetd.service
check mask-now-closed-tcp within 2 refused-tcp 13
check mask-now-closed-udp within 2 refused-udp 13
check mask-now-echo-served client echo-tcp 5000
systemctl unmask minetd-daytime.socket
systemctl disable minetd-daytime.socket

# --- 5. A config service carried by an active socket unit is served from it; the unit
# stopped, the next reload serves the config's port from a socket of minetd's (the
# helper's) at once, with no failed bind on the way.
systemctl stop minetd.service
admin_socket /usr/local/lib/systemd/system time 37
add_service '{ name = "time"; handler = "time"; port = 37; },'
check unit-time-start systemctl start minetd-time.socket
check unit-time-start-minetd systemctl start minetd.service
check unit-time-served client time-tcp 37
check unit-time-is-systemds held_by systemd 37
c=$(cursor)
check unit-time-stop systemctl stop minetd-time.socket
check unit-time-stopped-reload systemctl reload minetd.service
check unit-stopped-config-port-tcp-within-1s within 1 time-tcp 37
check unit-stopped-config-port-udp-within-1s within 1 time-udp 37
check unit-stopped-config-port-is-minetd sh -c 'ss -Hltnp "sport = :37" | grep -q "\"minetd\"" &&
	! ss -Hltnp "sport = :37" | grep -q "\"systemd\""'
check unit-stopped-no-failed-bind not_said "$c" "Address already in use"
remove_service time
check unit-time-remove-reload systemctl reload minetd.service

# --- 6. The process that serves: not root, no capability, the unit's exposure as it runs.
pid=$(prop minetd.service MainPID)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
if [ -n "$uid" ] && [ "$uid" != 0 ]; then pass "serving-not-root (uid $uid)"; else fail serving-not-root "uid '$uid'"; fi
expect serving-no-capabilities "0000000000000000 0000000000000000" \
	"$(awk '/^CapEff:/ { e = $2 } /^CapPrm:/ { p = $2 } END { print e, p }' "/proc/$pid/status" 2>/dev/null)"
score=$(systemd-analyze security minetd.service 2>&1 | sed -n 's/.*Overall exposure level for minetd.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 0.5) }'; then
	pass "running-service-exposure ($score <= 0.5)"
else
	fail running-service-exposure "exposure '$score'"
fi

# --- 7. The helper's door. helper NAME ARGS...: helper-client.py's lines.
helper() { python3 /minetd-helper-client.py /minetd-privsep-layout /run/minetd/helper.sock "$@"; }
# spare: a config service whose socket comes from a socket unit on another port, so that
# nothing holds its configured port 6030 (the helper loaded it at the reload, before the
# socket unit started). daytime: bound by the helper for minetd. selfish: a program run as
# minetd's own user, which asks the helper for daytime's socket.
add_service '{ name = "spare"; handler = "echo"; port = 6030; protocol = "tcp"; },'
add_service '{ name = "daytime"; handler = "daytime"; port = 13; },'
add_service '{ name = "selfish"; handler = "exec"; port = 7050; protocol = "tcp"; user = "_minetd"; command = [ "/bin/sh", "-c", "read -r line; exec python3 /minetd-helper-client.py /minetd-privsep-layout /run/minetd/helper.sock bind:daytime:tcp" ]; },'
check door-reload systemctl reload minetd.service
check door-stop systemctl stop minetd.service
printf '[Socket]\nListenStream=6031\nFileDescriptorName=spare\nService=minetd.service\n' \
	>/etc/systemd/system/minetd-spare.socket
systemctl daemon-reload
check door-spare-socket systemctl start minetd-spare.socket
check door-start systemctl start minetd.service
check door-daytime-served client wait-tcp 13 5
check door-spare-served client echo-tcp 6031
check door-spare-port-free client refused-tcp 6030
pid=$(prop minetd.service MainPID)
c=$(cursor)
expect helper-refuses-root-outside-minetd CLOSED "$(helper bind:daytime:tcp 2>&1)"
expect helper-refuses-minetd-user-outside-minetd CLOSED \
	"$(setpriv --reuid=_minetd --regid=_minetd --clear-groups python3 /minetd-helper-client.py \
		/minetd-privsep-layout /run/minetd/helper.sock bind:daytime:tcp 2>&1)"
expect helper-refuses-other-user CLOSED \
	"$(setpriv --reuid=nobody --regid=nogroup --clear-groups python3 /minetd-helper-client.py \
		/minetd-privsep-layout /run/minetd/helper.sock bind:daytime:tcp 2>&1)"
answer=$(python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 7050), timeout=20)
s.sendall(b"go\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.decode(errors="replace").strip())
PY
)
expect helper-refuses-program-as-minetd-user CLOSED "$answer"
minetd_uid=$(id -u _minetd)
refusals=$(journal_since "$c" -u minetd-helper.service | grep 'refused a connection from pid')
for who in 0 "$minetd_uid" 65534; do
	if echo "$refusals" | grep -q "(uid $who): not a process of minetd.service"; then
		pass "helper-logs-refusal-uid-$who"
	else
		fail "helper-logs-refusal-uid-$who" "$(echo "$refusals" | tr '\n' '|')"
	fi
done
expect helper-logs-each-refusal 4 "$(echo "$refusals" | grep -c .)"

# From minetd.service: a process moved into its cgroup, as minetd's user.
out=$(helper --cgroup /sys/fs/cgroup/system.slice/minetd.service --user _minetd \
	bind:nosuch:tcp bind:spare:udp bind:daytime:tcp bind:spare:tcp bind:spare:tcp 2>&1)
echo "$out"
line() { echo "$out" | sed -n "$1p"; }
expect helper-refuses-unknown-service "ERROR ENOENT no service 'nosuch' over tcp in $conf" "$(line 1)"
expect helper-refuses-unconfigured-protocol "ERROR ENOENT no service 'spare' over udp in $conf" "$(line 2)"
case $(line 3) in "ERROR EADDRINUSE "*) pass "helper-refuses-bind-of-served-port ($(line 3))" ;;
*) fail helper-refuses-bind-of-served-port "got '$(line 3)'" ;; esac
case $(line 4) in "BOUND [::]:6030 listening "*) pass "helper-binds-for-minetd-service ($(line 4))" ;;
*) fail helper-binds-for-minetd-service "got '$(line 4)'" ;; esac
case $(line 5) in "ERROR EADDRINUSE "*) pass "helper-refuses-second-bind ($(line 5))" ;;
*) fail helper-refuses-second-bind "got '$(line 5)'" ;; esac
expect minetd-unharmed "$pid active" "$(prop minetd.service MainPID) $(systemctl is-active minetd.service)"
check minetd-unharmed-daytime client daytime-tcp 13
finish
