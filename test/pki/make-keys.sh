#!/bin/bash
# Test-only keys for encrypted checkpoints, made at test time with GnuTLS's
# certtool (never committed, never for real use).  The test CA:
#   DIR/cacert.pem, DIR/cakey.pem                the CA of the leaves below
#   DIR/cert.pem, DIR/key.pem                    the recipient (RSA 3072)
#   DIR/other-cert.pem, DIR/other-key.pem        a second RSA recipient
#   DIR/ec-cert.pem, DIR/ec-key.pem              ECDSA P-256
#   DIR/ec384-cert.pem, DIR/ec384-key.pem        ECDSA P-384
#   DIR/ed-cert.pem, DIR/ed-key.pem              Ed25519 (refused as a recipient)
#   DIR/small-cert.pem, DIR/small-key.pem        RSA 1024 (refused)
#   DIR/expired-cert.pem, DIR/expired-key.pem    RSA, valid in 2020 only
#   DIR/revoked-cert.pem, DIR/revoked-key.pem    RSA, revoked by cacrl.pem
#   DIR/cacrl.pem                                the CA's CRL: revokes
#                                                revoked-cert.pem alone
#   DIR/pkcs8-cert.pem, DIR/pkcs8-key.pem        RSA, the key an encrypted
#   DIR/pkcs8.pass                               PKCS#8 of this passphrase
#                                                (one line, no newline)
#   DIR/int-cacert.pem, DIR/int-cakey.pem        an intermediate CA under the CA
#   DIR/int-cert.pem, DIR/int-key.pem            a leaf of the intermediate
#   DIR/int-chain.pem                            int-cert.pem then int-cacert.pem
# Another CA, which the test CA knows nothing of:
#   DIR/foreign-cacert.pem, DIR/foreign-cakey.pem
#   DIR/foreign-cert.pem, DIR/foreign-key.pem    a leaf of it (RSA 2048)
# Every private key is mode 600.  DIR defaults to build/pki.  Existing
# files are kept (tests may be using them): what is missing is made, with
# what depends on it (a CA's leaves, the CRL), and a test CA that can't
# sign CRLs (of an older version of this script) is made again with all.
set -eu
dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/pki}
mkdir -p "$dir"
cd "$dir"
umask 077

# NAME-cert:TYPE:SIZE:CA (the prefix of the issuer's CA files)
leaves="cert:rsa:3072: other-cert:rsa:2048: small-cert:rsa:1024: ec-cert:ecdsa:secp256r1:
	ec384-cert:ecdsa:secp384r1: ed-cert:ed25519:: expired-cert:rsa:2048: revoked-cert:rsa:2048:
	pkcs8-cert:rsa:2048: int-cert:rsa:2048:int- foreign-cert:rsa:2048:foreign-"
all="cacert.pem cakey.pem foreign-cacert.pem foreign-cakey.pem int-cacert.pem int-cakey.pem
	cacrl.pem pkcs8.pass int-chain.pem"
for l in $leaves; do
	n=${l%%:*}
	all="$all $n.pem ${n%cert}key.pem"
done
ca_signs_crls() {
	certtool -i --infile="$1" 2>/dev/null | grep -q 'CRL signing'
}
complete() {
	local f
	for f in $all; do
		[ -s "$f" ] || return 1
	done
	ca_signs_crls cacert.pem
}
complete && exit 0

# One maker at a time (tests may start together).  Everything is made in a
# scratch directory and renamed into place at the end, at once.
exec 9>.lock
flock 9
complete && exit 0
work=$(mktemp -d "$PWD/.new.XXXXXX")
trap 'rm -rf "$work"' EXIT
# cur FILE: the file made in this run, else the one in place
cur() {
	if [ -e "$work/$1" ]; then echo "$work/$1"; else echo "$1"; fi
}
anew() { [ -e "$work/$1" ]; }
missing() { # FILE...: one of them is missing
	local f
	for f; do
		[ -s "$f" ] || return 0
	done
	return 1
}

mkdir "$work/tmpl"
cat >"$work/tmpl/ca" <<T
cn = criu test CA (test only)
ca
cert_signing_key
crl_signing_key
activation_date = "2020-01-01 00:00:00 UTC"
expiration_date = "2049-12-31 23:59:59 UTC"
T
sed 's/^cn = .*/cn = criu foreign CA (test only)/' "$work/tmpl/ca" >"$work/tmpl/foreign-ca"
cat >"$work/tmpl/leaf" <<T
cn = criu test leaf (test only)
encryption_key
signing_key
tls_www_server
tls_www_client
expiration_days = 3650
T
# valid in 2020 only: expired now
cat >"$work/tmpl/expired" <<T
cn = criu test expired leaf (test only)
encryption_key
signing_key
activation_date = "2020-01-01 00:00:00 UTC"
expiration_date = "2020-12-31 23:59:59 UTC"
T
cat >"$work/tmpl/int-ca" <<T
cn = criu test intermediate CA (test only)
ca
path_len = 0
cert_signing_key
crl_signing_key
expiration_days = 3650
T
cat >"$work/tmpl/crl" <<T
crl_next_update = 3650
crl_number = $(date +%s)
T

genkey() { # out type bits-or-curve
	local size=()
	case $2 in
	rsa) size=(--bits="$3") ;;
	ecdsa) size=(--curve="$3") ;;
	esac
	certtool --generate-privkey --key-type="$2" "${size[@]}" --outfile="$work/$1" 2>/dev/null
}
# sign CERT KEY TEMPLATE CA-PREFIX: CERT for KEY, issued by the CA
sign() {
	certtool --generate-certificate --load-privkey="$(cur "$2")" \
		--load-ca-certificate="$(cur "$4cacert.pem")" --load-ca-privkey="$(cur "$4cakey.pem")" \
		--template="$work/tmpl/$3" --outfile="$work/$1" 2>/dev/null
}

# the two self-signed CAs
if missing cacert.pem cakey.pem || ! ca_signs_crls cacert.pem; then
	genkey cakey.pem rsa 3072
	certtool --generate-self-signed --load-privkey="$work/cakey.pem" \
		--template="$work/tmpl/ca" --outfile="$work/cacert.pem" 2>/dev/null
fi
if missing foreign-cacert.pem foreign-cakey.pem; then
	genkey foreign-cakey.pem rsa 3072
	certtool --generate-self-signed --load-privkey="$work/foreign-cakey.pem" \
		--template="$work/tmpl/foreign-ca" --outfile="$work/foreign-cacert.pem" 2>/dev/null
fi
# the intermediate CA, issued by the test CA
if missing int-cacert.pem int-cakey.pem || anew cacert.pem; then
	genkey int-cakey.pem rsa 3072
	sign int-cacert.pem int-cakey.pem int-ca ""
fi
# the leaves
for l in $leaves; do
	IFS=: read -r n type size issuer <<<"$l"
	key=${n%cert}key.pem
	# (pkcs8-key.pem without its passphrase is of no use)
	if missing "$n.pem" "$key" || anew "${issuer}cacert.pem" ||
		{ [ "$n" = pkcs8-cert ] && missing pkcs8.pass; }; then
		genkey "$key" "$type" "$size"
		# each leaf named by its file (the signer a restore names)
		case $n in
		expired-cert) t=expired ;;
		*) t=leaf ;;
		esac
		sed "s/^cn = .*/cn = criu test $n.pem (test only)/" "$work/tmpl/$t" >"$work/tmpl/$n"
		sign "$n.pem" "$key" "$n" "$issuer"
	fi
done
if missing int-chain.pem || anew int-cert.pem || anew int-cacert.pem; then
	cat "$(cur int-cert.pem)" "$(cur int-cacert.pem)" >"$work/int-chain.pem"
fi
# the CRL of the test CA, revoking revoked-cert.pem
if missing cacrl.pem || anew cacert.pem || anew revoked-cert.pem; then
	certtool --generate-crl --load-ca-privkey="$(cur cakey.pem)" \
		--load-ca-certificate="$(cur cacert.pem)" --load-certificate="$(cur revoked-cert.pem)" \
		--template="$work/tmpl/crl" --outfile="$work/cacrl.pem" 2>/dev/null
fi
# the key of pkcs8-cert.pem as an encrypted PKCS#8, and its passphrase
if anew pkcs8-key.pem || ! grep -q 'BEGIN ENCRYPTED PRIVATE KEY' pkcs8-key.pem; then
	pass=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s' "$pass" >"$work/pkcs8.pass"
	certtool --to-p8 --load-privkey="$(cur pkcs8-key.pem)" --pkcs-cipher=aes-256 --password="$pass" \
		--outfile="$work/pkcs8-key.pem.p8" </dev/null 2>/dev/null
	grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$work/pkcs8-key.pem.p8"
	mv "$work/pkcs8-key.pem.p8" "$work/pkcs8-key.pem"
fi

rm -rf "$work/tmpl"
for f in "$work"/*; do
	[ -e "$f" ] || continue
	case $f in
	*key.pem | *.pass) chmod 600 "$f" ;;
	*) chmod 644 "$f" ;;
	esac
done
for f in "$work"/*; do
	[ -e "$f" ] && mv -f "$f" .
done
rm -f ca.tmpl leaf.tmpl
complete
