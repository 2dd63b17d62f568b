#!/bin/sh
# Handler exec on a real systemd: boots a container (tests/lib/container.sh) with the
# project's binaries, config and units installed as the package installs them, and runs
# exec-inside.sh there: programs of exec services under the shipped units, over TCP and UDP,
# as the users and groups of their config lines, with the host's network and files.
# PASS:/FAIL:/SKIP: lines; exit 0, 1 on a FAIL, 77 when no container can run here.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
. "$TOP/tests/lib/container.sh"

container_test exec "$TOP/tests/systemd/exec-inside.sh"
