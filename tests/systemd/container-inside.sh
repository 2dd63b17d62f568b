#!/bin/sh
# Runs inside the booted container of container.sh, as a oneshot unit started
# at boot (helpers: tests/lib/inside.sh). The project's units are in
# /lib/systemd/system, the binary at /usr/sbin/minetd, the repo's config at
# /etc/minetd/minetd.conf. One PASS:/FAIL: line per check; the container exits
# with 0 or 1.

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
mkdir -p /run/minetd-test
cp "$conf" /run/minetd-test/shipped.conf
# minetd's records as KEY=value lines, from cursor $1 on.
minetd_journal() {
	c=$1
	shift
	journal_since "$c" -o verbose SYSLOG_IDENTIFIER=minetd "$@"
}

# --- As an admin would: enable the socket, nothing else.
check enable-socket systemctl enable --now minetd.socket
expect socket-listening active "$(systemctl is-active minetd.socket)"
check socket-bound-5000 sh -c "ss -Hltn 'sport = :5000' | grep -q . && ss -Hlun 'sport = :5000' | grep -q ."
expect service-inactive-before-client inactive "$(systemctl is-active minetd.service)"

# --- First clients start the service.
start_cursor=$(cursor)
check tcp-echo-5000 client echo-tcp 5000
check udp-echo-5000 client echo-udp 5000
check service-active wait_for 5 sh -c '[ "$(systemctl is-active minetd.service)" = active ]'
status=$(prop minetd.service StatusText)
if [ -n "$status" ]; then pass "status-text ($status)"; else fail status-text "StatusText is empty"; fi

pid=$(prop minetd.service MainPID)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
if [ -n "$uid" ] && [ "$uid" != 0 ]; then
	pass "runs-unprivileged (uid $uid)"
else
	fail runs-unprivileged "MainPID '$pid' runs as uid '$uid'"
fi
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
expect no-capabilities 0000000000000000 "$capeff"

# --- Journal: structured records from minetd.
records=$(minetd_journal "$start_cursor")
if echo "$records" | grep -q '^ *SYSLOG_IDENTIFIER=minetd$'; then
	pass journal-identifier
else
	fail journal-identifier "no record with SYSLOG_IDENTIFIER=minetd"
fi
if journalctl --no-pager -o json SYSLOG_IDENTIFIER=minetd | grep -q '"_SYSTEMD_UNIT":"minetd.service"'; then
	pass journal-json-unit
else
	fail journal-json-unit "no JSON record of minetd with _SYSTEMD_UNIT=minetd.service"
fi

# --- Reload with a changed config: per-connection records appear, with the
# contract's fields, and the same process keeps serving.
sed -i 's/^log_connections *= *false;/log_connections = true;/' $conf
grep -q '^log_connections = true;' $conf ||
	printf 'log_connections = true;\n' >>$conf
check config-check /usr/sbin/minetd -t -c $conf
check reload systemctl reload minetd.service
expect reload-same-process "$pid" "$(prop minetd.service MainPID)"
reload_cursor=$(cursor)
check tcp-echo-after-reload client echo-tcp 5000
check udp-echo-after-reload client echo-udp 5000
expect active-after-reload active "$(systemctl is-active minetd.service)"
sleep 0.5
records=$(minetd_journal "$reload_cursor")
for field in MINETD_SERVICE=echo MINETD_PROTOCOL MINETD_PEER MINETD_BYTES_IN MINETD_BYTES_OUT; do
	if echo "$records" | grep -q "^ *$field"; then
		pass "journal-connection-$field"
	else
		fail "journal-connection-$field" "no connection record with $field after enabling log_connections"
	fi
done

# --- A config minetd refuses fails the reload itself (ExecReload= runs minetd -t
# first): a non-zero exit, "Reload failed" in systemd's log, the FILE:LINE: line
# of -t in the unit's journal, and the same process serving on.
cp "$conf" /run/minetd-test/good.conf
printf 'no_such_key = 1;\n' >>"$conf"
bad_line=$(wc -l <"$conf")
bad_cursor=$(cursor)
if systemctl reload minetd.service >/dev/null 2>&1; then
	fail bad-reload-fails "systemctl reload returned 0 with an unknown key in the config"
else
	pass bad-reload-fails
fi
log=$(journal_since "$bad_cursor" -u minetd.service)
if echo "$log" | grep -q '^Reload failed for minetd.service'; then
	pass bad-reload-systemd-says-failed
else
	fail bad-reload-systemd-says-failed "no 'Reload failed for minetd.service' in: $(echo "$log" | tr '\n' '|')"
fi
if echo "$log" | grep -q "^$conf:$bad_line: "; then
	pass "bad-reload-journal-names-line ($(echo "$log" | grep "^$conf:$bad_line: "))"
else
	fail bad-reload-journal-names-line "no '$conf:$bad_line: ' line in: $(echo "$log" | tr '\n' '|')"
fi
expect bad-reload-same-process "$pid active" \
	"$(prop minetd.service MainPID) $(systemctl is-active minetd.service)"
check tcp-echo-after-bad-reload client echo-tcp 5000
check udp-echo-after-bad-reload client echo-udp 5000
cp /run/minetd-test/good.conf "$conf"
check reload-after-fix systemctl reload minetd.service

# --- The watchdog: with WatchdogSec=2s minetd must ping, or be killed.
mkdir -p /etc/systemd/system/minetd.service.d
printf '[Service]\nWatchdogSec=2s\n' >/etc/systemd/system/minetd.service.d/watchdog.conf
systemctl daemon-reload
check restart-with-watchdog systemctl restart minetd.service
pid=$(prop minetd.service MainPID)
# STATUS= is refreshed every few seconds: it must change with traffic.
status=$(prop minetd.service StatusText)
client echo-tcp 5000 >/dev/null
client echo-udp 5000 >/dev/null
sleep 6
now=$(prop minetd.service StatusText)
if [ -n "$now" ] && [ "$now" != "$status" ]; then
	pass "status-text-live ($now)"
else
	fail status-text-live "StatusText still '$now' 6 s after traffic"
fi
expect watchdog-kept-alive "$pid active 0" \
	"$(prop minetd.service MainPID) $(systemctl is-active minetd.service) $(prop minetd.service NRestarts)"
rm -r /etc/systemd/system/minetd.service.d
systemctl daemon-reload

# --- A per-service socket while minetd runs, as the unit's comment says:
# stop the service, enable the socket; the next client starts minetd again.
check stop-for-new-socket systemctl stop minetd.service
# minetd-echo.socket adds port 7 under the name of minetd.socket's echo: one
# service, two sockets of each type.
check enable-daytime-echo-sockets systemctl enable --now minetd-daytime.socket minetd-echo.socket
check daytime-tcp-13 client daytime-tcp 13
check daytime-udp-13 client daytime-udp 13
check tcp-echo-7 client echo-tcp 7
check udp-echo-7 client echo-udp 7
check tcp-echo-5000-with-7 client echo-tcp 5000
check udp-echo-5000-with-7 client echo-udp 5000

# --- Every socket unit on its own: minetd.service requires none, so stopping,
# disabling or masking one never stops, restarts or breaks another. The config is
# the shipped one: its echo service left without a socket (port 5000 off) is that
# service's failure alone, and the other sockets are served.
check independent-stop systemctl stop minetd.service
systemctl disable --now minetd-echo.socket
check independent-start client daytime-tcp 13
pid=$(prop minetd.service MainPID)
check stop-5000 systemctl stop minetd.socket
expect stop-5000-keeps-service "$pid active" \
	"$(prop minetd.service MainPID) $(systemctl is-active minetd.service)"
check stop-5000-daytime-tcp client daytime-tcp 13
# minetd keeps what it was given until it restarts.
check restart-without-5000 systemctl restart minetd.service
check restart-without-5000-tcp-closed client refused-tcp 5000
check restart-without-5000-udp-closed client refused-udp 5000
check restart-without-5000-daytime-udp client daytime-udp 13

systemctl stop minetd.service
check disable-5000 systemctl disable minetd.socket
check disabled-5000-daytime-tcp client daytime-tcp 13
expect disabled-5000-stays-off inactive "$(systemctl is-active minetd.socket)"
check disabled-5000-tcp-closed client refused-tcp 5000

systemctl stop minetd.service
check mask-5000 systemctl mask minetd.socket
check masked-5000-daytime-tcp client daytime-tcp 13
check masked-5000-daytime-udp client daytime-udp 13
expect masked-5000-stays-off inactive "$(systemctl is-active minetd.socket)"
check masked-5000-tcp-closed client refused-tcp 5000
check masked-5000-udp-closed client refused-udp 5000

# The converse: port 5000 on, the well-known socket masked.
systemctl stop minetd.service
check unmask-5000 systemctl unmask minetd.socket
check enable-5000 systemctl enable --now minetd.socket
check mask-daytime systemctl mask --now minetd-daytime.socket
check masked-daytime-echo-tcp client echo-tcp 5000
check masked-daytime-echo-udp client echo-udp 5000
expect masked-daytime-stays-off inactive "$(systemctl is-active minetd-daytime.socket)"
check masked-daytime-tcp-closed client refused-tcp 13
check masked-daytime-udp-closed client refused-udp 13
systemctl unmask minetd-daytime.socket
cp /run/minetd-test/good.conf "$conf"

# --- Stop: a clean exit.
check stop systemctl stop minetd.service
expect stop-result success "$(prop minetd.service Result)"
expect stop-exit-status 0 "$(prop minetd.service ExecMainStatus)"
expect socket-still-listening active "$(systemctl is-active minetd.socket)"
check socket-reactivates client echo-tcp 5000

# --- A service with no socket unit cannot be bound under this hardening: that
# service's failure alone. minetd starts with the rest, says which one and why in
# the journal and in STATUS=, and no socket ends up failed.
systemctl stop minetd.service
sed -i 's/^services = (/services = (\n  { name = "unsocketed"; handler = "discard"; port = 6009; protocol = "tcp"; },/' \
	$conf
check config-check-unsocketed /usr/sbin/minetd -t -c $conf
fail_cursor=$(cursor)
systemctl start minetd.service >/dev/null 2>&1
wait_for 5 sh -c '[ "$(systemctl is-active minetd.service)" != activating ]'
expect unsocketed-service-alone-fails active "$(systemctl is-active minetd.service)"
msg=$(minetd_journal "$fail_cursor" -p err | grep '^ *MESSAGE=' | grep unsocketed | grep 6009 | head -n 1)
if [ -n "$msg" ]; then
	pass "unsocketed-service-reported (${msg#*MESSAGE=})"
else
	fail unsocketed-service-reported "no minetd error naming unsocketed and 6009: $(minetd_journal "$fail_cursor" | sed -n 's/^ *\(PRIORITY\|MESSAGE\)=//p' | tr '\n' '|')"
fi
status=$(systemctl show -p StatusText --value minetd.service)
case $status in *"not served: unsocketed"*) pass "unsocketed-in-status ($status)" ;;
*) fail unsocketed-in-status "StatusText: $status" ;; esac
check unsocketed-others-served client echo-tcp 5000
expect unsocketed-no-failed-socket "" "$(systemctl list-units --state=failed --plain --no-legend 'minetd*' | head -n 3)"

# --- The drop-ins that minetd.service's comment gives, read from the installed
# unit so that what runs is what the documentation says, let minetd bind its
# own sockets: the first for any port, the second added for ports below 1024.
# dropin N: the Nth block of lines indented "#     " in the comment.
dropin() {
	awk -v n="$1" '/^#     / { if (!inside) block++; inside = 1; if (block == n) print substr($0, 7); next }
		{ inside = 0 }' /lib/systemd/system/minetd.service
}
dropin_start() {	# dropin_start TEXT: install it as a drop-in, start the sockets and minetd
	mkdir -p /etc/systemd/system/minetd.service.d
	printf '%s\n' "$1" >/etc/systemd/system/minetd.service.d/bind.conf
	systemctl daemon-reload
	systemctl reset-failed minetd.service minetd.socket
	systemctl start minetd.socket
	systemctl restart minetd.service
}
# The service has settled: running, or given up.
settled() { case $(systemctl is-active minetd.service) in active | failed) true ;; *) false ;; esac; }
unprivileged=$(dropin 1)
privileged=$(dropin 2)
case $unprivileged in "[Service]"*PrivateNetwork=no*) pass drop-in-documented ;;
*) fail drop-in-documented "no drop-in block starting with [Service] in minetd.service's comment" ;; esac
case $privileged in *CAP_NET_BIND_SERVICE*) pass drop-in-low-ports-documented ;;
*) fail drop-in-low-ports-documented "no second block with CAP_NET_BIND_SERVICE in minetd.service's comment" ;; esac

check drop-in-start dropin_start "$unprivileged"
check drop-in-own-socket client wait-tcp 6009 5
check drop-in-own-socket-is-minetd sh -c "ss -Hltnp 'sport = :6009' | grep -q '\"minetd\"'"
check drop-in-inherited-too client echo-udp 5000

# A config service on port 7 (no socket unit has it: minetd-echo.socket is off).
systemctl stop minetd.service
sed -i 's/^services = (/services = (\n  { name = "lowecho"; handler = "echo"; port = 7; },/' "$conf"
check config-check-low-port /usr/sbin/minetd -t -c "$conf"
# Without PrivateUsers=no the capability is a private user namespace's: no use
# for binding in the host's network namespace (why the documentation has it). Where no
# user namespace can be made, the unit runs without one (inside.sh has said so).
if [ "$userns" = yes ]; then
	low_cursor=$(cursor)
	dropin_start "$unprivileged
$(echo "$privileged" | grep -v '^PrivateUsers=no$')" >/dev/null 2>&1
	wait_for 10 settled
	check drop-in-low-port-needs-private-users client refused-tcp 7
	if journal_since "$low_cursor" -u minetd.service | grep -q 'Permission denied'; then
		pass drop-in-low-port-permission-denied
	else
		fail drop-in-low-port-permission-denied "no 'Permission denied' from minetd.service without PrivateUsers=no"
	fi
fi
check drop-in-low-port-start dropin_start "$unprivileged
$privileged"
check drop-in-low-port-tcp client echo-tcp 7
check drop-in-low-port-udp client echo-udp 7
check drop-in-low-port-is-minetd sh -c "ss -Hltnp 'sport = :7' | grep -q '\"minetd\"'"
pid=$(prop minetd.service MainPID)
expect drop-in-low-port-only-capability 0000000000000400 \
	"$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
check drop-in-low-port-inherited-too client echo-tcp 5000

finish
