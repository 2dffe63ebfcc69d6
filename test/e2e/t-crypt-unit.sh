# Unit tests of the encryption module (test/unit/crypt-unit.c, linked with
# criu/crypt-key.c, crypt-stream.c and crypt-page.c): known answers from
# Debian's python3-cryptography-vectors, stream framing, the page cipher,
# and a cross-check of the key wrap and derivation with Python's
# cryptography.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tree="$E2E_TOP/build/criu"
vectors=/usr/lib/python3/dist-packages/cryptography_vectors
unit="$E2E_TOP/build/e2e/crypt-unit"
mkdir -p "$E2E_TOP/build/e2e"

if ! gcc -O2 -Wall -Werror -D_GNU_SOURCE -iquote "$tree/criu/include" -I"$tree/include" -I"$tree" \
	-o "$unit" "$E2E_TOP/test/unit/crypt-unit.c" "$tree/criu/crypt-key.c" "$tree/criu/crypt-stream.c" \
	"$tree/criu/crypt-page.c" "$tree/images/cipher.pb-c.c" -lprotobuf-c -lgnutls -lsodium -lhogweed -lnettle -lgmp; then
	not_ok "crypt-unit: builds"
	exit 1
fi
"$E2E_TOP/test/pki/make-keys.sh" "$E2E_TOP/build/pki"
"$unit" kat "$vectors" || T_FAILED=1
"$unit" stream "$tmp" 2>/dev/null || T_FAILED=1
"$unit" pages 2>/dev/null || T_FAILED=1
/usr/bin/python3 "$E2E_TOP/test/unit/crypt_cross.py" "$unit" "$E2E_TOP/build/pki" || T_FAILED=1
exit $T_FAILED
