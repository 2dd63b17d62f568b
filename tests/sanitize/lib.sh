# Shared by the sanitizer tests (sourced): the Python integration tests, some left out.

# The test functions of a harness file, in order.
tests_in() {
	awk '/^@([a-z]+_)?test$/ { getline; if (match($0, /^def [A-Za-z0-9_]+/)) print substr($0, 5, RLENGTH - 4) }' "$1"
}

# run_python FILE OUT [EXCLUDED...]: runs FILE's tests but the excluded ones, all output into
# OUT; returns non-zero when a run did. One run for the whole file when none is left out,
# else one per test (TEST= picks by substring: only the asked test's result lines are kept).
run_python() {
	local file=$1 out=$2 rc=0 t x keep
	shift 2
	local all left=()
	mapfile -t all < <(tests_in "$file")
	for t in "${all[@]}"; do
		keep=1
		for x in "$@"; do [ "$t" = "$x" ] && keep=0; done
		[ $keep = 1 ] && left+=("$t")
	done
	: >"$out"
	if [ ${#left[@]} = ${#all[@]} ]; then
		timeout -k 10 900 python3 "$file" >>"$out" 2>&1 || rc=$?
		return $rc
	fi
	for t in "${left[@]}"; do
		TEST=$t timeout -k 10 300 python3 "$file" >"$out.one" 2>&1 || rc=$?
		awk -v t="$t" '/^(PASS|FAIL|SKIP): / { n = $2; sub(/:$/, "", n); if (n != t) next } { print }' \
			"$out.one" >>"$out"
	done
	rm -f "$out.one"
	return $rc
}

# Until the harness scales its memory bounds (MINETD_RSS_FACTOR), a test that measures the
# daemon's RSS cannot pass under a sanitizer or valgrind, which add memory of their own.
rss_tests_unscaled() {
	! grep -q MINETD_RSS_FACTOR "$TOP/tests/integration/harness.py"
}
