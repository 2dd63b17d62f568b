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
# As the package's postinst does, before minetd first starts.
add_minetd_user
# minetd's records as KEY=value lines, from cursor $1 on.
minetd_journal() {
	c=$1
	shift
	journal_since "$c" -o verbose SYSLOG_IDENTIFIER=minetd "$@"
}

# --- As an admin would: enable the socket, nothing else (minetd.service wants the
# helper's socket itself).
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
# minetd.service pulled in the helper's socket (Wants=), and the helper runs as root.
expect helper-socket-wanted active "$(systemctl is-active minetd-helper.socket)"
check helper-active wait_for 5 systemctl -q is-active minetd-helper.service
expect helper-root 0 "$(awk '/^Uid:/ { print $2 }' "/proc/$(prop minetd-helper.service MainPID)/status" 2>/dev/null)"

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

# --- An admin's own socket units (the package ships none but minetd.socket since issue 19),
# added as minetd(8) says: stop the service, enable the socket; the next client starts
# minetd again. minetd-echo7.socket adds port 7 under the name of minetd.socket's echo: one
# service, two sockets of each type; minetd-daytime.socket is named after a handler.
# In /usr/local/lib/systemd/system, where an admin's own units go: systemctl mask refuses a
# unit whose file is in /etc/systemd/system.
admin_socket() {	# admin_socket UNIT NAME PORT
	mkdir -p /usr/local/lib/systemd/system
	printf '[Socket]\nListenStream=%s\nListenDatagram=%s\nFileDescriptorName=%s\nService=minetd.service\n\n[Install]\nWantedBy=sockets.target\n' \
		"$3" "$3" "$2" >/usr/local/lib/systemd/system/"$1"
}
admin_socket minetd-daytime.socket daytime 13
admin_socket minetd-echo7.socket echo 7
systemctl daemon-reload
check stop-for-new-socket systemctl stop minetd.service
check enable-admin-sockets systemctl enable --now minetd-daytime.socket minetd-echo7.socket
check daytime-tcp-13 client daytime-tcp 13
check daytime-udp-13 client daytime-udp 13
check tcp-echo-7 client echo-tcp 7
check udp-echo-7 client echo-udp 7
check tcp-echo-5000-with-7 client echo-tcp 5000
check udp-echo-5000-with-7 client echo-udp 5000

# --- Every socket unit on its own: minetd.service requires none, so stopping, disabling or
# masking one never stops, restarts or breaks another. What listens is the config's: a
# service whose socket unit is gone is bound by the helper at the next reload, and a port
# goes off when its service leaves the config and no active socket unit carries it.
check independent-stop systemctl stop minetd.service
systemctl disable --now minetd-echo7.socket
check independent-start client daytime-tcp 13
pid=$(prop minetd.service MainPID)
check stop-5000 systemctl stop minetd.socket
expect stop-5000-keeps-service "$pid active" \
	"$(prop minetd.service MainPID) $(systemctl is-active minetd.service)"
check stop-5000-daytime-tcp client daytime-tcp 13
# The config still has echo on 5000: after a reload it is minetd's own socket (the helper's),
# no longer systemd's.
check stop-5000-reload systemctl reload minetd.service
check stop-5000-config-serves-tcp wait_for 5 client echo-tcp 5000
check stop-5000-config-serves-udp client echo-udp 5000
check stop-5000-socket-is-minetd sh -c "ss -Hltnp 'sport = :5000' | grep -q '\"minetd\"' &&
	! ss -Hltnp 'sport = :5000' | grep -q '\"systemd\"'"
# echo out of the config: port 5000 off; daytime, a handler's socket, stays.
cp /run/minetd-test/good.conf /run/minetd-test/with-echo.conf
remove_service echo
add_service '{ name = "other"; handler = "discard"; port = 6012; protocol = "tcp"; }'
check config-without-echo-reload systemctl reload minetd.service
check config-without-echo-tcp-closed wait_for 5 client refused-tcp 5000
check config-without-echo-udp-closed client refused-udp 5000
check config-without-echo-daytime client daytime-udp 13
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

# The converse: port 5000 on, the daytime socket masked (its port in no config line).
systemctl stop minetd.service
cp /run/minetd-test/with-echo.conf "$conf"
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

# --- A service with no socket unit, on a port above 1024 and one below: a reload opens both
# (minetd-helper binds them; before issue 19 it took drop-ins that gave minetd.service a
# network and a capability). minetd holds the sockets and keeps no privilege; nothing is
# reported as not served, and no unit failed.
pid=$(prop minetd.service MainPID)
add_service '{ name = "unsocketed"; handler = "discard"; port = 6009; protocol = "tcp"; },'
add_service '{ name = "lowecho"; handler = "echo"; port = 7; },'
check config-check-unsocketed /usr/sbin/minetd -t -c $conf
check reload-unsocketed systemctl reload minetd.service
check unsocketed-served client wait-tcp 6009 5
check unsocketed-socket-is-minetd sh -c "ss -Hltnp 'sport = :6009' | grep -q '\"minetd\"'"
check low-port-tcp client echo-tcp 7
check low-port-udp client echo-udp 7
check low-port-socket-is-minetd sh -c "ss -Hltnp 'sport = :7' | grep -q '\"minetd\"' &&
	ss -Hlunp 'sport = :7' | grep -q '\"minetd\"'"
expect low-port-same-process "$pid" "$(prop minetd.service MainPID)"
expect low-port-no-capability 0000000000000000 \
	"$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
status=$(prop minetd.service StatusText)
case $status in *"not served"*) fail unsocketed-not-reported-unserved "StatusText: $status" ;;
*) pass "unsocketed-not-reported-unserved ($status)" ;; esac
check unsocketed-others-served client echo-tcp 5000
expect unsocketed-no-failed-unit "" "$(systemctl list-units --state=failed --plain --no-legend 'minetd*' | head -n 3)"

finish
