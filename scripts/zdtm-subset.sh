#!/bin/bash
# Run the zdtm tests listed in test/ci-tests.txt, each on its own, and print
# "ok - zdtm ..." or "not ok - zdtm ..." for each.  Extra arguments go to
# every 'zdtm.py run' (for example --encrypt).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/test/e2e/lib.sh"
logs="$top/build/test-logs/zdtm"
mkdir -p "$logs"
cd "$top/build/criu/test" || exit 1
tag=$(echo "$*" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')

grep -v '^\s*#' "$top/test/ci-tests.txt" | while read -r t flavour _; do
	[ -n "$t" ] || continue
	flavour=${flavour:-uns}
	log="$logs/$(basename "$t").$flavour${tag:+.$tag}.log"
	name="zdtm $t ($flavour${*:+ $*})"
	if timeout -k 10 600 python3 zdtm.py run -f "$flavour" -t "$t" "$@" </dev/null >"$log" 2>&1 &&
		grep -q "Test $t PASS" "$log"; then
		echo "ok - $name"
	else
		grep -E 'Error|FAIL|fail' "$log" | grep -v RLIMIT_NOFILE | tail -n 8 | sed 's/^/    # /'
		echo "not ok - $name"
	fi
done
