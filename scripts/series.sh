#!/bin/bash
# make series: the patch series for CRIU's maintainers, in build/series/,
# from build/criu (its commits upstream..HEAD, i.e. patches/) and the
# project's new files, each added to the patch that brings it
# (patches/series-files); every patch signed off.  Then the series is
# checked: it applies with 'git am' to the pristine tarball, and the
# result is build/criu, file for file (its new files as in the checkout).
#
#   series.sh          write build/series/ and check it
#   series.sh builds   also build criu after each patch (slow: a build each)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/criu
out=$top/build/series
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ident=(-c user.name=criu-encrypt -c user.email=criu-encrypt@localhost -c commit.gpgsign=false)
g() { git -C "$work/repo" "${ident[@]}" "$@"; }
die() {
	echo "series: $*" >&2
	exit 1
}

[ -d "$tree/.git" ] || die "no build/criu: run make first"
[ -z "$(git -C "$tree" status --porcelain --untracked-files=no)" ] || die "build/criu has uncommitted changes"

# the new files of a "|" line (git pathspecs), in the checkout
files_of() {
	(cd "$top" && git ls-files -co --exclude-standard -- $1) | sort -u
}
add_files() { # files...: copied from the checkout into the repository
	local f
	for f in "$@"; do
		mkdir -p "$work/repo/$(dirname "$f")"
		cp "$top/$f" "$work/repo/$f"
		g add -f "$f"
	done
}

# the pristine tree, then each commit of build/criu with its new files
mkdir "$work/repo"
tar -C "$work/repo" --strip-components=1 -xf "$("$top/scripts/fetch-criu.sh")"
g init -q && g add -A -f . && g commit -q -m upstream && g tag upstream
for c in $(git -C "$tree" rev-list --reverse upstream..HEAD); do
	subject=$(git -C "$tree" log -1 --format=%s "$c")
	git -C "$tree" format-patch -1 --stdout "$c" >"$work/p"
	g am -q --keep-cr "$work/p" || die "'$subject' does not apply"
	line=$(grep -E '^[^#@>|]' "$top/patches/series-files" | while IFS='|' read -r pre files; do
		case "$subject" in "$pre"*) echo "$files" ;; esac
	done)
	if [ -n "$line" ]; then
		add_files $(files_of "$line")
		g commit -q --amend --no-edit
	fi
done
# the patches of new files only
awk '/^@ /{ if (s) print ""; s = substr($0, 3); print s; next } /^> /{ print substr($0, 3); next }
     /^\| /{ print "|" substr($0, 3) }' "$top/patches/series-files" >"$work/new"
awk -v RS= '{ print > ("'"$work"'/new." NR) }' "$work/new"
for n in "$work"/new.*; do
	[ -s "$n" ] || continue
	add_files $(files_of "$(sed -n 's/^|//p' "$n")")
	grep -v '^|' "$n" | sed '1{p;s/.*//}' >"$work/msg"
	g commit -q -F "$work/msg"
done

rm -rf "$out"
mkdir -p "$out"
g format-patch -q --signoff --cover-letter --no-numbered --zero-commit -o "$out" upstream..HEAD
sed -i -e "s/\*\*\* SUBJECT HERE \*\*\*/Encrypted checkpoints: criu dump --encrypt/" \
	-e "/\*\*\* BLURB HERE \*\*\*/{r $top/patches/cover-letter.txt
d}" "$out"/0000-cover-letter.patch
echo "series: $(ls "$out" | grep -vc cover-letter) patches in build/series"

# check: the series on the pristine tarball is build/criu and the new files
rm -rf "$work/check"
mkdir "$work/check"
tar -C "$work/check" --strip-components=1 -xf "$("$top/scripts/fetch-criu.sh")"
git -C "$work/check" init -q && git -C "$work/check" add -A -f . &&
	git -C "$work/check" "${ident[@]}" commit -q -m upstream
for p in $(ls "$out"/*.patch | grep -v cover-letter); do
	git -C "$work/check" "${ident[@]}" am -q --keep-cr "$p" || die "$(basename "$p") does not apply"
	if [ "${1:-}" = builds ]; then
		make -C "$work/check" -j"$(nproc)" PYTHON=/usr/bin/python3 criu >"$work/build.log" 2>&1 ||
			{ tail -n 20 "$work/build.log"; die "criu does not build after $(basename "$p")"; }
		echo "series: builds after $(basename "$p")"
	fi
done
bad=0
for f in $(git -C "$work/check" ls-files); do
	if [ -L "$work/check/$f" ] || [ -L "$tree/$f" ] && ! [ -L "$tree/$f" -a -e "$top/$f" ]; then
		[ "$(readlink "$work/check/$f")" = "$(readlink "$tree/$f")" ] && continue
	elif cmp -s "$work/check/$f" "$tree/$f"; then
		continue
	fi
	echo "series: $f differs from build/criu" >&2
	bad=1
done
[ $bad = 0 ] || die "the series does not give build/criu"
echo "series: git am of build/series on the pristine tarball gives build/criu"
