#!/bin/bash
# Stable entry points for the patched build.
#   entry-points.sh                 build/bin/criu and build/bin/crit
#   entry-points.sh install PREFIX  crit and its python packages under PREFIX
# crit always runs with Debian's python3, which has google.protobuf.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="$top/build/criu"

crit_wrapper() { # $1: directory holding pycriu/ and crit/
	cat <<W
#!/bin/sh
PYTHONPATH="$1\${PYTHONPATH:+:\$PYTHONPATH}" exec /usr/bin/python3 -m crit "\$@"
W
}

if [ "${1:-}" = install ]; then
	prefix=$2
	py="$prefix/lib/criu/python"
	rm -rf "$py"
	mkdir -p "$py" "$prefix/bin"
	cp -rL "$tree/lib/pycriu" "$tree/crit/crit" "$py/"
	find "$py" -name __pycache__ -prune -exec rm -rf {} +
	crit_wrapper "$py" >"$prefix/bin/crit"
	chmod 755 "$prefix/bin/crit"
	echo "installed criu into $prefix/sbin and crit into $prefix/bin"
	exit 0
fi

mkdir -p "$top/build/bin" "$top/build/python"
ln -sfn "$tree/criu/criu" "$top/build/bin/criu"
ln -sfn "$tree/lib/pycriu" "$top/build/python/pycriu"
ln -sfn "$tree/crit/crit" "$top/build/python/crit"
crit_wrapper "$top/build/python" >"$top/build/bin/crit"
chmod 755 "$top/build/bin/crit"
