#!/bin/bash
# Make build/guest: a Debian 6.1 kernel (this machine's kernel has no
# soft-dirty tracking, so criu pre-dump can't run on it) and an initramfs
# with busybox, the criu under test and its libraries, the diag and virtio
# modules, the test keys, and INIT as /init.  test/e2e/t-predump.sh boots it
# with qemu (software emulation).
#
# usage: scripts/guest.sh INIT PROGRAM... (PROGRAMs go to /usr/bin)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
G=$top/build/guest
init=$1
shift
export DEBIAN_FRONTEND=noninteractive

. "$top/scripts/guest-lib.sh"
guest_kernel "$G" || exit 1

root=$G/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,pki,etc,lib/modules/"$kver"}

for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
cp /bin/busybox "$root/bin/"
cp "$top/build/criu/criu/criu" "$root/usr/sbin/criu"
cp "$@" "$root/usr/bin/"
cp "$init" "$root/init"
chmod 755 "$root/init"

# the shared libraries of what runs there, at their own paths
for f in "$root/usr/sbin/criu" "$@"; do
	ldd "$f" | grep -oE '/[^ ]+'
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

# the modules criu's socket collection and the output disk need, with theirs
guest_modules "$root" unix_diag netlink_diag inet_diag tcp_diag udp_diag af_packet_diag crc32c_generic nf_tables \
	virtio_pci virtio_blk

pki=$top/build/pki
"$top/test/pki/make-keys.sh" "$pki" >/dev/null
cp "$pki/cert.pem" "$pki/key.pem" "$root/pki/"
echo "p4g3-s3cr3t-$RANDOM$RANDOM" >"$root/pki/secret"

(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$G/initrd.gz.new"
mv "$G/initrd.gz.new" "$G/initrd.gz"
