#!/bin/bash
# The full zdtm suite with encrypted checkpoints: 'zdtm.py run -a -f uns
# --keep-going -p 2 --encrypt', but for the tests of
# test/zdtm-known-failures.txt (first column), which are excluded.  A test
# that fails in the sweep is run once more, alone: one that fails again
# gives "not ok - zdtm-sweep TEST (--encrypt)", one that passes then an
# "ok" line that says it is flaky.  Then one summary line, "ok - zdtm-sweep
# --encrypt: N tests passed, M skipped, K known failures excluded" (a
# "not ok" line instead when zdtm.py did not get to its summary).  Exits
# 0 when nothing failed.  Logs in build/test-logs/zdtm-sweep/.
#
#   ZDTM_SWEEP_TIMEOUT=3000   seconds for the whole sweep
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/test/e2e/lib.sh"
logs="$top/build/test-logs/zdtm-sweep"
known="$top/test/zdtm-known-failures.txt"
rm -rf "$logs"
mkdir -p "$logs"
cd "$top/build/criu/test" || exit 1
name="zdtm-sweep --encrypt"
failed=0

# The known failures, each excluded by a regular expression that matches
# its name and nothing longer (zdtm.py matches -x at the start of a name:
# "zdtm/static/cr_veth" alone would exclude cr_veth02 too).
excl=()
nr_known=0
while read -r t _; do
	case "$t" in '' | '#'*) continue ;; esac
	excl+=(-x "$(printf '%s' "$t" | sed 's/[][\.*^$+?(){}|]/\\&/g')\$")
	nr_known=$((nr_known + 1))
done <"$known"

log="$logs/sweep.log"
timeout -k 30 "${ZDTM_SWEEP_TIMEOUT:-3000}" python3 zdtm.py run -a -f uns --keep-going -p 2 --encrypt \
	${excl[@]+"${excl[@]}"} </dev/null >"$log" 2>&1
rc=$?
summary=$(grep -aoE '(ALL TEST\(S\) PASSED|[0-9]+ TEST\(S\) FAILED) \(TOTAL [0-9]+/SKIPPED [0-9]+\)' "$log" | tail -n 1)
if [ -z "$summary" ]; then
	grep -av '^b' "$log" | tail -n 8 | sed 's/^/    # /'
	echo "not ok - $name: zdtm.py ended (exit status $rc$([ $rc = 124 ] && echo ', timed out')) without its summary; see $log"
	exit 1
fi

# "zdtm/static/x(uns)" after the summary: the failed tests and their flavours
while read -r t; do
	flavour=${t##*(}
	flavour=${flavour%)}
	t=${t%(*}
	one="$logs/$(echo "$t" | tr / _).$flavour.log"
	rm -rf "dump/$t"
	if timeout -k 10 600 python3 zdtm.py run -f "$flavour" -t "$t" --encrypt </dev/null >"$one" 2>&1 &&
		grep -aqF "Test $t PASS" "$one"; then
		echo "ok - zdtm-sweep $t (--encrypt): failed in the sweep, passed when run alone (flaky)"
	else
		grep -aE 'Error|FAIL|fail' "$one" | grep -v RLIMIT_NOFILE | tail -n 8 | sed 's/^/    # /'
		echo "not ok - zdtm-sweep $t (--encrypt)"
		failed=$((failed + 1))
	fi
done < <(sed -n '/TEST(S) FAILED (TOTAL/,$p' "$log" | sed -n 's/^ \* \(zdtm\/[^ ]*([a-z]*)\)$/\1/p')

passed=$(grep -acE '^=+ Test zdtm/[^ ]+ PASS =+$' "$log")
excluded=$(grep -acE '^Skipping zdtm/[^ ]+ \(exclude\)$' "$log")
skipped=${summary##*SKIPPED }
skipped=${skipped%")"}
skipped=$((skipped - excluded))
echo "ok - $name: $passed tests passed, $skipped skipped, $excluded known failures excluded"
[ "$excluded" = "$nr_known" ] ||
	echo "# $nr_known tests are listed in ${known#"$top"/}, but zdtm.py excluded $excluded (one renamed or gone?)"
[ "$failed" = 0 ]
