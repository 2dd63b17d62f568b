# Boots a real systemd in a throw-away container and runs one test script there at boot.
# Sourced (POSIX sh) by tests/systemd/container.sh and tests/package/deb.sh. The recipe and
# its timings: ../../../shared/SYSTEMD-TESTING.md.
#
#   container_preflight NAME   SKIP line and exit 77 unless a container can boot here
#   container_init             $CONTAINER: a new work directory, removed on exit. Files put
#                              under $CONTAINER/up/usr, /etc or /var appear in the container's
#                              /usr, /etc or /var (copy-on-write over the host's; the host is
#                              left untouched)
#   container_install          puts $MINETD, its helper (minetd-helper beside it), the quotes,
#                              the config and the units of the tree where the package puts
#                              them (under $CONTAINER/up), and the quotes where `make`'s
#                              binary looks too (PREFIX=/usr/local); a FAIL line and status 1
#                              when they are not built
#   container_boot SCRIPT [SYSTEMD-NSPAWN-OPTION...]
#                              boots with a private network and the unified cgroup hierarchy
#                              (Debian 12's, where minetd-helper's Delegate=yes works; this
#                              host may mount v1), in a cgroup of its own (removed after),
#                              and runs SCRIPT as a oneshot unit;
#                              returns when SCRIPT ends the container (`systemctl exit`, see
#                              inside.sh), with systemd-nspawn's status (124: timed out after
#                              $BOOT_TIMEOUT seconds). In the container, /minetd-lib is
#                              tests/lib, /minetd-client.py tests/systemd/client.py and
#                              /minetd-out is $CONTAINER/out (writable)
#   container_report STATUS NAME
#                              given container_boot's STATUS, prints SCRIPT's PASS/FAIL/SKIP
#                              lines, a FAIL when it did not finish, and its log and journal
#                              when something failed (or with VERBOSE=1). Returns 0 when all
#                              passed, else 1
#   container_test NAME SCRIPT [SYSTEMD-NSPAWN-OPTION...]
#                              all of the above in turn, for a test whose container needs
#                              only the tree installed: container_report's status

# The sourcing test sets TOP, the root of the source tree.
CONTAINER_LIB=$TOP/tests/lib
BOOT_TIMEOUT=${BOOT_TIMEOUT:-180}

container_preflight() {
	CONTAINER_TEST=$1 _why=
	if [ "$(id -u)" != 0 ]; then
		_why="needs root to run systemd-nspawn"
	elif ! command -v systemd-nspawn >/dev/null 2>&1; then
		_why="systemd-nspawn not installed (apt-get install systemd-container)"
	elif [ -z "$(ls -A /sys/fs/cgroup 2>/dev/null)" ]; then
		_why="no cgroup file system at /sys/fs/cgroup"
	fi
	[ -z "$_why" ] && return 0
	echo "SKIP: $1: $_why"
	echo "*** The booted-systemd tests of $1 did NOT run: $_why ***" >&2
	exit 77
}

container_init() {
	# /var/tmp, not /tmp: the overlay's upper directories need a real file system.
	CONTAINER=$(mktemp -d /var/tmp/minetd-container.XXXXXX) || exit 1
	_cgroups=
	trap 'container_cgroups_remove; rm -rf --one-file-system "$CONTAINER"' EXIT
	trap 'exit 1' HUP INT TERM
	mkdir -p "$CONTAINER/up/usr" "$CONTAINER/up/etc/systemd/system" "$CONTAINER/up/var" \
		"$CONTAINER/out"
}

# Where the package puts them, in the overlays' upper directories: the container sees
# them, the host does not. The units in /lib (which is /usr/lib: --volatile=yes takes
# only /usr of the host), not /etc, so that systemctl mask and drop-ins work on them.
container_install() {
	_helper=$(dirname "$MINETD")/minetd-helper
	if [ ! -x "$MINETD" ] || [ ! -x "$_helper" ]; then
		echo "FAIL: $CONTAINER_TEST: $MINETD or $_helper not built"
		return 1
	fi
	_up=$CONTAINER/up
	mkdir -p "$_up/usr/sbin" "$_up/usr/libexec/minetd" "$_up/usr/share/minetd" "$_up/usr/lib/systemd/system" \
		"$_up/etc/minetd" &&
		cp "$MINETD" "$_up/usr/sbin/minetd" &&
		cp "$_helper" "$_up/usr/libexec/minetd/minetd-helper" &&
		cp "$TOP/config/quotes" "$_up/usr/share/minetd/quotes" &&
		mkdir -p "$_up/usr/local/share/minetd" &&
		cp "$TOP/config/quotes" "$_up/usr/local/share/minetd/quotes" &&
		cp "$TOP/config/minetd.conf" "$_up/etc/minetd/minetd.conf" &&
		cp "$TOP"/systemd/*.socket "$TOP"/systemd/*.service "$_up/usr/lib/systemd/system/"
}

container_boot() {
	cp "$1" "$CONTAINER/test.sh" && chmod 755 "$CONTAINER/test.sh" || return 1
	shift
	cat >"$CONTAINER/test-in-container.service" <<'EOF'
[Unit]
Description=minetd test in a container
After=basic.target

[Service]
Type=oneshot
ExecStart=/minetd-test.sh
TimeoutStartSec=infinity
StandardOutput=append:/minetd-out/log
StandardError=inherit
EOF
	container_cgroups_make
	# sh -c: its pid is the one that execs timeout, unshare and systemd-nspawn.
	sh -c 'for _d in "$@"; do [ "$_d" = -- ] && break; echo $$ 2>/dev/null >"$_d/cgroup.procs" ||
			echo "note: cannot enter $_d: the container shares its caller'"'"'s cgroup" >&2; done
		while [ "$1" != -- ]; do shift; done; shift; exec "$@"' container-cgroups $_cgroups -- \
	timeout --kill-after=10 "$BOOT_TIMEOUT" unshare -m \
		env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -q --volatile=yes -D / \
		--register=no --keep-unit --private-network \
		--overlay=/usr:"$CONTAINER/up/usr":/usr --overlay=/etc:"$CONTAINER/up/etc":/etc \
		--overlay=/var:"$CONTAINER/up/var":/var \
		--bind-ro="$CONTAINER/test.sh":/minetd-test.sh \
		--bind-ro="$CONTAINER/test-in-container.service":/etc/systemd/system/test-in-container.service \
		--bind-ro="$CONTAINER_LIB":/minetd-lib \
		--bind-ro="$CONTAINER_LIB/../systemd/client.py":/minetd-client.py \
		--bind="$CONTAINER/out":/minetd-out \
		"$@" \
		-b systemd.firstboot=off systemd.wants=test-in-container.service systemd.show_status=0 \
		</dev/null >"$CONTAINER/console.log" 2>&1
	_rc=$?
	container_cgroups_remove
	return $_rc
}

# A cgroup of its own for each boot, in each hierarchy systemd-nspawn uses (cgroup2, and
# name=systemd on a host that mounts cgroup v1): with --keep-unit, systemd-nspawn puts the
# container's root cgroup ("payload") in the cgroup it runs in. Without this, every
# container booted from one cgroup (this machine's root cgroup: all of them, other
# worktrees' tests included) shares one tree: their systemd instances manage the same
# system.slice/minetd.service, and one container's minetd-helper finds, and ends, another
# container's programs. _cgroups: the directories, made (none where one cannot be made:
# the boot then shares its caller's, as before, and says so).
container_cgroups_make() {
	_cgroups= _cgname=minetd-container.${CONTAINER##*.}
	for _h in "$(findmnt -n -t cgroup2 -o TARGET 2>/dev/null | head -n 1):0::" \
	    "$(findmnt -n -t cgroup -O name=systemd -o TARGET 2>/dev/null | head -n 1):[0-9]*:name=systemd:"; do
		_mnt=${_h%%:*}
		[ -n "$_mnt" ] || continue
		_path=$(sed -n "s/^${_h#*:}//p" /proc/self/cgroup | head -n 1)
		_dir=$_mnt${_path%/}/$_cgname
		if mkdir -p "$_dir" 2>/dev/null; then
			_cgroups="$_cgroups $_dir"
		else
			echo "note: no cgroup of its own for the container ($_dir): it shares its caller's" >&2
		fi
	done
}
container_cgroups_remove() {
	for _dir in $_cgroups; do
		[ -e "$_dir/cgroup.kill" ] && echo 1 >"$_dir/cgroup.kill" 2>/dev/null
		find "$_dir" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}

container_report() {
	_rc=$1 _name=$2 _out=$CONTAINER/out _status=0
	[ -f "$_out/results" ] && grep -v '^DONE$' "$_out/results"
	grep '^SKIP' "$_out/results" 2>/dev/null | sed 's/^SKIP: /*** skipped: /' >&2
	if [ "$_rc" = 124 ]; then
		echo "FAIL: $_name-boot: timed out after ${BOOT_TIMEOUT}s"
		_status=1
	elif ! grep -qx DONE "$_out/results" 2>/dev/null; then
		echo "FAIL: $_name-boot: the test did not finish in the container (systemd-nspawn status $_rc)"
		_status=1
	elif [ "$_rc" != 0 ] || grep -q '^FAIL:' "$_out/results" || ! grep -q '^PASS:' "$_out/results"; then
		_status=1
	fi
	if [ $_status != 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
		# Indented, so that the runner does not count the FAIL lines in them twice.
		for _f in log journal console.log; do
			_file=$_out/$_f
			[ "$_f" = console.log ] && _file=$CONTAINER/console.log
			[ -s "$_file" ] || continue
			echo "--- $_f of the container (last 150 lines):"
			tail -n 150 "$_file" | sed 's/^/    /'
		done
	fi
	return $_status
}

container_test() {
	_test=$1 _script=$2
	shift 2
	container_preflight "$_test"
	container_init
	container_install || exit 1
	container_boot "$_script" "$@"
	container_report $? "$_test"
}
