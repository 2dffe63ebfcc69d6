# Big raw images: a process holding an 8 MiB deleted file and two full
# 1 MiB pipes (bench/rawimg.c).  Their images (ghost-file, pipes-data) are
# big enough to be sealed and opened in pieces by criu and a helper thread
# (crypt-stream.c), at restore inside the restored task.  The restored
# copy finds every byte; a flipped byte in the middle of the ghost image,
# or a truncated one, is refused and leaves no restored process.
. "$(dirname "$0")/lib.sh"
e2e_setup raw
bin="$E2E_TOP/build/e2e/rawimg"
mkdir -p "$E2E_TOP/build/e2e"
gcc -O2 -Wall -Werror -D_GNU_SOURCE -o "$bin" "$E2E_TOP/bench/rawimg.c" || exit 1
instances() { pgrep -cxf "$bin $tmp .*"; }

pid=$(start_in_pidns "$bin" "$tmp" 8 2 "$tmp/ready" "$tmp/result")
# it waits for signals forever: killed with its pid namespace at the end
track_pid "$pid"
wait_for 'grep -q ready "$tmp/ready"' 20
check "raw: the workload holds its deleted file and full pipes" grep -q ready "$tmp/ready"

mkdir -p "$tmp/enc"
if ! criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --leave-running --ghost-limit 64M \
	--encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "raw: encrypted dump"
	show_log_errors "$tmp/enc/dump.log"
	exit 0
fi
ghost=$(ls "$tmp"/enc/ghost-file-*.img 2>/dev/null | head -n 1)
check "raw: the ghost image is sealed and holds the 8 MiB ($(stat -c %s "$ghost" 2>/dev/null) bytes)" \
	test "$(head -c 8 "$ghost")" = CRIUSEAL -a "$(stat -c %s "$ghost")" -gt $((8 << 20))
check "raw: so is pipes-data.img ($(stat -c %s "$tmp/enc/pipes-data.img") bytes)" \
	test "$(head -c 8 "$tmp/enc/pipes-data.img")" = CRIUSEAL -a "$(stat -c %s "$tmp/enc/pipes-data.img")" -gt $((2 << 20))

cp -a "$tmp/enc" "$tmp/flip"
cp -a "$tmp/enc" "$tmp/cut"
check_restored "raw: the restored copy reads its whole file and both pipes intact" \
	"$tmp/enc" "$pki/key.pem" "$tmp/result"

name=$(basename "$ghost")
flip_byte "$tmp/flip/$name" $((5 << 20))
check_refused "raw: a byte flipped 5 MiB into $name" "$tmp/flip" "$pki/key.pem" \
	"$name: authentication failed at chunk [0-9]+" instances
truncate -s -100 "$tmp/cut/$name"
check_refused "raw: $name cut short by 100 bytes" "$tmp/cut" "$pki/key.pem" \
	"$name: (authentication failed at chunk [0-9]+|truncated)" instances
