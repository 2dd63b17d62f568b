# Turns results.txt from run.sh into report.md (stdout) and the plot data
# files (in the directory given as -v out=DIR).  POSIX awk (Debian's mawk).
#
# Input lines:
#   meta KEY VALUE...
#   result WORKLOAD SERVER RUN key=value...
#   na SERVER reason...

BEGIN {
	nservers = split("ref minetd minetd.percpu xinetd openbsd-inetd inetutils-inetd", servers, " ")
	inetds = "xinetd openbsd-inetd inetutils-inetd"
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

$1 == "result" {
	wl = $2; srv = $3
	runs[wl, srv]++
	line_rps = line_cpu = ""
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
	}
	# Server CPU time per request: what a server costs when the load
	# generator, not the server, sets the pace on two cores.
	if (line_rps != "" && line_cpu != "" && line_rps > 0)
		add(wl, srv, "cpu_us", line_cpu / 100 / line_rps * 1e6)
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

function total(wl, srv, k) { return has(wl, srv, k) ? sum[wl, srv, k] : "–" }

# The row's leading cell, or a whole "n/a" row; returns 0 if n/a.
function row_start(wl, srv, ncols, why,    i, line) {
	why = ""
	if (srv in na)
		why = na[srv]
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

# gnuplot wants NaN for a missing bar.
function plotval(wl, srv, k, div) {
	if (!has(wl, srv, k))
		return "NaN"
	return sprintf("%g %g %g", median(wl, srv, k) / div, minimum(wl, srv, k) / div,
		       maximum(wl, srv, k) / div)
}

function plot_files(    i, srv, f, r, file, line, n, upper, cnt, cum, keys, ukeys, j, t) {
	f = out "/plot-bars.dat"
	print "# server tcp_rps(med min max) udp_pps(...) daytime_cps(...) rss_mib(...) ready_ms(...) listen_ms(...)" > f
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		print srv, \
		      (has("tcp", srv, "rps") ? plotval("tcp", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("udp", srv, "rps") ? plotval("udp", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("daytime", srv, "rps") ? plotval("daytime", srv, "rps", 1) : "NaN NaN NaN"), \
		      (has("idle", srv, "rss_kb") ? plotval("idle", srv, "rss_kb", 1024) : "NaN NaN NaN"), \
		      (has("startup", srv, "ready_ms") ? plotval("startup", srv, "ready_ms", 1) : "NaN NaN NaN"), \
		      (has("startup", srv, "listen_ms") ? plotval("startup", srv, "listen_ms", 1) : "NaN NaN NaN") > f
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

END {
	print "# minetd benchmark (issue 7)"
	print ""
	printf "%s · %s CPUs (%s) · Linux %s · %s\n", meta["date"], meta["nproc"], meta["cpu"],
	       meta["kernel"], meta["minetd"] == "" ? "minetd: no version" : meta["minetd"]
	print ""
	printf "Each figure is the median of %s runs of %s s (after 0.5 s warm-up), min–max in " \
	       "brackets; **× ref** is the median over the median of the reference server " \
	       "(tests/bench/refserver.c, single-threaded epoll) measured in this same invocation. " \
	       "Runs interleave the servers, in a different order each round. Closed loop: " \
	       "each client waits for its reply before the next request; every client has its " \
	       "own source address. Whole suite: %s s.\n", meta["runs"], meta["secs"], meta["elapsed_s"]
	print ""
	if (meta["netns"] == 1)
		print "Every server runs in a network namespace of its own, bound to " meta["addr"] \
		      " on lo; the inetds' built-in services need their official ports (echo 7, " \
		      "daytime 13), and openbsd-inetd ignores UDP from 127/8 by design."
	else
		print "Not root: servers on " meta["addr"] ", no namespaces; the inetds are not run."

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

	header("daytime over TCP: connect, read to EOF, close; 20 concurrent clients",
	       "| server | connections/s | × ref | p50 µs | p99 µs | errors | server CPU % | CPU µs/connection | × ref |",
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (!row_start("daytime", srv, 9))
			continue
		printf " %s | %s | %s | %s | %s | %s | %s | %s |\n", spread("daytime", srv, "rps", 0) runs_note("daytime", srv),
		       ratio("daytime", srv, "rps"), spread("daytime", srv, "p50_us", 0),
		       spread("daytime", srv, "p99_us", 0), total("daytime", srv, "errors"),
		       spread("daytime", srv, "cpu_pct", 0), spread("daytime", srv, "cpu_us", 2),
		       ratio("daytime", srv, "cpu_us")
	}

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

	# Targets of issue 7, for minetd.
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
	best = ""; bestname = ""
	for (i = 1; i <= nservers; i++) {
		srv = servers[i]
		if (index(inetds, srv) && has("daytime", srv, "rps") && (best == "" || median("daytime", srv, "rps") > best)) {
			best = median("daytime", srv, "rps")
			bestname = srv
		}
	}
	d = has("daytime", "minetd", "rps") ? median("daytime", "minetd", "rps") : ""
	if (best == "")
		target("daytime connections/s ≥ 1.5× the best inetd", "no inetd measured", 0, 0)
	else
		target("daytime connections/s ≥ 1.5× the best inetd",
		       d == "" ? "–" : sprintf("%.2f× %s", d / best, bestname), d != "" && d / best >= 1.5, m && d != "")
	rss = has("idle", "minetd", "rss_kb") ? median("idle", "minetd", "rss_kb") / 1024 : ""
	est = has("idle", "minetd", "established") ? minimum("idle", "minetd", "established") : ""
	target(meta["idle"] " idle connections in ≤ 16 MiB resident",
	       rss == "" ? "–" : sprintf("%.1f MiB (max %.1f), %d established", rss, maximum("idle", "minetd", "rss_kb") / 1024, est),
	       rss != "" && rss <= 16 && est == meta["idle"], m && rss != "")
	rd = has("startup", "minetd", "ready_ms") ? median("startup", "minetd", "ready_ms") : ""
	target("READY ≤ 5 ms after start", rd == "" ? "–" : sprintf("%.2f ms", rd), rd != "" && rd <= 5, m && rd != "")

	print "\n## Notes\n"
	print "- **Server CPU %** is the CPU time of every process in the server's namespace (forked " \
	      "children included once reaped) over the load generator's run, in % of one CPU; " \
	      "**CPU µs/request** divides it by the rate. The load generator shares the two CPUs " \
	      "with the server, so rates move with the machine's other load; CPU per request is the " \
	      "steadier measure of what a server costs."
	print "- Of the inetds' built-ins only TCP echo forks per connection; daytime (TCP and UDP) " \
	      "and UDP echo are served in the inetd process itself, so the daytime figure compares " \
	      "event loops with event loops."
	print "- xinetd's built-in UDP echo reads and drops every datagram already queued after " \
	      "it answers one (seen with strace), so in a closed loop most requests are lost and " \
	      "wait for the 200 ms client timeout."
	print "- Idle connections are measured for the event-driven servers only: an inetd would " \
	      "fork 10,000 processes."
	print "- READY: the time from fork+exec to the READY=1 datagram on a NOTIFY_SOCKET the " \
	      "bench listens on; accepting: to the first accepted TCP connection on the echo port, " \
	      "polled every 0.1 ms. xinetd and inetutils-inetd do not send READY=1."
	print "\nPlots: throughput.png (bars: median, whiskers: min–max), tcp_latency_cdf.png, memory_startup.png."
	print "Raw lines: data/results.txt; server logs: logs/."
	plot_files()
}
