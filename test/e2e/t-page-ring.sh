# Page images whose size is a whole number of the page writer's batches
# (256 pages, 1 MiB), four or more: at the close of such an image every
# batch of the writer's ring is queued and none is written yet.  The
# encrypted dump must finish, and the restored copy must find every page
# as it was (a batch sealed twice restores as noise, without any
# authentication error).  The workload's anonymous shared regions are
# dumped into page images of their own, of exactly their size; 1023 and
# 1025 pages are the neighbours that never filled the ring at its close.
. "$(dirname "$0")/lib.sh"
e2e_setup page-ring
bin=$(e2e_cc ring-keeper) || exit 1
sizes="1024 1280 2048 1023 1025"

pid=$(start_in_pidns "$bin" "$tmp/ready" "$tmp/result" $sizes)
track_pid "$pid"
wait_for 'grep -qs ready "$tmp/ready"' 20
check "page-ring: the workload filled regions of $sizes pages" grep -q ready "$tmp/ready"

mkdir -p "$tmp/enc"
# a dump that waits on itself would wait for ever: 60 s is 30 times what it takes
CRIU_TIMEOUT=60 criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem"
rc=$?
if [ $rc != 0 ]; then
	not_ok "page-ring: encrypted dump (exit status $rc$([ $rc = 124 ] && echo ': it hung'))"
	show_log_errors "$tmp/enc/dump.log"
	tail -n 2 "$tmp/enc/dump.log" | sed 's/^/    # /'
	exit 1
fi
ok "page-ring: encrypted dump"
for n in $sizes; do
	img=$(find "$tmp/enc" -name 'pages-*.img' -size "$((n * 4))k" | head -n 1)
	check "page-ring: a page image of exactly $n pages (${img##*/})" test -n "$img"
done
check_restored "page-ring: the restored copy finds every page of every region" "$tmp/enc" "$pki/key.pem" \
	"$tmp/result"
exit $T_FAILED
