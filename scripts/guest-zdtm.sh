#!/bin/bash
# Run CRIU's zdtm suite (build/criu/test/zdtm.py) in a qemu guest (software
# emulation) whose kernel has soft-dirty tracking, so that zdtm's iterative
# modes (--pre N, --snaps, --dedup) can run: this machine's kernel has none,
# and criu pre-dump aborts on it.
#
# usage: scripts/guest-zdtm.sh [ZDTM-RUN-ARGS...] [--then ZDTM-RUN-ARGS...]...
#
# Each group of arguments is one "zdtm.py run ARGS" (--keep-going added),
# all of them in one boot of the guest.  Without arguments:
#   -t zdtm/static/env00 -t zdtm/static/pipe00 -f h --pre 2
# One line per test and flavour: "ok - guest zdtm TEST (ARGS)" or
# "not ok - guest zdtm TEST (ARGS)", ARGS those of its run without the -t's;
# "# SKIP" for the tests zdtm skipped.  The exit status is 1 if any is not
# ok, or the guest did not run to its end.
#
# The guest: the kernel of Debian 12 (build/guest's, scripts/guest-lib.sh)
# and an initramfs of busybox and the 9p, virtio and overlay modules, whose /init is
# test/guest-zdtm-init.sh.  It mounts this machine's root filesystem,
# shared read-only over virtio-9p, under a tmpfs overlay: zdtm, criu and
# python3 are this machine's, and what they write stays in the guest's
# memory (build/criu is never written).  Its results come back in a
# directory of its own, build/guest-zdtm/runs/RUN/ (shared writable over
# 9p): console.log, zdtm-N.out (the output of the N-th run) and logs-N/
# (the criu logs of the tests that failed), kept after the run.  The criu
# tree the guest runs is a copy of build/criu made there at the start (the
# host's own zdtm runs change build/criu while the guest reads it), mounted
# on build/criu in the guest; it is removed at the end (GZ_KEEP_TREE=1
# keeps it).
#
# Environment: GZ_TIMEOUT (seconds for the whole boot, 1800), GZ_MEM (MiB,
# 4096), GZ_SMP (2), GZ_VERBOSE=1 (the whole console on stderr, not only
# the progress lines), GZ_PKI_DEFAULTS=1 (build/criu/test/pki's keys put at
# criu's default places, /etc/pki/criu/..., in the guest: to see what fails
# past a key that zdtm.py --encrypt does not pass to criu).
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=$(cd "$(dirname "$0")/.." && pwd)
G=$top/build/guest-zdtm
timeout_s=${GZ_TIMEOUT:-1800}
mem=${GZ_MEM:-4096}
smp=${GZ_SMP:-2}

if [ $# = 0 ]; then
	set -- -t zdtm/static/env00 -t zdtm/static/pipe00 -f h --pre 2
fi
for c in qemu-system-x86_64 /bin/busybox; do
	command -v "$c" >/dev/null || {
		echo "guest-zdtm: $c is not installed" >&2
		exit 2
	}
done
[ -x "$top/build/criu/test/zdtm.py" ] && [ -x "$top/build/criu/criu/criu" ] || {
	echo "guest-zdtm: no built criu tree in $top/build/criu" >&2
	exit 2
}

# the kernel: build/guest's (scripts/guest-lib.sh fetches it the first time)
. "$top/scripts/guest-lib.sh"
K=$top/build/guest
guest_kernel "$K" || exit 2
grep -q '^CONFIG_MEM_SOFT_DIRTY=y' "$K"/k/boot/config-* 2>/dev/null ||
	echo "guest-zdtm: warning: the guest kernel's config has no CONFIG_MEM_SOFT_DIRTY=y" >&2

# the run's directory: the job, the initramfs, and what comes back
mkdir -p "$G/runs"
run=$(mktemp -d "$G/runs/$(date +%Y%m%d-%H%M%S)-XXXX")
chmod 755 "$run"
# a copy of the criu tree (less its dump/ and .git), which the guest mounts
# on the tree's place: the host's own zdtm runs keep changing the tree, and
# a directory that changes while the guest reads it over 9p may miss entries
mkdir -p "$run/tree"
[ "${GZ_KEEP_TREE:-0}" = 1 ] || trap 'rm -rf "$run/tree" "$run/initramfs"' EXIT
tar -C "$top/build/criu" -cf - --exclude=./test/dump --exclude=./.git . 2>/dev/null | tar -C "$run/tree" -xf - || true
[ -x "$run/tree/criu/criu" ] && [ -x "$run/tree/test/zdtm.py" ] || {
	echo "guest-zdtm: can't copy $top/build/criu to $run/tree" >&2
	exit 2
}
{
	echo "KMOD=$kmod"
	echo "CRIU=$top/build/criu"
	echo "SNAP=$run/tree"
	echo "PKI_DEFAULTS=${GZ_PKI_DEFAULTS:-0}"
} >"$run/config"

# the runs: one argument a line, "--then" between two; --keep-going in each
groups=()
cur=()
flush() {
	local a kg=0
	for a in "${cur[@]}"; do
		[ "$a" = --keep-going ] && kg=1
	done
	[ $kg = 1 ] || cur+=(--keep-going)
	groups+=("$(printf '%s\n' "${cur[@]}")")
	cur=()
}
for a in "$@"; do
	case $a in
	*$'\n'*)
		echo "guest-zdtm: an argument with a newline" >&2
		exit 2
		;;
	--then) flush ;;
	*) cur+=("$a") ;;
	esac
done
flush
for i in "${!groups[@]}"; do
	[ "$i" = 0 ] || echo --then
	printf '%s\n' "${groups[$i]}"
done >"$run/job"

# the initramfs: busybox, the modules stage 1 needs (with theirs), /init
root=$run/initramfs
mkdir -p "$root"/{bin,sbin,proc,sys,dev,mnt,lib/modules/"$kver"}
cp /bin/busybox "$root/bin/"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
guest_modules "$root" virtio_pci 9pnet_virtio 9p overlay
cp "$top/test/guest-zdtm-init.sh" "$root/init"
chmod 755 "$root/init"
(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$run/initrd.gz"
rm -rf "$root"

echo "# guest-zdtm: $run" >&2
t0=$(date +%s)
if [ "${GZ_VERBOSE:-0}" = 1 ]; then
	show() { cat >&2; }
else
	show() { grep -a --line-buffered -E '^GZ |^=+ Run |^=+ Test .* PASS|^#+ Test .* FAIL|^Skipping |^#+ .*TEST|Kernel panic' | sed -u 's/^/# /' >&2; }
fi
timeout -k 5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m "$mem" -nographic -no-reboot \
	-kernel "$K/vmlinuz" -initrd "$run/initrd.gz" -append "console=ttyS0 panic=-1 quiet" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$run,mount_tag=gzout,security_model=none,multidevs=remap" \
	</dev/null 2>&1 | tr -d '\r' | tee "$run/console.log" | show
qrc=${PIPESTATUS[0]}
secs=$(($(date +%s) - t0))

# the results, from each run's output
failed=0
n=0
for i in "${!groups[@]}"; do
	n=$((i + 1))
	mapfile -t args <<<"${groups[$i]}"
	# the label: the run's arguments less its -t's (and --keep-going)
	label=() tests=() flav=
	j=0
	while [ $j -lt ${#args[@]} ]; do
		a=${args[$j]}
		case $a in
		-t | --test)
			j=$((j + 1))
			tests+=("${args[$j]}")
			;;
		-t?*) tests+=("${a#-t}") ;;
		--test=*) tests+=("${a#--test=}") ;;
		--keep-going) ;;
		-f | --flavor)
			label+=("$a" "${args[$((j + 1))]}")
			j=$((j + 1))
			flav=${args[$j]}
			;;
		*) label+=("$a") ;;
		esac
		j=$((j + 1))
	done
	lab="${label[*]}"
	out=$run/zdtm-$n.out
	[ -s "$out" ] || out=/dev/null
	# "Run T in F" / "Test T PASS" / "Test T FAIL at STEP" / "Skipping T (WHY)"
	res=$(awk -v multi="$([[ -z $flav || $flav == *,* || $flav == best ]] && echo 1)" '
		function name(t, f) { return multi ? t " in " f : t }
		/^=+ Run [^ ]+ in [^ ]+ =+$/ { t = $3; f = $5; fl[t] = f; pend[t] = 1; next }
		/^=+ Test [^ ]+ PASS =+$/ { t = $3; print "ok\t" name(t, fl[t]) "\t"; seen[t] = 1; delete pend[t]; next }
		/^#+ Test [^ ]+ FAIL at / {
			t = $3; s = $0; sub(/^#+ Test [^ ]+ FAIL at /, "", s); sub(/ #+$/, "", s)
			print "not ok\t" name(t, fl[t]) "\tfailed at " s; seen[t] = 1; delete pend[t]; next }
		/^Skipping [^ ]+ \(.*\)$/ { t = $2; s = $0; sub(/^Skipping [^ ]+ \(/, "", s); sub(/\)$/, "", s)
			print "skip\t" t "\t" s; seen[t] = 1; next }
		/^=== Run [0-9]+\/[0-9]+ / { t = $NF; if (!(t in fl)) { fl[t] = "?"; pend[t] = 1 }; seen[t] = 1 }
		END {
			for (t in pend) print "not ok\t" name(t, fl[t]) "\tno result"
			for (t in seen) print "seen\t" t
		}' "$out")
	declare -A seen=()
	while IFS=$'\t' read -r st t why; do
		case $st in
		ok) echo "ok - guest zdtm $t ($lab)" ;;
		"not ok")
			echo "not ok - guest zdtm $t ($lab): $why"
			failed=1
			;;
		skip) echo "ok - guest zdtm $t ($lab) # SKIP $why" ;;
		seen) seen[$t]=1 ;;
		esac
	done <<<"$res"
	for t in "${tests[@]}"; do
		if [ -z "${seen[$t]:-}" ]; then
			echo "not ok - guest zdtm $t ($lab): not run$(grep -aqx 'Tracking memory is not available' "$out" && echo ' (zdtm: Tracking memory is not available)')"
			failed=1
		fi
	done
	unset seen
	end=$(grep -a "^GZ end $n: " "$run/console.log" | head -n 1)
	if [ -z "$end" ]; then
		echo "not ok - guest zdtm run $n ($lab): did not end"
		failed=1
	elif [ ${#tests[@]} = 0 ] && [[ $end != "GZ end $n: rc 0,"* ]]; then
		echo "not ok - guest zdtm run $n ($lab): zdtm.py ${end#GZ end $n: }"
		failed=1
	fi
	# the first errors of the criu logs of what failed (less a known one,
	# which criu logs for a shared mapping at a level with a parent and which
	# doesn't fail it)
	if [ -d "$run/logs-$n" ]; then
		grep -ras 'Error (' "$run/logs-$n" | grep -v 'No parent image found, though parent directory is set' |
			awk -F: '++n[$1] <= 2' | sed "s|^$run/||; s/^/    # /" | head -n 16
	fi
done
if ! grep -aq '^GZ done' "$run/console.log"; then
	echo "not ok - guest zdtm: the guest ran to its end (qemu status $qrc, $secs s)"
	grep -a -E '^GZ (fatal|no )|Kernel panic' "$run/console.log" | head -n 5 | sed 's/^/    # /'
	grep -av '^$' "$run/console.log" | tail -n 8 | sed 's/^/    # /'
	failed=1
fi
echo "# guest-zdtm: $secs s in the guest; output in $run" >&2
exit $failed
