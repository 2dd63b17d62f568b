#!/usr/bin/env bash
# Runs every test of minetd and ends with one line: "N passed, N failed, N skipped".
# Unit tests are cmocka binaries (TAP output); every other test is a script printing
# "PASS: name", "FAIL: name: why" or "SKIP: name: why" lines (exit 77: all skipped).
# Scripts ending in -inside.sh are run by other tests, inside a container.
# TESTS=pattern runs only the scripts and binaries whose path contains pattern.
set -u
cd "$(dirname "$0")/.."
export TOP=$PWD
BUILD=${BUILD:-build}
export BUILD MINETD=${MINETD:-$TOP/$BUILD/minetd}
LOGS=$TOP/$BUILD/test-logs
mkdir -p "$LOGS"
# minetd started as root serves as _minetd or nobody, which must reach below / its config,
# a notify socket and the programs. A chroot made with mktemp -d (the fresh-root check's)
# has a / of mode 0700, which no Debian machine has: it is made searchable, and said.
if [ "$(id -u)" = 0 ] && [ $(($(stat -c '%#a' /) & 1)) = 0 ]; then
	echo "tests: / has mode $(stat -c %a /) here (a chroot made with mktemp -d?): chmod o+x /," \
		"as on every Debian machine, so that minetd's serving user reaches its files" >&2
	chmod o+x /
fi
pass=0 fail=0 skip=0
failed=() skipped=()

count() {       # count NAME LOGFILE EXIT_CODE
	local name=$1 log=$2 rc=$3 p f s
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	s=$(grep -c '^SKIP: ' "$log")
	while IFS= read -r line; do failed+=("$name: ${line#FAIL: }"); done < <(grep '^FAIL: ' "$log")
	while IFS= read -r line; do skipped+=("$name: ${line#SKIP: }"); done < <(grep '^SKIP: ' "$log")
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ "$f" = 0 ]; then
		f=1
		failed+=("$name: exited with status $rc (log: $log)")
	fi
	if [ "$rc" = 77 ] && [ "$p$f$s" = 000 ]; then
		s=1
		skipped+=("$name: skipped (log: $log)")
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	printf '%-40s %3d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

selected() { [ -z "${TESTS:-}" ] || [[ $1 == *"$TESTS"* ]]; }

run_unit() {    # cmocka's TAP lines become PASS/FAIL lines
	local bin=$1 name log
	name=unit/$(basename "$bin")
	log=$LOGS/$(basename "$bin").log
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$bin" >"$log.tap" 2>&1
	local rc=$?
	sed -n -e 's/^ok [0-9]* - /PASS: /p' -e 's/^not ok [0-9]* - /FAIL: /p' "$log.tap" >"$log"
	grep -v '^\(not \)\?ok ' "$log.tap" >>"$log"
	count "$name" "$log" "$rc"
}

run_script() {  # run_script TIMEOUT SCRIPT
	local limit=$1 script=$2 name log rc
	name=${script#tests/}
	log=$LOGS/$(echo "$name" | tr / _).log
	case $script in
	*.py) timeout -k 10 "$limit" python3 "$script" >"$log" 2>&1 ;;
	*) timeout -k 10 "$limit" bash "$script" >"$log" 2>&1 ;;
	esac
	rc=$?
	[ $rc = 124 ] && echo "FAIL: timed out after ${limit}s" >>"$log"
	count "$name" "$log" "$rc"
}

for bin in "$BUILD"/tests/test_*; do
	[ -x "$bin" ] && selected "$bin" && run_unit "$bin"
done
for script in tests/integration/test_*.py tests/integration/test_*.sh tests/fuzz/test_*.sh tests/sanitize/test_*.sh; do
	[ -f "$script" ] && selected "$script" && run_script 600 "$script"
done
# Scripts ending in -inside.sh run inside a container that another script boots.
for script in tests/systemd/*.sh tests/package/*.sh; do
	[[ $script == *-inside.sh ]] && continue
	[ -f "$script" ] && selected "$script" && run_script 900 "$script"
done

echo
for s in "${skipped[@]}"; do echo "SKIPPED: $s"; done
for f in "${failed[@]}"; do echo "FAILED: $f"; done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
