#!/bin/bash
# Runs inside the container that deb.sh boots (helpers: tests/lib/inside.sh), with the
# package in /minetd-deb and debian/tests in /minetd-autopkgtest. Installs the package as an
# admin would and checks what that gives: install, a well-known port in the config, upgrades
# that keep connections and programs, removal and reinstall, a port taken at install, and
# the autopkgtests, the last of which purges.

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
no_minetd_process() { ! pgrep -x minetd && ! pgrep -x minetd-helper; }
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

# --- Install: the package enables and starts minetd.service (every configured service
# listens after boot), minetd.socket (echo on 5000, and it starts minetd on demand) and
# minetd-helper.socket; the helper runs as root, minetd as the package's user _minetd.
# What it depends on beyond the host's packages: from the archive, as apt would bring it.
check deb-depends dpkg -i /minetd-deb/depends/*.deb
check deb-install dpkg -i "$deb"
check package-user getent passwd _minetd
# The preinst made /etc/inetd.conf for update-inetd (there was none): its groups, and the
# internal services commented out.
check inetd-conf-made grep -q '^#:INTERNAL: Internal services' /etc/inetd.conf
check inetd-conf-nothing-enabled eval "! grep -q '^[[:alnum:][/]' /etc/inetd.conf"
for unit in minetd.service minetd.socket minetd-helper.socket; do
	expect "$unit-enabled" enabled "$(systemctl is-enabled "$unit")"
done
check socket-listening wait_for 10 eval 'systemctl -q is-active minetd.socket && listening 5000'
check service-started wait_for 10 active minetd.service minetd-helper.socket
check helper-started wait_for 10 active minetd-helper.service
expect service-user _minetd "$(ps -o user= -p "$(prop minetd.service MainPID)" | tr -d ' ')"
expect helper-user root "$(ps -o user= -p "$(prop minetd-helper.service MainPID)" | tr -d ' ')"
expect units-shipped "minetd-helper.service minetd-helper.socket minetd.service minetd.socket" \
	"$(systemctl list-unit-files --no-legend 'minetd*' | awk '{ print $1 }' | sort | paste -sd' ')"
check tcp-echo client echo-tcp 5000
check udp-echo client echo-udp 5000
check journal wait_for 10 eval \
	'[ -n "$(journalctl -q -o cat --no-pager SYSLOG_IDENTIFIER=minetd _SYSTEMD_UNIT=minetd.service)" ]'

# --- A well-known port is a line of the config (the package ships no per-port socket
# units): daytime on 13, a reload, served. With chargen on 19 and a program (/bin/cat as
# nobody, 20 s at most) for the upgrade below.
conf=/etc/minetd/minetd.conf
cp "$conf" /run/minetd-shipped.conf
sed -i 's|^services = (|services = (\n  { name = "daytime"; handler = "daytime"; port = 13; },\n  { name = "chargen"; handler = "chargen"; port = 19; protocol = "tcp"; },\n  { name = "cat"; handler = "exec"; port = 7007; protocol = "tcp"; command = [ "/bin/cat" ]; user = "nobody"; timeout = 20; },|' "$conf"
check config-services-reload systemctl reload minetd.service
check config-daytime client within 1 daytime-tcp 13
check config-daytime-udp client daytime-udp 13
check config-chargen client wait-tcp 19 2

# --- Upgrade in place (the same package again takes the upgrade path): the sockets keep
# listening, the helper and then minetd are restarted, and connections made before keep
# going: echo (every byte sent before, during and after comes back, in order), chargen
# (one unbroken stream), and a program, which the new minetd still ends at its timeout
# (20 s after it started).
pid=$(prop minetd.service MainPID) helper=$(prop minetd-helper.service MainPID)
check upgrade-keeps-connection client echo-across 5000 dpkg -i "$deb"
check upgrade-restarts-minetd eval '[ "$(systemctl show -P MainPID minetd.service)" != "$pid" ] &&
	systemctl -q is-active minetd.service'
check upgrade-restarts-helper eval '[ "$(systemctl show -P MainPID minetd-helper.service)" != "$helper" ] &&
	systemctl -q is-active minetd-helper.service'
check upgrade-sockets-active active minetd.socket minetd-helper.socket
check upgrade-keeps-chargen client chargen-across 19 dpkg -i "$deb"
c=$(cursor)
check upgrade-keeps-program client echo-across-timeout 7007 20 dpkg -i "$deb"
check upgrade-program-runs-on eval "journal_since '$c' -u minetd.service | grep -q 'started before a restart, runs on'"
# ... and names its client, as minetd's journal does for every program.
check upgrade-program-runs-on-names-client eval \
	"journal_since '$c' -u minetd.service | grep 'started before a restart, runs on' | grep -q '127\.0\.0\.1'"
# Its end is logged (the restarted helper is no longer its parent: its exit status may be
# lost).
check upgrade-program-end-logged wait_for 3 eval \
	"journal_since '$c' -u minetd.service | grep -q -e 'killed by signal 15 at its timeout' -e 'ended, its exit status lost'"
check upgrade-echo client echo-tcp 5000
check upgrade-daytime client daytime-tcp 13

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
# A program running at the removal ends with minetd.
python3 -c 'import socket, time
s = socket.create_connection(("127.0.0.1", 7007)); time.sleep(600)' &
holder=$!
check program-running wait_for 5 pgrep -u nobody -x cat
check deb-remove dpkg --remove minetd
check remove-no-process wait_for 10 no_minetd_process
check remove-units-stopped inactive minetd.socket minetd-local.socket minetd.service \
	minetd-helper.socket minetd-helper.service
check remove-nothing-listens nothing_on 5000 13 19 7007 6100
check remove-ends-programs wait_for 5 eval '! pgrep -u nobody -x cat'
kill $holder 2>/dev/null
wait $holder 2>/dev/null
check remove-keeps-config test -f /etc/minetd/minetd.conf
check deb-reinstall dpkg -i "$deb"
check reinstall-starts-enabled active minetd.socket minetd.service minetd-helper.socket minetd-local.socket
check reinstall-echo client echo-tcp 5000
check reinstall-daytime client within 2 daytime-udp 13
check reinstall-admin-socket client echo-udp 6100
systemctl stop minetd.service
systemctl disable --now minetd-local.socket
rm /etc/systemd/system/minetd-local.socket
cp /run/minetd-shipped.conf "$conf"
systemctl daemon-reload

# --- Port 5000 taken at install: dpkg succeeds (see debian/minetd.postinst for why) and
# says which socket, which port and who holds it; freed, the socket starts as it says.
# A purge leaves an /etc/inetd.conf with an enabled line (for the next inetd) as it is.
printf 'ident\tstream\ttcp\tnowait\tnobody\t/bin/false\tfalse\n' >>/etc/inetd.conf
cp /etc/inetd.conf /run/inetd.conf.before
check purge-before-taken-port dpkg --purge minetd
check purge-keeps-enabled-inetd-conf cmp /run/inetd.conf.before /etc/inetd.conf
rm /etc/inetd.conf
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
advice='systemctl stop minetd.service && systemctl start minetd.socket minetd.service'
if echo "$out" | grep -qF "$advice"; then
	pass taken-port-says-what-to-do
else
	fail taken-port-says-what-to-do "no '$advice' in the output of dpkg -i"
fi
kill $holder
wait $holder 2>/dev/null
# Freed, minetd serves it by itself (the config's echo, bound through the helper), and
# what the message says works too.
check taken-port-freed-served-by-minetd client within 3 echo-tcp 5000
check taken-port-freed-advice-works sh -c "$advice"
check taken-port-freed-socket-listens systemctl -q is-active minetd.socket
check taken-port-freed-echo client within 2 echo-tcp 5000
# Whatever the above said, the autopkgtests below start from the package's units running.
systemctl stop minetd.service
systemctl reset-failed minetd.socket
systemctl start minetd.socket minetd.service

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
check after-purge-nothing-listens nothing_on 5000 13 19 7007

finish
