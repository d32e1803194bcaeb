# Plots a `loadgen agents` run (its agents.csv, one row per sample window) as four panels over
# time: reports/s; ingest latency p50 and p99; the hub's resident set, heap in use and GC goal
# (MiB); its goroutines. The warm-up is shaded.
#
#   gnuplot -e "csv='agents.csv'; out='soak.png'; warmup=300; title='…'" scripts/bench/agents.gp
set datafile separator ','
set terminal pngcairo size 1100,1300 font 'sans,10'
set output out
set key top right horizontal
set grid ytics lc rgb '#dddddd'
set xlabel ''
set format x '%g'
set lmargin 11
set rmargin 3
# Headroom above the highest value, for the legend and a line at the maximum.
set offsets 0, 0, graph 0.25, 0
# Minutes since the start of the run.
mins(c) = column(c) / 60.0
set style rect fc rgb '#eeeeee' fs solid 1 noborder behind
set obj 1 rect from graph 0, graph 0 to first warmup/60.0, graph 1
set multiplot layout 4,1 title title font 'sans,12'

set ylabel 'reports/s'
set yrange [0:*]
plot csv using (mins('end_s')):'reports_per_s' with lines lw 1.5 lc rgb '#1f77b4' title 'answered 2xx per second'

set ylabel 'latency (ms)'
set logscale y
set yrange [*:*]
plot csv using (mins('end_s')):'p50_ms' with lines lw 1.5 lc rgb '#2ca02c' title 'p50', \
     '' using (mins('end_s')):'p99_ms' with lines lw 1.5 lc rgb '#d62728' title 'p99'
unset logscale y

set ylabel 'MiB'
set yrange [0:*]
plot csv using (mins('end_s')):'hub_rss_mib' with lines lw 1.5 lc rgb '#9467bd' title 'resident set (/metrics)', \
     '' using (mins('end_s')):'proc_rss_mib' with lines lw 1 dt 2 lc rgb '#8c564b' title 'resident set (/proc)', \
     '' using (mins('end_s')):'heap_inuse_mib' with lines lw 1.5 lc rgb '#ff7f0e' title 'heap in use', \
     '' using (mins('end_s')):'next_gc_mib' with lines lw 1 dt 3 lc rgb '#7f7f7f' title 'GC goal'

set ylabel 'goroutines'
set xlabel 'minutes since the start'
set yrange [0:*]
plot csv using (mins('end_s')):'goroutines' with lines lw 1.5 lc rgb '#17becf' title 'hub goroutines'
unset multiplot
