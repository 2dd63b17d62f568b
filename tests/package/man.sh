#!/usr/bin/env bash
# The man pages render without a warning (as lintian checks them) and match the code: the
# options of minetd(8) are the ones `minetd -h` prints, and the keys of minetd.conf(5) are
# the ones the daemon's key tables hold (config.c's and each handler's), no more, no fewer.
#
#   tests/package/man.sh          (TOP=<repo root>, MINETD=<built binary>)
#
# The units the pages name are the ones shipped (or written out as an admin's own), and
# minetd(8), the Documentation= of minetd-helper's units, describes minetd-helper.
#
# Prints PASS/FAIL/SKIP lines; exits 0 without a failure, 1 with one, 77 if nothing ran.
set -uo pipefail

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
MAN8=$TOP/man/minetd.8
MAN5=$TOP/man/minetd.conf.5
failed=0 ran=0

pass() { echo "PASS: $1"; ran=1; }
fail() { echo "FAIL: $1: $2"; failed=1; ran=1; }
skip() { echo "SKIP: $1: $2"; }

# Lines that are in the first list and not in the second, comma separated.
missing() { comm -23 <(printf '%s\n' $1 | sort -u) <(printf '%s\n' $2 | sort -u) | paste -sd, -; }

# 1. Rendering, the way lintian's manpages check runs man.
if command -v man >/dev/null; then
	for page in "$MAN8" "$MAN5"; do
		name=man-warnings-${page##*/}
		out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
		if [ -z "$out" ]; then pass "$name"; else fail "$name" "$(echo "$out" | head -n 3 | paste -sd' ' -)"; fi
	done
else
	skip man-warnings "man is not installed (apt-get install man-db)"
fi

# 2. Options: `minetd -h` against the OPTIONS section of minetd(8).
if [ -x "$MINETD" ]; then
	help_opts=$("$MINETD" -h | grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z-]*' | tr -d ' ,' | sort -u)
	man_opts=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$MAN8" | grep '^\.[BI]' |
		sed 's/\\-/-/g' | grep -oE '(^|[ "~])--?[A-Za-z][A-Za-z-]*' | tr -d ' "~' |
		grep -v '^-[BIR]$' | sort -u)
	undocumented=$(missing "$help_opts" "$man_opts")
	extra=$(missing "$man_opts" "$help_opts")
	if [ -z "$help_opts" ]; then
		fail man-options "no option found in the output of minetd -h"
	elif [ -z "$undocumented$extra" ]; then
		pass man-options
	else
		fail man-options "in minetd -h only: ${undocumented:-none}; in minetd(8) only: ${extra:-none}"
	fi
else
	skip man-options "no built binary at $MINETD (make)"
fi

# 3. Keys: the key tables (rows of struct key, keys.h) against the tags of minetd.conf(5).
code_keys=$(cat "$TOP"/daemon/*.c | grep -oE '\{ \.name = "[a-z_]+", \.type = KEY_|INTEGER\("[a-z_]+"' |
	grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
# A key is documented as a .TP tag: ".B key", ".BR key " (qotd only)"" or ".BR key1 ", " key2"
# on the line after .TP (quoted text is not a key), in the sections from TOP-LEVEL SETTINGS
# to EXAMPLES.
man_keys=$(sed -n '/^\.SH TOP-LEVEL SETTINGS/,/^\.SH EXAMPLES/p' "$MAN5" |
	sed -n '/^\.TP/{n;/^\.BR\{0,1\} /{s/^\.BR\{0,1\} //;s/"[^"]*"//g;p}}' | tr ' ' '\n' |
	grep -E '^[a-z_]+$' | sort -u)
if [ -z "$code_keys" ]; then
	fail man-config-keys "no key table found in daemon/*.c"
else
	undocumented=$(missing "$code_keys" "$man_keys")
	extra=$(missing "$man_keys" "$code_keys")
	if [ -z "$undocumented$extra" ]; then
		pass man-config-keys
	else
		fail man-config-keys "in daemon/ only: ${undocumented:-none}; in minetd.conf(5) only: ${extra:-none}"
	fi
fi

# 4. Units: every minetd unit the pages name is in systemd/ (the package ships it), or is an
# admin's own, written out where it goes (/etc/systemd/system/NAME or
# /usr/local/lib/systemd/system/NAME). Since issue 19 the package ships no per-port socket
# units.
pages=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN8" "$MAN5")
named=$(echo "$pages" | grep -oE '(^|[^/A-Za-z0-9_.-])minetd[A-Za-z0-9_.-]*\.(socket|service)' |
	grep -oE 'minetd[A-Za-z0-9_.-]*\.(socket|service)' | sort -u)
shipped=$(cd "$TOP/systemd" && ls)
unshipped=
for unit in $named; do
	echo "$shipped" | grep -qxF "$unit" && continue
	echo "$pages" | grep -qE "(/etc/systemd/system|/usr/local/lib/systemd/system)/$unit" && continue
	unshipped="$unshipped $unit"
done
if [ -z "$named" ]; then
	fail man-units-shipped "no unit named in the man pages"
elif [ -z "$unshipped" ]; then
	pass "man-units-shipped ($(echo $named))"
else
	fail man-units-shipped "named in the man pages, neither shipped nor written out as an admin's own:$unshipped"
fi
if grep -q '^Documentation=man:minetd(8)' "$TOP/systemd/minetd-helper.service" &&
    ! echo "$pages" | grep -q 'minetd-helper'; then
	fail man-helper "minetd-helper.service's Documentation= is minetd(8), which never names minetd-helper"
else
	pass man-helper
fi

[ $ran = 1 ] || exit 77
exit $failed
