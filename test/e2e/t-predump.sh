# Iterative dumps with --encrypt: chains of 1, 2 and 3 pre-dumps, each on
# top of the one before, and a dump on top of the last; each level bound to
# its parent; restores; parent links swapped (an older level, another
# process's checkpoint, none, a plain parent) and refused.  This machine's
# kernel has no soft-dirty tracking, so the chains run in a qemu guest
# (software emulation) booting Debian's 6.1 kernel with an initramfs of
# busybox and the criu under test (scripts/guest.sh);
# test/e2e/guest-init.sh does the guest's part and reports its results,
# which count here as this test's.  Then the host reads the chains the
# guest wrote with CRIT, the second decoder: each child's cipher.img records
# the digest of its parent (computed here from the format), the dump's
# pagemap leaves the clean pages to its parents, a page read through the
# parent links is the workload's page, the pages --auto-dedup punched out of
# the parents are never read, and the same swaps of parents are refused;
# the chain made through page servers reads the same way.
. "$(dirname "$0")/lib.sh"
e2e_setup predump
keeper=$(e2e_cc page-keeper) || exit 1
G=$E2E_TOP/build/guest

if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x /bin/busybox ]; then
	not_ok "predump: qemu-system-x86_64 and busybox are installed (scripts/deps.sh)"
	exit 1
fi
if ! "$E2E_TOP/scripts/guest.sh" "$E2E_TOP/test/e2e/guest-init.sh" "$keeper" >"$tmp/guest.log" 2>&1; then
	not_ok "predump: the guest is made (scripts/guest.sh)"
	sed 's/^/    # /' "$tmp/guest.log" | tail -n 5
	exit 1
fi
secret=$(cat "$G/root/pki/secret")

# the guest writes a tar of its images and logs to its disk
truncate -s 512M "$tmp/out.img"
timeout -k 5 900 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1536 -nographic -no-reboot \
	-kernel "$G/vmlinuz" -initrd "$G/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
	-drive "file=$tmp/out.img,format=raw,if=virtio" </dev/null 2>&1 | tr -d '\r' >"$tmp/console.log"
while read -r line; do
	case $line in
	"GUEST ok - "*) ok "predump (guest): ${line#GUEST ok - }" ;;
	"GUEST not ok - "*) not_ok "predump (guest): ${line#GUEST not ok - }" ;;
	esac
done < <(grep -a -o 'GUEST .*' "$tmp/console.log")
if ! grep -aq 'GUEST done' "$tmp/console.log"; then
	not_ok "predump: the guest ran to its end"
	grep -av '^$' "$tmp/console.log" | tail -n 8 | sed 's/^/    # /'
	exit 1
fi
mkdir -p "$tmp/x"
if ! tar -xf "$tmp/out.img" -C "$tmp/x"; then
	not_ok "predump: the guest's images came out"
	exit 1
fi
img=$tmp/x/out/img
[ "$T_FAILED" = 0 ] || grep -aE 'Error' "$img"/*/*/*.log | grep -vE 'tun:|veth|-95 reported' | tail -n 5 | sed 's/^/    # /'
k=(--tls-key "$pki/key.pem")

# each level's cipher.img, as CRIT shows it, records the digest of its
# parent (none for the first level), computed here from the format
# (section 9): SHA-256("criu-encrypt v2 checkpoint" 0x00 |M| M mac |P| P)
# over M and mac of the parent's cipher.img and its manifest.img (P),
# lengths as 8 bytes big-endian
for d in d1/2 d2/3 d3/4 b/2; do
	lv=${d##*/} c=${d%/*}
	for l in $(seq 1 "$lv"); do
		crit_t show "$img/$c/$l/cipher.img" "${k[@]}" >"$tmp/ce.json" 2>"$tmp/ce.err"
		out=$(/usr/bin/python3 - "$tmp/ce.json" "$img/$c/$((l - 1))" "$l" "$E2E_TOP/build/python" <<'EOF' 2>&1
import base64, binascii, hashlib, json, os, struct, sys
try:
    e = json.load(open(sys.argv[1]))["entries"][0]
except Exception:
    print("CRIT shows no entry")
    sys.exit(1)
rec = e.get("parent")
if sys.argv[3] == "1":
    print("records no parent" if rec is None else "records a parent, but has none")
    sys.exit(rec is not None)
if rec is None:
    print("records no parent (fields: %s)" % " ".join(sorted(e)))
    sys.exit(1)
try:
    rec = binascii.unhexlify(rec[2:] if rec.startswith("0x") else rec)
except (binascii.Error, ValueError):
    rec = base64.b64decode(rec)
# the parent's digest, from section 9's text (M and mac of its cipher.img, its manifest file)
sys.path.insert(0, sys.argv[4])
from pycriu import images
def raw(name):
    return open(os.path.join(sys.argv[2], name), "rb").read()
def f(v):
    return struct.pack(">H", len(v)) + v
pe = images.pb.cipher_entry()
pe.ParseFromString(raw("cipher.img")[12:])
m = f(struct.pack(">I", pe.format)) + f(pe.id) + f(pe.stream.encode()) + f(pe.pages.encode())
m += f(pe.parent) if pe.HasField("parent") else b""
p = raw("manifest.img")
want = hashlib.sha256(b"criu-encrypt v2 checkpoint\0" + struct.pack(">Q", len(m)) + m + pe.mac +
                      struct.pack(">Q", len(p)) + p).digest()
print("records its parent's digest" if rec == want else "records %s, not %s" % (rec.hex(), want.hex()))
sys.exit(rec != want)
EOF
		)
		check "predump: crit show $c/$l/cipher.img: $out" test $? = 0 || sed 's/^/    # /' "$tmp/ce.err" | head -n 3
	done
done

# the dump's pagemap: which pages its parents hold, and the biggest run of them
crit_t show "$img/d2/3/pagemap-1.img" "${k[@]}" >"$tmp/pm.json" 2>"$tmp/pm.err"
pm=$(/usr/bin/python3 -c '
import json, sys
try:
    e = json.load(open(sys.argv[1]))["entries"][1:]
except Exception:
    print("0 0")
    sys.exit()
par = [x for x in e if "PE_PARENT" in x["flags"]]
big = max(par, key=lambda x: x["nr_pages"]) if par else {"vaddr": "0", "nr_pages": 0}
print(sum(x["nr_pages"] for x in par), "%x" % (int(big["vaddr"], 16) + big["nr_pages"] // 2 * 4096))
' "$tmp/pm.json")
read -r in_parent addr <<<"$pm"
check "predump: crit show: the dump's pagemap-1.img (depth 2) leaves $in_parent pages to its parents" \
	test "${in_parent:-0}" -ge 4000 || sed 's/^/    # /' "$tmp/pm.err" | head -n 3

# a clean page, read by crit through the parent links from the first
# pre-dump: a page of page-keeper's (its words follow from the page number)
what="no page"
if [ "${in_parent:-0}" != 0 ]; then
	crit_t mem "$img/d2/3" 1 "$addr-$(printf '%x' $((0x$addr + 4096)))" -o "$tmp/page" "${k[@]}" 2>"$tmp/mem.err"
	what=$(/usr/bin/python3 - "$tmp/page" <<'EOF'
import struct, sys
M = (1 << 64) - 1
def word(page, gen, i):
    # pattern_word() of test/e2e/keeper.h, with page-keeper's SEED(gen)
    x = (0x9e3779b97f4a7c15 ^ (gen << 40)) ^ (page << 20) ^ i
    x ^= x >> 31
    x = (x * 0xbf58476d1ce4e5b9) & M
    x ^= x >> 29
    x = (x * 0x94d049bb133111eb) & M
    x ^= x >> 32
    return x
try:
    data = open(sys.argv[1], "rb").read()
except OSError:
    data = b""
w = struct.unpack("<512Q", data) if len(data) == 4096 else ()
for page in range(4096):
    if w and all(w[i] == word(page, 0, i) for i in range(512)):
        print("page %d of page-keeper's" % page)
        break
else:
    print("not a page of page-keeper's (%d bytes)" % len(data))
EOF
	)
fi
check "predump: crit mem reads a clean page through the parent links: $what" grep -q "^page [0-9]* of page-keeper's" <<<"$what" ||
	sed 's/^/    # /' "$tmp/mem.err" 2>/dev/null | head -n 3

for d in d1/2 d2/3 d3/4 ps/3; do
	crit_t grep "$img/$d" "$secret" "${k[@]}" >"$tmp/grep.out" 2>"$tmp/grep.err"
	check "predump: crit grep finds the secret through the chain $d (pages punched out of the parents never read)" \
		grep -q . "$tmp/grep.out" || sed 's/^/    # /' "$tmp/grep.err" | head -n 3
done
leaks=$(grep -rlF --exclude-dir=plain "$secret" "$img")
check "predump: no file of the encrypted checkpoints holds the secret in the clear (the plain pre-dump does)" \
	test -z "$leaks" -a -n "$(grep -rlF "$secret" "$img/b/plain")" || sed 's/^/    # in the clear: /' <<<"$leaks"

# crit_refused WHAT DIR PATTERN NAMES...: crit show of DIR's pagemap-1.img
# fails with one line matching PATTERN and naming each of NAMES
crit_refused() {
	local what=$1 dir=$2 pattern=$3 out n named=1
	shift 3
	out=$(crit_t show "$dir/pagemap-1.img" "${k[@]}" 2>&1 >/dev/null)
	for n in "$@"; do
		[[ $out == *"$n"* ]] || named=0
	done
	check "predump: crit refuses $what: $out" \
		test $named = 1 -a "$(wc -l <<<"$out")" = 1 -a -n "$(grep -E "$pattern" <<<"$out")"
}
s=$tmp/swapped
cp -a "$img" "$s"
ln -sfn ../2 "$s/d3/4/parent"
crit_refused "the dump's parent link pointed at an older level (d3/4/parent -> ../2)" "$s/d3/4" \
	'is not the checkpoint .* was dumped against' "$s/d3/4" "$s/d3/2"
ln -sfn ../3 "$s/d3/4/parent"
ln -sfn ../1 "$s/d3/3/parent"
crit_refused "a link in the middle of the chain pointed at an older level (d3/3/parent -> ../1)" "$s/d3/4" \
	'is not the checkpoint .* was dumped against' "$s/d3/3" "$s/d3/1"
ln -sfn ../2 "$s/d3/3/parent"
ln -sfn ../../b/2 "$s/d3/4/parent"
crit_refused "the dump's parent link pointed at another process's checkpoint (-> b/2)" "$s/d3/4" \
	'is not the checkpoint .* was dumped against' "$s/d3/4" "$s/b/2"
rm "$s/d3/4/parent"
crit_refused "the parent link removed from the dump" "$s/d3/4" \
	'dumped against a parent, but .* has no parent link' "$s/d3/4"
ln -s ../3 "$s/d3/4/parent"
mv "$s/d3/3" "$s/d3/3.real" && mv "$s/b/plain" "$s/d3/3"
crit_refused "the parent directory replaced by a plain pre-dump" "$s/d3/4" 'plain one' "$s/d3/4" "$s/d3/3"
rm -rf "$s/d3/3"
mkdir "$s/d3/3"
crit_refused "the parent directory replaced by an empty one" "$s/d3/4" 'plain one' "$s/d3/4" "$s/d3/3"
rm -rf "$s/d3/3"
mv "$s/d3/3.real" "$s/d3/3"
ln -sfn ../4 "$s/d3/3/parent"
crit_refused "a loop of parent links (d3/3/parent -> ../4)" "$s/d3/4" 'a loop of parent links' "$s/d3/4"
ln -sfn ../2 "$s/d3/3/parent"
check "predump: ... and crit reads the chain put back" grep -q . <<<"$(crit_t grep "$s/d3/4" "$secret" "${k[@]}" 2>/dev/null)"

# alone, the first pre-dump can't tell a punched page from a changed one
out=$(crit_t decrypt "$img/d2/1" "$tmp/plain1" "${k[@]}" 2>&1)
check "predump: crit decrypt of the first pre-dump of depth 2 alone is refused: $out" \
	grep -q "pages-1.img: page [0-9]* fails authentication" <<<"$out"
exit $T_FAILED
