#!/bin/sh
# `make install` into a scratch DESTDIR: the units go where systemd.pc says (a stand-in
# pkg-config proves that the path is its answer, not one written in the Makefile), under
# another PREFIX to the same path under it, without systemd.pc to $(PREFIX)/lib/systemd/system;
# minetd goes to $(PREFIX)/sbin and its helper to $(PREFIX)/libexec/minetd; the installed
# units run the installed binaries, and every program they run exists.
#
#   tests/package/install.sh      (TOP=<repo root>, BUILD=<build directory>)
#
# Prints PASS:/FAIL: lines; exits 0 without a failure, 1 with one.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-build}
failed=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failed=1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# A pkg-config that knows a systemd.pc of its own and asks the real one for the rest.
cat >"$tmp/pkg-config" <<'EOF'
#!/bin/sh
case " $* " in
*" --variable=systemdsystemunitdir systemd "*) echo /from/systemd.pc/units ;;
*" --variable=prefix systemd "*) echo /usr ;;
*) exec pkg-config "$@" ;;
esac
EOF
chmod 755 "$tmp/pkg-config"

# install NAME MAKE-ARGS...: make install into $tmp/NAME; its log in $tmp/NAME.log.
install_into() {
	name=$1
	shift
	make -s -C "$TOP" BUILD="$BUILD" DESTDIR="$tmp/$name" "$@" install >"$tmp/$name.log" 2>&1 ||
		{ fail "install-$name" "make install $* failed: $(tail -n 3 "$tmp/$name.log" | tr '\n' ' ')"; return 1; }
}
# units_in NAME DIR PREFIX: the units are in DESTDIR/DIR, minetd in PREFIX/sbin, the helper
# in PREFIX/libexec/minetd, and the units run those.
units_in() {
	dir=$tmp/$1$2
	for unit in minetd.service minetd.socket minetd-helper.service minetd-helper.socket; do
		if [ ! -f "$dir/$unit" ]; then
			fail "install-$1" "no $unit in $2: $(cd "$tmp/$1" && find . -name 'minetd*.s*' | tr '\n' ' ')"
			return
		fi
	done
	for exe in sbin/minetd libexec/minetd/minetd-helper; do
		if [ ! -x "$tmp/$1$3/$exe" ]; then
			fail "install-$1" "no $3/$exe: $(cd "$tmp/$1" && find . -name 'minetd*' -type f | tr '\n' ' ')"
			return
		fi
	done
	wrong=$(grep -h '^Exec' "$dir/minetd.service" | grep -v "^Exec[A-Za-z]*=[-@:+!]*$3/sbin/minetd \|=/bin/kill ")
	if [ -n "$wrong" ]; then
		fail "install-$1" "in $2/minetd.service: $wrong"
		return
	fi
	wrong=$(grep -h '^Exec' "$dir/minetd-helper.service" | grep -v "^ExecStart=$3/libexec/minetd/minetd-helper ")
	if [ -n "$wrong" ]; then
		fail "install-$1" "in $2/minetd-helper.service: $wrong (the helper is at $3/libexec/minetd/minetd-helper)"
		return
	fi
	# Every program the units run: installed here, or on this system (/bin/kill).
	for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$dir"/minetd*); do
		[ -x "$tmp/$1$exe" ] || [ -x "$exe" ] || { fail "install-$1" "$exe (run by a unit) is nowhere"; return; }
	done
	pass "install-$1 ($2, $3/sbin/minetd, $3/libexec/minetd/minetd-helper)"
}

install_into pc-says PREFIX=/usr PKG_CONFIG="$tmp/pkg-config" && units_in pc-says /from/systemd.pc/units /usr
if pkg-config --exists systemd 2>/dev/null; then
	install_into usr PREFIX=/usr && units_in usr "$(pkg-config --variable=systemdsystemunitdir systemd)" /usr
else
	echo "SKIP: install-usr: no systemd.pc here (package systemd)"
fi
install_into usr-local PREFIX=/usr/local && units_in usr-local /usr/local/lib/systemd/system /usr/local
install_into no-pc PREFIX=/usr PKG_CONFIG=false && units_in no-pc /usr/lib/systemd/system /usr
install_into given PREFIX=/usr SYSTEMDUNITDIR=/srv/units && units_in given /srv/units /usr

exit $failed
