# The source tarball: taken from the cache, verified, anything else refused.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch="$E2E_TOP/scripts/fetch-criu.sh"

check "fetch: the cached tarball is used" \
	test "$("$fetch")" = "$E2E_TOP/build/criu_4.1.1.orig.tar.xz"

cp "$E2E_TOP/build/criu_4.1.1.orig.tar.xz" "$tmp/good.tar.xz"
check "fetch: CRIU_TARBALL with the right sha256 is used" \
	test "$(CRIU_TARBALL="$tmp/good.tar.xz" "$fetch")" = "$tmp/good.tar.xz"

# the real tarball with one byte changed
cp "$tmp/good.tar.xz" "$tmp/bad.tar.xz"
flip_byte "$tmp/bad.tar.xz" 4096
if out=$(CRIU_TARBALL="$tmp/bad.tar.xz" "$fetch" 2>&1); then
	not_ok "fetch: a tarball with a wrong sha256 is refused (it was accepted)"
else
	check "fetch: a tarball with a wrong sha256 is refused: $out" \
		grep -q "bad.tar.xz: sha256 is .*refusing it" <<<"$out"
fi
exit $T_FAILED
