# Shell helpers of the benchmark's scripts (run.sh, b2b.sh, crit.sh,
# migrate.sh), sourced.

# Start "$@" in the directory $DIR as PID 1 of a new pid namespace, in a
# session of its own (a restore makes the namespace anew, so pids never
# clash, and this machine's PID 1 reaps slowly): WUPID is unshare, WPID
# the command.  Closes fds 8 and 9, the scripts' locks.
start_in_pidns() { # DIR CMD...
	local i dir=$1
	shift
	(cd "$dir" && exec unshare --pid --fork setsid "$@" </dev/null >/dev/null 2>&1 8>&- 9>&-) &
	WUPID=$!
	WPID=""
	for i in $(seq 200); do
		read -r WPID _ 2>/dev/null <"/proc/$WUPID/task/$WUPID/children"
		[ -n "$WPID" ] && return 0
		sleep 0.05
	done
	return 1
}

# Whether pid $1 is gone (or a zombie: its memory is freed, and its pid
# namespace with it).
gone() {
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	line=${line##*) }
	[ "${line%% *}" = Z ]
}

kill_wait() {
	local i
	[ -n "$1" ] || return 0
	kill -9 "$1" 2>/dev/null
	for i in $(seq 600); do
		gone "$1" && return 0
		sleep 0.1
	done
	log "pid $1 does not die"
}
