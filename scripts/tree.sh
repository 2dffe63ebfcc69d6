#!/bin/bash
# Lay out build/criu: the pristine CRIU 4.1.1 tree, patches/series applied
# as git commits on top of the tag "upstream", and the project's own new
# files linked in from the checkout (so an edit in either place is the same
# edit).  See patches/README.md.
#
#   tree.sh          create build/criu, or bring it in line with patches/
#   tree.sh patches  turn the commits upstream..HEAD of build/criu into patches/
#   tree.sh verify   check that patches/ on the pristine tarball reproduces
#                    every source file of build/criu
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="${CRIU_TREE:-$top/build/criu}"
# The directories whose files are the project's own, laid into CRIU's tree.
OVERLAY="criu crit images lib test scripts Documentation"

die() {
	echo "tree: $*" >&2
	exit 1
}

g() {
	git -C "$tree" -c user.name=criu-build -c user.email=build@localhost \
		-c commit.gpgsign=false "$@"
}

# sha256 of the series and every patch it names, in order
series_hash() {
	(
		cd "$top/patches"
		cat series
		grep -v '^#' series | grep . | xargs -r cat
	) | sha256sum | cut -d' ' -f1
}

overlay_files() {
	(cd "$top" && git ls-files -co --exclude-standard -- $OVERLAY 2>/dev/null ||
		find $OVERLAY -type f 2>/dev/null)
}

link_overlay() {
	local f
	overlay_files | while read -r f; do
		[ -f "$top/$f" ] || continue
		if g cat-file -e "upstream:$f" 2>/dev/null; then
			die "$f exists in CRIU; change it with a patch, not a new file"
		fi
		mkdir -p "$tree/$(dirname "$f")"
		ln -sfn "$top/$f" "$tree/$f"
		grep -qxF "/$f" "$tree/.git/info/exclude" || echo "/$f" >>"$tree/.git/info/exclude"
	done
}

apply_series() {
	local p
	grep -v '^#' "$top/patches/series" | grep . | while read -r p; do
		g am -q --keep-cr --committer-date-is-author-date "$top/patches/$p" ||
			die "patches/$p does not apply"
	done
	series_hash >"$tree/.git/criu-series"
	g rev-parse HEAD >"$tree/.git/criu-head"
}

create() {
	local tarball tmp
	tarball=$("$top/scripts/fetch-criu.sh")
	tmp="$tree.new"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	tar -C "$tmp" --strip-components=1 -xf "$tarball"
	tree="$tmp"
	g init -q
	g add -A -f .
	GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z" \
		g commit -q -m "CRIU 4.1.1 ($(basename "$tarball"))"
	g tag upstream
	apply_series
	tree="$top/build/criu"
	rm -rf "$tree"
	mv "$tmp" "$tree"
}

sync() {
	if [ ! -d "$tree/.git" ]; then
		echo "tree: creating build/criu" >&2
		create
	elif [ "$(series_hash)" != "$(cat "$tree/.git/criu-series" 2>/dev/null)" ]; then
		# patches/ changed under the tree (a pull, a checkout): replay it,
		# unless the tree holds work that patches/ does not have yet.
		[ -z "$(g status --porcelain --untracked-files=no)" ] &&
			[ "$(g rev-parse HEAD)" = "$(cat "$tree/.git/criu-head")" ] ||
			die "patches/ changed, but build/criu has edits not in patches/; run 'make patches' or drop them"
		echo "tree: patches/ changed, re-applying the series" >&2
		g reset -q --hard upstream
		apply_series
	fi
	link_overlay
}

patches() {
	[ -d "$tree/.git" ] || die "no build/criu; run make first"
	if [ -n "$(g status --porcelain --untracked-files=no)" ]; then
		g status --short --untracked-files=no >&2
		die "build/criu has uncommitted changes to CRIU's files; commit them (git -C build/criu commit) first"
	fi
	rm -f "$top"/patches/*.patch
	g format-patch -q --no-numbered --no-signature --zero-commit --no-stat \
		-o "$top/patches" upstream..HEAD
	(
		cd "$top/patches"
		echo "# Applied in order by scripts/tree.sh on the pristine CRIU 4.1.1 tree."
		ls -1 *.patch 2>/dev/null || true
	) >"$top/patches/series.new"
	mv "$top/patches/series.new" "$top/patches/series"
	series_hash >"$tree/.git/criu-series"
	g rev-parse HEAD >"$tree/.git/criu-head"
	echo "tree: patches/ now holds $(g rev-list --count upstream..HEAD) patches" >&2
}

verify() {
	local tarball p f bad=0
	[ -d "$tree/.git" ] || die "no build/criu; run make first"
	tarball=$("$top/scripts/fetch-criu.sh")
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	tar -C "$tmp" --strip-components=1 -xf "$tarball"
	for p in $(grep -v '^#' "$top/patches/series" | grep .); do
		patch -d "$tmp" -p1 -s --no-backup-if-mismatch <"$top/patches/$p" ||
			die "patches/$p does not apply to the pristine tree"
	done
	# every file CRIU's tree tracks, as built, must equal the patched tarball
	while read -r f; do
		if [ -L "$tmp/$f" ] || [ -L "$tree/$f" ]; then
			[ "$(readlink "$tmp/$f")" = "$(readlink "$tree/$f")" ] && continue
		elif cmp -s "$tmp/$f" "$tree/$f"; then
			continue
		fi
		echo "tree: build/criu/$f differs from patches/ applied to the tarball" >&2
		bad=1
	done < <(g ls-files)
	# and nothing the series adds may be missing from build/criu
	while read -r f; do
		f=${f#./}
		[ -e "$tree/$f" ] || [ -L "$tree/$f" ] || {
			echo "tree: build/criu/$f is missing" >&2
			bad=1
		}
	done < <(cd "$tmp" && find . -type f -o -type l)
	[ $bad = 0 ] || die "build/criu is not patches/ applied to the pristine tarball"
	echo "tree: build/criu is exactly patches/ applied to the pristine tarball"
}

case "${1:-sync}" in
sync) sync ;;
patches) patches ;;
verify) verify ;;
*) die "usage: tree.sh [sync|patches|verify]" ;;
esac
