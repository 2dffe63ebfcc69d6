#!/bin/bash
# A long fuzzing run of one harness, niced, on one core:
#   test/fuzz/run.sh HARNESS SECONDS [OUT]
# OUT (default build/fuzz-long) gets its own build of the harnesses (so
# that a build for t-fuzz.sh does not replace a running binary), the
# corpus OUT/corpus/HARNESS (seeded from test/fuzz/corpus/HARNESS and
# mkseeds), crashes in OUT/artifacts/HARNESS/, the log OUT/HARNESS.log,
# and prints a summary: executions, executions per second, corpus, libFuzzer's
# coverage (cov: edges, ft: features) and the edges of the module's files
# (criu/crypt-*.c) the corpus reaches.  Findings already reported are
# skipped (FUZZ_SKIP_KNOWN, see the harnesses); their inputs are in
# test/fuzz/regress.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
h=$1
secs=$2
out=${3:-$top/build/fuzz-long}
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

"$top/test/pki/make-keys.sh" "$top/build/pki"
[ -x "$out/fuzz-$h" ] && [ -z "${REBUILD:-}" ] || "$top/test/fuzz/build.sh" "$out" >/dev/null
corpus="$out/corpus/$h"
seeds="$out/seeds"
mkdir -p "$corpus" "$out/artifacts/$h"
rm -rf "$seeds"
"$out/mkseeds" "$seeds"
cp -n "$top/test/fuzz/corpus/$h"/* "$seeds/$h"/ 2>/dev/null || true

# the inputs of pages and stream-seal cost about the same at any length:
# no need to let their length grow slowly (-len_control)
lenc=100
case $h in
stream) maxlen=200000 ;;
cipher) maxlen=4096 ;;
pages | stream-seal) maxlen=8192 lenc=0 ;;
*) maxlen=8192 ;;
esac
export ASAN_OPTIONS=quarantine_size_mb=64:detect_leaks=1
FUZZ_SKIP_KNOWN=1 nice -n 10 "$out/fuzz-$h" -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 \
	-max_len=$maxlen -len_control=$lenc -print_final_stats=1 -artifact_prefix="$out/artifacts/$h/" "$corpus" "$seeds/$h" \
	>"$out/$h.log" 2>&1 || true

grep -E '^#[0-9]+[[:space:]]+DONE|^stat::' "$out/$h.log" || tail -n 30 "$out/$h.log"
echo "corpus: $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
echo "artifacts: $(ls "$out/artifacts/$h" | wc -l)"
# the module's edges the corpus reaches, per file
FUZZ_SKIP_KNOWN=1 "$out/fuzz-$h" -runs=0 -print_coverage=1 "$corpus" 2>&1 |
	awk '/_FUNC:/ && /criu\/crypt-/ { split($5, e, "/"); f = $7; sub(/.*\//, "", f); sub(/:.*/, "", f);
					c[f] += e[1]; t[f] += e[2]; if ($1 == "COVERED_FUNC:") fc[f]++; n[f]++ }
	     END { for (f in c) printf "module %s: %d/%d edges, %d/%d functions reached\n", f, c[f], t[f], fc[f], n[f] }' |
	sort
