# What scripts/guest.sh and scripts/guest-zdtm.sh share (sourced, bash):
# the guest's kernel, Debian 12's, and its modules for an initramfs.

# guest_kernel DIR: DIR/vmlinuz and DIR/k (the package's files), fetched
# with apt the first time: what Debian 12's linux-image-amd64 depends on
# (a 6.1 kernel, with the soft-dirty tracking this machine's lacks); sets
# kmod (its modules' directory) and kver
guest_kernel() {
	local d=$1 pkg
	if [ ! -s "$d/vmlinuz" ] || ! ls -d "$d"/k/lib/modules/*/kernel >/dev/null 2>&1; then
		pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
		if [ -z "$pkg" ]; then
			echo "guest: no kernel package behind linux-image-amd64 (apt-get update?)" >&2
			return 1
		fi
		rm -rf "$d/deb" "$d/k"
		mkdir -p "$d/deb"
		if ! (cd "$d/deb" && DEBIAN_FRONTEND=noninteractive apt-get download "$pkg" >/dev/null 2>&1); then
			echo "guest: apt-get download $pkg failed" >&2
			return 1
		fi
		dpkg-deb -x "$d"/deb/*.deb "$d/k" && rm -rf "$d/deb" &&
			cp "$d"/k/boot/vmlinuz-* "$d/vmlinuz.new" && mv "$d/vmlinuz.new" "$d/vmlinuz" || return 1
	fi
	kmod=$(ls -d "$d"/k/lib/modules/* | head -n 1)
	kver=${kmod##*/}
	# the package leaves modules.dep to its postinst
	[ -s "$kmod/modules.dep" ] || /bin/busybox depmod -b "$d/k" "$kver"
}

# guest_modules ROOT MODULE...: the modules, with those they depend on, and
# modules.dep into the initramfs tree ROOT (after guest_kernel)
guest_modules() {
	local root=$1 m ko
	shift
	for m in "$@"; do
		grep -E "(^|/)$m\.ko:" "$kmod/modules.dep" | tr -d ':' | tr ' ' '\n'
	done | sort -u | while read -r ko; do
		[ -n "$ko" ] || continue
		mkdir -p "$root/lib/modules/$kver/$(dirname "$ko")"
		cp "$kmod/$ko" "$root/lib/modules/$kver/$ko"
	done
	cp "$kmod/modules.dep" "$root/lib/modules/$kver/"
}
