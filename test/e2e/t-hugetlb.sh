# Private hugetlb memory in an encrypted checkpoint.  criu does not premap
# a hugetlb mapping at restore: the restorer blob reads its pages itself,
# after criu has unmapped itself, and can't decrypt.  The secret must be in
# no image, and the restored copy must find the mapping exactly as it was
# (not the ciphertext of its pages).  Needs two free 2 MiB huge pages: the
# test reserves them when there are not enough, and gives them back.
. "$(dirname "$0")/lib.sh"
e2e_setup hugetlb
bin=$(e2e_cc hugetlb-keeper) || exit 1
secret="huge-s3cr3t-$RANDOM$RANDOM$RANDOM"

nr_file=/proc/sys/vm/nr_hugepages
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
nr_before=$(cat "$nr_file")
# two for the workload, two for its restored copy while the first is not gone yet
if [ "${free:-0}" -lt 4 ]; then
	echo $((nr_before + 4 - ${free:-0})) >"$nr_file"
	trap 'e2e_cleanup; rm -rf "$tmp"; echo "$nr_before" >"$nr_file"' EXIT
fi
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
if ! check "hugetlb: huge pages are free ($free of 2 MiB)" test "${free:-0}" -ge 4; then
	exit 1
fi

echo "$secret" >"$tmp/secret"
pid=$(start_in_pidns "$bin" "$tmp/secret" "$tmp/ready" "$tmp/result")
track_pid "$pid"
wait_for 'grep -qs ready "$tmp/ready"' 20
check "hugetlb: the workload filled its private hugetlb mapping" grep -qs ready "$tmp/ready"
huge=$(awk '/anon_hugepage/ { sub(/-.*/, "", $1); print $1; exit }' "/proc/$pid/maps")
check "hugetlb: the mapping is hugetlb memory (at ${huge:-none})" test -n "$huge"

mkdir -p "$tmp/enc"
if ! criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "hugetlb: encrypted dump"
	show_log_errors "$tmp/enc/dump.log"
	exit 1
fi
ok "hugetlb: encrypted dump"
check "hugetlb: the secret is in no image" not grep -rqF "$secret" "$tmp/enc"
# CRIT, the second decoder: the secret at the start of the hugetlb mapping
out=$(crit_t grep "$tmp/enc" "$secret" --tls-key "$pki/key.pem" 2>&1)
check "hugetlb: crit grep finds the secret at the start of the hugetlb mapping" \
	grep -q "^1	0*$huge	" <<<"$out" || echo "$out" | sed 's/^/    # /'
check_restored "hugetlb: the restored copy finds its hugetlb mapping as it was" "$tmp/enc" "$pki/key.pem" \
	"$tmp/result"
check "hugetlb: the restore decrypted the pages the restorer reads" \
	grep -q 'for the restorer' "$tmp/enc/restore.log"
exit $T_FAILED
