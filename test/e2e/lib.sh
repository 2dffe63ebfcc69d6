# Helpers shared by the demo and the end-to-end tests (sourced, bash).
#
# Every criu call runs under a timeout, and every workload runs in its own
# pid namespace (PID 1 of this machine reaps orphans slowly, and containers
# are in their own pid namespace anyway).  Processes are only ever killed by
# the pids these helpers recorded.

E2E_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CRIU=${CRIU:-$E2E_TOP/build/bin/criu}
CRIT=${CRIT:-$E2E_TOP/build/bin/crit}
CRIU_TIMEOUT=${CRIU_TIMEOUT:-120}
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

# The pids to kill at the end, in a file: start_in_pidns runs in $(...),
# where a variable set would be lost ($$ is the same there).
E2E_PIDS=$E2E_TOP/build/e2e/pids.$$

criu_t() {
	timeout -k 5 "$CRIU_TIMEOUT" "$CRIU" "$@"
}

crit_t() {
	timeout -k 5 120 "$CRIT" "$@"
}

# Compile a C helper of test/e2e into build/e2e (again when it or a header
# of test/e2e changed), with gcc's further arguments $2...; prints the
# binary's path.
e2e_cc() {
	local src="$E2E_TOP/test/e2e/$1.c" out="$E2E_TOP/build/e2e/$1" f stale=0
	mkdir -p "$E2E_TOP/build/e2e"
	for f in "$src" "$E2E_TOP"/test/e2e/*.h; do
		[ "$f" -nt "$out" ] && stale=1
	done
	if [ ! -x "$out" ] || [ $stale = 1 ]; then
		gcc -O2 -Wall -Werror -o "$out" "$src" "${@:2}" || return 1
	fi
	echo "$out"
}

# The client of libcriu of test/e2e (libcriu-client.c), linked with the
# build's libcriu.a (made anew: it may be newer); prints its path.
e2e_libcriu_client() {
	local b=$E2E_TOP/build/criu
	rm -f "$E2E_TOP/build/e2e/libcriu-client"
	e2e_cc libcriu-client -iquote "$b/lib/c" -iquote "$b/criu/include" -iquote "$b/images" \
		"$b/lib/c/libcriu.a" -lprotobuf-c
}

# The criu of the same tree built without encryption (make NO_ENCRYPTION=1,
# a clean build: objects depend on the switch) into build/criu-noenc, again
# when the full criu is newer, its log in build/criu-noenc.log; prints its path.
e2e_noenc_criu() {
	local tree="$E2E_TOP/build/criu-noenc" log="$E2E_TOP/build/criu-noenc.log"
	if [ ! -x "$tree/criu/criu" ] || [ "$CRIU" -nt "$tree/criu/criu" ]; then
		rm -rf "$tree"
		tar -C "$E2E_TOP/build/criu" --exclude=./.git --exclude=./test/dump -cf - . | (mkdir -p "$tree" && tar -C "$tree" -xf -)
		(cd "$tree" && make -s clean && make -j"$(nproc)" PYTHON=/usr/bin/python3 NO_ENCRYPTION=1 criu) \
			>"$log" 2>&1
	fi
	[ -x "$tree/criu/criu" ] && [ "$tree/criu/criu" -nt "$CRIU" ] || return 1
	echo "$tree/criu/criu"
}

# Start "$@" as PID 1 of a new pid namespace, in a session of its own and
# with no terminal; prints the host pid of the workload.
start_in_pidns() {
	local upid pid i
	unshare --pid --fork setsid "$@" </dev/null >/dev/null 2>&1 &
	upid=$!
	track_pid "$upid"
	for i in $(seq 100); do
		pid=$(cat /proc/$upid/task/$upid/children 2>/dev/null | cut -d' ' -f1)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	[ -n "$pid" ] || return 1
	track_pid "$pid"
	echo "$pid"
}

# The start of a test NAME: a scratch directory $tmp, removed at the exit
# after the test's processes are killed, and the test keys in $pki.
e2e_setup() {
	tmp=$(mktemp -d "/tmp/e2e-$1.XXXXXX")
	trap 'e2e_cleanup; rm -rf "$tmp"' EXIT
	pki="$E2E_TOP/build/pki"
	"$E2E_TOP/test/pki/make-keys.sh" "$pki" || not_ok "$1: test keys made"
}

# start_keeper NAME: the test's page-keeper ($keeper) with a new secret
# ($tmp/NAME.secret), its log $tmp/NAME.log and result $tmp/NAME.result;
# sets $pid and $secret
start_keeper() {
	secret="s3cr3t-$1-$RANDOM$RANDOM$RANDOM"
	echo "$secret" >"$tmp/$1.secret"
	: >"$tmp/$1.log"
	pid=$(start_in_pidns "$keeper" "$tmp/$1.secret" "$tmp/$1.log" "$tmp/$1.result")
	wait_for "[ \"\$(last_tick '$tmp/$1.log')\" -ge 2 ] 2>/dev/null" 10
}

# Remember a pid (a restored task) for e2e_cleanup.
track_pid() {
	mkdir -p "${E2E_PIDS%/*}"
	echo "$1" >>"$E2E_PIDS"
}

# Wait up to $2 seconds (default 5) for the command $1 to succeed.
wait_for() {
	local i n=$((${2:-5} * 10))
	for i in $(seq "$n"); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

e2e_cleanup() {
	local p
	for p in $(cat "$E2E_PIDS" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null || true
	done
	rm -f "$E2E_PIDS"
}

# Test results, one line each, counted by scripts/run-tests.sh.
T_FAILED=0
ok() { echo "ok - $*"; }
not_ok() {
	echo "not ok - $*"
	T_FAILED=1
}
# check NAME COMMAND...: one result from a command's exit status
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}

# not COMMAND...: succeeds when the command fails
not() { ! "$@"; }

# The last tick a secret-keeper (or another ticking workload) wrote to
# its log, $1 or $tmp/log
last_tick() { tail -n 1 "${1:-$tmp/log}" | cut -d' ' -f2 | tr -d :; }

# Show the errors of a criu log, for a failed test's output.
show_log_errors() {
	grep -E 'Error|Warn' "$1" 2>/dev/null | grep -v 'RLIMIT_NOFILE' | tail -n 5 | sed 's/^/    # /'
}

# check_restored NAME DIR KEY RESULT: restore DIR with KEY, send the
# restored task SIGUSR1 (it checks itself and writes "ok" to RESULT), pass
# when it does; the task is killed after.
check_restored() {
	local name=$1 dir=$2 key=$3 result=$4 rpid
	if ! criu_t restore -D "$dir" -d -o restore.log -v4 --tls-key "$key" --pidfile "$dir/restored.pid"; then
		not_ok "$name: restore"
		show_log_errors "$dir/restore.log"
		return
	fi
	rpid=$(cat "$dir/restored.pid")
	track_pid "$rpid"
	rm -f "$result"
	kill -USR1 "$rpid"
	wait_for "test -s '$result'" 20
	check "$name ($(cat "$result" 2>/dev/null))" grep -qx ok "$result"
	kill -9 "$rpid"
	wait_for "! kill -0 $rpid 2>/dev/null" 10
}

# check_refused NAME DIR KEY PATTERN COUNT [ARGS...]: restoring DIR with KEY
# (and ARGS) fails with an error matching PATTERN, and the command COUNT
# (the number of the workload's processes) says the same after as before.
check_refused() {
	local name=$1 dir=$2 key=$3 pattern=$4 count=$5 before
	shift 5
	before=$($count)
	if criu_t restore -D "$dir" -d -o restore.log -v4 --tls-key "$key" --pidfile "$dir/restored.pid" "$@"; then
		track_pid "$(cat "$dir/restored.pid")"
		not_ok "$name: restored"
		return
	fi
	check "$name: refused ($(grep -m1 -oE "$pattern" "$dir/restore.log"))" grep -qE "$pattern" "$dir/restore.log"
	check "$name: no restored process is left" test "$($count)" = "$before" -a ! -e "$dir/restored.pid"
}

# Invert every bit of the byte at offset $2 of file $1 (a real change,
# whatever the byte was).
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
