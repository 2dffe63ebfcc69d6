# The fuzz harnesses of the encryption module (test/fuzz, libFuzzer with
# ASan and UBSan, built by Debian's clang into build/fuzz): for each
# harness, the regression inputs of test/fuzz/regress/<harness> (every
# crash a harness ever found), the seed corpus (test/fuzz/corpus and the
# seeds test/fuzz/mkseeds makes for this machine's test keys), then a
# short fuzzing round from those seeds.  One result per harness.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/e2e-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fz="$E2E_TOP/test/fuzz"
out="$E2E_TOP/build/fuzz"
SMOKE_SECS=${SMOKE_SECS:-10}
SMOKE_RUNS=${SMOKE_RUNS:-20000}
"$E2E_TOP/test/pki/make-keys.sh" "$E2E_TOP/build/pki"

# build when a source is newer than the last build
stale=0
[ -f "$out/.built" ] || stale=1
for f in "$fz"/*.c "$fz"/*.h "$fz"/build.sh "$E2E_TOP"/criu/crypt-*.[ch] "$E2E_TOP"/criu/include/crypt.h "$E2E_TOP"/test/unit/stub.c "$E2E_TOP"/test/unit/module.mk \
	"$E2E_TOP/build/criu/images/cipher.pb-c.c"; do
	[ "$f" -nt "$out/.built" ] && stale=1
done
if [ $stale = 1 ]; then
	rm -f "$out/.built"
	if ! "$fz/build.sh" "$out" >"$tmp/build.log" 2>&1; then
		tail -n 5 "$tmp/build.log" | sed 's/^/    # /'
		not_ok "fuzz: the harnesses build (clang -fsanitize=fuzzer,address,undefined)"
		exit 1
	fi
	touch "$out/.built"
fi
"$out/mkseeds" "$tmp/seeds" || {
	not_ok "fuzz: mkseeds makes the seeds"
	exit 1
}

export ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=64
# note the finding of a failed libFuzzer run (log $1), shown after the result
finding() {
	grep -m1 -E -A8 'fuzz: .* does not hold|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$1" |
		grep -vE '^INFO|fuzzer::|__sanitizer_print_stack_trace|libc\.so|^NOTE|^ *$' | head -n 8 |
		sed 's/^/    # /' >>"$tmp/$h.why"
}

for h in cipher cipher-fields signature stream stream-seal tags pages; do
	bin="$out/fuzz-$h"
	bad=""
	# 1. the regression inputs, one run each
	nreg=0
	if [ -d "$fz/regress/$h" ]; then
		nreg=$(find "$fz/regress/$h" -type f | wc -l)
		if [ "$nreg" -gt 0 ] &&
			! "$bin" -runs=1 $(find "$fz/regress/$h" -type f | sort) >"$tmp/$h.regress.log" 2>&1; then
			bad="regression input $(grep 'Running: ' "$tmp/$h.regress.log" | tail -n 1 | sed 's|.*/regress/||') fails"
			finding "$tmp/$h.regress.log"
		fi
	fi
	# 2. the seeds, 3. a short round of fuzzing from them; findings already
	# reported (their inputs are in regress/) are skipped there
	mkdir -p "$tmp/corpus/$h" "$tmp/seeds/$h"
	cp "$fz/corpus/$h"/* "$tmp/seeds/$h"/ 2>/dev/null
	nseed=$(ls "$tmp/seeds/$h" | wc -l)
	maxlen=8192
	[ $h = stream ] && maxlen=200000
	if ! FUZZ_SKIP_KNOWN=1 "$bin" -runs=0 "$tmp/seeds/$h" >"$tmp/$h.seeds.log" 2>&1; then
		bad="${bad:+$bad; }a seed fails"
		finding "$tmp/$h.seeds.log"
	elif ! FUZZ_SKIP_KNOWN=1 "$bin" -max_total_time="$SMOKE_SECS" -runs="$SMOKE_RUNS" -timeout=30 -rss_limit_mb=4096 \
		-max_len=$maxlen -print_final_stats=1 -artifact_prefix="$tmp/" "$tmp/corpus/$h" "$tmp/seeds/$h" \
		>"$tmp/$h.smoke.log" 2>&1; then
		mkdir -p "$out/findings"
		cp "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* "$out/findings/" 2>/dev/null
		bad="${bad:+$bad; }a new finding in the smoke round (kept in build/fuzz/findings)"
		finding "$tmp/$h.smoke.log"
		rm -f "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$h.smoke.log" 2>/dev/null)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$h.smoke.log" 2>/dev/null)
	# libFuzzer counts whole seconds: a round of under a second gives 0
	[ "$rate" != 0 ] && rate="$rate/s" || rate="in under a second"
	cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$tmp/$h.smoke.log" 2>/dev/null | grep -oE 'cov: [0-9]+' | tail -n 1)
	if [ -n "$bad" ]; then
		not_ok "fuzz: $h: $bad"
		cat "$tmp/$h.why"
	else
		ok "fuzz: $h: $nreg regression inputs and $nseed seeds pass, then $runs runs ($rate, $cov) find nothing"
	fi
done
exit $T_FAILED
