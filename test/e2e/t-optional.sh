# Encryption is optional at build time: criu built with NO_ENCRYPTION=1
# (build/criu-noenc, from the same tree) links none of the module's
# libraries but GnuTLS (for TLS), runs plain checkpoints, and refuses
# --encrypt and an encrypted checkpoint in one line.  And a plain dump and
# restore by the full criu make on the images directory the system calls
# the one without encryption makes (strace): nothing per image; a restore
# looks at cipher.img and at the parent link of its directory once, and
# stats the directory.
. "$(dirname "$0")/lib.sh"
e2e_setup optional
keeper=$(e2e_cc secret-keeper)
full=$CRIU
if ! noenc=$(e2e_noenc_criu); then
	tail -n 20 "$E2E_TOP/build/criu-noenc.log" | sed 's/^/    # /'
	not_ok "optional: criu builds with NO_ENCRYPTION=1"
	exit 1
fi
ok "optional: criu builds with NO_ENCRYPTION=1"
check "optional: ... and says so (Note: Building without checkpoint encryption)" \
	grep -q "Building without checkpoint encryption" "$E2E_TOP/build/criu-noenc.log"

needed() { readelf -d "$1" | sed -n 's/.*Shared library: \[\(lib[a-z0-9]*\).*/\1/p' | sort | tr '\n' ' '; }
check "optional: it links no libsodium, libnettle, libhogweed or libgmp ($(needed "$noenc"))" \
	not grep -qE 'libsodium|libnettle|libhogweed|libgmp' <<<"$(needed "$noenc")"
check "optional: the full criu links them ($(needed "$full" | grep -oE 'lib(sodium|nettle|hogweed|gmp|gnutls)' | tr '\n' ' '))" \
	test "$(needed "$full" | grep -oE 'lib(sodium|nettle|hogweed|gmp)' | wc -l)" = 4

out=$(timeout 30 "$noenc" check --feature encryption 2>&1)
check "optional: criu check --feature encryption fails: $out" \
	test $? != 0 -a -n "$(grep 'this criu was built without encryption' <<<"$out")"
out=$(timeout 30 "$full" check --feature encryption 2>&1)
check "optional: ... and passes on the full criu: $out" test $? = 0

echo "s3cr3t-$RANDOM$RANDOM" >"$tmp/secret"
: >"$tmp/log"
pid=$(start_in_pidns "$keeper" "$tmp/secret" "$tmp/log")
wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10

# --encrypt: one line, and the process runs on
mkdir -p "$tmp/e"
timeout 60 "$noenc" dump -t "$pid" -D "$tmp/e" -o dump.log -v4 --encrypt --tls-cert "$pki/cert.pem" 2>/dev/null
check "optional: dump --encrypt is refused: $(grep -m1 'built without' "$tmp/e/dump.log")" \
	grep -q -- '--encrypt: this criu was built without encryption' "$tmp/e/dump.log"
t0=$(last_tick)
wait_for '[ "$(last_tick)" -gt $((t0 + 1)) ]' 10
check "optional: ... and the process runs on ($t0 -> $(last_tick))" test "$(last_tick)" -gt $((t0 + 1))

# the same asked over RPC (libcriu), as an engine asks: refused in the
# response, with EOPNOTSUPP, and the process runs on
client=$(e2e_libcriu_client)
out=$(timeout 60 "$client" "$noenc" feature)
check "optional: libcriu's feature check on it: $out" test "$out" = "encryption: no"
mkdir -p "$tmp/r"
out=$(timeout 60 "$client" "$noenc" dump "$pid" "$tmp/r" "$pki/cert.pem")
check "optional: an encrypted dump asked over RPC is refused with EOPNOTSUPP ($out)" grep -q '^failed: .* 95 ' <<<"$out"
check "optional: ... criu's log says why" grep -q -- '--encrypt: this criu was built without encryption' "$tmp/r/rpc.log"
t0=$(last_tick)
wait_for '[ "$(last_tick)" -gt $((t0 + 1)) ]' 10
check "optional: ... and the process runs on ($t0 -> $(last_tick))" test "$(last_tick)" -gt $((t0 + 1))

# an encrypted checkpoint of it, made by the full criu, is refused by the other
mkdir -p "$tmp/enc"
# (--tls-cert named relative to where criu starts, not to the images directory)
check "optional: the full criu dumps it encrypted, for --tls-cert $(basename "$pki")/cert.pem" \
	sh -c "cd '$(dirname "$pki")' && timeout 60 '$full' dump -t '$pid' -D '$tmp/enc' -o dump.log -v4 --encrypt \
	--tls-cert '$(basename "$pki")/cert.pem' --leave-running"
if timeout 60 "$noenc" restore -D "$tmp/enc" -d -o restore.log -v4 --tls-key "$pki/key.pem" \
	--pidfile "$tmp/enc/pid" 2>/dev/null; then
	track_pid "$(cat "$tmp/enc/pid")"
	not_ok "optional: an encrypted checkpoint restored without encryption"
else
	check "optional: an encrypted checkpoint is refused: $(grep -m1 'built without' "$tmp/enc/restore.log")" \
		grep -qE '[a-z-]+\.img: an encrypted image, and this criu was built without encryption' \
		"$tmp/enc/restore.log"
fi

# plain: dump and restore by both, tracing the system calls on the images
# directory (strace -y names each fd's file): the same calls, but a look
# at the directory, its cipher.img and its parent link once at restore.
# Restore is traced in criu's main process (criu ptraces the tasks it
# forks): it looks the directory up before it forks them, and they
# inherit what it found.
calls='openat,open,newfstatat,fstat,statx,pread64,preadv,readlink,readlinkat,unlinkat,getdents64'
round() { # name, criu
	local name=$1 bin=$2 d="$tmp/$1" before
	mkdir -p "$d"
	if ! timeout 60 strace -f -y -qq -e trace=$calls -o "$d.dump.strace" "$bin" dump -t "$pid" -D "$d" \
		-o dump.log -v4 2>/dev/null; then
		not_ok "optional: $name: plain dump"
		show_log_errors "$d/dump.log"
		return 1
	fi
	before=$(last_tick)
	if ! timeout 60 strace -y -qq -e trace=$calls -o "$d.restore.strace" "$bin" restore -D "$d" -d \
		-o restore.log -v4 --pidfile "$d/pid" 2>/dev/null; then
		not_ok "optional: $name: plain restore"
		show_log_errors "$d/restore.log"
		return 1
	fi
	pid=$(cat "$d/pid")
	track_pid "$pid"
	wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
	check "optional: $name: plain dump and restore, the process counts on ($before -> $(last_tick))" \
		test "$(last_tick)" -gt $((before + 1))
}
on_images() { # the calls of a trace on files of the images directory $2 (relative names), one a line, without pids, fds, addresses or results
	sed -E "s|$2|DIR|g; s/-[0-9]+\.img/-N.img/g; s/^[0-9]+ +//; s/[0-9]+</</g; s/0x[0-9a-f]+/ADDR/g; s/ = .*//" "$1" |
		grep -E '^[a-z0-9]+\((AT_FDCWD)?<DIR[/>]' | grep -vE '^[a-z0-9]+\([^,]*, "/' | sort
}
compare() { # what, the calls the full criu may make more (a regular expression of each, |-separated), their count
	local a b more
	a=$(on_images "$tmp/noenc.$1.strace" "$tmp/noenc")
	b=$(on_images "$tmp/full.$1.strace" "$tmp/full")
	more=$(diff <(echo "$a") <(echo "$b") | sed -n 's/^> //p')
	check "optional: plain $1: the calls on the images directory ($(echo "$b" | wc -l)) are those of the criu without encryption${2:+, but $3: $(echo "$more" | tr '\n' ';')}" \
		test -z "$(diff <(echo "$a") <(echo "$b") | grep '^<')" -a "$(echo "$more" | grep -c .)" = "${3:-0}" \
		-a -z "$(echo "$more" | grep -vE "${2:-^$}")"
}
if round noenc "$noenc" && round full "$full"; then
	compare dump
	compare restore 'newfstatat\(<DIR>, "", .*AT_EMPTY_PATH|newfstatat\(<DIR>, "cipher.img", |newfstatat\(<DIR>, "parent", ' 3
fi
exit $T_FAILED
