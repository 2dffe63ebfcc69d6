# Encrypted checkpoints through criu swrk, as container engines ask for
# them: libcriu (lib/c) and pycriu dump a real process encrypted and
# restore it with the key, also for several recipients (each key
# restores), and libcriu's feature check finds encryption.
# A missing certificate, a wrong key and a changed page are refused with
# criu's errno in the response (ENOKEY, EKEYREJECTED, EBADMSG) and its
# first error line; the process keeps running after a failed dump, and
# nothing is left of a failed restore.  A restore with opts.encrypt (the
# policy) refuses a plain checkpoint.
. "$(dirname "$0")/lib.sh"
e2e_setup rpc
keeper=$(e2e_cc secret-keeper)
client=$(e2e_libcriu_client)
marker="$tmp/secret"
lcc() { timeout -k 5 "$CRIU_TIMEOUT" "$client" "$CRIU" "$@"; }
pyc() { PYTHONPATH="$E2E_TOP/build/python" timeout -k 5 "$CRIU_TIMEOUT" /usr/bin/python3 "$E2E_TOP/test/e2e/rpc-client.py" "$CRIU" "$@"; }

start() {
	secret="s3cr3t-$RANDOM$RANDOM$RANDOM"
	echo "$secret" >"$marker"
	: >"$tmp/log"
	pid=$(start_in_pidns "$keeper" "$marker" "$tmp/log")
	wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
}
running() { grep -qsF "$marker" /proc/[0-9]*/cmdline; }
ticking() { # the workload counts on from tick $1
	local t=$(($1 + 2))
	wait_for '[ "$(last_tick)" -gt '$t' ]' 10 && not grep -q CORRUPTED "$tmp/log"
}
# restored NAME OUTPUT: a restore gave a pid, whose process counts on from $before
restored() {
	if check "$1 ($2)" test "$2" -gt 0 2>/dev/null; then
		track_pid "$2"
		check "rpc: ... the process counts on from tick $before" ticking "$before"
	fi
}
# refused NAME ERRNO PATTERN OUTPUT: a request failed with criu's ERRNO
refused() {
	check "$1: refused with errno $2 ($4)" grep -q "^failed: .*\b$2\b" <<<"$4"
	[ -z "$3" ] || check "$1: ... and the message says what is wrong" grep -q "$3" <<<"$4"
}

check "rpc: libcriu's feature check: $(lcc feature)" test "$(lcc feature)" = "encryption: yes"

# libcriu
start
mkdir -p "$tmp/nocert" "$tmp/d"
out=$(lcc dump "$pid" "$tmp/nocert" "$tmp/none.pem")
refused "rpc: libcriu dump for a missing certificate" 126 "" "$out"
check "rpc: ... criu's log names it" grep -q "none.pem: can't read" "$tmp/nocert/rpc.log"
before=$(last_tick)
check "rpc: ... and the process counts on (tick $before)" ticking "$before"
out=$(lcc dump "$pid" "$tmp/d" "$pki/cert.pem")
check "rpc: libcriu dump with criu_set_encrypt() and criu_set_tls_cert() ($out)" test "$out" = dumped
check "rpc: ... the checkpoint is encrypted (cipher.img, manifest.img)" test -s "$tmp/d/cipher.img" -a -s "$tmp/d/manifest.img"
check "rpc: ... and the secret is in no file of it" not grep -rqF "$secret" "$tmp/d"
wait_for 'not running' 10

out=$(lcc restore "$tmp/d" "$pki/other-key.pem")
refused "rpc: libcriu restore with another key" 129 "" "$out"
check "rpc: ... criu's log says so" grep -q "encrypted for another key" "$tmp/d/rpc.log"
check "rpc: ... and no process is left" not running

cp -a "$tmp/d" "$tmp/flip"
pages=$(ls "$tmp/flip"/pages-*.img | head -n 1)
printf '\xff' | dd of="$pages" bs=1 seek=$(($(stat -c %s "$pages") - 100)) conv=notrunc status=none
out=$(lcc restore "$tmp/flip" "$pki/key.pem")
refused "rpc: libcriu restore of a checkpoint with a changed page" 74 "" "$out"
check "rpc: ... criu's log says so" grep -q "fails authentication" "$tmp/flip/rpc.log"
check "rpc: ... and no process is left" not running

before=$(last_tick)
restored "rpc: libcriu restore with criu_set_tls_key()" "$(lcc restore "$tmp/d" "$pki/key.pem")"
e2e_cleanup

# several recipients through libcriu (criu_add_tls_cert()): each key restores
start
mkdir -p "$tmp/two"
out=$(lcc dump "$pid" "$tmp/two" "$pki/cert.pem" "$pki/ec-cert.pem")
check "rpc: libcriu dump for two recipients, criu_add_tls_cert() ($out)" test "$out" = dumped
wait_for 'not running' 10
cp -a "$tmp/two" "$tmp/two-rsa"
before=$(last_tick)
restored "rpc: ... the EC recipient's key restores it" "$(lcc restore "$tmp/two" "$pki/ec-key.pem")"
e2e_cleanup
wait_for 'not running' 10
before=$(last_tick)
restored "rpc: ... and so does the RSA recipient's" "$(lcc restore "$tmp/two-rsa" "$pki/key.pem")"
e2e_cleanup

# pycriu
start
mkdir -p "$tmp/py"
out=$(pyc dump "$pid" "$tmp/py" "$pki/cert.pem")
check "rpc: pycriu dump with opts.encrypt and opts.tls_cert ($out)" test "$out" = dumped
check "rpc: ... the secret is in no file of it" not grep -rqF "$secret" "$tmp/py"
wait_for 'not running' 10
out=$(pyc restore "$tmp/py" "$pki/other-key.pem")
refused "rpc: pycriu restore with another key" 129 "encrypted for another key" "$out"
check "rpc: ... and no process is left" not running
before=$(last_tick)
restored "rpc: pycriu restore with opts.tls_key" "$(pyc restore "$tmp/py" "$pki/key.pem")"
e2e_cleanup

# several recipients through pycriu (opts.tls_certs besides opts.tls_cert)
start
mkdir -p "$tmp/py2"
out=$(pyc dump "$pid" "$tmp/py2" "$pki/other-cert.pem" "$pki/cert.pem")
check "rpc: pycriu dump with opts.tls_cert and opts.tls_certs ($out)" test "$out" = dumped
wait_for 'not running' 10
before=$(last_tick)
restored "rpc: ... the key of opts.tls_certs' certificate restores it" "$(pyc restore "$tmp/py2" "$pki/key.pem")"
e2e_cleanup

# the restore policy over RPC: opts.encrypt on a restore refuses a plain checkpoint
start
mkdir -p "$tmp/plain"
out=$(pyc dump "$pid" "$tmp/plain")
check "rpc: pycriu plain dump ($out)" test "$out" = dumped
wait_for 'not running' 10
out=$(pyc restore "$tmp/plain" "$pki/key.pem" encrypt)
refused "rpc: pycriu restore with opts.encrypt of a plain checkpoint" 74 "not an encrypted checkpoint" "$out"
check "rpc: ... and no process is left" not running
before=$(last_tick)
restored "rpc: ... without opts.encrypt it restores" "$(pyc restore "$tmp/plain" "$pki/key.pem")"
exit $T_FAILED
