#!/bin/sh
# Static checks of the shipped systemd units: `systemd-analyze verify` prints
# nothing, the hardening score stays at or below 1.0, and each socket unit
# hands minetd.service the socket name and port it documents.
#
# Prints PASS:/FAIL:/SKIP: lines; exits 0, 1 on any FAIL, 77 if all skipped.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
UNITS=$TOP/systemd
MAX_EXPOSURE=1.0

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
# exists here (the built binary, or /bin/true before it is built), since
# verify checks the path and /usr/sbin/minetd is only there once installed.
# The man pages of Documentation= come from the source tree through MANPATH,
# so verify checks those links too.
exe=$MINETD
[ -x "$exe" ] || exe=/bin/true
mkdir -p "$tmp/units" "$tmp/man/man8" "$tmp/man/man5"
cp "$UNITS"/*.socket "$UNITS"/*.service "$tmp/units/"
sed -i "s|^\(Exec[A-Za-z]*=\)/usr/sbin/minetd|\1$exe|" "$tmp/units/minetd.service"
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

# Every socket unit stands alone: minetd.service pulls in, orders itself after
# or installs no particular socket (a Requires=minetd.socket brings port 5000
# back with the first client of any other socket; an Also= ties enabling the
# service to one socket). The container test checks what this is for.
ties=$(grep -E '^(Requires|Requisite|Wants|BindsTo|PartOf|Upholds|After|Before|Also|Sockets)=.*\.socket' \
	"$UNITS/minetd.service")
if [ -z "$ties" ] && ! grep -qx '\[Install\]' "$UNITS/minetd.service"; then
	pass "service-needs-no-socket"
else
	fail "service-needs-no-socket" "minetd.service names a socket or has an [Install] section: $ties"
fi

# The drop-ins of minetd.service's comment (the lines indented "#     ", which
# container-inside.sh runs) are the ones minetd(8) gives.
dropins=$(sed -n 's/^#     //p' "$UNITS/minetd.service")
man=$(sed 's/\\-/-/g' "$TOP/man/minetd.8")
absent=$(echo "$dropins" | while IFS= read -r line; do
	echo "$man" | grep -qxF "$line" || echo "$line"
done)
if [ -z "$dropins" ]; then
	fail "drop-ins-documented" "no drop-in in the comment of minetd.service"
elif [ -z "$absent" ]; then
	pass "drop-ins-documented"
else
	fail "drop-ins-documented" "in minetd.service's comment, not in minetd(8): $(echo "$absent" | tr '\n' '|')"
fi

# The unit alone, under an empty --root: drop-ins an admin keeps in the
# host's /etc/systemd/system/minetd.service.d would change the score.
mkdir -p "$tmp/root/etc/systemd/system"
cp "$UNITS/minetd.service" "$tmp/root/etc/systemd/system/"
out=$(timeout 60 systemd-analyze security --offline=yes --root="$tmp/root" minetd.service 2>&1)
score=$(echo "$out" | sed -n 's/.*Overall exposure level for minetd.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	fail "service-exposure" "no 'Overall exposure level' in: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
	pass "service-exposure ($score <= $MAX_EXPOSURE)"
else
	fail "service-exposure" "exposure $score > $MAX_EXPOSURE"
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
check_socket minetd-echo.socket echo 7
check_socket minetd-discard.socket discard 9
check_socket minetd-daytime.socket daytime 13
check_socket minetd-qotd.socket qotd 17
check_socket minetd-chargen.socket chargen 19
check_socket minetd-time.socket time 37

[ $failed -eq 0 ] || exit 1
[ $passed -gt 0 ] || exit 77
exit 0
