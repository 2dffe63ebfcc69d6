# Iterative dumps with --encrypt: pre-dump, pre-dump on top of it, dump on
# top of that, restore.  This machine's kernel has no soft-dirty tracking,
# so the chain runs in a qemu guest (software emulation) booting Debian's
# 6.1 kernel with an initramfs of busybox and the criu under test
# (scripts/guest.sh); test/e2e/guest-init.sh does the guest's part and
# reports its results, which count here as this test's.  Then the host
# reads the chain the guest wrote with CRIT, the second decoder: the dump's
# pagemap leaves the clean pages to its parents, a page read through the
# parent links is the workload's page, and the pages --auto-dedup punched
# out of the parents are never read.
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
truncate -s 256M "$tmp/out.img"
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
[ "$T_FAILED" = 0 ] || grep -aE 'Error' "$img"/*/*.log | grep -vE 'tun:|veth|-95 reported' | tail -n 5 | sed 's/^/    # /'
k=(--tls-key "$pki/key.pem")

# the dump's pagemap: which pages its parents hold, and the biggest run of them
pm=$(crit_t show "$img/3/pagemap-1.img" "${k[@]}" 2>&1 | /usr/bin/python3 -c '
import json, sys
e = json.load(sys.stdin)["entries"][1:]
par = [x for x in e if "PE_PARENT" in x["flags"]]
big = max(par, key=lambda x: x["nr_pages"])
print(sum(x["nr_pages"] for x in par), "%x" % (int(big["vaddr"], 16) + big["nr_pages"] // 2 * 4096))
' 2>&1)
read -r in_parent addr <<<"$pm"
check "predump: crit show: the dump's pagemap-1.img leaves $in_parent pages to its parents" \
	test "${in_parent:-0}" -ge 4000 2>/dev/null || echo "    # $pm"

# a clean page, read by crit through the parent links from the first
# pre-dump: a page of page-keeper's (its words follow from the page number)
crit_t mem "$img/3" 1 "$addr-$(printf '%x' $((0x${addr:-0} + 4096)))" -o "$tmp/page" "${k[@]}" 2>"$tmp/mem.err"
what=$(/usr/bin/python3 - "$tmp/page" <<'EOF'
import struct, sys
M = (1 << 64) - 1
def word(page, gen, i):
    x = ((page << 40) ^ (gen << 20) ^ i ^ 0x9e3779b97f4a7c15) & M
    x ^= x >> 31
    x = (x * 0xbf58476d1ce4e5b9) & M
    x ^= x >> 29
    return x
data = open(sys.argv[1], "rb").read()
w = struct.unpack("<512Q", data) if len(data) == 4096 else ()
for page in range(4096):
    if w and all(w[i] == word(page, 0, i) for i in range(512)):
        print("page %d of page-keeper's" % page)
        break
else:
    print("not a page of page-keeper's (%d bytes)" % len(data))
EOF
)
check "predump: crit mem reads a clean page through the parent links: $what" grep -q "of page-keeper's" <<<"$what" ||
	sed 's/^/    # /' "$tmp/mem.err"

check "predump: crit grep finds the secret through the chain (pages punched out of the parents never read)" \
	grep -q . <<<"$(crit_t grep "$img/3" "$secret" "${k[@]}" 2>/dev/null)"
check "predump: ... and no file of it holds the secret in the clear" test -z "$(grep -rlF "$secret" "$img")"
# nor does CRIT read a plain directory put in place of a parent
cp -a "$img" "$tmp/swapped"
rm -rf "$tmp/swapped/2"
mkdir "$tmp/swapped/2"
out=$(crit_t grep "$tmp/swapped/3" "$secret" "${k[@]}" 2>&1)
check "predump: crit refuses a chain whose parent is a plain directory: $out" \
	grep -q "swapped/2/cipher.img: missing: the parent of an encrypted checkpoint is a plain one" <<<"$out"

# alone, the first pre-dump can't tell a punched page from a changed one
out=$(crit_t decrypt "$img/1" "$tmp/plain1" "${k[@]}" 2>&1)
check "predump: crit decrypt of the first pre-dump alone is refused: $out" \
	grep -q "pages-1.img: page [0-9]* fails authentication" <<<"$out"
exit $T_FAILED
