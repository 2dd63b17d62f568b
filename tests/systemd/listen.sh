#!/bin/sh
# The config is what listens (issue 19), on a real systemd: two containers side by side
# (tests/lib/container.sh), the tree installed as the package installs it.
#   listen-inside.sh         services added and removed by a reload, below 1024 too; an
#                            admin's socket units stopped, disabled, masked; the serving
#                            process's privileges; who minetd-helper answers, and what
#                            it binds (a client of its wire format, helper-client.py, at
#                            the offsets privsep-layout.c prints, built here)
#   listen-reboot-inside.sh  a first boot enables the units and writes a config; after
#                            the second, every configured service listens
# PASS:/FAIL:/SKIP: lines; exit 0, 1 on a FAIL, 77 when no container can run here.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
. "$TOP/tests/lib/container.sh"

container_preflight listen
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

# The layout of struct privsep_msg, as this tree's compiler lays it out.
if ! ${CC:-cc} -D_GNU_SOURCE -I"$TOP/daemon" -o "$work/privsep-layout" "$TOP/tests/systemd/privsep-layout.c" \
    >"$work/cc.log" 2>&1 || ! "$work/privsep-layout" >"$work/layout"; then
	echo "FAIL: listen-privsep-layout: cannot build or run tests/systemd/privsep-layout.c: $(tr '\n' ' ' <"$work/cc.log")"
	exit 1
fi
chmod 644 "$work/layout"

listen() {
	container_init
	container_install || exit 1
	container_boot "$TOP/tests/systemd/listen-inside.sh" \
		--bind-ro="$TOP/tests/systemd/helper-client.py":/minetd-helper-client.py \
		--bind-ro="$work/layout":/minetd-privsep-layout
	container_report $? listen
}

# Two boots of one container: its /etc and /var (the overlays' upper directories) stay.
reboot() {
	container_init
	container_install || exit 1
	container_boot "$TOP/tests/systemd/listen-reboot-inside.sh"
	container_report $? listen-first-boot || exit 1
	mv "$CONTAINER/out/results" "$CONTAINER/out/results.first-boot"
	container_boot "$TOP/tests/systemd/listen-reboot-inside.sh"
	container_report $? listen-reboot
}

(listen) >"$work/listen.out" 2>&1 &
a=$!
(reboot) >"$work/reboot.out" 2>&1 &
b=$!
wait $a
rc_a=$?
wait $b
rc_b=$?
cat "$work/listen.out" "$work/reboot.out"
[ $rc_a = 0 ] && [ $rc_b = 0 ]
