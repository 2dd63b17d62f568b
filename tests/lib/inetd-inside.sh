# Helpers for the inetd package tests' scripts (tests/package/inetd-*-inside.sh), which
# tests/package/inetd.sh runs in booted containers with minetd's .deb in /minetd-deb and the
# archive's .debs in /minetd-debs. Sourced (bash) after /minetd-lib/inside.sh, whose
# pass/fail/check/expect/wait_for/listening/finish it builds on.
#
#   deb PKG...                 the path of each package's .deb
#   dpkg_install NAME DEB...   dpkg -i: PASS/FAIL NAME, dpkg's output in $out (shown on FAIL)
#   apt_install NAME FILE...   apt-get install of local .debs (no archive: the container has no
#                              network), as an admin switching inetds would: PASS/FAIL NAME
#   show LABEL TEXT            TEXT (what a client printed) in the log, each line "    LABEL| "
#   has TEXT ERE               TEXT has a line that matches ERE
#   within SECONDS CMD...      CMD until it succeeds; prints the seconds it took; false after
#   refused_within SECONDS CMD...  the same, until CMD fails
#   holder tcp|udp PORT        the processes listening there, as ss names them
#   http_code URL              curl's HTTP status (000: no answer)
#   finger_ok HOST             finger root@HOST answers with root's entry
#   unprivileged_serving       every process of minetd.service: uid not 0, CapEff 0 (prints them)
#   update_inetd NAME ARG...   update-inetd ARG...: PASS/FAIL NAME-quiet on its stderr (any
#                              warning fails: DebianNet.pm's "Use of uninitialized value", "does
#                              not have a valid pid", invoke-rc.d's failures)

# What an admin's machine has, not a Docker image's: no policy-rc.d refusing every start; no
# questions; no man-db rebuild after each package (slow, and nothing here reads it).
rm -f /usr/sbin/policy-rc.d /var/lib/man-db/auto-update
export DEBIAN_FRONTEND=noninteractive

DEBS_DIR=/minetd-debs
MINETD_DEB=$(ls -1 /minetd-deb/*.deb | head -n 1)

deb() {
	for _p in "$@"; do
		ls -1 "$DEBS_DIR/$_p"_*.deb 2>/dev/null | sort -V | tail -1
	done
}

dpkg_install() {
	_name=$1
	shift
	if out=$(dpkg -i "$@" 2>&1); then
		pass "$_name"
	else
		fail "$_name" "dpkg -i ${*##*/} failed"
		show dpkg "$out"
	fi
	update_inetd_warnings "$_name" "$out"
}

# What update-inetd prints when it cannot wake the inetd (a maintainer script's call of it
# included): none of it may appear.
update_inetd_warnings() {
	_w=$(printf '%s\n' "$2" | grep 'DebianNet.pm\|does not have a valid pid\|restart inetd manually\|invoke-rc.d: .*failed')
	if [ -n "$_w" ]; then fail "$1-update-inetd-quiet" "$_w"; fi
}

# sources.list and its directory: none (apt reads the local .debs and dpkg's status only).
mkdir -p /run/no-sources.d
: >/run/no-sources.list
apt_install() {
	_name=$1
	shift
	if out=$(apt-get install -y -q -o Dir::Etc::SourceList=/run/no-sources.list \
			-o Dir::Etc::SourceParts=/run/no-sources.d "$@" 2>&1); then
		pass "$_name"
	else
		fail "$_name" "apt-get install $* failed"
	fi
	update_inetd_warnings "$_name" "$out"
	show apt "$(printf '%s\n' "$out" | grep -A1 'will be REMOVED\|NEW packages' | grep -v '^--$')"
	printf '%s\n' "$out" | grep -q '^[EW]: \|rror' && show apt "$out"
	return 0
}

show() {
	printf '%s\n' "$2" | tr -d '\0' | awk -v label="$1" '{ print "    " label "| " $0 }' | tee -a "$RESULTS"
}
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }

_within() {	# _within WANT SECONDS CMD...: WANT 0 = until it succeeds, 1 = until it fails
	_want=$1 _limit=$2
	shift 2
	_t0=$(date +%s%N)
	while :; do
		if "$@" >/dev/null 2>&1; then _got=0; else _got=1; fi
		_ms=$((($(date +%s%N) - _t0) / 1000000))
		if [ $_got = "$_want" ]; then
			printf '%d.%01d\n' $((_ms / 1000)) $((_ms % 1000 / 100))
			return 0
		fi
		[ $_ms -lt $((_limit * 1000)) ] || return 1
		sleep 0.1
	done
}
within() { _within 0 "$@"; }
refused_within() { _within 1 "$@"; }

holder() {
	[ "$1" = tcp ] && _o=-Hltnp || _o=-Hlunp
	ss $_o "sport = :$2" | while read -r _s _r _q _local _peer _users; do
		echo "$_local $(echo "$_users" | grep -o '"[^"]*"' | sort -u | tr '\n' ' ')"
	done
}

http_code() { curl -sS -o /dev/null --max-time 5 -w '%{http_code}' "$1" 2>/dev/null; }

finger_ok() { finger "root@$1" 2>&1 | grep -q '^Login: root'; }

unprivileged_serving() {
	_bad=0
	for _pid in $(cat /sys/fs/cgroup/system.slice/minetd.service/cgroup.procs); do
		# 0: a process of another pid namespace (none of this container's)
		[ "$_pid" = 0 ] && { echo "pid 0: not in this pid namespace"; continue; }
		_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$_pid/status")
		_cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$_pid/status")
		echo "pid $_pid ($(cat /proc/$_pid/comm)): uid $_uid, CapEff $_cap"
		[ "$_uid" != 0 ] && [ "$_cap" = 0000000000000000 ] || _bad=1
	done
	[ -n "${_pid:-}" ] && [ $_bad = 0 ]
}

update_inetd() {
	_name=$1
	shift
	if _err=$(update-inetd "$@" 2>&1 >/dev/null) && [ -z "$_err" ]; then
		pass "$_name-quiet"
	else
		fail "$_name-quiet" "update-inetd $* printed on stderr: $_err"
	fi
}

# http_state NAME: who holds port 80 (minetd for inetd.conf's www line of micro-httpd, or
# systemd for micro-httpd.socket, or both: the socket 0.0.0.0:80 and minetd [::]:80 for
# IPv6 alone), whether the one left out says so, and HTTP 200 over IPv4 and IPv6
# (micro-httpd's own socket is 0.0.0.0:80 only; under openbsd-inetd, inetd keeps [::]:80
# when the socket has 0.0.0.0:80). CURSOR: the journal from where to look.
http_state() {
	_n=$1 _c=$2
	_who=$(holder tcp 80)
	show "$_n: port 80" "${_who:-nobody listens}"
	show "$_n: micro-httpd.socket" "$(systemctl is-active micro-httpd.socket)"
	show "$_n: minetd STATUS" "$(prop minetd.service StatusText)"
	case $_who in
	*'"minetd"'*'"systemd"'* | *'"systemd"'*'"minetd"'*)
		show "$_n: winner" "micro-httpd.socket on IPv4, minetd on IPv6"
		_l=$(journal_since "$_c" -b -u minetd.service | grep "www.tcp.*80")
		show "$_n: journal" "$_l"
		check "$_n-minetd-says-ipv4-taken" has "$_l" \
			"service 'www\\.tcp': tcp 0\\.0\\.0\\.0:80 is taken \\(another socket holds the port on IPv4 alone\\): serving \\[::\\]:80 over IPv6 alone"
		check "$_n-minetd-status-not-served" has "$(prop minetd.service StatusText)" 'not served: www\.tcp'
		;;
	*'"minetd"'*)
		show "$_n: winner" minetd
		if systemctl -q is-enabled micro-httpd.socket 2>/dev/null; then
			_l=$(journal_since "$_c" -b -u micro-httpd.socket | grep 'Failed to create listening socket.*80')
			show "$_n: journal" "$_l"
			check "$_n-socket-failure-said" test -n "$_l"
		fi
		;;
	*'"systemd"'*)
		show "$_n: winner" micro-httpd.socket
		_l=$(journal_since "$_c" -b -u minetd.service | grep "www.tcp.*80")
		show "$_n: journal" "$_l"
		check "$_n-minetd-says-www-not-served" has "$_l" \
			"service 'www.tcp': cannot listen on tcp .*:80: Address already in use; trying again every second"
		check "$_n-minetd-status-not-served" has "$(prop minetd.service StatusText)" 'not served: www\.tcp'
		;;
	*)
		fail "$_n-port-80" "neither minetd nor micro-httpd.socket listens on port 80: $_who"
		;;
	esac
	for _url in http://127.0.0.1/hello.html 'http://[::1]/hello.html'; do
		_code=$(http_code "$_url")
		show "$_n: curl $_url" "$_code"
		case $_url in *::1*) _f=ipv6 ;; *) _f=ipv4 ;; esac
		expect "$_n-http-200-$_f" 200 "$_code"
	done
}
