# Faults in the middle of an encrypted dump and of a restore, on a real
# process (fault-keeper.c):
#  1. 'criu dump --encrypt' into a small tmpfs that fills up, once in each
#     kind of image (page image, protobuf image, raw images: a ghost file's
#     contents and a pipe's data, pagetags.img and manifest.img at the end,
#     at sizes found from a dump that fits), and a write that fails
#     part-way (RLIMIT_FSIZE): the dump fails with one line naming the
#     image, the process runs on by itself, unharmed, and what was written
#     never restores, also once there is room again;
#  2. a checkpoint of a tree whose last task's last page fails
#     authentication: the restore fails naming the image and the page,
#     leaves no task behind and no image changed, and the same checkpoint
#     with the byte put back restores.
. "$(dirname "$0")/lib.sh"
e2e_setup faults
keeper=$(e2e_cc fault-keeper) || exit 1
mnt="$tmp/mnt"
logs="$tmp/logs"
mkdir -p "$mnt" "$logs"
trap 'mountpoint -q "$mnt" && { umount "$mnt" || umount -l "$mnt"; }; e2e_cleanup; rm -rf "$tmp"' EXIT

# The workload NAME: its secret file (the marker of its processes in their
# command lines), log and result file are $tmp/NAME.*; sets $pid.
start() { # name, fault-keeper options
	w=$1
	shift
	echo "fault-$w-$RANDOM$RANDOM$RANDOM" >"$tmp/$w.secret"
	: >"$tmp/$w.log"
	pid=$(start_in_pidns "$keeper" "$tmp/$w.secret" "$tmp/$w.log" "$tmp/$w.result" "$@")
	wait_for '[ "$(last_tick "$tmp/$w.log")" -ge 2 ] 2>/dev/null' 20
}
# The processes of workload $w and of a criu restore of DIR (whose forked
# tasks carry criu's command line until their memory is restored); the
# patterns in a file, so that grep does not count itself
count() { # dir
	printf '%s\n' "$tmp/$w.secret" "$1" >"$tmp/patterns"
	grep -laF -f "$tmp/patterns" /proc/[0-9]*/cmdline 2>/dev/null | wc -l
}
errors() { # log: its error lines (but for one every run of criu here logs), without the prefix
	grep -E '^\([0-9. ]+\)( +[0-9]+:)? Error \(' "$1" | grep -v RLIMIT_NOFILE | sed -E 's/^[^E]*Error \([^)]*\): //'
}
first_error() { errors "$1" | head -n 1; }

# The workload $w (pid $pid) asked to check itself: "ok" or what is wrong
self_check() {
	rm -f "$tmp/$w.result"
	kill -USR1 "$pid" 2>/dev/null || return 1
	wait_for "test -s '$tmp/$w.result'" 20
	grep -qx ok "$tmp/$w.result"
}

# After a failed dump: the process counts on by itself, untraced, and
# finds its secret, memory, file and pipe intact
runs_unharmed() { # name
	local t0 t1 tracer
	t0=$(last_tick "$tmp/$w.log")
	wait_for '[ "$(last_tick "$tmp/$w.log")" -gt $((t0 + 2)) ]' 10
	t1=$(last_tick "$tmp/$w.log")
	tracer=$(awk '/^TracerPid:/ { print $2 }' /proc/$pid/status 2>/dev/null)
	check "$1: the process counts on by itself (tick $t0, then $t1; tracer ${tracer:-none})" \
		test "$t1" -gt $((t0 + 2)) -a "$tracer" = 0
	self_check
	check "$1: ... and finds itself intact ($(cat "$tmp/$w.result" 2>/dev/null))" \
		test "$(cat "$tmp/$w.result" 2>/dev/null)" = ok -a -z "$(grep -v intact "$tmp/$w.log")"
}

# The first error of a log is not said again (one failure, one line)
said_once() { # name, line, log
	local n
	n=$(errors "$3" | grep -cxF "$2")
	check "$1: ... said once (${n}x)" test "$n" = 1
}

# Restoring what a failed dump left in DIR fails, and leaves no process
restore_fails() { # name, dir, log
	local before after line
	before=$(count "$2")
	rm -f "$tmp/rpid"
	if criu_t restore -D "$2" -d -o "$3" -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/rpid"; then
		track_pid "$(cat "$tmp/rpid")"
		not_ok "$1: it restored"
		kill -9 "$(cat "$tmp/rpid")"
		return
	fi
	line=$(first_error "$3")
	after=$(count "$2")
	check "$1: refused ($line)" test -n "$line"
	check "$1: ... and no process of it is left ($before before, $after after)" \
		test "$after" = "$before" -a ! -e "$tmp/rpid"
}

# Dump $pid into a tmpfs of SIZE; it must fail with an error naming the
# image of pattern WANT first; then the process runs unharmed and the
# directory does not restore, full and then with room
fault_dump() { # name, size, pattern of the first error
	local name="faults: $1" log="$logs/$1" line
	mount -t tmpfs -o "size=$2" none "$mnt" || {
		not_ok "$name: a tmpfs of $2"
		return
	}
	if criu_t dump -t "$pid" -D "$mnt" -o "$log-dump.log" -v4 --encrypt --tls-cert "$pki/cert.pem" \
		--ghost-limit 64M; then
		not_ok "$name: dump into a tmpfs of $2 fails (it succeeded)"
		umount "$mnt"
		return
	fi
	line=$(first_error "$log-dump.log")
	check "$name: dump into a tmpfs of $2 fails: $line" grep -qE "$3" <<<"$line" ||
		show_log_errors "$log-dump.log"
	said_once "$name" "$line" "$log-dump.log"
	runs_unharmed "$name"
	check "$name: ... no cipher.img or manifest.img is left ($(df -k --output=used "$mnt" | tail -n 1 | tr -d ' ') KiB used)" \
		test ! -e "$mnt/cipher.img" -a ! -e "$mnt/manifest.img"
	restore_fails "$name: restore of the tmpfs full" "$mnt" "$log-restore.log"
	mount -o remount,size=64M "$mnt"
	restore_fails "$name: restore with room in the tmpfs" "$mnt" "$log-restore2.log"
	umount "$mnt"
}
nospc="No space left on device"

# 1. faults at dump
# (a) a page image: 16 MiB of memory, 8 MiB of room
start pages pages 16
fault_dump "a page image" 8M "^crypt: pages-1\.img: .*$nospc"
kill -9 "$pid"

# (c) raw images: a deleted file of 4 MiB and 2 MiB of room; a full 1 MiB
# pipe (its image is written at the end) and 512 KiB of room
start ghost ghost 4 "$tmp"
fault_dump "a ghost file's image" 2M "^crypt: ghost-file-[0-9]+\.img: .*$nospc"
kill -9 "$pid"
start pipe pipe
fault_dump "the pipe data image" 512k "^crypt: pipes-data\.img: .*$nospc"
kill -9 "$pid"

# (b) a protobuf image: one page of room, taken by cipher.img
start small
fault_dump "a protobuf image" 4k \
	"^crypt: (fdinfo|files|core|mm|ids|fs|pagemap|pstree|inventory|seccomp|timens)-?[0-9]*\.img: .*$nospc"

# (d) the images written last: the room a whole dump of this process takes
# (which restores), less a few pages; the sizes at which pagetags.img and
# manifest.img run out are searched (with --leave-running, in case the
# dump succeeds)
mount -t tmpfs -o size=64M none "$mnt"
if criu_t dump -t "$pid" -D "$mnt" -o "$logs/whole-dump.log" -v4 --encrypt --tls-cert "$pki/cert.pem" \
	--leave-running; then
	used=$(df -k --output=used "$mnt" | tail -n 1 | tr -d ' ')
	ok "faults: a whole dump of the process takes $used KiB of a tmpfs"
	check_restored "faults: ... and restores (a check that the failures are the faults')" \
		"$mnt" "$pki/key.pem" "$tmp/$w.result"
else
	not_ok "faults: a whole dump of the process"
	show_log_errors "$logs/whole-dump.log"
	used=200
fi
umount "$mnt"
tags_size="" manifest_size=""
for k in 2 3 4 5 6; do
	mount -t tmpfs -o size=$((used - 4 * k))k none "$mnt"
	criu_t dump -t "$pid" -D "$mnt" -o "$logs/search-dump.log" -v4 --encrypt --tls-cert "$pki/cert.pem" \
		--leave-running
	case $(first_error "$logs/search-dump.log") in
	*"pagetags.img: "*) tags_size=${tags_size:-$((used - 4 * k))k} ;;
	*"manifest.img: "*) manifest_size=${manifest_size:-$((used - 4 * k))k} ;;
	esac
	umount "$mnt"
done
if [ -n "$manifest_size" ]; then
	fault_dump "manifest.img" "$manifest_size" "^crypt: manifest\.img: .*$nospc"
else
	not_ok "faults: a tmpfs size at which manifest.img runs out of room is found"
fi
if [ -n "$tags_size" ]; then
	fault_dump "pagetags.img" "$tags_size" "^crypt: pagetags\.img: .*$nospc"
else
	not_ok "faults: a tmpfs size at which pagetags.img runs out of room is found"
fi
kill -9 "$pid"

# (e) a write that fails part-way: criu may not write files bigger than
# 1 MiB (RLIMIT_FSIZE; SIGXFSZ ignored, so that the write fails instead),
# and the page image of a process with 4 MiB of memory hits it
start fsize pages 4
mkdir -p "$tmp/fsize"
if (trap '' XFSZ && prlimit --fsize=1048576 timeout -k 5 "$CRIU_TIMEOUT" "$CRIU" dump -t "$pid" \
	-D "$tmp/fsize" -o "$logs/fsize-dump.log" -v4 --encrypt --tls-cert "$pki/cert.pem"); then
	not_ok "faults: a dump whose page image can't grow past 1 MiB fails (it succeeded)"
else
	line=$(first_error "$logs/fsize-dump.log")
	check "faults: a dump whose page image can't grow past 1 MiB fails: $line" \
		grep -qE "^crypt: pages-1\.img: .*File too large" <<<"$line"
	said_once "faults: RLIMIT_FSIZE" "$line" "$logs/fsize-dump.log"
	runs_unharmed "faults: RLIMIT_FSIZE"
	check "faults: RLIMIT_FSIZE: ... no cipher.img or manifest.img is left ($(du -k "$tmp/fsize/pages-1.img" | cut -f1) KiB of pages-1.img)" \
		test ! -e "$tmp/fsize/cipher.img" -a ! -e "$tmp/fsize/manifest.img"
	restore_fails "faults: RLIMIT_FSIZE: restore" "$tmp/fsize" "$logs/fsize-restore.log"
fi
kill -9 "$pid"

# 2. a fault at restore: the last page of the last task's page image of a
# tree fails authentication
start tree pages 1 fork
mkdir -p "$tmp/tree"
if ! criu_t dump -t "$pid" -D "$tmp/tree" -o "$logs/tree-dump.log" -v4 --encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "faults: dump of a tree"
	show_log_errors "$logs/tree-dump.log"
	exit 1
fi
wait_for '[ "$(count "$tmp/tree")" = 0 ]' 10
img=$(cd "$tmp/tree" && ls pages-*.img | sort -t- -k2n | tail -n 1)
last=$(($(stat -c %s "$tmp/tree/$img") / 4096 - 1))
ntasks=$(crit_t x "$tmp/tree" ps --tls-key "$pki/key.pem" 2>/dev/null | grep -c fault-keeper)
check "faults: dump of a tree of $ntasks tasks; the last page image is $img, of $((last + 1)) pages" \
	test "$ntasks" = 2 -a "$last" -gt 0
sums() { (cd "$tmp/tree" && ls -A | xargs sha256sum); }
pristine=$(sums)
flip_byte "$tmp/tree/$img" $((last * 4096 + 123))
flipped=$(sums)
before=$(count "$tmp/tree")
if criu_t restore -D "$tmp/tree" -d -o "$logs/tree-restore.log" -v4 --tls-key "$pki/key.pem" \
	--pidfile "$tmp/rpid"; then
	track_pid "$(cat "$tmp/rpid")"
	not_ok "faults: restore of a tree whose last page is flipped fails (it succeeded)"
	kill -9 "$(cat "$tmp/rpid")"
else
	line=$(first_error "$logs/tree-restore.log")
	check "faults: restore of a tree whose last page is flipped fails: $line" \
		grep -qE "^crypt: $img: page $last fails authentication" <<<"$line" ||
		show_log_errors "$logs/tree-restore.log"
	# the other errors are the summary ("2 exited", "Restoring FAILED") only
	others=$(errors "$logs/tree-restore.log" | tail -n +2 | grep -vE '^[0-9]+ exited, status=1$|^Restoring FAILED\.$')
	check "faults: ... in that one line (other errors:${others:+ $(paste -sd'|' <<<"$others")})" test -z "$others"
	sleep 0.5
	after=$(count "$tmp/tree")
	check "faults: ... no task of the tree is left ($before before, $after after)" \
		test "$after" = "$before" -a ! -e "$tmp/rpid"
fi
check "faults: ... and no file of the checkpoint changed or was added (sha256)" test "$(sums)" = "$flipped"
flip_byte "$tmp/tree/$img" $((last * 4096 + 123))
check "faults: the byte put back, the checkpoint is as dumped (sha256)" test "$(sums)" = "$pristine"
if criu_t restore -D "$tmp/tree" -d -o "$logs/tree-restore2.log" -v4 --tls-key "$pki/key.pem" \
	--pidfile "$tmp/rpid"; then
	pid=$(cat "$tmp/rpid")
	track_pid "$pid"
	wait_for '[ "$(count "$tmp/tree")" = 2 ]' 10
	check "faults: ... and then restores, the whole tree ($(count "$tmp/tree") processes)" \
		test "$(count "$tmp/tree")" = 2
	runs_unharmed "faults: the restored tree"
	kill -9 "$pid"
else
	not_ok "faults: ... and then restores"
	show_log_errors "$logs/tree-restore2.log"
fi
exit $T_FAILED
