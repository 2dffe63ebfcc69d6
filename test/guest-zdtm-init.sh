#!/bin/sh
# /init of the guest that scripts/guest-zdtm.sh boots (busybox sh): a
# kernel with soft-dirty tracking, where zdtm's iterative modes (--pre,
# --snaps, --dedup) can run, which criu pre-dump can't on this machine's
# kernel.
#
# Stage 1 (the initramfs): load the virtio, 9p and overlay modules; mount
# the host's root filesystem, shared read-only by qemu over virtio-9p (tag
# "hostroot"), under a tmpfs overlay, so that zdtm and criu write only into
# the guest's memory; mount the run directory of the host (tag "gzout",
# writable) on /.gz/out of it, and the kernel's own modules (a directory of
# the host's tree, named in /.gz/out/config) on /lib/modules/VERSION; then
# switch_root into it.
#
# Stage 2 (the host's tree, as root of the guest): proc, sys, dev, tmp...;
# the diag and network modules; then each zdtm.py run of /.gz/out/job (its
# arguments one a line, "--then" between two runs), from the test directory
# of the host's criu tree, its output to the console and to
# /.gz/out/zdtm-N.out, the logs that criu left in dump/ (those of the tests
# that failed) to /.gz/out/logs-N/.  Lines "GZ ..." tell the host where it
# is; "GZ done" at the end, then the guest powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "GZ $*"; }
die() {
	say "fatal: $*"
	sync
	/.gz/busybox poweroff -f 2>/dev/null || poweroff -f
	sleep 60
}

if [ "$1" != stage2 ]; then
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t devtmpfs dev /dev
	kver=$(uname -r)
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe "$m" || say "no module $m"
	done
	mkdir -p /mnt/lower /mnt/rw /mnt/root
	# cache=loose: the host's tree does not change under the guest (much):
	# far fewer round trips through qemu, which emulates every one of them
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /mnt/lower ||
		mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000 hostroot /mnt/lower ||
		die "can't mount the host's root (9p tag hostroot)"
	mount -t tmpfs -o mode=755 rw /mnt/rw
	mkdir -p /mnt/rw/upper /mnt/rw/work
	mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay /mnt/root ||
		die "can't mount the overlay over the host's root"
	R=/mnt/root
	mkdir -p $R/.gz/out
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 gzout $R/.gz/out ||
		die "can't mount the run directory (9p tag gzout)"
	cp /bin/busybox $R/.gz/busybox
	cp /init $R/.gz/init
	ln -s busybox $R/.gz/modprobe
	# the config: KMOD, the host's directory of the guest kernel's modules;
	# CRIU, the host's criu tree, and SNAP, a copy of it made for this run
	# (the host's zdtm runs change the tree, and a directory read over 9p
	# while it changes may miss entries): the copy, under a tmpfs overlay
	# of its own, is the criu tree of the guest
	. $R/.gz/out/config
	if [ -n "$SNAP" ]; then
		mkdir -p /mnt/rw/upper2 /mnt/rw/work2
		mount -t overlay -o "lowerdir=/mnt/lower$SNAP,upperdir=/mnt/rw/upper2,workdir=/mnt/rw/work2" overlay "$R$CRIU" ||
			die "can't mount the overlay over the copy of the criu tree"
	fi
	if [ -n "$KMOD" ] && [ -d "/mnt/lower$KMOD" ]; then
		mkdir -p "$R/lib/modules/$kver"
		mount --bind "/mnt/lower$KMOD" "$R/lib/modules/$kver"
	else
		say "no modules directory '$KMOD'"
	fi
	say "stage 1: the host's root is mounted, under a tmpfs overlay"
	exec switch_root $R /.gz/busybox sh /.gz/init stage2
	die "switch_root failed"
fi

# stage 2
B=/.gz/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
$B mkdir -p /dev/pts /dev/shm /dev/mqueue
$B mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
$B ln -sf pts/ptmx /dev/ptmx
$B mount -t tmpfs shm /dev/shm
$B mount -t mqueue mqueue /dev/mqueue
$B mount -t tmpfs -o mode=1777 tmp /tmp
$B mount -t tmpfs -o mode=755 run /run
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
$B mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
# the kernel's own module requests go to busybox's modprobe
echo /.gz/modprobe >/proc/sys/kernel/modprobe
# (not ipip, sit, ip_gre...: they put a device of theirs in every network
# namespace, which criu can't dump; the kernel loads what else a test needs)
for m in unix_diag netlink_diag inet_diag tcp_diag udp_diag raw_diag af_packet_diag \
	crc32c_generic nf_tables nf_conntrack tun veth macvlan binfmt_misc; do
	$B modprobe "$m" 2>/dev/null || say "no module $m"
done
$B ip link set lo up
$B hostname guest-zdtm
. /.gz/out/config
O=/.gz/out
# PKI_DEFAULTS=1: the test keys at criu's default places too (in the
# guest's overlay), for a criu that looks there for what zdtm doesn't pass
if [ "${PKI_DEFAULTS:-0}" = 1 ]; then
	mkdir -p /etc/pki/criu/private /etc/pki/criu/certs /etc/pki/CA
	cp "$CRIU/test/pki/key.pem" /etc/pki/criu/private/key.pem
	cp "$CRIU/test/pki/cert.pem" /etc/pki/criu/certs/cert.pem
	cp "$CRIU/test/pki/cacert.pem" /etc/pki/CA/cacert.pem
	say "the test keys are at criu's default places (PKI_DEFAULTS=1)"
fi
cd "$CRIU/test" || die "no test directory '$CRIU/test'"
say "stage 2: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, $(($(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024)) MiB; up $(cut -d" " -f1 /proc/uptime) s; in $CRIU/test${SNAP:+ (the copy $SNAP)}"

# run N ARGS...: zdtm.py run ARGS, the N-th of the job
run() {
	local n=$1 t0 rc
	shift
	say "begin $n: zdtm.py run $*"
	t0=$(date +%s)
	rm -rf dump
	# the output through a fifo, so that the exit status is zdtm's
	rm -f /tmp/zdtm.fifo
	mkfifo /tmp/zdtm.fifo
	$B tee "$O/zdtm-$n.out" </tmp/zdtm.fifo &
	PYTHONUNBUFFERED=1 ./zdtm.py run "$@" >/tmp/zdtm.fifo 2>&1 </dev/null
	rc=$?
	wait
	# (busybox's applets come before PATH here: its find, cp...)
	find dump -name '*.log' 2>/dev/null | while read -r f; do
		mkdir -p "$O/logs-$n/${f%/*}" && cp "$f" "$O/logs-$n/$f"
	done
	rm -rf dump
	say "end $n: rc $rc, $(($(date +%s) - t0)) s"
}

n=0
set --
while IFS= read -r a || [ -n "$a" ]; do
	if [ "$a" = --then ]; then
		n=$((n + 1))
		run $n "$@"
		set --
	else
		set -- "$@" "$a"
	fi
done <"$O/job"
n=$((n + 1))
run $n "$@"
sync
say done
$B umount "$O" 2>/dev/null
$B poweroff -f
