#!/usr/bin/env bash
# Builds the libFuzzer harnesses: tests/fuzz/build.sh [HARNESS...] (default: all).
# The daemon's objects (all but main.c) are compiled here with the harnesses' own flags,
# into $BUILD/fuzz/obj, so that the fuzzers see the same code the daemon runs, instrumented.
# Prints the harness binaries' paths, one a line, on stdout; compiler output goes to stderr.
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-build}
cd "$TOP"
OUT=$TOP/$BUILD/fuzz
CC=${FUZZ_CC:-clang}
PKGS="libsystemd libconfig"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# As the Makefile's MINETD_CPPFLAGS; the default quotes file is the shipped one.
CPPFLAGS="-D_GNU_SOURCE -DMINETD_VERSION=\"fuzz\" -DMINETD_CONFIG_PATH=\"$TOP/config/minetd.conf\"
	-DMINETD_QUOTES_PATH=\"$TOP/config/quotes\" -DMINETD_HELPER_PATH=\"$TOP/$BUILD/minetd-helper\""
CFLAGS="-O1 -g -Wall -Wextra $SAN $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS)"

command -v "$CC" >/dev/null || { echo "build.sh: no $CC (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_config fuzz_inetd fuzz_proto fuzz_handlers fuzz_acl fuzz_fdstore)
mkdir -p "$OUT/obj" "$OUT/bin"

# Rebuilds an object when its source or any daemon header is newer; two at a time, as the
# machine has cores. -fsanitize=fuzzer-no-link: coverage instrumentation, no main().
newest_header=$(ls -t daemon/*.h | head -1)
objects=() pids=()
for src in daemon/*.c; do
	case $src in daemon/main.c | daemon/helper_main.c) continue ;; esac
	obj=$OUT/obj/$(basename "${src%.c}").o
	objects+=("$obj")
	if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ] || [ "$0" -nt "$obj" ]; then
		# shellcheck disable=SC2086
		$CC $CPPFLAGS $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src" & pids+=($!)
		if [ ${#pids[@]} -ge "$(nproc)" ]; then
			wait "${pids[0]}" || { rm -f "$obj"; exit 1; }
			pids=("${pids[@]:1}")
		fi
	fi
done
for p in "${pids[@]}"; do wait "$p" || exit 1; done

for h in "${harnesses[@]}"; do
	bin=$OUT/bin/$h
	src=tests/fuzz/$h.c
	[ -f "$src" ] || { echo "build.sh: no harness $src" >&2; exit 1; }
	stale=0
	[ -e "$bin" ] && [ ! "$src" -nt "$bin" ] && [ ! tests/fuzz/fuzz_data.h -nt "$bin" ] &&
		[ ! tests/fuzz/fuzz_files.h -nt "$bin" ] || stale=1
	for obj in "${objects[@]}"; do [ "$obj" -nt "$bin" ] && stale=1; done
	# The harnesses that load configs answer name lookups themselves: no DNS from a fuzzer
	# (fuzz_files.h).
	wrap=""
	case $h in fuzz_config | fuzz_inetd) wrap=-Wl,--wrap=getaddrinfo ;; esac
	if [ $stale = 1 ]; then
		# shellcheck disable=SC2086
		$CC $CPPFLAGS $CFLAGS -Idaemon -fsanitize=fuzzer -o "$bin" "$src" "${objects[@]}" $LIBS $wrap
	fi
	echo "$bin"
done
