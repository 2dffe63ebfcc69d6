# CRIT, the second decoder of the format (lib/pycriu/crypt.py, written from
# Documentation/encryption-format.txt with Python's cryptography): 'crit decrypt'
# makes a plain copy of an encrypted checkpoint that criu restores without
# any key; a tampered checkpoint or a wrong key gives a one-line error and
# no copy.
. "$(dirname "$0")/lib.sh"
e2e_setup crit
keeper=$(e2e_cc secret-keeper)

secret="crit-$RANDOM$RANDOM$RANDOM"
echo "$secret" >"$tmp/secret"
pid=$(start_in_pidns "$keeper" "$tmp/secret" "$tmp/log" fork)
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
mkdir "$tmp/enc"
criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem" ||
	not_ok "crit: encrypted dump"

out=$(crit_t decrypt "$tmp/enc" "$tmp/plain" --tls-key "$pki/key.pem" 2>&1)
check "crit: decrypt makes a plain copy ($out)" test -f "$tmp/plain/core-1.img" -a ! -e "$tmp/plain/cipher.img"
check "crit: the copy holds the secret in the clear (pages)" grep -qaF "$secret" "$tmp"/plain/pages-*.img
check "crit: crit x ps reads the copy" grep -q secret-keeper <<<"$(crit_t x "$tmp/plain" ps 2>&1)"
before=$(last_tick)
if criu_t restore -D "$tmp/plain" -d -o restore.log -v4 --pidfile "$tmp/plain/pid"; then
	track_pid "$(cat "$tmp/plain/pid")"
	wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
	check "crit: criu restores the plain copy without a key, and the process counts on" \
		test "$(last_tick)" -gt "$before"
	check "crit: ... its secret intact" test -z "$(grep CORRUPTED "$tmp/log")"
else
	not_ok "crit: criu restores the plain copy without a key"
	show_log_errors "$tmp/plain/restore.log"
fi

# crit reads the encrypted checkpoint directly, with the key, as it reads the plain copy
for cmd in "show core-1.img" "show mm-1.img" "show pagemap-1.img" "show files.img" "info core-1.img" \
	"x . ps" "x . fds" "x . mems" "x . rss"; do
	set -- $cmd
	a=$(cd "$tmp/enc" && crit_t "$@" --tls-key "$pki/key.pem" 2>&1)
	b=$(cd "$tmp/plain" && crit_t "$@" 2>&1)
	check "crit: 'crit $cmd' reads the encrypted checkpoint as the plain copy ($(wc -l <<<"$a") lines)" \
		test -n "$a" -a "$a" = "$b"
done
out=$(cd "$tmp/enc" && crit_t show core-1.img --tls-key "$pki/other-key.pem" 2>&1)
check "crit: show with another key: one line: $out" grep -qx "crit: .*encrypted for another key.*" <<<"$out"

refused() { # name, expected message, crit decrypt arguments
	local name=$1 want=$2 out
	shift 2
	rm -rf "$tmp/out"
	out=$(crit_t decrypt "$@" "$tmp/out" 2>&1) && {
		not_ok "crit: $name is refused (it succeeded)"
		return
	}
	check "crit: $name is refused in one line: $out" grep -qE "^crit: .*$want" <<<"$out"
	check "crit: ... and nothing is written" test ! -e "$tmp/out"
}
refused "another key" "encrypted for another key" "$tmp/enc" --tls-key "$pki/other-key.pem"
refused "a missing key" "can't read" "$tmp/enc" --tls-key "$tmp/none.pem"
refused "an EC key of no recipient" "encrypted for another key" "$tmp/enc" --tls-key "$pki/ec-key.pem"
refused "an Ed25519 key" "(encrypted for another key|unsupported key type)" "$tmp/enc" --tls-key "$pki/ed-key.pem"
refused "a plain checkpoint" "not an encrypted checkpoint" "$tmp/plain" --tls-key "$pki/key.pem"
cp -a "$tmp/enc" "$tmp/t1"
flip_byte "$tmp/t1/core-1.img" 100
refused "a tampered image" "core-1.img: authentication failed" "$tmp/t1" --tls-key "$pki/key.pem"
cp -a "$tmp/enc" "$tmp/t2"
flip_byte "$tmp/t2/pages-1.img" 5000
refused "a tampered page" "pages-1.img: page 1 fails authentication" "$tmp/t2" --tls-key "$pki/key.pem"
cp -a "$tmp/enc" "$tmp/t3"
truncate -s -1 "$tmp/t3/mm-1.img"
refused "a truncated image" "mm-1.img: (truncated|authentication failed)" "$tmp/t3" --tls-key "$pki/key.pem"
cp -a "$tmp/enc" "$tmp/t4"
/usr/bin/python3 -c ' # a cipher.img of a format 3
import struct, sys
sys.path.insert(0, sys.argv[2])
from pycriu import images
p = sys.argv[1]
data = open(p, "rb").read()
ce = images.pb.cipher_entry()
ce.ParseFromString(data[12:])
ce.format = 3
body = ce.SerializeToString()
open(p, "wb").write(data[:8] + struct.pack("<I", len(body)) + body)
' "$tmp/t4/cipher.img" "$E2E_TOP/build/python"
refused "a newer format" "cipher.img: unsupported format version 3" "$tmp/t4" --tls-key "$pki/key.pem"

# Forensics: the memory of the tasks, read from the encrypted checkpoint
k=(--tls-key "$pki/key.pem")
a=$(crit_t grep "$tmp/enc" "$secret" "${k[@]}" 2>&1)
b=$(crit_t grep "$tmp/plain" "$secret" 2>&1)
check "crit: grep finds the secret in both tasks' memory ($(wc -l <<<"$a") places)" \
	test "$(cut -f1 <<<"$a" | sort -u | wc -l)" = 2
check "crit: ... at the same places as in the plain copy" test "$a" = "$b"
addr=$(head -n 1 <<<"$a" | cut -f2)
task=$(head -n 1 <<<"$a" | cut -f1)
end=$(printf %x $((0x$addr + ${#secret})))
check "crit: mem TASK ADDR-END gives the secret's bytes" \
	test "$(crit_t mem "$tmp/enc" "$task" "$addr-$end" "${k[@]}")" = "$secret"
crit_t mem "$tmp/enc" "$task" "$addr" -o "$tmp/m.enc" "${k[@]}" 2>/dev/null
crit_t mem "$tmp/plain" "$task" "$addr" -o "$tmp/m.plain" 2>/dev/null
check "crit: mem TASK ADDR writes the rest of its mapping ($(stat -c %s "$tmp/m.enc" 2>/dev/null) bytes), as from the copy" \
	cmp -s "$tmp/m.enc" "$tmp/m.plain"
check "crit: mem --hex prints a hex dump" \
	grep -q "^0*$addr: " <<<"$(crit_t mem "$tmp/enc" "$task" "$addr-$end" --hex "${k[@]}")"
out=$(crit_t grep "$tmp/enc" "no-such-$secret" "${k[@]}" 2>&1)
check "crit: grep of what is nowhere: exit 1, no output" test $? = 1 -a -z "$out"
out=$(crit_t grep "$tmp/t2" "$secret" "${k[@]}" 2>/dev/null)
err=$(crit_t grep "$tmp/t2" "$secret" "${k[@]}" 2>&1 >/dev/null)
check "crit: grep in a tampered checkpoint: one line, no partial output: $err" \
	test -z "$out" -a "$(wc -l <<<"$err")" = 1 -a -n "$err"
out=$(crit_t mem "$tmp/enc" 1 "$addr" --tls-key "$pki/other-key.pem" 2>&1)
check "crit: mem with another key: one line: $out" grep -qx "crit: .*encrypted for another key.*" <<<"$out"

# criu-coredump: the same core files from the encrypted checkpoint and the copy
mkdir "$tmp/core.enc" "$tmp/core.plain"
timeout 120 "$E2E_TOP/build/bin/criu-coredump" -i "$tmp/enc" -o "$tmp/core.enc" "${k[@]}"
timeout 120 "$E2E_TOP/build/bin/criu-coredump" -i "$tmp/plain" -o "$tmp/core.plain"
check "criu-coredump: core files of an encrypted checkpoint ($(ls "$tmp/core.enc" | tr '\n' ' '))" \
	grep -q "Type: *CORE" <<<"$(readelf -h "$tmp/core.enc/core.1" 2>&1)"
check "criu-coredump: ... hold the secret" grep -qaF "$secret" "$tmp/core.enc/core.1"
check "criu-coredump: ... equal those of the plain copy" diff -r "$tmp/core.enc" "$tmp/core.plain"
out=$(timeout 120 "$E2E_TOP/build/bin/criu-coredump" -i "$tmp/enc" -o "$tmp/core.enc" \
	--tls-key "$pki/other-key.pem" 2>&1)
check "criu-coredump: another key: one line: $out" grep -qx "criu-coredump: .*encrypted for another key.*" <<<"$out"
exit $T_FAILED
