#!/bin/bash
# Install every Debian package that building, testing and demoing xlb needs.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

PKGS=(
	# build
	make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev
	libmnl-dev libipset-dev
	libyaml-dev libjansson-dev libcap-dev libmicrohttpd-dev libseccomp-dev
	libcurl4-openssl-dev
	libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
	# tests
	libcmocka-dev libclang-rt-14-dev
	# lab and demo
	iproute2 ethtool iptables nftables procps python3 util-linux openssl
	# API tests: a standard gRPC client generated from the repo's proto
	protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
	# VM tests (IPVS, Debian's 6.1 kernel) under qemu
	qemu-system-x86 kmod cpio xz-utils binutils
	# the container image (make image, make image-test) and the check of
	# deploy/ against the API schema
	mmdebstrap umoci podman runc python3-kubernetes python3-yaml
	# benchmarks: the plot
	gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
