#!/bin/sh
# Static checks of the shipped systemd units: `systemd-analyze verify` prints
# nothing, the hardening score of minetd.service stays at or below 0.5 and that of
# minetd-helper.service at or below 7.5, minetd.service reaches its helper and ties itself
# to no listening socket, and each socket unit hands its service the socket name and port
# it documents.
#
# Prints PASS:/FAIL:/SKIP: lines; exits 0, 1 on any FAIL, 77 if all skipped.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
UNITS=$TOP/systemd
MAX_EXPOSURE=0.5
MAX_HELPER_EXPOSURE=7.5

failed=0 passed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP: $1: $2"; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip units "systemd-analyze not installed"
	exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# verify: a copy of the units whose Exec*= lines name an executable that
# exists here (the built binaries, or /bin/true before they are built), since
# verify checks the path and /usr/sbin/minetd and /usr/libexec/minetd/minetd-helper
# are only there once installed.
# The man pages of Documentation= come from the source tree through MANPATH,
# so verify checks those links too.
exe=$MINETD helper=$(dirname "$MINETD")/minetd-helper
[ -x "$exe" ] || exe=/bin/true
[ -x "$helper" ] || helper=/bin/true
mkdir -p "$tmp/units" "$tmp/man/man8" "$tmp/man/man5"
cp "$UNITS"/*.socket "$UNITS"/*.service "$tmp/units/"
# Exec lines may start with prefixes: ExecReload=+/usr/sbin/minetd.
sed -i -e "s|^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/sbin/minetd|\1$exe|" \
	-e "s|^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/libexec/minetd/minetd-helper|\1$helper|" "$tmp/units"/*.service
if cp "$TOP/man/minetd.8" "$tmp/man/man8/" 2>/dev/null &&
    cp "$TOP/man/minetd.conf.5" "$tmp/man/man5/" 2>/dev/null && command -v man >/dev/null; then
	man_option=--man=yes
else
	man_option=--man=no
	skip "units-documentation" "no man pages in $TOP/man or no man(1): Documentation= not checked"
fi
out=$(cd "$tmp/units" && MANPATH=$tmp/man timeout 60 systemd-analyze verify $man_option \
	./*.socket ./*.service 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	pass "units-verify"
else
	fail "units-verify" "rc=$rc: $(echo "$out" | tr '\n' ' ')"
fi

# The shipped unit really runs /usr/sbin/minetd with the installed config
# (make install rewrites the path for other prefixes).
if grep -qx 'ExecStart=/usr/sbin/minetd -c /etc/minetd/minetd.conf' "$UNITS/minetd.service"; then
	pass "service-execstart"
else
	fail "service-execstart" "ExecStart= is not /usr/sbin/minetd -c /etc/minetd/minetd.conf"
fi

# Every socket unit stands alone: minetd.service pulls in, orders itself after or installs
# no socket that listens for it (a Requires=minetd.socket would bring port 5000 back with
# the first client of any other socket; an Also= would tie enabling the service to one
# socket). The one socket it wants is the helper's, which serves no client.
ties=$(grep -E '^(Requires|Requisite|Wants|BindsTo|PartOf|Upholds|After|Before|Also|Sockets)=.*\.socket' \
	"$UNITS/minetd.service" | grep -vx -e 'Wants=minetd-helper.socket' -e 'After=minetd-helper.socket')
if [ -z "$ties" ]; then
	pass "service-needs-no-listening-socket"
else
	fail "service-needs-no-listening-socket" "minetd.service names a socket of its own: $ties"
fi
if grep -qx 'Wants=minetd-helper.socket' "$UNITS/minetd.service" &&
    grep -qx 'After=minetd-helper.socket' "$UNITS/minetd.service"; then
	pass "service-wants-helper-socket"
else
	fail "service-wants-helper-socket" "minetd.service lacks Wants= and After=minetd-helper.socket"
fi
# A restart or stop of the helper is minetd's too, minetd's first: its clients go to the
# store before the helper that its programs belong to goes.
if grep -qx 'PartOf=minetd-helper.service' "$UNITS/minetd.service" &&
    grep -qx 'After=minetd-helper.service' "$UNITS/minetd.service"; then
	pass "service-part-of-helper"
else
	fail "service-part-of-helper" "minetd.service lacks PartOf= and After=minetd-helper.service"
fi
# Enabled for boot, so that every configured service listens after a reboot.
install=$(sed -n '/^\[Install\]/,/^\[/p' "$UNITS/minetd.service" | grep -v '^\[' | grep .)
if [ "$install" = "WantedBy=multi-user.target" ]; then
	pass "service-wanted-at-boot"
else
	fail "service-wanted-at-boot" "minetd.service's [Install]: '$install'"
fi
# minetd finds the helper where the helper's socket unit listens.
env=$(sed -n 's/^Environment=MINETD_HELPER=//p' "$UNITS/minetd.service")
listen=$(sed -n 's/^ListenSequentialPacket=//p' "$UNITS/minetd-helper.socket" 2>/dev/null)
if [ -n "$env" ] && [ "$env" = "$listen" ]; then
	pass "service-finds-helper ($env)"
else
	fail "service-finds-helper" "MINETD_HELPER='$env', minetd-helper.socket listens on '$listen'"
fi
# The reload's check runs as root ("+"): it sees the programs' users and paths as the
# helper, which runs them, will.
if grep -qx 'ExecReload=+/usr/sbin/minetd -t -c /etc/minetd/minetd.conf' "$UNITS/minetd.service"; then
	pass "service-reload-checks-as-root"
else
	fail "service-reload-checks-as-root" "no ExecReload=+/usr/sbin/minetd -t -c /etc/minetd/minetd.conf"
fi

# The helper: root (no User=), started by its socket, binding for minetd.service alone, its
# programs in cgroups of their own that a restart of it leaves running.
f=$UNITS/minetd-helper.service
if [ ! -f "$f" ]; then
	fail "helper-unit" "no $f"
else
	missing=
	for want in 'ExecStart=/usr/libexec/minetd/minetd-helper -c /etc/minetd/minetd.conf --client-unit minetd.service' \
	    'Requires=minetd-helper.socket' 'Delegate=yes' 'KillMode=process' 'Type=notify'; do
		grep -qxF "$want" "$f" || missing="$missing|$want"
	done
	grep -q '^\(User\|DynamicUser\|PrivateUsers\)=' "$f" && missing="$missing|no User=, DynamicUser=, PrivateUsers="
	if [ -z "$missing" ]; then pass "helper-unit"; else fail "helper-unit" "minetd-helper.service lacks: ${missing#|}"; fi
fi

# The unit alone, under an empty --root: drop-ins an admin keeps in the host's
# /etc/systemd/system/NAME.d would change the score.
exposure() { # exposure NAME UNIT MAX
	name=$1
	shift
	rm -rf "$tmp/root"
	mkdir -p "$tmp/root/etc/systemd/system"
	cp "$UNITS/$1" "$tmp/root/etc/systemd/system/"
	out=$(timeout 60 systemd-analyze security --offline=yes --root="$tmp/root" "$1" 2>&1)
	score=$(echo "$out" | sed -n "s/.*Overall exposure level for $1: \([0-9.]*\).*/\1/p")
	if [ -z "$score" ]; then
		fail "$name" "no 'Overall exposure level' in: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
	elif awk -v s="$score" -v m="$2" 'BEGIN { exit !(s <= m) }'; then
		pass "$name ($score <= $2)"
	else
		fail "$name" "exposure $score > $2"
	fi
}
exposure service-exposure minetd.service "$MAX_EXPOSURE"
exposure helper-exposure minetd-helper.service "$MAX_HELPER_EXPOSURE"

# What is shipped: the daemon, its socket (echo on 5000) and the helper's pair. The
# per-port sockets (minetd-echo.socket ... minetd-time.socket) are gone: a well-known port
# is a line of the config.
shipped=$(cd "$UNITS" && ls | tr '\n' ' ')
expect_units="minetd-helper.service minetd-helper.socket minetd.service minetd.socket "
if [ "$shipped" = "$expect_units" ]; then
	pass "units-shipped ($shipped)"
else
	fail "units-shipped" "systemd/ holds '$shipped', expected '$expect_units'"
fi

# Socket units: name, port, TCP and UDP, and the service they activate.
check_socket() { # unit fdname port
	f=$UNITS/$1
	if [ ! -f "$f" ]; then
		fail "socket-$1" "missing"
		return
	fi
	for want in "FileDescriptorName=$2" "ListenStream=$3" "ListenDatagram=$3" \
	    "Service=minetd.service" "WantedBy=sockets.target"; do
		if ! grep -qx "$want" "$f"; then
			fail "socket-$1" "no $want"
			return
		fi
	done
	pass "socket-$1"
}
check_socket minetd.socket echo 5000
# The helper's: a path (abstract sockets are per network namespace, and minetd.service has
# one of its own), open to all (the helper checks who connects), for the helper.
f=$UNITS/minetd-helper.socket
missing=
for want in 'ListenSequentialPacket=/run/minetd/helper.sock' 'SocketMode=0666' \
    'Service=minetd-helper.service' 'WantedBy=sockets.target'; do
	grep -qxF "$want" "$f" 2>/dev/null || missing="$missing|$want"
done
if [ -z "$missing" ]; then pass "socket-minetd-helper.socket"; else fail "socket-minetd-helper.socket" "no ${missing#|}"; fi

[ $failed -eq 0 ] || exit 1
[ $passed -gt 0 ] || exit 77
exit 0
