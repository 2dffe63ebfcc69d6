# Unit tests of the encryption module (test/unit/crypt-unit.c, linked with
# the module alone: make unit, test/unit/module.mk): known answers from
# Debian's python3-cryptography-vectors, stream framing, the page cipher,
# and a cross-check of the key wrap and derivation with Python's
# cryptography.  Then all of it again built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc's, which Debian's gcc brings), whose
# results say "asan+ubsan:"; a sanitizer's report fails the run.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tree="$E2E_TOP/build/criu"
vectors=/usr/lib/python3/dist-packages/cryptography_vectors
unit="$E2E_TOP/build/unit/crypt-unit"
asan="$E2E_TOP/build/unit/crypt-unit-asan"

if ! make -s -C "$E2E_TOP" build/unit/crypt-unit >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"
	not_ok "crypt-unit: builds"
	exit 1
fi
"$E2E_TOP/test/pki/make-keys.sh" "$E2E_TOP/build/pki"
"$unit" kat "$vectors" || T_FAILED=1
"$unit" stream "$tmp" 2>/dev/null || T_FAILED=1
"$unit" pages 2>/dev/null || T_FAILED=1
/usr/bin/python3 "$E2E_TOP/test/unit/crypt_cross.py" "$unit" "$E2E_TOP/build/pki" || T_FAILED=1

# The same under ASan and UBSan: any report aborts the program (no
# recovery), and is shown; every result line is the plain run's, marked.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
if ! make -s -C "$E2E_TOP" build/unit/crypt-unit-asan >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"
	not_ok "crypt-unit: builds with -fsanitize=address,undefined"
	exit 1
fi
ok "crypt-unit: builds with -fsanitize=address,undefined"
mark() { sed -E 's/^(not )?ok - /&asan+ubsan: /'; }
# san NAME COMMAND...: run under the sanitizers; the marked results, and one
# more result: no sanitizer report
san() {
	local name=$1 rc
	shift
	"$@" 2>"$tmp/san.err" | mark
	rc=${PIPESTATUS[0]}
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/san.err"; then
		not_ok "asan+ubsan: $name: a sanitizer report"
		grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/san.err" | head -n 30 | sed 's/^/    # /'
	else
		ok "asan+ubsan: $name: no sanitizer report"
	fi
	[ "$rc" = 0 ] || T_FAILED=1
}
rm -rf "${tmp:?}"/*
san "kat" "$asan" kat "$vectors"
san "stream" "$asan" stream "$tmp"
san "pages" "$asan" pages
san "cross" /usr/bin/python3 "$E2E_TOP/test/unit/crypt_cross.py" "$asan" "$E2E_TOP/build/pki"
exit $T_FAILED
