#!/bin/sh
# /init of the guest that test/e2e/t-predump.sh boots (busybox sh): a kernel
# with soft-dirty tracking, where criu pre-dump works.  It runs an
# iterative, encrypted checkpoint of test/e2e/page-keeper.c (two pre-dumps
# and a dump with --auto-dedup, each linked to the one before), restores it, checks that a
# page flipped in the first pre-dump is refused, and prints one "GUEST ok -"
# or "GUEST not ok -" line a result.  The images and logs go out as a tar on
# /dev/vda for the host's own checks; then the guest powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm
ip link set lo up
for m in unix_diag netlink_diag inet_diag tcp_diag udp_diag af_packet_diag crc32c_generic nf_tables virtio_pci virtio_blk; do
	modprobe "$m" || echo "GUEST: no module $m"
done

ok() { echo "GUEST ok - $*"; }
not_ok() { echo "GUEST not ok - $*"; }
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
criu_t() { timeout 300 criu "$@"; }
last_tick() { tail -n 1 /tmp/log | cut -d' ' -f2 | tr -d :; }
wait_for() { # COMMAND SECONDS
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		eval "$1" && return 0
		usleep 100000
		i=$((i + 1))
	done
	return 1
}
finish() {
	mkdir -p /tmp/out
	cp -a /tmp/img /tmp/out/ 2>/dev/null
	cp /tmp/log /tmp/out/ 2>/dev/null
	(cd /tmp && tar -cf /dev/vda out) || echo "GUEST: can't write /dev/vda"
	echo "GUEST done"
	sync
	poweroff -f
}

K="--tls-cert /pki/cert.pem --tls-key /pki/key.pem"
secret=$(cat /pki/secret)
echo "$secret" >/tmp/secret
: >/tmp/log
cd /tmp
unshare -p -f setsid page-keeper /tmp/secret /tmp/log /tmp/result </dev/null >/dev/null 2>&1 &
wait_for '[ "$(last_tick)" -ge 3 ] 2>/dev/null' 60 || not_ok "the workload runs"
pid=$(pidof page-keeper)
echo "GUEST: workload pid $pid"

# two pre-dumps, each after the workload dirtied some pages, then the dump
mkdir -p /tmp/img/1 /tmp/img/2 /tmp/img/3
criu_t pre-dump -t "$pid" -D /tmp/img/1 -o pre-dump.log -v4 --encrypt $K
check "pre-dump --encrypt (the first, of every page)" [ $? = 0 -a -s /tmp/img/1/cipher.img ]
t=$(last_tick)
wait_for '[ "$(last_tick)" -ge $((t + 3)) ]' 60
criu_t pre-dump -t "$pid" -D /tmp/img/2 --prev-images-dir ../1 --track-mem -o pre-dump.log -v4 --encrypt $K
check "pre-dump --encrypt on top of it (--prev-images-dir ../1)" [ $? = 0 -a -L /tmp/img/2/parent ]
t=$(last_tick)
wait_for '[ "$(last_tick)" -ge $((t + 3)) ]' 60
blocks1=$(stat -c %b /tmp/img/1/pages-1.img)
criu_t dump -t "$pid" -D /tmp/img/3 --prev-images-dir ../2 --track-mem --auto-dedup -o dump.log -v4 --encrypt $K
check "dump --encrypt --auto-dedup at the end of the chain" [ $? = 0 -a -L /tmp/img/3/parent ]
blocks1_after=$(stat -c %b /tmp/img/1/pages-1.img)
check "--auto-dedup punched the pages the dump holds anew out of the first pre-dump ($blocks1 blocks, now $blocks1_after)" \
	[ "$blocks1_after" -lt "$blocks1" ]
if ! wait_for '! kill -0 '"$pid"' 2>/dev/null' 10; then
	not_ok "the dumped workload is gone"
	finish
fi

# only what changed is in the later images: 64 hot pages of 4096
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
p1=$(size /tmp/img/1/pages-1.img)
p3=$(size /tmp/img/3/pages-1.img)
check "the dump's pages-1.img holds only the dirty pages ($p3 bytes against $p1 in the first pre-dump)" \
	[ "$p1" -gt $((4096 * 4096)) -a "$p3" -lt $((p1 / 8)) ]
leak=0
for f in /tmp/img/*/*; do
	grep -qF "$secret" "$f" && leak=1 && echo "GUEST: the secret in $f"
done
check "no image of the chain holds the secret in the clear" [ $leak = 0 ]

cp -a /tmp/img /tmp/bad
before=$(last_tick)
criu_t restore -D /tmp/img/3 -d -o restore.log -v4 $K --pidfile /tmp/rpid
check "restore of the chain" [ $? = 0 -a -s /tmp/rpid ]
rpid=$(cat /tmp/rpid 2>/dev/null)
if [ -n "$rpid" ]; then
	wait_for '[ "$(last_tick)" -ge $((before + 2)) ]' 60
	rm -f /tmp/result
	kill -USR1 "$rpid"
	wait_for '[ -s /tmp/result ]' 60
	check "the restored workload counts on from tick $before (now $(last_tick)) and finds every page and the secret ($(cat /tmp/result 2>/dev/null))" \
		[ "$(last_tick)" -ge $((before + 2)) -a "$(cat /tmp/result 2>/dev/null)" = ok ]
	kill -9 "$rpid"
	wait_for '! kill -0 '"$rpid"' 2>/dev/null' 10
fi

# a byte of a clean page, which only the first pre-dump holds
off=$(($(size /tmp/bad/1/pages-1.img) / 2 + 100))
b=$(od -An -tu1 -j "$off" -N 1 /tmp/bad/1/pages-1.img | tr -d ' ')
printf "\\$(printf '%03o' $((b ^ 255)))" | dd of=/tmp/bad/1/pages-1.img bs=1 seek="$off" conv=notrunc 2>/dev/null
if criu_t restore -D /tmp/bad/3 -d -o restore.log -v4 $K --pidfile /tmp/bad/rpid; then
	not_ok "a byte flipped in the first pre-dump's pages-1.img: restored"
	kill -9 "$(cat /tmp/bad/rpid)"
else
	err=$(grep -m1 -o 'pages-1.img: page [0-9]* fails authentication' /tmp/bad/3/restore.log)
	check "a byte flipped in the first pre-dump's pages-1.img is refused ($err)" [ -n "$err" ]
	check "... and no restored process is left" [ -z "$(pidof page-keeper)" ]
fi
finish
