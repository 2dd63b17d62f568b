#!/bin/bash
# Runs inside the container that deb.sh boots (helpers: tests/lib/inside.sh), with the
# package in /minetd-deb and debian/tests in /minetd-autopkgtest. Installs the package as an
# admin would and checks what that gives: install, a well-known socket, an upgrade, removal
# and reinstall, a port taken at install, and the autopkgtests, the last of which purges.

. /minetd-lib/inside.sh

deb=$(echo /minetd-deb/minetd_*.deb)
listening() {	# listening PORT: TCP and UDP sockets on PORT
	ss -Hltn "sport = :$1" | grep -q . && ss -Hlun "sport = :$1" | grep -q .
}
nothing_on() {	# nothing_on PORT...: no socket listens on any of them
	for port in "$@"; do
		! ss -Hltun "sport = :$port" | grep . || return 1
	done
}
no_minetd_process() { ! pgrep -x minetd; }
# active UNIT...: each of them is active (for a FAIL line that says which is not).
active() {
	for unit in "$@"; do
		[ "$(systemctl is-active "$unit")" = active ] || { echo "$unit: $(systemctl is-active "$unit")"; return 1; }
	done
}
inactive() {
	for unit in "$@"; do
		! systemctl -q is-active "$unit" || { echo "$unit is active"; return 1; }
	done
}

# A Docker-style policy-rc.d (exit 101) would stop dpkg from starting anything: not what an
# admin's machine has. This is the container's copy-on-write /usr.
rm -f /usr/sbin/policy-rc.d

# --- Install: minetd.socket listens, the daemon waits for its first client.
check deb-install dpkg -i "$deb"
expect socket-enabled enabled "$(systemctl is-enabled minetd.socket)"
check socket-listening wait_for 10 eval 'systemctl -q is-active minetd.socket && listening 5000'
expect service-idle inactive "$(systemctl is-active minetd.service)"
expect service-static static "$(systemctl is-enabled minetd.service)"
for s in echo discard chargen qotd daytime time; do
	expect "socket-$s-not-enabled" disabled "$(systemctl is-enabled "minetd-$s.socket")"
done
check tcp-echo client echo-tcp 5000
check udp-echo client echo-udp 5000
check service-active wait_for 10 systemctl -q is-active minetd.service
check journal wait_for 10 eval \
	'[ -n "$(journalctl -q -o cat --no-pager SYSLOG_IDENTIFIER=minetd _SYSTEMD_UNIT=minetd.service)" ]'

# --- A well-known socket, as minetd(8) says: stop the service, enable the socket.
systemctl stop minetd.service
check per-service-socket systemctl enable --now minetd-daytime.socket
check per-service-socket-daytime client daytime-tcp 13

# --- Upgrade in place (the same package again takes the upgrade path): the sockets keep
# listening, the running minetd is restarted, and a client connected meanwhile keeps its
# connection (every byte sent before, during and after comes back, in order). A socket
# enabled but not listening (systemd starts none while minetd runs) is started by the same
# restart.
check enable-time-not-started systemctl enable minetd-time.socket
pid=$(prop minetd.service MainPID)
check upgrade-keeps-connection client echo-across 5000 dpkg -i "$deb"
check upgrade-restarts-minetd eval '[ "$(systemctl show -P MainPID minetd.service)" != "$pid" ] &&
	systemctl -q is-active minetd.service'
check upgrade-sockets-active active minetd.socket minetd-daytime.socket minetd-time.socket
expect upgrade-runtime-want-gone "" "$(ls /run/systemd/system/minetd.service.wants 2>/dev/null)"
check upgrade-echo client echo-tcp 5000
check upgrade-daytime client daytime-tcp 13
check upgrade-time client time-tcp 37

# --- The package's system user lets the check before a reload (ExecReload's minetd -t)
# ask systemd which sockets it passes: a service no socket unit passes is named then.
check package-user getent passwd _minetd
expect service-user _minetd "$(ps -o user= -p "$(prop minetd.service MainPID)" | tr -d ' ')"
conf=/etc/minetd/minetd.conf
cp "$conf" /run/minetd-good.conf
sed -i 's/^services = (/services = (\n  { name = "unsocketed"; handler = "discard"; port = 6011; protocol = "tcp"; },/' "$conf"
c=$(cursor)
check reload-with-unsocketed systemctl reload minetd.service
if journal_since "$c" -u minetd.service | grep -q "warning: service 'unsocketed' (tcp .*) will not be served"; then
	pass reload-check-names-unsocketed
else
	fail reload-check-names-unsocketed "$(journal_since "$c" -u minetd.service | tr '\n' '|')"
fi
cp /run/minetd-good.conf "$conf"
check reload-back systemctl reload minetd.service

# --- Remove and reinstall, with an admin's own socket beside the package's: removal
# stops every one of them and minetd; the reinstall starts every one still enabled.
cat >/etc/systemd/system/minetd-local.socket <<'EOF'
[Socket]
ListenStream=6100
ListenDatagram=6100
FileDescriptorName=echo
Service=minetd.service

[Install]
WantedBy=sockets.target
EOF
systemctl daemon-reload
systemctl stop minetd.service
check admin-socket systemctl enable --now minetd-local.socket
check admin-socket-echo client echo-tcp 6100
check deb-remove dpkg --remove minetd
check remove-no-process wait_for 10 no_minetd_process
check remove-units-stopped inactive minetd.socket minetd-daytime.socket minetd-time.socket \
	minetd-local.socket minetd.service
check remove-nothing-listens nothing_on 5000 13 37 6100
check remove-keeps-config test -f /etc/minetd/minetd.conf
check deb-reinstall dpkg -i "$deb"
check reinstall-starts-enabled active minetd.socket minetd-daytime.socket minetd-time.socket \
	minetd-local.socket
check reinstall-echo client echo-tcp 5000
check reinstall-daytime client daytime-udp 13
check reinstall-time client time-tcp 37
check reinstall-admin-socket client echo-udp 6100
systemctl stop minetd.service
systemctl disable --now minetd-local.socket minetd-daytime.socket minetd-time.socket
rm /etc/systemd/system/minetd-local.socket
systemctl daemon-reload

# --- Port 5000 taken at install: dpkg succeeds (see debian/minetd.postinst for why) and
# says which socket, which port and who holds it; freed, the socket starts as it says.
check purge-before-taken-port dpkg --purge minetd
python3 -c 'import socket, time
s = socket.socket(socket.AF_INET6)
s.bind(("::", 5000)); s.listen(); time.sleep(600)' &
holder=$!
wait_for 5 eval 'ss -Hltn "sport = :5000" | grep -q .'
out=$(dpkg -i "$deb" 2>&1)
rc=$?
echo "$out"
expect taken-port-install-succeeds 0 "$rc"
expect taken-port-installed "install ok installed" "$(dpkg-query -W -f='${Status}' minetd)"
if echo "$out" | grep -q '^minetd: minetd.socket could not listen on port 5000 (in use by python3 (pid '"$holder"'))'; then
	pass taken-port-message
else
	fail taken-port-message "no 'minetd: minetd.socket could not listen on port 5000 (in use by python3 (pid $holder))' in: $(echo "$out" | tr '\n' '|')"
fi
if echo "$out" | grep -q 'systemctl start minetd.socket'; then
	pass taken-port-says-what-to-do
else
	fail taken-port-says-what-to-do "no 'systemctl start minetd.socket' in the output of dpkg -i"
fi
kill $holder
wait $holder 2>/dev/null
check taken-port-freed systemctl start minetd.socket
check taken-port-freed-echo client echo-tcp 5000

# --- The package's autopkgtests, in the order of debian/tests/control, as autopkgtest
# runs them (needs-root, in a container); the last one purges.
for t in $(sed -n 's/^Tests: *//p' /minetd-autopkgtest/control | tr ', ' '\n\n'); do
	if /minetd-autopkgtest/"$t" >/minetd-out/autopkgtest-"$t".log 2>&1; then
		pass "autopkgtest-$t"
	else
		fail "autopkgtest-$t" "$(tail -n 3 /minetd-out/autopkgtest-"$t".log | tr '\n' ' ')"
	fi
	sed "s/^/autopkgtest $t: /" /minetd-out/autopkgtest-"$t".log
done
check after-purge-no-process no_minetd_process
check after-purge-nothing-listens nothing_on 5000 13 37

finish
