# A checkpoint is bound to its parent (the "parent" link of a pre-dump
# chain): an encrypted checkpoint records a digest of the parent it was
# dumped against, and criu refuses, when it opens the checkpoint, a parent
# that is not that one, a parent link it did not record, a recorded parent
# without a link, and a plain checkpoint linked to an encrypted parent
# (its pagemap would decide where the parent's pages go).  Here on the
# host, which can't dump real chains (--prev-images-dir needs a parent
# dumped with --track-mem: soft-dirty tracking), the links are made by
# hand; test/e2e/t-predump.sh shows real chains in a qemu guest.  Also the
# restore policy: 'criu restore --encrypt' refuses a plain checkpoint.
. "$(dirname "$0")/lib.sh"
e2e_setup parent
keeper=$(e2e_cc secret-keeper) || exit 1
marker="$tmp/secret"
instances() { grep -lsF "$marker" /proc/[0-9]*/cmdline | wc -l; }
k=(--tls-key "$pki/key.pem")

echo "s3cr3t-$RANDOM$RANDOM" >"$marker"
: >"$tmp/log"
pid=$(start_in_pidns "$keeper" "$marker" "$tmp/log" fork)
track_pid "$pid"
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
running=$(instances)

# dump_ok WHAT DIR ARGS...: dump the workload into DIR, or end the test
dump_ok() {
	local what=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	criu_t dump -t "$pid" -D "$dir" -o dump.log -v4 "$@" && return 0
	not_ok "parent: $what"
	show_log_errors "$dir/dump.log"
	exit 1
}
# dump_fails WHAT DIR PATTERN ARGS...: a dump into DIR fails with an error
# matching PATTERN, and the workload runs on
dump_fails() {
	local what=$1 dir=$2 pattern=$3
	shift 3
	mkdir -p "$dir"
	if criu_t dump -t "$pid" -D "$dir" -o dump.log -v4 "$@"; then
		not_ok "parent: $what fails (it succeeded)"
		return
	fi
	check "parent: $what fails ($(grep -m1 -o "$pattern.*" "$dir/dump.log"))" grep -q "$pattern" "$dir/dump.log"
	check "parent: ... and the process runs on" test "$(instances)" = "$running"
}

dump_ok "an encrypted dump" "$tmp/a" -R --encrypt --tls-cert "$pki/cert.pem"
dump_ok "another encrypted dump" "$tmp/a2" -R --encrypt --tls-cert "$pki/cert.pem"
dump_ok "a plain dump" "$tmp/p" -R
# reading the parent's images takes its key
dump_fails "a dump that can't read its parent's key" "$tmp/nokey" "nonexistent.pem: can't read" \
	--prev-images-dir "$tmp/a" --encrypt --tls-cert "$pki/cert.pem" --tls-key "$tmp/nonexistent.pem"
# an encrypted checkpoint's parent must be encrypted too: it holds pages of the child
dump_fails "a dump --encrypt on top of a plain checkpoint" "$tmp/onplain" "/p/cipher.img: missing: the parent" \
	--prev-images-dir "$tmp/p" --encrypt --tls-cert "$pki/cert.pem" "${k[@]}"
# and a plain checkpoint can't vouch for an encrypted parent
dump_fails "a plain dump on top of an encrypted checkpoint" "$tmp/plainon" \
	"plainon: a plain checkpoint whose parent .*/a is encrypted" --prev-images-dir "$tmp/a"
dump_ok "the last, encrypted dump" "$tmp/b" --encrypt --tls-cert "$pki/cert.pem"
wait_for '[ "$(instances)" = 0 ]' 10
mkdir "$tmp/q"
cp -a "$tmp/p/." "$tmp/q/"
rm -f "$tmp"/q/*.log

# restores_on WHAT DIR [ARGS]: DIR restores (with ARGS), the workload
# counts on with its secret intact, and is killed again
restores_on() {
	local what=$1 dir=$2 before
	shift 2
	before=$(last_tick)
	rm -f "$dir/pid"
	if criu_t restore -D "$dir" -d -o restore.log -v4 "${k[@]}" --pidfile "$dir/pid" "$@"; then
		track_pid "$(cat "$dir/pid")"
		wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
		check "parent: $what restores, and counts on ($(tail -n 1 "$tmp/log"))" \
			grep -q "tick $((before + 2)): .* intact" "$tmp/log"
		kill -9 "$(cat "$dir/pid")"
		wait_for '[ "$(instances)" = 0 ]' 10
	else
		not_ok "parent: $what restores"
		show_log_errors "$dir/restore.log"
	fi
}

# variant NAME [SRC]: a copy of checkpoint SRC (default b) in $tmp/NAME
variant() {
	cp -a "$tmp/${2:-b}" "$tmp/$1"
	rm -f "$tmp/$1"/*.log
}
# refused NAME DIR PATTERN: criu restore and crit x ps refuse DIR, naming PATTERN
refused() {
	local out
	check_refused "parent: $1" "$2" "$pki/key.pem" "$3" instances
	out=$(crit_t x "$2" ps "${k[@]}" 2>&1)
	check "parent: ... and by crit: $out" grep -qE "^crit: .*$3" <<<"$out"
}

variant forged
ln -s ../a "$tmp/forged/parent"
refused "an encrypted checkpoint with a parent link it does not record" "$tmp/forged" \
	"forged/cipher.img: has a parent link \([^)]*/a\) but records no parent"
variant plainchild q
ln -s ../a "$tmp/plainchild/parent"
refused "a plain checkpoint linked to an encrypted parent" "$tmp/plainchild" \
	"plainchild: a plain checkpoint whose parent [^ ]*/a is encrypted"
variant loop q
ln -s . "$tmp/loop/parent"
check_refused "parent: a plain checkpoint that is its own parent" "$tmp/loop" "$pki/key.pem" \
	"loop: a loop of parent links" instances

# A checkpoint that records a for its parent, as a dump with
# --prev-images-dir a would (all its pages are its own, so that it
# restores with a as much as without a parent)
variant bound
/usr/bin/python3 "$E2E_TOP/test/e2e/crit-bind.py" \
	"$tmp/bound" "$pki/key.pem" "$tmp/a" || not_ok "parent: crit-bind.py"
variant nolink bound
refused "a checkpoint that records a parent, without its link" "$tmp/nolink" \
	"nolink/cipher.img: dumped against a parent, but [^ ]*nolink has no parent link"
variant other bound
ln -s ../a2 "$tmp/other/parent"
refused "a checkpoint whose parent is another checkpoint of the same process" "$tmp/other" \
	"other/cipher.img: the parent [^ ]*/a2 is not the checkpoint [^ ]*other was dumped against"
variant tampered bound
mkdir "$tmp/tampered/a"
cp -a "$tmp/a/." "$tmp/tampered/a/"
ln -s a "$tmp/tampered/parent"
flip_byte "$tmp/tampered/a/manifest.img" 40
refused "a checkpoint whose parent's manifest was changed" "$tmp/tampered" \
	"manifest.img: authentication failed at chunk 0"
ln -s ../a "$tmp/bound/parent"
restores_on "a checkpoint with the parent it records" "$tmp/bound"
# each directory's keys read once, by the root criu (whose log lines carry no task pid)
loads=$(grep -F ': an encrypted checkpoint' "$tmp/bound/restore.log")
check "parent: the keys of the checkpoint and its parent are read once, by the root criu" \
	test "$(grep -c . <<<"$loads")" = 2 -a "$(grep -c '^([0-9. ]*) crypt: ' <<<"$loads")" = 2
check "parent: crit x ps reads the checkpoint with its parent" \
	grep -q secret-keeper <<<"$(crit_t x "$tmp/bound" ps "${k[@]}" 2>&1)"

# The restore policy: --encrypt on restore (or "encrypt" in a configuration
# file) accepts only encrypted checkpoints
check_refused "parent: restore --encrypt of a plain checkpoint" "$tmp/q" "$pki/key.pem" \
	"q: not an encrypted checkpoint \(no cipher.img\), and --encrypt asks for one" instances --encrypt
echo encrypt >"$tmp/policy.conf"
check_refused "parent: restore of a plain checkpoint with 'encrypt' in a configuration file" "$tmp/q" \
	"$pki/key.pem" "q: not an encrypted checkpoint" instances --config "$tmp/policy.conf"
# and the lazy-pages daemon, which reads the pages for a restore --lazy-pages
variant lazy q
before=$(instances)
(criu_t lazy-pages -D "$tmp/lazy" -o lazy-pages.log -v4 --encrypt; echo $? >"$tmp/lazy/daemon.rc") &
wait_for "test -S '$tmp/lazy/lazy-pages.socket' -o -e '$tmp/lazy/daemon.rc'" 10
if criu_t restore -D "$tmp/lazy" -d -o restore.log -v4 --lazy-pages --pidfile "$tmp/lazy/pid"; then
	track_pid "$(cat "$tmp/lazy/pid")"
	not_ok "parent: lazy-pages --encrypt serves a plain checkpoint"
else
	wait_for "test -e '$tmp/lazy/daemon.rc'" 10
	check "parent: lazy-pages --encrypt refuses a plain checkpoint ($(grep -m1 -o 'lazy: not an encrypted.*' "$tmp/lazy/lazy-pages.log"))" \
		grep -q "lazy: not an encrypted checkpoint" "$tmp/lazy/lazy-pages.log"
	check "parent: ... the restore fails, and no restored process is left" test "$(instances)" = "$before"
fi
restores_on "restore --encrypt of an encrypted checkpoint" "$tmp/b" --encrypt
exit $T_FAILED
