# An encrypted checkpoint with an encrypted parent checkpoint, as the last
# dump of a pre-dump chain has one: a "parent" link in its directory.  The
# dump reads the parent's pagemaps and a restore opens the parent's images,
# each with the parent's own key (--tls-key).  The root criu loads the
# parent's keys once, before it forks, not every task again; a tampered
# parent, or a plain one, is refused, with no process left.
#
# A dump with --prev-images-dir needs a parent dumped with --track-mem
# (for its pid-reuse check), which this kernel cannot do (no soft-dirty
# tracking); so the second checkpoint is dumped without it and linked to
# the first one here as criu links them (a symlink "parent").
. "$(dirname "$0")/lib.sh"
e2e_setup parent
keeper=$(e2e_cc secret-keeper) || exit 1
marker="$tmp/secret"
last_tick() { tail -n 1 "$tmp/log" | cut -d' ' -f2 | tr -d :; }
instances() { grep -lsF "$marker" /proc/[0-9]*/cmdline | wc -l; }

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

dump_ok "the parent's dump" "$tmp/a" -R --encrypt --tls-cert "$pki/cert.pem"
# reading the parent's images takes its key
dump_fails "a dump that can't read its parent's key" "$tmp/nokey" "nonexistent.pem: can't read" \
	--prev-images-dir "$tmp/a" --encrypt --tls-cert "$pki/cert.pem" --tls-key "$tmp/nonexistent.pem"
# an encrypted checkpoint's parent must be encrypted too: it holds pages of the child
dump_ok "a plain dump" "$tmp/p" -R
dump_fails "a dump --encrypt on top of a plain checkpoint" "$tmp/onplain" "/p/cipher.img: missing: the parent" \
	--prev-images-dir "$tmp/p" --encrypt --tls-cert "$pki/cert.pem" --tls-key "$pki/key.pem"
dump_ok "the child's dump" "$tmp/b" --encrypt --tls-cert "$pki/cert.pem"
ln -s ../a "$tmp/b/parent"
wait_for '[ "$(instances)" = 0 ]' 10

for how in flip-pagemap flip-cipher plain-parent; do
	mkdir -p "$tmp/$how"
	cp -a "$tmp/a" "$tmp/$how/a"
	cp -a "$tmp/b" "$tmp/$how/b"
done
# the parent swapped for a plain checkpoint of the same process
rm -rf "$tmp/plain-parent/a"
cp -a "$tmp/p" "$tmp/plain-parent/a"

before=$(last_tick)
if criu_t restore -D "$tmp/b" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/b/pid"; then
	track_pid "$(cat "$tmp/b/pid")"
	wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
	check "parent: the restored process counts on ($(tail -n 1 "$tmp/log"))" \
		grep -q "tick $((before + 2)): .* intact" "$tmp/log"
	kill -9 "$(cat "$tmp/b/pid")"
	wait_for '[ "$(instances)" = 0 ]' 10
else
	not_ok "parent: restore"
	show_log_errors "$tmp/b/restore.log"
fi
# each directory's keys read once, by the root criu (whose log lines carry no task pid)
loads=$(grep -F ': an encrypted checkpoint' "$tmp/b/restore.log")
check "parent: the keys of each of the two checkpoints are read once, by the root criu" \
	test "$(grep -c . <<<"$loads")" = 2 -a "$(grep -c '^([0-9. ]*) crypt: ' <<<"$loads")" = 2
echo "$loads" | sed 's/^/    # /'

flip_byte "$tmp/flip-pagemap/a/pagemap-1.img" 30
check_refused "parent: a byte flipped in the parent's pagemap-1.img" "$tmp/flip-pagemap/b" "$pki/key.pem" \
	"pagemap-1.img: authentication failed at chunk [0-9]+" instances
flip_byte "$tmp/flip-cipher/a/cipher.img" 40
check_refused "parent: a byte flipped in the parent's cipher.img" "$tmp/flip-cipher/b" "$pki/key.pem" \
	"flip-cipher/a/cipher.img: [a-z ]+" instances
check_refused "parent: the parent swapped for a plain checkpoint" "$tmp/plain-parent/b" "$pki/key.pem" \
	"plain-parent/a/cipher.img: missing: the parent of an encrypted checkpoint is a plain one" instances
exit $T_FAILED
