#!/bin/sh
# Restarts that drop no connection, on a real systemd: boots a container (tests/lib/
# container.sh) with the project's units and binary, and runs restart-inside.sh there:
# connections held across `systemctl restart minetd`, a socket added while minetd serves.
# PASS:/FAIL:/SKIP: lines; exit 0, 1 on a FAIL, 77 when no container can run here.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
. "$TOP/tests/lib/container.sh"

container_preflight restart
if [ ! -x "$MINETD" ]; then
	echo "FAIL: restart: $MINETD not built"
	exit 1
fi
container_init
up=$CONTAINER/up
mkdir -p "$up/usr/sbin" "$up/usr/share/minetd" "$up/usr/lib/systemd/system" "$up/etc/minetd"
cp "$MINETD" "$up/usr/sbin/minetd"
cp "$TOP/config/quotes" "$up/usr/share/minetd/quotes"
cp "$TOP/config/minetd.conf" "$up/etc/minetd/minetd.conf"
cp "$TOP"/systemd/*.socket "$TOP"/systemd/*.service "$up/usr/lib/systemd/system/"

container_boot "$TOP/tests/systemd/restart-inside.sh"
container_report $? restart
