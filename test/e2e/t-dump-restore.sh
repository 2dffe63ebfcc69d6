# A real process is dumped and restored, and carries on where it stopped,
# whichever way the machine stops the parasite and the restorer: the way
# criu chose for this machine, and syscall tracing forced by CRIU_FAULT=130.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'e2e_cleanup; rm -rf "$tmp"' EXIT
keeper=$(e2e_cc secret-keeper)

round() { # $1: name of the path; environment of criu from the caller
	local name=$1 d="$tmp/$1" pid before
	mkdir -p "$d"
	echo "s3cr3t-$RANDOM$RANDOM" >"$tmp/secret"
	: >"$tmp/log"
	pid=$(start_in_pidns "$keeper" "$tmp/secret" "$tmp/log")
	wait_for '[ "$(last_tick)" -ge 3 ] 2>/dev/null' 10
	if ! criu_t dump -t "$pid" -D "$d" -o dump.log -v4; then
		not_ok "$name: dump"
		show_log_errors "$d/dump.log"
		return
	fi
	ok "$name: dump"
	before=$(last_tick)
	if ! criu_t restore -D "$d" -d -o restore.log -v4 --pidfile "$d/pid"; then
		not_ok "$name: restore"
		show_log_errors "$d/restore.log"
		return
	fi
	track_pid "$(cat "$d/pid")"
	wait_for '[ "$(last_tick)" -gt $((before + 2)) ]' 10
	check "$name: the restored process counts on from $before (now $(last_tick))" \
		test "$(last_tick)" -gt $((before + 2))
	check "$name: its secret is intact" not grep -q CORRUPTED "$tmp/log"
	e2e_cleanup
}

round "default stop ($(criu_t check --feature ptrace_breakpoints >/dev/null 2>&1 && echo breakpoint || echo syscall tracing))"
CRIU_FAULT=130 round "forced syscall tracing"
exit $T_FAILED
