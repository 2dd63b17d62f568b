#!/bin/sh
# `make install` into a scratch DESTDIR: the units go where systemd.pc says (a stand-in
# pkg-config proves that the path is its answer, not one written in the Makefile), under
# another PREFIX to the same path under it, without systemd.pc to $(PREFIX)/lib/systemd/system;
# the installed units run the installed binary, and every program they run exists.
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
# units_in NAME DIR PREFIX: the units are in DESTDIR/DIR and run PREFIX/sbin/minetd.
units_in() {
	dir=$tmp/$1$2
	if [ ! -f "$dir/minetd.service" ] || [ ! -f "$dir/minetd.socket" ] || [ ! -f "$dir/minetd-daytime.socket" ]; then
		fail "install-$1" "no units in $2: $(cd "$tmp/$1" && find . -name 'minetd*.s*' | tr '\n' ' ')"
		return
	fi
	wrong=$(grep -h '^Exec' "$dir/minetd.service" | grep -v "^Exec[A-Za-z]*=$3/sbin/minetd \|=/bin/kill ")
	if [ -n "$wrong" ]; then
		fail "install-$1" "in $2/minetd.service: $wrong"
		return
	fi
	# Every program the units run: installed here, or on this system (/bin/kill).
	for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$dir"/minetd*); do
		[ -x "$tmp/$1$exe" ] || [ -x "$exe" ] || { fail "install-$1" "$exe (run by a unit) is nowhere"; return; }
	done
	pass "install-$1 ($2, $3/sbin/minetd)"
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
