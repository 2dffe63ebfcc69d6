#!/bin/bash
# Back-to-back dumps (bench/README.md, "Back-to-back dumps"): one process of
# MIB MiB (memhog.c) dumped to tmpfs over and over with no pause, every
# dump into a fresh directory after the last one is removed, the methods
# in turn, each round starting one method later.  Dumps only
# (--leave-running): what varied from run to run on some machines was the
# dump.  One CSV row per dump: round,method,wall_s,user_s,sys_s,rss_kib.
#
#   b2b.sh OUT_CSV ROUNDS MIB METHOD=CRIU:KIND ...
#
# KIND: plain, enc (--encrypt), or a tool of bench/tools.sh (age, gpg,
# openssl) as criu's post-dump action script.  Needs bench/run.sh's
# build/bench (bin/timeit, bin/memhog, keys) and build/pki.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
out=$1 rounds=$2 mib=$3
shift 3
B=$top/build/bench
S=/dev/shm/criu-bench-b2b
PKI=$top/build/pki
log() { echo "b2b: $*" >&2; }
. "$top/bench/lib.sh"

rm -rf "$S"
mkdir -p "$S/st"
start_in_pidns "$S/st" "$B/bin/memhog" "$mib" "$S/st/ready" "$S/st/result"
pid=$WPID
for i in $(seq 1200); do
	[ -s "$S/st/ready" ] && break
	sleep 0.1
done
fail() {
	log "$*"
	kill_wait "$pid"
	wait
	rm -rf "$S"
	exit 1
}
[ -n "$pid" ] && [ -s "$S/st/ready" ] || fail "the workload did not start"
# a first dump, untimed: nobody's measurement pays for the process's first
timeout -k 5 600 "$B/criu" dump -t "$pid" -D "$S/st" -o "$S/warmup.log" -R >/dev/null 2>&1 ||
	fail "the warm-up dump failed ($S/warmup.log)"
rm -f "$S"/st/*.img

n=$#
methods=("$@")
echo "round,method,wall_s,user_s,sys_s,rss_kib" >"$out"
for r in $(seq "$rounds"); do
	for i in $(seq 0 $((n - 1))); do
		spec=${methods[$(((i + r - 1) % n))]}
		name=${spec%%=*} rest=${spec#*=}
		criu=${rest%:*} kind=${rest##*:}
		args=()
		case $kind in
		plain) ;;
		enc) args=(--encrypt --tls-cert "$PKI/cert.pem") ;;
		*) args=(--action-script "$top/bench/tools.sh") ;;
		esac
		rm -rf "$S/img"
		mkdir -p "$S/img"
		env BENCH_TOOL="$kind" BENCH_KEYS="$B/keys" BENCH_PKI="$PKI" "$B/bin/timeit" "$S/t" \
			timeout -k 5 600 "$criu" dump -t "$pid" -D "$S/img" -o "$S/dump.log" -R "${args[@]}" \
			>/dev/null 2>&1 || fail "round $r: $name failed ($S/dump.log)"
		read -r w u s rss _ <"$S/t"
		echo "$r,$name,$w,$u,$s,$rss" >>"$out"
	done
done
kill_wait "$pid"
wait
rm -rf "$S"
