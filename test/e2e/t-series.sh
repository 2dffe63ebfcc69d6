# make series: the series for CRIU's maintainers (build/series) applies
# with git am to the pristine tarball and gives build/criu, every patch is
# signed off, and the module's new files are in it.
. "$(dirname "$0")/lib.sh"
e2e_setup series
out=$("$E2E_TOP/scripts/series.sh" 2>&1)
check "series: $(tail -n 1 <<<"$out")" grep -q "gives build/criu" <<<"$out"
s="$E2E_TOP/build/series"
n=$(ls "$s" | grep -vc cover-letter)
check "series: all $n patches are signed off" \
	test "$(grep -l '^Signed-off-by: ' "$s"/*.patch | grep -vc cover-letter)" = "$n" -a "$n" -gt 0
missing=$(cd "$E2E_TOP" && for f in criu/crypt-*.[ch] criu/include/crypt.h images/cipher.proto lib/pycriu/crypt.py \
	Documentation/encryption-format.txt; do grep -q "^+++ b/$f\$" "$s"/*.patch || echo "$f"; done)
check "series: the module, CRIT's decoder and the format's spec are in it${missing:+ (missing: $missing)}" \
	test -z "$missing"
exit $T_FAILED
