# An encrypted checkpoint with an encrypted parent checkpoint, as the last
# dump of a pre-dump chain has one: a "parent" link in its directory.  The
# dump reads the parent's pagemaps and a restore opens the parent's images,
# each with the parent's own key (--tls-key).  The root criu loads the
# parent's keys once, before it forks, not every task again; a tampered
# parent is refused, with no process left.
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

mkdir -p "$tmp/a" "$tmp/b" "$tmp/nokey"
if ! criu_t dump -t "$pid" -D "$tmp/a" -o dump.log -v4 -R --encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "parent: the parent's dump"
	show_log_errors "$tmp/a/dump.log"
	exit 1
fi
# reading the parent's images takes its key: without it a dump fails
if criu_t dump -t "$pid" -D "$tmp/nokey" -o dump.log -v4 --prev-images-dir "$tmp/a" --encrypt \
	--tls-cert "$pki/cert.pem" --tls-key "$tmp/nonexistent.pem"; then
	not_ok "parent: a dump that can't read its parent's key fails (it succeeded)"
else
	check "parent: a dump that can't read its parent's key fails ($(grep -m1 -o 'nonexistent.pem: .*' \
		"$tmp/nokey/dump.log"))" grep -q "nonexistent.pem: can't read" "$tmp/nokey/dump.log"
	check "parent: ... and the process runs on" test "$(instances)" = "$running"
fi
if ! criu_t dump -t "$pid" -D "$tmp/b" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "parent: the child's dump"
	show_log_errors "$tmp/b/dump.log"
	exit 1
fi
ln -s ../a "$tmp/b/parent"
wait_for '[ "$(instances)" = 0 ]' 10

for how in flip-pagemap flip-cipher; do
	mkdir -p "$tmp/$how"
	cp -a "$tmp/a" "$tmp/$how/a"
	cp -a "$tmp/b" "$tmp/$how/b"
done

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
exit $T_FAILED
