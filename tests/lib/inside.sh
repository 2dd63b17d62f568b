# Helpers for a test script that container.sh's container_boot runs inside the booted
# container; sourced (POSIX sh) as /minetd-lib/inside.sh. Results go to
# /minetd-out/results, one PASS:/FAIL:/SKIP: line each (copied to the log on stdout);
# `finish` ends the test and the container.
#
#   pass NAME | fail NAME REASON | skip NAME REASON
#   check NAME COMMAND...          PASS when COMMAND succeeds, else FAIL with its output
#   expect NAME WANT GOT           PASS when WANT = GOT
#   wait_for SECONDS COMMAND...    until COMMAND succeeds; false after SECONDS
#   client ARGS...                 tests/systemd/client.py: echo-tcp PORT, refused-udp PORT, ...
#   prop UNIT PROPERTY             the value systemctl show gives
#   cursor                         a journal cursor for journal_since
#   journal_since CURSOR [ARG...]  journalctl -o cat from CURSOR on, with ARGs (-u UNIT, ...)
#   add_minetd_user                the static system user _minetd, as the package's postinst
#                                  makes it (tests that install the tree, before minetd starts:
#                                  without it dbus-daemon refuses minetd's dynamic user, and
#                                  minetd cannot tell a stop from a restart; systemd #22737)
#   add_service LINE [CONF]        LINE first in the services list of CONF (default
#                                  /etc/minetd/minetd.conf)
#   remove_service NAME [CONF]     the line of service NAME (one line) out of CONF
#   listening PROTO PORT           something listens on PORT (tcp or udp)
#   finish                         "DONE", the journal of the minetd units in
#                                  /minetd-out/journal, and the container exits 0 or 1

# These tests edit /etc: never anywhere but in the container that container_boot booted.
if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ] || [ ! -d /minetd-out ] ||
    [ ! -f /minetd-client.py ]; then
	echo "SKIP: ${0##*/}: runs only in the container that tests/lib/container.sh boots"
	exit 77
fi

RESULTS=/minetd-out/results
export CLIENT_TIMEOUT=5
failed=0
: >"$RESULTS"

say() { echo "$1" | tee -a "$RESULTS"; }
pass() { say "PASS: $1"; }
fail() { say "FAIL: $1: $2"; failed=$((failed + 1)); }
skip() { say "SKIP: $1: $2"; }
check() {
	_name=$1
	shift
	if _out=$("$@" 2>&1); then
		pass "$_name"
	else
		fail "$_name" "$(printf '%s\n' "${_out:-"$* failed"}" | tail -n 5 | tr '\n' ' ')"
	fi
}
expect() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}
wait_for() {
	_tries=$(($1 * 10))
	shift
	until "$@" >/dev/null 2>&1; do
		_tries=$((_tries - 1))
		[ $_tries -gt 0 ] || return 1
		sleep 0.1
	done
}
client() { python3 /minetd-client.py "$@"; }
prop() { systemctl show -P "$2" "$1"; }
cursor() { journalctl -n 0 --show-cursor --no-pager -q | sed -n 's/^-- cursor: //p'; }
# --cursor, not --after-cursor: journalctl 252 with a match after --after-cursor finds
# nothing when the cursor's own entry does not match.
journal_since() {
	journalctl --sync 2>/dev/null
	_c=$1
	shift
	journalctl --no-pager -q -o cat ${_c:+--cursor="$_c"} "$@"
}
add_minetd_user() {
	getent passwd _minetd >/dev/null ||
		adduser --system --group --quiet --no-create-home --home /nonexistent _minetd
}
add_service() {
	sed -i "s|^services = (|services = (\n  $1|" "${2:-/etc/minetd/minetd.conf}"
}
remove_service() {
	sed -i "/^ *{ name = \"$1\";/d" "${2:-/etc/minetd/minetd.conf}"
}
listening() {
	case $1 in tcp) ss -Hltn "sport = :$2" | grep -q . ;; udp) ss -Hlun "sport = :$2" | grep -q . ;; esac
}
finish() {
	say "DONE"
	journalctl --no-pager -o short-monotonic -u 'minetd*' >/minetd-out/journal 2>&1
	if [ $failed -eq 0 ]; then systemctl exit 0; else systemctl exit 1; fi
	exit 0
}

# A chroot (such as a fresh-root check) cannot create user namespaces, so PrivateUsers=yes
# cannot run there: say so loudly and test the rest with a runtime drop-in (which no check
# of files under /etc or /lib sees).
userns=yes
if ! unshare --user true 2>/dev/null; then
	userns=no
	skip private-users "no user namespaces on this machine (a chroot?); minetd.service runs with PrivateUsers=no here"
	mkdir -p /run/systemd/system/minetd.service.d
	printf '[Service]\nPrivateUsers=no\n' >/run/systemd/system/minetd.service.d/no-userns.conf
	systemctl daemon-reload
fi
