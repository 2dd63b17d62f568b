#!/bin/sh
# Boots a real systemd in a throw-away container (systemd-nspawn over the
# host's own root, copy-on-write, private network) with the project's units,
# binary and config installed, and runs container-inside.sh there at boot.
# Recipe and timings: ../../../shared/SYSTEMD-TESTING.md.
#
# Prints PASS:/FAIL:/SKIP: lines; exits 0, 1 on any FAIL, 77 if it cannot
# run a container here (not root, no systemd-nspawn): loudly, never quietly.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
HERE=$TOP/tests/systemd
# INSIDE: another script to run in the container (for debugging).
INSIDE=${INSIDE:-$HERE/container-inside.sh}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}

skip() {
	echo "SKIP: container: $1"
	echo "*** The booted-systemd tests did NOT run: $1 ***" >&2
	exit 77
}
fail() { echo "FAIL: $1: $2"; }

[ "$(id -u)" = 0 ] || skip "needs root to run systemd-nspawn"
command -v systemd-nspawn >/dev/null 2>&1 ||
	skip "systemd-nspawn not installed (apt-get install systemd-container)"
[ -n "$(ls -A /sys/fs/cgroup 2>/dev/null)" ] || skip "no cgroup file system at /sys/fs/cgroup"
if [ ! -x "$MINETD" ]; then
	fail container "$MINETD not built"
	exit 1
fi

# /var/tmp, not /tmp: the overlay's upper directories need a real file system.
up=$(mktemp -d /var/tmp/minetd-container.XXXXXX) || exit 1
cleanup() { rm -rf "$up"; }
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
mkdir -p "$up/usr/sbin" "$up/usr/share/minetd" "$up/var" "$up/etc/systemd/system" \
	"$up/etc/minetd" "$up/results"

# Installed as `make install PREFIX=/usr` would, but into the overlays'
# upper directories, so the container sees them and the host does not. The
# config is a copy: the test edits it inside.
cp "$MINETD" "$up/usr/sbin/minetd"
cp "$TOP/config/quotes" "$up/usr/share/minetd/quotes" 2>/dev/null
cp "$TOP/config/minetd.conf" "$up/etc/minetd/minetd.conf"
cp "$TOP"/systemd/*.socket "$TOP"/systemd/*.service "$up/etc/systemd/system/"
cp "$INSIDE" "$up/test.sh"
cp "$HERE/client.py" "$up/client.py"
chmod 755 "$up/test.sh"
cat >"$up/minetd-test.service" <<'EOF'
[Unit]
Description=minetd container test
After=basic.target

[Service]
Type=oneshot
ExecStart=/minetd-test.sh
StandardOutput=journal+console
StandardError=journal+console
EOF

timeout "$BOOT_TIMEOUT" systemd-nspawn -q --volatile=yes -D / --register=no --keep-unit \
	--private-network \
	--overlay=/usr:"$up/usr":/usr --overlay=/var:"$up/var":/var --overlay=/etc:"$up/etc":/etc \
	--bind-ro="$up/test.sh":/minetd-test.sh \
	--bind-ro="$up/client.py":/minetd-client.py \
	--bind-ro="$up/minetd-test.service":/etc/systemd/system/minetd-test.service \
	--bind="$up/results":/results \
	-b systemd.firstboot=off systemd.wants=minetd-test.service \
	</dev/null >"$up/console.log" 2>&1
rc=$?

results=$up/results/results.txt
[ -f "$results" ] && grep -v '^DONE$' "$results"
status=0
if [ $rc -eq 124 ]; then
	fail container-boot "timed out after ${BOOT_TIMEOUT}s"
	status=1
elif ! grep -qx DONE "$results" 2>/dev/null; then
	fail container-boot "the test did not finish in the container (systemd-nspawn status $rc)"
	status=1
elif [ $rc -ne 0 ] || grep -q '^FAIL:' "$results"; then
	status=1
fi
[ "$status" -eq 0 ] && ! grep -q '^PASS:' "$results" && status=1
if [ $status -ne 0 ] && [ -s "$up/results/journal.txt" ]; then
	echo "--- journal of the minetd units in the container (last 80 lines):"
	tail -n 80 "$up/results/journal.txt" | sed 's/^/    /'
elif [ $status -ne 0 ]; then
	echo "--- container console (last 80 lines):"
	tail -n 80 "$up/console.log" | sed 's/^/    /'
fi
exit $status
