#!/bin/sh
# Installs what a make target needs on Debian 12: tools/deps.sh GROUP...
# Groups: build, check, deb, bench. check's last line is for the package tests' containers,
# which boot this machine's root: curl, and the libraries of the archive's inetd programs
# they install with dpkg -i (openbsd-inetd's libevent, inetutils-talk's libncurses).
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -eu

packages() {
	case "$1" in
	build) echo gcc libc6-dev make pkgconf libsystemd-dev libconfig-dev ;;
	check) echo libcmocka-dev python3 socat netcat-openbsd netbase rdate valgrind clang libclang-rt-14-dev \
		systemd systemd-container dbus iproute2 procps man-db \
		curl libevent-2.1-7 libncurses6 ;;
	deb) echo dpkg-dev debhelper lintian man-db ;;
	bench) echo gnuplot-nox procps python3 ;;
	*) echo "tools/deps.sh: unknown group '$1'" >&2; exit 2 ;;
	esac
}

want=""
for group in "$@"; do
	want="$want $(packages "$group")"
done
missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "minetd: missing Debian packages:$missing" >&2
	echo "minetd: install them with: sudo apt-get install --no-install-recommends$missing" >&2
	exit 1
fi
echo "minetd: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; an old list may name versions long gone.
if ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
