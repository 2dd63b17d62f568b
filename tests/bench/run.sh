#!/bin/bash
# The benchmark of issue 7: minetd against a minimal epoll reference server
# and the inetds Debian ships, side by side, in one run, on loopback.
#
# Env (set by `make bench`): MINETD (the binary), TOP (repo root), OUT (output
# dir).  Tunables: BENCH_RUNS (3 rounds), BENCH_SECS (3 s per measurement),
# BENCH_IDLE (10000 idle connections), BENCH_STARTS (7 start-up measurements
# per server: they are short and noisy), BENCH_THREADS (load generator event
# loops, 1: on two CPUs a second one mostly takes CPU from the server).
# Writes $OUT/report.md, $OUT/*.png, raw figures in $OUT/data/, server logs
# in $OUT/logs/.
# BENCH_WORKLOADS (default: all of tcp udp daytime daytime1 exec inetd idle
# startup) and BENCH_SERVERS (default: all) pick what runs, e.g.
# BENCH_WORKLOADS="exec daytime" for a quick look at those two.  daytime1 is
# daytime with every client from one source address (issue 21).
#
# Issue 19: minetd.old is minetd before its privileged helper, built from
# OLD_COMMIT of this repository (a temporary git worktree, the same compiler
# and flags; the binary is kept in $OUT/old/), and tcpserver (ucspi-tcp) forks
# per connection like the inetds; both serve the exec workload only.  Issue
# 20: the inetd workload is one inetd.conf line, the same file for minetd
# (its `inetd` key) and openbsd-inetd.
#
# As root every server runs in a network namespace of its own, bound to
# 10.77.0.1 (a locally routed /16 on lo), and every client has its own source
# address (but in daytime1): the inetds' built-in services only run on their
# official ports (7, 13), and openbsd-inetd drops UDP from 127/8 by design.
# Without root the reference and minetd run on 127.0.0.1 and the inetds are
# n/a.
#
# Server CPU time is read from a cgroup of the server's own (cgroup v2
# cpu.stat, or v1 cpuacct.usage), which counts every process the server
# forks, running or exited, reaped or not; without cgroups, from /proc (the
# processes in the server's namespace plus the children they have reaped).
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=${TOP:-$(cd "$HERE/../.." && pwd)}
OUT=${OUT:-$TOP/build/bench}
MINETD=${MINETD:-$TOP/build/minetd}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-3}
IDLE_CONNS=${BENCH_IDLE:-10000}
THREADS=${BENCH_THREADS:-1}
STARTS=${BENCH_STARTS:-7}
WARMUP=0.5
# minetd.percpu: the same minetd with one event loop per CPU (workers = 0).
ALL_SERVERS="ref minetd minetd.percpu minetd.old xinetd openbsd-inetd inetutils-inetd tcpserver"
ALL_WORKLOADS="tcp udp daytime daytime1 exec inetd idle startup"
SERVERS=${BENCH_SERVERS:-$ALL_SERVERS}
WORKLOADS=${BENCH_WORKLOADS:-$ALL_WORKLOADS}
# exec: what every server runs per connection, and as whom.
EXEC_PROGRAM=/bin/cat
EXEC_USER=nobody
# minetd's exec service: room for every client at once, so it is not the limit.
EXEC_PROCESSES=256
EXEC_CLIENTS=20
INETD_PACKAGES="xinetd openbsd-inetd inetutils-inetd"
# Issue 19: old main, the commit before the privileged helper; the servers
# that take part in the exec workload only.
OLD_COMMIT=a4f5c08
EXEC_ONLY="minetd.old tcpserver"
# Issue 20: the servers of the inetd workload, and the invocations a minute
# of its line (.max), the same for both: without it, inetd.conf's default of
# 256 would stop minetd within seconds.
INETD_SERVERS="minetd openbsd-inetd"
INETD_MAX=100000
INETD_LIBS="libbsd0 libevent-2.1-7 libtirpc3 libwrap0 libselinux1"

START_NS=$(date +%s%N)
DATA=$OUT/data
LOGS=$OUT/logs
RESULTS=$DATA/results.txt
RUNDIR=$(mktemp -d /tmp/minetd-bench.XXXXXX)
chmod 755 "$RUNDIR" # its notify socket: for servers that gave up root too
NS_PREFIX="mbench$$"
NETNS=0
ADDR=127.0.0.1
LAUNCH=()
declare -A NS ECHO_PORT DAYTIME_PORT EXEC_PORT CMD PID NA PIDFILE CGROUP NA_EXEC
declare -A NA_INETD
INETD_SERVICE="" INETD_PORT=""
CREATED_NS=""
CREATED_CGROUPS=""
CGROUP_ROOT=""
CGROUP_KIND="" # v2, v1 or empty (/proc)
BACKGROUND=""

log() {
	printf '[bench %6.1fs] %s\n' "$(( ($(date +%s%N) - START_NS) / 1000000 ))e-3" "$*" >&2
}

# --- cleanup: everything we start is in our namespaces or in BACKGROUND ----

ns_pids() { ip netns pids "$1" 2>/dev/null; }

# Only signal a pid that is still our child, not a recycled one.
our_children() {
	local pid
	for pid in $BACKGROUND; do
		[ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" = $$ ] && echo "$pid"
	done
}

cleanup() {
	local ns pid i cg
	BACKGROUND=$(our_children)
	for pid in $BACKGROUND; do kill -TERM "$pid" 2>/dev/null; done
	for ns in $CREATED_NS; do
		for pid in $(ns_pids "$ns"); do kill -TERM "$pid" 2>/dev/null; done
	done
	for i in $(seq 20); do
		local alive=0
		for pid in $BACKGROUND; do kill -0 "$pid" 2>/dev/null && alive=1; done
		for ns in $CREATED_NS; do [ -n "$(ns_pids "$ns")" ] && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in $BACKGROUND; do kill -KILL "$pid" 2>/dev/null; done
	for ns in $CREATED_NS; do
		for pid in $(ns_pids "$ns"); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	for cg in $CREATED_CGROUPS; do
		for i in $(seq 20); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
	done
	[ -n "$CGROUP_ROOT" ] && rmdir "$CGROUP_ROOT" 2>/dev/null
	rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# Run a command in a server's namespace (or here, without namespaces).
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# Kill what is left in a namespace (inetutils-inetd daemonizes).
ns_reset() {
	local ns=$1 pid i
	[ -n "$ns" ] || return 0
	for pid in $(ns_pids "$ns"); do kill -TERM "$pid" 2>/dev/null; done
	for i in $(seq 30); do [ -z "$(ns_pids "$ns")" ] && return 0; sleep 0.1; done
	for pid in $(ns_pids "$ns"); do kill -KILL "$pid" 2>/dev/null; done
}

# --- setup ------------------------------------------------------------------

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
	is_root || return 1
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends "$@" \
		>>"$LOGS/apt.log" 2>&1 && return 0
	timeout 300 apt-get update -q >>"$LOGS/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends "$@" \
		>>"$LOGS/apt.log" 2>&1
}

# The inetds conflict as packages: unpack each into $OUT/pkgs/NAME instead.
unpack_package() {
	local pkg=$1 dir=$OUT/pkgs/$1 deb
	[ -f "$dir/.unpacked" ] && return 0
	mkdir -p "$OUT/pkgs/debs" && rm -rf "$dir"
	deb=$(ls "$OUT/pkgs/debs/${pkg}_"*.deb 2>/dev/null | head -n1)
	if [ -z "$deb" ]; then
		(cd "$OUT/pkgs/debs" && timeout 120 apt-get download -q "$pkg") >>"$LOGS/apt.log" 2>&1 ||
			{ is_root && timeout 300 apt-get update -q >>"$LOGS/apt.log" 2>&1 &&
			  (cd "$OUT/pkgs/debs" && timeout 120 apt-get download -q "$pkg") >>"$LOGS/apt.log" 2>&1; } ||
			return 1
		deb=$(ls "$OUT/pkgs/debs/${pkg}_"*.deb 2>/dev/null | head -n1)
	fi
	[ -n "$deb" ] && dpkg -x "$deb" "$dir" && touch "$dir/.unpacked"
}

missing_libs() { ldd "$1" 2>/dev/null | grep -c 'not found'; }

# Old main (issue 19): minetd of OLD_COMMIT, built in a temporary git worktree
# with the compiler and flags of this build (CC, CFLAGS, LDFLAGS from make),
# kept as $OUT/old/minetd while the commit and the flags stay the same.
# Prints the binary's path, or why there is none.
build_old_minetd() {
	local dir=$OUT/old bin=$OUT/old/minetd src=$OUT/old/src stamp commit
	local flags=(CC="${CC:-cc}")
	[ -n "${CFLAGS+set}" ] && flags+=(CFLAGS="$CFLAGS")
	[ -n "${LDFLAGS+set}" ] && flags+=(LDFLAGS="$LDFLAGS")
	if ! commit=$(git -C "$TOP" rev-parse -q --verify "$OLD_COMMIT^{commit}" 2>"$RUNDIR/git.err"); then
		echo "n/a: no commit $OLD_COMMIT to read from git in $TOP$(head -n1 "$RUNDIR/git.err" | sed 's/^./ (&/; s/.$/&)/')"
		return 1
	fi
	stamp="$commit ${flags[*]}"
	if [ -x "$bin" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "$bin"
		return 0
	fi
	mkdir -p "$dir" && rm -f "$bin" "$dir/stamp"
	git -C "$TOP" worktree remove --force "$src" >/dev/null 2>&1
	rm -rf "$src"
	if git -C "$TOP" worktree add --detach "$src" "$commit" >>"$LOGS/minetd.old-build.log" 2>&1 &&
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$src" "${flags[@]}" BUILD=build build/minetd \
			>>"$LOGS/minetd.old-build.log" 2>&1 &&
		cp "$src/build/minetd" "$bin"; then
		echo "$stamp" >"$dir/stamp"
	fi
	git -C "$TOP" worktree remove --force "$src" >>"$LOGS/minetd.old-build.log" 2>&1 || rm -rf "$src"
	if [ ! -x "$bin" ]; then
		echo "n/a: the build of $OLD_COMMIT failed (see logs/minetd.old-build.log)"
		return 1
	fi
	echo "$bin"
}

setup_namespace() {
	local ns=$1
	ip netns add "$ns" 2>/dev/null || return 1
	CREATED_NS="$CREATED_NS $ns"
	ip -n "$ns" link set lo up &&
		ip -n "$ns" route add local 10.77.0.0/16 dev lo table local &&
		ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" \
			net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096 >/dev/null
}

# A cgroup per server, below the bench's own, only to count CPU time: v2's
# cpu.stat needs no controller, v1's cpuacct is its own hierarchy.
cgroup_setup() {
	local base own
	is_root || return 1
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		base=/sys/fs/cgroup CGROUP_KIND=v2
	elif [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then
		base=/sys/fs/cgroup/unified CGROUP_KIND=v2
	elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
		base=/sys/fs/cgroup/cpuacct CGROUP_KIND=v1
	else
		return 1
	fi
	if [ $CGROUP_KIND = v2 ]; then
		own=$(sed -n 's/^0:://p' /proc/self/cgroup)
	else
		own=$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3 }' /proc/self/cgroup)
	fi
	CGROUP_ROOT=$base${own%/}/minetd-bench.$$
	mkdir "$CGROUP_ROOT" 2>/dev/null || { CGROUP_ROOT="" CGROUP_KIND=""; return 1; }
}

cgroup_for() {
	local s=$1 cg=$CGROUP_ROOT/$1
	[ -n "$CGROUP_KIND" ] || return 0
	mkdir -p "$cg" && CREATED_CGROUPS="$cg $CREATED_CGROUPS" && CGROUP[$s]=$cg
}

# The names of the processes in a cgroup, e.g. "minetd, minetd-helper".
cgroup_comms() {
	local pid
	while read -r pid; do cat "/proc/$pid/comm" 2>/dev/null; done <"$1/cgroup.procs" |
		sort | uniq -c | awk '{ printf "%s%s%s", (NR > 1 ? ", " : ""), $2, ($1 > 1 ? " ×" $1 : "") }'
}

# CPU microseconds used so far by everything in a server's cgroup.
cgroup_cpu_us() {
	if [ $CGROUP_KIND = v2 ]; then
		awk '$1 == "usage_usec" { print $2 }' "$1/cpu.stat"
	else
		awk '{ printf "%.0f\n", $1 / 1000 }' "$1/cpuacct.usage"
	fi
}

# The exec service as minetd's config would have it (issue 13), on port $1.
minetd_exec_service() {
	printf '{ name = "cat"; handler = "exec"; port = %s; protocol = "tcp"; command = [ "%s" ]; user = "%s"; processes = %s; timeout = 10; }' \
		"$1" "$EXEC_PROGRAM" "$EXEC_USER" "$EXEC_PROCESSES"
}

# Until minetd has the exec handler, its exec row is n/a and the rest runs.
# $1: the binary (default: MINETD).
minetd_exec_check() {
	local bin=${1:-$MINETD} probe=$DATA/conf/exec-probe.conf out
	printf 'host = "%s";\nservices = (\n  %s\n);\n' "$ADDR" "$(minetd_exec_service "${EXEC_PORT[minetd]}")" >"$probe"
	out=$("$bin" -t -c "$probe" 2>&1) && return 0
	# The handler's own line says it best, else the first one.
	out=$(printf '%s\n' "$out" | grep -m1 -i handler || printf '%s\n' "$out" | head -n1)
	echo "no exec handler in this minetd (minetd -t: ${out#"$DATA/conf/"})"
	return 1
}

# The inetd workload's line (issue 20): the same for minetd and openbsd-inetd,
# on ADDR and INETD_SERVICE, with .INETD_MAX invocations a minute.
inetd_line() {
	printf '%s:%s\tstream\ttcp\tnowait.%s\t%s\t%s\t%s\n' "$ADDR" "$INETD_SERVICE" "$INETD_MAX" \
		"$EXEC_USER" "$EXEC_PROGRAM" "${EXEC_PROGRAM##*/}"
}

# Until minetd reads inetd.conf (its `inetd` key), its inetd row is n/a, and
# so is it when minetd -t warns that the line is not served.
minetd_inetd_check() {
	local probe=$DATA/conf/key-probe.conf out
	printf 'host = "%s";\nservices = ();\ninetd = [ "%s" ];\n' "$ADDR" "$DATA/conf/inetd-line.conf" >"$probe"
	if out=$("$MINETD" -t -c "$probe" 2>&1) && ! printf '%s\n' "$out" | grep -qi warning; then
		return 0
	fi
	out=$(printf '%s\n' "$out" | grep -m1 -i "unknown key\|warning\|error" || printf '%s\n' "$out" | head -n1)
	case $out in
	*"unknown key 'inetd'"*) echo "no inetd key in this minetd (minetd -t: ${out#"$DATA/conf/"})" ;;
	*) echo "minetd -t: ${out#"$DATA/conf/"}" ;;
	esac
	return 1
}

write_minetd_conf() {
	local s=$1 workers=$2 exec="" inetd=""
	want exec && [ -z "${NA_EXEC[$s]:-}" ] && exec=",
  $(minetd_exec_service "${EXEC_PORT[$s]}")"
	want inetd && [ "$s" = minetd ] && [ -z "${NA_INETD[$s]:-}" ] &&
		inetd="inetd = [ \"$DATA/conf/inetd-line.conf\" ]; # the inetd workload (issue 20)"
	cat >"$DATA/conf/$s.conf" <<-EOF
		# $s under benchmark (issues 7, 13): default limits and protections.
		$workers
		$inetd
		host = "$ADDR";
		services = (
		  { name = "echo"; handler = "echo"; port = ${ECHO_PORT[$s]}; protocol = "both"; },
		  { name = "daytime"; handler = "daytime"; port = ${DAYTIME_PORT[$s]}; protocol = "both"; }$exec
		);
	EOF
}

write_configs() {
	local conf=$DATA/conf reason
	mkdir -p "$conf"
	if want exec && [ -x "$MINETD" ] && ! reason=$(minetd_exec_check); then
		NA_EXEC[minetd]=$reason
		NA_EXEC[minetd.percpu]=$reason
	fi
	inetd_line >"$conf/inetd-line.conf"
	if want inetd && [ -x "$MINETD" ] && ! reason=$(minetd_inetd_check); then
		NA_INETD[minetd]=$reason
	fi
	write_minetd_conf minetd ""
	write_minetd_conf minetd.percpu "workers = 0; # one event loop per CPU"
	if [ -n "${CMD[minetd.old]:-}" ] && ! reason=$(minetd_exec_check "${CMD[minetd.old]%% *}"); then
		NA[minetd.old]=$reason
	fi
	cat >"$conf/minetd.old.conf" <<-EOF
		# minetd.old (issue 19): minetd of $OLD_COMMIT, before its privileged helper; exec only.
		host = "$ADDR";
		services = (
		  $(minetd_exec_service "${EXEC_PORT[minetd.old]}")
		);
	EOF
	# nowait.N and -R: lift the fork-rate limits, or they stop serving mid-run.
	cat >"$conf/inetd.conf" <<-EOF
		$ADDR:
		echo	stream	tcp	nowait.1000000	root	internal
		echo	dgram	udp	wait	root	internal
		daytime	stream	tcp	nowait.1000000	root	internal
		daytime	dgram	udp	wait	root	internal
		${EXEC_PORT[openbsd-inetd]}	stream	tcp	nowait.1000000	$EXEC_USER	$EXEC_PROGRAM	${EXEC_PROGRAM##*/}
	EOF
	# openbsd-inetd's own file: the above and, for the inetd workload, its line.
	{
		cat "$conf/inetd.conf"
		want inetd && cat "$conf/inetd-line.conf"
	} >"$conf/openbsd-inetd.conf"
	# cps, instances, per_source: no limit to throttle the run; NOLIBWRAP for
	# the program (the others consult no hosts.allow either).
	{
		printf 'defaults\n{\n\tinstances = UNLIMITED\n\tper_source = UNLIMITED\n'
		printf '\tcps = 1000000 1\n\tlog_type = FILE %s\n' "$LOGS/xinetd-services.log"
		printf '\tlog_on_success =\n\tlog_on_failure = HOST\n\tbind = %s\n}\n' "$ADDR"
		for svc in echo daytime; do
			for kind in stream dgram; do
				local proto=tcp wait=no
				[ $kind = dgram ] && proto=udp wait=yes
				printf 'service %s\n{\n\ttype = INTERNAL\n\tid = %s-%s\n' $svc $svc $kind
				printf '\tsocket_type = %s\n\tprotocol = %s\n\twait = %s\n\tuser = root\n}\n' \
					$kind $proto $wait
			done
		done
		printf 'service cat\n{\n\ttype = UNLISTED\n\tport = %s\n\tsocket_type = stream\n' "${EXEC_PORT[xinetd]}"
		printf '\tprotocol = tcp\n\twait = no\n\tuser = %s\n\tserver = %s\n\tflags = NOLIBWRAP\n}\n' \
			"$EXEC_USER" "$EXEC_PROGRAM"
	} >"$conf/xinetd.conf"
}

# Only names we know, so a typo does not quietly measure nothing.
check_selection() {
	local s
	for s in $SERVERS; do
		case " $ALL_SERVERS " in *" $s "*) ;; *) echo "bench: unknown server '$s' (known: $ALL_SERVERS)" >&2; exit 2 ;; esac
	done
	for s in $WORKLOADS; do
		case " $ALL_WORKLOADS " in *" $s "*) ;; *) echo "bench: unknown workload '$s' (known: $ALL_WORKLOADS)" >&2; exit 2 ;; esac
	done
}

setup() {
	local s cc=${CC:-cc} pkgdir=$OUT/pkgs run_as="" old
	check_selection
	mkdir -p "$OUT" "$DATA" "$LOGS"
	rm -f "$DATA"/*.txt "$DATA"/*.dat "$OUT"/*.png "$OUT/report.md"
	: >"$RESULTS"
	log "building loadgen and refserver"
	$cc -O2 -g -Wall -Wextra -pthread -o "$OUT/loadgen" "$HERE/loadgen.c" &&
		$cc -O2 -g -Wall -Wextra -o "$OUT/refserver" "$HERE/refserver.c" ||
		{ echo "bench: cannot build the tools" >&2; exit 1; }

	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

	if ! command -v gnuplot >/dev/null; then
		log "installing gnuplot-nox"
		apt_install gnuplot-nox || log "gnuplot not available: no plots"
	fi

	if is_root && command -v ip >/dev/null && ip netns add "$NS_PREFIX-probe" 2>/dev/null; then
		ip netns del "$NS_PREFIX-probe"
		NETNS=1
		ADDR=10.77.0.1
	fi
	for s in $ALL_SERVERS; do
		NS[$s]=""
		[ $NETNS = 1 ] && NS[$s]="$NS_PREFIX-${s%%-*}"
		ECHO_PORT[$s]=7
		DAYTIME_PORT[$s]=13
		EXEC_PORT[$s]=7000
	done
	ECHO_PORT[ref]=15100 DAYTIME_PORT[ref]=15113 EXEC_PORT[ref]=15170
	ECHO_PORT[minetd]=15000 DAYTIME_PORT[minetd]=15013 EXEC_PORT[minetd]=15070
	ECHO_PORT[minetd.percpu]=15200 DAYTIME_PORT[minetd.percpu]=15213 EXEC_PORT[minetd.percpu]=15270
	# Exec only: start_server waits for the exec port.
	ECHO_PORT[minetd.old]=15370 EXEC_PORT[minetd.old]=15370
	ECHO_PORT[tcpserver]=${EXEC_PORT[tcpserver]}
	# The inetd workload: inetd.conf's own name for port 9 in the namespaces.
	INETD_SERVICE=discard INETD_PORT=9
	getent services discard/tcp >/dev/null || INETD_SERVICE=9
	[ $NETNS = 0 ] && INETD_SERVICE=15009 INETD_PORT=15009
	for s in $EXEC_ONLY; do
		want exec || NA[$s]="serves the exec workload only, which is not selected"
	done
	if want exec && selected_server minetd.old; then
		log "old main: minetd of $OLD_COMMIT"
		if old=$(build_old_minetd); then
			CMD[minetd.old]="$old -c $DATA/conf/minetd.old.conf -l stderr"
		else
			NA[minetd.old]=${old#n/a: }
		fi
	fi
	write_configs
	if cgroup_setup; then
		log "server CPU time from cgroup $CGROUP_KIND ($CGROUP_ROOT)"
	else
		log "no cgroup for CPU accounting: /proc (reaped children only)"
	fi

	is_root && run_as="-u $EXEC_USER"
	CMD[ref]="$OUT/refserver -a $ADDR -e ${ECHO_PORT[ref]} -D ${DAYTIME_PORT[ref]} -x ${EXEC_PORT[ref]} $run_as"
	CMD[minetd]="$MINETD -c $DATA/conf/minetd.conf -l stderr"
	CMD[minetd.percpu]="$MINETD -c $DATA/conf/minetd.percpu.conf -l stderr"
	CMD[xinetd]="$pkgdir/xinetd/usr/sbin/xinetd -dontfork -f $DATA/conf/xinetd.conf -pidfile $RUNDIR/xinetd.pid"
	CMD[openbsd-inetd]="$pkgdir/openbsd-inetd/usr/sbin/inetd -i -R 100000000 $DATA/conf/openbsd-inetd.conf"
	CMD[inetutils-inetd]="$pkgdir/inetutils-inetd/usr/sbin/inetutils-inetd -R 100000000 --pidfile=$RUNDIR/inetutils-inetd.pid $DATA/conf/inetd.conf"
	PIDFILE[inetutils-inetd]=$RUNDIR/inetutils-inetd.pid
	# tcpserver as the inetds run programs: no DNS (-H, -l 0) and no ident
	# lookup (-R) per connection, no connection limit, openbsd-inetd's backlog.
	CMD[tcpserver]="$pkgdir/ucspi-tcp/usr/bin/tcpserver -c 1000000 -b 128 -R -H -l 0 -u $(id -u $EXEC_USER) -g $(id -g $EXEC_USER) $ADDR ${EXEC_PORT[tcpserver]} $EXEC_PROGRAM"

	[ -x "$MINETD" ] || NA[minetd]="no binary at $MINETD"
	[ -x "$MINETD" ] || NA[minetd.percpu]="no binary at $MINETD"
	for s in $ALL_SERVERS; do
		case " $SERVERS " in *" $s "*) ;; *) NA[$s]="not selected (BENCH_SERVERS)" ;; esac
	done
	if [ $NETNS = 0 ]; then
		for s in $INETD_PACKAGES; do
			NA[$s]="needs root: network namespace for the official ports 7/13"
		done
	else
		local missing=0
		for s in $INETD_PACKAGES; do
			[ -z "${NA[$s]:-}" ] || continue
			log "unpacking $s"
			unpack_package "$s" || NA[$s]="package could not be downloaded (see logs/apt.log)"
		done
		for s in $INETD_PACKAGES; do
			[ -z "${NA[$s]:-}" ] || continue
			local bin=${CMD[$s]%% *}
			[ "$(missing_libs "$bin")" = 0 ] || missing=1
		done
		if [ $missing = 1 ]; then
			log "installing the inetds' libraries"
			apt_install $INETD_LIBS
		fi
		for s in $INETD_PACKAGES; do
			[ -z "${NA[$s]:-}" ] || continue
			local bin=${CMD[$s]%% *}
			[ "$(missing_libs "$bin")" = 0 ] || NA[$s]="shared libraries missing: $(ldd "$bin" | grep 'not found' | awk '{print $1}' | tr '\n' ' ')"
		done
	fi
	if [ $NETNS = 0 ]; then
		NA[tcpserver]="needs root: a network namespace, and the program run as $EXEC_USER"
	elif [ -z "${NA[tcpserver]:-}" ]; then
		log "unpacking ucspi-tcp"
		if ! unpack_package ucspi-tcp; then
			NA[tcpserver]="package ucspi-tcp could not be downloaded (see logs/apt.log)"
		elif [ "$(missing_libs "${CMD[tcpserver]%% *}")" != 0 ]; then
			NA[tcpserver]="shared libraries missing (ldd ${CMD[tcpserver]%% *})"
		fi
	fi
	for s in $SERVERS; do
		if [ -n "${NA[$s]:-}" ]; then
			log "$s: n/a: ${NA[$s]}"
			continue
		fi
		if [ -n "${NS[$s]}" ] && ! setup_namespace "${NS[$s]}"; then
			NA[$s]="could not create network namespace"
		fi
		cgroup_for "$s"
	done
	cgroup_for client
	for s in ${!NA_EXEC[*]}; do
		want exec && log "$s: exec n/a: ${NA_EXEC[$s]}"
	done
	for s in ${!NA_INETD[*]}; do
		want inetd && log "$s: inetd n/a: ${NA_INETD[$s]}"
	done
	{
		echo "meta date $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "meta nproc $(nproc)"
		echo "meta cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
		echo "meta kernel $(uname -r)"
		echo "meta minetd $("$MINETD" -V 2>/dev/null | head -n1)"
		echo "meta runs $RUNS"
		echo "meta starts $STARTS"
		echo "meta secs $SECS"
		echo "meta idle $IDLE_CONNS"
		echo "meta threads $THREADS"
		echo "meta netns $NETNS"
		echo "meta addr $ADDR"
		echo "meta workloads $WORKLOADS"
		echo "meta cpu_source ${CGROUP_KIND:-proc}"
		echo "meta exec_program $EXEC_PROGRAM"
		echo "meta exec_user $EXEC_USER"
		echo "meta exec_processes $EXEC_PROCESSES"
		echo "meta exec_clients $EXEC_CLIENTS"
		echo "meta old_commit $OLD_COMMIT"
		echo "meta exec_only $EXEC_ONLY"
		echo "meta tcpserver_args ${CMD[tcpserver]#* }"
		echo "meta inetd_servers $INETD_SERVERS"
		echo "meta inetd_max $INETD_MAX"
		echo "meta inetd_line $(inetd_line | tr '\t' ' ')"
	} >>"$RESULTS"
}

available() { [ -z "${NA[$1]:-}" ]; }

selected_server() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

# Whether server $1 takes part in workload $2: the exec-only servers in exec,
# only INETD_SERVERS in inetd.
serves() {
	case " $EXEC_ONLY " in *" $1 "*) [ "$2" = exec ]; return ;; esac
	case $2 in inetd) case " $INETD_SERVERS " in *" $1 "*) return 0 ;; esac; return 1 ;; esac
	return 0
}

want() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }

# --- measurements ------------------------------------------------------------

# LAUNCH: the words that run a command in cgroup $1 and network namespace $2
# (either may be empty).  Into the cgroup first: ip netns exec mounts a /sys
# without the cgroups.  Everything execs, so $! is the command itself.
launcher() {
	LAUNCH=()
	[ -n "$1" ] && LAUNCH=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$1")
	[ -n "$2" ] && LAUNCH+=(ip netns exec "$2")
	return 0
}

# One loadgen run with a hard time limit; prints its result line.
loadgen() {
	local ns=$1 limit=$2
	shift 2
	echo "== ${ns:-here}: loadgen $*" >>"$LOGS/loadgen.log"
	# In a cgroup of its own, so that its CPU time is known too.
	launcher "${CGROUP[client]:-}" "$ns"
	"${LAUNCH[@]}" timeout -k 2 "$limit" "$OUT/loadgen" "$@" 2>>"$LOGS/loadgen.log" | tail -n1
}

# CPU microseconds used so far by a server and every process it started: from
# its cgroup; else from /proc, all processes in its namespace with the
# children they have reaped (10 ms ticks; a child that is still running or
# not yet reaped is missed or counted late).
cpu_us() {
	local s=$1 pids pid total=0
	if [ -n "${CGROUP[$s]:-}" ]; then
		cgroup_cpu_us "${CGROUP[$s]}"
		return
	fi
	if [ -n "${NS[$s]}" ]; then pids=$(ns_pids "${NS[$s]}"); else pids=${PID[$s]:-}; fi
	for pid in $pids; do
		local t
		t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')
		total=$((total + ${t:-0}))
	done
	echo $((total * 1000000 / $(getconf CLK_TCK)))
}

# The load generator's CPU microseconds so far, if it has a cgroup.
client_cpu_us() { [ -z "${CGROUP[client]:-}" ] || cgroup_cpu_us "${CGROUP[client]}"; }

# A daemonizing server (PIDFILE) is alive if the pid it wrote is.
server_alive() {
	local s=$1 pid=${PID[$s]:-} i
	if [ -n "${PIDFILE[$s]:-}" ]; then
		for i in $(seq 20); do [ -s "${PIDFILE[$s]}" ] && break; sleep 0.1; done
		pid=$(cat "${PIDFILE[$s]}" 2>/dev/null)
	fi
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

wait_listening() {
	local s=$1 port=$2
	in_ns "${NS[$s]}" timeout 10 bash -c "
		for i in \$(seq 200); do
			(exec 3<>/dev/tcp/$ADDR/$port) 2>/dev/null && exit 0
			sleep 0.05
		done
		exit 1"
}

start_server() {
	local s=$1
	log "starting $s"
	[ -n "${PIDFILE[$s]:-}" ] && rm -f "${PIDFILE[$s]}"
	# $! must be the server itself.  In its cgroup before it runs: what it
	# forks is in too.
	launcher "${CGROUP[$s]:-}" "${NS[$s]}"
	# shellcheck disable=SC2086 # CMD is a word list
	"${LAUNCH[@]}" ${CMD[$s]} >>"$LOGS/$s.log" 2>&1 </dev/null &
	PID[$s]=$!
	BACKGROUND="$BACKGROUND $!"
	if ! wait_listening "$s" "${ECHO_PORT[$s]}" || ! server_alive "$s"; then
		NA[$s]="did not start (see logs/$s.log)"
		log "$s: ${NA[$s]}"
		return 1
	fi
}

# Start-up: exec to READY=1 on our notify socket, and to accepting TCP.
measure_startup() {
	local s=$1 run=$2 line
	serves "$s" startup || return 0
	# shellcheck disable=SC2086
	line=$(loadgen "${NS[$s]}" 20 startup -a "$ADDR" -p "${ECHO_PORT[$s]}" \
		-n "$RUNDIR/notify.sock" -L "$LOGS/$s.log" -T 10000 -- ${CMD[$s]})
	ns_reset "${NS[$s]}"
	echo "result startup $s $run ${line:-bench_failed=1}" >>"$RESULTS"
}

# One load measurement; adds the server's CPU use and checks it survived.
measure_load() {
	local wl=$1 s=$2 run=$3 port line t0 t1 c0 c1 l0 l1 cpu
	shift 3
	serves "$s" "$wl" || return 0
	if ! server_alive "$s"; then
		NA[$s]="exited during the run (see logs/$s.log)"
		log "$s: ${NA[$s]}"
		return
	fi
	port=${ECHO_PORT[$s]}
	[[ $wl == daytime* ]] && port=${DAYTIME_PORT[$s]}
	[ "$wl" = exec ] && port=${EXEC_PORT[$s]}
	[ "$wl" = inetd ] && port=$INETD_PORT
	c0=$(cpu_us "$s")
	l0=$(client_cpu_us)
	t0=$(date +%s%N)
	line=$(loadgen "${NS[$s]}" $((${SECS%.*} + 30)) "$@" -a "$ADDR" -p "$port" \
		-d "$SECS" -w "$WARMUP" -t "$THREADS")
	t1=$(date +%s%N)
	c1=$(cpu_us "$s")
	l1=$(client_cpu_us)
	cpu=$(awk -v d=$((c1 - c0)) -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", 100 * d / (ns / 1e3) }')
	[ -n "$l0" ] && cpu="$cpu client_cpu_pct=$(awk -v d=$((l1 - l0)) -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", 100 * d / (ns / 1e3) }')"
	echo "result $wl $s $run ${line:-bench_failed=1} cpu_pct=$cpu" >>"$RESULTS"
	log "$wl $s run $run: ${line:-FAILED}"
	server_alive "$s" || log "$s: exited during $wl run $run"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# Hold IDLE_CONNS idle echo connections; read the server's VmRSS meanwhile.
measure_idle() {
	local s=$1 run=$2 pid=${PID[$s]} out=$RUNDIR/idle.out before rss fds lg i line
	server_alive "$s" || return
	before=$(rss_kb "$pid")
	: >"$out"
	echo "== ${NS[$s]:-here}: loadgen idle ($s)" >>"$LOGS/loadgen.log"
	local cmd=(timeout -k 2 120 "$OUT/loadgen" idle -a "$ADDR" -p "${ECHO_PORT[$s]}"
		-c "$IDLE_CONNS" -d 60 -S)
	[ -n "${NS[$s]}" ] && cmd=(ip netns exec "${NS[$s]}" "${cmd[@]}")
	"${cmd[@]}" >"$out" 2>>"$LOGS/loadgen.log" & # $! is timeout(1): it passes SIGTERM on
	lg=$!
	BACKGROUND="$BACKGROUND $lg"
	for i in $(seq 900); do
		grep -q '^ready' "$out" && break
		kill -0 $lg 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.5
	rss=$(rss_kb "$pid")
	fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
	kill -TERM $lg 2>/dev/null
	wait $lg 2>/dev/null
	BACKGROUND=${BACKGROUND/ $lg/}
	line=$(grep '^mode=idle' "$out" | tail -n1)
	if [ -n "$line" ]; then
		echo "result idle $s $run $line rss_kb=${rss:-0} rss_before_kb=${before:-0} fds=$fds" >>"$RESULTS"
	else
		echo "result idle $s $run bench_failed=1" >>"$RESULTS"
	fi
	log "idle $s run $run: rss ${rss:-?} kB (before ${before:-?} kB), fds $fds; ${line:-FAILED}"
	sleep 1 # let the server reap the closed connections
}

# Servers in a different order each round, so drift hits all alike.
rotated() {
	local run=$1 list=() s i n
	for s in $SERVERS; do available "$s" && list+=("$s"); done
	n=${#list[@]}
	for ((i = 0; i < n; i++)); do echo "${list[$(((i + run - 1) % n))]}"; done
}

main() {
	local run s
	setup
	if want startup; then
		log "start-up times, $STARTS rounds"
		for run in $(seq "$STARTS"); do
			for s in $(rotated "$run"); do
				measure_startup "$s" "$run"
			done
		done
	fi
	for s in $SERVERS; do
		available "$s" && start_server "$s"
	done
	# What each cgroup holds once started: minetd forks its helper (which
	# starts the programs), so the helper's CPU is minetd's.
	for s in $SERVERS; do
		available "$s" && [ -n "${CGROUP[$s]:-}" ] &&
			echo "meta cgroup_procs_$s $(cgroup_comms "${CGROUP[$s]}")" >>"$RESULTS"
	done
	for run in $(seq "$RUNS"); do
		want tcp && for s in $(rotated "$run"); do
			measure_load tcp "$s" "$run" tcp-echo -c 50 -s 64 -S -H "$DATA/hist-tcp-$s-$run.txt"
		done
		# Sources that never spoke TCP: no handshake has verified them.
		want udp && for s in $(rotated "$run"); do
			measure_load udp "$s" "$run" udp-echo -c 50 -s 64 -S -o 20000
		done
		want daytime && for s in $(rotated "$run"); do
			measure_load daytime "$s" "$run" connect -c 20 -S
		done
		# Every client from one address, the server's own ($ADDR), as from 127.0.0.1.
		want daytime1 && for s in $(rotated "$run"); do
			measure_load daytime1 "$s" "$run" connect -c 20
		done
		want exec && for s in $(rotated "$run"); do
			[ -n "${NA_EXEC[$s]:-}" ] && continue
			measure_load exec "$s" "$run" request -c "$EXEC_CLIENTS" -s 64 -S
		done
		# The same client as exec, to the line of inetd.conf (issue 20).
		want inetd && for s in $(rotated "$run"); do
			[ -n "${NA_INETD[$s]:-}" ] && continue
			measure_load inetd "$s" "$run" request -c "$EXEC_CLIENTS" -s 64 -S
		done
		want idle && for s in $(rotated "$run"); do
			case $s in
			ref | minetd) measure_idle "$s" "$run" ;;
			esac
		done
	done
	for s in $ALL_SERVERS; do
		available "$s" || echo "na $s ${NA[$s]}" >>"$RESULTS"
		[ -n "${NA_EXEC[$s]:-}" ] && echo "na_workload exec $s ${NA_EXEC[$s]}" >>"$RESULTS"
		[ -n "${NA_INETD[$s]:-}" ] && echo "na_workload inetd $s ${NA_INETD[$s]}" >>"$RESULTS"
	done
	echo "meta elapsed_s $(( ($(date +%s%N) - START_NS) / 1000000000 ))" >>"$RESULTS"

	awk -v out="$DATA" -f "$HERE/report.awk" "$RESULTS" >"$OUT/report.md"
	if command -v gnuplot >/dev/null; then
		gnuplot -e "data='$DATA'; out='$OUT'" "$HERE/plots.gp" 2>>"$LOGS/gnuplot.log" ||
			log "gnuplot failed (see logs/gnuplot.log)"
	fi
	cat "$OUT/report.md"
	log "done: $OUT/report.md"
}

main "$@"
