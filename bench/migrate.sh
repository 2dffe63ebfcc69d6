#!/bin/bash
# The migration benchmark (part of 'make bench', or alone: make
# bench-migrate), see "Migration" in bench/README.md.  A workload of
# BENCH_MIGRATE_MIB MiB (1024) is migrated over loopback to a page server
# and restored from the page server's directory with the dump's images
# copied in, four ways in alternation: plain, plain with --tls, --encrypt,
# --encrypt --tls; BENCH_MIGRATE_REPS repetitions (5) each.  Writes
# bench/results/migrate.csv (a row a migration) and migrate.md (medians,
# spreads, ratios to plain --tls, the targets of issue 21).
#
# This machine's kernel has no soft-dirty tracking, so there are no
# pre-dumps here: a migration is the final dump (the source frozen) to the
# page server, the copy of the dump's images, and the restore.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export LC_ALL=C

B=$top/build/bench
OUT=${BENCH_OUT:-$top/bench/results}
PKI=$top/build/pki
CRIU=${BENCH_CRIU:-$B/migrate-criu} # make bench's snapshot, or one of its own
T=/dev/shm/criu-bench-migrate
PORT=${BENCH_MIGRATE_PORT:-27123}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	MIB=${BENCH_MIGRATE_MIB:-128}
	REPS=${BENCH_MIGRATE_REPS:-2}
else
	MIB=${BENCH_MIGRATE_MIB:-1024}
	REPS=${BENCH_MIGRATE_REPS:-5}
fi
METHODS="plain tls enc enc-tls"
TLS=(--tls --tls-no-cn-verify --tls-cacert "$PKI/cacert.pem" --tls-cert "$PKI/cert.pem" --tls-key "$PKI/key.pem")
WPID=""
WUPID=""

log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$B/migrate.log" >&2; }
die() {
	log "bench-migrate: $*"
	exit 1
}
. "$top/bench/lib.sh"
wait_file() {
	local i
	for i in $(seq $(($2 * 20))); do
		[ -s "$1" ] && head -n 1 "$1" && return 0
		sleep 0.05
	done
	return 1
}
t_wall() { cut -d' ' -f1 "$1" 2>/dev/null; }
lo_tx() { cat /sys/class/net/lo/statistics/tx_bytes; }

cleanup() {
	[ -n "$WPID" ] && kill_wait "$WPID"
	[ -n "$WUPID" ] && wait "$WUPID" 2>/dev/null
	rm -rf "$T"
}

# migrate METHOD REP: one migration of the workload (left running), a row of migrate.csv
migrate() {
	local m=$1 rep=$2 ps=$T/target src=$T/source rd=$B/migrate/$1-$2 status=ok verify=- rpid
	local pargs dargs rargs tx0 tx1 disk
	rm -rf "$ps" "$src" "$rd"
	mkdir -p "$ps" "$src" "$rd"
	pargs=(page-server -D "$ps" --port "$PORT" --daemon --pidfile "$rd/ps.pid" -o "$rd/ps.log")
	dargs=(dump -t "$WPID" -R -D "$src" -o "$rd/dump.log" --page-server --address 127.0.0.1 --port "$PORT")
	rargs=(restore -d -D "$ps" -o "$rd/restore.log" --pidfile "$rd/pid")
	case $m in
	enc*)
		dargs+=(--encrypt --tls-cert "$PKI/cert.pem")
		rargs+=(--tls-key "$PKI/key.pem")
		;;
	esac
	case $m in
	*tls) pargs+=("${TLS[@]}") dargs+=("${TLS[@]}") ;;
	esac

	tx0=$(lo_tx)
	"$B/bin/timeit" "$rd/ps.t" timeout -k 5 600 "$CRIU" "${pargs[@]}" || status=page-server-failed
	[ $status = ok ] && { "$B/bin/timeit" "$rd/dump.t" timeout -k 5 600 "$CRIU" "${dargs[@]}" || status=dump-failed; }
	# the page server has the pages once it is gone
	for _ in $(seq 600); do
		gone "$(cat "$rd/ps.pid" 2>/dev/null || echo 0)" && break
		sleep 0.01
	done
	tx1=$(lo_tx)
	disk=$(du -sB1 "$ps" | cut -f1)
	[ $status = ok ] && { "$B/bin/timeit" "$rd/copy.t" cp -a "$src/." "$ps/" || status=copy-failed; }
	[ $status = ok ] && { "$B/bin/timeit" "$rd/restore.t" timeout -k 5 600 "$CRIU" "${rargs[@]}" || status=restore-failed; }
	rpid=$(cat "$rd/pid" 2>/dev/null)
	if [ $status = ok ] && [ -n "$rpid" ]; then
		rm -f "$T/result"
		kill -USR1 "$rpid"
		verify=$(wait_file "$T/result" 120) || verify=none
		kill_wait "$rpid"
	fi
	[ $status = ok ] || grep -h Error "$rd"/*.log 2>/dev/null | tail -n 3 >&2
	echo "$m,$rep,$status,$verify,$(t_wall "$rd/ps.t"),$(t_wall "$rd/dump.t"),$(t_wall "$rd/copy.t"),$(t_wall "$rd/restore.t"),$((tx1 - tx0)),$disk" >>"$OUT/migrate.csv"
	log "migrate $m rep $rep: $status, dump $(t_wall "$rd/dump.t") s, restore $(t_wall "$rd/restore.t") s, $((tx1 - tx0)) bytes on lo, $verify"
	rm -rf "$ps" "$src"
}

main() {
	local rep i pos
	local -a ms=($METHODS)
	mkdir -p "$B" "$OUT" "$T"
	: >"$B/migrate.log"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	# one run measures one binary, whatever is rebuilt meanwhile
	if [ -z "${BENCH_CRIU:-}" ]; then
		cp "$top/build/criu/criu/criu" "$CRIU.new" && mv "$CRIU.new" "$CRIU" || die "no criu"
	fi
	mkdir -p "$B/bin"
	for p in timeit memhog; do
		[ -x "$B/bin/$p" ] || gcc -O2 -Wall -Werror -D_GNU_SOURCE -o "$B/bin/$p" "$top/bench/$p.c" || die "can't build $p"
	done
	[ -f "$PKI/cert.pem" ] || "$top/test/pki/make-keys.sh" "$PKI" || die "can't make $PKI"

	start_in_pidns "$T" "$B/bin/memhog" "$MIB" "$T/ready" "$T/result" || die "the workload did not start"
	wait_file "$T/ready" 600 >/dev/null || die "the workload is not ready"
	log "migrate: memhog of $MIB MiB (pid $WPID), $REPS repetitions of: $METHODS"
	echo "method,rep,status,verify,page_server_start_s,dump_s,copy_s,restore_s,lo_bytes,page_server_disk_bytes" >"$OUT/migrate.csv"
	migrate plain 0 >/dev/null 2>&1 # a first migration for nobody: the kernel's caches
	sed -i '$d' "$OUT/migrate.csv"
	for rep in $(seq "$REPS"); do
		for i in 0 1 2 3; do
			pos=$(((i + rep - 1) % 4))
			migrate "${ms[$pos]}" "$rep"
		done
	done
	/usr/bin/python3 "$top/bench/migrate-report.py" "$OUT/migrate.csv" "$MIB" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
		>"$OUT/migrate.md" || die "report failed"
	echo "Load at the end: $(cat /proc/loadavg)." >>"$OUT/migrate.md"
	log "done: $OUT/migrate.md"
}

main "$@"; exit
