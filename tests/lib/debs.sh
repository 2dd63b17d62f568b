# The Debian archive's own packages for container tests: the .debs minetd's package
# depends on (update-inetd, tcpd) and the inetd programs the inet-superserver tests serve
# (fingerd, nullidentd, tftpd-hpa, ...). The containers have no network: the .debs are
# downloaded here, once, and installed there with dpkg -i. Sourced (POSIX sh).
#
#   debs_fetch PKG...   puts PKG_VERSION_ARCH.deb of each into $DEBS (default
#                       $TOP/build/debs) with apt-get download, unless one is there
#                       already; the package lists are updated once if a package is not
#                       found. 0, or 1 with the reason in $debs_why
#   debs_of PKG...      the paths of their .debs in $DEBS (after debs_fetch)
#   minetd_deb          $deb: the package of this tree, $DEB if set, else
#                       build/minetd_*.deb, (re)built with tools/build-deb.sh when missing
#                       or older than a file of the tree (make check must not test the
#                       package of an old tree); $deb_built is "yes" when it built it now.
#                       0, or 1 with the reason in $debs_why
#
# What minetd's .deb needs beyond what a Debian 12 host has: MINETD_DEB_DEPENDS.

DEBS=${DEBS:-$TOP/build/debs}
MINETD_DEB_DEPENDS="update-inetd tcpd"

_debs_have() {
	for _f in "$DEBS/$1"_*.deb; do
		[ -e "$_f" ] && return 0
	done
	return 1
}

debs_fetch() {
	debs_why=
	mkdir -p "$DEBS" || { debs_why="cannot make $DEBS"; return 1; }
	_missing=
	for _p in "$@"; do
		_debs_have "$_p" || _missing="$_missing $_p"
	done
	[ -z "$_missing" ] && return 0
	if ! command -v apt-get >/dev/null 2>&1; then
		debs_why="no apt-get to download$_missing"
		return 1
	fi
	# apt-get download writes into the current directory; as root it drops to _apt,
	# which must be able to write there.
	chmod 777 "$DEBS" 2>/dev/null
	if ! _out=$(cd "$DEBS" && apt-get download -q $_missing 2>&1); then
		apt-get update -q >/dev/null 2>&1
		if ! _out=$(cd "$DEBS" && apt-get download -q $_missing 2>&1); then
			debs_why="apt-get download$_missing failed: $(printf '%s' "$_out" | tail -2 | tr '\n' ' ')"
			return 1
		fi
	fi
	for _p in $_missing; do
		_debs_have "$_p" || { debs_why="apt-get download $_p left no .deb in $DEBS"; return 1; }
	done
}

debs_of() {
	for _p in "$@"; do
		# the newest version, if several were downloaded over time
		ls -1 "$DEBS/$_p"_*.deb 2>/dev/null | sort -V | tail -1
	done
}

_deb_stale() {	# _deb_stale DEB: true when DEB is missing or a source file is newer
	[ -e "$1" ] || return 0
	find "$TOP" \( -path "$TOP/build" -o -path "$TOP/.git" \) -prune -o \
		-type f -newer "$1" -print -quit | grep -q .
}

minetd_deb() {
	deb=${DEB:-} deb_built= debs_why=
	if [ -z "$deb" ]; then
		set -- "$TOP"/build/minetd_*.deb
		if [ $# -ne 1 ] || _deb_stale "$1"; then
			echo "building the package: tools/build-deb.sh"
			"$TOP/tools/build-deb.sh" || { debs_why="tools/build-deb.sh failed (output above)"; return 1; }
			deb_built=yes
			set -- "$TOP"/build/minetd_*.deb
		fi
		[ $# -eq 1 ] && [ -e "$1" ] || { debs_why="expected one build/minetd_*.deb, found $*"; return 1; }
		deb=$1
	fi
	[ -f "$deb" ] || { debs_why="no package $deb"; return 1; }
	echo "package: $deb"
}
