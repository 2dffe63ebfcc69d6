# A process with a listening TCP socket and a UDP socket is dumped and
# restored and still answers on both, with its state.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'e2e_cleanup; rm -rf "$tmp"' EXIT
port=$((20000 + RANDOM % 20000))
ask() { /usr/bin/python3 "$E2E_TOP/test/e2e/net-ask.py" "$@" "$port" 2>/dev/null; }

pid=$(start_in_pidns /usr/bin/python3 "$E2E_TOP/test/e2e/net-echo.py" "$port")
wait_for 'ask tcp >/dev/null' 10
check "net: the server answers before the dump" test "$(ask udp)" = "udp 2"

if criu_t dump -t "$pid" -D "$tmp" -o dump.log -v4 --tcp-established; then
	ok "net: dump of a process with TCP and UDP sockets"
else
	not_ok "net: dump of a process with TCP and UDP sockets"
	show_log_errors "$tmp/dump.log"
fi
check "net: nobody answers while it is dumped" test -z "$(ask tcp)"

if criu_t restore -D "$tmp" -d -o restore.log -v4 --tcp-established --pidfile "$tmp/pid"; then
	ok "net: restore"
	track_pid "$(cat "$tmp/pid")"
else
	not_ok "net: restore"
	show_log_errors "$tmp/restore.log"
fi
check "net: the restored process answers on TCP with its state" test "$(ask tcp)" = "tcp 3"
check "net: the restored process answers on UDP with its state" test "$(ask udp)" = "udp 4"
exit $T_FAILED
