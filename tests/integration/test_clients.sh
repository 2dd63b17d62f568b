#!/usr/bin/env bash
# Real clients against the real daemon: nc, socat, rdate (RFC 868 over TCP and UDP).
set -u
MINETD=${MINETD:-$(cd "$(dirname "$0")/../.." && pwd)/build/minetd}
dir=$(mktemp -d /tmp/minetd-clients.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
fails=0
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
E=$(port) D=$(port) T=$(port) C=$(port)
cat >"$dir/minetd.conf" <<CONF
host = "127.0.0.1";
services = (
  { name = "echo"; handler = "echo"; port = $E; },
  { name = "daytime"; handler = "daytime"; port = $D; },
  { name = "time"; handler = "time"; port = $T; },
  { name = "chargen"; handler = "chargen"; port = $C; protocol = "tcp"; }
);
CONF
"$MINETD" -c "$dir/minetd.conf" -l stderr 2>"$dir/log" & pids+=($!)
for _ in $(seq 50); do grep -q started "$dir/log" && break; sleep 0.1; done

out=$(printf 'hello nc\n' | timeout 5 nc -N 127.0.0.1 "$E")
[ "$out" = "hello nc" ] && ok "nc tcp echo" || bad "nc tcp echo" "got '$out'"
out=$(printf 'hello udp\n' | timeout 5 nc -u -w1 127.0.0.1 "$E")
[ "$out" = "hello udp" ] && ok "nc udp echo" || bad "nc udp echo" "got '$out'"
out=$(timeout 5 nc -d 127.0.0.1 "$D" | tr -d '\r')
[[ $out =~ ^[A-Z][a-z]{2}\ [A-Z][a-z]{2}\ [\ 0-9][0-9]\ [0-9:]{8}\ [0-9]{4}$ ]] && ok "nc daytime" || bad "nc daytime" "got '$out'"

out=$(printf 'hello socat' | timeout 5 socat - TCP:127.0.0.1:"$E",shut-down)
[ "$out" = "hello socat" ] && ok "socat tcp echo" || bad "socat tcp echo" "got '$out'"
out=$(printf 'hello socat udp' | timeout 5 socat -t1 - UDP:127.0.0.1:"$E")
[ "$out" = "hello socat udp" ] && ok "socat udp echo" || bad "socat udp echo" "got '$out'"
n=$(timeout 5 socat -u TCP:127.0.0.1:"$T" - | wc -c)
[ "$n" = 4 ] && ok "socat time: 4 bytes then close" || bad "socat time" "got $n bytes"
n=$(timeout 5 socat -u TCP:127.0.0.1:"$C" - 2>/dev/null | head -c 7400 | tr -d '\r' | head -100 | awk 'length($0) != 72' | wc -l)
[ "$n" = 0 ] && ok "socat chargen lines of 72" || bad "socat chargen" "$n odd lines"
# rdate speaks only to port 37: give it a network namespace of its own.
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v rdate >/dev/null; then
	echo "SKIP: rdate: needs root, unshare and rdate (a private network namespace for port 37)"
else
	cat >"$dir/time.conf" <<CONF
host = "127.0.0.1";
services = ( { name = "time"; handler = "time"; port = 37; } );
CONF
	out=$(timeout 20 unshare -n bash -c '
		ip link set lo up
		"$0" -c "$1" -l stderr 2>/dev/null & pid=$!
		for _ in $(seq 50); do rdate -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done
		echo "tcp: $(rdate -p 127.0.0.1 2>&1)"
		echo "udp: $(rdate -p -u 127.0.0.1 2>&1)"
		kill $pid; wait $pid' "$MINETD" "$dir/time.conf")
	now=$(date +%Y)
	for proto in tcp udp; do
		line=$(echo "$out" | grep "^$proto: ")
		[[ $line == *"$now"* ]] && ok "rdate over $proto" || bad "rdate $proto" "got '$line'"
	done
fi
exit $((fails > 0))
