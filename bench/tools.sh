#!/bin/bash
# What users do today instead of built-in encryption: encrypt the images
# after a plain dump, and decrypt them before the restore.
#
#   criu dump ... --action-script bench/tools.sh     (BENCH_TOOL in criu's
#       environment): on "post-dump", while the tasks are still frozen,
#       encrypts the images directory and removes the plaintext; a failure
#       fails the dump, as a user wants.
#   bench/tools.sh decrypt DIR                       before criu restore
#
# Environment: BENCH_TOOL age | gpg | openssl | cms; BENCH_KEYS, the keys
# made by bench/run.sh; BENCH_PKI, the RSA certificate and key (cms);
# BENCH_POSTDUMP, how the directory goes through the tool:
#   auto   (default) every image of 1 MiB or more alone, the small ones
#          in one tar stream: the fastest here for every workload
#   tar    one tar stream of the whole directory (costs a pipe copy of the
#          pages: slower for memory-heavy checkpoints)
#   files  the tool once per image (thousands of runs for a process tree)
#
# Each tool gets its fastest sound setting, so that the comparison favours
# them, not criu: gpg without compression (its default zlib pass over
# incompressible pages is ten times slower), openssl's AES-256-CTR with an
# HMAC-SHA256 over IV and ciphertext (enc has no AEAD mode), checked before
# anything is decrypted.  Keys are on openssl's command line: throwaway
# benchmark keys only.
set -eu -o pipefail

tool=${BENCH_TOOL:?}
keys=${BENCH_KEYS:?}
mode=${BENCH_POSTDUMP:-auto}

# Encrypt standard input into the file $1.
enc_to() {
	case $tool in
	age) age -R "$keys/age.pub" -o "$1" ;;
	gpg)
		gpg --homedir "$keys/gnupg" --batch --yes --quiet --trust-model always \
			--compress-algo none --cipher-algo AES256 -r bench@criu.invalid -o "$1" -e
		;;
	openssl)
		# file: IV in hex (32 bytes) || AES-256-CTR ciphertext; $1.hmac: HMAC of the file
		local iv
		iv=$(openssl rand -hex 16)
		{
			printf '%s' "$iv"
			openssl enc -aes-256-ctr -K "$(<"$keys/enc.hex")" -iv "$iv"
		} | tee "$1" | openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(<"$keys/mac.hex")" -r >"$1.hmac"
		;;
	cms) openssl cms -encrypt -binary -aes-256-gcm -stream -outform DER -out "$1" "${BENCH_PKI:?}/cert.pem" ;;
	*) echo "tools.sh: unknown tool $tool" >&2; exit 2 ;;
	esac
}

# Decrypt the file $1 to standard output.
dec_from() {
	case $tool in
	age) age -d -i "$keys/age.key" "$1" ;;
	gpg) gpg --homedir "$keys/gnupg" --batch --quiet -d "$1" ;;
	openssl)
		local mac want iv
		mac=$(openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(<"$keys/mac.hex")" -r <"$1")
		read -r want _ <"$1.hmac"
		if [ "${mac%% *}" != "$want" ]; then
			echo "tools.sh: $1: HMAC mismatch" >&2
			return 1
		fi
		read -r -N 32 iv <"$1"
		{
			dd bs=32 count=1 of=/dev/null status=none # past the IV
			openssl enc -d -aes-256-ctr -K "$(<"$keys/enc.hex")" -iv "$iv"
		} <"$1"
		;;
	cms) openssl cms -decrypt -binary -inform DER -in "$1" -inkey "${BENCH_PKI:?}/key.pem" ;;
	esac
}

# Each big image is encrypted alone and its plaintext removed at once; the
# rest go into one tar stream.
encrypt_dir() {
	local f big=() small=() size=()
	local -A is_big=()
	cd "$1"
	[ "$mode" = auto ] && size=(-size +1048575c)
	# one find, not a stat per image: a tree has thousands of them
	[ "$mode" != tar ] && mapfile -t big < <(find . -maxdepth 1 -type f "${size[@]}" -printf '%f\n')
	for f in "${big[@]}"; do
		is_big[$f]=1
	done
	for f in *; do # every image criu wrote; stats-dump comes after this script
		[ -n "${is_big[$f]:-}" ] || small+=("$f")
	done
	for f in "${big[@]}"; do
		enc_to "$f.$tool" <"$f"
		rm -f -- "$f"
	done
	if [ ${#small[@]} -gt 0 ]; then
		tar -cf - -- "${small[@]}" | enc_to "checkpoint.tar.$tool"
		rm -f -- "${small[@]}"
	fi
}

decrypt_dir() {
	local f
	cd "$1"
	for f in *."$tool"; do
		if [ "$f" = "checkpoint.tar.$tool" ]; then
			dec_from "$f" | tar -xf -
		else
			dec_from "$f" >"${f%."$tool"}"
		fi
	done
}

if [ -n "${CRTOOLS_SCRIPT_ACTION:-}" ]; then
	# called by criu for every action; only post-dump is ours
	[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0
	encrypt_dir "$CRTOOLS_IMAGE_DIR"
elif [ "${1:-}" = decrypt ] && [ -n "${2:-}" ]; then
	decrypt_dir "$2"
else
	echo "usage: criu --action-script $0, or $0 decrypt DIR (BENCH_TOOL, BENCH_KEYS set)" >&2
	exit 2
fi
