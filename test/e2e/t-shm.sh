# System V shared memory in an encrypted checkpoint: criu dumps its pages
# from a helper process inside the IPC namespace, which keeps their tags
# in a pagetags-<id>.img of its own.  The secret is in no image, the
# restored copy finds the segment intact, and a flipped byte in that tags
# image or in the segment's pages, or the tags image removed, is refused
# with no restored process left.
. "$(dirname "$0")/lib.sh"
e2e_setup shm
bin=$(e2e_cc shm-keeper) || exit 1
secret="shm-s3cr3t-$RANDOM$RANDOM$RANDOM"
instances() { pgrep -cxf "$bin $secret .*"; }

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
out=$(crit_t decrypt "$tmp/enc" "$tmp/plain" --tls-key "$pki/key.pem" 2>&1)
check "shm: crit decrypts it, and the secret is in the plain $pages ($out)" grep -qF "$secret" "$tmp/plain/$pages"

for how in flip-tags delete-tags flip-pages; do
	cp -a "$tmp/enc" "$tmp/$how"
done
check_restored "shm: the restored copy finds its segment intact" "$tmp/enc" "$pki/key.pem" "$tmp/result"

flip_byte "$tmp/flip-tags/$tags" 40
check_refused "shm: a byte flipped in $tags" "$tmp/flip-tags" "$pki/key.pem" \
	"$tags: authentication failed at chunk [0-9]+" instances
rm "$tmp/delete-tags/$tags"
check_refused "shm: $tags removed" "$tmp/delete-tags" "$pki/key.pem" "$tags: missing from the checkpoint" instances
flip_byte "$tmp/flip-pages/$pages" 5000
check_refused "shm: a byte flipped in the segment's page 1" "$tmp/flip-pages" "$pki/key.pem" \
	"$pages: page 1 fails authentication" instances
exit $T_FAILED
