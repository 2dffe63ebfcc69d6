# An encrypted checkpoint is untrusted input: whoever can write the images
# directory can put anything there.  criu restore reads only regular
# files the manifest lists, sealed under the checkpoint's key, and
# bounds every length it reads before authentication.  Each planted or
# malformed file below is refused with one line naming it, without a
# crash, an abort or a hang, and no restored process is left.
. "$(dirname "$0")/lib.sh"
e2e_setup planted
keeper=$(e2e_cc secret-keeper) || exit 1
marker="$tmp/secret"
instances() { grep -lsF "$marker" /proc/[0-9]*/cmdline | wc -l; }

echo "planted-$RANDOM$RANDOM" >"$marker"
: >"$tmp/log"
pid=$(start_in_pidns "$keeper" "$marker" "$tmp/log" fork)
track_pid "$pid"
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
mkdir "$tmp/plain" "$tmp/enc"
criu_t dump -t "$pid" -D "$tmp/plain" -o dump.log -v4 -R || not_ok "planted: plain dump"
criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem" ||
	not_ok "planted: encrypted dump"
wait_for '[ "$(instances)" = 0 ]' 10
rm -f "$tmp"/enc/*.log

# An image restore opens but the dump did not write: "No NAME image" in
# the log of a restore of the good checkpoint (which then is killed)
criu_t restore -D "$tmp/enc" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/pid" &&
	track_pid "$(cat "$tmp/pid")" && kill -9 "$(cat "$tmp/pid")"
absent=$(grep -m1 -oE 'No [a-z0-9-]+\.img image' "$tmp/enc/restore.log" | cut -d' ' -f2)
wait_for '[ "$(instances)" = 0 ]' 10
rm -f "$tmp"/enc/*.log "$tmp/enc/stats-restore"

# variant NAME: a copy of the checkpoint in $tmp/NAME
variant() {
	mkdir "$tmp/$1"
	cp -a "$tmp/enc/." "$tmp/$1/"
}
# refused NAME PATTERN: criu restore of $tmp/NAME fails with one error line
# matching PATTERN, neither killed by a signal nor by the timeout
refused() {
	local rc
	CRIU_TIMEOUT=30 check_refused "planted: $1" "$tmp/$1" "$pki/key.pem" "$2" instances
	criu_t restore -D "$tmp/$1" -o again.log -v4 --tls-key "$pki/key.pem" >/dev/null 2>&1
	rc=$?
	check "planted: ... criu exits with an error, no crash or hang (exit $rc)" test "$rc" = 1
}
# cipher.img rewritten by python: $1 the variant, $2 the code (data in d)
edit_cipher() {
	/usr/bin/python3 -c "import struct, sys
p = sys.argv[1]
d = open(p, 'rb').read()
$2
open(p, 'wb').write(d)" "$tmp/$1/cipher.img"
}

variant size-ffffffff
edit_cipher size-ffffffff "d = d[:8] + struct.pack('<I', 0xffffffff) + d[12:]"
refused size-ffffffff "cipher.img: malformed \(an entry of 4294967295 bytes"
variant inner-size
# the length of the first bytes field (id, tag 0x12) made far too big
edit_cipher inner-size "i = d.index(b'\x12\x10', 12); d = d[:i + 1] + b'\xff\xff\xff\x7f' + d[i + 2:]"
refused inner-size "cipher.img: malformed"
variant huge-cipher
truncate -s 1G "$tmp/huge-cipher/cipher.img"
refused huge-cipher "cipher.img: too big \(1073741824 bytes\)"
variant fifo-cipher
rm "$tmp/fifo-cipher/cipher.img" && mkfifo "$tmp/fifo-cipher/cipher.img"
refused fifo-cipher "cipher.img: not a regular file"
variant fifo-pstree
rm "$tmp/fifo-pstree/pstree.img" && mkfifo "$tmp/fifo-pstree/pstree.img"
refused fifo-pstree "pstree.img: not a regular file"
variant symlink-core
mv "$tmp/symlink-core/core-1.img" "$tmp/core-1.img.elsewhere"
ln -s "$tmp/core-1.img.elsewhere" "$tmp/symlink-core/core-1.img"
refused symlink-core "core-1.img: not a regular file"
variant symlink-manifest
mv "$tmp/symlink-manifest/manifest.img" "$tmp/manifest.img.elsewhere"
ln -s "$tmp/manifest.img.elsewhere" "$tmp/symlink-manifest/manifest.img"
refused symlink-manifest "manifest.img: not a regular file \(a symlink\)"
variant dir-tags
rm "$tmp/dir-tags/pagetags.img" && mkdir "$tmp/dir-tags/pagetags.img"
refused dir-tags "pagetags.img: not a regular file"
variant plain-core
cp "$tmp/plain/core-1.img" "$tmp/plain-core/core-1.img"
refused plain-core "core-1.img: not an encrypted image"
variant plain-pstree
cp "$tmp/plain/pstree.img" "$tmp/plain-pstree/pstree.img"
refused plain-pstree "pstree.img: not an encrypted image"
if [ -n "$absent" ]; then
	# a sealed image of this very checkpoint under the name of one the dump
	# did not write: sealed, but not listed
	variant unlisted
	cp "$tmp/enc/core-1.img" "$tmp/unlisted/$absent"
	refused unlisted "$absent: not listed in manifest.img"
else
	not_ok "planted: the restore log names an image the dump did not write"
fi
before=$(last_tick)
rm -f "$tmp/pid"
if criu_t restore -D "$tmp/enc" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/pid"; then
	track_pid "$(cat "$tmp/pid")"
	wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
	check "planted: the checkpoint itself restores, and counts on ($(tail -n 1 "$tmp/log"))" \
		grep -q "tick $((before + 2)): .* intact" "$tmp/log"
else
	not_ok "planted: the checkpoint itself restores"
	show_log_errors "$tmp/enc/restore.log"
fi
exit $T_FAILED
