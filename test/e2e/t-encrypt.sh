# Encrypted checkpoints of a real process tree through the real binaries:
# dump --encrypt and restore with the key; every image is sealed or, for
# pages, encrypted page by page, and the secret is nowhere; bad
# certificates and keys are refused with one clear line; a tampered,
# truncated, swapped or foreign image or page is refused by restore, which
# then leaves no process behind and the images as they were.
. "$(dirname "$0")/lib.sh"
e2e_setup encrypt
keeper=$(e2e_cc secret-keeper)
# the workload's secret file path marks its processes (and only them)
marker="$tmp/secret"

start() {
	secret="s3cr3t-$RANDOM$RANDOM$RANDOM"
	echo "$secret" >"$marker"
	: >"$tmp/log"
	pid=$(start_in_pidns "$keeper" "$marker" "$tmp/log" fork)
	wait_for '[ "$(last_tick)" -ge 2 ] 2>/dev/null' 10
}
running() { # any process of the workload alive?
	grep -qsF "$marker" /proc/[0-9]*/cmdline
}
dump() { # dir, extra options
	local d=$1
	shift
	mkdir -p "$d"
	criu_t dump -t "$pid" -D "$d" -o dump.log -v4 "$@"
}
restore() { # dir, extra options; the restored pid goes to dir/pid
	local d=$1
	shift
	criu_t restore -D "$d" -d -o restore.log -v4 --pidfile "$d/pid" "$@"
}

# 1. bad recipients: the dump fails at once and the process keeps running
start
for c in ed small missing; do
	case $c in
	ed) cert="$pki/ed-cert.pem" want="unsupported key type" ;;
	small) cert="$pki/small-cert.pem" want="has 1024 bits, at least 2048" ;;
	missing) cert="$tmp/nothing.pem" want="can't (read|open)" ;;
	esac
	d="$tmp/bad-$c"
	if dump "$d" --encrypt --tls-cert "$cert"; then
		not_ok "encrypt: dump for a $c certificate is refused (it succeeded)"
	else
		line=$(grep -F "$cert: " "$d/dump.log" | grep -m1 'Error ')
		check "encrypt: dump for a $c certificate is refused: ${line#*crypt: }" grep -qE "$want" <<<"$line"
	fi
	check "encrypt: after that, the process still runs" running
	check "encrypt: ... and no cipher.img is left" test ! -e "$d/cipher.img"
done

# a dump that fails late (the child is no session leader), after
# cipher.img was written, leaves nothing that restores
child=$(cut -d' ' -f1 /proc/$pid/task/$pid/children)
if dump "$tmp/late" --encrypt --tls-cert "$pki/cert.pem" -t "$child"; then
	not_ok "encrypt: a dump of a non-session-leader fails (it succeeded)"
else
	check "encrypt: a dump that fails late leaves no cipher.img and no manifest.img" \
		test ! -e "$tmp/late/cipher.img" -a ! -e "$tmp/late/manifest.img"
	check "encrypt: ... and the processes still run" running
fi

# 2. an encrypted dump and restore
if dump "$tmp/a" --encrypt --tls-cert "$pki/cert.pem"; then
	ok "encrypt: dump --encrypt"
else
	not_ok "encrypt: dump --encrypt"
	show_log_errors "$tmp/a/dump.log"
fi
plain=""
for f in "$tmp"/a/*.img; do
	case $(basename "$f") in
	cipher.img | pages-*.img | stats-*) continue ;;
	esac
	[ "$(head -c 8 "$f")" = CRIUSEAL ] || plain="$plain $(basename "$f")"
done
check "encrypt: every image but cipher.img and the pages is sealed${plain:+ (not:$plain)}" test -z "$plain"
leaks=$(grep -lF "$secret" "$tmp"/a/* | xargs -r -n1 basename | tr '\n' ' ')
check "encrypt: the secret is in no file of the checkpoint${leaks:+ (found in $leaks)}" test -z "$leaks"

# a second checkpoint of the same process, for foreign images
if restore "$tmp/a" --tls-key "$pki/key.pem"; then
	ok "encrypt: restore with the key"
	track_pid "$(cat "$tmp/a/pid")"
	before=$(last_tick)
	wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
	check "encrypt: the restored process counts on" test "$(last_tick)" -gt "$before"
	pid=$(cat "$tmp/a/pid")
	# the same options from a configuration file
	printf 'encrypt\ntls-cert %s\n' "$pki/cert.pem" >"$tmp/criu.conf"
	dump "$tmp/b" --config "$tmp/criu.conf"
	check "encrypt: a second dump, with 'encrypt' and 'tls-cert' in a config file" \
		test "$(head -c 8 "$tmp/b/core-1.img")" = CRIUSEAL
else
	not_ok "encrypt: restore with the key"
	show_log_errors "$tmp/a/restore.log"
fi

# 3. keys at restore
try_restore() { # name, dir, expected error, options
	local name=$1 d=$2 want=$3 line
	shift 3
	rm -f "$d/pid"
	local sum=$(cd "$d" && ls | grep -v '\.log$' | xargs cat | md5sum)
	if restore "$d" "$@"; then
		not_ok "encrypt: $name is refused (restore succeeded)"
		kill -9 "$(cat "$d/pid")"
		return
	fi
	line=$(grep -E "Error .*$want" "$d/restore.log" | head -n 1)
	check "encrypt: $name is refused: ${line#*crypt: }" test -n "$line" || show_log_errors "$d/restore.log"
	check "encrypt: ... no restored process is left" not running
	check "encrypt: ... the images are as they were" \
		test "$(cd "$d" && ls | grep -v '\.log$' | xargs cat | md5sum)" = "$sum"
}
fresh_copy() { # of checkpoint b, as $tmp/t
	t="$tmp/t"
	rm -rf "$t"
	cp -a "$tmp/b" "$t"
}
try_restore "restore without the key" "$tmp/b" "private/key.pem: can't read" --tls-key /nonexistent/private/key.pem
try_restore "restore with another key" "$tmp/b" "encrypted for another key" --tls-key "$pki/other-key.pem"
try_restore "restore with the EC key of no recipient" "$tmp/b" "encrypted for another key" --tls-key "$pki/ec-key.pem"

# 4. tampering with pages: each page is authenticated where it lies
pages=$(cd "$tmp/b" && ls pages-*.img | head -n 1)
page() { # file, index: the 4 KiB page
	dd if="$1" bs=4096 skip="$2" count=1 status=none
}
put_page() { # file, index < stdin
	dd of="$1" bs=4096 seek="$2" count=1 conv=notrunc status=none
}
for how in flip swap foreign truncate extend; do
	fresh_copy
	case $how in
	flip)
		flip_byte "$t/$pages" $((4096 * 2 + 100))
		want="$pages: page 2 fails authentication" ;;
	swap)
		page "$tmp/b/$pages" 0 | put_page "$t/$pages" 1
		page "$tmp/b/$pages" 1 | put_page "$t/$pages" 0
		want="$pages: page [01] fails authentication" ;;
	foreign)
		page "$tmp/a/$pages" 1 | put_page "$t/$pages" 1
		want="$pages: page 1 fails authentication" ;;
	truncate)
		truncate -s -4096 "$t/$pages"
		want="$pages: .* bytes, but .*truncated or extended" ;;
	extend)
		page "$tmp/b/$pages" 0 >>"$t/$pages"
		want="$pages: .* bytes, but .*truncated or extended" ;;
	esac
	try_restore "$how of pages in $pages" "$t" "$want" --tls-key "$pki/key.pem"
done

# 5. tampering, image by image: flipped, truncated, swapped with another of
# its kind, replaced by the one of another checkpoint, removed
for f in "$tmp"/b/*.img; do
	img=$(basename "$f")
	case $img in pages-*.img | stats-*) continue ;; esac
	kind=${img%%-*}
	for how in flip truncate swap foreign delete; do
		fresh_copy
		case $how in
		flip)
			size=$(stat -c %s "$t/$img")
			flip_byte "$t/$img" $((size / 2))
			want="$img: " ;;
		truncate)
			truncate -s -1 "$t/$img"
			want="$img: " ;;
		swap)
			other=$(cd "$t" && ls "$kind"-*.img 2>/dev/null | grep -vx "$img" | head -n 1)
			[ -n "$other" ] || continue
			mv "$t/$img" "$t/swap" && mv "$t/$other" "$t/$img" && mv "$t/swap" "$t/$other"
			want="($img|$other): " ;;
		foreign)
			cp "$tmp/a/$img" "$t/$img" 2>/dev/null || continue
			want="$img: "
			# another checkpoint's key: the first image read fails
			[ "$img" = cipher.img ] && want="\.img: authentication failed" ;;
		delete)
			rm "$t/$img"
			case $img in
			cipher.img) want="an encrypted image, but there is no cipher.img" ;;
			manifest.img) want="manifest.img: the checkpoint is incomplete" ;;
			*) want="$img: missing from the checkpoint" ;;
			esac ;;
		esac
		try_restore "$how of $img" "$t" "$want" --tls-key "$pki/key.pem"
	done
done
# pagetags.img sealed again with the key, so it authenticates, but its
# records wrong: refused by criu and by crit alike
for how in drop cut resalt; do
	fresh_copy
	what=$(PYTHONPATH="$E2E_TOP/build/python" /usr/bin/python3 "$E2E_TOP/test/e2e/reseal-tags.py" \
		"$t" "$pki/key.pem" $how)
	case $how in
	drop) want="$what: no tags for it in pagetags.img" ;;
	cut | resalt) want="pagetags.img: malformed at byte $what of its plaintext" ;;
	esac
	try_restore "pagetags.img with its records changed ($how) and sealed again with the key" \
		"$t" "$want" --tls-key "$pki/key.pem"
	out=$(crit_t decrypt "$t" "$tmp/crit-out" --tls-key "$pki/key.pem" 2>&1)
	check "encrypt: ... and by crit: $out" grep -q "$want" <<<"$out"
	rm -rf "$tmp/crit-out"
done
# 6. restore --auto-dedup punches the pages it read out of the encrypted
# page images (they keep their layout), and the process runs
if restore "$tmp/b" --tls-key "$pki/key.pem" --auto-dedup; then
	track_pid "$(cat "$tmp/b/pid")"
	before=$(last_tick)
	wait_for '[ "$(last_tick)" -gt $((before + 1)) ]' 10
	check "encrypt: restore --auto-dedup, and the process counts on" test "$(last_tick)" -gt "$before"
	check "encrypt: ... the page images are holes now ($(cd "$tmp/b" && du -k pages-*.img | tr '\n\t' '  '))" \
		test "$(cd "$tmp/b" && du -kc pages-*.img | tail -n 1 | cut -f1)" = 0
else
	not_ok "encrypt: restore --auto-dedup"
	show_log_errors "$tmp/b/restore.log"
fi
exit $T_FAILED
