#!/bin/sh
# minetd -t against the socket units systemd will pass (daemon/units.c, issue 12): here,
# where no systemd runs, -t says nothing about sockets; then, in a booted container
# (tests/lib/container.sh) with the binary, units and config where the package puts them,
# check-units-inside.sh proves each warning, and that a service without a socket unit,
# which minetd-helper binds, draws none.
#
# Prints PASS:/FAIL:/SKIP: lines; exits 0, 1 on any FAIL, 77 if it cannot run a
# container here (not root, no systemd-nspawn): loudly, never quietly.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}
. "$TOP/tests/lib/container.sh"

if [ ! -x "$MINETD" ]; then
	echo "FAIL: check-units: $MINETD not built"
	exit 1
fi

# Not booted with systemd (no /run/systemd/system): no socket units, no bus to ask, and no
# word about them; the container below covers a bus that does not answer.
conf=$TOP/config/minetd.conf
if [ -d /run/systemd/system ]; then
	echo "SKIP: check-units-no-systemd: this machine runs systemd"
else
	err=$("$MINETD" -t -c "$conf" 2>&1 >/dev/null)
	out=$("$MINETD" -t -c "$conf" 2>/dev/null)
	rc=$?
	if [ "$rc $out" = "0 $conf: ok" ] && [ -z "$err" ]; then
		echo "PASS: check-units-no-systemd-says-nothing"
	else
		echo "FAIL: check-units-no-systemd-says-nothing: status $rc, stdout '$out', stderr '$err'"
	fi
fi

container_test check-units "$TOP/tests/systemd/check-units-inside.sh"
