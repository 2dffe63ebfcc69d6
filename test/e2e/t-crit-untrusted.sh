# CRIT (and criu-coredump) take an encrypted checkpoint for untrusted
# input: whoever can write its directory can plant, replace or link
# anything there.  On real checkpoints of a real process, each case below
# is refused by every command that reads it with ONE line naming the file
# ("crit: FILE: what"), without a traceback or a hang, in memory that does
# not grow with the size of a file: a plain image planted among sealed
# ones, an image the manifest does not list, a FIFO, a symlink, a sparse
# 4 GiB page or sealed image, a malformed cipher.img, a damaged header, and
# the parent links of Documentation/encryption-format.txt (section 9).
# crit decrypt writes only what it decrypted and authenticated, into a
# directory of mode 0700 with files of mode 0600.  Last, a smoke run of the
# mutation fuzzer test/crit/mutate.py and a replay of its kept inputs.
. "$(dirname "$0")/lib.sh"
e2e_setup crit-untrusted
keeper=$(e2e_cc secret-keeper) || exit 1
marker="$tmp/secret"
k=(--tls-key "$pki/key.pem")
coredump=$E2E_TOP/build/bin/criu-coredump

secret="untrusted-$RANDOM$RANDOM$RANDOM"
echo "$secret" >"$marker"
: >"$tmp/log"
pid=$(start_in_pidns "$keeper" "$marker" "$tmp/log" fork)
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
for d in enc2 enc3 enc; do # three encrypted checkpoints of the same process
	mkdir "$tmp/$d"
	r=-R
	[ $d = enc ] && r=
	criu_t dump -t "$pid" -D "$tmp/$d" -o dump.log -v4 $r --encrypt --tls-cert "$pki/cert.pem" ||
		{ not_ok "crit-untrusted: encrypted dump ($d)"; show_log_errors "$tmp/$d/dump.log"; exit 1; }
	rm -f "$tmp/$d/dump.log"
done
crit_t decrypt "$tmp/enc" "$tmp/plain" "${k[@]}" >/dev/null ||
	{ not_ok "crit-untrusted: crit decrypt of the good checkpoint"; exit 1; }
check "crit-untrusted: the good checkpoint reads (crit x ps)" \
	grep -q secret-keeper <<<"$(crit_t x "$tmp/enc" ps "${k[@]}" 2>&1)"

# variant NAME [SRC]: a copy of the checkpoint SRC (default enc) in $tmp/NAME
variant() {
	rm -rf "${tmp:?}/$1"
	cp -a "$tmp/${2:-enc}" "$tmp/$1"
}
# refused NAME PATTERN TOOL ARGS...: the command fails (not by the
# timeout) with exactly one line "TOOL: ...PATTERN..." and no traceback
refused() {
	local name=$1 want=$2 tool=$3 out rc bin=$CRIT
	shift 3
	[ "$tool" = criu-coredump ] && bin=$coredump
	out=$(timeout -k 5 30 "$bin" "$@" 2>&1 </dev/null)
	rc=$?
	if [ $rc = 0 ] || [ $rc -ge 124 ]; then
		not_ok "crit-untrusted: $name: refused (exit $rc: $(head -c 300 <<<"$out"))"
		return 1
	fi
	check "crit-untrusted: $name: $out" \
		test "$(grep -c . <<<"$out")" = 1 -a -z "$(grep -F Traceback <<<"$out")" -a \
		-n "$(grep -E "^$tool: .*$want" <<<"$out")"
}
# every_command NAME DIR PATTERN: every command of CRIT and criu-coredump
# that opens the checkpoint DIR refuses it
every_command() {
	local name=$1 d=$2 want=$3
	rm -rf "$tmp/core-out" "$tmp/dec-out"
	mkdir "$tmp/core-out"
	refused "$name (show)" "$want" crit show "$d/core-1.img" "${k[@]}"
	refused "$name (decode)" "$want" crit decode -i "$d/mm-1.img" "${k[@]}"
	refused "$name (info)" "$want" crit info "$d/pagemap-1.img" "${k[@]}"
	refused "$name (x ps)" "$want" crit x "$d" ps "${k[@]}"
	refused "$name (x mems)" "$want" crit x "$d" mems "${k[@]}"
	refused "$name (mem)" "$want" crit mem "$d" 1 "$addr" "${k[@]}"
	refused "$name (grep)" "$want" crit grep "$d" "$secret" "${k[@]}"
	refused "$name (decrypt)" "$want" crit decrypt "$d" "$tmp/dec-out" "${k[@]}"
	check "crit-untrusted: ... and crit decrypt leaves nothing" test ! -e "$tmp/dec-out"
	refused "$name (criu-coredump)" "$want" criu-coredump -i "$d" -o "$tmp/core-out" "${k[@]}"
	check "crit-untrusted: ... and criu-coredump writes no core file" test -z "$(ls "$tmp/core-out")"
}
addr=$(crit_t grep "$tmp/enc" "$secret" "${k[@]}" | head -n 1 | cut -f2)

# 1. A plain image where a sealed one is expected (it is a good image of
# the plain copy: it shows there), and one that the dump did not write
plain_ok=$(crit_t show "$tmp/plain/core-1.img" | grep -c '"magic": "CORE"')
variant planted-core
cp "$tmp/plain/core-1.img" "$tmp/planted-core/core-1.img"
refused "a plain core-1.img among sealed ones (which shows from the plain copy: $plain_ok)" \
	"planted-core/core-1.img: not an encrypted image" crit show "$tmp/planted-core/core-1.img" "${k[@]}"
refused "... and crit x ps" "core-1.img: not an encrypted image" crit x "$tmp/planted-core" ps "${k[@]}"
refused "... and criu-coredump" "core-1.img: not an encrypted image" criu-coredump -i "$tmp/planted-core" \
	-o "$tmp" "${k[@]}"
variant planted-pstree
cp "$tmp/plain/pstree.img" "$tmp/planted-pstree/pstree.img"
refused "a plain pstree.img among sealed ones" "pstree.img: not an encrypted image" \
	crit x "$tmp/planted-pstree" ps "${k[@]}"
variant unlisted
cp "$tmp/enc/core-2.img" "$tmp/unlisted/core-7.img"         # sealed, of this checkpoint
cp "$tmp/enc3/core-1.img" "$tmp/unlisted/pagemap-shmem-9.img" # sealed, of another one
{ printf CRIUSEAL; head -c 200 /dev/urandom; } >"$tmp/unlisted/files-extra.img"
for n in core-7.img pagemap-shmem-9.img files-extra.img; do
	refused "an image the manifest does not list ($n)" "unlisted/$n: not listed in manifest.img \(not written by this dump\)" \
		crit show "$tmp/unlisted/$n" "${k[@]}"
done
variant removed
rm "$tmp/removed/core-2.img"
refused "an image the manifest lists, removed" "removed/core-2.img: missing from the checkpoint \(removed\)" \
	crit x "$tmp/removed" ps "${k[@]}"
variant nomanifest
rm "$tmp/nomanifest/manifest.img"
refused "a checkpoint without manifest.img" "manifest.img: the checkpoint is incomplete" \
	crit x "$tmp/nomanifest" ps "${k[@]}"
variant plainseal plain
cp "$tmp/enc/core-1.img" "$tmp/plainseal/core-1.img"
refused "a sealed image in a plain checkpoint" "plainseal/core-1.img: an encrypted image, but there is no cipher.img" \
	crit show "$tmp/plainseal/core-1.img"

# 2. Regular files only, never waited on
variant fifo-pstree
rm "$tmp/fifo-pstree/pstree.img" && mkfifo "$tmp/fifo-pstree/pstree.img"
refused "a FIFO pstree.img (under a timeout of 30 s)" "fifo-pstree/pstree.img: not a regular file" \
	crit x "$tmp/fifo-pstree" ps "${k[@]}"
refused "... and criu-coredump" "pstree.img: not a regular file" criu-coredump -i "$tmp/fifo-pstree" \
	-o "$tmp" "${k[@]}"
for f in cipher.img manifest.img pagetags.img pages-1.img; do
	variant "fifo-$f"
	rm "$tmp/fifo-$f/$f" && mkfifo "$tmp/fifo-$f/$f"
	refused "a FIFO $f" "fifo-$f/$f: not a regular file" crit grep "$tmp/fifo-$f" "$secret" "${k[@]}"
done
variant symlink-core
mv "$tmp/symlink-core/core-1.img" "$tmp/core-1.img.elsewhere"
ln -s "$tmp/core-1.img.elsewhere" "$tmp/symlink-core/core-1.img"
refused "a symlink core-1.img (to the genuine image)" "symlink-core/core-1.img: not a regular file \(a symlink\)" \
	crit x "$tmp/symlink-core" ps "${k[@]}"
variant symlink-manifest
mv "$tmp/symlink-manifest/manifest.img" "$tmp/manifest.img.elsewhere"
ln -s "$tmp/manifest.img.elsewhere" "$tmp/symlink-manifest/manifest.img"
refused "a symlink manifest.img" "manifest.img: not a regular file \(a symlink\)" \
	crit x "$tmp/symlink-manifest" ps "${k[@]}"
variant dir-core
rm "$tmp/dir-core/core-1.img" && mkdir "$tmp/dir-core/core-1.img"
refused "a directory core-1.img" "dir-core/core-1.img: not a regular file" crit x "$tmp/dir-core" ps "${k[@]}"

# 3. Bounded reading: sparse 4 GiB files are refused in the memory a good
# checkpoint takes (maximum resident set of the command, /usr/bin/time %M)
rss() { # ARGS...: crit's max RSS (KiB) into $rss_kib, its output into $rss_out
	local f="$tmp/time.out"
	rss_out=$(timeout -k 5 60 /usr/bin/time -o "$f" -f %M "$CRIT" "$@" 2>&1 >/dev/null)
	rss_kib=$(tail -n 1 "$f")
}
rss x "$tmp/enc" ps "${k[@]}"
base=$rss_kib
bounded() { # NAME PATTERN ARGS...
	local name=$1 want=$2
	shift 2
	rss "$@"
	check "crit-untrusted: $name: refused in $rss_kib KiB (a good checkpoint: $base KiB): $rss_out" \
		test "$rss_kib" -lt $((base + 40000)) -a "$(grep -c . <<<"$rss_out")" = 1 -a \
		-n "$(grep -E "^crit: .*$want" <<<"$rss_out")"
}
variant sparse-pages
truncate -s 4G "$tmp/sparse-pages/pages-1.img"
bounded "a sparse 4 GiB pages-1.img (crit grep)" \
	"pages-1.img: 4294967296 bytes, but pagetags.img has the tags of [0-9]+ pages" grep "$tmp/sparse-pages" "$secret" "${k[@]}"
bounded "... (crit decrypt)" "pages-1.img: 4294967296 bytes" decrypt "$tmp/sparse-pages" "$tmp/dec-out" "${k[@]}"
bounded "... (crit show)" "pages-1.img: 4294967296 bytes" show "$tmp/sparse-pages/pages-1.img" "${k[@]}"
variant sparse-sealed
truncate -s 4G "$tmp/sparse-sealed/mm-1.img"
bounded "a sparse 4 GiB sealed mm-1.img (crit show)" "mm-1.img: authentication failed at chunk 65520" \
	show "$tmp/sparse-sealed/mm-1.img" "${k[@]}"
bounded "... (crit decrypt)" "mm-1.img: authentication failed at chunk" decrypt "$tmp/sparse-sealed" \
	"$tmp/dec-out" "${k[@]}"
variant sparse-manifest
truncate -s 4G "$tmp/sparse-manifest/manifest.img"
bounded "a sparse 4 GiB manifest.img" "manifest.img: too big \(4294967296 bytes\)" x "$tmp/sparse-manifest" ps "${k[@]}"
variant sparse-cipher
truncate -s 1G "$tmp/sparse-cipher/cipher.img"
bounded "a sparse 1 GiB cipher.img" "cipher.img: (malformed|too big) \(1073741824 bytes\)" x "$tmp/sparse-cipher" ps "${k[@]}"
check "crit-untrusted: ... and no decrypt output is left" test ! -e "$tmp/dec-out"

# 4. A malformed cipher.img and damaged headers of sealed images
# cipher.img rewritten by python: $1 the variant, $2 the code (data in d)
edit() {
	/usr/bin/python3 -c "import struct, sys
p = sys.argv[1]
d = open(p, 'rb').read()
$3
open(p, 'wb').write(d)" "$tmp/$1/$2"
}
variant cipher-garbage
edit cipher-garbage cipher.img "d = d[:12] + b'\xff' * (len(d) - 12)"
refused "a cipher.img whose entry does not parse" "cipher-garbage/cipher.img: malformed" \
	crit x "$tmp/cipher-garbage" ps "${k[@]}"
variant cipher-utf8
# the first string field (wrap, tag 0x1a) made of bytes that are no UTF-8
edit cipher-utf8 cipher.img "i = d.index(b'rsa-oaep'); d = d[:i] + b'\xff\xfe' + d[i + 2:]"
refused "a cipher.img with a string that is no UTF-8" "cipher-utf8/cipher.img: malformed" \
	crit x "$tmp/cipher-utf8" ps "${k[@]}"
variant cipher-size
edit cipher-size cipher.img "d = d[:8] + struct.pack('<I', 0xffffffff) + d[12:]"
refused "a cipher.img with an entry size of 4 GiB" "cipher.img: malformed \(an entry of 4294967295 bytes" \
	crit x "$tmp/cipher-size" ps "${k[@]}"
variant cipher-inner
# the length of the first bytes field (id, tag 0x12) made far too big
edit cipher-inner cipher.img "i = d.index(b'\x12\x10', 12); d = d[:i + 1] + b'\xff\xff\xff\x7f' + d[i + 2:]
d = d[:8] + struct.pack('<I', len(d) - 12) + d[12:]"
refused "a cipher.img whose id has a length of 2 GiB" "cipher-inner/cipher.img: malformed \(the entry does not parse\)" \
	crit x "$tmp/cipher-inner" ps "${k[@]}"
variant cipher-short
edit cipher-short cipher.img "d = d[:7]"
refused "a cipher.img of 7 bytes" "cipher-short/cipher.img: malformed" crit x "$tmp/cipher-short" ps "${k[@]}"
variant header-magic
flip_byte "$tmp/header-magic/core-1.img" 3
refused "a sealed core-1.img whose CRIUSEAL magic is damaged" "header-magic/core-1.img: not an encrypted image" \
	crit show "$tmp/header-magic/core-1.img" "${k[@]}"
variant header-nonce
flip_byte "$tmp/header-nonce/core-1.img" 12
refused "a sealed core-1.img whose file nonce is damaged" "header-nonce/core-1.img: authentication failed at chunk 0" \
	crit show "$tmp/header-nonce/core-1.img" "${k[@]}"
variant header-short
truncate -s 30 "$tmp/header-short/mm-1.img"
refused "a sealed mm-1.img cut inside its first tag" "header-short/mm-1.img: truncated \(30 bytes\)" \
	crit x "$tmp/header-short" mems "${k[@]}"
variant manifest-magic
flip_byte "$tmp/manifest-magic/manifest.img" 0
refused "a manifest.img whose magic is damaged" "manifest-magic/manifest.img: not an encrypted image" \
	crit x "$tmp/manifest-magic" ps "${k[@]}"

# 5. Parent links: refused whenever a checkpoint is opened, whether or not
# a page comes from the parent (Documentation/encryption-format.txt)
variant plainchild plain
ln -s ../enc "$tmp/plainchild/parent"
every_command "a plain checkpoint linked to an encrypted parent" "$tmp/plainchild" \
	"plainchild: a plain checkpoint whose parent [^ ]*/enc is encrypted"
variant forged
ln -s ../enc2 "$tmp/forged/parent"
every_command "an encrypted checkpoint with a parent link it does not record" "$tmp/forged" \
	"forged/cipher.img: has a parent link \([^)]*/enc2\) but records no parent"
variant loop plain
ln -s . "$tmp/loop/parent"
refused "a plain checkpoint that is its own parent" "loop: a loop of parent links" crit x "$tmp/loop" ps
variant badlink
ln -s nowhere "$tmp/badlink/parent"
refused "a parent link to nowhere" "badlink/parent: a parent link to nowhere" crit x "$tmp/badlink" ps "${k[@]}"
# A checkpoint that records enc2 for its parent, as a dump with
# --prev-images-dir would: the digest of enc2's cipher.img and manifest.img
# (test/e2e/crit-bind.py, from the format's text)
variant bound
/usr/bin/python3 "$E2E_TOP/test/e2e/crit-bind.py" "$tmp/bound" "$pki/key.pem" "$tmp/enc2" ||
	not_ok "crit-untrusted: crit-bind.py"
variant bound-nolink bound
every_command "a checkpoint that records a parent, without its link" "$tmp/bound-nolink" \
	"bound-nolink/cipher.img: dumped against a parent, but [^ ]*bound-nolink has no parent link"
variant bound-other bound
ln -s ../enc3 "$tmp/bound-other/parent"
every_command "a checkpoint whose parent is another checkpoint of the same process" "$tmp/bound-other" \
	"bound-other/cipher.img: the parent [^ ]*/enc3 is not the checkpoint [^ ]*bound-other was dumped against"
variant bound-plain bound
ln -s ../plain "$tmp/bound-plain/parent"
refused "a checkpoint whose recorded parent is replaced by a plain one" \
	"plain/cipher.img: missing: the parent of an encrypted checkpoint is a plain one" \
	crit x "$tmp/bound-plain" ps "${k[@]}"
variant bound-tampered bound
mkdir "$tmp/bound-tampered/p"
cp -a "$tmp/enc2/." "$tmp/bound-tampered/p/"
ln -s p "$tmp/bound-tampered/parent"
flip_byte "$tmp/bound-tampered/p/cipher.img" $(($(stat -c %s "$tmp/bound-tampered/p/cipher.img") - 5)) # its wrapped key
refused "a checkpoint whose parent's cipher.img was changed" "bound-tampered/p/cipher.img: (authentication failed \(tampered\)|can't unwrap)" \
	crit x "$tmp/bound-tampered" ps "${k[@]}"
ln -s ../enc2 "$tmp/bound/parent"
check "crit-untrusted: a checkpoint with the parent it records reads (crit x ps)" \
	grep -q secret-keeper <<<"$(crit_t x "$tmp/bound" ps "${k[@]}" 2>&1)"
check "crit-untrusted: ... crit grep finds the secret in it" \
	test "$(crit_t grep "$tmp/bound" "$secret" "${k[@]}" | cut -f2)" = "$(crit_t grep "$tmp/enc" "$secret" "${k[@]}" | cut -f2)"

# 6. crit decrypt writes what it authenticated and nothing else, for the
# user only (even under umask 000); so do crit mem -o and criu-coredump
variant extras unlisted
echo "not of the dump" >"$tmp/extras/notes.txt"
ln -s ../enc2 "$tmp/extras/parent.bak"
out=$(umask 000 && crit_t decrypt "$tmp/extras" "$tmp/dec" "${k[@]}" 2>&1)
check "crit-untrusted: crit decrypt of a checkpoint with planted files: $out" test -d "$tmp/dec"
listed=$(/usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from pycriu import crypt
cp = crypt.Checkpoint(sys.argv[2], sys.argv[3])
print("\n".join(n for n in cp.manifest if not crypt.is_tags_image(n)))' "$E2E_TOP/build/python" "$tmp/enc" "$pki/key.pem")
check "crit-untrusted: ... it holds exactly the images of the manifest ($(wc -l <<<"$listed")), no tags, stats, planted file or link" \
	test "$(ls -A "$tmp/dec")" = "$(sort <<<"$listed")"
check "crit-untrusted: ... the directory is 0700 ($(stat -c %a "$tmp/dec"))" test "$(stat -c %a "$tmp/dec")" = 700
check "crit-untrusted: ... every file is 0600 ($(stat -c %a "$tmp"/dec/* | sort | uniq -c | xargs))" \
	test "$(stat -c %a "$tmp"/dec/* | sort -u)" = 600
check "crit-untrusted: ... and they are regular files" test -z "$(find "$tmp/dec" -mindepth 1 ! -type f)"
out=$(umask 000 && crit_t mem "$tmp/enc" 1 "$addr" -o "$tmp/mem.out" "${k[@]}" 2>&1)
check "crit-untrusted: crit mem -o writes a file of mode 0600 ($(stat -c %a "$tmp/mem.out"))" \
	test "$(stat -c %a "$tmp/mem.out")" = 600
rm -rf "$tmp/core-out" && mkdir "$tmp/core-out"
(umask 000 && timeout 120 "$coredump" -i "$tmp/enc" -o "$tmp/core-out" "${k[@]}")
check "crit-untrusted: criu-coredump writes core files of mode 0600 ($(stat -c %a "$tmp"/core-out/* | xargs))" \
	test "$(stat -c %a "$tmp"/core-out/* | sort -u)" = 600

# 7. The mutation fuzzer: a smoke run (200 changed files, two commands
# each), and a replay of the inputs kept from longer runs
out=$(timeout -k 5 300 /usr/bin/python3 "$E2E_TOP/test/crit/mutate.py" --smoke "$tmp/enc" "$pki/key.pem" "$secret" 2>&1)
check "crit-untrusted: mutate.py --smoke: no traceback, hang, crash or bypass ($(tail -n 1 <<<"$out"))" \
	test -z "$(grep ANOMALY <<<"$out")" -a -n "$(grep '^200 mutations' <<<"$out")"
grep ANOMALY <<<"$out" | head -n 5 | sed 's/^/    # /'
if [ -d "$E2E_TOP/test/crit/regress" ]; then
	out=$(timeout -k 5 300 /usr/bin/python3 "$E2E_TOP/test/crit/mutate.py" --replay "$E2E_TOP/test/crit/regress" \
		"$tmp/enc" "$pki/key.pem" "$secret" 2>&1)
	check "crit-untrusted: mutate.py --replay of test/crit/regress ($(tail -n 1 <<<"$out"))" \
		test -z "$(grep ANOMALY <<<"$out")" -a -n "$(grep ' mutations, ' <<<"$out")"
fi
exit $T_FAILED
