#!/bin/bash
# Install every Debian package the build, the demo and the tests need.
# Idempotent: when everything is installed it only runs dpkg-query.
set -eu

PKGS="
gcc make pkg-config git xz-utils ca-certificates procps iproute2 util-linux
libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
libnl-3-dev libnl-route-3-dev libnet1-dev libcap-dev libbsd-dev
libgnutls28-dev nettle-dev libgmp-dev libnftables-dev libbpf-dev libaio-dev
uuid-dev libdrm-dev libsodium-dev
python3 python3-protobuf python3-yaml python3-cryptography python3-junit.xml
python3-cryptography-vectors
strace binutils clang libclang-rt-14-dev
iptables nftables gnutls-bin
asciidoc-base xmlto
qemu-system-x86 busybox-static
"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
