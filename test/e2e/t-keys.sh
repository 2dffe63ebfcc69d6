# Recipients, signatures and private keys of format 2 (issue 23;
# Documentation/encryption-format.txt sections 4 and 12), through the real
# binaries on a real process tree:
#  - a checkpoint for several recipients (RSA and ECDSA P-256) restores
#    with each of their keys and with no other; one for ECDSA P-256 alone,
#    and one for P-384, restore and CRIT reads them with the EC key; 16
#    recipients are the most;
#  - with --tls-cacert (and --tls-cacrl) at dump, an expired, a revoked and
#    a foreign CA's recipient are refused in one line naming the
#    certificate, the process running on and no checkpoint left;
#  - a checkpoint signed at dump (--tls-key; RSA-PSS, ECDSA P-256 and
#    P-384, by the --tls-cert of the key) restores with --tls-cacert;
#    an unsigned one, one signed by a foreign CA's key, by a revoked or
#    an expired one, a signature.img changed, of another checkpoint, a symbolic link
#    or a FIFO are refused before any process is restored;
#  - crit rewrap gives the checkpoint new recipients (the old ones
#    dropped, or kept with --keep), and the signature still verifies;
#  - a private key readable by others is refused (unless
#    --tls-key-any-mode), an encrypted PKCS#8 key opens with its
#    passphrase from a file or from CRIU_TLS_KEY_PASS, and not with a
#    wrong one.
. "$(dirname "$0")/lib.sh"
e2e_setup keys
keeper=$(e2e_cc secret-keeper) || exit 1
marker="$tmp/secret"
# the workload's processes: their command line has the marker (pgrep
# does not count itself)
instances() { pgrep -cf -- "$marker" || true; }

secret="s3cr3t-$RANDOM$RANDOM$RANDOM"
echo "$secret" >"$marker"
: >"$tmp/log"
pid=$(start_in_pidns "$keeper" "$marker" "$tmp/log" fork)
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
running=$(instances)
check "keys: the workload runs ($running processes)" test "$running" -ge 2 || exit 1

# error LOG PATTERN: the first error line of LOG, if it matches PATTERN
error() { grep -m1 -E "Error " "$1" 2>/dev/null | grep -E "$2"; }

# dumps WHAT DIR ARGS...: a dump --encrypt of the workload into DIR, which
# runs on (-R)
dumps() {
	local what=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	if criu_t dump -t "$pid" -D "$dir" -o dump.log -v4 -R --encrypt "$@"; then
		ok "keys: dump $what"
		return 0
	fi
	not_ok "keys: dump $what"
	show_log_errors "$dir/dump.log"
	return 1
}
# dump_refused WHAT DIR PATTERN ARGS...: the dump fails with an error line
# matching PATTERN, the workload runs on, and DIR holds no checkpoint
dump_refused() {
	local what=$1 dir=$2 pattern=$3 line
	shift 3
	mkdir -p "$dir"
	if criu_t dump -t "$pid" -D "$dir" -o dump.log -v4 -R --encrypt "$@"; then
		not_ok "keys: a dump $what is refused (it succeeded)"
		return
	fi
	line=$(error "$dir/dump.log" "$pattern")
	check "keys: a dump $what is refused: ${line#*: }" test -n "$line" || show_log_errors "$dir/dump.log"
	check "keys: ... the process runs on" test "$(instances)" = "$running"
	check "keys: ... and no cipher.img or signature.img is left" \
		test ! -e "$dir/cipher.img" -a ! -e "$dir/signature.img"
}

# counts_on N: the three lines after line N of the log are those of a
# workload that carried on from its checkpoint (not from tick 1), its
# secret intact
counts_on() {
	tail -n +$(($1 + 1)) "$tmp/log" | head -n 3 | awk '
		{ t = $2; sub(":", "", t); t += 0 }
		NR == 1 && t < 3 { exit 1 }
		NR > 1 && t != last + 1 { exit 1 }
		$NF != "intact" { exit 1 }
		{ last = t; n++ }
		END { exit n != 3 }'
}
# restores WHAT DIR ARGS...: DIR restores with ARGS, the workload counts on
# from where it was with its secret intact, and is killed again
restores() {
	local what=$1 dir=$2 lines rpid
	shift 2
	rm -f "$dir/pid"
	lines=$(wc -l <"$tmp/log")
	if ! criu_t restore -D "$dir" -d -o restore.log -v4 --pidfile "$dir/pid" "$@"; then
		not_ok "keys: $what restores"
		show_log_errors "$dir/restore.log"
		return 1
	fi
	rpid=$(cat "$dir/pid")
	track_pid "$rpid"
	# (not n: wait_for has an n of its own)
	wait_for '[ "$(wc -l <"$tmp/log")" -ge $((lines + 3)) ]' 10
	check "keys: $what restores, and counts on ($(sed -n "$((lines + 1))p" "$tmp/log"))" counts_on "$lines" ||
		tail -n +$((lines + 1)) "$tmp/log" | head -n 3 | sed 's/^/    # /'
	kill -9 "$rpid"
	wait_for '[ "$(instances)" = 0 ]' 10
}
# refused WHAT DIR PATTERN ARGS...: restoring DIR with ARGS fails (in time)
# with an error line matching PATTERN, and no process is left
refused() {
	local what=$1 dir=$2 pattern=$3 rc line
	shift 3
	rm -f "$dir/pid"
	criu_t restore -D "$dir" -d -o restore.log -v4 --pidfile "$dir/pid" "$@"
	rc=$?
	if [ $rc = 0 ]; then
		not_ok "keys: $what is refused (it restored)"
		track_pid "$(cat "$dir/pid")"
		kill -9 "$(cat "$dir/pid")"
		wait_for '[ "$(instances)" = 0 ]' 10
		return
	fi
	line=$(error "$dir/restore.log" "$pattern")
	check "keys: $what is refused: ${line#*: }" test -n "$line" -a "$rc" -lt 124 ||
		show_log_errors "$dir/restore.log"
	check "keys: ... before any task was forked, and no restored process is left" \
		test "$(instances)" = 0 -a ! -e "$dir/pid" -a -z "$(grep -m1 'Forking task' "$dir/restore.log")"
}
# crit_ps WHAT DIR ARGS...: crit x DIR ps with ARGS lists the workload
crit_ps() {
	local what=$1 dir=$2 out
	shift 2
	out=$(crit_t x "$dir" ps "$@" 2>&1)
	check "keys: crit x ps $what lists the two tasks" test "$(grep -c secret-keeper <<<"$out")" = 2 ||
		sed 's/^/    # /' <<<"$out" | head -n 5
}
# sig_info SIGNATURE CERT: the alg of signature.img, and "signer" when the
# first certificate of its chain is CERT ("other" else); a reader of
# section 12's framing, apart from criu's
sig_info() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import base64, sys
data = open(sys.argv[1], 'rb').read()
if data[:8] != b'CRIUSIGN' or int.from_bytes(data[8:12], 'little') != len(data) - 12:
	sys.exit('not a signature.img')
e, i, fields = data[12:], 0, []
def varint():
	global i
	v, s = 0, 0
	while True:
		b = e[i]
		i += 1
		v |= (b & 0x7f) << s
		s += 7
		if b < 0x80:
			return v
while i < len(e):
	key = varint()
	if key & 7 != 2:
		sys.exit('unexpected wire type')
	n = varint()
	fields.append((key >> 3, e[i:i + n]))
	i += n
alg = [v for f, v in fields if f == 1]
chain = [v for f, v in fields if f == 2]
pem = open(sys.argv[2]).read().split('-----BEGIN CERTIFICATE-----')[1].split('-----END')[0]
print(alg[0].decode() if alg else '?', 'signer' if chain and chain[0] == base64.b64decode(pem) else 'other')
PY
}
# sum DIR: a digest of every file of DIR but cipher.img and the logs
sum() { (cd "$1" && ls | grep -vE '^cipher\.img$|\.log$|^pid$' | xargs cat | md5sum); }

# 1. Dumps, the workload running on
ca=(--tls-cacert "$pki/cacert.pem")
crl=(--tls-cacrl "$pki/cacrl.pem")
dumps "for two recipients, RSA and ECDSA P-256" "$tmp/two" \
	--tls-cert "$pki/cert.pem" --tls-cert "$pki/ec-cert.pem"
# --tls-cert repeated in a configuration file, one more on the command line
printf 'tls-cert %s\ntls-cert %s\n' "$pki/other-cert.pem" "$pki/ec384-cert.pem" >"$tmp/three.conf"
dumps "for three recipients, two of them in a configuration file" "$tmp/three" \
	--config "$tmp/three.conf" --tls-cert "$pki/cert.pem"
dumps "for an ECDSA P-256 recipient, signed with its key" "$tmp/ec" \
	--tls-cert "$pki/ec-cert.pem" --tls-key "$pki/ec-key.pem"
dumps "for an ECDSA P-384 recipient, signed with its key" "$tmp/ec384" \
	--tls-cert "$pki/ec384-cert.pem" --tls-key "$pki/ec384-key.pem"
dumps "signed with key.pem, the recipient checked against the CA and its CRL" "$tmp/signed" \
	--tls-cert "$pki/cert.pem" --tls-key "$pki/key.pem" "${ca[@]}" "${crl[@]}"
dumps "signed with key.pem again" "$tmp/signed2" --tls-cert "$pki/cert.pem" --tls-key "$pki/key.pem"
dumps "signed with key.pem, for ec-cert.pem then cert.pem" "$tmp/signed-ec" \
	--tls-key "$pki/key.pem" --tls-cert "$pki/ec-cert.pem" --tls-cert "$pki/cert.pem"
dumps "signed by the foreign CA's leaf" "$tmp/foreign" \
	--tls-key "$pki/foreign-key.pem" --tls-cert "$pki/foreign-cert.pem" --tls-cert "$pki/cert.pem"
dumps "signed with the revoked key, checked against the CA without its CRL" "$tmp/revoked" \
	--tls-key "$pki/revoked-key.pem" --tls-cert "$pki/revoked-cert.pem" --tls-cert "$pki/cert.pem" "${ca[@]}"
dumps "signed with the expired key" "$tmp/expired" \
	--tls-key "$pki/expired-key.pem" --tls-cert "$pki/expired-cert.pem" --tls-cert "$pki/cert.pem"
dumps "signed with an encrypted PKCS#8 key (--tls-key-pass-file)" "$tmp/pkcs8" \
	--tls-cert "$pki/pkcs8-cert.pem" --tls-key "$pki/pkcs8-key.pem" --tls-key-pass-file "$pki/pkcs8.pass"

check "keys: two is not signed (no signature.img)" test ! -e "$tmp/two/signature.img"
for d in ec:ec-cert:ecdsa-p256-sha256 ec384:ec384-cert:ecdsa-p384-sha384 signed:cert:rsa-pss-sha256 signed-ec:cert:rsa-pss-sha256 \
	foreign:foreign-cert:rsa-pss-sha256 pkcs8:pkcs8-cert:rsa-pss-sha256; do
	IFS=: read -r d c alg <<<"$d"
	info=$(sig_info "$tmp/$d/signature.img" "$pki/$c.pem" 2>&1)
	check "keys: $d/signature.img is a $alg signature by $c.pem ($info)" test "$info" = "$alg signer"
done

# 1 to 16 recipients: seventeen more certificates of the CA (ECDSA P-256)
cat >"$tmp/many.tmpl" <<T
cn = criu test many (test only)
signing_key
expiration_days = 30
T
many=()
for i in $(seq 17); do
	certtool --generate-privkey --key-type=ecdsa --outfile="$tmp/many$i-key.pem" 2>/dev/null
	certtool --generate-certificate --load-privkey="$tmp/many$i-key.pem" --template="$tmp/many.tmpl" \
		--load-ca-certificate="$pki/cacert.pem" --load-ca-privkey="$pki/cakey.pem" \
		--outfile="$tmp/many$i-cert.pem" 2>/dev/null
	chmod 600 "$tmp/many$i-key.pem"
	many+=(--tls-cert "$tmp/many$i-cert.pem")
done
dumps "for 16 recipients" "$tmp/many" "${many[@]:0:32}"

# refused recipients and keys
dump_refused "for 17 recipients" "$tmp/x-many" "many17-cert\.pem: " "${many[@]}"
dump_refused "for an expired recipient with --tls-cacert" "$tmp/x-expired" "expired-cert\.pem: .*[Ee]xpired" \
	--tls-cert "$pki/expired-cert.pem" "${ca[@]}"
dump_refused "for an expired second recipient with --tls-cacert" "$tmp/x-expired2" "expired-cert\.pem: " \
	--tls-cert "$pki/cert.pem" --tls-cert "$pki/expired-cert.pem" "${ca[@]}"
dump_refused "for a revoked recipient with --tls-cacert and --tls-cacrl" "$tmp/x-revoked" \
	"revoked-cert\.pem: .*[Rr]evoked" --tls-cert "$pki/revoked-cert.pem" "${ca[@]}" "${crl[@]}"
dump_refused "for a foreign CA's recipient with --tls-cacert" "$tmp/x-foreign" "foreign-cert\.pem: " \
	--tls-cert "$pki/foreign-cert.pem" "${ca[@]}"
dump_refused "for an Ed25519 recipient" "$tmp/x-ed" "ed-cert\.pem: .*unsupported key type" \
	--tls-cert "$pki/ed-cert.pem"
dump_refused "signed with a key of none of the --tls-cert" "$tmp/x-nomatch" "/key\.pem: " \
	--tls-cert "$pki/other-cert.pem" --tls-key "$pki/key.pem"
cp "$pki/key.pem" "$tmp/key644.pem"
chmod 644 "$tmp/key644.pem"
dump_refused "signed with a key file of mode 644" "$tmp/x-mode" "key644\.pem: " \
	--tls-cert "$pki/cert.pem" --tls-key "$tmp/key644.pem"
printf 'not-the-passphrase' >"$tmp/wrong.pass"
chmod 600 "$tmp/wrong.pass"
dump_refused "signed with an encrypted key and a wrong passphrase" "$tmp/x-pass" "pkcs8-key\.pem: " \
	--tls-cert "$pki/pkcs8-cert.pem" --tls-key "$pki/pkcs8-key.pem" --tls-key-pass-file "$tmp/wrong.pass"

kill -9 "$pid"
wait_for '[ "$(instances)" = 0 ]' 10 || {
	not_ok "keys: the workload ends"
	exit 1
}

# 2. Recipients
restores "two, with key.pem" "$tmp/two" --tls-key "$pki/key.pem"
for k in other-key ec384-key key; do
	restores "three (a configuration file's recipients and the command line's), with $k.pem" "$tmp/three" \
		--tls-key "$pki/$k.pem"
done
restores "two, with ec-key.pem" "$tmp/two" --tls-key "$pki/ec-key.pem"
refused "two, with other-key.pem" "$tmp/two" "other-key\.pem" --tls-key "$pki/other-key.pem"
crit_ps "of two with key.pem" "$tmp/two" --tls-key "$pki/key.pem"
crit_ps "of two with ec-key.pem" "$tmp/two" --tls-key "$pki/ec-key.pem"
restores "ec, with ec-key.pem and --tls-cacert" "$tmp/ec" --tls-key "$pki/ec-key.pem" "${ca[@]}"
refused "ec, with key.pem" "$tmp/ec" "/key\.pem" --tls-key "$pki/key.pem"
crit_ps "of ec with ec-key.pem" "$tmp/ec" --tls-key "$pki/ec-key.pem"
if crit_t decrypt "$tmp/ec" "$tmp/ec-plain" --tls-key "$pki/ec-key.pem" 2>"$tmp/ec-plain.err" >/dev/null; then
	check "keys: crit decrypt of ec with ec-key.pem gives a plain checkpoint" \
		test ! -e "$tmp/ec-plain/cipher.img" -a "$(head -c 8 "$tmp/ec-plain/core-1.img")" != CRIUSEAL
	crit_ps "of its plain copy" "$tmp/ec-plain"
	check "keys: ... whose memory holds the secret (crit grep)" \
		eval 'crit_t grep "$tmp/ec-plain" "$secret" >/dev/null'
else
	not_ok "keys: crit decrypt of ec with ec-key.pem ($(head -n 1 "$tmp/ec-plain.err"))"
fi
restores "ec384, with ec384-key.pem and --tls-cacert" "$tmp/ec384" --tls-key "$pki/ec384-key.pem" "${ca[@]}"
crit_ps "of ec384 with ec384-key.pem" "$tmp/ec384" --tls-key "$pki/ec384-key.pem"

# 3. Signatures
restores "signed, with --tls-cacert" "$tmp/signed" --tls-key "$pki/key.pem" "${ca[@]}"
restores "signed, with --tls-cacert and --tls-cacrl" "$tmp/signed" --tls-key "$pki/key.pem" "${ca[@]}" "${crl[@]}"
restores "signed-ec (signed by cert.pem), with ec-key.pem and --tls-cacert" "$tmp/signed-ec" \
	--tls-key "$pki/ec-key.pem" "${ca[@]}"
restores "pkcs8 (signed by it), with --tls-cacert" "$tmp/pkcs8" \
	--tls-key "$pki/pkcs8-key.pem" --tls-key-pass-file "$pki/pkcs8.pass" "${ca[@]}"
if crit_t decrypt "$tmp/signed" "$tmp/signed-plain" --tls-key "$pki/key.pem" "${ca[@]}" 2>"$tmp/signed-plain.err" >/dev/null; then
	check "keys: crit decrypt --tls-cacert of signed names its signer ($(grep -m1 'cert\.pem' "$tmp/signed-plain.err"))" \
		grep -q 'criu test cert\.pem' "$tmp/signed-plain.err"
else
	not_ok "keys: crit decrypt --tls-cacert of signed ($(head -n 1 "$tmp/signed-plain.err"))"
fi
k=(--tls-key "$pki/key.pem")
refused "two (not signed), with --tls-cacert" "$tmp/two" "not signed" "${k[@]}" "${ca[@]}"
# the foreign checkpoint's signature is good, but not by the CA's
restores "foreign, without --tls-cacert" "$tmp/foreign" "${k[@]}"
refused "foreign, with --tls-cacert" "$tmp/foreign" "signature\.img" "${k[@]}" "${ca[@]}"
restores "revoked (signed with the revoked key), with --tls-cacert and no CRL" "$tmp/revoked" "${k[@]}" "${ca[@]}"
refused "revoked, with --tls-cacert and --tls-cacrl" "$tmp/revoked" "signature\.img: .*[Rr]evoked" \
	"${k[@]}" "${ca[@]}" "${crl[@]}"
restores "foreign, with the foreign CA for --tls-cacert" "$tmp/foreign" "${k[@]}" --tls-cacert "$pki/foreign-cacert.pem"
# the signer's validity is checked at the time of the restore
restores "expired (signed with the expired key), without --tls-cacert" "$tmp/expired" "${k[@]}"
refused "expired, with --tls-cacert" "$tmp/expired" "signature\.img: .*[Ee]xpired" "${k[@]}" "${ca[@]}"
restores "many, with the key of its 16th recipient" "$tmp/many" --tls-key "$tmp/many16-key.pem"
restores "many, with the key of its 1st recipient" "$tmp/many" --tls-key "$tmp/many1-key.pem"

# signature.img changed, moved, replaced
variant() { # NAME: a copy of the checkpoint signed as $tmp/NAME
	rm -rf "${tmp:?}/$1"
	cp -a "$tmp/signed" "$tmp/$1"
	rm -f "$tmp/$1"/*.log "$tmp/$1/pid"
}
variant s-removed
rm "$tmp/s-removed/signature.img"
refused "signed, its signature.img removed, with --tls-cacert" "$tmp/s-removed" "not signed" "${k[@]}" "${ca[@]}"
variant s-value
size=$(stat -c %s "$tmp/s-value/signature.img")
flip_byte "$tmp/s-value/signature.img" $((size - 1))
refused "signed, the last byte of signature.img (the signature) flipped, with --tls-cacert" \
	"$tmp/s-value" "signature\.img" "${k[@]}" "${ca[@]}"
refused "... and without --tls-cacert" "$tmp/s-value" "signature\.img" "${k[@]}"
variant s-cert
flip_byte "$tmp/s-cert/signature.img" 300
refused "signed, a byte of the signer's certificate in signature.img flipped, with --tls-cacert" \
	"$tmp/s-cert" "signature\.img" "${k[@]}" "${ca[@]}"
variant s-other
cp "$tmp/signed2/signature.img" "$tmp/s-other/signature.img"
refused "signed, with the signature.img of another checkpoint (by the same key), with --tls-cacert" \
	"$tmp/s-other" "signature\.img" "${k[@]}" "${ca[@]}"
refused "... and without --tls-cacert" "$tmp/s-other" "signature\.img" "${k[@]}"
variant s-link
mv "$tmp/s-link/signature.img" "$tmp/s-link.sig"
ln -s ../s-link.sig "$tmp/s-link/signature.img"
refused "signed, signature.img a symbolic link to it, with --tls-cacert" \
	"$tmp/s-link" "signature\.img" "${k[@]}" "${ca[@]}"
variant s-fifo
rm "$tmp/s-fifo/signature.img"
mkfifo "$tmp/s-fifo/signature.img"
CRIU_TIMEOUT=30 refused "signed, signature.img a FIFO, with --tls-cacert" \
	"$tmp/s-fifo" "signature\.img" "${k[@]}" "${ca[@]}"
# and CRIT
crit_refuses() { # DIR PATTERN [ARGS]: crit decrypt (ARGS) refuses DIR in one line, naming PATTERN
	local out rc d=$1 pattern=$2 how
	shift 2
	how=${*//"$pki/"/}
	out=$(crit_t decrypt "$tmp/$d" "$tmp/$d-plain" "${k[@]}" "$@" 2>&1)
	rc=$?
	check "keys: crit decrypt ${how:-without --tls-cacert} refuses $d: $out" \
		test $rc != 0 -a ! -e "$tmp/$d-plain" -a "$(grep -c . <<<"$out")" = 1
	check "keys: ... naming it" grep -qE "^crit: .*$pattern" <<<"$out"
}
crit_refuses two "not signed" "${ca[@]}"
crit_refuses foreign "signature\.img" "${ca[@]}"
crit_refuses revoked "signature\.img" "${ca[@]}" "${crl[@]}"
crit_refuses expired "signature\.img" "${ca[@]}"
crit_refuses s-value "signature\.img" "${ca[@]}"
crit_refuses s-value "signature\.img"
crit_refuses s-other "signature\.img"

# 4. crit rewrap
rewrap() { # WHAT DIR ARGS...: crit rewrap DIR ARGS succeeds and changes only cipher.img
	local what=$1 dir=$2 before out
	shift 2
	before=$(sum "$dir")
	if out=$(crit_t rewrap "$dir" "$@" 2>&1); then
		ok "keys: crit rewrap $what"
		check "keys: ... changes no file but cipher.img" test "$(sum "$dir")" = "$before"
	else
		not_ok "keys: crit rewrap $what ($out)"
	fi
}
rewrap_refused() { # WHAT DIR PATTERN ARGS...: crit rewrap DIR ARGS fails in one line, changing nothing
	local what=$1 dir=$2 pattern=$3 before out
	shift 3
	before=$(md5sum <"$dir/cipher.img")
	if out=$(crit_t rewrap "$dir" "$@" 2>&1); then
		not_ok "keys: crit rewrap $what is refused (it succeeded)"
		return
	fi
	check "keys: crit rewrap $what is refused: $out" grep -qE "^crit: .*$pattern" <<<"$out"
	check "keys: ... in one line, cipher.img unchanged" \
		test "$(grep -c . <<<"$out")" = 1 -a "$(md5sum <"$dir/cipher.img")" = "$before"
}
variant rw
rewrap "of signed from key.pem to other-cert.pem" "$tmp/rw" "${k[@]}" --tls-cert "$pki/other-cert.pem"
restores "signed, rewrapped, with other-key.pem and --tls-cacert" "$tmp/rw" --tls-key "$pki/other-key.pem" "${ca[@]}"
refused "signed, rewrapped, with key.pem (dropped)" "$tmp/rw" "/key\.pem" "${k[@]}"
variant rw-keep
rewrap "--keep of signed from key.pem to other-cert.pem" "$tmp/rw-keep" "${k[@]}" \
	--tls-cert "$pki/other-cert.pem" --keep
restores "signed, rewrapped with --keep, with key.pem and --tls-cacert" "$tmp/rw-keep" "${k[@]}" "${ca[@]}"
restores "signed, rewrapped with --keep, with other-key.pem and --tls-cacert" "$tmp/rw-keep" \
	--tls-key "$pki/other-key.pem" "${ca[@]}"
variant rw-two
rewrap "of signed to other-cert.pem and ec384-cert.pem" "$tmp/rw-two" "${k[@]}" \
	--tls-cert "$pki/other-cert.pem" --tls-cert "$pki/ec384-cert.pem"
restores "signed, rewrapped to two, with ec384-key.pem and --tls-cacert" "$tmp/rw-two" \
	--tls-key "$pki/ec384-key.pem" "${ca[@]}"
refused "signed, rewrapped to two, with key.pem (dropped)" "$tmp/rw-two" "/key\.pem" "${k[@]}"
variant rw-bad
rewrap_refused "with a key that is no recipient" "$tmp/rw-bad" "other-key\.pem|cipher\.img" \
	--tls-key "$pki/other-key.pem" --tls-cert "$pki/ec-cert.pem"
rewrap_refused "to an Ed25519 certificate" "$tmp/rw-bad" "ed-cert\.pem" "${k[@]}" --tls-cert "$pki/ed-cert.pem"

# 5. Private keys
refused "signed, with a key file of mode 644" "$tmp/signed" "key644\.pem: " --tls-key "$tmp/key644.pem"
restores "signed, with a key file of mode 644 and --tls-key-any-mode" "$tmp/signed" \
	--tls-key "$tmp/key644.pem" --tls-key-any-mode
cp -p "$pki/key.pem" "$tmp/key640.pem"
chmod 640 "$tmp/key640.pem"
refused "signed, with a key file of mode 640" "$tmp/signed" "key640\.pem: " --tls-key "$tmp/key640.pem"
p8=(--tls-key "$pki/pkcs8-key.pem")
restores "pkcs8, with its encrypted key and --tls-key-pass-file" "$tmp/pkcs8" "${p8[@]}" \
	--tls-key-pass-file "$pki/pkcs8.pass"
CRIU_TLS_KEY_PASS=$(cat "$pki/pkcs8.pass")
export CRIU_TLS_KEY_PASS
restores "pkcs8, with its encrypted key and CRIU_TLS_KEY_PASS" "$tmp/pkcs8" "${p8[@]}"
export CRIU_TLS_KEY_PASS=not-the-passphrase
refused "pkcs8, with a wrong CRIU_TLS_KEY_PASS" "$tmp/pkcs8" "pkcs8-key\.pem: " "${p8[@]}"
unset CRIU_TLS_KEY_PASS
refused "pkcs8, with a wrong --tls-key-pass-file" "$tmp/pkcs8" "pkcs8-key\.pem: " "${p8[@]}" \
	--tls-key-pass-file "$tmp/wrong.pass"
refused "pkcs8, with no passphrase" "$tmp/pkcs8" "pkcs8-key\.pem: " "${p8[@]}"
# the passphrase file is as secret as the key, and its line may end
cp "$pki/pkcs8.pass" "$tmp/p644.pass"
chmod 644 "$tmp/p644.pass"
refused "pkcs8, with a passphrase file of mode 644" "$tmp/pkcs8" "p644\.pass: " "${p8[@]}" \
	--tls-key-pass-file "$tmp/p644.pass"
{ cat "$pki/pkcs8.pass" && echo; } >"$tmp/nl.pass"
chmod 600 "$tmp/nl.pass"
restores "pkcs8, with a passphrase file of one line that ends (a newline)" "$tmp/pkcs8" "${p8[@]}" \
	--tls-key-pass-file "$tmp/nl.pass"
exit $T_FAILED
