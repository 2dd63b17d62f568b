#!/usr/bin/env bash
# minetd as Debian's inet-superserver, with the archive's own packages: booted containers
# (tests/lib/container.sh) with minetd's .deb and the real .debs, installed with dpkg -i or
# apt-get as an admin would, checked with the real clients. Three containers, side by side:
#
#   programs  inetd-programs-inside.sh: nullidentd with minetd as the only inet-superserver;
#             fingerd through tcpd, as nobody (finger, IPv4 and IPv6); inetd.conf's internal
#             echo, daytime, time; tftpd-hpa in inetd mode (a wait service, root; tftp);
#             update-inetd --disable, --enable, --remove, --add, each applied within 5 s
#             while a chargen client streams on, with no warning; no process of
#             minetd.service root or with a capability; what minetd-helper refuses
#   http      inetd-http-inside.sh, then a reboot, then inetd-http-boot-inside.sh:
#             micro-httpd's inetd.conf line against its own micro-httpd.socket, at
#             installation, in a boot's order and after a real reboot (who has port 80, who
#             says so, what answers HTTP 200 over IPv4 and IPv6); then inetutils-telnetd,
#             inetutils-talkd, popa3d and netkit's talkd
#   switch    inetd-switch-inside.sh: openbsd-inetd serving fingerd to minetd and back,
#             with apt-get
#
#   tests/package/inetd.sh          (TOP=<repo root>, default ../.. of this script)
#   DEB=path/to/minetd.deb tests/package/inetd.sh
#
# Without DEB, uses build/minetd_*.deb, (re)built with tools/build-deb.sh when missing or
# older than the source tree. The archive's .debs are downloaded once into build/debs
# (tests/lib/debs.sh). Prints `PASS: name`, `FAIL: name: reason` and `SKIP: name: reason`
# lines, and what the clients printed (indented, "    LABEL| ..."); exits 0 without a
# failure, 1 with one, 77 when it cannot run here (not root, no systemd-nspawn, no .debs).
# VERBOSE=1 prints the containers' logs even when everything passes.
set -uo pipefail

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# Three containers on a small machine: each gets longer than container.sh's default.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-420}
. "$TOP/tests/lib/container.sh"
. "$TOP/tests/lib/debs.sh"

# The archive's packages the containers install (the host has their other dependencies:
# tests/lib/debs.sh; curl, libevent-2.1-7 and libncurses6 come with tools/deps.sh check).
PACKAGES="update-inetd tcpd openbsd-inetd nullidentd fingerd finger micro-httpd tftpd-hpa tftp-hpa
	inetutils-syslogd inetutils-telnetd inetutils-telnet inetutils-talkd inetutils-talk popa3d talkd"

container_preflight inetd-packages
if ! debs_fetch $PACKAGES; then
	echo "SKIP: inetd-packages: the archive's packages are not here: $debs_why"
	echo "*** The inetd package tests did NOT run: $debs_why ***" >&2
	exit 77
fi

# The package of this tree (tests/lib/debs.sh).
minetd_deb >/dev/null || { echo "FAIL: inetd-deb: $debs_why"; exit 1; }
echo "package: $deb"

# boot_all NAME SCRIPT...: one container, booted once per SCRIPT in turn (what the one
# installed stays for the next: a reboot); each boot's PASS/FAIL/SKIP lines. Status 0 when
# every boot passed.
boot_all() {
	local name=$1 status=0 n=0 script
	shift
	container_init
	mkdir -p "$CONTAINER/deb"
	cp "$deb" "$CONTAINER/deb/"
	for script; do
		n=$((n + 1))
		echo "--- $name, boot $n: $script"
		container_boot "$TOP/tests/package/$script" \
			--bind-ro="$CONTAINER/deb":/minetd-deb --bind-ro="$DEBS":/minetd-debs
		container_report $? "$name-boot$n" || status=1
		mv "$CONTAINER/out/results" "$CONTAINER/out/results.$n" 2>/dev/null
	done
	return $status
}

OUT=$(mktemp -d /var/tmp/minetd-inetd.XXXXXX) || exit 1
trap 'rm -rf "$OUT"' EXIT
trap 'exit 1' HUP INT TERM
start=$SECONDS
containers="programs:inetd-programs-inside.sh http:inetd-http-inside.sh,inetd-http-boot-inside.sh
	switch:inetd-switch-inside.sh"
for c in $containers; do
	name=${c%%:*}
	scripts=${c#*:}
	(
		t0=$SECONDS
		boot_all "$name" ${scripts//,/ }
		rc=$?
		echo "--- $name: $((SECONDS - t0)) s"
		exit $rc
	) >"$OUT/$name" 2>&1 &
	echo "$!" >"$OUT/$name.pid"
done
failed=0
for c in $containers; do
	name=${c%%:*}
	wait "$(cat "$OUT/$name.pid")" || failed=1
	echo "=== container $name"
	cat "$OUT/$name"
done
echo "=== all containers: $((SECONDS - start)) s"
exit $failed
