#!/usr/bin/env bash
# The Python integration tests with every daemon run under valgrind (memcheck): any memory
# error, and any definite or indirect leak when the daemon stops, makes it exit 99 instead
# of 0, which fails the test. Lines: "PASS: valgrind: FILE: TEST", "FAIL: valgrind: FILE:
# TEST: why (log)"; the daemon's log, with valgrind's report, is in the test's log.
#
# Every test but the ones below: on this 2-core machine they take about 50 s together
# under valgrind, the 10,000-connection test and the hundred reloads under load included.
# Left out (and printed as SKIP lines):
#  - udp_flood_from_one_source_leaves_others_answered measures throughput under a flood: at
#    valgrind's speed the kernel drops the honest datagrams before minetd reads them;
#  - ten_thousand_concurrent_connections_are_served_in_16_mib while harness.py does not scale
#    its RSS bound (MINETD_RSS_FACTOR): the RSS it reads is valgrind's own as well;
#  - the soak (soak.py, not a test_*.py): a minute of load whose every honest request must
#    be answered in time, which valgrind's speed does not allow;
#  - the faults driven to their limits (FAULTS below, in several files: full pipes, floods,
#    exhausted descriptors, overlapping addresses in every spelling) with tight timing;
#    over a minute at valgrind's speed, and make check must stay within ten minutes;
#  - programs_started_while_connections_close_never_meet_a_freed_connection
#    (test_programs.py): six seconds of connections closed while programs start, a load
#    whose point is the timing: at valgrind's speed its clients time out;
#  - two_thousand_tcp_connections_in_a_row_leave_no_zombie_and_no_descriptor (test_programs.py):
#    2,000 programs started one after the other take 45 s under valgrind; the other exec
#    tests start a hundred or so.
#  - a_listener_under_a_burst_is_looked_at_then_watched_again_and_every_client_served
#    (test_services.py): whether the listener leaves epoll under a burst of clients 60 µs
#    apart (issue 21); minetd under valgrind is too slow to catch up with it, so it never does.
# They run under ASan (tests/sanitize/test_asan.sh). VALGRIND_TESTS="name ..." runs only those.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. tests/sanitize/lib.sh
export MINETD=${MINETD:-$TOP/${BUILD:-build}/minetd}
LOGS=$TOP/${BUILD:-build}/test-logs/valgrind
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log

if ! command -v valgrind >/dev/null; then
	echo "SKIP: valgrind: NOT RUN: valgrind is not installed (apt-get install valgrind)"
	exit 77
fi
if [ ! -x "$MINETD" ]; then
	echo "FAIL: valgrind: no minetd at $MINETD (run make first)"
	exit 1
fi

declare -A why_excluded=(
	[udp_flood_from_one_source_leaves_others_answered]="throughput under a flood, not at valgrind's speed"
	[programs_started_while_connections_close_never_meet_a_freed_connection]="a load whose point is its timing, not at valgrind's speed (it runs under ASan)"
	[two_thousand_tcp_connections_in_a_row_leave_no_zombie_and_no_descriptor]="2,000 programs one after the other: 45 s at valgrind's speed (it runs under ASan)"
	[a_listener_under_a_burst_is_looked_at_then_watched_again_and_every_client_served]="a burst of clients 60 µs apart, which minetd under valgrind never catches up with, so its listener never needs looking at (it runs under ASan)"
)
# The faults driven to their limits, by file.
FAULTS=(
	# test_config_check.py
	check_refuses_two_services_on_overlapping_addresses_however_spelt
	start_refuses_overlapping_addresses_with_one_or_two_loops
	check_and_start_agree_on_an_ipv4_mapped_host
	check_refuses_non_regular_config_include_and_quotes_files_at_once
	check_refuses_include_graphs_reaching_a_file_again_at_once
	# test_daemon.py
	closed_stdio_never_sends_log_lines_to_clients
	# test_limits.py
	connections_per_source_counts_ipv6_sources_by_their_64
	watchdog_pings_go_on_while_descriptors_are_exhausted
	# test_reload.py
	reload_between_one_address_and_every_address_keeps_serving
	reload_to_overlapping_addresses_is_refused_and_the_old_config_serves
	reload_onto_a_fifo_is_refused_and_echo_keeps_answering
	reload_that_denies_a_client_closes_its_connection
	reload_that_makes_a_service_udp_only_closes_its_tcp_connections
	reload_waiting_on_a_silent_resolver_never_blocks_the_loop
	# test_sockets.py
	services_on_one_port_with_distinct_addresses_or_protocols_load
	inherited_socket_of_an_unserved_type_is_closed_not_spun_on
	# test_udp_protection.py
	tcp_handshake_verifies_its_own_address_not_its_64
	sources_that_can_only_be_forged_are_never_answered
	loopback_source_arriving_on_another_interface_is_not_answered
	other_sources_do_not_refill_an_exhausted_source_budget
	source_budget_is_not_multiplied_by_loops
)
for t in "${FAULTS[@]}"; do
	why_excluded[$t]="a fault driven to its limit with tight timing: together over a minute at valgrind's speed (it runs under ASan)"
done
rss_tests_unscaled && why_excluded[ten_thousand_concurrent_connections_are_served_in_16_mib]="its RSS bound is not scaled for valgrind (harness.py does not read MINETD_RSS_FACTOR)"

# --vgdb=no: started as root, minetd serves as nobody, and valgrind could not remove the
# gdbserver FIFOs it made in /tmp as root (it says so on stderr at exit, which a test's full
# pipe does not take).
export MINETD_WRAPPER="valgrind --quiet --vgdb=no --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no --num-callers=30"
export MINETD_SLOW=${MINETD_SLOW:-5}
# The RSS the tests measure is valgrind's as well as the daemon's.
export MINETD_RSS_FACTOR=${MINETD_RSS_FACTOR:-8}
failed=0

for file in tests/integration/test_*.py; do
	[ -f "$file" ] || continue
	base=$(basename "$file")
	log=$LOGS/$base.log
	excluded=()
	for t in $(tests_in "$file"); do
		if [ -n "${VALGRIND_TESTS:-}" ]; then
			[[ " $VALGRIND_TESTS " == *" $t "* ]] || excluded+=("$t")
		elif [ -n "${why_excluded[$t]:-}" ]; then
			excluded+=("$t")
			echo "SKIP: valgrind: $base: $t: ${why_excluded[$t]}"
		fi
	done
	run_python "$file" "$log" "${excluded[@]}"
	rc=$?
	lines=$(grep -E '^(PASS|FAIL|SKIP): ' "$log")
	[ -n "$lines" ] && sed -e "s#^\(PASS\|FAIL\|SKIP\): #\1: valgrind: $base: #" -e "/^FAIL/s#\$# (log: $log)#" <<<"$lines"
	if grep -q '^FAIL' <<<"$lines"; then
		failed=1
	elif [ "$rc" != 0 ]; then
		echo "FAIL: valgrind: $base: exit status $rc (log: $log)"
		failed=1
	fi
done
exit $failed
