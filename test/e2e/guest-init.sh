#!/bin/sh
# /init of the guest that test/e2e/t-predump.sh boots (busybox sh): a kernel
# with soft-dirty tracking, where criu pre-dump works.  Workload:
# test/e2e/page-keeper.c.  It makes encrypted pre-dump chains of depth 1, 2
# and 3 (N pre-dumps, each on top of the one before, then the dump on top of
# the last), each level bound to its parent, and restores each; the chain of
# depth 2 dumps with --auto-dedup, and a page flipped in its first pre-dump
# is refused.  Then the parent links of the chain of depth 3 are swapped: for
# an older level of the same chain, for a level of another process's chain,
# for nothing, for a loop, and its parent for a plain pre-dump; each restore
# is refused with one error, leaves no process, and the chain, put back,
# restores as before.  A chain of the same through page servers (which
# have no key) restores too, and is checked the same way.  One "GUEST ok -"
# or "GUEST not ok -" line a
# result.  The images and logs go out as a tar on /dev/vda for the host's
# own checks (with CRIT); then the guest powers off.
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
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# checkx NAME EXPRESSION: one result from a shell expression (eval'ed)
checkx() {
	if eval "$2"; then ok "$1"; else not_ok "$1"; fi
}
criu_t() { timeout 300 criu "$@"; }
# the last tick a workload logged (its log: /tmp/NAME.log)
last_tick() { tail -n 1 "/tmp/$1.log" 2>/dev/null | cut -d' ' -f2 | tr -d :; }
wait_for() { # COMMAND SECONDS
	local i=0
	while [ $i -lt $(($2 * 10)) ]; do
		eval "$1" && return 0
		usleep 100000
		i=$((i + 1))
	done
	return 1
}
# wait until the workload NAME has counted N more ticks
wait_ticks() { # NAME N
	local t0
	t0=$(last_tick "$1")
	wait_for '[ "$(last_tick '"$1"')" -ge $((t0 + $2)) ] 2>/dev/null' 60
}
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
finish() {
	mkdir -p /tmp/out
	cp -a /tmp/img /tmp/out/ 2>/dev/null
	cp /tmp/*.log /tmp/out/ 2>/dev/null
	(cd /tmp && tar -cf /dev/vda out) || echo "GUEST: can't write /dev/vda"
	echo "GUEST done"
	sync
	poweroff -f
}

K="--tls-cert /pki/cert.pem --tls-key /pki/key.pem"
secret=$(cat /pki/secret)
cd /tmp

# start_keeper NAME: a page-keeper, PID 1 of a pid namespace of its own,
# logging to /tmp/NAME.log; its pid in $kpid ("" if it did not start)
start_keeper() {
	local up
	: >"/tmp/$1.log"
	# it removes the file of its secret once read
	echo "$secret" >"/tmp/$1.secret"
	unshare -p -f setsid page-keeper "/tmp/$1.secret" "/tmp/$1.log" "/tmp/$1.result" </dev/null >"/tmp/$1.out" 2>&1 &
	up=$!
	kpid=
	if wait_for '[ "$(last_tick '"$1"')" -ge 3 ] 2>/dev/null' 60; then
		kpid=$(cut -d' ' -f1 "/proc/$up/task/$up/children" 2>/dev/null)
		[ "$(cat "/proc/$kpid/comm" 2>/dev/null)" = page-keeper ] || kpid=
	fi
	if [ -z "$kpid" ]; then
		not_ok "the workload $1 runs"
		echo "GUEST: its log: $(tail -n 1 "/tmp/$1.log"); its output: $(cat "/tmp/$1.out")"
	fi
	echo "GUEST: workload $1: pid $kpid"
}

# bound DIR WHAT: the log of the WHAT (pre-dump, dump) into DIR says that
# it bound the checkpoint to its parent
bound() { grep -q "bound to its parent" "$1/$2.log"; }

# chain NAME DEPTH DUMP-ARGS...: the workload NAME, pre-dumped DEPTH times
# into /tmp/img/NAME/1..DEPTH, each level on top of the one before, then
# dumped on top of the last into /tmp/img/NAME/DEPTH+1
chain() {
	local name=$1 depth=$2 d l what rc p p1 sizes small args
	shift 2
	d=/tmp/img/$name
	start_keeper "$name"
	[ -n "$kpid" ] || return 1
	l=1
	while [ $l -le $((depth + 1)) ]; do
		mkdir -p "$d/$l"
		what=pre-dump
		[ $l -gt "$depth" ] && what=dump
		if [ $l = 1 ]; then
			criu_t pre-dump -t "$kpid" -D "$d/1" -o pre-dump.log -v4 --track-mem --encrypt $K
			rc=$?
			checkx "depth $depth, level 1: pre-dump --encrypt --track-mem (every page), bound to no parent" \
				'[ $rc = 0 -a -s "$d/1/cipher.img" -a ! -e "$d/1/parent" ] && ! bound "$d/1" pre-dump'
		else
			if [ $what = dump ]; then
				blocks1=$(stat -c %b "$d/1/pages-1.img")
				criu_t dump -t "$kpid" -D "$d/$l" --prev-images-dir ../$((l - 1)) --track-mem "$@" \
					-o dump.log -v4 --encrypt $K
			else
				criu_t pre-dump -t "$kpid" -D "$d/$l" --prev-images-dir ../$((l - 1)) --track-mem \
					-o pre-dump.log -v4 --encrypt $K
			fi
			rc=$?
			args="--prev-images-dir ../$((l - 1)) --track-mem"
			[ $what = dump ] && args="$args${*:+ $*}"
			checkx "depth $depth, level $l: $what --encrypt $args: \"bound to its parent\"" \
				'[ $rc = 0 -a -s "$d/$l/cipher.img" -a -L "$d/$l/parent" ] && bound "$d/$l" $what'
		fi
		[ $what = dump ] || wait_ticks "$name" 3
		l=$((l + 1))
	done
	if ! wait_for '! kill -0 '"$kpid"' 2>/dev/null' 10; then
		not_ok "depth $depth: the dumped workload is gone"
		kill -9 "$kpid"
		return 1
	fi
	# the tick it was dumped at, from which a restored one counts on
	last_tick "$name" >"/tmp/$name.dumped"
	# only what changed is in the later levels: 64 hot pages of 4096
	p1=$(size "$d/1/pages-1.img")
	sizes=
	small=0
	l=2
	while [ $l -le $((depth + 1)) ]; do
		p=$(size "$d/$l/pages-1.img")
		sizes="$sizes $p"
		[ "$p" -lt $((p1 / 8)) ] || small=1
		l=$((l + 1))
	done
	check "depth $depth: the later levels' pages-1.img hold only the dirty pages (bytes:$sizes; the first: $p1)" \
		[ "$p1" -gt $((4096 * 4096)) -a $small = 0 ]
}

# restored NAME DIR WHAT: restore DIR, let the workload NAME count on,
# and have it check every page and the secret; it is killed after
# (each restore of a checkpoint counts on from the tick it was dumped at,
# in the lines it appends to the log)
restored() {
	local name=$1 dumped n0 next rpid
	rm -f /tmp/rpid
	dumped=$(cat "/tmp/$name.dumped")
	n0=$(wc -l <"/tmp/$name.log")
	criu_t restore -D "$2" -d -o restore.log -v4 $K --pidfile /tmp/rpid
	check "$3: restore" [ $? = 0 -a -s /tmp/rpid ]
	rpid=$(cat /tmp/rpid 2>/dev/null)
	[ -n "$rpid" ] || return 1
	wait_for '[ $(wc -l <"/tmp/'"$name"'.log") -ge $((n0 + 2)) ]' 60
	rm -f "/tmp/$name.result"
	kill -USR1 "$rpid"
	wait_for '[ -s /tmp/'"$name"'.result ]' 60
	next=$(sed -n "$((n0 + 1))s/^tick \([0-9]*\):.*/\1/p" "/tmp/$name.log")
	check "$3: the restored workload counts on from tick $dumped, the dump's (ticks ${next:-none}..$(last_tick "$name")), and finds every page and the secret ($(cat "/tmp/$name.result" 2>/dev/null))" \
		[ "$next" = $((dumped + 1)) -a "$(last_tick "$name")" -ge $((dumped + 2)) -a "$(cat "/tmp/$name.result" 2>/dev/null)" = ok ]
	kill -9 "$rpid"
	wait_for '! kill -0 '"$rpid"' 2>/dev/null' 10
}

# refused WHAT DIR PATTERN NAMES...: restoring DIR fails with one error
# (the log of the restore holds no other), of crypt, matching PATTERN and
# naming every one of NAMES, and leaves no process; the log is kept as
# /tmp/refused-N.log
nr_refused=0
refused() {
	local what=$1 dir=$2 pattern=$3 line named n errors
	shift 3
	rm -f /tmp/rpid
	if criu_t restore -D "$dir" -d -o restore.log -v4 $K --pidfile /tmp/rpid; then
		not_ok "$what: restored"
		kill -9 "$(cat /tmp/rpid)"
		return
	fi
	nr_refused=$((nr_refused + 1))
	cp "$dir/restore.log" "/tmp/refused-$nr_refused.log"
	errors=$(grep -c 'Error' "$dir/restore.log")
	line=$(grep 'Error.*crypt: ' "$dir/restore.log" | sed 's/.*crypt: //')
	named=1
	for n in "$@"; do
		case $line in *"$n"*) ;; *) named=0 ;; esac
	done
	checkx "$what: refused ($line)" \
		'[ -n "$line" -a $errors = 1 -a $named = 1 ] && echo "$line" | grep -qE "$pattern"'
	check "... and no process is left" [ -z "$(pidof page-keeper)" -a -z "$(pidof criu)" -a ! -e /tmp/rpid ]
}

# flip FILE OFFSET: invert every bit of the byte at OFFSET of FILE
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# refused_in_task WHAT DIR PATTERN: restoring DIR fails in a restored task
# (after criu forked it) with an error matching PATTERN, and leaves no process
refused_in_task() {
	local err
	if criu_t restore -D "$2" -d -o restore.log -v4 $K --pidfile "$2/rpid"; then
		not_ok "$1: restored"
		kill -9 "$(cat "$2/rpid")"
		return
	fi
	err=$(grep -m1 -oE "$3" "$2/restore.log")
	check "$1: refused ($err)" [ -n "$err" ]
	check "... and no restored process is left" [ -z "$(pidof page-keeper)" ]
}

# the images of a checkpoint directory (not the logs and statistics criu
# writes at each run), their checksums and links
sums() {
	(cd "$1" && find . \( -name '*.log' -o -name 'stats-*' \) -prune -o -type f -print | sort | xargs md5sum &&
		find . -type l | sort | while read -r f; do echo "$f -> $(readlink "$f")"; done)
}

# another process's checkpoints: a plain pre-dump, and an encrypted chain
mkdir -p /tmp/img/b/plain /tmp/img/b/1 /tmp/img/b/2
start_keeper b
if [ -n "$kpid" ]; then
	criu_t pre-dump -t "$kpid" -D /tmp/img/b/plain -o pre-dump.log -v4
	check "another workload: a plain pre-dump" [ $? = 0 -a ! -e /tmp/img/b/plain/cipher.img ]
	criu_t pre-dump -t "$kpid" -D /tmp/img/b/1 -o pre-dump.log -v4 --encrypt $K
	r1=$?
	wait_ticks b 3
	criu_t pre-dump -t "$kpid" -D /tmp/img/b/2 --prev-images-dir ../1 --track-mem -o pre-dump.log -v4 --encrypt $K
	r2=$?
	checkx "another workload: an encrypted chain of two pre-dumps, the second bound to the first" \
		'[ $r1 = 0 -a $r2 = 0 ] && bound /tmp/img/b/2 pre-dump'
	kill -9 "$kpid"
	wait_for '! kill -0 '"$kpid"' 2>/dev/null' 10
fi

chain d1 1 && restored d1 /tmp/img/d1/2 "depth 1"

if chain d2 2 --auto-dedup; then
	blocks1_after=$(stat -c %b /tmp/img/d2/1/pages-1.img)
	check "depth 2: --auto-dedup punched the pages the dump holds anew out of the first pre-dump ($blocks1 blocks, now $blocks1_after)" \
		[ "$blocks1_after" -lt "$blocks1" ]
	cp -a /tmp/img/d2 /tmp/bad
	restored d2 /tmp/img/d2/3 "depth 2"
	# a byte of a clean page, which only the first pre-dump holds
	flip /tmp/bad/1/pages-1.img $(($(size /tmp/bad/1/pages-1.img) / 2 + 100))
	refused_in_task "depth 2: a byte flipped in the first pre-dump's pages-1.img" /tmp/bad/3 \
		'pages-1.img: page [0-9]* fails authentication'
	rm -rf /tmp/bad
fi

D=/tmp/img/d3
if chain d3 3 && restored d3 $D/4 "depth 3"; then
	sums $D >/tmp/sums.before
	ln -sfn ../2 $D/4/parent
	refused "(a) the dump's parent link pointed at an older level of its chain (4/parent -> ../2)" $D/4 \
		'is not the checkpoint .* was dumped against' $D/4 $D/2
	ln -sfn ../1 $D/4/parent
	refused "(a) ... at the first level (4/parent -> ../1)" $D/4 \
		'is not the checkpoint .* was dumped against' $D/4 $D/1
	ln -sfn ../3 $D/4/parent
	ln -sfn ../1 $D/3/parent
	refused "(a) a link in the middle of the chain pointed at an older level (3/parent -> ../1)" $D/4 \
		'is not the checkpoint .* was dumped against' $D/3 $D/1
	ln -sfn ../2 $D/3/parent
	ln -sfn ../../b/2 $D/4/parent
	refused "(b) the dump's parent link pointed at a level of another process's chain (-> b/2)" $D/4 \
		'is not the checkpoint .* was dumped against' $D/4 /tmp/img/b/2
	rm $D/4/parent
	refused "(c) the parent link removed from the dump, which recorded a parent" $D/4 \
		'dumped against a parent, but .* has no parent link' $D/4
	ln -s ../3 $D/4/parent
	mv $D/3 $D/3.real && mv /tmp/img/b/plain $D/3
	refused "(d) the parent directory 3 replaced by a plain pre-dump" $D/4 \
		'the parent of the encrypted checkpoint .* is a plain one' $D/4 $D/3
	mv $D/3 /tmp/img/b/plain && mv $D/3.real $D/3
	ln -sfn ../4 $D/3/parent
	refused "(e) a loop of parent links (3/parent -> ../4)" $D/4 'a loop of parent links' $D/4
	ln -sfn ../2 $D/3/parent
	sums $D >/tmp/sums.after
	check "the refused restores changed no image of the chain ($(wc -l </tmp/sums.after) files and links, same checksums)" \
		cmp -s /tmp/sums.before /tmp/sums.after
	restored d3 $D/4 "depth 3, after the refusals"
fi
# A chain through a page server, as a live migration runs: pre-dump,
# pre-dump and dump --auto-dedup of the workload "ps", each level's pages to
# a page server of its own (its directory /tmp/img/ps/L, linked to the level
# before with --prev-images-dir; --auto-dedup on the last), the dump's own
# files in /tmp/img/src/L.  The page servers have no key.  Then each page
# server directory, with its level's files copied in, is a chain that
# restores; a changed pagemap of the first level's page server, and a
# level linked to an older one, are refused.
PORT=27001
pslevel() { # LEVEL WHAT ARGS...: one level: its page server, then the (pre-)dump
	local l=$1 what=$2 pargs=
	shift 2
	mkdir -p "/tmp/img/ps/$l" "/tmp/img/src/$l"
	[ "$l" -gt 1 ] && pargs="--prev-images-dir ../$((l - 1))"
	[ "$what" = dump ] && pargs="$pargs --auto-dedup"
	rm -f /tmp/ps.pid
	criu_t page-server -D "/tmp/img/ps/$l" --port $PORT --daemon --pidfile /tmp/ps.pid -o ps.log -v4 $pargs ||
		return 1
	criu_t "$what" -t "$kpid" -D "/tmp/img/src/$l" -o "$what.log" -v4 --encrypt $K --track-mem \
		--page-server --address 127.0.0.1 --port $PORT "$@" || return 1
	wait_for '! kill -0 $(cat /tmp/ps.pid) 2>/dev/null' 60 && grep -q 'Session over' "/tmp/img/ps/$l/ps.log" &&
		! grep -q Error "/tmp/img/ps/$l/ps.log"
}
start_keeper ps
if [ -n "$kpid" ]; then
	pslevel 1 pre-dump
	checkx "page server: level 1: pre-dump --encrypt --page-server, to a page server without a key" \
		'[ $? = 0 -a -s /tmp/img/src/1/cipher.img ] && ls /tmp/img/ps/1/pages-*.img >/dev/null && [ ! -e /tmp/img/ps/1/cipher.img ]'
	wait_ticks ps 3
	pslevel 2 pre-dump --prev-images-dir ../1
	checkx "page server: level 2: pre-dump on top of it, bound to its parent" '[ $? = 0 ] && bound /tmp/img/src/2 pre-dump'
	wait_ticks ps 3
	psb1=$(stat -c %b /tmp/img/ps/1/pages-65537.img)
	pslevel 3 dump --prev-images-dir ../2
	checkx "page server: level 3: dump on top of it, bound to its parent, the page server with --auto-dedup" \
		'[ $? = 0 ] && bound /tmp/img/src/3 dump'
	wait_for '! kill -0 '"$kpid"' 2>/dev/null' 10
	last_tick ps >/tmp/ps.dumped
	psb1_after=$(stat -c %b /tmp/img/ps/1/pages-65537.img)
	p1=$(size /tmp/img/ps/1/pages-65537.img)
	p2=$(size /tmp/img/ps/2/pages-65537.img)
	check "page server: the second level holds only the dirty pages ($p2 bytes; the first $p1)" \
		[ "$p1" -gt $((4096 * 4096)) -a "$p2" -lt $((p1 / 8)) ]
	check "page server: its --auto-dedup punched the pages the dump holds anew out of the first level ($psb1 blocks, now $psb1_after)" \
		[ "$psb1_after" -lt "$psb1" ]
	for l in 1 2 3; do
		cp -a /tmp/img/src/$l/. /tmp/img/ps/$l/
	done
	cp -a /tmp/img/ps /tmp/psbad
	restored ps /tmp/img/ps/3 "page server: the page servers' directories with the dumps' files"
	flip /tmp/psbad/1/pagemap-1.img 40
	refused_in_task "page server: a byte of the first level's pagemap-1.img (the page server's) changed" /tmp/psbad/3 \
		'pagemap-1.img: not what the dump sent the page server'
	cp /tmp/img/ps/1/pagemap-1.img /tmp/psbad/1/pagemap-1.img
	ln -sfn ../1 /tmp/psbad/3/parent
	refused "page server: the dump's level linked to the first (3/parent -> ../1)" /tmp/psbad/3 \
		'is not the checkpoint .* was dumped against' /tmp/psbad/3 /tmp/psbad/1
	rm -rf /tmp/psbad
fi

# has_secret FILE: the secret is in FILE (busybox grep stops a line at a NUL)
has_secret() { tr '\0' '\n' <"$1" | grep -qF "$secret"; }
leak=0
for f in $(find /tmp/img -path /tmp/img/b/plain -prune -o -type f -print); do
	has_secret "$f" && leak=1 && echo "GUEST: the secret in $f"
done
plain=0
for f in /tmp/img/b/plain/pages-*.img; do
	has_secret "$f" && plain=1
done
checkx "no file of the encrypted checkpoints holds the secret in the clear (the plain pre-dump does)" \
	'[ $leak = 0 -a $plain = 1 ]'
finish
