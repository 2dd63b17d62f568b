#!/usr/bin/env bash
# Builds the libFuzzer harnesses and runs each for SECONDS (default 60):
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]
# Each starts from its seed corpus (tests/fuzz/corpus/HARNESS, kept in git, with the inputs
# that once crashed it as regression-* entries; fuzz_config also from the bad configs of
# tests/data/bad, fuzz_inetd from the inetd files of tests/data/inetd, read where they are)
# and replays open crash reproducers (tests/fuzz/crashes/HARNESS, when there are any); what
# it finds new is written to
# $BUILD/fuzz/corpus-out/HARNESS, never into the tree. Prints one line per harness,
# "PASS: HARNESS: N executions in S s ..." or "FAIL: HARNESS: what crashed (artifact, log)",
# and exits 1 when any crashed, leaked, hung or broke an invariant. Harnesses run side by
# side, as many as there are cores.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-build}
export TOP BUILD
cd "$TOP"
SECONDS_EACH=${1:-60}
shift $(($# > 0 ? 1 : 0))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_config fuzz_inetd fuzz_proto fuzz_handlers fuzz_acl fuzz_fdstore)
OUT=$TOP/$BUILD/fuzz
mkdir -p "$OUT/logs" "$OUT/artifacts"

if ! bash tests/fuzz/build.sh "${harnesses[@]}" >"$OUT/logs/build.log" 2>&1; then
	echo "FAIL: fuzz build: see $OUT/logs/build.log"
	tail -20 "$OUT/logs/build.log"
	exit 1
fi

# Sanitizer reports end the run; UBSan prints where it came from. libconfig's own leaks are
# suppressed (tests/sanitize/lsan.supp says which).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$TOP/tests/sanitize/lsan.supp
# The harnesses' scratch files, gone when we are, whatever became of the fuzzers.
TMPDIR=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo /tmp )/minetd-fuzz.XXXXXX") || exit 1
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

run_one() {     # run_one HARNESS: runs it, leaves its log in $OUT/logs/HARNESS.log
	local h=$1 extra=()
	mkdir -p "$OUT/corpus-out/$h"
	rm -f "$OUT/artifacts/$h-"*
	[ -f "tests/fuzz/$h.dict" ] && extra+=("-dict=tests/fuzz/$h.dict")
	[ "$h" = fuzz_config ] && extra+=("-dict=tests/fuzz/config.dict" tests/data/bad)
	[ "$h" = fuzz_inetd ] && extra+=(tests/data/inetd)
	[ -d "tests/fuzz/crashes/$h" ] && extra+=("tests/fuzz/crashes/$h")
	# stdin is /dev/null: a config may @include "/dev/stdin".
	timeout -k 10 $((SECONDS_EACH + 120)) "$OUT/bin/$h" \
		-max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-max_len=4096 -artifact_prefix="$OUT/artifacts/$h-" \
		"$OUT/corpus-out/$h" "tests/fuzz/corpus/$h" "${extra[@]}" </dev/null >"$OUT/logs/$h.log" 2>&1
	echo $? >"$OUT/logs/$h.rc"
}

report() {      # report HARNESS: one PASS or FAIL line
	local h=$1 log=$OUT/logs/$h.log rc execs corpus why artifact
	rc=$(cat "$OUT/logs/$h.rc" 2>/dev/null || echo missing)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	corpus=$(find "$OUT/corpus-out/$h" -type f | wc -l)
	artifact=$(ls "$OUT/artifacts/$h-"* 2>/dev/null | head -1)
	# libFuzzer's own count of the seconds it fuzzed: "Done N runs in T second(s)".
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	if [ "$rc" = 0 ] && [ -n "$execs" ] && ! grep -q '^==[0-9]*==ERROR' "$log"; then
		if [ -n "$took" ] && [ $((took * 10)) -lt $((SECONDS_EACH * 9)) ]; then
			echo "FAIL: $h: stopped after ${took} s of ${SECONDS_EACH} s, ${execs} executions (log: $log)"
			return 1
		fi
		echo "PASS: $h: ${execs} executions in ${took:-$SECONDS_EACH} s (corpus-out: $corpus entries)"
		return 0
	fi
	# The first line that says what went wrong: a sanitizer's, libFuzzer's or ours.
	why=$(grep -m1 -E 'invariant failed|runtime error|^SUMMARY: |harness: |ERROR: libFuzzer|ERROR: (Address|Leak)Sanitizer|scanner failed' "$log")
	[ "$rc" = 124 ] && why="did not finish in time"
	echo "FAIL: $h: ${why:-exit status $rc} (${execs:-0} executions; input: ${artifact:-none}; log: $log)"
	return 1
}

pids=()
for h in "${harnesses[@]}"; do
	run_one "$h" & pids+=($!)
	if [ ${#pids[@]} -ge "$(nproc)" ]; then
		wait "${pids[0]}"
		pids=("${pids[@]:1}")
	fi
done
wait
failed=0
for h in "${harnesses[@]}"; do
	report "$h" || failed=1
done
[ $failed = 0 ] || echo "fuzz: reproduce with $OUT/bin/HARNESS INPUT; keep the input under tests/fuzz/crashes/HARNESS/"
exit $failed
