#!/usr/bin/env bash
# ThreadSanitizer (make tsan): minetd built with -fsanitize=thread into $TSAN_BUILD (default
# build/tsan), then every integration test and the soak against it, each config with two
# event loops (MINETD_TEST_WORKERS=2: the harness adds "workers = 2;" where a test sets no
# workers itself), so that the loops, the log's writer and the reload thread all run side by
# side. One line per test file, "PASS: tsan: FILE" or "FAIL: tsan: FILE: why (log)"; a data
# race or any other report fails it (the daemon exits 66 then, which the harness checks, and
# reports are looked for in every log). Not part of make check: it takes a while and needs
# a compiler whose TSan runs on this kernel's address layout.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. tests/sanitize/lib.sh
B=${TSAN_BUILD:-build/tsan}
LOGS=$TOP/$B/test-logs
mkdir -p "$LOGS"
rm -f "$LOGS"/*

CC=${TSAN_CC:-gcc}
SAN="-fsanitize=thread -fno-omit-frame-pointer"
stamp="$CC $SAN"
[ "$(cat "$B/.sanitize-flags" 2>/dev/null)" = "$stamp" ] || rm -rf "$B/obj" "$B/minetd" "$B/minetd-helper"
mkdir -p "$B" && echo "$stamp" >"$B/.sanitize-flags"
if ! make --no-print-directory BUILD="$B" CC="$CC" CI= WERROR= CFLAGS="-O1 -g $SAN" LDFLAGS="$SAN" \
	"$B/minetd" "$B/minetd-helper" >"$LOGS/build.log" 2>&1; then
	echo "FAIL: tsan: build with $CC: see $LOGS/build.log"
	tail -20 "$LOGS/build.log"
	exit 1
fi

export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4"
export MINETD=$TOP/$B/minetd MINETD_SLOW=${MINETD_SLOW:-3} MINETD_TEST_WORKERS=2
# TSan's shadow memory: memory figures measured by the tests grow with it.
export MINETD_RSS_FACTOR=${MINETD_RSS_FACTOR:-8}
REPORT='WARNING: ThreadSanitizer|ThreadSanitizer: (reported|CHECK)|FATAL: ThreadSanitizer'
failed=0
for test in tests/integration/test_*.py tests/integration/soak.py; do
	name=integration/$(basename "$test")
	log=$LOGS/$(basename "$test").log
	run_python "$test" "$log"
	rc=$?
	why=""
	if grep -qE "$REPORT" "$log"; then
		why="report: $(grep -m1 -E "$REPORT" "$log")"
	elif [ "$rc" != 0 ]; then
		why="exit status $rc; failed: $(sed -n 's/^FAIL: //p' "$log" | cut -c1-300 | paste -sd';' -)"
	fi
	sed -n "s|^SKIP: |SKIP: tsan: $name: |p" "$log"
	if [ -z "$why" ]; then
		echo "PASS: tsan: $name"
	else
		echo "FAIL: tsan: $name: $why (log: $log)"
		failed=1
	fi
done
exit $failed
