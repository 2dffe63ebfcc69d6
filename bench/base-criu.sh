#!/bin/bash
# Build CRIU 4.1.1 without this project's patches, for "plain runs pay
# nothing" (bench/README.md): the pristine tree of build/criu (git tag
# "upstream") plus only the first BENCH_BASE_PATCHES patches of the series
# (default 4: the ones this machine needs to run CRIU at all: no
# SO_PASSCRED, breakpoints that never fire, no prlimit of other tasks, no
# CAP_SYS_RESOURCE), none of the encryption.  Prints the binary's path;
# built once per commit, in build/bench/base.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
n=${BENCH_BASE_PATCHES:-4}
src=$top/build/criu
dst=$top/build/bench/base
rev=upstream
[ "$n" -gt 0 ] && rev=$(git -C "$src" log --format=%H --reverse upstream..HEAD | sed -n "${n}p")
[ -n "$rev" ] || { echo "base-criu: build/criu has fewer than $n patches" >&2; exit 1; }
if [ "$(cat "$dst/.built" 2>/dev/null)" != "$rev" ]; then
	rm -rf "$dst"
	git clone -q --no-checkout "$src" "$dst"
	git -C "$dst" -c advice.detachedHead=false checkout -q "$rev"
	make -C "$dst" -j"$(nproc)" PYTHON=/usr/bin/python3 criu >"$dst.log" 2>&1 ||
		{ tail -n 20 "$dst.log" >&2; exit 1; }
	echo "$rev" >"$dst/.built"
fi
echo "$dst/criu/criu"
