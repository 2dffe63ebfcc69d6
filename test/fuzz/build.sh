#!/bin/bash
# Build the fuzz harnesses of the encryption module with Debian's clang
# (libFuzzer, ASan, UBSan) into OUT (default build/fuzz), against the
# module's sources and the generated images/cipher.pb-c.c of the build
# tree build/criu:
#   test/fuzz/build.sh [OUT]
# Also builds OUT/mkseeds (no fuzzer), which writes seeds made with the
# module itself.  Prints the harnesses' names; exits non-zero when a build
# fails (the error is on stderr).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
src="$top/test/fuzz"
tree="$top/build/criu"
out=${1:-$top/build/fuzz}
mkdir -p "$out/obj"

HARNESSES="cipher cipher-fields signature stream stream-seal tags pages"
# where the module looks for criu's default CA: nowhere (test/unit/module.mk)
SYSCONF=$(sed -n 's/^CRYPT_SYSCONFDIR[[:space:]]*:= *//p' "$top/test/unit/module.mk")
INC="-D_GNU_SOURCE -DCONFIG_ENCRYPTION -DSYSCONFDIR=\"$SYSCONF\" -DFUZZ_PKI_DIR=\"$top/build/pki\" -iquote $tree/criu -iquote $tree/criu/include -iquote $tree/include
	-iquote $tree/criu/arch/x86/include -iquote $tree -I$tree/compel/include/uapi -I$tree/include -I$tree
	-I$src"
SAN="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="-lprotobuf-c -lgnutls -lsodium -lhogweed -lnettle -lgmp -lpthread"
# the module's files that link alone (test/unit/module.mk)
MODULE=$(sed -n 's/^CRYPT_MODULE[[:space:]]*:= *//p' "$top/test/unit/module.mk" | sed 's/[^ ]*/crypt-&/g')

command -v clang >/dev/null || {
	echo "build.sh: clang is not installed (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
}

# the module and the stub, instrumented for coverage; the seed maker, not
objs=""
for m in $MODULE; do
	clang $SAN -fsanitize=fuzzer-no-link $INC -c "$tree/criu/$m.c" -o "$out/obj/$m.o"
	clang -g -O1 $INC -c "$tree/criu/$m.c" -o "$out/obj/$m.plain.o"
	objs="$objs $out/obj/$m.o"
done
clang $SAN -fsanitize=fuzzer-no-link $INC -c "$src/stub.c" -o "$out/obj/stub.o"
clang $SAN -fsanitize=fuzzer-no-link $INC -c "$top/test/unit/stub.c" -o "$out/obj/criu-stub.o"
clang $SAN -fsanitize=fuzzer-no-link $INC -c "$tree/images/cipher.pb-c.c" -o "$out/obj/cipher.pb-c.o"
objs="$objs $out/obj/stub.o $out/obj/criu-stub.o $out/obj/cipher.pb-c.o"

for h in $HARNESSES; do
	clang $SAN -fsanitize=fuzzer $INC -Wall -Werror -o "$out/fuzz-$h" "$src/fuzz-$h.c" $objs $LIBS
	echo "$h"
done
clang -g -O1 $INC -Wall -Werror -o "$out/mkseeds" "$src/mkseeds.c" "$src/stub.c" "$top/test/unit/stub.c" \
	"$tree/images/cipher.pb-c.c" $(for m in $MODULE; do echo "$out/obj/$m.plain.o"; done) $LIBS
