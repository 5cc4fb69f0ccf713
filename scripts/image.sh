#!/bin/bash
# The xlb container image, built offline from Debian packages: an OCI image
# layout holding xlbd, xlbctl, xlb-k8s and the shared libraries they load,
# nothing else (no shell, no package manager).
#
#   scripts/image.sh            (make image; IMAGE_OUT=DIR, default build/image)
#
# 1. The libraries: every shared object the three programs load (ldd), as
#    the Debian packages that ship them on this (the build) machine.
# 2. Those packages, at the versions this machine has, extracted from the
#    Debian mirror by mmdebstrap (variant extract: files only, no
#    maintainer scripts, no dependencies beyond the list), then only the
#    loaded libraries (and the loader) kept, with their symlinks.
# 3. umoci writes the OCI layout (one layer, the entrypoint, labels); its
#    size and the package list are printed.
# No registry is contacted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
OUT=${IMAGE_OUT:-$BUILD/image}
TAG=${IMAGE_TAG:-latest}
BINS=("$BUILD/xlbd:/usr/sbin/xlbd" "$BUILD/xlbctl:/usr/bin/xlbctl" "$BUILD/xlb-k8s:/usr/bin/xlb-k8s")

for t in mmdebstrap umoci ldd dpkg-query; do
	command -v "$t" >/dev/null || { echo "image: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
for b in "${BINS[@]}"; do
	[ -x "${b%%:*}" ] || { echo "image: ${b%%:*} missing: run make first" >&2; exit 1; }
done

work=$(mktemp -d /tmp/xlb-image.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# 1. Loaded libraries and their packages (name=version, as installed here).
libs=$(for b in "${BINS[@]}"; do ldd "${b%%:*}"; done |
	awk '/=> \// { print $3 } /^\t\/[^ ]* \(0x/ { print $1 }' | sort -u)
pkgs=()
for l in $libs; do
	real=$(readlink -f "$l")
	p=$(dpkg-query -S "$l" 2>/dev/null || dpkg-query -S "$real" 2>/dev/null ||
	    dpkg-query -S "${real#/usr}" 2>/dev/null || true)
	[ -n "$p" ] || { echo "image: $l belongs to no Debian package" >&2; exit 1; }
	pkgs+=("${p%%:*}")
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sed 's/,.*//' | sort -u)
pinned=()
for p in "${pkgs[@]}"; do
	pinned+=("$p=$(dpkg-query -W -f '${Version}' "$p")")
done

# 2. The packages from the mirror (the sources this machine's apt uses,
# security and point-release updates included), then only what is loaded.
# The versions built against when the mirror still has them, else its own.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && sources+=("$f")
done
extract() {
	local IFS=,
	mmdebstrap --quiet --variant=extract --include="$*" --skip=check/empty \
		--skip=cleanup/apt/cache \
		bookworm "$work/full" "${sources[@]}" >>"$work/mmdebstrap.log" 2>&1
}
if ! extract "${pinned[@]}"; then
	echo "image: the mirror has moved past some versions this machine built with; the image gets the mirror's (same ABI, a point release later)" >&2
	rm -rf "$work/full"
	extract "${pkgs[@]}" || { cat "$work/mmdebstrap.log" >&2; exit 1; }
	pinned=()
	for p in "${pkgs[@]}"; do	# the version of the .deb it used
		d=$(ls "$work/full/var/cache/apt/archives/${p}_"*.deb 2>/dev/null | head -1)
		v=${d##*/"${p}_"}
		v=${v%_*.deb}
		pinned+=("$p=${v//%3a/:}")
	done
fi
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,run/xlb,var/lib/xlb,tmp}
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
ln -s usr/bin "$rootfs/bin"
ln -s usr/sbin "$rootfs/sbin"
chmod 1777 "$rootfs/tmp"
# A path of the extracted tree, following its symlinks inside the tree;
# bookworm's packages put libraries in /lib or /usr/lib, either may be asked.
in_tree() {
	local p=$1 n=0 t c
	while :; do
		for c in "$work/full$p" "$work/full/usr$p" "$work/full${p#/usr}"; do
			[ -e "$c" ] || [ -L "$c" ] && break
		done
		[ -e "$c" ] || [ -L "$c" ] || return 1
		[ -L "$c" ] || { echo "$c"; return 0; }
		t=$(readlink "$c")
		case $t in
		/*) p=$t ;;
		*) p=$(dirname "${c#"$work/full"}")/$t ;;
		esac
		n=$((n + 1))
		[ $n -lt 16 ] || return 1
	done
}
for l in $libs; do
	src=$(in_tree "$l") || { echo "image: $l not in the extracted packages" >&2; exit 1; }
	dst="$rootfs/usr${l#/usr}"	# merged /usr: /lib is /usr/lib
	mkdir -p "$(dirname "$dst")"
	cp "$src" "$dst"
done
for b in "${BINS[@]}"; do
	install -m 0755 "${b%%:*}" "$rootfs${b##*:}"
done
strip --strip-unneeded "$rootfs/usr/sbin/xlbd" "$rootfs/usr/bin/xlbctl" "$rootfs/usr/bin/xlb-k8s"
printf 'root:x:0:0:root:/:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n' \
	>"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf '%s\n' "${pinned[@]}" >"$rootfs/etc/xlb-packages"
# Every file's time fixed: the same inputs give the same layer.
find "$rootfs" -exec touch -h -d @0 {} +

# 3. The OCI layout.
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
umoci init --layout "$OUT"
umoci new --image "$OUT:$TAG"
umoci unpack --rootless --image "$OUT:$TAG" "$work/bundle" >/dev/null
rm -rf "$work/bundle/rootfs"
cp -a "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$OUT:$TAG" "$work/bundle" >/dev/null
umoci config --image "$OUT:$TAG" --config.entrypoint /usr/sbin/xlbd \
	--config.workingdir / --author "xlb" \
	--config.label "org.opencontainers.image.title=xlb" \
	--config.label "org.opencontainers.image.description=xlbd, xlbctl and xlb-k8s" \
	--config.label "org.opencontainers.image.revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
umoci gc --layout "$OUT"

size=$(du -sb "$OUT/blobs" | cut -f1)
echo "image: $OUT:$TAG (OCI layout), $(( (size + 1048575) / 1048576 )) MiB of blobs, $(find "$rootfs" -type f | wc -l) files"
echo "image: ${#pinned[@]} Debian packages (their loaded libraries only):"
printf '  %s\n' "${pinned[@]}"
