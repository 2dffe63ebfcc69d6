# Post-copy restore of an encrypted checkpoint (criu restore --lazy-pages
# with criu lazy-pages on the same machine): the restore leaves the pages
# to the daemon, which authenticates and decrypts each before it puts it in
# place through userfaultfd; the restored process checks all its pages.
# A page changed in the image makes the daemon fail on it, and then kill
# the restored task rather than let it run on with zeros where its memory
# should be (the task's pidfd comes with its userfaultfd); a daemon with
# another key refuses the checkpoint and nothing runs.
# Then post-copy migration, the daemon reading the pages over the network
# (through test/e2e/ps-tap.py proxy, which records what the server sends, and
# can change a byte of it): from criu page-server --lazy-pages, which has
# no key (the criu built without encryption), and from the dump itself
# (dump --lazy-pages, which serves the pages from memory).  No secret
# crosses the network (a plain control shows that it would), and a page
# changed on the source or on the way is refused and kills the task.  And
# a keyless page server refuses what a hostile daemon (ps-tap.py ask) asks
# for: too many pages, pages past the end, a symbolic link or a FIFO for a
# page image, an id of no page image, a task's pages by address.
. "$(dirname "$0")/lib.sh"
e2e_setup lazy
keeper=$(e2e_cc page-keeper) || exit 1
# page-keepers that run (not zombies: a restored one is reaped by a slow PID 1)
keepers() { ps -eo stat=,comm= | awk '$1 !~ /^Z/ && $2 == "page-keeper"' | wc -l; }

# dump_keeper DIR: an encrypted checkpoint of a new page-keeper in DIR
# (sets $pid and $secret; further arguments go to criu dump)
start_keeper() {
	secret="s3cr3t-lazy-$RANDOM$RANDOM"
	echo "$secret" >"$tmp/secret"
	: >"$tmp/log"
	pid=$(start_in_pidns "$keeper" "$tmp/secret" "$tmp/log" "$tmp/result")
	wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
}
dump_keeper() {
	start_keeper
	mkdir -p "$1"
	criu_t dump -t "$pid" -D "$1" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem" "${@:2}"
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
# 4. what is refused, in one line, the process running on: a dump to
# criu-image-streamer, which would get the images plain
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
refused_dump stream "does not work with --stream.*" --stream
kill -9 "$pid"

# Post-copy migration over the network: the restoring side's daemon reads
# the pages through ps-tap.py proxy on port $tap from a server on port $sport.
sport=27320
tap=27321
# start_tap RECORD [FLIP]: the proxy, listening when it returns
start_tap() {
	python3 "$E2E_TOP/test/e2e/ps-tap.py" proxy $tap $sport "$@" &
	track_pid $!
	wait_for "ss -ltnH 'sport = :$tap' | grep -q ." 10
}
# remote_restore DIR [KEY]: the daemon (with KEY) through the proxy, then the restore
remote_restore() {
	criu_t lazy-pages -D "$1" -o lazy.log -v4 --page-server --address 127.0.0.1 --port $tap \
		${2:+--tls-key "$2"} --daemon --pidfile "$1/lazy.pid" &&
		track_pid "$(cat "$1/lazy.pid")" &&
		criu_t restore -D "$1" -d -o restore.log -v4 ${2:+--tls-key "$2"} --lazy-pages \
			--pidfile "$1/restored.pid"
}
# check_keeper_ok WHAT DIR: the restored keeper of DIR finds every page right
check_keeper_ok() {
	local rpid
	rpid=$(cat "$2/restored.pid")
	track_pid "$rpid"
	check "$1: ... the daemon ends well" sh -c "$(declare -f wait_for daemon_done); daemon_done '$2' && ! grep -q Error '$2/lazy.log'"
	rm -f "$tmp/result"
	kill -USR1 "$rpid"
	wait_for "test -s '$tmp/result'" 20
	check "$1: ... the restored process finds every page and its secret right ($(cat "$tmp/result" 2>/dev/null))" \
		grep -qx ok "$tmp/result"
	kill -9 "$rpid"
}
# check_killed WHAT DIR PATTERN BEFORE: the daemon refused a page (PATTERN) and killed the task
check_killed() {
	local rpid=""
	[ -s "$2/restored.pid" ] && rpid=$(cat "$2/restored.pid") && track_pid "$rpid"
	daemon_done "$2"
	check "$1: the daemon refuses it ($(grep -m1 -oE "$3" "$2/lazy.log"))" grep -qE "$3" "$2/lazy.log"
	[ -n "$rpid" ] && wait_for "! kill -0 $rpid 2>/dev/null" 10
	check "$1: ... and kills the restored task ($(grep -m1 -o 'Killed task [0-9]*: .*' "$2/lazy.log"))" \
		grep -q "Killed task 1: its memory can't be restored" "$2/lazy.log"
	check "$1: ... which runs no more ($4 keepers before, $(keepers) after)" test "$(keepers)" = "$4"
}
# no_secret_sent WHAT RECORD: the server sent the pages, and not the secret
no_secret_sent() {
	local n
	n=$(stat -c %s "$2" 2>/dev/null || echo 0)
	check "$1: ... $n bytes went over the network, 16 MiB of pages among them" test "$n" -ge $((16 << 20))
	check "$1: ... and the secret is not among them" not grep -qaF "$secret" "$2"
}

# 5. criu page-server --lazy-pages on the source serves the pages of an
# encrypted checkpoint as they are stored: it has no key (the criu built
# without encryption), and the daemon asks for pages by their place in the
# page image.  The target's copy of the page image has a changed lazy
# page: the restore is right all the same, so the pages came over the
# network.  Then a changed page on the source is refused.
noenc=$(e2e_noenc_criu) || not_ok "lazy: the criu built without encryption builds (see $E2E_TOP/build/criu-noenc.log)"
# remote_lazy SRC DIR [FLIP]: the keyless page server of SRC, the proxy, the restore of DIR
remote_lazy() {
	timeout -k 5 60 "$noenc" page-server --lazy-pages -D "$1" --port $sport --daemon --pidfile "$1/ps.pid" \
		-o ps.log -v4 && track_pid "$(cat "$1/ps.pid")" && start_tap "$2.tap" ${3:-} &&
		remote_restore "$2" "$pki/key.pem"
}
# copy_src SRC DIR: DIR and DIR.src fresh copies of the checkpoint SRC
copy_src() {
	rm -rf "$2" "$2.src"
	cp -a "$1" "$2" && cp -a "$1" "$2.src" && rm -f "$2"/*.pid "$2"/*.log "$2.src"/*.pid "$2.src"/*.log
}
d=$tmp/remote
if [ -n "$noenc" ] && dump_keeper "$d"; then
	pg=$(cd "$d" && ls pages-*.img | head -n 1)
	cp -a "$d" "$d.src"
	flip_byte "$d/$pg" $((4096 * 2000 + 5))
	if remote_lazy "$d.src" "$d"; then
		ok "lazy: remote: restored with the pages of criu page-server --lazy-pages, which has no key"
		check "lazy: remote: ... which serves them as they are stored ($(grep -m1 -o 'An encrypted checkpoint: .*' "$d.src/ps.log"))" \
			grep -q 'An encrypted checkpoint: its pages are served as they are stored' "$d.src/ps.log"
		check_keeper_ok "lazy: remote" "$d"
		check "lazy: remote: ... the daemon put $(copied "$d") bytes in place" test "$(copied "$d")" -ge $((16 << 20))
		no_secret_sent "lazy: remote" "$d.tap"
	else
		not_ok "lazy: remote: restored with the pages of criu page-server --lazy-pages, which has no key"
		show_log_errors "$d/restore.log"
		show_log_errors "$d/lazy.log"
		show_log_errors "$d.src/ps.log"
	fi
	# the source's page image changed instead
	d2=$tmp/remote2
	copy_src "$d.src" "$d2"
	flip_byte "$d2.src/$pg" $((4096 * 2000 + 5))
	before=$(keepers)
	remote_lazy "$d2.src" "$d2"
	check_killed "lazy: remote: a page changed on the source" "$d2" "$pg: page 2000 fails authentication" "$before"
	# the first answer's header changed on the way (its page index)
	copy_src "$d.src" "$d2"
	before=$(keepers)
	remote_lazy "$d2.src" "$d2" 8
	check_killed "lazy: remote: an answer for another page than asked for" "$d2" \
		"the page server sent .* not what was asked for" "$before"
else
	not_ok "lazy: remote: an encrypted checkpoint"
fi

# 5b. what a hostile daemon asks of a page server that serves an encrypted
# checkpoint (no key) is refused in one line, nothing sent, no crash
s=$tmp/remote.src
ln -s /etc/shadow "$s/pages-7.img"
mkfifo "$s/pages-8.img"
# refused_quietly LOG PATTERN GOT: the error in the log, nothing sent, the session ended (no crash)
refused_quietly() { grep -qE "$2" "$1" && [ "$3" = 0 ] && grep -q 'Session over' "$1"; }
hostile() { # WHAT PATTERN CMD NR_PAGES VADDR DST_ID
	local log="$s/hostile-$3-$4-$6.log" got
	rm -f "$s/hps.pid"
	timeout -k 5 60 "$noenc" page-server --lazy-pages -D "$s" --port $sport --daemon --pidfile "$s/hps.pid" \
		-o "$log" -v4 && track_pid "$(cat "$s/hps.pid")"
	got=$(timeout 30 python3 "$E2E_TOP/test/e2e/ps-tap.py" ask $sport "$3" "$4" "$5" "$6")
	wait_for "! kill -0 $(cat "$s/hps.pid") 2>/dev/null" 10
	check "lazy: a page server with no key refuses $1 ($(grep -m1 -oE "$2" "$log"); ${got:-no} bytes sent; $(grep -c 'Session over' "$log") session over)" \
		refused_quietly "$log" "$2" "$got"
}
if [ -d "$s" ] && [ -n "$noenc" ]; then
	hostile "4097 pages at once" "pages-1.img: a request for 4097 pages refused" 9 4097 0 1
	hostile "pages past the end of the image" "pages-1.img: pages 1000000-1000000 asked for, it has [0-9]+" 9 1 1000000 1
	hostile "a page image that is a symbolic link" "pages-7.img: can't open it: Too many levels of symbolic links" 9 1 0 7
	hostile "a page image that is a FIFO" "pages-8.img: not a regular file" 9 1 0 8
	hostile "a page image of no u32 id" "pages-4294967297.img: no page image has such an id" 9 1 0 0x100000001
	hostile "the pages of a task by address (PS_IOV_GET: it reads no pagemap)" "No pages of task 1 here" 7 1 0x1000 1
else
	not_ok "lazy: a page server with no key: the checkpoint of test 5"
fi

# 6. dump --lazy-pages: the dump serves the pages from memory to the
# daemon, which asks for them by address; they go sealed, their tags after
# them.  A plain control first: there the secret crosses the network.
# lazy_dump DIR [ARGS...]: dump --lazy-pages in the background ($dump_pid), serving when it returns
lazy_dump() {
	mkdir -p "$1"
	criu_t dump -t "$pid" -D "$1" -o dump.log -v4 --lazy-pages --port $sport "${@:2}" &
	dump_pid=$!
	wait_for "grep -q 'Starting lazy pages server' '$1/dump.log' 2>/dev/null" 30
}
d=$tmp/mig-plain
start_keeper
if lazy_dump "$d" && start_tap "$d.tap" && remote_restore "$d"; then
	wait "$dump_pid"
	check_keeper_ok "lazy: dump --lazy-pages, plain (the control)" "$d"
	check "lazy: dump --lazy-pages, plain: ... the secret went over the network" grep -qaF "$secret" "$d.tap"
else
	not_ok "lazy: dump --lazy-pages, plain (the control): restored"
	show_log_errors "$d/dump.log"
	show_log_errors "$d/lazy.log"
fi
d=$tmp/mig
start_keeper
if lazy_dump "$d" --encrypt --tls-cert "$pki/cert.pem" && start_tap "$d.tap" && remote_restore "$d" "$pki/key.pem"; then
	ok "lazy: dump --lazy-pages --encrypt: restored, the pages from the dump's memory"
	check "lazy: dump --lazy-pages --encrypt: ... the dump ends well" wait "$dump_pid"
	check_keeper_ok "lazy: dump --lazy-pages --encrypt" "$d"
	check "lazy: dump --lazy-pages --encrypt: ... the daemon put $(copied "$d") bytes in place" \
		test "$(copied "$d")" -ge $((16 << 20))
	no_secret_sent "lazy: dump --lazy-pages --encrypt" "$d.tap"
	# its lazy pages are in no file: restored again without the dump, refused
	rm -f "$d/restored.pid"
	check_refused "lazy: dump --lazy-pages --encrypt: restored again, not lazily" "$d" "$pki/key.pem" \
		"pages at [0-9a-f]* are in no image \(a dump --lazy-pages served them\)" keepers
else
	not_ok "lazy: dump --lazy-pages --encrypt: restored, the pages from the dump's memory"
	show_log_errors "$d/dump.log"
	show_log_errors "$d/lazy.log"
	show_log_errors "$d/restore.log"
fi
# a byte of the first page changed on the way (after the answer's header):
# refused, the task killed; the dump fails and the process runs on
d=$tmp/mig-flip
start_keeper
before=$(keepers)
if lazy_dump "$d" --encrypt --tls-cert "$pki/cert.pem" && start_tap "$d.tap" 100; then
	remote_restore "$d" "$pki/key.pem"
	check_killed "lazy: dump --lazy-pages --encrypt: a page changed on the way" "$d" \
		"lazy-pages-1: the page at 0x[0-9a-f]* fails authentication" "$before"
	check "lazy: dump --lazy-pages --encrypt: a page changed on the way: ... the dump fails" not wait "$dump_pid"
	t=$(last_tick)
	wait_for "[ \"\$(last_tick)\" -gt $((t + 1)) ]" 10
	check "lazy: ... and the process runs on (tick $t, then $(last_tick))" test "$(last_tick)" -gt $((t + 1))
	kill -9 "$pid"
else
	not_ok "lazy: dump --lazy-pages --encrypt: a third lazy dump"
fi
exit $T_FAILED
