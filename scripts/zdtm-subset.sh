#!/bin/bash
# Run the zdtm tests listed in test/ci-tests.txt, each on its own, and print
# "ok - zdtm ..." or "not ok - zdtm ..." for each.  Extra arguments go to
# every 'zdtm.py run' (for example --encrypt).
#
# ZDTM_CRIT=1 with --encrypt: each encrypted dump is preceded by a plain
# dump of the same process (test/crit/criu-twin), and after the test CRIT
# reads both checkpoints (test/crit/check-zdtm.py): one more result a test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/test/e2e/lib.sh"
logs="$top/build/test-logs/zdtm"
mkdir -p "$logs"
cd "$top/build/criu/test" || exit 1
tag=$(echo "$*" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')
twin=()
if [ "${ZDTM_CRIT:-0}" = 1 ]; then
	export CRIU_TWIN_REAL="$top/build/criu/criu/criu"
	twin=(--criu-bin "$top/test/crit/criu-twin" --keep-img always)
fi

# CRIT on the kept checkpoints of test $1; transition tests keep working
# between the two dumps, so only their images are decoded.
crit_check() {
	local t=$1 enc out only=""
	case "$t" in zdtm/transition/*) only=--decode-only ;; esac
	enc=$(ls -d dump/"$t"/*/1 2>/dev/null | head -n 1)
	if grep -qw crfail "$t.desc" 2>/dev/null; then
		echo "skip - crit $t: no checkpoint to read: its dump is expected to fail (crfail)"
	elif [ -z "$enc" ] || [ ! -d "$enc.plain" ]; then
		echo "not ok - crit $t: no kept checkpoints in dump/$t"
	elif out=$(PYTHONPATH="$top/build/python" timeout 600 /usr/bin/python3 \
		"$top/test/crit/check-zdtm.py" "$enc" "$enc.plain" "$PWD/pki/key.pem" $only); then
		echo "ok - crit $t: $out"
	else
		echo "$out"
		echo "not ok - crit $t"
	fi
	rm -rf "dump/$t"
}

grep -v '^\s*#' "${ZDTM_LIST:-$top/test/ci-tests.txt}" | while read -r t flavour _; do
	[ -n "$t" ] || continue
	flavour=${flavour:-uns}
	log="$logs/$(basename "$t").$flavour${tag:+.$tag}.log"
	name="zdtm $t ($flavour${*:+ $*})"
	rm -rf "dump/$t"
	if timeout -k 10 600 python3 zdtm.py run -f "$flavour" -t "$t" "$@" ${twin[@]+"${twin[@]}"} \
		</dev/null >"$log" 2>&1 && grep -q "Test $t PASS" "$log"; then
		echo "ok - $name"
		[ ${#twin[@]} = 0 ] || crit_check "$t"
	else
		grep -E 'Error|FAIL|fail' "$log" | grep -v RLIMIT_NOFILE | tail -n 8 | sed 's/^/    # /'
		echo "not ok - $name"
	fi
done
