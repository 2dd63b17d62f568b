#!/usr/bin/env bash
# The Debian package on a real systemd: boots a container (systemd-nspawn, the host's /usr,
# /etc and /var copy-on-write, private network), installs build/minetd_*.deb there and checks
# what an admin gets: minetd.socket listening and minetd.service idle, TCP and UDP echo on
# 127.0.0.1:5000 starting the service, records in the journal, a per-service socket that can
# be enabled, an upgrade in place, the package's autopkgtests (debian/tests), a removal that
# keeps the configuration, and a purge that leaves nothing behind. Also runs lintian on the .deb.
#
#   tests/package/deb.sh          (TOP=<repo root>, default ../.. of this script)
#   DEB=path/to/minetd.deb tests/package/deb.sh
#
# Without DEB, (re)builds build/minetd_*.deb with tools/build-deb.sh when there is none or
# the source tree changed since. Prints `PASS: name`, `FAIL: name: reason` and
# `SKIP: name: reason` lines; exits 0 without a failure, 1 with one, 77 when it cannot run
# here (not root, no systemd-nspawn). The host is left untouched.
# VERBOSE=1 prints the container's log even when everything passes.
set -uo pipefail

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-180}

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failed=1; }
skip_all() {
	echo "SKIP: package: $1"
	echo "*** tests/package/deb.sh did not run: $1 ***" >&2
	exit 77
}
failed=0

[ "$(id -u)" = 0 ] || skip_all "needs root (systemd-nspawn, dpkg -i in a container)"
command -v systemd-nspawn >/dev/null || skip_all "no systemd-nspawn (apt-get install systemd-container)"
[ -d /run/systemd/system ] && ! systemd-detect-virt -cq 2>/dev/null &&
	echo "note: the host runs systemd; the test still uses its own container" >&2

# The package: DEB if given, else build/minetd_*.deb, rebuilt when missing or older than
# a file of the source tree (make check must not test the package of an old tree).
stale() {	# stale DEB: true when DEB is missing or a source file is newer
	[ -e "$1" ] || return 0
	find "$TOP" \( -path "$TOP/build" -o -path "$TOP/.git" \) -prune -o \
		-type f -newer "$1" -print -quit | grep -q .
}
shopt -s nullglob
deb=${DEB:-}
if [ -z "$deb" ]; then
	debs=("$TOP"/build/minetd_*.deb)
	if [ ${#debs[@]} -ne 1 ] || stale "${debs[0]}"; then
		echo "building the package: tools/build-deb.sh"
		if "$TOP/tools/build-deb.sh"; then
			pass "deb-build"
		else
			fail "deb-build" "tools/build-deb.sh failed (output above)"
		fi
		debs=("$TOP"/build/minetd_*.deb)
	fi
	[ ${#debs[@]} -eq 1 ] || { fail "deb" "expected one build/minetd_*.deb, found ${#debs[@]}"; exit 1; }
	deb=${debs[0]}
fi
[ -f "$deb" ] || { fail "deb" "no package $deb"; exit 1; }
echo "package: $deb"

if command -v lintian >/dev/null; then
	root_flag=$([ "$(id -u)" = 0 ] && echo --allow-root)
	if tags=$(lintian --pedantic -E -I $root_flag "$deb" 2>&1) && [ -z "$tags" ]; then
		pass "lintian"
	else
		printf '%s\n' "$tags"
		fail "lintian" "lintian --pedantic -E -I printed tags (above)"
	fi
else
	echo "SKIP: lintian: lintian is not installed"
fi

WORK=$(mktemp -d /var/tmp/minetd-deb-test.XXXXXX)
cleanup() {
	# nspawn is gone by now (it runs in the foreground under timeout); the overlay
	# upper directories hold everything the container wrote.
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"/up/{usr,var,etc} "$WORK/out" "$WORK/deb"
cp "$deb" "$WORK/deb/"

cat >"$WORK/test.service" <<'EOF'
[Unit]
Description=minetd package test
After=basic.target

[Service]
Type=oneshot
ExecStart=/bin/bash /minetd-test.sh
StandardOutput=journal+console
StandardError=journal+console
EOF

cat >"$WORK/test.sh" <<'EOF'
#!/bin/bash
# Runs inside the container; results go to /minetd-out/results, one protocol line each.
set -uo pipefail
exec >>/minetd-out/log 2>&1
out=/minetd-out/results
pass() { echo "PASS: $1" >>$out; echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2" >>$out; echo "FAIL: $1: $2"; }
check() {	# check NAME REASON COMMAND...
	local name=$1 reason=$2; shift 2
	if "$@"; then pass "$name"; else fail "$name" "$reason"; return 1; fi
}
wait_for() {	# wait_for SECONDS COMMAND...
	local tries=$(($1 * 10)); shift
	until "$@" >/dev/null 2>&1; do
		tries=$((tries - 1)); [ $tries -gt 0 ] || return 1; sleep 0.1
	done
}
tcp_echo() {	# tcp_echo PORT: one line there and back
	local msg="minetd package test $RANDOM" reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf '%s\n' "$msg" >&3
	reply=$(timeout 5 head -n 1 <&3); exec 3>&-
	echo "tcp $1: sent '$msg', got '$reply'"
	[ "$reply" = "$msg" ]
}
udp_echo() {	# udp_echo PORT: one datagram there and back, read whole
	local msg="minetd package test $RANDOM" reply
	exec 4<>"/dev/udp/127.0.0.1/$1" || return 1
	printf '%s' "$msg" >&4
	reply=$(timeout 5 dd bs=65536 count=1 status=none <&4); exec 4>&-
	echo "udp $1: sent '$msg', got '$reply'"
	[ "$reply" = "$msg" ]
}
daytime_line() {	# daytime_line PORT: one line ending in CRLF, then close
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	reply=$(timeout 5 cat <&3 | od -An -c | tr -s ' \n' ' '); exec 3>&-
	echo "daytime $1: $reply"
	case $reply in *'\r \n ') return 0 ;; *) return 1 ;; esac
}
listening() {	# listening PORT: TCP and UDP sockets on PORT
	ss -Hltn "sport = :$1" | grep -q . && ss -Hlun "sport = :$1" | grep -q .
}
is() {	# is STATE VERB UNIT: systemctl VERB UNIT prints STATE
	local got; got=$(systemctl "$2" "$3" 2>/dev/null)
	echo "$3 is $2: $got"; [ "$got" = "$1" ]
}
no_minetd_process() { ! grep -qx minetd /proc/[0-9]*/comm 2>/dev/null; }
journal_has() { [ -n "$(journalctl -q -o cat --no-pager "$@")" ]; }

# A Docker-style policy-rc.d (exit 101) would stop dpkg from starting anything: not
# what an admin's machine has. This is the container's copy-on-write /usr.
[ -e /usr/sbin/policy-rc.d ] && { echo "removing /usr/sbin/policy-rc.d"; rm -f /usr/sbin/policy-rc.d; }

# A chroot (such as a fresh-root check) cannot create user namespaces, so PrivateUsers=yes
# cannot run here: say so, and test the rest of the package without it (a runtime drop-in,
# which the purge checks do not see).
if ! unshare --user true 2>/dev/null; then
	echo "SKIP: private-users: no user namespaces on this machine (a chroot?); minetd.service runs with PrivateUsers=no here" >>$out
	mkdir -p /run/systemd/system/minetd.service.d
	printf '[Service]\nPrivateUsers=no\n' >/run/systemd/system/minetd.service.d/no-userns.conf
fi

deb=$(echo /minetd-deb/minetd_*.deb)
check deb-install "dpkg -i failed" dpkg -i "$deb"
check socket-enabled "minetd.socket not enabled after install" is enabled is-enabled minetd.socket
check socket-listening "minetd.socket not active with TCP and UDP on port 5000" \
	wait_for 10 eval 'systemctl -q is-active minetd.socket && listening 5000'
check service-idle "minetd.service should be inactive before the first client" \
	is inactive is-active minetd.service
check service-not-enabled "minetd.service should not be enabled" \
	eval '! is enabled is-enabled minetd.service'
for s in echo discard chargen qotd daytime time; do
	check "socket-$s-not-enabled" "minetd-$s.socket should be installed but disabled" \
		is disabled is-enabled "minetd-$s.socket"
done
check tcp-echo "no TCP echo on 127.0.0.1:5000" tcp_echo 5000
check udp-echo "no UDP echo on 127.0.0.1:5000" udp_echo 5000
check service-active "minetd.service not active after a connection" \
	wait_for 10 systemctl -q is-active minetd.service
check journal "no journal records with SYSLOG_IDENTIFIER=minetd from minetd.service" \
	wait_for 10 journal_has SYSLOG_IDENTIFIER=minetd _SYSTEMD_UNIT=minetd.service

# What minetd(8) tells an admin: stop the service (systemd refuses to start a socket
# whose service runs), enable the per-service socket; the next client starts the
# service with every socket.
systemctl stop minetd.service && systemctl enable --now minetd-daytime.socket
check per-service-socket "minetd-daytime.socket on port 13 gives no daytime line" \
	eval 'listening 13 && daytime_line 13' ||
	journalctl -q --no-pager -u minetd-daytime.socket -u minetd.service | tail -n 20

# Upgrade in place: the same package again takes the maintainer scripts' upgrade path.
check deb-upgrade "dpkg -i over the installed package failed" dpkg -i "$deb"
check upgrade-keeps-serving "echo on 5000 or daytime on 13 broken after the upgrade" \
	eval 'wait_for 10 systemctl -q is-active minetd.socket minetd-daytime.socket &&
	      tcp_echo 5000 && udp_echo 5000 && daytime_line 13'

# The package's own autopkgtests, run as autopkgtest would (needs-root, in a container).
for t in /minetd-autopkgtest/*; do
	case ${t##*/} in control) continue ;; esac
	check "autopkgtest-${t##*/}" "debian/tests/${t##*/} failed" "$t"
done

# What the units said, when something failed (before the purge takes them away).
if grep -q '^FAIL' $out; then
	echo "--- systemctl status ---"
	systemctl --no-pager status minetd.socket minetd.service minetd-daytime.socket
	echo "--- journal of the minetd units ---"
	journalctl -b --no-pager -u minetd.socket -u minetd.service -u minetd-daytime.socket | tail -n 40
fi

# Remove (not purge): everything stops, the configuration stays; installing again brings
# the socket back as it was.
check deb-remove "dpkg --remove failed" dpkg --remove minetd
check remove-stopped "a minetd unit or process survived the removal" eval \
	'wait_for 10 no_minetd_process &&
	 ! systemctl -q is-active minetd.socket minetd.service minetd-daytime.socket'
check remove-keeps-config "/etc/minetd/minetd.conf did not survive the removal" \
	test -f /etc/minetd/minetd.conf
check reinstall-serves "no echo on 5000 after installing again" eval \
	'dpkg -i "$deb" && wait_for 10 systemctl -q is-active minetd.socket && tcp_echo 5000 && udp_echo 5000'

# Purge: nothing left running, installed, enabled or listening.
check deb-purge "dpkg --purge failed" dpkg --purge minetd
check purge-stopped "a minetd unit or process survived the purge" eval \
	'wait_for 10 no_minetd_process &&
	 ! systemctl -q is-active minetd.socket minetd.service minetd-daytime.socket'
check purge-not-listening "something still listens on 5000 or 13" \
	eval '! ss -Hltun "( sport = :5000 or sport = :13 )" | grep .'
check purge-files "files of the package left behind" eval \
	'! ls -d /etc/minetd /usr/sbin/minetd /usr/share/minetd /lib/systemd/system/minetd* \
	   /usr/share/man/man8/minetd.8.gz 2>/dev/null | grep .'
check purge-no-links "an enable link of a minetd unit is left in /etc/systemd" eval \
	'! find /etc/systemd/system -name "minetd*" | grep .'
check purge-not-enabled "systemctl is-enabled reports a minetd unit enabled" eval \
	'! systemctl is-enabled minetd.socket minetd.service minetd-daytime.socket 2>/dev/null |
	   grep -x "enabled\|enabled-runtime\|indirect\|static"'
check purge-no-state "deb-systemd-helper state left" eval \
	'! ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null | grep minetd'
check purge-dpkg "dpkg still knows minetd" eval '! dpkg -s minetd >/dev/null 2>&1'

echo DONE >>$out
systemctl exit 0
EOF

echo "booting a systemd container (timeout ${BOOT_TIMEOUT}s)"
timeout --kill-after=10 "$BOOT_TIMEOUT" systemd-nspawn -q --volatile=yes -D / --register=no --keep-unit \
	--private-network \
	--overlay=/usr:"$WORK/up/usr":/usr --overlay=/var:"$WORK/up/var":/var \
	--overlay=/etc:"$WORK/up/etc":/etc \
	--bind-ro="$WORK/test.sh":/minetd-test.sh \
	--bind-ro="$WORK/test.service":/etc/systemd/system/deb-package-test.service \
	--bind-ro="$WORK/deb":/minetd-deb \
	--bind-ro="$TOP/debian/tests":/minetd-autopkgtest \
	--bind="$WORK/out":/minetd-out \
	-b systemd.firstboot=off systemd.wants=deb-package-test.service systemd.show_status=0 \
	</dev/null >"$WORK/nspawn.log" 2>&1
rc=$?

[ -f "$WORK/out/results" ] && grep -v '^DONE$' "$WORK/out/results"
grep '^SKIP' "$WORK/out/results" 2>/dev/null | sed 's/^SKIP: /*** skipped: /' >&2
if ! grep -qx DONE "$WORK/out/results" 2>/dev/null; then
	fail "container" "the test did not finish in the container (nspawn exit $rc)"
fi
grep -q '^FAIL' "$WORK/out/results" 2>/dev/null && failed=1
if [ $failed -ne 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
	# Indented, so that the runner does not count the FAIL lines in them twice.
	echo "--- container test log ---"; sed 's/^/  | /' "$WORK/out/log" 2>/dev/null
	echo "--- systemd-nspawn output (last 40 lines) ---"; tail -n 40 "$WORK/nspawn.log" | sed 's/^/  | /' 
fi
exit $failed
