# Turns results.txt from run.sh into report.md (stdout) and the plot data
# files (in the directory given as -v out=DIR).  POSIX awk (Debian's mawk).
#
# Input lines:
#   meta KEY VALUE...
#   result WORKLOAD SERVER RUN key=value...
#   na SERVER reason...
#   na_workload WORKLOAD SERVER reason...

BEGIN {
	nservers = split("ref minetd minetd.percpu minetd.old xinetd openbsd-inetd inetutils-inetd tcpserver", servers, " ")
	inetds = "xinetd openbsd-inetd inetutils-inetd"
	# Issue 19: what forks a process per connection, as old inetds do.
	forkers = inetds " tcpserver"
}

$1 == "meta" {
	key = $2
	$1 = $2 = ""
	sub(/^ +/, "")
	meta[key] = $0
	next
}

$1 == "na" {
	srv = $2
	$1 = $2 = ""
	sub(/^ +/, "")
	na[srv] = $0
	next
}

$1 == "na_workload" {
	wl = $2; srv = $3
	$1 = $2 = $3 = ""
	sub(/^ +/, "")
	na_wl[wl, srv] = $0
	next
}

$1 == "result" {
	wl = $2; srv = $3
	runs[wl, srv]++
	line_rps = line_cpu = line_client = ""
	for (i = 5; i <= NF; i++) {
		eq = index($i, "=")
		if (!eq)
			continue
		k = substr($i, 1, eq - 1)
		v = substr($i, eq + 1)
		if (k == "bench_failed") {
			failed[wl, srv]++
			continue
		}
		if (v !~ /^-?[0-9.]+$/)
			continue
		add(wl, srv, k, v + 0)
		if (k == "rps")
			line_rps = v + 0
		if (k == "cpu_pct")
			line_cpu = v + 0
		if (k == "client_cpu_pct")
			line_client = v + 0
	}
	# Server CPU time per request: what a server costs when the load
	# generator, not the server, sets the pace on two cores.
	if (line_rps != "" && line_cpu != "" && line_rps > 0)
		add(wl, srv, "cpu_us", line_cpu / 100 / line_rps * 1e6)
	if (line_rps != "" && line_client != "" && line_rps > 0)
		add(wl, srv, "client_us", line_client / 100 / line_rps * 1e6)
	next
}

function add(wl, srv, k, v,    n) {
	n = ++count[wl, srv, k]
	vals[wl, srv, k, n] = v
	sum[wl, srv, k] += v
}

function has(wl, srv, k) { return ((wl, srv, k) in count) }

# Sorts vals[wl, srv, k, 1..n] into s[1..n]; returns n.
function sorted(wl, srv, k, s,    n, i, j, t) {
	n = count[wl, srv, k]
	for (i = 1; i <= n; i++) {
		t = vals[wl, srv, k, i]
		for (j = i - 1; j >= 1 && s[j] > t; j--)
			s[j + 1] = s[j]
		s[j + 1] = t
	}
	return n
}

function median(wl, srv, k,    s, n) {
	n = sorted(wl, srv, k, s)
	if (n == 0)
		return ""
	return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
}

function minimum(wl, srv, k,    s) { return sorted(wl, srv, k, s) ? s[1] : "" }

function maximum(wl, srv, k,    s, n) { n = sorted(wl, srv, k, s); return n ? s[n] : "" }

function fmt(v, digits) {
	if (v == "")
		return "–"
	return sprintf("%." digits "f", v)
}

# "median (min–max)", scaled by div.
function spread(wl, srv, k, digits, div) {
	if (!has(wl, srv, k))
		return "–"
	if (div == "")
		div = 1
	return fmt(median(wl, srv, k) / div, digits) " (" fmt(minimum(wl, srv, k) / div, digits) \
	       "–" fmt(maximum(wl, srv, k) / div, digits) ")"
}

function ratio_value(wl, srv, k) {
	if (!has(wl, srv, k) || !has(wl, "ref", k) || median(wl, "ref", k) == 0)
		return ""
	return median(wl, srv, k) / median(wl, "ref", k)
}

function ratio(wl, srv, k,    r) {
	r = ratio_value(wl, srv, k)
	return r == "" ? "–" : sprintf("%.2f×", r)
}

# The inetd with the highest median of k (lowest with low != ""), "" if none ran; with
# clean != "", of those that dropped no connection.
function best_inetd(wl, k, low, clean) { return best_of(wl, k, low, inetds, clean) }

# Whether the space-separated list has the word.
function listed(list, word) { return index(" " list " ", " " word " ") > 0 }

# Of the servers in peers, the one with the highest median of k (lowest with
# low != ""), "" if none ran; with clean != "", of those that dropped no
# connection: no error, and none that took a second (a connection attempt
# dropped and sent again).
function best_of(wl, k, low, peers, clean,    i, srv, v, best, name) {
	name = ""
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (!listed(peers, srv) || !has(wl, srv, k) || (srv in na))
			continue
		if (clean != "" && (sum[wl, srv, "errors"] > 0 || maximum(wl, srv, "max_us") >= 1000000))
			continue
		v = median(wl, srv, k)
		if (name == "" || (low == "" ? v > best : v < best)) {
			best = v
			name = srv
		}
	}
	return name
}

# Ratio of srv's median of k to that of the server named by "to".
function ratio_to(wl, srv, k, to,    d) {
	if (to == "" || !has(wl, srv, k) || !has(wl, to, k))
		return "–"
	d = median(wl, to, k)
	return d == 0 ? "–" : sprintf("%.2f×", median(wl, srv, k) / d)
}

function selected(wl) { return meta["workloads"] == "" || index(" " meta["workloads"] " ", " " wl " ") }

function total(wl, srv, k) { return has(wl, srv, k) ? sum[wl, srv, k] : "–" }

# The row's leading cell, or a whole "n/a" row; returns 0 if n/a, and, with
# no row at all, for a server of the exec workload only in another table.
function row_start(wl, srv, ncols, why,    i, line) {
	if (wl != "exec" && listed(meta["exec_only"], srv))
		return 0
	why = ""
	if (srv in na)
		why = na[srv]
	else if ((wl, srv) in na_wl)
		why = na_wl[wl, srv]
	else if (!runs[wl, srv])
		why = wl == "idle" && index(inetds, srv) ? "not measured: forks a process per connection" : "not run"
	else if (failed[wl, srv] == runs[wl, srv])
		why = "every run failed (see logs/)"
	if (why == "") {
		printf "| %s |", srv
		return 1
	}
	line = "| " srv " | n/a: " why " |"
	for (i = 2; i < ncols; i++)
		line = line " |"
	print line
	return 0
}

function header(title, cols, align) {
	printf "\n## %s\n\n%s\n%s\n", title, cols, align
}

function runs_note(wl, srv) {
	return failed[wl, srv] ? sprintf(" (%d of %d runs failed)", failed[wl, srv], runs[wl, srv]) : ""
}

function verdict(ok) { return ok ? "**met**" : "**missed**" }

function target(text, figure, ok, measured) {
	printf "| %s | %s | %s |\n", text, figure, measured ? verdict(ok) : "not measured"
}

# minetd's median of k against the best inetd's: at least "factor" times it, or
# with low != "", at most factor times the lowest. With by != "", the inetd is the one with
# the highest median of by instead, and with clean != "", one that dropped no connection.
function target_vs_inetd(text, wl, k, factor, low, by, clean) {
	target_vs(text, wl, k, factor, low, inetds, by, clean)
}

# Why none of peers has a figure of wl: a single peer's n/a reason if it has one.
function none_measured(wl, peers) {
	if (peers == inetds)
		return "no inetd measured"
	if (!index(peers, " "))
		return (peers in na) ? peers " n/a: " na[peers] : \
		       ((wl, peers) in na_wl) ? peers " n/a: " na_wl[wl, peers] : "no " peers " measured"
	return "none of " peers " measured"
}

# minetd's median of k against the best of the servers in peers (the lowest
# with low != ""): at least factor times it, or with low != "", at most. With
# by != "", the peer is the one with the highest median of by instead, and
# with clean != "", one that dropped no connection.
function target_vs(text, wl, k, factor, low, peers, by, clean,    best, r, why) {
	best = by == "" ? best_of(wl, k, low, peers, clean) : best_of(wl, by, "", peers, clean)
	if (("minetd" in na) || ((wl, "minetd") in na_wl)) {
		why = ("minetd" in na) ? na["minetd"] : na_wl[wl, "minetd"]
		printf "| %s | n/a: %s | not measured |\n", text, why
	} else if (best == "")
		target(text, none_measured(wl, peers), 0, 0)
	else if (!has(wl, "minetd", k))
		target(text, "–", 0, 0)
	else {
		r = median(wl, "minetd", k) / median(wl, best, k)
		target(text, sprintf("%.2f× %s", r, best), low == "" ? r >= factor : r <= factor, 1)
	}
}

# gnuplot wants NaN for a missing bar.
function plotval(wl, srv, k, div) {
	if (!has(wl, srv, k))
		return "NaN"
	return sprintf("%g %g %g", median(wl, srv, k) / div, minimum(wl, srv, k) / div,
		       maximum(wl, srv, k) / div)
}

function plot_files(    i, srv, f, r, file, line, n, upper, cnt, cum, keys, ukeys, j, t, wl, nwl, wls, k, any) {
	f = out "/plot-have.gp"
	nwl = split("tcp:rps udp:rps daytime:rps exec:rps idle:rss_kb startup:listen_ms inetd:rps", wls, " ")
	for (j = 1; j <= nwl; j++) {
		split(wls[j], t, ":")
		any = 0
		for (i = 1; i <= nservers; i++)
			any = any || has(t[1], servers[i], t[2])
		print "have_" t[1] " = " any > f
	}
	close(f)
	f = out "/plot-bars.dat"
	print "# server tcp_rps(med min max) udp_pps(...) daytime_cps(...) rss_mib(...) ready_ms(...) listen_ms(...) exec_cps(...) inetd_cps(...)" > f
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		print srv, \
		      (has("tcp", srv, "rps") ? plotval("tcp", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("udp", srv, "rps") ? plotval("udp", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("daytime", srv, "rps") ? plotval("daytime", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("idle", srv, "rss_kb") ? plotval("idle", srv, "rss_kb", 1024) : "NaN NaN NaN"), \
		      (has("startup", srv, "ready_ms") ? plotval("startup", srv, "ready_ms", 1) : "NaN NaN NaN"), \
		      (has("startup", srv, "listen_ms") ? plotval("startup", srv, "listen_ms", 1) : "NaN NaN NaN"), \
		      (has("exec", srv, "rps") ? plotval("exec", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("inetd", srv, "rps") ? plotval("inetd", srv, "rps", 1) : "NaN NaN NaN") > f
	}
	close(f)
	# TCP echo latency CDF per server, all runs merged.
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (!has("tcp", srv, "rps"))
			continue
		split("", cnt)
		n = 0
		cum = 0
		for (r = 1; r <= runs["tcp", srv]; r++) {
			file = out "/hist-tcp-" srv "-" r ".txt"
			while ((getline line < file) > 0) {
				if (line ~ /^#/)
					continue
				split(line, t, " ")
				if (!((t[1] + 0) in cnt))
					ukeys[++n] = t[1] + 0
				cnt[t[1] + 0] += t[2]
				cum += t[2]
			}
			close(file)
		}
		if (n == 0)
			continue
		for (j = 2; j <= n; j++) { # insertion sort of the bucket bounds
			upper = ukeys[j]
			for (r = j - 1; r >= 1 && ukeys[r] > upper; r--)
				ukeys[r + 1] = ukeys[r]
			ukeys[r + 1] = upper
		}
		f = out "/cdf-tcp-" srv ".dat"
		print "# upper_us cumulative_fraction" > f
		keys = 0
		for (j = 1; j <= n; j++) {
			keys += cnt[ukeys[j]]
			print ukeys[j], keys / cum > f
		}
		close(f)
		split("", ukeys)
	}
}

# A table of connections per second, for the workloads with a connection per
# request: ratios to the reference and to the best inetd in this run.
function oneshot_table(wl, title, p90,    i, srv, best, cheap) {
	best = best_inetd(wl, "rps")
	header(title,
	       "| server | connections/s | × ref | × best inetd | p50 µs |" (p90 ? " p90 µs |" : "") \
	       " p99 µs | errors | server CPU % | CPU µs/connection | × ref | × best inetd | load generator CPU µs/connection |",
	       "|---|---:|---:|---:|---:|" (p90 ? "---:|" : "") "---:|---:|---:|---:|---:|---:|---:|")
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (!row_start(wl, srv, p90 ? 14 : 13))
			continue
		printf " %s | %s | %s | %s |", spread(wl, srv, "rps", 0) runs_note(wl, srv),
		       ratio(wl, srv, "rps"), ratio_to(wl, srv, "rps", best), spread(wl, srv, "p50_us", 0)
		if (p90)
			printf " %s |", spread(wl, srv, "p90_us", 0)
		printf " %s | %s | %s | %s | %s | %s | %s |\n", spread(wl, srv, "p99_us", 0), total(wl, srv, "errors"),
		       spread(wl, srv, "cpu_pct", 0), spread(wl, srv, "cpu_us", p90 ? 0 : 2), ratio(wl, srv, "cpu_us"),
		       ratio_to(wl, srv, "cpu_us", best), spread(wl, srv, "client_us", p90 ? 0 : 2)
	}
	cheap = best_inetd(wl, "cpu_us", 1)
	if (best != "")
		printf "\nBest inetd in connections/s: %s; least CPU per connection among the inetds: %s (%s µs).\n",
		       best, cheap, fmt(median(wl, cheap, "cpu_us"), p90 ? 0 : 2)
}

# The inetd workload (issue 20): the servers of meta inetd_servers, each
# against openbsd-inetd.
function inetd_table(wl, title,    i, srv, base) {
	base = "openbsd-inetd"
	header(title,
	       "| server | connections/s | × " base " | p50 µs | p90 µs | p99 µs | errors | server CPU % | " \
	       "CPU µs/connection | × " base " | load generator CPU µs/connection |",
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (!listed(meta["inetd_servers"], srv) || !row_start(wl, srv, 11))
			continue
		printf " %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
		       spread(wl, srv, "rps", 0) runs_note(wl, srv), ratio_to(wl, srv, "rps", base),
		       spread(wl, srv, "p50_us", 0), spread(wl, srv, "p90_us", 0), spread(wl, srv, "p99_us", 0),
		       total(wl, srv, "errors"), spread(wl, srv, "cpu_pct", 0), spread(wl, srv, "cpu_us", 0),
		       ratio_to(wl, srv, "cpu_us", base), spread(wl, srv, "client_us", 0)
	}
}

# "server: its processes; ..." for each server whose cgroup was looked at.
function cgroups_seen(    i, srv, list) {
	list = ""
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (("cgroup_procs_" srv) in meta)
			list = list (list == "" ? "" : "; ") srv ": " meta["cgroup_procs_" srv]
	}
	return list == "" ? "none looked at (no cgroups)" : list
}

END {
	print "# minetd benchmark (issues 7, 13, 19, 20)"
	print ""
	printf "%s · %s CPUs (%s) · Linux %s · %s\n", meta["date"], meta["nproc"], meta["cpu"],
	       meta["kernel"], meta["minetd"] == "" ? "minetd: no version" : meta["minetd"]
	print ""
	printf "Each figure is the median of %s runs of %s s (after 0.5 s warm-up), min–max in " \
	       "brackets; **× ref** is the median over the median of the reference server " \
	       "(tests/bench/refserver.c, single-threaded epoll) measured in this same invocation. " \
	       "Runs interleave the servers, in a different order each round. Closed loop: " \
	       "each client waits for its reply before the next request; every client has its " \
	       "own source address (but in the table of daytime from one address). Whole suite: %s s.\n",
	       meta["runs"], meta["secs"], meta["elapsed_s"]
	print ""
	if (meta["netns"] == 1)
		print "Every server runs in a network namespace of its own, bound to " meta["addr"] \
		      " on lo; the inetds' built-in services need their official ports (echo 7, " \
		      "daytime 13), and openbsd-inetd ignores UDP from 127/8 by design."
	else
		print "Not root: servers on " meta["addr"] ", no namespaces; the inetds are not run."

	if (selected("tcp")) {
		header("TCP echo: 64-byte requests, 50 connections",
		       "| server | requests/s | × ref | p50 µs | × ref | p99 µs | × ref | errors | server CPU % | CPU µs/request | × ref |",
		       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for (i = 1; i <= nservers; i++) {
			srv = servers[i]
			if (!row_start("tcp", srv, 11))
				continue
			printf " %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", spread("tcp", srv, "rps", 0) runs_note("tcp", srv),
			       ratio("tcp", srv, "rps"), spread("tcp", srv, "p50_us", 0), ratio("tcp", srv, "p50_us"),
			       spread("tcp", srv, "p99_us", 0), ratio("tcp", srv, "p99_us"), total("tcp", srv, "errors"),
			       spread("tcp", srv, "cpu_pct", 0), spread("tcp", srv, "cpu_us", 2), ratio("tcp", srv, "cpu_us")
		}
	}

	if (selected("udp")) {
		header("UDP echo: 64-byte datagrams, 50 clients",
		       "| server | datagrams/s | × ref | lost (all runs) | loss % | p99 µs | × ref | server CPU % | CPU µs/datagram | × ref |",
		       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for (i = 1; i <= nservers; i++) {
			srv = servers[i]
			if (!row_start("udp", srv, 10))
				continue
			printf " %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", spread("udp", srv, "rps", 0) runs_note("udp", srv),
			       ratio("udp", srv, "rps"), total("udp", srv, "lost"), spread("udp", srv, "loss_pct", 3),
			       spread("udp", srv, "p99_us", 0), ratio("udp", srv, "p99_us"), spread("udp", srv, "cpu_pct", 0),
			       spread("udp", srv, "cpu_us", 2), ratio("udp", srv, "cpu_us")
		}
	}

	if (selected("daytime"))
		oneshot_table("daytime", "daytime over TCP: connect, read to EOF, close; 20 concurrent clients", "")
	if (selected("daytime1"))
		oneshot_table("daytime1", "daytime over TCP from one address: the same, every client from " \
			      meta["addr"], "")
	if (selected("exec"))
		oneshot_table("exec", "exec over TCP: connect, send 64 bytes, shut down writing, read the echo to EOF, close; " \
			      meta["exec_clients"] " concurrent clients; every server runs " meta["exec_program"] \
			      " as " meta["exec_user"] " per connection", 1)
	if (selected("exec") && best_of("exec", "rps", "", forkers) != "")
		printf "Best server that forks per connection (the inetds and tcpserver): %s.\n",
		       best_of("exec", "rps", "", forkers)
	if (selected("inetd"))
		inetd_table("inetd", "inetd.conf: the line `" meta["inetd_line"] "` read by each server " \
			    "from an inetd.conf file; the client of exec, " meta["exec_clients"] " concurrent clients")

	if (selected("idle")) {
		header(meta["idle"] " idle TCP echo connections (each has echoed one byte)",
		       "| server | VmRSS MiB, connections held | × ref | VmRSS MiB before | established (min of runs) | closed by server |",
		       "|---|---:|---:|---:|---:|---:|")
		for (i = 1; i <= nservers; i++) {
			srv = servers[i]
			if (!row_start("idle", srv, 6))
				continue
			printf " %s | %s | %s | %s | %s |\n", spread("idle", srv, "rss_kb", 1, 1024) runs_note("idle", srv),
			       ratio("idle", srv, "rss_kb"), spread("idle", srv, "rss_before_kb", 1, 1024),
			       has("idle", srv, "established") ? minimum("idle", srv, "established") : "–",
			       total("idle", srv, "dropped")
		}
	}

	if (selected("startup")) {
		header("Start-up: exec to READY=1 on NOTIFY_SOCKET, and to accepting TCP (" meta["starts"] " starts each)",
		       "| server | READY ms | × ref | accepting ms | × ref |",
		       "|---|---:|---:|---:|---:|")
		for (i = 1; i <= nservers; i++) {
			srv = servers[i]
			if (!row_start("startup", srv, 5))
				continue
			printf " %s | %s | %s | %s |\n",
			       has("startup", srv, "ready_ms") ? spread("startup", srv, "ready_ms", 2) : "never sent",
			       ratio("startup", srv, "ready_ms"), spread("startup", srv, "listen_ms", 2) runs_note("startup", srv),
			       ratio("startup", srv, "listen_ms")
		}
	}

	# The issues' targets, for minetd.
	if (selected("tcp") || selected("udp") || selected("daytime") || selected("idle") || selected("startup")) {
		print "\n## Targets of issue 7 (minetd)\n"
		print "| target | minetd | verdict |"
		print "|---|---|---|"
		m = !("minetd" in na)
		r = ratio_value("tcp", "minetd", "rps")
		target("TCP echo throughput ≥ 1.0× reference", r == "" ? "–" : sprintf("%.2f×", r), r != "" && r >= 1.0, m && r != "")
		r = ratio_value("tcp", "minetd", "p99_us")
		target("TCP echo p99 latency ≤ 1.2× reference", r == "" ? "–" : sprintf("%.2f×", r), r != "" && r <= 1.2, m && r != "")
		r = ratio_value("udp", "minetd", "rps")
		lost = has("udp", "minetd", "lost") ? sum["udp", "minetd", "lost"] : ""
		target("UDP echo ≥ 1.0× reference, no loss in the closed loop",
		       (r == "" ? "–" : sprintf("%.2f×", r)) ", " (lost == "" ? "–" : lost) " lost",
		       r != "" && r >= 1.0 && lost == 0, m && r != "")
		target_vs_inetd("daytime connections/s ≥ 1.5× the best inetd", "daytime", "rps", 1.5, "")
		rss = has("idle", "minetd", "rss_kb") ? median("idle", "minetd", "rss_kb") / 1024 : ""
		est = has("idle", "minetd", "established") ? minimum("idle", "minetd", "established") : ""
		target(meta["idle"] " idle connections in ≤ 16 MiB resident",
		       rss == "" ? "–" : sprintf("%.1f MiB (max %.1f), %d established", rss, maximum("idle", "minetd", "rss_kb") / 1024, est),
		       rss != "" && rss <= 16 && est == meta["idle"], m && rss != "")
		rd = has("startup", "minetd", "ready_ms") ? median("startup", "minetd", "ready_ms") : ""
		target("READY ≤ 5 ms after start", rd == "" ? "–" : sprintf("%.2f ms", rd), rd != "" && rd <= 5, m && rd != "")
	}

	if (selected("exec") || selected("daytime")) {
		print "\n## Targets of issue 13 (minetd)\n"
		print "| target | minetd | verdict |"
		print "|---|---|---|"
		target_vs_inetd("exec connections/s ≥ 1.2× the best inetd", "exec", "rps", 1.2, "")
		target_vs_inetd("exec CPU per connection ≤ the inetd that needs least", "exec", "cpu_us", 1.0, 1)
		target_vs_inetd("daytime connections/s ≥ 1.0× the best inetd", "daytime", "rps", 1.0, "")
		target_vs_inetd("daytime CPU per connection ≤ the inetd that needs least", "daytime", "cpu_us", 1.0, 1)
	}
	# Issue 19: exec against old main and every server that forks; issue 20: inetd.conf.
	if (selected("exec")) {
		print "\n## Targets of issue 19 (minetd, programs through its privileged helper)\n"
		print "| target | minetd | verdict |"
		print "|---|---|---|"
		target_vs("exec connections/s ≥ 0.9× old main (minetd.old, " meta["old_commit"] ", before the helper)",
			  "exec", "rps", 0.9, "", "minetd.old")
		target_vs("exec connections/s ≥ 1.2× the best of xinetd, openbsd-inetd, inetutils-inetd and tcpserver",
			  "exec", "rps", 1.2, "", forkers)
	}
	if (selected("inetd")) {
		print "\n## Targets of issue 20 (minetd, inetd.conf)\n"
		print "| target | minetd | verdict |"
		print "|---|---|---|"
		target_vs("inetd.conf line: connections/s ≥ 1.2× openbsd-inetd", "inetd", "rps", 1.2, "", "openbsd-inetd")
		target_vs("inetd.conf line: CPU per connection ≤ 1.0× openbsd-inetd (programs included)", "inetd",
			  "cpu_us", 1.0, 1, "openbsd-inetd")
	}

	if (selected("daytime") || selected("daytime1")) {
		print "\n## Targets of issue 21 (minetd)\n"
		print "| target | minetd | verdict |"
		print "|---|---|---|"
		# An inetd that drops connections has fewer clients at once, at a lower latency.
		for (i = 1; i <= 2; i++) {
			wl = i == 1 ? "daytime" : "daytime1"
			what = i == 1 ? "daytime" : "daytime from one address:"
			target_vs_inetd(what " connections/s ≥ 1.1× the best inetd that dropped no connection",
					wl, "rps", 1.1, "", "", 1)
			target_vs_inetd(what " p50 latency ≤ 0.9× that inetd's", wl, "p50_us", 0.9, 1, "rps", 1)
		}
	}

	print "\n## Notes\n"
	if (meta["cpu_source"] == "proc")
		print "- **Server CPU %** is the CPU time of every process in the server's namespace (forked " \
		      "children included once reaped) over the load generator's run, in % of one CPU; " \
		      "**CPU µs/request** divides it by the rate."
	else
		print "- **Server CPU %** is the CPU time of everything in a cgroup of the server's own (cgroup " \
		      meta["cpu_source"] (meta["cpu_source"] == "v2" ? " cpu.stat usage_usec" : " cpuacct.usage") \
		      "; the server is moved there before it starts, so every process it forks, running or " \
		      "exited, reaped or not, counts) over the load generator's run, in % of one CPU; " \
		      "**CPU µs/request** divides it by the rate."
	print "- The load generator shares the two CPUs with the server, so rates move with the " \
	      "machine's other load and with how the scheduler places the two; CPU per request is " \
	      "the steadier measure of what a server costs."
	print "- Of the inetds' built-ins only TCP echo forks per connection; daytime (TCP and UDP) " \
	      "and UDP echo are served in the inetd process itself, so the daytime figure compares " \
	      "event loops with event loops."
	print "- xinetd's built-in UDP echo reads and drops every datagram already queued after " \
	      "it answers one (seen with strace), so in a closed loop most requests are lost and " \
	      "wait for the 200 ms client timeout."
	if (selected("exec"))
		print "- exec: each inetd runs " meta["exec_program"] " as a `nowait` TCP service as user " \
		      meta["exec_user"] " with its limits lifted: openbsd-inetd and inetutils-inetd " \
		      "`nowait.1000000` and `-R 100000000` (invocations per minute), xinetd `instances = " \
		      "UNLIMITED`, `per_source = UNLIMITED`, `cps = 1000000 1` and `flags = NOLIBWRAP`. " \
		      "minetd: `handler = \"exec\"; command = [ \"" meta["exec_program"] "\" ]; user = \"" \
		      meta["exec_user"] "\"; processes = " meta["exec_processes"] "; timeout = 10;` (more " \
		      "processes than clients, so it is never the limit). The reference forks with vfork, " \
		      "then only dup2, setgroups/setgid/setuid and execve in the child; children are reaped " \
		      "through a signalfd. A connection counts when the whole 64-byte echo and the end of " \
		      "file arrived."
	if (selected("daytime") || selected("daytime1") || selected("exec"))
		print "- inetutils-inetd listens with a backlog of 10 (not configurable; `ss -ltn` shows it): " \
		      "with 20 clients some connection attempts are dropped and retried a second later, " \
		      "which shows as its errors (2 s client timeout) and maximum latencies of about 1 s; " \
		      "the clients that wait leave fewer at once to the others, whose latencies are then " \
		      "lower. The targets of issue 21 compare with the best inetd that dropped no connection."
	if (selected("daytime") || selected("daytime1"))
		print "- daytime: one load generator thread is the bottleneck (about 30 µs of its own CPU " \
		      "per connection against the servers' 12–25 µs) and shares the two CPUs with the " \
		      "server, so connections/s follow the load generator's share of the machine and its " \
		      "CPU per connection. On loopback the client's connect() runs the server's side of " \
		      "the handshake too, and with it the wake-up of a server asleep on its listener: on a " \
		      "virtual machine an interrupt to the server's CPU that costs the client several µs " \
		      "(about 6 µs, measured for issue 21). A server that sleeps after every connection " \
		      "slows the load generator; one that is busy, or that looks at its listener every so " \
		      "often under load instead of being woken for each client, does not."
	print "- Idle connections are measured for the event-driven servers only: an inetd would " \
	      "fork 10,000 processes."
	print "- READY: the time from fork+exec to the READY=1 datagram on a NOTIFY_SOCKET the " \
	      "bench listens on; accepting: to the first accepted TCP connection on the echo port, " \
	      "polled every 0.1 ms. xinetd and inetutils-inetd do not send READY=1."
	if (selected("exec") || selected("inetd"))
		print "- minetd starts programs through its privileged helper (minetd-helper), which minetd " \
		      "forks when run by hand as root: the helper and every program it starts are in " \
		      "minetd's cgroup and count as minetd's CPU. Processes in each cgroup once started: " \
		      cgroups_seen() "."
	if (selected("exec"))
		print "- exec, issue 19: **minetd.old** is minetd of commit " meta["old_commit"] ", the last " \
		      "before the privileged helper (it forks the programs itself), built from the same " \
		      "repository with the same compiler and flags and given the same exec service; " \
		      "**tcpserver** (ucspi-tcp) forks per connection like the inetds and runs `tcpserver " \
		      meta["tcpserver_args"] "`: `-R -H -l 0` spare it the ident and DNS lookups the " \
		      "inetds do not make, `-c 1000000` lifts its limit of 40 connections, `-b 128` is " \
		      "openbsd-inetd's backlog; it gives the program the connection as stdin and stdout. " \
		      "Both serve the exec workload only."
	if (selected("inetd"))
		print "- inetd, issue 20: minetd reads the line through its `inetd` key (`inetd = [ " \
		      "\"FILE\" ];` beside its other services), openbsd-inetd from its config file, after " \
		      "the lines of the other workloads. `." meta["inetd_max"] "` on the line lifts the " \
		      "default of 256 invocations a minute, the same line for both: openbsd-inetd lets " \
		      "N−1 through in each minute, minetd takes one from a bucket of N refilled over a " \
		      "minute, and its reader also makes N the most programs at once, which minetd " \
		      "allows up to 100000 (so not the `.1000000` of the exec workload's lines). Neither " \
		      "limit is reached in a run."
	print "\nPlots: throughput.png (bars: median, whiskers: min–max), tcp_latency_cdf.png, memory_startup.png."
	print "Raw lines: data/results.txt; server logs: logs/."
	plot_files()
}
