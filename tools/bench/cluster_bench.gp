# Cluster benchmark plot (tools/bench/cluster_bench.py): new TCP
# connections/s and established throughput, pod -> ClusterIP, per setup.
# gnuplot -e "dat='FILE'; out='PNG'" cluster_bench.gp
set terminal pngcairo size 900,420 font ",10"
set output out
set multiplot layout 1,2 title "pod -> ClusterIP on the three-node lab (medians)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
unset key
set title "new TCP connections/s"
plot dat using 2:xtic(1) lc rgb "#4477aa"
set title "established throughput, Gbit/s"
plot dat using 3:xtic(1) lc rgb "#228833"
unset multiplot
