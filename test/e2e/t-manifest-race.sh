# The manifest of an encrypted dump lists every image that criu's helper
# processes wrote, also when they write at the same time: criu dumps the
# UTS, IPC, time and network namespaces of a task from one forked helper
# each, all running at once, and each notes the names of the images it
# writes in a list shared with criu.  A name lost there leaves its image
# out of the manifest, and the checkpoint then does not restore ("not
# listed in manifest.img").  The helpers meet there only now and then on
# their own, so the dump runs with test/e2e/slow-names.c preloaded, which
# makes every helper take its time as it copies an image's name.  CRIT
# and criu both read the checkpoint, and the restored task has its
# namespaces' state.
. "$(dirname "$0")/lib.sh"
e2e_setup manifest-race
so="$E2E_TOP/build/e2e/slow-names.so"
if ! gcc -O2 -Wall -Werror -fno-builtin -shared -fPIC -o "$so" "$E2E_TOP/test/e2e/slow-names.c" -ldl; then
	not_ok "manifest-race: test/e2e/slow-names.c builds"
	exit 1
fi
host="race-$RANDOM$RANDOM"

# PID 1 of new pid, UTS, IPC, time and network namespaces, with a host name of its own
unshare --pid --uts --ipc --time --net --fork setsid \
	sh -c "hostname $host && ip link set lo up && exec sleep 1000" </dev/null >/dev/null 2>&1 &
upid=$!
track_pid "$upid"
wait_for "test -n \"\$(cat /proc/$upid/task/$upid/children 2>/dev/null)\"" 10
pid=$(cut -d' ' -f1 "/proc/$upid/task/$upid/children" 2>/dev/null)
[ -n "$pid" ] && track_pid "$pid"
wait_for "grep -q 'sleep' /proc/$pid/cmdline 2>/dev/null" 10
check "manifest-race: the workload runs in namespaces of its own" \
	test -n "$pid" -a "$(readlink "/proc/$pid/ns/uts" 2>/dev/null)" != "$(readlink /proc/self/ns/uts)"

mkdir -p "$tmp/enc"
if ! LD_PRELOAD=$so criu_t dump -t "$pid" -D "$tmp/enc" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem"; then
	not_ok "manifest-race: encrypted dump, the helpers slowed down"
	show_log_errors "$tmp/enc/dump.log"
	exit 1
fi
ok "manifest-race: encrypted dump, the helpers slowed down"
slowed=$(grep -c 'Dump \(UTS\|IPC\|TIME\|NET\).* namespace' "$tmp/enc/dump.log")
check "manifest-race: $slowed namespaces were dumped by helpers at once" test "$slowed" -ge 4

# every sealed image is in the manifest: CRIT's decrypt refuses one that is not
out=$(crit_t decrypt "$tmp/enc" "$tmp/plain" --tls-key "$pki/key.pem" 2>&1)
check "manifest-race: crit decrypt reads every image${out:+ ($out)}" test -d "$tmp/plain"
for img in utsns ipcns-var timens netns; do
	name=$(cd "$tmp/enc" && ls $img-*.img 2>/dev/null | head -n 1)
	check "manifest-race: ${name:-$img-*.img} is written and decrypted" test -n "$name" -a -s "$tmp/plain/$name"
done

if ! criu_t restore -D "$tmp/enc" -d -o restore.log -v4 --tls-key "$pki/key.pem" --pidfile "$tmp/restored.pid"; then
	not_ok "manifest-race: restore"
	show_log_errors "$tmp/enc/restore.log"
	exit 1
fi
rpid=$(cat "$tmp/restored.pid")
track_pid "$rpid"
ok "manifest-race: restore"
check "manifest-race: the restored task has its host name ($(nsenter -u -t "$rpid" hostname 2>&1))" \
	test "$(nsenter -u -t "$rpid" hostname 2>&1)" = "$host"
check "manifest-race: the restored task is in a time namespace of its own" \
	test "$(readlink "/proc/$rpid/ns/time")" != "$(readlink /proc/self/ns/time)"
exit $T_FAILED
