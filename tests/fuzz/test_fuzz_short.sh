#!/usr/bin/env bash
# A short run of every libFuzzer harness, for make check: FUZZ_SHORT_SECONDS each
# (default 12), two at a time. One PASS line per harness with its execution count; FAIL on a
# crash, leak, hang, undefined behaviour or broken invariant (tests/fuzz/run.sh does the work).
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
missing=()
command -v clang >/dev/null || missing+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
	ls /usr/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)
if [ ${#missing[@]} -gt 0 ]; then
	echo "SKIP: fuzz: NOT FUZZED: libFuzzer needs ${missing[*]} (apt-get install ${missing[*]})"
	exit 77
fi
exec bash tests/fuzz/run.sh "${FUZZ_SHORT_SECONDS:-12}"
