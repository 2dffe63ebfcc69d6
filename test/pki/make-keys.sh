#!/bin/bash
# Test-only keys for encrypted checkpoints, made at test time with GnuTLS's
# certtool (never committed, never for real use):
#   DIR/cacert.pem, DIR/cert.pem, DIR/key.pem    the recipient (RSA 3072)
#   DIR/other-cert.pem, DIR/other-key.pem        a second RSA recipient
#   DIR/ec-cert.pem, DIR/ec-key.pem              an ECDSA one (refused)
#   DIR/small-cert.pem, DIR/small-key.pem        RSA 1024 (refused)
# DIR defaults to build/pki.  Existing keys are kept.
set -eu
dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/pki}
mkdir -p "$dir"
cd "$dir"
[ -f cert.pem ] && [ -f ec-cert.pem ] && exit 0

cat >ca.tmpl <<T
cn = criu test CA (test only)
ca
cert_signing_key
expiration_days = 3650
T
cat >leaf.tmpl <<T
cn = criu test recipient (test only)
encryption_key
signing_key
tls_www_server
tls_www_client
expiration_days = 3650
T

certtool --generate-privkey --key-type=rsa --bits=3072 --outfile=cakey.pem 2>/dev/null
certtool --generate-self-signed --load-privkey=cakey.pem --template=ca.tmpl --outfile=cacert.pem 2>/dev/null
leaf() { # name key-type bits
	certtool --generate-privkey --key-type="$2" ${3:+--bits=$3} --outfile="$1key.pem" 2>/dev/null
	certtool --generate-certificate --load-privkey="$1key.pem" --load-ca-certificate=cacert.pem \
		--load-ca-privkey=cakey.pem --template=leaf.tmpl --outfile="$1cert.pem" 2>/dev/null
}
leaf "" rsa 3072
leaf other- rsa 2048
leaf small- rsa 1024
leaf ec- ecdsa ""
chmod 600 ./*key.pem
