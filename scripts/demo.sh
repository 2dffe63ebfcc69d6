#!/bin/bash
# The demo: a real encrypted checkpoint and restore of a real process that
# holds a secret.  Run through 'make demo', which builds everything first.
set -eu
. "$(dirname "$0")/../test/e2e/lib.sh"

work=$(mktemp -d /tmp/criu-demo.XXXXXX)
trap 'e2e_cleanup; rm -rf "$work"' EXIT
imgs="$work/checkpoint"
mkdir -p "$imgs"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "${*/#criu_t/criu}"
	"$@"
}
last_tick() { tail -n 1 "$work/log" | cut -d: -f1; }

keeper=$(e2e_cc secret-keeper)
secret="demo-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

say "1. A process that holds a secret"
echo "secret-keeper reads a secret into its heap, deletes the file it came"
echo "from, and counts, one line a tick, in its own pid namespace."
echo "$secret" >"$work/secret"
pid=$(start_in_pidns "$keeper" "$work/secret" "$work/log")
wait_for '[ "$(wc -l <"$work/log" 2>/dev/null)" -ge 5 ]' 10
echo "It runs as pid $pid; its log ends with:"
tail -n 2 "$work/log" | sed 's/^/    /'

say "2. Checkpoint it, encrypted"
echo "The recipient is an RSA certificate of CRIU's TLS PKI; this demo makes a"
echo "test key pair with GnuTLS's certtool (test/pki/make-keys.sh)."
"$E2E_TOP/test/pki/make-keys.sh" "$work/pki"
run criu_t dump -t "$pid" -D "$imgs" -o dump.log -v4 --encrypt --tls-cert "$work/pki/cert.pem"
before=$(last_tick)
echo "criu dump saved the process tree and stopped it (the default);"
echo "its log stopped at '$before'."
sleep 1
[ "$(last_tick)" = "$before" ] || {
	echo "demo: the process is still running after the dump" >&2
	exit 1
}

say "3. What the checkpoint holds"
echo "$(ls "$imgs" | grep -c '\.img$') image files, $(du -sh "$imgs" | cut -f1) in all:"
(cd "$imgs" && ls -l cipher.img pages-*.img pagetags.img core-*.img) | sed 's/^/    /'
echo "cipher.img holds the checkpoint's key, wrapped for the certificate's RSA key;"
echo "core, mm, files and every other image are sealed with ChaCha20-Poly1305,"
echo "the memory pages are encrypted page by page with AES-256-XTS:"
echo "    $(head -c 8 "$imgs/core-1.img") ... $(od -An -tx1 -N 16 -j 24 "$imgs/core-1.img" | tr -d '\n')"
hits=$(grep -l -a -F "$secret" "$imgs"/* | xargs -r -n1 basename | tr '\n' ' ')
echo "grep finds the secret in: ${hits:-no file at all}."
[ -z "$hits" ] || {
	echo "demo: the secret is readable in the checkpoint" >&2
	exit 1
}
echo "Without the private key, restore refuses, naming the reason:"
if criu_t restore -D "$imgs" -d -o nokey.log --tls-key "$work/pki/other-key.pem"; then
	echo "demo: restore with the wrong key succeeded" >&2
	exit 1
fi
grep -h "Error" "$imgs/nokey.log" | grep -v RLIMIT | head -n 1 | sed 's/^.*crypt: /    /'

say "4. Restore it"
run criu_t restore -D "$imgs" -d -o restore.log -v4 --pidfile "$work/pid" --tls-key "$work/pki/key.pem"
track_pid "$(cat "$work/pid")"
echo "With the key, criu authenticated and decrypted every image and page"
echo "before the process ran again, as pid $(cat "$work/pid")."

say "5. It carries on where it stopped"
wait_for '[ "$(last_tick)" != "$before" ]' 10
sleep 0.5
grep -A3 "^$before:" "$work/log" | sed 's/^/    /'
echo "The count goes on from '$before', and the secret is intact in its memory."
grep -q CORRUPTED "$work/log" && {
	echo "demo: the restored process lost its secret" >&2
	exit 1
}
say "Done: a real process was checkpointed encrypted and restored with the patched CRIU"
echo "($(criu_t --version | head -n 1 | tr -s ' '), $E2E_TOP/build/bin/criu)."
