#!/bin/bash
# make test-engine: encrypted checkpoints through a real container engine,
# Debian's Podman with runc, switched on only in /etc/criu/runc.conf.
# A container keeps a random secret in the memory of its shell (copied in,
# read, deleted); 'podman container checkpoint --export' writes an archive
# without it; 'podman container restore --import' brings it back with the
# key, here and on a "new node" (the container and its image removed, the
# image loaded from a file).  A checkpoint that fails (no certificate)
# leaves the container running; without the key, with another key, with
# a changed page, and for a plain archive where runc.conf asks for
# encrypted ones, the restore fails with criu's errno and leaves nothing
# running.
# CRIT reads the archive's checkpoint.  Ends with "N passed, N failed".
#
# Installs podman, runc, busybox-static and zstd from Debian's archive, and
# this criu under /usr/local (make install), first in the engine's PATH;
# /etc/criu/runc.conf and /etc/containers/containers.conf are put back as
# they were at the end.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/test/e2e/lib.sh"
e2e_setup engine
export PATH="/usr/local/sbin:/usr/local/bin:$PATH" # the engine finds this criu
export DEBIAN_FRONTEND=noninteractive
name=criu-enc-$$
img=localhost/criu-enc-test:latest
pass=0
fail=0
count() { # the results printed so far
	pass=$(grep -c '^ok - ' "$tmp/results")
	fail=$(grep -c '^not ok - ' "$tmp/results")
}

# set-up
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v zstd >/dev/null ||
	! [ -x /bin/busybox ]; then
	apt-get install -y -q podman runc busybox-static zstd >"$tmp/apt.log" 2>&1 ||
		{ tail -n 5 "$tmp/apt.log"; echo "not ok - engine: podman and runc installed"; exit 1; }
fi
make -C "$top" install >"$tmp/install.log" 2>&1 ||
	{ tail -n 5 "$tmp/install.log"; echo "not ok - engine: make install"; exit 1; }
for f in /etc/criu/runc.conf /etc/containers/containers.conf; do
	[ -e "$f" ] && cp -a "$f" "$tmp/saved.$(basename "$f")"
done
restore_etc() {
	local f
	for f in /etc/criu/runc.conf /etc/containers/containers.conf; do
		if [ -e "$tmp/saved.$(basename "$f")" ]; then cp -a "$tmp/saved.$(basename "$f")" "$f"; else rm -f "$f"; fi
	done
}
pod() { timeout -k 5 120 podman "$@"; }
podq() { pod "$@" >/dev/null; } # its output is a name or an ID
cleanup() {
	pod rm -f -t 0 "$name" "$name-2" "$name-3" "$name-plain" "$name-x" >/dev/null 2>&1
	pod rmi -f "$img" >/dev/null 2>&1
	restore_etc
}
trap 'cleanup; e2e_cleanup; rm -rf "$tmp"' EXIT
# this machine lacks CAP_SYS_RESOURCE: podman's default limits can't be set
if ! grep -qs default_ulimits /etc/containers/containers.conf; then
	mkdir -p /etc/containers
	printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' \
		>>/etc/containers/containers.conf
fi
mkdir -p /etc/criu
runc_conf() { # the lines of /etc/criu/runc.conf
	printf '%s\n' "$@" >/etc/criu/runc.conf
}

{
	echo "# $(podman --version), $(runc --version | head -n 1), $(criu --version | head -n 1) ($(command -v criu))"
	check "engine: the criu the engine finds is this one, with encryption" \
		sh -c "[ \"\$(command -v criu)\" = /usr/local/sbin/criu ] && criu check --feature encryption >/dev/null 2>&1"
	check "engine: python3 imports the installed pycriu with CRIT's modules: $(cd / && /usr/bin/python3 -c \
		'import pycriu, pycriu.crypt, pycriu.mem, crit, criu_coredump; print(pycriu.__file__)' 2>&1 | tail -n 1)" \
		sh -c "cd / && /usr/bin/python3 -c 'import pycriu.crypt, crit; assert pycriu.__file__.startswith(\"/usr/local/\")'"

	# an image from busybox, with no registry: a shell that keeps a secret
	mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/tmp" "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" \
		"$tmp/rootfs/etc"
	cp /bin/busybox "$tmp/rootfs/bin/"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$tmp/rootfs/bin/$a"; done
	cat >"$tmp/rootfs/bin/holder.sh" <<'EOF'
#!/bin/sh
# the secret is copied in, read and deleted: then only the shell's memory has it
while [ ! -s /tmp/secret ]; do sleep 0.2; done
read S </tmp/secret
rm -f /tmp/secret
echo "holder: secret loaded"
trap 'echo "holder: sha256=$(printf %s "$S" | sha256sum | cut -d" " -f1)"' USR1
while :; do sleep 1; done
EOF
	chmod 755 "$tmp/rootfs/bin/holder.sh"
	echo 'root:x:0:0:root:/:/bin/sh' >"$tmp/rootfs/etc/passwd"
	pod rmi -f "$img" >/dev/null 2>&1
	check "engine: an image from busybox-static (podman import)" \
		sh -c "tar -C '$tmp/rootfs' -c . | timeout 120 podman import - '$img' >/dev/null"
	# a new node has the image with its ID, as a registry would give it
	check "engine: ... saved with its ID (podman save)" \
		pod save --format oci-archive -o "$tmp/image.tar" "$img"

	start() { # $1: container name; a fresh secret
		secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
		sum=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
		pod run -d --name "$1" --network none "$img" /bin/holder.sh >/dev/null &&
			printf %s "$secret" >"$tmp/s" && pod cp "$tmp/s" "$1:/tmp/secret" && rm -f "$tmp/s" &&
			wait_for "podman logs '$1' 2>/dev/null | grep -q 'secret loaded'" 20
	}
	holds() { # $1: container, $2: the sha256 of its secret; it runs and its shell still has it
		pod kill --signal USR1 "$1" >/dev/null 2>&1 &&
			wait_for "podman logs '$1' 2>/dev/null | grep -q 'sha256=$2'" 10
	}
	holders() { pgrep -f holder.sh | wc -l; }
	has_bytes() { # dir hex: a file under dir holds these bytes
		/usr/bin/python3 -c 'import os, sys
b = bytes.fromhex(sys.argv[2])
sys.exit(0 if any(b in open(os.path.join(d, f), "rb").read()
                  for d, _, fs in os.walk(sys.argv[1]) for f in fs
                  if os.path.isfile(os.path.join(d, f))) else 1)' "$1" "$2"
	}
	export -f has_bytes
	extract() { # archive dir
		rm -rf "$2" && mkdir -p "$2" && tar --zstd -C "$2" -xf "$1"
	}

	# 1. the encrypted checkpoint; first, one that fails: the container runs on
	runc_conf encrypt "tls-cert $tmp/missing-cert.pem"
	check "engine: a container keeps a secret in its memory" start "$name"
	esum=$sum
	out=$(pod container checkpoint --export "$tmp/none.tar.zst" "$name" 2>&1)
	check "engine: a checkpoint for a missing certificate fails ($(grep -m1 -o 'criu failed: type [A-Z]* errno [0-9]*' <<<"$out"))" \
		grep -q "errno 126\b" <<<"$out"
	check "engine: ... and the container runs on, its secret intact" holds "$name" "$esum"
	runc_conf encrypt "tls-cert $pki/cert.pem" "tls-key $pki/key.pem"
	check "engine: podman container checkpoint --export, encryption only in runc.conf" \
		podq container checkpoint --export "$tmp/ck.tar.zst" --compress zstd "$name"
	check "engine: ... the container is no longer running ($(podman inspect -f '{{.State.Status}}' "$name" 2>&1))" \
		test "$(podman inspect -f '{{.State.Running}}' "$name" 2>&1)" = false
	extract "$tmp/ck.tar.zst" "$tmp/x"
	check "engine: ... the archive's checkpoint/ holds cipher.img and manifest.img" \
		test -s "$tmp/x/checkpoint/cipher.img" -a -s "$tmp/x/checkpoint/manifest.img"
	check "engine: ... the secret is in no file of the archive (hex or raw bytes)" \
		not sh -c "grep -rqF '$secret' '$tmp/x' || has_bytes '$tmp/x' '$secret'"
	check "engine: ... crit x ps reads the checkpoint (the container's shell)" \
		sh -c "timeout 120 '$CRIT' x '$tmp/x/checkpoint' ps --tls-key '$pki/key.pem' | grep -q holder.sh"
	check "engine: ... crit grep finds the secret in the shell's memory" \
		sh -c "timeout 120 '$CRIT' grep '$tmp/x/checkpoint' '$secret' --tls-key '$pki/key.pem' >/dev/null"
	check "engine: ... crit decrypt makes a plain copy that holds it" \
		sh -c "timeout 120 '$CRIT' decrypt '$tmp/x/checkpoint' '$tmp/plain' --tls-key '$pki/key.pem' >/dev/null &&
			grep -rqF '$secret' '$tmp/plain'"

	# 2. restore here, under a new name
	check "engine: podman container restore --import, with the key" \
		podq container restore --import "$tmp/ck.tar.zst" --name "$name-2"
	check "engine: ... the restored container holds the secret" holds "$name-2" "$esum"
	pod rm -f -t 0 "$name-2" >/dev/null 2>&1

	# 3. refusals: podman's error carries criu's errno; nothing runs, and
	# the container podman made is left "Created" (podman's way)
	refused() { # name, errno, pattern of criu's log, archive
		local before out id log
		before=$(holders)
		out=$(pod container restore --import "$4" --name "$name-x" 2>&1)
		check "engine: $1: refused ($(grep -m1 -o 'criu failed: type [A-Z]* errno [0-9]*' <<<"$out"))" \
			grep -q "errno $2\b" <<<"$out"
		id=$(podman inspect -f '{{.ID}}' "$name-x" 2>/dev/null)
		log=$(ls /var/lib/containers/storage/overlay-containers/"$id"/userdata/restore.log 2>/dev/null)
		check "engine: $1: ... criu's restore.log says why: $(grep -m1 -o "$3" "$log" 2>/dev/null)" \
			grep -q "$3" "$log"
		check "engine: $1: ... and no process of it runs ($before before, $(holders) after)" \
			test "$(holders)" = "$before"
		pod rm -f -t 0 "$name-x" >/dev/null 2>&1
	}
	runc_conf encrypt "tls-cert $pki/cert.pem"
	refused "no key" 126 "key.pem: can't read" "$tmp/ck.tar.zst"
	runc_conf encrypt "tls-cert $pki/cert.pem" "tls-key $pki/other-key.pem"
	refused "another key" 129 "encrypted for another key" "$tmp/ck.tar.zst"
	runc_conf encrypt "tls-cert $pki/cert.pem" "tls-key $pki/key.pem"
	extract "$tmp/ck.tar.zst" "$tmp/t"
	p=$(ls -S "$tmp/t/checkpoint"/pages-*.img | head -n 1)
	printf '\xff' | dd of="$p" bs=1 seek=100 conv=notrunc status=none
	tar --zstd -C "$tmp/t" -cf "$tmp/tampered.tar.zst" .
	refused "a changed page" 74 "fails authentication" "$tmp/tampered.tar.zst"

	# 4. a plain archive: it holds the secret, and "encrypt" refuses it
	runc_conf
	start "$name-plain"
	check "engine: without encrypt in runc.conf, a plain checkpoint" \
		podq container checkpoint --export "$tmp/plain.tar.zst" --compress zstd "$name-plain"
	extract "$tmp/plain.tar.zst" "$tmp/p"
	check "engine: ... holds the secret in the clear (the control)" grep -rqF "$secret" "$tmp/p"
	pod rm -f -t 0 "$name-plain" >/dev/null 2>&1
	runc_conf encrypt "tls-cert $pki/cert.pem" "tls-key $pki/key.pem"
	refused "a plain archive where runc.conf says encrypt" 74 "not an encrypted checkpoint" "$tmp/plain.tar.zst"

	# 5. a new node: neither the container nor the image is here
	pod rm -f -t 0 "$name" >/dev/null 2>&1
	pod rmi -f "$img" >/dev/null 2>&1
	check "engine: a new node: the image loaded from its file (podman load)" \
		sh -c "timeout 120 podman load -i '$tmp/image.tar' >/dev/null"
	check "engine: ... podman container restore --import of the archive" \
		podq container restore --import "$tmp/ck.tar.zst"
	check "engine: ... the restored container holds the secret" holds "$name" "$esum"
} 2>"$tmp/errors" | tee "$tmp/results"
count
[ "$fail" = 0 ] || tail -n 5 "$tmp/errors" | sed 's/^/    # /'
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
