#!/bin/bash
# 'make test-guest': zdtm's iterative modes, which need soft-dirty tracking
# this machine's kernel lacks, in the qemu guest (scripts/guest-zdtm.sh):
# --pre 2, --snaps --pre 2 and --dedup --pre 2, each plain and with
# --encrypt, on tests of memory, pipes and a changing process tree (flavour
# h).  Ends with "N passed, N failed"; the e2e test of encrypted chains in
# the guest, with page servers, is test/e2e/t-predump.sh (in make test).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
logs=$top/build/test-logs
mkdir -p "$logs"
tests=(-t zdtm/static/env00 -t zdtm/static/maps00 -t zdtm/static/pipe00 -t zdtm/transition/fork -f h)
args=()
for mode in "--pre 2" "--snaps --pre 2" "--dedup --pre 2"; do
	for enc in "" --encrypt; do
		[ ${#args[@]} = 0 ] || args+=(--then)
		args+=("${tests[@]}" $mode $enc)
	done
done
"$top/scripts/guest-zdtm.sh" "${args[@]}" | tee "$logs/guest-zdtm.res"
pass=$(grep -c '^ok - ' "$logs/guest-zdtm.res")
fail=$(grep -c '^not ok - ' "$logs/guest-zdtm.res")
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
