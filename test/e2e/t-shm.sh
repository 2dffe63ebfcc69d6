# System V shared memory in an encrypted checkpoint: criu dumps its pages
# from a helper process inside the IPC namespace, which keeps their tags
# in a pagetags-<id>.img of its own.  The secret is in no image, the
# restored copy finds the segment intact, and a flipped byte in that tags
# image or in the segment's pages, or the tags image removed, is refused
# with no restored process left.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/e2e-shm.XXXXXX)
trap 'e2e_cleanup; rm -rf "$tmp"' EXIT
pki="$E2E_TOP/build/pki"
"$E2E_TOP/test/pki/make-keys.sh" "$pki"
bin=$(e2e_cc shm-keeper) || exit 1
secret="shm-s3cr3t-$RANDOM$RANDOM$RANDOM"
instances() { pgrep -cxf "$bin $secret .*"; }
not() { ! "$@"; }

pid=$(start_in_pidns unshare --ipc "$bin" "$secret" "$tmp/ready" "$tmp/result")
track_pid "$pid"
wait_for 'grep -q ready "$tmp/ready"' 20
check "shm: the workload holds its segment" grep -q ready "$tmp/ready"

mkdir -p "$tmp/enc"
if ! criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --leave-running --encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "shm: encrypted dump"
	show_log_errors "$tmp/enc/dump.log"
	exit 1
fi
tags=$(cd "$tmp/enc" && ls pagetags-*.img 2>/dev/null | head -n 1)
check "shm: the segment's tags are in a sealed image of their own (${tags:-none})" \
	test -n "$tags" -a "$(head -c 8 "$tmp/enc/$tags" 2>/dev/null)" = CRIUSEAL
check "shm: the secret is in no image" not grep -rqF "$secret" "$tmp/enc"
pages="pages-${tags#pagetags-}"
out=$("$CRIT" decrypt "$tmp/enc" "$tmp/plain" --tls-key "$pki/key.pem" 2>&1)
check "shm: crit decrypts it, and the secret is in the plain $pages ($out)" grep -qF "$secret" "$tmp/plain/$pages"

for how in flip-tags delete-tags flip-pages; do
	cp -a "$tmp/enc" "$tmp/$how"
done
if criu_t restore -D "$tmp/enc" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/pid"; then
	rpid=$(cat "$tmp/pid")
	track_pid "$rpid"
	kill -USR1 "$rpid"
	wait_for 'test -s "$tmp/result"' 20
	check "shm: the restored copy finds its segment intact ($(cat "$tmp/result" 2>/dev/null))" \
		grep -qx ok "$tmp/result"
	kill -9 "$rpid"
	wait_for '! kill -0 '"$rpid"' 2>/dev/null' 10
else
	not_ok "shm: restore"
	show_log_errors "$tmp/enc/restore.log"
fi

refused() { # dir, pattern, what
	local dir=$1 pattern=$2 what=$3 before
	before=$(instances)
	if criu_t restore -D "$dir" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$dir/pid"; then
		track_pid "$(cat "$dir/pid")"
		not_ok "shm: $what: restored"
		return
	fi
	check "shm: $what: refused ($(grep -m1 -oE "$pattern" "$dir/restore.log"))" grep -qE "$pattern" "$dir/restore.log"
	check "shm: $what: no restored process is left" test "$(instances)" = "$before" -a ! -e "$dir/pid"
}
flip_byte "$tmp/flip-tags/$tags" 40
refused "$tmp/flip-tags" "$tags: authentication failed at chunk [0-9]+" "a byte flipped in $tags"
rm "$tmp/delete-tags/$tags"
refused "$tmp/delete-tags" "$tags: missing from the checkpoint" "$tags removed"
flip_byte "$tmp/flip-pages/$pages" 5000
refused "$tmp/flip-pages" "$pages: page 1 fails authentication" "a byte flipped in the segment's page 1"
exit $T_FAILED
