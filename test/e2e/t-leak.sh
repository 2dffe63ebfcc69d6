# The secret leaks nowhere: a process keeps a fresh random secret in its
# heap, stack, a thread's stack, environment, argv, a child process,
# MAP_SHARED memory, a memfd, a pipe's unread buffer, a unix socket's
# receive queue and an open deleted file.  A plain dump (the control)
# has it in several files; an encrypted one in none; the restored process
# finds every copy intact.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/e2e-leak.XXXXXX)
trap 'e2e_cleanup; rm -rf "$tmp"' EXIT
bin=$(e2e_cc secret-places) || exit 1
pki="$E2E_TOP/build/pki"
"$E2E_TOP/test/pki/make-keys.sh" "$pki"
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
else
	not_ok "leak: restore"
	show_log_errors "$tmp/enc/restore.log"
fi
exit $T_FAILED
