#!/usr/bin/env bash
# The Debian package. Here: lintian, and what the .deb holds (units where systemd.pc says,
# the documentation, a Depends for every program the units run, every path the man pages
# name). Then on a real systemd (tests/lib/container.sh), deb-inside.sh installs it and checks
# what an admin gets: install, upgrade, remove and reinstall, a port taken at install, and
# the package's autopkgtests (debian/tests), the last of which purges.
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
# Five installations, three upgrades (one waits 20 s for a program's timeout), the
# autopkgtests: about 2 minutes on an idle machine, more on a busy one.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-420}
. "$TOP/tests/lib/container.sh"
. "$TOP/tests/lib/debs.sh"

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failed=1; }
failed=0

container_preflight package
[ -d /run/systemd/system ] && ! systemd-detect-virt -cq 2>/dev/null &&
	echo "note: the host runs systemd; the test still uses its own container" >&2

# The package of this tree (tests/lib/debs.sh).
if ! minetd_deb; then
	fail "deb" "$debs_why"
	exit 1
fi
[ "$deb_built" = yes ] && pass "deb-build"
container_init

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

# What the package holds.
mkdir -p "$CONTAINER/deb/depends" "$CONTAINER/x"
cp "$deb" "$CONTAINER/deb/"
# The container has no network: what the package depends on and the host lacks
# (update-inetd, tcpd) comes from the archive, downloaded here.
if debs_fetch $MINETD_DEB_DEPENDS; then
	cp $(debs_of $MINETD_DEB_DEPENDS) "$CONTAINER/deb/depends/"
else
	fail "deb-depends" "$debs_why"
fi
dpkg-deb -x "$deb" "$CONTAINER/x"
x=$CONTAINER/x
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
if [ -z "$unitdir" ]; then
	echo "SKIP: deb-unit-dir: no systemd.pc here"
elif [ -f "$x$unitdir/minetd.service" ] && [ -f "$x$unitdir/minetd.socket" ] &&
    [ -f "$x$unitdir/minetd-helper.service" ] && [ -f "$x$unitdir/minetd-helper.socket" ]; then
	pass "deb-unit-dir ($unitdir)"
else
	fail "deb-unit-dir" "no units in $unitdir, where pkg-config systemd says: $(cd "$x" && find . -name 'minetd*.s*' | tr '\n' ' ')"
fi
if [ -x "$x/usr/libexec/minetd/minetd-helper" ] && [ -x "$x/usr/sbin/minetd" ]; then
	pass deb-binaries
else
	fail deb-binaries "no /usr/sbin/minetd or /usr/libexec/minetd/minetd-helper: $(cd "$x" && find . -type f -name 'minetd*' | tr '\n' ' ')"
fi
docs=
for f in README.md changelog examples/minetd.conf; do
	[ -f "$x/usr/share/doc/minetd/$f" ] || [ -f "$x/usr/share/doc/minetd/$f.gz" ] || docs="$docs $f"
done
if [ -z "$docs" ]; then pass deb-docs; else fail deb-docs "not in /usr/share/doc/minetd:$docs"; fi
# Every program a unit runs: in the package, or in a package it depends on.
depends=$(dpkg-deb -f "$deb" Depends | tr ',|' '\n\n' | sed 's/^ *//; s/[ (].*//' | sed '/^$/d')
missing=
for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$x${unitdir:-/lib/systemd/system}"/minetd* | sort -u); do
	[ -e "$x$exe" ] && continue
	owner=$(dpkg -S "$exe" 2>/dev/null | sed 's/:.*//;s/,.*//')
	echo "$depends" | grep -qx "${owner:-no package}" || missing="$missing $exe (${owner:-not found})"
done
if [ -z "$missing" ]; then pass deb-depends-cover-units; else fail deb-depends-cover-units "not in Depends:$missing"; fi
# Every file of minetd the man pages name is in the package (/etc/systemd/system is the
# admin's; /var/lib/minetd, a directory systemd makes for a drop-in, is no /lib path).
named=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$TOP"/man/minetd.8 "$TOP"/man/minetd.conf.5 |
	grep -oP '(?<![\w./-])/(etc|usr|lib)/[\w.*/-]*minetd[\w.*/-]*' |
	grep -v '^/etc/systemd/system' | sed 's/[.,]$//' | sort -u)
absent=
for path in $named; do
	dpkg-deb -c "$deb" | awk '{ p = substr($6, 2); sub("/$", "", p); print p }' | grep -qx "$(echo "$path" | sed 's/\./\\./g; s/\*/.*/g')" ||
		absent="$absent $path"
done
if [ -z "$absent" ]; then pass "deb-man-paths ($(echo $named))"; else fail deb-man-paths "named in the man pages, not in the package:$absent"; fi

echo "booting a systemd container (timeout ${BOOT_TIMEOUT}s)"
container_boot "$TOP/tests/package/deb-inside.sh" \
	--bind-ro="$CONTAINER/deb":/minetd-deb --bind-ro="$TOP/debian/tests":/minetd-autopkgtest
container_report $? package || failed=1
exit $failed
