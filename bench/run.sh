#!/bin/bash
# The benchmark of built-in checkpoint encryption ('make bench'), see
# bench/README.md.  Runs every workload under every method, repetitions in
# alternation, and writes bench/results/: results.csv (one row per
# repetition), summary.md (medians, ratios to plain criu of the same run,
# the targets), plots (*.png), machine.txt and primitives.txt.
#
# Environment:
#   BENCH_QUICK=1          small sizes, 2 repetitions (under 2 minutes)
#   BENCH_REPS=N           repetitions of every workload (overrides all)
#   BENCH_WORKLOADS="..."  a subset, as KIND:SIZE:STORAGE[:REPS] (below)
#   BENCH_TIMEOUT=S        the timeout of every criu command (900)
#   BENCH_METHODS="..."    plain base enc age gpg openssl (and cms, not
#                          default); base: plain criu 4.1.1 without this
#                          project's patches (bench/base-criu.sh)
#   BENCH_POSTDUMP=MODE    how the tools take the images: auto (big ones
#                          alone, small ones in a tar), tar, files
#   BENCH_OUT=DIR          where the results go (bench/results)
#   BENCH_MIGRATE=0        without the migration benchmark (bench/migrate.sh)
#   BENCH_B2B=0            without the back-to-back dumps (bench/b2b.sh)
#   BENCH_CRIT=0           without CRIT against age (bench/crit.sh)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export LC_ALL=C

B=$top/build/bench     # what a run makes, but its results
OUT=${BENCH_OUT:-$top/bench/results}
SHM=/dev/shm/criu-bench
DISK=$B/disk
PKI=$top/build/pki
CRIU=$B/criu           # the snapshot of the binary under test
PY=/usr/bin/python3    # Debian's, with the modules (not a pyenv one)
CRIU_TIMEOUT=${BENCH_TIMEOUT:-900}

METHODS=${BENCH_METHODS:-plain base enc age gpg openssl}
BASE=$B/criu-base      # criu 4.1.1 without this project's patches
export BENCH_POSTDUMP=${BENCH_POSTDUMP:-auto}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	# KIND:SIZE:STORAGE[:REPS]; SIZE in MiB (mem, raw) or processes (tree)
	WORKLOADS=${BENCH_WORKLOADS:-mem:64:shm mem:64:disk tree:20:shm raw:32:shm}
	REPS=${BENCH_REPS:-2}
	B2B_ROUNDS=3 B2B_MIB=64 CRIT_RUNS=64:2:shm
	PRIM_MIB=64
	RAW_PIPES=4
else
	WORKLOADS=${BENCH_WORKLOADS:-mem:512:shm:9 mem:1024:shm mem:4096:shm:3 mem:1024:disk tree:100:shm:9 tree:500:shm:9 raw:256:shm raw:256:disk}
	REPS=${BENCH_REPS:-5}
	B2B_ROUNDS=9 B2B_MIB=512 CRIT_RUNS="512:5:shm 4096:2:disk"
	PRIM_MIB=1024
	RAW_PIPES=16
fi

log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$B/run.log" >&2; }
die() {
	log "bench: $*"
	exit 1
}

# ---- set-up ---------------------------------------------------------------

# Debian packages: the tools compared, the plot, and what primitives.c
# links with.  Only dpkg-query when everything is there.
deps() {
	local p st missing=""
	for p in age gnupg openssl tar coreutils util-linux procps python3 python3-matplotlib \
		gcc libc6-dev libsodium-dev libgnutls28-dev nettle-dev libgmp-dev libprotobuf-c-dev; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$st" = "install ok installed" ] || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install failed"
}

# Everything under test is copied first: another engineer may rebuild
# build/criu while this runs, and one run must measure one binary.
snapshot() {
	local tree=$top/build/criu src=$B/src
	[ -x "$tree/criu/criu" ] || die "no $tree/criu/criu: run make build"
	cp "$tree/criu/criu" "$CRIU.new" && mv "$CRIU.new" "$CRIU" || die "can't copy criu"
	rm -rf "$B/python" "$src"
	mkdir -p "$B/python" "$src/criu/arch/x86" "$src/compel/plugins" "$src/images"
	cp -rL "$tree/lib/pycriu" "$B/python/" || die "can't copy pycriu"
	# the encryption module's sources, for primitives.c
	cp -L "$tree"/criu/crypt-*.[ch] "$src/criu/" &&
		cp -rL "$tree/criu/include" "$src/criu/" &&
		cp -rL "$tree/criu/arch/x86/include" "$src/criu/arch/x86/" &&
		cp -r "$tree/compel/include" "$src/compel/" &&
		cp -r "$tree/compel/plugins/include" "$src/compel/plugins/" &&
		cp -rL "$tree/include" "$src/" &&
		cp -L "$tree"/images/*.pb-c.[ch] "$src/images/" || die "can't copy the module's sources"
	timeout -k 5 30 "$CRIU" --version >"$B/criu-version" 2>&1 || die "the criu snapshot does not run"
	if [[ " $METHODS " == *" base "* ]]; then
		log "criu without this project's patches (bench/base-criu.sh)"
		local base
		base=$("$top/bench/base-criu.sh") && cp "$base" "$BASE.new" && mv "$BASE.new" "$BASE" ||
			die "can't build criu without the patches (build/bench/base.log)"
		git -C "$top/build/bench/base" log -1 --format='%h %s' >"$B/base-version"
	fi
	sha256sum "$CRIU" | cut -d' ' -f1 >"$B/criu-sha256"
}

build_programs() {
	local p src=$B/src
	mkdir -p "$B/bin"
	for p in timeit faultcost memhog tree rawimg; do
		gcc -O2 -Wall -Werror -D_GNU_SOURCE -o "$B/bin/$p" "$top/bench/$p.c" || die "can't build $p"
	done
	rm -f "$B/bin/primitives"
	make -s -C "$top" CRYPT_TREE="$src" UNIT="$B/bin" "$B/bin/primitives" >"$B/primitives-build.log" 2>&1 ||
		log "primitives.c does not build against this tree (see $B/primitives-build.log): no primitive figures"
}

# Throwaway keys, made once: the recipient of --encrypt (build/pki, as the
# tests use), an age X25519 identity, a gpg key without passphrase in a
# private GNUPGHOME, and openssl's CTR and HMAC keys.
make_keys() {
	local k=$B/keys
	[ -f "$PKI/cert.pem" ] || "$top/test/pki/make-keys.sh" "$PKI" || die "can't make $PKI"
	mkdir -p "$k"
	chmod 700 "$k"
	if [ ! -f "$k/age.key" ]; then
		age-keygen -o "$k/age.key" 2>/dev/null && age-keygen -y -o "$k/age.pub" "$k/age.key" ||
			die "age-keygen failed"
	fi
	if [ ! -f "$k/gnupg/done" ]; then
		rm -rf "$k/gnupg"
		mkdir -m 700 "$k/gnupg"
		gpg --homedir "$k/gnupg" --batch --quiet --passphrase '' \
			--quick-gen-key 'criu bench <bench@criu.invalid>' future-default default never 2>/dev/null ||
			die "gpg key generation failed"
		touch "$k/gnupg/done"
	fi
	# the agent decrypts; start it now so that no measurement pays for it
	gpgconf --homedir "$k/gnupg" --launch gpg-agent 9>&-
	[ -f "$k/enc.hex" ] || openssl rand -hex 32 >"$k/enc.hex"
	[ -f "$k/mac.hex" ] || openssl rand -hex 32 >"$k/mac.hex"
}

machine() {
	local f=$OUT/machine.txt
	{
		echo "# The machine of this run ($(date -u '+%F %T UTC'))"
		echo
		echo "## CPU"
		lscpu | grep -E '^(Architecture|CPU\(s\)|Model name|Thread|Core|Socket|CPU max MHz|L[123])'
		echo "AES-NI/VAES/PCLMUL/SHA-NI: $(grep -m1 -ow -E 'aes|vaes|pclmulqdq|vpclmulqdq|sha_ni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
		echo
		echo "## Kernel"
		uname -a
		echo "transparent hugepages: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
		echo
		echo "## Memory"
		free -h
		echo
		echo "## Page faults (faultcost.c: medians of 5 rounds)"
		"$B/bin/faultcost" "$CRIU"
		echo
		echo "## Storage of the images"
		df -hT "$SHM" "$DISK" | sed 's/^/    /'
		echo
		echo "## Under test"
		echo "criu: $(cat "$B/criu-version" | tr '\n' ' ')"
		echo "criu snapshot sha256: $(cat "$B/criu-sha256")"
		[ -f "$B/base-version" ] && echo "base (criu without this project's patches) at: $(cat "$B/base-version")"
		echo "project commit: $(git -C "$top" log -1 --format='%h %s' 2>/dev/null) (uncommitted changes not shown)"
		echo
		echo "## Tools"
		echo "age $(age --version)"
		gpg --version | head -n 2
		openssl version
		tar --version | head -n 1
		gcc --version | head -n 1
		echo "python $($PY -c 'import sys, matplotlib; print(sys.version.split()[0], "matplotlib", matplotlib.__version__)')"
		echo
		echo "## Load at the start (others may share the machine)"
		cat /proc/loadavg
	} >"$f"
}

# The primitives' speed on one core, three times (median in the report).
primitives() {
	local i f=$OUT/primitives.txt
	: >"$f"
	[ -x "$B/bin/primitives" ] || return 0
	log "primitives ($PRIM_MIB MiB, 3 runs)"
	for i in 1 2 3; do
		"$B/bin/primitives" "$SHM" "$PRIM_MIB" | sed "s/^/run$i /" >>"$f" || log "primitives failed"
	done
}

# ---- processes ------------------------------------------------------------

WPID="" # the workload: PID 1 of its own pid namespace
WUPID="" # unshare, its parent
. "$top/bench/lib.sh"
RPID="" # the restored copy of the moment

# Wait up to $2 seconds for the file $1; prints its first line.
wait_file() {
	local i line
	for i in $(seq $(($2 * 20))); do
		if [ -s "$1" ]; then
			read -r line <"$1"
			echo "$line"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# CPU seconds used so far by the tree of pid $1 (a restored tree: what the
# restore did inside its tasks, reading and decrypting their pages), and
# the page faults its tasks took: "SECONDS,FAULTS".
tree_cpu() {
	local todo=("$1") i=0 p line kids ticks=0 faults=0 tck
	tck=$(getconf CLK_TCK)
	while [ $i -lt ${#todo[@]} ]; do
		p=${todo[i++]}
		read -r line 2>/dev/null <"/proc/$p/stat" || continue
		line=${line##*) }
		set -- $line
		ticks=$((ticks + ${12} + ${13}))
		faults=$((faults + $8))
		read -r -a kids 2>/dev/null <"/proc/$p/task/$p/children"
		todo+=("${kids[@]}")
	done
	echo "$ticks $tck $faults" | awk '{ printf "%.2f,%d", $1 / $2, $3 }'
}

cleanup() {
	[ -n "$RPID" ] && kill_wait "$RPID"
	[ -n "$WPID" ] && kill_wait "$WPID"
	[ -n "$WUPID" ] && wait "$WUPID" 2>/dev/null
	rm -rf "$SHM" "$DISK"
	[ -d "$B/keys/gnupg" ] && gpgconf --homedir "$B/keys/gnupg" --kill gpg-agent 2>/dev/null
	return 0
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# ---- one measurement --------------------------------------------------------

# The fields of a timeit file, or empty ones.
t_read() {
	local w u s r c
	if [ -s "$1" ]; then
		read -r w u s r c <"$1"
		echo "$w,$u,$s,$r"
	else
		echo ",,,"
	fi
}

# The wall times of timeit files, added up.
t_sum() {
	cat "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.2f", s }'
}

# measure WORKLOAD KIND STORAGE METHOD REP POS: dump the running workload
# (--leave-running, so that one populated process serves every method and
# repetition), restore it, check it, kill the copy; one row of rows.csv.
measure() {
	local wl=$1 kind=$2 storage=$3 m=$4 rep=$5 pos=$6
	local rd=$B/raw/$wl/$m-$rep img status=ok verify=- tcpu=, dargs rargs env_tool
	local root=$SHM criu=$CRIU
	[ "$storage" = disk ] && root=$DISK
	img=$root/img
	rm -rf "$rd" "$img"
	mkdir -p "$rd" "$img"

	dargs=(dump -t "$WPID" -D "$img" -o "$rd/dump.log" -R --ghost-limit 2G)
	rargs=(restore -d -D "$img" -o "$rd/restore.log" --pidfile "$rd/pid")
	env_tool=(env BENCH_KEYS="$B/keys" BENCH_PKI="$PKI")
	case $m in
	plain) ;;
	base) criu=$BASE ;;
	enc)
		dargs+=(--encrypt --tls-cert "$PKI/cert.pem")
		rargs+=(--tls-key "$PKI/key.pem")
		;;
	*)
		dargs+=(--action-script "$top/bench/tools.sh")
		env_tool+=(BENCH_TOOL="$m")
		;;
	esac

	# On disk the page cache is dropped before every dump and restore and
	# the dump is synced: what is measured is the disk.  On tmpfs the
	# images are the page cache; nothing is dropped.
	[ "$storage" = disk ] && drop_caches
	"${env_tool[@]}" "$B/bin/timeit" "$rd/dump.t" timeout -k 5 "$CRIU_TIMEOUT" "$criu" "${dargs[@]}" \
		>"$rd/dump.out" 2>&1 || status=dump-failed
	[ "$storage" = disk ] && "$B/bin/timeit" "$rd/sync.t" sync -f "$img"
	cp "$img/stats-dump" "$rd/" 2>/dev/null
	local size apparent files
	size=$(du -sB1 "$img" | cut -f1)
	apparent=$(du -sb "$img" | cut -f1)
	files=$(find "$img" -type f | wc -l)

	if [ $status = ok ]; then
		[ "$storage" = disk ] && drop_caches
		case $m in
		plain | base | enc) ;;
		*)
			"${env_tool[@]}" "$B/bin/timeit" "$rd/decrypt.t" "$top/bench/tools.sh" decrypt "$img" \
				>"$rd/decrypt.out" 2>&1 || status=decrypt-failed
			# untimed: the ciphertext is not needed any more, and 4 GiB
			# of it on tmpfs besides the plaintext, the workload and its
			# restored copy would crowd this machine's memory
			rm -f "$img"/*."$m" "$img"/*.hmac
			;;
		esac
	fi
	if [ $status = ok ]; then
		"$B/bin/timeit" "$rd/restore.t" timeout -k 5 "$CRIU_TIMEOUT" "$criu" "${rargs[@]}" \
			>"$rd/restore.out" 2>&1 || status=restore-failed
		read -r RPID 2>/dev/null <"$rd/pid"
		if [ -n "$RPID" ]; then
			tcpu=$(tree_cpu "$RPID")
			rm -f "$B/state/result"
			kill -USR1 "$RPID"
			verify=$(wait_file "$B/state/result" 300) || verify=none
			verify=${verify// /_}
			kill_wait "$RPID"
			RPID=""
		fi
		cp "$img/stats-restore" "$rd/" 2>/dev/null
	fi
	if [ $status != ok ]; then
		log "$wl $m rep $rep: $status"
		grep -h -E 'Error|FAIL' "$rd"/*.log "$rd"/*.out 2>/dev/null | grep -v RLIMIT | tail -n 3 >&2
	fi
	rm -rf "$img"

	echo "$wl,$kind,$storage,$m,$rep,$pos,$status,$verify,$(t_read "$rd/dump.t"),$(t_read "$rd/sync.t"),$(t_read "$rd/decrypt.t"),$(t_read "$rd/restore.t"),$tcpu,$size,$apparent,$files" >>"$B/rows.csv"
	log "$wl $m rep $rep: dump $(t_sum "$rd/dump.t" "$rd/sync.t") s, restore $(t_sum "$rd/decrypt.t" "$rd/restore.t") s, $verify"
}

# ---- the run ----------------------------------------------------------------

size_name() { # $1 KIND $2 SIZE
	if [ "$1" = tree ]; then
		echo "$2"
	elif [ $(($2 % 1024)) = 0 ]; then
		echo "$(($2 / 1024))G"
	else
		echo "${2}M"
	fi
}

run_workload() { # KIND SIZE STORAGE REPS
	local kind=$1 size=$2 storage=$3 reps=$4 wl rep i n pos ready root=$SHM
	local -a ms=($METHODS)
	[ "$storage" = disk ] && root=$DISK
	wl=$kind-$(size_name "$kind" "$size")-$storage
	rm -f "$B/state/ready" "$B/state/result"
	case $kind in
	mem) start_in_pidns "$B/state" "$B/bin/memhog" "$size" "$B/state/ready" "$B/state/result" ;;
	tree) start_in_pidns "$B/state" "$B/bin/tree" "$size" "$B/state/ready" "$B/state/result" ;;
	raw) start_in_pidns "$B/state" "$B/bin/rawimg" "$root" "$size" "$RAW_PIPES" "$B/state/ready" "$B/state/result" ;;
	esac || die "$wl: the workload did not start"
	ready=$(wait_file "$B/state/ready" 600)
	[ "$ready" = ready ] || die "$wl: the workload is not ready (${ready:-timeout})"
	# One untimed dump first, so that whatever a first dump of a freshly
	# populated process costs (page tables, the kernel's caches) is
	# nobody's measurement.
	mkdir -p "$root/warmup"
	timeout -k 5 "$CRIU_TIMEOUT" "$CRIU" dump -t "$WPID" -D "$root/warmup" -o "$B/state/warmup.log" \
		-R --ghost-limit 2G 2>/dev/null || die "$wl: the warm-up dump failed (see $B/state/warmup.log)"
	rm -rf "$root/warmup"
	log "$wl: pid $WPID populated, $reps repetitions of: $METHODS"

	n=${#ms[@]}
	for rep in $(seq "$reps"); do
		# each repetition starts one method later, so no method always
		# runs first (or right after the heaviest)
		for i in $(seq 0 $((n - 1))); do
			pos=$(((i + rep - 1) % n))
			gone "$WPID" && die "$wl: the workload died"
			measure "$wl" "$kind" "$storage" "${ms[$pos]}" "$rep" "$i"
		done
	done
	kill_wait "$WPID"
	wait "$WUPID" 2>/dev/null
	WPID=""
	WUPID=""
}

main() {
	local w kind size storage reps start
	mkdir -p "$B/state" "$OUT" "$SHM" "$DISK"
	exec 9>"$B/lock"
	flock -n 9 || die "another bench run holds $B/lock"
	: >"$B/run.log"
	start=$(date +%s)
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	deps
	snapshot
	build_programs
	make_keys
	machine
	primitives

	rm -rf "$B/raw" "$B/b2b.csv" "$B/crit.csv" "$B/crit.log"
	echo "workload,kind,storage,method,rep,position,status,verify,dump_criu_s,dump_user_s,dump_sys_s,dump_rss_kib,sync_s,sync_user_s,sync_sys_s,sync_rss_kib,decrypt_s,decrypt_user_s,decrypt_sys_s,decrypt_rss_kib,restore_criu_s,restore_user_s,restore_sys_s,restore_rss_kib,restored_tasks_cpu_s,restored_tasks_faults,size_bytes,apparent_bytes,files" >"$B/rows.csv"
	for w in $WORKLOADS; do
		IFS=: read -r kind size storage reps <<<"$w"
		[ -n "${BENCH_REPS:-}" ] && reps=$BENCH_REPS
		run_workload "$kind" "$size" "$storage" "${reps:-$REPS}"
	done

	# the same dump over and over, no pause between (bench/b2b.sh)
	if [ "${BENCH_B2B:-1}" = 1 ]; then
		local bm=(plain="$CRIU":plain enc="$CRIU":enc age="$CRIU":age)
		[ -x "$BASE" ] && bm+=(base="$BASE":plain)
		log "back-to-back dumps: $B2B_ROUNDS rounds, $B2B_MIB MiB"
		"$top/bench/b2b.sh" "$B/b2b.csv" "$B2B_ROUNDS" "$B2B_MIB" "${bm[@]}" || log "the back-to-back dumps failed"
	fi

	# CRIT on an encrypted checkpoint against age -d | tar -x (bench/crit.sh)
	if [ "${BENCH_CRIT:-1}" = 1 ]; then
		local c mib reps where
		for c in $CRIT_RUNS; do
			IFS=: read -r mib reps where <<<"$c"
			log "CRIT: $mib MiB, $reps repetitions, on $where"
			[ "$where" = disk ] && where=$DISK/crit || where=$SHM/crit
			BENCH_CRIT_MIB=$mib BENCH_CRIT_REPS=$reps BENCH_CRIT_DIR=$where BENCH_CRIU="$CRIU" \
				BENCH_TIMEOUT="$CRIU_TIMEOUT" "$top/bench/crit.sh" "$B/crit.csv" >>"$B/crit.log" 2>&1 ||
				log "CRIT failed at $mib MiB (see $B/crit.log)"
		done
	fi

	# migration through a page server (bench/migrate.sh): migrate.md
	if [ "${BENCH_MIGRATE:-1}" = 1 ]; then
		BENCH_OUT="$OUT" BENCH_CRIU="$CRIU" "$top/bench/migrate.sh" || log "the migration benchmark failed"
	fi

	echo "runtime: $(($(date +%s) - start)) s; load at the end: $(cat /proc/loadavg)" >>"$OUT/machine.txt"
	log "report"
	for f in b2b.csv crit.csv; do
		if [ -f "$B/$f" ]; then cp "$B/$f" "$OUT/"; else rm -f "$OUT/$f"; fi
	done
	BENCH_RUNTIME=$(($(date +%s) - start)) BENCH_QUICK=${BENCH_QUICK:-0} PYTHONPATH="$B/python" "$PY" "$top/bench/report.py" \
		"$B/rows.csv" "$B/raw" "$OUT" || die "report failed"
	log "done in $(($(date +%s) - start)) s: $OUT/summary.md"
}

main "$@"; exit  # one line: bash reads no further, even if this file changes meanwhile
