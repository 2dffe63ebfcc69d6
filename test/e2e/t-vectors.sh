# The test vectors of Documentation/encryption-format.txt (test/vectors/):
# criu's module (test/vectors/vectors.c, linked with it) and CRIT's
# decoder (check.py) each derive every key, nonce and tag of vectors.txt
# again from the committed checkpoint and its throwaway key; making the
# vectors again gives the same files; and a changed value is caught.
. "$(dirname "$0")/lib.sh"
e2e_setup vectors
v="$E2E_TOP/test/vectors"
bin="$E2E_TOP/build/unit/vectors"

if ! make -s -C "$E2E_TOP" build/unit/vectors >"$tmp/build.log" 2>&1; then
	sed 's/^/    # /' "$tmp/build.log"
	not_ok "vectors: the program builds"
	exit 1
fi
# the throwaway key as criu wants a private key (git keeps no mode 0600)
install -m 600 "$v/key.pem" "$tmp/key.pem"
"$bin" check "$v/ckpt" "$tmp/key.pem" "$v/vectors.txt" || T_FAILED=1
PYTHONPATH="$E2E_TOP/build/python" /usr/bin/python3 "$v/check.py" "$v/ckpt" "$v/key.pem" "$v/vectors.txt" ||
	T_FAILED=1

mkdir -p "$tmp/again"
"$bin" make "$tmp/again" "$v/cert.pem" >"$tmp/vectors.txt"
check "vectors: made again, the same files and values" \
	sh -c "cmp -s '$tmp/vectors.txt' '$v/vectors.txt' && diff -r '$tmp/again' '$v/ckpt' >/dev/null"

# a value changed by one bit: both checks must fail
awk '/^page1\.tag = / { c = substr($0, length($0)); $0 = substr($0, 1, length($0) - 1) (c == "0" ? "1" : "0") } 1' \
	"$v/vectors.txt" >"$tmp/bad.txt"
quiet() { "$@" >/dev/null 2>&1; }
check "vectors: ... a changed page tag in vectors.txt is caught by criu's module" \
	not quiet "$bin" check "$v/ckpt" "$tmp/key.pem" "$tmp/bad.txt"
check "vectors: ... and by CRIT's decoder" \
	not quiet env PYTHONPATH="$E2E_TOP/build/python" /usr/bin/python3 "$v/check.py" "$v/ckpt" "$v/key.pem" \
	"$tmp/bad.txt"
exit $T_FAILED
