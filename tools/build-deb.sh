#!/usr/bin/env bash
# Builds the minetd binary package out of the source tree and checks it with lintian.
#
#   tools/build-deb.sh        (what `make deb` runs)
#
# The tracked and untracked-but-not-ignored files of the work tree (edits included, build/
# excluded) are copied to build/deb/src, `dpkg-buildpackage -us -uc -b` runs there, and the
# .deb, .changes and .buildinfo are copied to build/. Nothing is written outside build/, so
# `git status` stays as it was. `lintian --pedantic -E -I` then runs on the .changes (which
# covers every .deb in it); any tag it prints fails the build.
#
# Missing build tools and Build-Depends are installed with apt-get when run as root;
# otherwise the exact apt-get line is printed. Exit 0 on success, 1 on any failure.
set -euo pipefail

TOP=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
OUT=$TOP/build
WORK=$OUT/deb
SRC=$WORK/src

say() { printf 'build-deb: %s\n' "$*"; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

apt_install() {	# apt_install PKG...: install when root, else print the line to run
	if [ "$(id -u)" != 0 ]; then
		die "missing: $*; run as root: apt-get install -y --no-install-recommends $*"
	fi
	say "installing $*"
	# A fresh machine may have no package lists yet.
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
	fi
}

# 1. The tools this script itself runs.
missing=()
# (lintian renders the man pages with man.)
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian man:man-db; do
	command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# 2. A clean copy of the source tree; no package of an earlier build is left to be mistaken
# for this one's.
rm -rf "$WORK"
rm -f "$OUT"/minetd_*.deb "$OUT"/minetd-dbgsym_*.deb "$OUT"/minetd_*.changes "$OUT"/minetd_*.buildinfo
mkdir -p "$SRC"
if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked (as in the work tree, not deleted) plus untracked files not ignored.
	(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			case $f in build/*) continue ;; esac
			[ -e "$f" ] || [ -L "$f" ] || continue
			printf '%s\0' "$f"
		done | tar -c --null --no-recursion -T - -f -) | tar -x -C "$SRC" -f -
else
	tar -c -C "$TOP" --exclude=./build --exclude=./.git -f - . | tar -x -C "$SRC" -f -
fi
[ -f "$SRC/debian/control" ] || die "no debian/control in $TOP"

# 3. Build-Depends.
if ! unmet=$(cd "$SRC" && dpkg-checkbuilddeps 2>&1); then
	say "$unmet"
	if [ "$(id -u)" = 0 ]; then
		apt-get build-dep -y -q --no-install-recommends "$SRC/" ||
			{ apt-get update -q && apt-get build-dep -y -q --no-install-recommends "$SRC/"; }
	else
		die "run as root: apt-get build-dep -y --no-install-recommends $SRC/ (or install the packages above)"
	fi
fi

# 4. Build.
say "dpkg-buildpackage -us -uc -b in $SRC"
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1 ||
	{ tail -n 40 "$WORK/build.log" >&2; die "dpkg-buildpackage failed; full log: $WORK/build.log"; }

shopt -s nullglob
changes=("$WORK"/minetd_*.changes)
[ ${#changes[@]} -eq 1 ] || die "expected one .changes in $WORK, found ${#changes[@]}"
# Everything the .changes lists (the .deb, the -dbgsym .deb, the .buildinfo), and itself.
mapfile -t artifacts < <(sed -n '/^Files:/,/^[^ ]/s/^ [0-9a-f]\{32\} .* \([^ ]*\)$/\1/p' "${changes[0]}")
for f in "${artifacts[@]}" "${changes[0]##*/}"; do
	cp "$WORK/$f" "$OUT/"
	say "built $OUT/$f"
done

# 5. Lintian: every tag, info and pedantic included, fails the build.
say "lintian --pedantic -E -I ${changes[0]##*/}"
rc=0
# --allow-root: only silences lintian's own advice not to run as root.
tags=$(cd "$OUT" && lintian --pedantic -E -I $([ "$(id -u)" = 0 ] && echo --allow-root) \
	"${changes[0]##*/}" 2>&1) || rc=$?
if [ -n "$tags" ]; then
	printf '%s\n' "$tags" >&2
	die "lintian printed tags (above)"
fi
[ "$rc" = 0 ] || die "lintian failed (exit $rc) without printing a tag"
say "lintian: no tags"
