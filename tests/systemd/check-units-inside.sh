#!/bin/sh
# Runs inside the booted container of check-units.sh (helpers: tests/lib/inside.sh):
# minetd -t warns when the socket units systemd will pass minetd.service and the config
# disagree, and about sockets minetd would close; it still exits 0 with "FILE: ok", and 1
# for a config it refuses. A service with no socket unit draws no word, whatever sandbox
# -t runs in: minetd-helper binds its sockets (issue 19). The project's units are in
# /lib/systemd/system, the binary at /usr/sbin/minetd.

. /minetd-lib/inside.sh

dir=/run/minetd-test
mkdir -p $dir
chmod 755 $dir
out=$dir/stdout err=$dir/stderr

# checked NAME CONF [PREFIX...]: runs PREFIX /usr/sbin/minetd -t -c CONF (PREFIX: systemd-run
# and its options, or nothing); PASS NAME-ok when it exits 0 with "CONF: ok". Its stderr
# stays in $err for the checks that follow.
checked() {
	_name=$1 _conf=$2
	shift 2
	"$@" /usr/sbin/minetd -t -c "$_conf" >$out 2>$err
	expect "$_name-ok" "0 $_conf: ok" "$? $(cat $out)"
}
# warns NAME TEXT...: PASS when one line of $err has every TEXT.
warns() {
	_name=$1
	shift
	_lines=$(cat $err)
	for _text in "$@"; do
		_lines=$(printf '%s\n' "$_lines" | grep -F -- "$_text")
	done
	if [ -n "$_lines" ]; then
		pass "$_name ($(printf '%s\n' "$_lines" | head -n 1))"
	else
		fail "$_name" "no line with '$*' in: $(tr '\n' '|' <$err)"
	fi
}
# warnings NAME N: PASS when $err has N lines.
warnings() { expect "$1" "$2" "$(grep -c . $err)"; }
# socket_unit NAME FDNAME LISTEN...: writes and starts /etc/systemd/system/minetd-NAME.socket.
socket_unit() {
	_unit=/etc/systemd/system/minetd-$1.socket
	printf '[Socket]\nFileDescriptorName=%s\nService=minetd.service\n' "$2" >$_unit
	shift 2
	printf '%s\n' "$@" >>$_unit
	systemctl daemon-reload
	systemctl start "${_unit##*/}"
}
# The sandbox of minetd.service for -t: the options that stop minetd binding a socket itself,
# and a static user, since dbus-daemon drops a DynamicUser= client (systemd issue 22737).
# Without user namespaces (inside.sh has said so) PrivateUsers= cannot be.
sandbox="systemd-run -q --wait --pipe -p User=nobody -p PrivateUsers=$userns"
hardened="$sandbox -p PrivateNetwork=yes -p RestrictAddressFamilies=AF_UNIX"

check enable-minetd-socket systemctl enable --now minetd.socket

# --- (1) A config port that differs from the socket unit of that name: both named.
cat >$dir/six.conf <<'EOF'
services = (
  { name = "echo"; handler = "echo"; port = 5000; },
  { name = "six"; handler = "echo"; port = 6000; protocol = "tcp"; }
);
EOF
checked agreeing $dir/six.conf
warnings agreeing-says-nothing 0
socket_unit six six ListenStream=6001
checked port-differs $dir/six.conf
warns port-differs-names-both "$dir/six.conf:3: warning: service 'six'" "tcp *:6000" \
	"minetd-six.socket listens on [::]:6001"
warnings port-differs-one-line 1
systemctl stop minetd-six.socket

# --- (2) A service with no socket unit: minetd-helper binds it, so -t says nothing, in
# minetd.service's sandbox too (it warned "will not be served" before issue 19).
cat >$dir/seven.conf <<'EOF'
services = (
  { name = "echo"; handler = "echo"; port = 5000; },
  { name = "seven"; handler = "echo"; port = 6007; protocol = "tcp"; }
);
EOF
checked unsocketed-unrestricted $dir/seven.conf
warnings unsocketed-unrestricted-says-nothing 0
checked unsocketed-hardened $dir/seven.conf $hardened
warnings unsocketed-hardened-says-nothing 0
# A network of its own alone: seen as another user (the interfaces) and as root (PID 1's).
checked unsocketed-private-network $dir/seven.conf $sandbox -p PrivateNetwork=yes
warnings unsocketed-private-network-says-nothing 0
checked unsocketed-private-network-root $dir/seven.conf systemd-run -q --wait --pipe -p PrivateNetwork=yes
warnings unsocketed-private-network-root-says-nothing 0
# Enabled but not started: systemd has it, not listening, and would not pass it; the
# helper binds the port instead.
cat >/etc/systemd/system/minetd-seven-off.socket <<'EOF'
[Socket]
ListenStream=6007
FileDescriptorName=seven
Service=minetd.service
[Install]
WantedBy=sockets.target
EOF
check enable-idle-socket systemctl enable minetd-seven-off.socket
checked idle-socket-hardened $dir/seven.conf $hardened
warnings idle-socket-hardened-says-nothing 0
systemctl disable minetd-seven-off.socket
rm /etc/systemd/system/minetd-seven-off.socket
socket_unit seven seven ListenStream=6007
checked socketed-hardened $dir/seven.conf $hardened
warnings socketed-hardened-says-nothing 0

# --- (3) Sockets minetd would close: a name of no service or handler, a type the service
# does not serve. A socket named after a handler (an admin's own minetd-daytime.socket: the
# package ships none since issue 19) is served and needs no word.
systemctl stop minetd-seven.socket
socket_unit nothing nothing ListenStream=6002 ListenDatagram=6002
socket_unit six-udp six ListenDatagram=6000
socket_unit six six ListenStream=6000
socket_unit daytime daytime ListenStream=6013 ListenDatagram=6013
check handler-socket-active systemctl -q is-active minetd-daytime.socket
checked closed $dir/six.conf
warns closed-unknown-name-tcp "$dir/six.conf:0: warning: socket unit minetd-nothing.socket" \
	"passes a tcp socket named 'nothing' ([::]:6002)" "matches no service and no handler"
warns closed-unknown-name-udp "minetd-nothing.socket passes a udp socket named 'nothing' ([::]:6002)"
warns closed-udp-for-tcp-only "$dir/six.conf:3: warning: service 'six' serves no udp" \
	"socket unit minetd-six-udp.socket passes it a udp socket ([::]:6000)"
warnings closed-three-lines 3

# --- A config minetd refuses: 1, as before, under the sandbox too.
cp $dir/six.conf $dir/bad.conf
printf 'no_such_key = 1;\n' >>$dir/bad.conf
# refused NAME [PREFIX...]: PREFIX minetd -t of bad.conf exits 1, names the line, no "ok".
refused() {
	_name=$1
	shift
	"$@" /usr/sbin/minetd -t -c $dir/bad.conf >$out 2>$err
	expect "$_name-status" "1 " "$? $(cat $out)"
	warns "$_name-names-line" "$dir/bad.conf:5: "
}
refused bad-config
refused bad-config-hardened $hardened

# --- No bus to ask: no word, in minetd.service's sandbox too (before issue 19 it said that
# services without a socket unit would not be served). Then "ok".
checked no-bus $dir/seven.conf env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent
warnings no-bus-says-nothing 0
checked no-bus-hardened $dir/seven.conf $hardened -E DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent
warnings no-bus-hardened-says-nothing 0

# --- -t run by a service that socket units start (its ExecReload=) checks that service's
# sockets, not minetd.service's.
cat >/etc/systemd/system/minetd-alt.service <<EOF
[Service]
ExecStart=/bin/sleep infinity
ExecReload=/usr/sbin/minetd -t -c $dir/six.conf
User=nobody
EOF
printf '[Socket]\nListenStream=6020\nFileDescriptorName=alt-only\nService=minetd-alt.service\n' \
	>/etc/systemd/system/minetd-alt.socket
systemctl daemon-reload
systemctl start minetd-alt.socket
check alt-start systemctl start minetd-alt.service
c=$(cursor)
check alt-reload systemctl reload minetd-alt.service
journal_since "$c" -u minetd-alt.service >$err
warns alt-own-sockets "$dir/six.conf:0: warning: socket unit minetd-alt.socket" "named 'alt-only'"
if grep -q 'minetd-nothing.socket' $err; then
	fail alt-not-minetd-service "minetd.service's sockets checked: $(tr '\n' '|' <$err)"
else
	pass alt-not-minetd-service
fi
systemctl stop minetd-alt.service minetd-alt.socket

# --- The unit's own ExecReload= (the shipped minetd.service): its -t runs as root ("+"),
# so it asks systemd over the bus whatever minetd's user, and the journal of the unit names
# a socket unit that passes a service's socket elsewhere than the config says; the reload
# succeeds. First with a dynamic user (no _minetd: units installed by hand), then with the
# package's static _minetd.
conf=/etc/minetd/minetd.conf
cat >$conf <<'EOF'
services = (
  { name = "echo"; handler = "echo"; port = 5000; },
  { name = "six"; handler = "echo"; port = 6000; protocol = "tcp"; }
);
EOF
chmod 644 $conf
for sock in nothing six-udp six seven daytime; do
	systemctl stop minetd-$sock.socket
done
socket_unit six six ListenStream=6001
# reload_warns NAME: a reload of the running minetd.service names minetd-six.socket.
reload_warns() {
	c=$(cursor)
	check "$1" systemctl reload minetd.service
	journal_since "$c" -u minetd.service >$err
	warns "$1-names-socket" "$conf:3: warning: service 'six'" "tcp *:6000" "minetd-six.socket listens on [::]:6001"
	expect "$1-active" active "$(systemctl is-active minetd.service)"
}
# _minetd's GECOS; where NSS cannot say it (no libnss-systemd, as in a minimal root), "Dynamic
# User" when the main process's uid is one that systemd hands out (61184-65519).
dynamic_user() {
	_g=$(getent passwd _minetd | cut -d: -f5)
	[ -n "$_g" ] && { echo "$_g"; return; }
	_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$(systemctl show -P MainPID minetd.service)/status" 2>/dev/null)
	[ -n "$_uid" ] && [ "$_uid" -ge 61184 ] && [ "$_uid" -le 65519 ] && echo "Dynamic User"
}
check service-start-dynamic-user systemctl start minetd.service
expect service-dynamic-user "Dynamic User" "$(dynamic_user)"
reload_warns reload-dynamic-user
check service-stop systemctl stop minetd.service
# useradd refuses a name that a dynamic user of a running unit holds: added while stopped.
add_minetd_user
check service-start-static-user systemctl start minetd.service
expect service-static-user _minetd "$(ps -o user= -p "$(prop minetd.service MainPID)" | tr -d ' ')"
reload_warns reload-static-user
check served-from-socket-unit client echo-tcp 6001
check config-port-unbound client refused-tcp 6000

finish
