#!/bin/sh
# Socket activation without booting: nested systemd-socket-activate hands
# minetd three named sockets, and the config has one service with no socket:
#
#   daytime        TCP, inherited; a handler name, not in the config
#   myecho         UDP, inherited; config service "myecho" (handler echo)
#   nosuchservice  TCP, inherited; matches nothing: a warning, then closed
#   own            TCP and UDP, not inherited: minetd's privileged helper binds it
#                  (handler time); by hand, minetd starts the helper as its child
#
# All served by one process at once. See ../../../shared/SYSTEMD-TESTING.md.
#
# Prints PASS:/FAIL:/SKIP: lines; exits 0, 1 on any FAIL, 77 if all skipped.

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MINETD=${MINETD:-$TOP/build/minetd}
client() { python3 "$TOP/tests/systemd/client.py" "$@"; }
export CLIENT_TIMEOUT=5

failed=0 passed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP: $1: $2"; }

# check NAME CLIENT-ARGS...: one PASS or FAIL line from a client.py run.
check() {
	name=$1
	shift
	if out=$(client "$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(echo "$out" | tr '\n' ' ')"
	fi
}

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	skip socket-activate "systemd-socket-activate not installed (package systemd)"
	exit 77
fi
if [ ! -x "$MINETD" ]; then
	fail socket-activate "$MINETD not built"
	exit 1
fi

tmp=$(mktemp -d) || exit 1
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# shellcheck disable=SC2046 # one word per port
set -- $(client freeports 5)
if [ $# -ne 5 ]; then
	fail socket-activate "could not find free loopback ports"
	exit 1
fi
p_daytime=$1 p_myecho=$2 p_nothing=$3 p_own=$4 p_myecho_config=$5

# myecho's own port is never used: its inherited socket replaces it.
cat >"$tmp/minetd.conf" <<EOF
host = "127.0.0.1";
services = (
  { name = "myecho"; handler = "echo"; port = $p_myecho_config; protocol = "udp"; },
  { name = "own"; handler = "time"; port = $p_own; protocol = "both"; }
);
EOF

out=$(timeout 10 "$MINETD" -t -c "$tmp/minetd.conf" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	pass "config-check"
else
	fail "config-check" "minetd -t: status $rc: $(echo "$out" | tr '\n' ' ')"
fi

# Each systemd-socket-activate binds its own socket, waits for the first
# client on any of them, then execs the next one, which inherits the sockets
# so far: the names accumulate. The last one execs minetd in the same process,
# so $pid is minetd's pid; every wait on it below is bounded.
systemd-socket-activate -l "127.0.0.1:$p_daytime" --fdname=daytime \
systemd-socket-activate -d -l "127.0.0.1:$p_myecho" --fdname=daytime:myecho \
systemd-socket-activate -l "127.0.0.1:$p_nothing" --fdname=daytime:myecho:nosuchservice \
"$MINETD" -c "$tmp/minetd.conf" -l stderr >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!

# The first daytime client starts the chain and waits in the backlog of the
# first socket until minetd accepts it.
client wait-tcp "$p_daytime" 10 >/dev/null
sleep 0.2
if ! kill -0 "$pid" 2>/dev/null; then
	wait "$pid"
	fail "socket-activate" "minetd exited with status $? at start: $(grep -v -e '^Execing ' -e '^Listening on ' -e '^Received ' -e '^Communication attempt' "$tmp/stderr" | tr '\n' ' ')"
	pid=
	exit 1
fi
check "inherited-tcp-handler-name (daytime, not in config)" daytime-tcp "$p_daytime"
if out=$(client wait-tcp "$p_own" 10); then
	check "own-bound-tcp (time)" time-tcp "$p_own"
	check "own-bound-udp (time)" time-udp "$p_own"
else
	fail "own-bound" "$out"
fi
# By hand the helper is minetd's child; it passes the sockets it binds and keeps none.
helper=$(pgrep -P "$pid" -x minetd-helper)
if [ -n "$helper" ]; then
	pass "by-hand-helper-child (pid $helper)"
else
	fail "by-hand-helper-child" "no minetd-helper child of minetd (pid $pid): $(ps -o pid,comm --ppid "$pid" | tr '\n' ' ')"
fi
held=$(ss -Hltnp "sport = :$p_own" | grep -o 'users:.*')
case $held in
*'"minetd",pid='"$pid"*) case $held in *minetd-helper*) fail "own-socket-not-kept-by-helper" "$held" ;;
	*) pass "own-socket-not-kept-by-helper" ;; esac ;;
*) fail "own-socket-not-kept-by-helper" "port $p_own held by: $held" ;;
esac
check "inherited-udp-config-name (myecho)" echo-udp "$p_myecho"
check "inherited-tcp-again (daytime)" daytime-tcp "$p_daytime"
check "inherited-not-bound-twice (myecho's config port unused)" refused-udp "$p_myecho_config"

# systemd-socket-activate logs to the same stderr; its lines name the socket too.
if grep -v -e '^Execing ' -e '^Listening on ' -e '^Received ' -e '^Communication attempt' \
    "$tmp/stderr" | grep nosuchservice | grep -qi warn; then
	pass "unmatched-socket-warning"
else
	fail "unmatched-socket-warning" "no warning on stderr names nosuchservice: $(tr '\n' ' ' <"$tmp/stderr")"
fi
check "unmatched-socket-closed" refused-tcp "$p_nothing"
# The config and the socket disagree on myecho's port: the socket wins, and minetd says so.
want="service 'myecho': the config says port $p_myecho_config on 127.0.0.1, but its udp socket from systemd listens on 127.0.0.1:$p_myecho; serving the socket"
if grep -qF "$want" "$tmp/stderr"; then
	pass "config-socket-mismatch-warning"
else
	fail "config-socket-mismatch-warning" "no '$want' on stderr"
fi
check "still-serving-after-all (myecho)" echo-udp "$p_myecho"

if kill -0 "$pid" 2>/dev/null; then
	kill -TERM "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "sigterm-exit-0" "still running 10 s after SIGTERM"
	else
		wait "$pid"
		rc=$?
		pid=
		if [ $rc -eq 0 ]; then
			pass "sigterm-exit-0"
		else
			fail "sigterm-exit-0" "exit status $rc; stderr: $(tail -n 5 "$tmp/stderr" | tr '\n' ' ')"
		fi
		i=0
		while [ -n "$helper" ] && kill -0 "$helper" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if [ -n "$helper" ] && kill -0 "$helper" 2>/dev/null; then
			fail "by-hand-helper-ends-with-minetd" "minetd-helper (pid $helper) still runs 5 s after minetd's exit"
			kill -KILL "$helper"
		elif [ -n "$helper" ]; then
			pass "by-hand-helper-ends-with-minetd"
		fi
	fi
else
	wait "$pid"
	fail "sigterm-exit-0" "minetd already gone (status $?); stderr: $(tail -n 5 "$tmp/stderr" | tr '\n' ' ')"
	pid=
fi

if [ $failed -ne 0 ]; then
	echo "--- minetd stderr:"
	sed 's/^/    /' "$tmp/stderr"
	exit 1
fi
[ $passed -gt 0 ] || exit 77
exit 0
