# Post-copy restore of an encrypted checkpoint (criu restore --lazy-pages
# with criu lazy-pages on the same machine): the restore leaves the pages
# to the daemon, which authenticates and decrypts each before it puts it in
# place through userfaultfd; the restored process checks all its pages.
# A page changed in the image makes the daemon fail on it, and then kill
# the restored task rather than let it run on with zeros where its memory
# should be (the task's pidfd comes with its userfaultfd); a daemon with
# another key refuses the checkpoint and nothing runs.
. "$(dirname "$0")/lib.sh"
e2e_setup lazy
keeper=$(e2e_cc page-keeper) || exit 1
# page-keepers that run (not zombies: a restored one is reaped by a slow PID 1)
keepers() { ps -eo stat=,comm= | awk '$1 !~ /^Z/ && $2 == "page-keeper"' | wc -l; }

# dump_keeper DIR: an encrypted checkpoint of a new page-keeper in DIR
dump_keeper() {
	echo "s3cr3t-lazy-$RANDOM$RANDOM" >"$tmp/secret"
	: >"$tmp/log"
	pid=$(start_in_pidns "$keeper" "$tmp/secret" "$tmp/log" "$tmp/result")
	wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
	mkdir -p "$1"
	criu_t dump -t "$pid" -D "$1" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem"
}

# lazy_restore DIR KEY: the lazy-pages daemon with KEY, then the restore
lazy_restore() {
	criu_t lazy-pages -D "$1" -o lazy.log -v4 --tls-key "$2" --daemon --pidfile "$1/lazy.pid" &&
		track_pid "$(cat "$1/lazy.pid")" &&
		criu_t restore -D "$1" -d -o restore.log -v4 --tls-key "$pki/key.pem" --lazy-pages \
			--pidfile "$1/restored.pid"
}
daemon_done() { wait_for "! kill -0 $(cat "$1/lazy.pid") 2>/dev/null" 30; }
# bytes the daemon put in place through userfaultfd
copied() { sed -n 's/.*uffd_copy: 0x[0-9a-f]*\/\([0-9]*\)$/\1/p' "$1/lazy.log" | awk '{ s += $1 } END { print s + 0 }'; }

# 1. restored lazily, all of its pages right
d=$tmp/ok
if dump_keeper "$d" && lazy_restore "$d" "$pki/key.pem"; then
	ok "lazy: an encrypted checkpoint restores with --lazy-pages"
	rpid=$(cat "$d/restored.pid")
	track_pid "$rpid"
	check "lazy: ... the daemon ends well" sh -c "$(declare -f wait_for daemon_done); daemon_done '$d' && ! grep -q Error '$d/lazy.log'"
	check "lazy: ... it put $(copied "$d") bytes in place through userfaultfd, 16 MiB of pages of the keeper among them" \
		test "$(copied "$d")" -ge $((16 << 20))
	check "lazy: ... having read them from the encrypted page image ($(grep -m1 -o 'pages-[0-9]*.img: pages sealed, [0-9]* tags' "$d/lazy.log"))" \
		grep -q 'pages sealed' "$d/lazy.log"
	rm -f "$tmp/result"
	kill -USR1 "$rpid"
	wait_for "test -s '$tmp/result'" 20
	check "lazy: ... the restored process finds every page and its secret right ($(cat "$tmp/result" 2>/dev/null))" \
		grep -qx ok "$tmp/result"
	kill -9 "$rpid"
else
	not_ok "lazy: an encrypted checkpoint restores with --lazy-pages"
	show_log_errors "$d/restore.log"
	show_log_errors "$d/lazy.log"
fi

# 2. a page changed in the image: the daemon fails on it and kills the
# task, while it is restored (the restore then fails) or after
d=$tmp/flip
if dump_keeper "$d"; then
	pg=$(cd "$d" && ls pages-*.img | head -n 1)
	flip_byte "$d/$pg" $((4096 * 2000 + 5))
	before=$(keepers)
	if lazy_restore "$d" "$pki/key.pem"; then
		rpid=$(cat "$d/restored.pid")
		track_pid "$rpid"
		how="restored, then killed"
	else
		rpid=
		how="killed while restored: $(grep -m1 -o 'Restoring FAILED' "$d/restore.log")"
	fi
	daemon_done "$d"
	check "lazy: a changed page: the daemon refuses it ($(grep -m1 -o "$pg: page [0-9]* fails authentication" "$d/lazy.log"))" \
		grep -q "$pg: page [0-9]* fails authentication" "$d/lazy.log"
	[ -n "$rpid" ] && wait_for "! kill -0 $rpid 2>/dev/null" 10
	check "lazy: a changed page: ... and kills the restored task ($(grep -m1 -o 'Killed task [0-9]*: .*' "$d/lazy.log"); $how)" \
		grep -q "Killed task 1: its memory can't be restored" "$d/lazy.log"
	check "lazy: a changed page: ... which runs no more ($before keepers before, $(keepers) after)" \
		test "$(keepers)" = "$before"
else
	not_ok "lazy: a second encrypted checkpoint"
fi

# 3. a daemon with another key: refused, and nothing runs
d=$tmp/other
if dump_keeper "$d"; then
	before=$(keepers)
	if lazy_restore "$d" "$pki/other-key.pem"; then
		track_pid "$(cat "$d/restored.pid")"
		not_ok "lazy: a daemon with another key: the restore is refused"
	else
		check "lazy: a daemon with another key refuses the checkpoint ($(grep -m1 -o 'encrypted for another key' "$d/lazy.log"))" \
			grep -q 'encrypted for another key' "$d/lazy.log"
		check "lazy: ... and no process of it runs ($before keepers before, $(keepers) after)" \
			test "$(keepers)" = "$before" -a ! -e "$d/restored.pid"
	fi
else
	not_ok "lazy: a third encrypted checkpoint"
fi
# 4. what is refused, in one line, the process running on: a dump that
# would serve its lazy pages from memory, plain; a dump to
# criu-image-streamer, which would get the images plain; a page server
# that would serve the pages of an encrypted checkpoint to a remote daemon
echo "s3cr3t-lazy-$RANDOM" >"$tmp/secret"
: >"$tmp/log"
pid=$(start_in_pidns "$keeper" "$tmp/secret" "$tmp/log" "$tmp/result")
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
refused_dump() { # NAME PATTERN ARGS...
	local name=$1 pattern=$2 t
	shift 2
	mkdir -p "$tmp/r-$name"
	if criu_t dump -t "$pid" -D "$tmp/r-$name" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem" "$@" \
		--port 27301 >"$tmp/r-$name.out" 2>&1; then
		not_ok "lazy: dump --encrypt $*: refused"
		return
	fi
	# (an error before criu opens its log goes to stderr)
	check "lazy: dump --encrypt $* is refused ($(cat "$tmp/r-$name"/dump.log "$tmp/r-$name.out" 2>/dev/null | grep -m1 -oE "$pattern"))" \
		grep -qE "$pattern" "$tmp/r-$name.out" "$tmp/r-$name"/dump.log
	t=$(last_tick)
	wait_for "[ \"\$(last_tick)\" -gt $((t + 1)) ]" 10
	check "lazy: ... and the process runs on (tick $t, then $(last_tick))" test "$(last_tick)" -gt $((t + 1))
}
refused_dump lazy "does not work with --lazy-pages at dump.*" --lazy-pages
refused_dump stream "does not work with --stream.*" --stream
kill -9 "$pid"
out=$(timeout -k 5 20 "$CRIU" page-server --lazy-pages -D "$tmp/ok" --port 27302 -o lps.log -v4 2>&1)
check "lazy: criu page-server --lazy-pages of an encrypted checkpoint is refused ($(grep -m1 -o 'serving the pages of an encrypted.*' "$tmp/ok/lps.log"))" \
	grep -q 'serving the pages of an encrypted checkpoint to a lazy-pages daemon is not supported yet' "$tmp/ok/lps.log"
exit $T_FAILED
