#!/bin/bash
# Stable entry points for the patched build.
#   entry-points.sh                 build/bin/criu, build/bin/crit and
#                                   build/bin/criu-coredump
#   entry-points.sh install PREFIX  crit, criu-coredump and their python
#                                   packages (pycriu, crit, criu_coredump)
#                                   under PREFIX, where python3 finds them;
#                                   scripts/criu-keygen into PREFIX/sbin
# crit always runs with Debian's python3, which has google.protobuf.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="$top/build/criu"

# $1: directory holding pycriu/, crit/ and criu_coredump/; $2: what to run
py_wrapper() {
	cat <<W
#!/bin/sh
PYTHONPATH="$1\${PYTHONPATH:+:\$PYTHONPATH}" exec /usr/bin/python3 $2 "\$@"
W
}

# crit and criu-coredump into $1/bin, their python code being in $2
wrappers() {
	py_wrapper "$2" "-m crit" >"$1/crit"
	py_wrapper "$2" "$2/criu-coredump" >"$1/criu-coredump"
	chmod 755 "$1/crit" "$1/criu-coredump"
}

if [ "${1:-}" = install ]; then
	prefix=$2
	# where Debian's python3 looks first: 'import pycriu' finds this one
	# (with pycriu.crypt), before the python3-pycriu of Debian's criu
	py="$prefix/lib/$(/usr/bin/python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')/dist-packages"
	rm -rf "$prefix/lib/criu/python" "$py/pycriu" "$py/crit" "$py/criu_coredump" # earlier installs
	mkdir -p "$py" "$prefix/bin"
	cp -rL "$tree/lib/pycriu" "$tree/crit/crit" "$tree/coredump/criu_coredump" "$py/"
	cp "$tree/coredump/coredump" "$py/criu-coredump"
	find "$py/pycriu" "$py/crit" "$py/criu_coredump" -name __pycache__ -prune -exec rm -rf {} +
	wrappers "$prefix/bin" "$py"
	install -D -m 755 "$top/scripts/criu-keygen" "$prefix/sbin/criu-keygen"
	echo "installed criu and criu-keygen into $prefix/sbin, crit and criu-coredump into $prefix/bin"
	exit 0
fi

mkdir -p "$top/build/bin" "$top/build/python"
ln -sfn "$tree/criu/criu" "$top/build/bin/criu"
ln -sfn "$tree/lib/pycriu" "$top/build/python/pycriu"
ln -sfn "$tree/crit/crit" "$top/build/python/crit"
ln -sfn "$tree/coredump/criu_coredump" "$top/build/python/criu_coredump"
ln -sfn "$tree/coredump/coredump" "$top/build/python/criu-coredump"
wrappers "$top/build/bin" "$top/build/python"
