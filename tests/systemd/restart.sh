#!/bin/sh
# Restarts that drop no connection, on a real systemd: boots a container (tests/lib/
# container.sh) with the project's units and binary, and runs restart-inside.sh there:
# connections held across `systemctl restart minetd`, a socket added while minetd serves.
# PASS:/FAIL:/SKIP: lines; exit 0, 1 on a FAIL, 77 when no container can run here.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
. "$TOP/tests/lib/container.sh"

container_test restart "$TOP/tests/systemd/restart-inside.sh"
