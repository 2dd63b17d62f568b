#!/bin/sh
# Boots a real systemd in a throw-away container (tests/lib/container.sh: the host's own
# root, copy-on-write, private network) with the project's binary, config and units
# installed as the package installs them, and runs container-inside.sh there at boot.
#
# Prints PASS:/FAIL:/SKIP: lines; exits 0, 1 on any FAIL, 77 if it cannot
# run a container here (not root, no systemd-nspawn): loudly, never quietly.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
# INSIDE: another script to run in the container (for debugging).
INSIDE=${INSIDE:-$TOP/tests/systemd/container-inside.sh}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}
. "$TOP/tests/lib/container.sh"

container_test container "$INSIDE"
