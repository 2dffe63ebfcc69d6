# The secret leaks nowhere: a process keeps a fresh random secret in its
# heap, stack, a thread's stack, environment, argv, a child process,
# MAP_SHARED memory, a memfd, a pipe's unread buffer, a unix socket's
# receive queue and an open deleted file; and a zdtm test keeps one in a
# file on a private tmpfs mount of its mount namespace.  A plain dump (the
# control) has it in several files; an encrypted one in none; the
# restored processes find every copy intact.
. "$(dirname "$0")/lib.sh"
e2e_setup leak
bin=$(e2e_cc secret-places) || exit 1
secret="leak-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
last() { grep '^tick' "$tmp/log" | tail -n 1; }
ticks() { grep -c '^tick' "$tmp/log"; }
holders() { grep -rlaF "$secret" "$1" | xargs -r -n1 basename | sort | tr '\n' ' '; }

pid=$(start_in_pidns env SECRET="$secret" "$bin" "$secret" "$tmp" "$tmp/log")
wait_for 'last | grep -q " 11 of 11 "' 10
check "leak: the process holds the secret in 11 places ($(last))" grep -q " 11 of 11 " <<<"$(last)"

mkdir -p "$tmp/plain" "$tmp/enc"
criu_t dump -t "$pid" -D "$tmp/plain" -o dump.log -v4 --leave-running || not_ok "leak: plain dump (control)"
plain=$(holders "$tmp/plain")
check "leak: control: a plain checkpoint has the secret in several files ($plain)" \
	test "$(wc -w <<<"$plain")" -ge 3

if criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem"; then
	enc=$(holders "$tmp/enc")
	check "leak: an encrypted checkpoint has the secret in no file${enc:+ (found in $enc)}" test -z "$enc"
else
	not_ok "leak: encrypted dump"
	show_log_errors "$tmp/enc/dump.log"
fi

n=$(ticks)
if criu_t restore -D "$tmp/enc" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/pid"; then
	track_pid "$(cat "$tmp/pid")"
	wait_for '[ "$(ticks)" -gt $((n + 3)) ]' 10
	check "leak: after restore, every copy is intact ($(last))" grep -q " 11 of 11 " <<<"$(last)"
	check "leak: ... and the child's copy too" test "$(grep '^child' "$tmp/log" | tail -n 1)" = "child: copy intact"
	enc=$(holders "$tmp/enc")
	check "leak: ... and the restore's -v4 log has no secret either${enc:+ (found in $enc)}" test -z "$enc"
else
	not_ok "leak: restore"
	show_log_errors "$tmp/enc/restore.log"
fi
# The private tmpfs: zdtm's uns flavour gives the test its own mount
# namespace; test/zdtm/static/secret_tmpfs.c mounts a tmpfs there, keeps
# its secret in a file on it, names the secret in its output, and checks
# the file after restore (zdtm's PASS).
zdtm_leak() { # plain|encrypt: runs the test, lists where the secret is in $tmp/found
	local dir="$E2E_TOP/build/criu/test" name=zdtm/static/secret_tmpfs opt img s t
	[ "$1" = encrypt ] && opt=--encrypt
	rm -rf "$dir/dump/$name" "$dir/$name.out"
	(cd "$dir" && timeout -k 10 600 python3 zdtm.py run -f uns -t "$name" --keep-img always $opt \
		</dev/null >"$tmp/zdtm-$1.log" 2>&1)
	check "leak: zdtm secret_tmpfs ($1): the restored test finds its tmpfs file and heap intact" \
		grep -q "Test $name PASS" "$tmp/zdtm-$1.log" || tail -n 5 "$tmp/zdtm-$1.log" | sed 's/^/    # /'
	s=$(grep -ho 'secret [0-9a-f]\{32\}' "$dir/$name.out" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
	img=$(ls -d "$dir/dump/$name"/*/1 2>/dev/null | head -n 1)
	: >"$tmp/found"
	[ -n "$s" ] && [ -n "$img" ] || {
		echo "no secret or no images" >"$tmp/found"
		return
	}
	grep -rlaF "$s" "$img" | xargs -r -n1 basename >>"$tmp/found"
	for t in "$img"/tmpfs-dev-*.img; do
		zcat "$t" 2>/dev/null | grep -qaF "$s" && echo "$(basename "$t")(gunzipped)" >>"$tmp/found"
	done
}
zdtm_leak plain
found=$(tr '\n' ' ' <"$tmp/found")
check "leak: control: a plain checkpoint has the tmpfs secret in its tmpfs archive ($found)" \
	grep -q "tmpfs-dev-.*(gunzipped)" "$tmp/found"
zdtm_leak encrypt
found=$(tr '\n' ' ' <"$tmp/found")
check "leak: an encrypted checkpoint has the tmpfs secret in no file${found:+ (found in $found)}" \
	test ! -s "$tmp/found"
exit $T_FAILED
