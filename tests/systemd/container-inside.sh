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

# --- Stop: a clean exit.
check stop systemctl stop minetd.service
expect stop-result success "$(prop minetd.service Result)"
expect stop-exit-status 0 "$(prop minetd.service ExecMainStatus)"
expect socket-still-listening active "$(systemctl is-active minetd.socket)"
check socket-reactivates client echo-tcp 5000

# --- A service with no socket unit cannot be bound under this hardening:
# minetd must say which one and why, and fail rather than half-start.
systemctl stop minetd.service
sed -i 's/^services = (/services = (\n  { name = "unsocketed"; handler = "discard"; port = 6009; protocol = "tcp"; },/' \
	$conf
check config-check-unsocketed /usr/sbin/minetd -t -c $conf
fail_cursor=$(cursor)
systemctl start minetd.service >/dev/null 2>&1
wait_for 5 sh -c '[ "$(systemctl is-active minetd.service)" != activating ]'
expect unsocketed-service-fails failed "$(systemctl is-active minetd.service)"
msg=$(minetd_journal "$fail_cursor" -p err | grep '^ *MESSAGE=' | grep unsocketed | grep 6009 | head -n 1)
if [ -n "$msg" ]; then
	pass "unsocketed-service-reported (${msg#*MESSAGE=})"
else
	fail unsocketed-service-reported "no minetd error naming unsocketed and 6009: $(minetd_journal "$fail_cursor" | sed -n 's/^ *\(PRIORITY\|MESSAGE\)=//p' | tr '\n' '|')"
fi

# --- The relaxing drop-in that minetd.service's comment documents lets
# minetd bind that service itself.
mkdir -p /etc/systemd/system/minetd.service.d
printf '%s\n' '[Service]' 'PrivateNetwork=no' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	'IPAddressDeny=' >/etc/systemd/system/minetd.service.d/bind.conf
systemctl daemon-reload
systemctl reset-failed minetd.service minetd.socket
check drop-in-start systemctl start minetd.socket minetd.service
check drop-in-own-socket client wait-tcp 6009 5
check drop-in-inherited-too client echo-udp 5000

finish
