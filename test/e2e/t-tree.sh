# patches/ applied to the pristine tarball gives exactly build/criu, and a
# change to build/criu that patches/ does not hold is found.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$E2E_TOP/scripts/tree.sh" verify 2>&1)
check "tree: build/criu is patches/series on the pristine tarball" test $? = 0
echo "$out" | sed 's/^/    # /'

git clone -q --shared "$E2E_TOP/build/criu" "$tmp/criu"
echo "/* not in any patch */" >>"$tmp/criu/criu/cr-dump.c"
out=$(CRIU_TREE="$tmp/criu" "$E2E_TOP/scripts/tree.sh" verify 2>&1) &&
	not_ok "tree: an edit outside patches/ is found (verify passed)" ||
	check "tree: an edit outside patches/ is found" grep -q "criu/cr-dump.c differs" <<<"$out"
exit $T_FAILED
