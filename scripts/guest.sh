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

# the kernel: what Debian 12's linux-image-amd64 depends on, from apt
if [ ! -s "$G/vmlinuz" ]; then
	pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
	[ -n "$pkg" ] || {
		echo "guest: no kernel package behind linux-image-amd64" >&2
		exit 1
	}
	rm -rf "$G/deb" "$G/k"
	mkdir -p "$G/deb"
	(cd "$G/deb" && apt-get download "$pkg" >/dev/null 2>&1) || {
		echo "guest: apt-get download $pkg failed" >&2
		exit 1
	}
	dpkg-deb -x "$G"/deb/*.deb "$G/k"
	rm -rf "$G/deb"
	cp "$G"/k/boot/vmlinuz-* "$G/vmlinuz.new" && mv "$G/vmlinuz.new" "$G/vmlinuz"
fi
kmod=$(ls -d "$G"/k/lib/modules/* | head -n 1)
kver=${kmod##*/}
# the package leaves modules.dep to its postinst
[ -s "$kmod/modules.dep" ] || /bin/busybox depmod -b "$G/k" "$kver"

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
mods="unix_diag netlink_diag inet_diag tcp_diag udp_diag af_packet_diag crc32c_generic nf_tables virtio_pci virtio_blk"
for m in $mods; do
	grep -E "(^|/)$m\.ko:" "$kmod/modules.dep" | tr -d ':' | tr ' ' '\n'
done | sort -u | while read -r ko; do
	[ -n "$ko" ] || continue
	mkdir -p "$root/lib/modules/$kver/$(dirname "$ko")"
	cp "$kmod/$ko" "$root/lib/modules/$kver/$ko"
done
cp "$kmod/modules.dep" "$root/lib/modules/$kver/"

pki=$top/build/pki
"$top/test/pki/make-keys.sh" "$pki" >/dev/null
cp "$pki/cert.pem" "$pki/key.pem" "$root/pki/"
echo "p4g3-s3cr3t-$RANDOM$RANDOM" >"$root/pki/secret"

(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$G/initrd.gz.new"
mv "$G/initrd.gz.new" "$G/initrd.gz"
