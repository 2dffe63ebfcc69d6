#!/bin/bash
# CRIT on a big encrypted checkpoint (issue 22), side by side with what a
# user of age does with a plain one.  A memhog of SIZE MiB (incompressible
# memory) is dumped twice, --leave-running: plain, then tarred and
# encrypted with age (X25519); and with --encrypt.  Then, in alternation,
# REPS repetitions (each one starting one command later) of:
#
#   age      age -d -i KEY CKPT.tar.age | tar -x    (the plain checkpoint back)
#   decrypt  crit decrypt DIR OUT --tls-key KEY     (a plain copy)
#   grep     crit grep DIR PATTERN --tls-key KEY    (a pattern that is nowhere:
#                                                    every page is read)
#   mem      crit mem DIR 1 START-END -o FILE ...   (the memhog's mapping:
#                                                    all but a few pages)
#
# each timed by bench/timeit.c (wall, CPU, peak RSS of the largest
# process), its output removed and synced away untimed before the next.
# Prints a markdown table to stdout: per command the median and min-max
# of the wall time, the largest peak RSS, the ratio of its median to
# age's and the spread of the ratios of the same repetition, and the
# targets of issue 22 (at most 2x age, at most 256 MiB).  Writes a row a
# measurement to the CSV file given as argument.
#
#   bench/crit.sh [CSV]                       (default build/bench/crit.csv)
#
# Environment:
#   BENCH_CRIT_MIB=N     the size of the workload in MiB (512)
#   BENCH_CRIT_REPS=N    repetitions (5)
#   BENCH_CRIT_DIR=DIR   where the checkpoints go (/dev/shm/criu-bench-crit;
#                        on disk for big sizes): made, and removed at the end
#   BENCH_CRIT_DROP=1    drop the page cache before every measurement
#                        (default: warm, the cost of the commands alone)
#   BENCH_CRIU=PATH      the criu binary (a copy of build/criu/criu/criu)
#   BENCH_CRIT_CMD="CMD" the crit command (a copy of build/criu's crit and
#                        pycriu, run with /usr/bin/python3)
#   BENCH_PKI=DIR        cert.pem and key.pem for --encrypt (build/pki)
#   BENCH_KEYS=DIR       age.key and age.pub (build/bench/keys, made when missing)
#   BENCH_TIMEOUT=S      the timeout of every command (1800)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export LC_ALL=C

B=$top/build/bench
W=$B/crit                 # this script's own: snapshot, programs, raw timings
CSV=${1:-$B/crit.csv}
MIB=${BENCH_CRIT_MIB:-512}
REPS=${BENCH_CRIT_REPS:-5}
D=${BENCH_CRIT_DIR:-/dev/shm/criu-bench-crit}
PKI=${BENCH_PKI:-$top/build/pki}
KEYS=${BENCH_KEYS:-$B/keys}
TMO=${BENCH_TIMEOUT:-1800}
PY=/usr/bin/python3       # Debian's, with the modules (not a pyenv one)
METHODS="age decrypt grep mem"
PATTERN=criu-bench-crit-nowhere-$RANDOM$RANDOM
WPID=""
WUPID=""

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
. "$top/bench/lib.sh"
die() {
	log "bench-crit: $*"
	exit 1
}

cleanup() {
	[ -n "$WPID" ] && kill_wait "$WPID"
	[ -n "$WUPID" ] && wait "$WUPID" 2>/dev/null
	[ -e "$D/.bench-crit" ] && rm -rf "$D"
	return 0
}

# ---- set-up ---------------------------------------------------------------

setup() {
	local p
	command -v age >/dev/null && command -v age-keygen >/dev/null || {
		log "installing age"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends age >/dev/null ||
			die "apt-get install age failed"
	}
	[ -f "$PKI/cert.pem" ] && [ -f "$PKI/key.pem" ] || "$top/test/pki/make-keys.sh" "$PKI" || die "no keys in $PKI"
	if [ ! -f "$KEYS/age.key" ]; then
		mkdir -p "$KEYS" && chmod 700 "$KEYS"
		age-keygen -o "$KEYS/age.key" 2>/dev/null && age-keygen -y -o "$KEYS/age.pub" "$KEYS/age.key" ||
			die "age-keygen failed"
	fi
	mkdir -p "$W/bin" "$W/raw"
	for p in timeit memhog; do
		gcc -O2 -Wall -Werror -D_GNU_SOURCE -o "$W/bin/$p" "$top/bench/$p.c" || die "can't build $p"
	done
	# what is measured is copied first: build/criu may be rebuilt meanwhile
	cp "${BENCH_CRIU:-$top/build/criu/criu/criu}" "$W/criu.new" && mv "$W/criu.new" "$W/criu" ||
		die "can't copy criu"
	if [ -n "${BENCH_CRIT_CMD:-}" ]; then
		read -r -a CRIT <<<"$BENCH_CRIT_CMD"
	else
		rm -rf "$W/python"
		mkdir -p "$W/python"
		cp -rL "$top/build/criu/lib/pycriu" "$top/build/criu/crit/crit" "$W/python/" || die "can't copy crit"
		CRIT=(env PYTHONPATH="$W/python" "$PY" -m crit)
	fi
	"${CRIT[@]}" --help >/dev/null 2>&1 || die "crit does not run: ${CRIT[*]}"
}

# Start the workload in a pid namespace of its own (restore would need
# one, and PID 1 of this machine reaps slowly); WPID is the memhog.
start_memhog() {
	local i
	rm -f "$W/ready" "$W/result"
	start_in_pidns "$W" "$W/bin/memhog" "$MIB" "$W/ready" "$W/result" || die "memhog did not start"
	for i in $(seq 12000); do
		[ -s "$W/ready" ] && return 0
		gone "$WPID" && break
		sleep 0.05
	done
	die "memhog of $MIB MiB is not ready"
}

# The two checkpoints: $D/enc, and $D/plain.tar.age (the plain one, gone)
dump() {
	local c=(timeout -k 5 "$TMO" "$W/criu" dump -t "$WPID" -R)
	mkdir -p "$D/plain" "$D/enc"
	"${c[@]}" -D "$D/plain" -o "$W/dump-plain.log" || die "the plain dump failed (see $W/dump-plain.log)"
	"${c[@]}" -D "$D/enc" -o "$W/dump-enc.log" --encrypt --tls-cert "$PKI/cert.pem" ||
		die "the encrypted dump failed (see $W/dump-enc.log)"
	kill_wait "$WPID"
	wait "$WUPID" 2>/dev/null
	WPID=""
	WUPID=""
	set -o pipefail
	tar -C "$D/plain" -cf - . | age -R "$KEYS/age.pub" -o "$D/plain.tar.age" || die "tar | age failed"
	set +o pipefail
	rm -rf "$D/plain"
	# the memhog's mapping: the biggest one of task 1
	local a b best=0 line
	RANGE=""
	while read -r line _; do
		[[ $line =~ ^([0-9a-f]+)-([0-9a-f]+)$ ]] || continue
		a=$((16#${BASH_REMATCH[1]})) b=$((16#${BASH_REMATCH[2]}))
		[ $((b - a)) -gt $best ] && best=$((b - a)) RANGE=$line
	done < <("${CRIT[@]}" x "$D/enc" mems --tls-key "$PKI/key.pem")
	[ "$best" = $((MIB << 20)) ] || die "no mapping of $MIB MiB in task 1 of $D/enc"
	sync
}

# ---- one measurement --------------------------------------------------------

# measure METHOD REP POS: one row of the CSV
measure() {
	local m=$1 rep=$2 pos=$3 t=$W/raw/$1-$2.t out=$D/out status=ok rc w u s r size
	rm -rf "$out" "$t"
	[ "${BENCH_CRIT_DROP:-0}" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
	case $m in
	age)
		mkdir "$out"
		"$W/bin/timeit" "$t" timeout -k 5 "$TMO" bash -c 'set -o pipefail; age -d -i "$1" "$2" | tar -x -C "$3"' \
			age "$KEYS/age.key" "$D/plain.tar.age" "$out"
		[ -f "$out/pages-1.img" ] || status=fail
		;;
	decrypt)
		"$W/bin/timeit" "$t" timeout -k 5 "$TMO" "${CRIT[@]}" decrypt "$D/enc" "$out" --tls-key "$PKI/key.pem" \
			>/dev/null
		[ -f "$out/pages-1.img" ] || status=fail
		;;
	grep)
		# nowhere: exit status 1, and nothing printed
		"$W/bin/timeit" "$t" timeout -k 5 "$TMO" "${CRIT[@]}" grep "$D/enc" "$PATTERN" --tls-key "$PKI/key.pem" \
			>"$W/grep.out"
		[ -s "$W/grep.out" ] && status=fail
		;;
	mem)
		"$W/bin/timeit" "$t" timeout -k 5 "$TMO" "${CRIT[@]}" mem "$D/enc" 1 "$RANGE" -o "$out" \
			--tls-key "$PKI/key.pem" 2>/dev/null
		size=$(stat -c %s "$out" 2>/dev/null)
		[ "$size" = $((MIB << 20)) ] || status=fail
		;;
	esac
	read -r w u s r rc <"$t" 2>/dev/null || rc=x
	case $m:$rc in
	grep:1 | age:0 | decrypt:0 | mem:0) ;;
	*) status=fail ;;
	esac
	[ $status = ok ] || log "$m, repetition $rep: failed (exit $rc)"
	echo "$MIB,$STORAGE,$m,$rep,$pos,$status,${w:-},${u:-},${s:-},${r:-}" >>"$CSV"
	rm -rf "$out"
	sync
}

# ---- the table ----------------------------------------------------------------

summary() {
	"$PY" - "$CSV" "$MIB" "$STORAGE" "$REPS" "$CPU" <<'EOF'
import csv, statistics, sys

path, mib, storage, reps, cpu = sys.argv[1:]
rows = [r for r in csv.DictReader(open(path)) if r["size_mib"] == mib and r["storage"] == storage]
by = {}
for r in rows:
    by.setdefault(r["method"], {})[int(r["rep"])] = r
ok = lambda m: {k: float(r["wall_s"]) for k, r in by.get(m, {}).items() if r["status"] == "ok"}
age = ok("age")
amed = statistics.median(age.values()) if age else None
print("CRIT on a %s MiB checkpoint on %s, %s repetitions in alternation; %s.  Wall time; CPU:" % (mib, storage, reps, cpu))
print("median user + system; peak RSS: the largest process, the highest of the repetitions; ratio per")
print("repetition: to age's wall time in the same repetition.\n")
print("| command | median s | min-max s | CPU s | peak RSS MiB | ratio to age | ratio per repetition | target |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for m, what in (("age", "age -d \\| tar -x (plain, tarred)"), ("decrypt", "crit decrypt"),
                ("grep", "crit grep (absent)"), ("mem", "crit mem (the mapping)")):
    t = ok(m)
    if not t:
        print("| %s | failed | | | | | | |" % what)
        continue
    good = [r for r in by[m].values() if r["status"] == "ok"]
    rss = max(int(r["maxrss_kib"]) for r in good) / 1024
    cpu_s = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in good)
    med = statistics.median(t.values())
    cols = "| %s | %.2f | %.2f-%.2f | %.2f | %.0f |" % (what, med, min(t.values()), max(t.values()), cpu_s, rss)
    if m == "age" or not amed:
        print(cols + " 1 | | |")
        continue
    pair = [t[k] / age[k] for k in t if k in age]
    target = "PASS" if med / amed <= 2 and rss <= 256 else "MISS"
    fails = len(by[m]) - len(t)
    print(cols + " %.2f | %.2f-%.2f | %s (<= 2x, <= 256 MiB)%s |" %
          (med / amed, min(pair), max(pair), target, ", %d failed" % fails if fails else ""))
EOF
}

main() {
	local rep i pos n
	local -a ms=($METHODS)
	mkdir -p "$W" "$(dirname "$CSV")"
	exec 8>"$W.lock"
	flock -n 8 || die "another bench/crit.sh holds $W.lock"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	# a directory of its own, which it removes at the end
	[ -e "$D" ] && [ ! -e "$D/.bench-crit" ] && die "$D is there, and not of a bench/crit.sh run"
	rm -rf "$D"
	mkdir -p "$D" && touch "$D/.bench-crit" || die "can't make $D"
	STORAGE=$(df --output=fstype "$D" | tail -n 1)
	CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1) (family $(lscpu | sed -n 's/^CPU family: *//p'),\
 model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) CPUs"
	# the memhog, and on tmpfs its two checkpoints and an output, in memory
	local need=$((MIB * 5 / 4 + 512)) avail
	[ "$STORAGE" = tmpfs ] && need=$((need + MIB * 3))
	avail=$(($(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024))
	[ "$avail" -ge "$need" ] || die "$MIB MiB on $STORAGE needs about $need MiB of memory, $avail available"

	setup
	[ -s "$CSV" ] || echo "size_mib,storage,method,rep,position,status,wall_s,user_s,sys_s,maxrss_kib" >"$CSV"
	log "a memhog of $MIB MiB, dumped into $D ($STORAGE)"
	start_memhog
	dump
	n=${#ms[@]}
	log "$REPS repetitions of: $METHODS (crit mem $RANGE)"
	for rep in $(seq "$REPS"); do
		for i in $(seq 0 $((n - 1))); do
			pos=$(((i + rep - 1) % n))
			measure "${ms[$pos]}" "$rep" "$i"
		done
	done
	summary
}

main "$@"; exit
