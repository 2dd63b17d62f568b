# Plots for the benchmark of issues 7 and 13; run.sh calls:
#   gnuplot -e "data='DIR'; out='DIR'" plots.gp
# data/plot-bars.dat columns: server, then median/min/max triples for
# tcp rps (2-4), udp pps (5-7), daytime cps (8-10), idle RSS MiB (11-13),
# READY ms (14-16), accepting ms (17-19), exec cps (20-22), inetd cps (23-25).
# NaN marks what was not measured; data/plot-have.gp sets have_WORKLOAD to 1 where anything was
# (a panel with no point at all would stop gnuplot), the others stay empty.

set terminal pngcairo size 2750,500 font "sans,10" noenhanced
set datafile missing "NaN"
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xtics rotate by -20
set key off
set xrange [-0.6:7.6] # eight servers, always in the same slots
bars = data."/plot-bars.dat"
load data."/plot-have.gp"

set output out."/throughput.png"
set multiplot layout 1,5 title "minetd benchmark: median, whiskers min-max"
set title "TCP echo, 64 B, 50 connections"
set ylabel "requests/s"
if (have_tcp) {
	plot bars using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
	     "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
} else {
	set multiplot next
}
set title "UDP echo, 64 B, 50 clients"
set ylabel "datagrams/s"
if (have_udp) {
	plot bars using 0:5:xtic(1) with boxes lc rgb "#66ccee", \
	     "" using 0:5:6:7 with yerrorbars lc rgb "black" pt 0
} else {
	set multiplot next
}
set title "daytime, 20 concurrent clients"
set ylabel "connections/s"
if (have_daytime) {
	plot bars using 0:8:xtic(1) with boxes lc rgb "#228833", \
	     "" using 0:8:9:10 with yerrorbars lc rgb "black" pt 0
} else {
	set multiplot next
}
set title "exec /bin/cat, 64 B, 20 concurrent clients"
set ylabel "connections/s"
if (have_exec) {
	plot bars using 0:20:xtic(1) with boxes lc rgb "#aa3377", \
	     "" using 0:20:21:22 with yerrorbars lc rgb "black" pt 0
} else {
	set multiplot next
}
set title "inetd.conf line, /bin/cat, 20 concurrent clients"
set ylabel "connections/s"
if (have_inetd) {
	plot bars using 0:23:xtic(1) with boxes lc rgb "#bbbbbb", \
	     "" using 0:23:24:25 with yerrorbars lc rgb "black" pt 0
} else {
	set multiplot next
}
unset multiplot

set output out."/memory_startup.png"
set terminal pngcairo size 1000,500 font "sans,10" noenhanced
set multiplot layout 1,2
set title "VmRSS with the idle connections held"
set ylabel "MiB"
if (have_idle) {
	plot bars using 0:11:xtic(1) with boxes lc rgb "#ccbb44", \
	     "" using 0:11:12:13 with yerrorbars lc rgb "black" pt 0
} else {
	set multiplot next
}
set title "Start-up: exec to READY=1 (bars), to accepting TCP (points)"
set ylabel "ms"
if (have_startup) {
	plot bars using 0:14:xtic(1) with boxes lc rgb "#ee6677", \
	     "" using 0:14:15:16 with yerrorbars lc rgb "black" pt 0, \
	     "" using 0:17:18:19 with yerrorbars lc rgb "#aa3377" pt 7
} else {
	set multiplot next
}
unset multiplot

set terminal pngcairo size 900,550 font "sans,10" noenhanced
set title "TCP echo latency, 64 B, 50 connections (all runs)"
set xlabel "latency, microseconds (log scale)"
set ylabel "fraction of requests at or below"
set logscale x
set xrange [*:*]
set yrange [0:1]
unset xtics
set xtics
set key bottom right
files = system("ls ".data."/cdf-tcp-*.dat 2>/dev/null")
name(f) = substr(f, strstrt(f, "cdf-tcp-") + 8, strlen(f) - 4)
if (strlen(files) > 0) {
	set output out."/tcp_latency_cdf.png"
	plot for [f in files] f using 1:2 with steps lw 2 title name(f)
}
