#!/bin/bash
# mkimage.sh OUTDIR KPKG -- build the throwaway test VM: Debian 12's stock kernel
# (KPKG, e.g. linux-image-6.1.0-56-amd64) booted as an uncompressed vmlinux
# (PVH), plus a busybox initramfs with the tools and libraries xlb's tests use.
# Everything comes from Debian packages fetched by exact name with
# `apt-get download`; nothing is taken from the host's own installation.
#
# Output: OUTDIR/vmlinux, OUTDIR/initramfs.cpio.gz, OUTDIR/manifest.txt.
# OUTDIR/debs is kept as a download cache; the unpacked sysroot is deleted.
# Host needs: apt-get, dpkg-deb, kmod (modprobe, depmod), cpio, gzip, xz, readelf.
# The recipe and its timings: /work/shared/notes/vmtest.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
KPKG=$2
KV=${KPKG#linux-image-}
ARCH_LIB=x86_64-linux-gnu

# Userland, by exact package name (no wildcards: `linux-image-*` fetches ~30 kernels).
#  shell + tools: busybox-static (everything small), dash (/bin/sh: a real
#    PATH lookup, so system("ip ...") reaches iproute2, not busybox's applet),
#    bash, kmod (modprobe with softdeps, for the kernel's request_module too),
#    iproute2, ethtool, bpftool; ipvsadm, ipset and iptables for debugging and
#    the smoke test only -- xlb itself must not shell out to them.
#  libraries for host-built test binaries: libbpf, libelf, zlib, libcmocka,
#    libnl-3/-genl-3, libmnl, libipset, libcap, libyaml, libjansson (the
#    manifest reader's JSON front end, in xlbctl), libseccomp (xlbd's
#    exec-probe sandbox), libprotobuf-c, and
#    gRPC core (libgrpc29) with its runtime closure (abseil, c-ares, re2,
#    OpenSSL, libstdc++). libprotobuf32/libprotoc32 are package dependencies of
#    libgrpc29 but no DT_NEEDED of libgrpc.so.29, so they are not fetched.
#    libmicrohttpd (xlbd's metrics endpoint) with its GnuTLS closure.
PKGS_TOOLS="busybox-static dash bash libtinfo6 kmod liblzma5 libzstd1 iproute2 ethtool bpftool
  ipvsadm libpopt0 ipset iptables libxtables12 libip4tc2 libip6tc2 libnftnl11
  libnetfilter-conntrack3 libnfnetlink0 netbase"
PKGS_LIBS="libc6 libbpf1 libelf1 zlib1g libbsd0 libmd0 libcap2 libmnl0 libnl-3-200
  libnl-genl-3-200 libipset13 libyaml-0-2 libjansson4 libseccomp2 libprotobuf-c1 libcmocka0
  libgrpc29 libabsl20220623 libc-ares2 libre2-9 libssl3 libstdc++6 libgcc-s1
  libmicrohttpd12 libgnutls30 libp11-kit0 libidn2-0 libunistring2 libtasn1-6 libnettle8
  libhogweed6 libgmp10 libffi8"
# Binaries put on PATH (first found under usr/sbin, usr/bin, sbin, bin).
BINS="busybox dash bash kmod ip ethtool bpftool ipvsadm ipset xtables-nft-multi xtables-legacy-multi"
# Libraries the image offers to test binaries (their DT_NEEDED closure comes along).
LIBS="libbpf.so.1 libelf.so.1 libz.so.1 libcmocka.so.0 libnl-3.so.200 libnl-genl-3.so.200
  libmnl.so.0 libipset.so.13 libcap.so.2 libyaml-0.so.2 libjansson.so.4 libseccomp.so.2 libprotobuf-c.so.1
  libgrpc.so.29 libgpr.so.29 libupb.so.29 libaddress_sorting.so.29 libmicrohttpd.so.12
  libstdc++.so.6 libgcc_s.so.1 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2"

# Modules, preloaded in this order with their dependencies and softdeps as
# kmod resolves them on the host. crc32c_generic comes before ip_vs: ip_vs
# needs libcrc32c, whose crc32c softdep a plain insmod would not honour.
MODS="virtio_pci 9pnet_virtio 9p
  veth dummy crc32c_generic nf_conntrack nf_nat
  ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh
  ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet
  ip_set_hash_net ip_set_bitmap_port
  x_tables xt_set xt_MASQUERADE xt_mark xt_comment xt_conntrack xt_addrtype xt_multiport
  ip_tables iptable_nat iptable_filter
  nf_tables nft_compat nft_chain_nat nft_masq nft_ct"
# Shipped but not loaded at boot: the kernel's request_module() loads them on
# first use through /sbin/modprobe (kmod) and the image's modules.alias.
LAZY_MODS="ip_vs_lc ip_vs_wlc ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_dh ip_vs_lblc ip_vs_lblcr
  ip_vs_fo ip_vs_ovf ip_vs_ftp xt_ipvs
  ip_set_hash_netport ip_set_hash_netiface ip_set_hash_netnet ip_set_hash_ipmark
  ip_set_hash_mac ip_set_hash_ipmac ip_set_bitmap_ip ip_set_list_set
  ip6_tables ip6table_nat ip6table_filter iptable_mangle iptable_raw ip6table_mangle ip6table_raw
  xt_nat xt_statistic xt_physdev xt_REDIRECT xt_recent xt_state xt_CT xt_NFLOG
  xt_tcpudp xt_limit xt_iprange xt_owner xt_socket xt_bpf xt_connmark ipt_REJECT ip6t_REJECT
  nft_nat nft_redir nft_reject_inet nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_hash nft_numgen
  nft_limit nft_log nft_objref nf_conntrack_netlink nfnetlink_log
  sch_ingress cls_bpf act_bpf act_mirred sch_netem macvlan ipvlan vxlan bridge br_netfilter"

die() { echo "mkimage: $*" >&2; exit 1; }
t0=$(date +%s%N)
step() { echo "$1 $(( ($(date +%s%N) - t0) / 1000000 ))" | awk '{ms = $NF; $NF = ""; printf "mkimage: %-52s %5.1fs\n", $0, ms / 1000}'; }

# 1. fetch (cached in OUT/debs) and unpack into a scratch sysroot
mkdir -p "$OUT/debs"
missing=""
for p in $KPKG $PKGS_TOOLS $PKGS_LIBS; do
	ls "$OUT/debs/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	# apt runs as root here and says the download is unsandboxed: harmless.
	(cd "$OUT/debs" && apt-get download -q $missing 2>&1) | grep -vE '^(W: Download is performed unsandboxed|Get:|Fetched)' >&2 || true
	for p in $missing; do
		ls "$OUT/debs/${p}_"*.deb >/dev/null 2>&1 || die "apt-get download $p failed (run apt-get update?)"
	done
fi
step "download ($(du -sm "$OUT/debs" | cut -f1) MB of .debs)"
SYS="$OUT/sysroot" ST="$OUT/initramfs"
rm -rf "$SYS"; mkdir -p "$SYS"
trap 'rm -rf "$SYS" "$ST" "$OUT"/*.tmp' EXIT   # scratch (sysroot is ~450 MB): never kept
for p in $KPKG $PKGS_TOOLS $PKGS_LIBS; do
	# newest cached version if several are present
	d=$(ls -v "$OUT/debs/${p}_"*.deb | tail -1)
	dpkg-deb -x "$d" "$SYS" &
done
wait
[ -d "$SYS/lib/modules/$KV" ] || die "kernel $KPKG has no lib/modules/$KV"
depmod -b "$SYS" "$KV"
step "unpack + depmod"

# 2. uncompressed ELF vmlinux: qemu boots it through PVH, skipping SeaBIOS and
# the in-guest XZ decompression (about 3 s under TCG)
off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$SYS/boot/vmlinuz-$KV" | head -1 | cut -d: -f1)
[ -n "$off" ] || die "no XZ payload in vmlinuz-$KV"
tail -c +$((off + 1)) "$SYS/boot/vmlinuz-$KV" | xz -dc 2>/dev/null > "$OUT/vmlinux.tmp" || true
[ "$(head -c4 "$OUT/vmlinux.tmp" | od -An -c | tr -d ' ')" = '177ELF' ] || die "vmlinux extraction failed"
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
step "vmlinux"

# 3. initramfs tree, merged-/usr layout
rm -rf "$ST"
mkdir -p "$ST"/usr/{bin,sbin,lib/$ARCH_LIB,lib64} "$ST"/{proc,sys,dev,run,tmp,etc/modprobe.d,root,host}
ln -s usr/bin "$ST/bin"; ln -s usr/sbin "$ST/sbin"; ln -s usr/lib "$ST/lib"; ln -s usr/lib64 "$ST/lib64"
mkdir -p "$ST/var"; ln -s ../run "$ST/var/run"; ln -s ../tmp "$ST/var/tmp"
L="$ST/usr/lib/$ARCH_LIB"
findbin() {
	local d
	for d in usr/sbin usr/bin sbin bin; do [ -f "$SYS/$d/$1" ] && { echo "$SYS/$d/$1"; return; }; done
	die "no binary $1 in the packages"
}
findlib() {
	local d
	for d in lib/$ARCH_LIB usr/lib/$ARCH_LIB; do [ -e "$SYS/$d/$1" ] && { echo "$SYS/$d/$1"; return; }; done
	die "no library $1 in the packages (needed by $2): add its package to PKGS_LIBS"
}
addlibs() {  # copy the DT_NEEDED closure of ELF $1
	local l
	for l in $(readelf -d "$1" 2>/dev/null | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
		[ -e "$L/$l" ] && continue
		cp -L "$(findlib "$l" "${1##*/}")" "$L/$l"
		addlibs "$L/$l"
	done
}
for b in $BINS; do cp -L "$(findbin "$b")" "$ST/usr/sbin/$b"; addlibs "$ST/usr/sbin/$b"; done
for l in $LIBS; do
	[ -e "$L/$l" ] || cp -L "$(findlib "$l" image)" "$L/$l"
	addlibs "$L/$l"
done
cp -L "$(findlib ld-linux-x86-64.so.2 libc)" "$L/"
ln -s ../lib/$ARCH_LIB/ld-linux-x86-64.so.2 "$ST/usr/lib64/ld-linux-x86-64.so.2"
# iptables: the nft and legacy multi-binaries, Debian's default (nft) names,
# and the extensions (loaded by path from /usr/lib/x86_64-linux-gnu/xtables)
mkdir -p "$L/xtables"
cp -L "$SYS/usr/lib/$ARCH_LIB/xtables/"*.so "$L/xtables/"
for x in "$L/xtables/"*.so; do addlibs "$x"; done
for fam in iptables ip6tables; do
	for s in "" -save -restore; do
		ln -s xtables-nft-multi "$ST/usr/sbin/$fam$s"
		ln -s xtables-nft-multi "$ST/usr/sbin/$fam-nft$s"
		ln -s xtables-legacy-multi "$ST/usr/sbin/$fam-legacy$s"
	done
done
for k in modprobe insmod rmmod lsmod modinfo depmod; do ln -s kmod "$ST/usr/sbin/$k"; done
mv "$ST/usr/sbin/busybox" "$ST/usr/bin/busybox"
mv "$ST/usr/sbin/dash" "$ST/usr/bin/dash"; ln -s dash "$ST/usr/bin/sh"
mv "$ST/usr/sbin/bash" "$ST/usr/bin/bash"
# busybox applets for every other name. busybox's own sh prefers its applets
# to $PATH ("ip" would be busybox ip: no netns, no XDP), so /bin/sh is dash.
for a in $("$ST/usr/bin/busybox" --list-full); do
	n=${a##*/}
	[ -e "$ST/usr/bin/$n" ] || [ -e "$ST/usr/sbin/$n" ] || [ -L "$ST/usr/sbin/$n" ] && continue
	case $a in sbin/* | usr/sbin/*) ln -s ../bin/busybox "$ST/usr/sbin/$n" ;; *) ln -s busybox "$ST/usr/bin/$n" ;; esac
done
cp "$SYS/etc/protocols" "$SYS/etc/services" "$ST/etc/"   # ipset parses "tcp:80" via getprotobyname()
cp "$SYS/etc/ethertypes" "$ST/etc/" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$ST/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ST/etc/group"
echo 'hosts: files' > "$ST/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$ST/etc/hosts"
: > "$ST/etc/fstab"
echo 'options dummy numdummies=0' > "$ST/etc/modprobe.d/xlb.conf"   # no stray dummy0
step "userland"

# 4. kernel modules: dependency + softdep closure in load order (kmod on the
# host resolves libcrc32c -> crc32c_generic), then depmod for the guest's
# modprobe (request_module() autoload of the lazy ones)
MD="$ST/usr/lib/modules/$KV"; mkdir -p "$MD"; : > "$ST/etc/modules.load"
for m in $MODS $LAZY_MODS; do
	lazy=0; case " $(echo $LAZY_MODS) " in *" $m "*) lazy=1 ;; esac
	deps=$(modprobe -C /dev/null -d "$SYS" -S "$KV" --show-depends "$m" 2>&1) || die "module $m: $deps"
	while read -r cmd path _; do
		[ "$cmd" = insmod ] || continue
		rel=${path#"$SYS/lib/modules/$KV/"}
		[ -e "$MD/$rel" ] && continue
		mkdir -p "$MD/$(dirname "$rel")"; cp "$path" "$MD/$rel"
		[ $lazy = 1 ] || basename "$rel" .ko >> "$ST/etc/modules.load"
	done <<< "$deps"
done
cp "$SYS/lib/modules/$KV/modules.builtin" "$SYS/lib/modules/$KV/modules.builtin.modinfo" "$SYS/lib/modules/$KV/modules.order" "$MD/"
depmod -b "$ST/usr" "$KV"
step "modules ($(wc -l < "$ST/etc/modules.load") preloaded, $(find "$MD" -name '*.ko' | wc -l) shipped)"

# 5. /init, pack
cp "$HERE/init" "$ST/init"; chmod 755 "$ST/init"
(cd "$ST" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -6 -n > "$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
{
	echo "kernel $KPKG ($KV)"
	for d in "$OUT"/debs/*.deb; do dpkg-deb -f "$d" Package Version | sed 's/^[^:]*: //' | paste -sd' '; done | sort
	echo "initramfs $(stat -c %s "$OUT/initramfs.cpio.gz") bytes gz, $(du -sb "$ST" | cut -f1) bytes unpacked"
	echo "modules preloaded: $(paste -sd' ' "$ST/etc/modules.load")"
} > "$OUT/manifest.txt"
step "initramfs $(( $(stat -c %s "$OUT/initramfs.cpio.gz") / 1024 )) KB"
