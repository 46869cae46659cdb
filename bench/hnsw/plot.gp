# Draws recall@10 (x) against queries per CPU-second (y, log scale) for
# every curve of a data file that `hnsw_bench --data FILE` wrote.
#
#   gnuplot -e "data='fmnist.dat'; out='fmnist.png'" bench/hnsw/plot.gp
#
# Optional variables: title (default: the first comment line of the data
# file) and xmin (left end of the recall axis, default: the lowest recall
# in the file, rounded down to a multiple of 0.05).  Each curve is one
# block of the data file, named by its first line.
if (!exists("data")) {
  print "plot.gp: set data='FILE' (written by hnsw_bench --data FILE)"
  exit status 1
}
if (!exists("out")) out = data . ".png"
if (!exists("title")) title = system("sed -n '1s/^# //p' '" . data . "'")
stats data using 2 nooutput
if (!exists("xmin")) xmin = floor(STATS_min * 20) / 20.0

set terminal pngcairo size 1000,700 font "sans,11"
set output out
set title title noenhanced
set xlabel "recall@10" noenhanced
set ylabel "queries per CPU-second, one thread (log scale)"
set logscale y
set xrange [xmin:1.0]
set grid xtics ytics mxtics mytics
set mxtics 5
set key bottom left box opaque
# Recall 0.95, where the targets compare QPS.
set arrow from 0.95, graph 0 to 0.95, graph 1 nohead dashtype 2 lc "gray40"

plot for [i=0:STATS_blocks-1] data index i using 2:3 \
  with linespoints lw 2 pt i+5 title columnheader(1)
