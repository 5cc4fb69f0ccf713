# Lab benchmark plot (tools/bench/lab_bench.py --plot): cost against the
# number of services. Called with -e "dat='...'; out='...'; ftcp=...;
# fudp=...; xmax=...": dat holds one block per setup (xlb, iptables,
# nftables), each line "services tcp_med tcp_min tcp_max udp_med udp_min
# udp_max"; ftcp and fudp are the floor's medians (no load balancer).
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1200,480 font "sans,10"
} else {
	set terminal png size 1200,480
}
set output out
set multiplot layout 1,2 title "Client to ClusterIP through the node, 3 backends (median, bars: min-max over rounds)"
set logscale x 10
set xrange [5:xmax*2]
set xlabel "services programmed"
set format y "%.0s%c"
set key bottom left
set grid ytics
set yrange [0:*]

set ylabel "new TCP connections/s"
set title "New connections (each connection: SYN to first line, then reset)"
plot dat index 0 using 1:2:3:4 with yerrorlines lw 2 pt 7 title "xlb (XDP)", \
     dat index 1 using 1:2:3:4 with yerrorlines lw 2 pt 5 title "kube-proxy iptables", \
     dat index 2 using 1:2:3:4 with yerrorlines lw 2 pt 9 title "kube-proxy nftables", \
     ftcp with lines dt 2 lw 2 lc rgb "black" title "floor: no load balancer"

set ylabel "UDP datagrams/s delivered"
set title "UDP, 32 established flows, 64-byte datagrams"
plot dat index 0 using 1:5:6:7 with yerrorlines lw 2 pt 7 title "xlb (XDP)", \
     dat index 1 using 1:5:6:7 with yerrorlines lw 2 pt 5 title "kube-proxy iptables", \
     dat index 2 using 1:5:6:7 with yerrorlines lw 2 pt 9 title "kube-proxy nftables", \
     fudp with lines dt 2 lw 2 lc rgb "black" title "floor: no load balancer"
unset multiplot
