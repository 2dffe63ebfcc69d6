#!/bin/bash
# The demo: a real checkpoint and restore of a real process that holds a
# secret.  Run through 'make demo', which builds everything first.
set -eu
. "$(dirname "$0")/../test/e2e/lib.sh"

work=$(mktemp -d /tmp/criu-demo.XXXXXX)
trap 'e2e_cleanup; rm -rf "$work"' EXIT
imgs="$work/checkpoint"
mkdir -p "$imgs"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "${*/#criu_t/criu}"
	"$@"
}
last_tick() { tail -n 1 "$work/log" | cut -d: -f1; }

keeper=$(e2e_cc secret-keeper)
secret="demo-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

say "1. A process that holds a secret"
echo "secret-keeper reads a secret into its heap, deletes the file it came"
echo "from, and counts, one line a tick, in its own pid namespace."
echo "$secret" >"$work/secret"
pid=$(start_in_pidns "$keeper" "$work/secret" "$work/log")
wait_for '[ "$(wc -l <"$work/log" 2>/dev/null)" -ge 5 ]' 10
echo "It runs as pid $pid; its log ends with:"
tail -n 2 "$work/log" | sed 's/^/    /'

say "2. Checkpoint it"
run criu_t dump -t "$pid" -D "$imgs" -o dump.log -v4
before=$(last_tick)
echo "criu dump saved the process tree and stopped it (the default);"
echo "its log stopped at '$before'."
sleep 1
[ "$(last_tick)" = "$before" ] || {
	echo "demo: the process is still running after the dump" >&2
	exit 1
}

say "3. What a checkpoint holds"
echo "$(ls "$imgs" | grep -c '\.img$') image files, $(du -sh "$imgs" | cut -f1) in all; the process's memory is in pages-*.img:"
(cd "$imgs" && ls -l pagemap-*.img pages-*.img) | sed 's/^/    /'
hits=$(grep -l -a -F "$secret" "$imgs"/*.img | xargs -r -n1 basename | tr '\n' ' ')
echo "grep finds the secret in the clear in: ${hits:-no file}"
echo "Anyone who can read this directory can read every secret of the process."
echo "(Encrypted checkpoints, 'criu dump --encrypt', are the next step of this project.)"
echo "crit decodes the images; the process tree:"
"$CRIT" x "$imgs" ps | sed 's/^/    /'

say "4. Restore it"
run criu_t restore -D "$imgs" -d -o restore.log -v4 --pidfile "$work/pid"
track_pid "$(cat "$work/pid")"
echo "The restored process runs again as pid $(cat "$work/pid")."

say "5. It carries on where it stopped"
wait_for '[ "$(last_tick)" != "$before" ]' 10
sleep 0.5
grep -A3 "^$before:" "$work/log" | sed 's/^/    /'
echo "The count goes on from '$before', and the secret is intact in its memory."
grep -q CORRUPTED "$work/log" && {
	echo "demo: the restored process lost its secret" >&2
	exit 1
}
say "Done: a real process was checkpointed and restored with the patched CRIU"
echo "($("$CRIU" --version | head -n 1 | tr -s ' '), $E2E_TOP/build/bin/criu)."
