# scripts/criu-keygen under a scratch root: a CA and node keys (RSA 3072,
# RSA 2048, ECDSA P-256, P-384) at the paths criu reads, private keys 0600
# in 0700 directories, existing keys kept without --force, every
# certificate verified by certtool against the CA with the key usages TLS
# and encryption need; then criu uses them: an encrypted dump and restore
# for the RSA node and for the ECDSA node, a dump through a TLS page
# server with the names verified, refused for a page server whose name
# does not match and for one whose certificate was revoked (criu-keygen
# revoke, the CRL criu loads).
. "$(dirname "$0")/lib.sh"
e2e_setup keygen
keeper=$(e2e_cc page-keeper) || exit 1
kg="$E2E_TOP/scripts/criu-keygen"
root="$tmp/root"
ca="$root/etc/pki/CA/cacert.pem"
cakey="$root/etc/pki/CA/private/cakey.pem"
crl="$root/etc/pki/CA/cacrl.pem"
acert="$root/etc/pki/criu/cert.pem"
akey="$root/etc/pki/criu/private/key.pem"
port=$((20000 + RANDOM % 20000))

mode() { stat -c %a "$1"; }
sum() { md5sum <"$1"; }
info() { certtool -i --infile "$1" 2>/dev/null; }
verify() { certtool --verify --load-ca-certificate "$ca" --infile "$@" >/dev/null 2>&1; }
# has FILE TEXT...: certtool's description of the certificate (or with
# -k, of the key) FILE has every TEXT
has() {
	local out t
	if [ "$1" = -k ]; then out=$(certtool -k --infile "$2" 2>/dev/null) && shift; else out=$(info "$1"); fi
	shift
	for t; do grep -qF -- "$t" <<<"$out" || return 1; done
}
# the key and the certificate have the same public key (its SHA-256 id)
key_id() { awk '/Public Key ID:/ { id = 1 } id && $1 ~ /^sha256:/ { print $1; exit }'; }
pair() {
	local k c
	k=$(certtool -k --infile "$1" 2>/dev/null | key_id)
	c=$(info "$2" | key_id)
	[ -n "$k" ] && [ "$k" = "$c" ]
}
# refused ARGS... PATTERN: criu-keygen fails with one line matching PATTERN
refused() {
	local want=${*: -1} out
	out=$("$kg" --root "$root" "${@:1:$#-1}" 2>&1) && { not_ok "keygen: '${*:1:$#-1}' is refused (it succeeded)"; return; }
	check "keygen: '${*:1:$#-1}' is refused in one line: $out" test "$(wc -l <<<"$out")" = 1 -a -n "$(grep -E -e "$want" <<<"$out")"
}

# 1. criu-keygen itself
check "keygen: -h prints the usage" grep -q '^Usage: criu-keygen' <<<"$("$kg" -h)"
refused node "no CA in $root/etc/pki/CA"
refused --type dsa ca "unknown key type 'dsa'"
refused --bits 1024 ca "--bits 1024: RSA keys of 2048"
refused --frobnicate ca "unknown option --frobnicate"
check "keygen: ... and nothing was written" test ! -e "$root"

"$kg" --root "$root" ca >"$tmp/out" 2>&1 || not_ok "keygen: ca ($(cat "$tmp/out"))"
check "keygen: ca writes the CA key 0600 in a 0700 directory and its certificate ($(mode "$cakey"), $(mode "${cakey%/*}"))" \
	test "$(mode "$cakey")" = 600 -a "$(mode "${cakey%/*}")" = 700 -a -s "$ca"
check "keygen: ... a CA certificate, with RSA 3072 and for signing certificates and CRLs" \
	has "$ca" 'Certificate Authority (CA): TRUE' 'High (3072 bits)' 'Certificate signing' 'CRL signing' 
check "keygen: ... of its own key" pair "$cakey" "$ca"
before=$(sum "$cakey")
refused ca "cacert.pem exists \(--force replaces it\)"
check "keygen: ... and the CA key is as it was" test "$(sum "$cakey")" = "$before"
"$kg" --root "$root" ca --force "Test CA" >"$tmp/out" 2>&1 || not_ok "keygen: ca --force ($(cat "$tmp/out"))"
check "keygen: ca --force makes a new CA key ($(sum "$cakey" | cut -c1-8), was ${before:0:8})" test "$(sum "$cakey")" != "$before"
check "keygen: ... and its certificate, CN=Test CA" has "$ca" 'Subject: CN=Test CA'
check "keygen: ... of the new key" pair "$cakey" "$ca"

# node A: RSA 3072 at criu's default paths; B: ECDSA P-256, C: P-384 and
# D: RSA 2048, each a bundle in a directory of its own
node() { # what, criu-keygen arguments
	local what=$1
	shift
	"$kg" --root "$root" node "$@" >"$tmp/out" 2>&1 || not_ok "keygen: node $what ($(cat "$tmp/out"))"
}
node A nodea --ip 127.0.0.1
node B --type p256 --out "$tmp/b" nodeb --ip 127.0.0.1 --dns b.example
node C -t p384 --out "$tmp/c" elsewhere
node D --bits 2048 --out "$tmp/d" 10.9.8.7
for n in A:"$acert":"$akey" B:"$tmp/b/cert.pem":"$tmp/b/key.pem" C:"$tmp/c/cert.pem":"$tmp/c/key.pem" \
	D:"$tmp/d/cert.pem":"$tmp/d/key.pem"; do
	IFS=: read -r name cert key <<<"$n"
	check "keygen: node $name: the key is 0600 in a 0700 directory ($key: $(mode "$key"), $(mode "${key%/*}"))" \
		test "$(mode "$key")" = 600 -a "$(mode "${key%/*}")" = 700
	check "keygen: node $name: certtool verifies the certificate against the CA" verify "$cert"
	check "keygen: node $name: the certificate is of the key" pair "$key" "$cert"
	check "keygen: node $name: usages digital signature, TLS WWW server and client" \
		has "$cert" 'Digital signature' 'TLS WWW Server' 'TLS WWW Client' 'Certificate Authority (CA): FALSE' 
done
check "keygen: node A: RSA 3072, key encipherment, CN and DNS name nodea, IP 127.0.0.1" \
	has "$acert" 'High (3072 bits)' 'Key encipherment' 'Subject: CN=nodea' 'DNSname: nodea' 'IPAddress: 127.0.0.1' 
check "keygen: node B: ECDSA P-256" has -k "$tmp/b/key.pem" SECP256R1
check "keygen: node B: key agreement, no key encipherment, DNS names nodeb and b.example" \
	has "$tmp/b/cert.pem" 'Key agreement' 'DNSname: nodeb' 'DNSname: b.example' 'IPAddress: 127.0.0.1'
check "keygen: node B: ... no key encipherment" not has "$tmp/b/cert.pem" 'Key encipherment'
check "keygen: node B: the CA's certificate is in its directory" cmp -s "$ca" "$tmp/b/cacert.pem"
check "keygen: node C: ECDSA P-384" has -k "$tmp/c/key.pem" SECP384R1
check "keygen: node D: RSA 2048, a name that is an address becomes an IP address" \
	has "$tmp/d/cert.pem" 'Medium (2048 bits)' 'IPAddress: 10.9.8.7'
check "keygen: certtool checks the names: A is 127.0.0.1" verify "$acert" --verify-hostname 127.0.0.1
check "keygen: ... C is not" not verify "$tmp/c/cert.pem" --verify-hostname 127.0.0.1
before=$(sum "$akey")
refused node nodea "key.pem exists|cert.pem exists"
check "keygen: ... and node A's key is as it was" test "$(sum "$akey")" = "$before"

# 2. encrypted checkpoints for the nodes' certificates, restored with their keys
# runs_on NAME: the keeper NAME still counts
runs_on() {
	local t
	t=$(last_tick "$tmp/$1.log")
	wait_for "[ \"\$(last_tick '$tmp/$1.log')\" -gt $((t + 1)) ]" 10
}
encrypted() { # NAME CERT KEY
	local d=$tmp/$1
	start_keeper "$1"
	mkdir -p "$d"
	if criu_t dump -t "$pid" -D "$d" -o dump.log -v4 --encrypt --tls-cert "$2"; then
		check "keygen: $1: dump --encrypt for the node's certificate writes cipher.img" test -s "$d/cipher.img"
		check "keygen: $1: ... and no file holds the secret" not grep -rqaF "$secret" "$d"
		check_restored "keygen: $1: restore with the node's key" "$d" "$3" "$tmp/$1.result"
	else
		not_ok "keygen: $1: dump --encrypt for the node's certificate"
		show_log_errors "$d/dump.log"
		kill -9 "$pid"
	fi
}
encrypted rsa "$acert" "$akey"
if [ -s "$tmp/rsa/cipher.img" ]; then
	criu_t restore -D "$tmp/rsa" -d -o restore2.log -v4 --tls-key "$tmp/d/key.pem" --pidfile "$tmp/rsa/pid2" &&
		track_pid "$(cat "$tmp/rsa/pid2")"
	want='cipher.img: the checkpoint is encrypted for another key'
	check "keygen: rsa: ... and not with node D's key ($(grep -m1 -oE "$want" "$tmp/rsa/restore2.log"))" \
		grep -qE "$want" "$tmp/rsa/restore2.log"
fi
encrypted ecdsa "$tmp/b/cert.pem" "$tmp/b/key.pem"

# 3. TLS page servers: criu checks the peer's name against --address on both ends
# start_ps NAME CERT KEY [ARGS...]: a TLS page server into $tmp/NAME.ps
start_ps() {
	local d=$tmp/$1.ps
	port=$((port + 1))
	mkdir -p "$d"
	timeout -k 5 60 "$CRIU" page-server -D "$d" --address 127.0.0.1 --port "$port" --daemon --pidfile "$d/ps.pid" \
		-o ps.log -v4 --tls --tls-cacert "$ca" --tls-cert "$2" --tls-key "$3" "${@:4}" || return 1
	track_pid "$(cat "$d/ps.pid")"
}
# tls_dump NAME [ARGS...]: a new keeper NAME dumped to the page server of NAME, as node A
tls_dump() {
	local name=$1
	shift
	start_keeper "$name"
	mkdir -p "$tmp/$name"
	criu_t dump -t "$pid" -D "$tmp/$name" -o dump.log -v4 --page-server --address 127.0.0.1 --port "$port" \
		--tls --tls-cacert "$ca" --tls-cert "$acert" --tls-key "$akey" "$@"
}
merge() { # OUT DIR...: the images of DIR... in OUT
	local out=$1 d
	shift
	mkdir -p "$out"
	for d in "$@"; do
		find "$d" -maxdepth 1 -type f -name '*.img' -exec cp -a {} "$out/" \;
	done
}

# node A (RSA) dumps, encrypted for itself, to node B (ECDSA P-256), names checked
start_ps tls "$tmp/b/cert.pem" "$tmp/b/key.pem" || not_ok "keygen: a TLS page server starts with node B's files"
if tls_dump tls --encrypt; then
	ok "keygen: tls: node A dumps to node B's page server with --tls, the names verified"
	wait_for "! kill -0 $(cat "$tmp/tls.ps/ps.pid") 2>/dev/null" 30
	check "keygen: tls: ... the page server ends its session" grep -q 'Session over' "$tmp/tls.ps/ps.log"
	check "keygen: tls: ... with no error" not grep -q Error "$tmp/tls.ps/ps.log"
	check "keygen: tls: ... and stores the pages" sh -c "ls '$tmp/tls.ps'/pages-*.img >/dev/null"
	check "keygen: tls: ... the TLS handshake completed on the dump's end" grep -q 'TLS handshake completed' "$tmp/tls/dump.log"
	check "keygen: tls: ... and on the page server's" grep -q 'TLS handshake completed' "$tmp/tls.ps/ps.log"
	merge "$tmp/tls.r" "$tmp/tls.ps" "$tmp/tls"
	check_restored "keygen: tls: ... the two directories restore with node A's key" "$tmp/tls.r" "$akey" "$tmp/tls.result"
else
	not_ok "keygen: tls: node A dumps to node B's page server with --tls, the names verified"
	show_log_errors "$tmp/tls/dump.log"
	show_log_errors "$tmp/tls.ps/ps.log"
	kill -9 "$pid"
fi

# refused_dump NAME PATTERN: the dump of keeper NAME failed for PATTERN, and it runs on
refused_dump() {
	local rc=0
	tls_dump "$1" "${@:3}" || rc=$?
	if [ $rc = 0 ]; then
		not_ok "keygen: $1: the dump is refused (it succeeded)"
	else
		# criu 4.1.1 frees the TLS session twice after a failed handshake (abort, 134)
		[ $rc = 1 ] || echo "    # criu dump exited with status $rc"
		check "keygen: $1: the dump is refused: $(grep -m1 -oE "$2" "$tmp/$1/dump.log")" grep -qE "$2" "$tmp/$1/dump.log"
		check "keygen: $1: ... and the process runs on" runs_on "$1"
	fi
	kill -9 "$pid"
	kill "$(cat "$tmp/$1.ps/ps.pid")" 2>/dev/null
}
# node C's certificate does not name 127.0.0.1
start_ps name "$tmp/c/cert.pem" "$tmp/c/key.pem" || not_ok "keygen: a TLS page server starts with node C's files"
refused_dump name "name in the certificate does not match"
# node B revoked: node A, loading the CRL, refuses it
refused revoke "$tmp/nothing.pem" "nothing.pem: can't read it"
"$kg" --root "$root" revoke "$tmp/b/cert.pem" >"$tmp/out" 2>&1 || not_ok "keygen: revoke ($(cat "$tmp/out"))"
check "keygen: revoke: certtool finds node B revoked" not verify "$tmp/b/cert.pem" --load-crl "$crl"
check "keygen: ... and node A not" verify "$acert" --load-crl "$crl"
refused revoke "$tmp/b/cert.pem" "already revoked"
"$kg" --root "$root" crl >"$tmp/out" 2>&1 || not_ok "keygen: crl ($(cat "$tmp/out"))"
check "keygen: crl renews the CRL, node B still on it" grep -q 'Revoked certificates (1)' <<<"$(certtool --crl-info --infile "$crl")"
start_ps revoked "$tmp/b/cert.pem" "$tmp/b/key.pem" || not_ok "keygen: a TLS page server starts with node B's files"
refused_dump revoked "certificate chain is revoked" --tls-cacrl "$crl"
exit $T_FAILED
