#!/bin/sh
# Restarts that drop no connection and no program, on a real systemd: boots a container
# (tests/lib/container.sh) with the project's units and binaries, and runs restart-inside.sh
# there: connections (echo, chargen, a program's) held across `systemctl restart minetd`, the
# program still ended at its timeout, a socket added while minetd serves, and a stop that
# ends every connection and program.
# PASS:/FAIL:/SKIP: lines; exit 0, 1 on a FAIL, 77 when no container can run here.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
. "$TOP/tests/lib/container.sh"

container_test restart "$TOP/tests/systemd/restart-inside.sh"
