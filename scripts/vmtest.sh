#!/bin/bash
# vmtest.sh [--rebuild] [--image] [-q] [TEST...] [-- ARG...]
#
# Run guest-side test scripts in a throwaway qemu VM on Debian 12's stock
# kernel (IPVS, ipset, XDP on 6.1), one VM boot per TEST. The host has no
# IPVS and no modules, so this is where the IPVS dataplane meets a kernel.
#
#   TEST      a name (smoke -> tests/vm/smoke.sh) or a path inside the repo;
#             default: every tests/vm/*.sh except lib*.sh
#   ARG       passed to each test (no spaces or commas)
#   --rebuild fetch and build the image again from scratch
#   --image   only make sure the image is built
#   -q        do not echo the serial console (it is always in the log)
#
# The image (kernel + busybox initramfs, from Debian packages only) is built
# once by scripts/vm/mkimage.sh into $BUILD/vm/<kernel package>/, and rebuilt
# when the kernel behind linux-image-amd64 or the recipe changes. Test scripts
# and binaries are never baked in: the repository is shared read-only over 9p
# and appears in the guest as /host (the build tree as $XLB_BUILD).
#
# Exit: 0 all passed, 1 a test failed, 2 infrastructure error (no image, qemu
# error, timeout, guest died without a result), 77 qemu cannot run here.
# Serial logs: $BUILD/vm/log/<test>.log; this run's, concatenated: $BUILD/vm/last.log.
# Env: VM_TIMEOUT (s, per boot, default 600), VM_MEM (MB, 1024), VM_KPKG
# (kernel package, default: what linux-image-amd64 depends on), VM_APPEND
# (extra kernel arguments), QEMU (default qemu-system-x86_64), BUILD (build).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) BUILD=$(realpath -m --relative-to="$REPO" "$BUILD") ;; esac
case $BUILD in ../* | ..) echo "vmtest: BUILD must be inside the repository ($REPO)" >&2; exit 2 ;; esac
VMDIR=$REPO/$BUILD/vm
QEMU=${QEMU:-qemu-system-x86_64}
VM_TIMEOUT=${VM_TIMEOUT:-600}
VM_MEM=${VM_MEM:-1024}

rebuild=0 image_only=0 quiet=0 tests=() args=()
while [ $# -gt 0 ]; do
	case $1 in
	--rebuild) rebuild=1 ;;
	--image) image_only=1 ;;
	-q) quiet=1 ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--) shift; args=("$@"); break ;;
	-*) echo "vmtest: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) tests+=("$1") ;;
	esac
	shift
done
for a in "${args[@]}"; do
	case $a in *[[:space:],]*) echo "vmtest: test argument '$a' has a space or comma" >&2; exit 2 ;; esac
done

# qemu: skip (77) only when it cannot run at all
if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "vmtest: SKIP: $QEMU not found (apt-get install qemu-system-x86, or make deps)" >&2
	exit 77
fi
if ! "$QEMU" -version >/dev/null 2>&1; then
	echo "vmtest: SKIP: $QEMU does not run" >&2
	exit 77
fi
for t in apt-get dpkg-deb depmod modprobe cpio xz readelf; do
	command -v $t >/dev/null || [ -x /usr/sbin/$t ] || [ -x /sbin/$t ] ||
		{ echo "vmtest: $t missing to build the image (make deps)" >&2; exit 2; }
done
export PATH=$PATH:/usr/sbin:/sbin

# The kernel: a fixed ABI name leaves the mirror when the next one arrives, so
# resolve it through the metapackage; offline, fall back to the newest cached image.
# (apt-cache takes 0.6 s here, so the answer is kept until the lists change.)
resolve_kpkg() {
	local key cache=$VMDIR/.kpkg k
	key=$(ls -l --time-style=+%s /var/lib/apt/lists 2>/dev/null | cksum | cut -d' ' -f1)
	if [ -f "$cache" ] && read -r k kpkg < "$cache" && [ "$k" = "$key" ] && [ -n "$kpkg" ]; then
		echo "$kpkg"; return
	fi
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$kpkg" ] && mkdir -p "$VMDIR" && echo "$key $kpkg" > "$cache"
	echo "$kpkg"
}
KPKG=${VM_KPKG:-$(resolve_kpkg)}
if [ -z "$KPKG" ]; then
	KPKG=$(ls -dt "$VMDIR"/linux-image-*/vmlinux 2>/dev/null | head -1 | xargs -r dirname | xargs -r basename)
	[ -n "$KPKG" ] || { echo "vmtest: cannot resolve linux-image-amd64 (apt-get update?) and no cached image" >&2; exit 2; }
	echo "vmtest: linux-image-amd64 not resolvable; using the cached $KPKG" >&2
fi
IMG=$VMDIR/$KPKG
recipe=$(cat "$REPO/scripts/vm/mkimage.sh" "$REPO/scripts/vm/init" | sha256sum | cut -c1-16)

mkdir -p "$VMDIR/log"
exec 9>"$VMDIR/.lock"
flock 9   # one image build at a time; runs share the finished image
if [ $rebuild = 1 ] || [ "$(cat "$IMG/.recipe" 2>/dev/null)" != "$recipe" ] ||
	[ ! -f "$IMG/vmlinux" ] || [ ! -f "$IMG/initramfs.cpio.gz" ]; then
	[ $rebuild = 1 ] && rm -rf "$IMG"
	rm -f "$IMG/.recipe"
	echo "vmtest: building the VM image for $KPKG in ${IMG#"$REPO"/}"
	s=$(date +%s%N)
	bash "$REPO/scripts/vm/mkimage.sh" "$IMG" "$KPKG" || { echo "vmtest: image build failed" >&2; exit 2; }
	echo "$recipe" > "$IMG/.recipe"
	echo "vmtest: image built in $(( ($(date +%s%N) - s) / 1000000 )) ms"
fi
flock -u 9
[ $image_only = 1 ] && exit 0

# Small BPF objects the VM tests use as controls (tests/vm/bpf/*.bpf.c), built
# here so that the image never holds test payloads. Without clang they are
# simply absent and the tests say so.
mkdir -p "$VMDIR/obj"
for src in "$REPO"/tests/vm/bpf/*.bpf.c; do
	[ -f "$src" ] || continue
	obj=$VMDIR/obj/$(basename "$src" .c).o
	[ "$obj" -nt "$src" ] && continue
	command -v "${CLANG:-clang}" >/dev/null || { echo "vmtest: no clang, ${src#"$REPO"/} not built" >&2; continue; }
	"${CLANG:-clang}" -O2 -g -target bpf -Wall -Werror -I/usr/include/$(uname -m)-linux-gnu \
		-c "$src" -o "$obj.tmp" && mv "$obj.tmp" "$obj" ||
		{ rm -f "$obj.tmp"; echo "vmtest: building ${src#"$REPO"/} failed" >&2; exit 2; }
done

if [ ${#tests[@]} -eq 0 ]; then
	for f in "$REPO"/tests/vm/*.sh; do
		case ${f##*/} in lib*) continue ;; esac
		tests+=("${f#"$REPO"/}")
	done
fi

# one boot: run_one NAME REL_SCRIPT -> 0 pass, 1 fail, 2 infrastructure
run_one() {
	local name=$1 rel=$2 log=$VMDIR/log/$1.log q m rc s ms
	local append="console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests no_timer_check"
	append+=" 8250.nr_uarts=1 random.trust_cpu=on vmtest.run=/host/$rel vmtest.build=$BUILD"
	[ ${#args[@]} -gt 0 ] && append+=" vmtest.args=$(IFS=,; echo "${args[*]}")"
	append+=" ${VM_APPEND:-}"
	s=$(date +%s%N)
	{
		timeout -k 5 "$VM_TIMEOUT" "$QEMU" -accel tcg -cpu max -smp 1 -m "$VM_MEM" \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot \
			-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
			-virtfs local,path="$REPO",mount_tag=host0,security_model=none,id=host0,readonly=on \
			-kernel "$IMG/vmlinux" -initrd "$IMG/initramfs.cpio.gz" -append "$append" \
			</dev/null 2>&1
		echo "VMTEST-QEMU-EXIT $?"
	} | tr -d '\r' | if [ $quiet = 1 ]; then cat > "$log"; else tee "$log"; fi
	ms=$(( ($(date +%s%N) - s) / 1000000 ))
	q=$(sed -n 's/^VMTEST-QEMU-EXIT //p' "$log")
	m=$(sed -n 's/^VMTEST-RESULT rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
	{ echo "=== $name ($rel) $(date -Is) qemu exit $q, ${ms} ms"; cat "$log"; } >> "$VMDIR/last.log"
	case $q in
	124 | 137) echo "vmtest: $name: TIMEOUT after ${VM_TIMEOUT}s (log ${log#"$REPO"/})" >&2; return 2 ;;
	0) echo "vmtest: $name: guest stopped without a result (panic or plain poweroff; log ${log#"$REPO"/})" >&2; return 2 ;;
	esac
	if [ $((q & 1)) = 0 ] || [ -z "$m" ]; then
		# qemu's own start-up errors exit 1 as well: the marker decides
		echo "vmtest: $name: qemu error (exit $q, no result marker; log ${log#"$REPO"/})" >&2; return 2
	fi
	rc=$((q >> 1))
	if [ "$rc" != $((m & 255)) ]; then
		echo "vmtest: $name: exit code says rc=$rc but the console says rc=$m (log ${log#"$REPO"/})" >&2; return 2
	fi
	if [ "$rc" = 0 ]; then
		echo "vmtest: $name: PASS ($ms ms)"; return 0
	fi
	echo "vmtest: $name: FAIL rc=$m ($ms ms, log ${log#"$REPO"/})"; return 1
}

: > "$VMDIR/last.log"
worst=0 summary=()
for t in "${tests[@]}"; do
	if [ -f "$REPO/tests/vm/$t.sh" ]; then
		rel=tests/vm/$t.sh
	elif [ -f "$t" ] && r=$(realpath --relative-to="$REPO" "$t") && [ "${r#../}" = "$r" ]; then
		rel=$r
	else
		echo "vmtest: no test $t (tests/vm/$t.sh, or a file inside the repository)" >&2
		worst=2; summary+=("$t: not found"); continue
	fi
	name=$(basename "$rel" .sh)
	run_one "$name" "$rel"; r=$?
	case $r in 0) summary+=("$name: PASS") ;; 1) summary+=("$name: FAIL") ;; *) summary+=("$name: ERROR") ;; esac
	[ $r -gt $worst ] && worst=$r
done
[ ${#summary[@]} -gt 1 ] && printf 'vmtest: %s\n' "${summary[@]}"
exit $worst
