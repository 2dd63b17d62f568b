# Helpers of the autopkgtests (bash), sourced by each: . "$(dirname "$0")/lib.sh"

fail() { echo "FAIL: $*"; exit 1; }

wait_for() {	# wait_for SECONDS COMMAND...: poll until COMMAND succeeds
	local tries=$(($1 * 10)); shift
	until "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

tcp_echo() {	# tcp_echo PORT: one line there and back over TCP
	local msg="minetd autopkgtest over TCP $$ $RANDOM" reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf '%s\n' "$msg" >&3
	reply=$(timeout 10 head -n 1 <&3) || true
	exec 3>&-
	[ "$reply" = "$msg" ] || { echo "TCP echo on $1: sent '$msg', got '$reply'"; return 1; }
}

udp_echo() {	# udp_echo PORT: one datagram there and back, read whole (one read(2))
	local msg="minetd autopkgtest over UDP $$ $RANDOM" reply
	exec 4<>"/dev/udp/127.0.0.1/$1" || return 1
	printf '%s' "$msg" >&4
	reply=$(timeout 10 dd bs=65536 count=1 status=none <&4) || true
	exec 4>&-
	[ "$reply" = "$msg" ] || { echo "UDP echo on $1: sent '$msg', got '$reply'"; return 1; }
}

# A daytime line: day, month, date, time, year, then CR LF.
DAYTIME=$'^[A-Z][a-z][a-z] [A-Z][a-z][a-z] [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] [0-9]{4}\r$'

daytime_tcp() {	# daytime_tcp PORT: one daytime line, then the server closes
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	reply=$(timeout 10 cat <&3) || true
	exec 3>&-
	[[ $reply =~ $DAYTIME ]] || { echo "daytime over TCP on $1: got '$reply'"; return 1; }
}

daytime_udp() {	# daytime_udp PORT: the same line in reply to a datagram
	local reply
	exec 4<>"/dev/udp/127.0.0.1/$1" || return 1
	printf '\n' >&4
	reply=$(timeout 10 dd bs=65536 count=1 status=none <&4) || true
	exec 4>&-
	[[ $reply =~ $DAYTIME ]] || { echo "daytime over UDP on $1: got '$reply'"; return 1; }
}

tcp_closed() {	# tcp_closed PORT: nothing accepts TCP connections on PORT
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The journal from now on, for journal_since: journal_since CURSOR ARG...
cursor() { journalctl -n 0 --show-cursor --no-pager -q | sed -n 's/^-- cursor: //p'; }
journal_since() {
	local c=$1; shift
	journalctl --sync 2>/dev/null || true
	journalctl --no-pager -q -o cat --cursor="$c" "$@"
}
