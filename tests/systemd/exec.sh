#!/bin/sh
# Handler exec on a real systemd: boots a container (tests/lib/container.sh) with the
# project's binary, config and units installed as the package installs them, and runs
# exec-inside.sh there: programs of an exec service under the shipped, hardened
# minetd.service, over TCP and UDP, and the drop-in of minetd(8) for programs that need more.
# PASS:/FAIL:/SKIP: lines; exit 0, 1 on a FAIL, 77 when no container can run here.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
. "$TOP/tests/lib/container.sh"

# The drop-in is taken from the manual page, so that what it says is what is tested.
container_test exec "$TOP/tests/systemd/exec-inside.sh" --bind-ro="$TOP/man/minetd.8":/minetd.8
