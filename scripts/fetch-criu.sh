#!/bin/bash
# Obtain CRIU's pristine source, criu_4.1.1.orig.tar.xz, from Debian's
# archive with apt and verify it.  Prints the tarball's path.
#
# Order: $CRIU_TARBALL if set, then the cache in build/, then the archive.
# The archive is reached through a private apt configuration under build/apt
# holding one deb-src entry for trixie (the suite that ships 4.1.1), whose
# URI is read from the machine's own apt configuration. The system's apt
# sources are not touched and no binary package can come from trixie.
set -eu

SHA256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
NAME=criu_4.1.1.orig.tar.xz
SUITE=trixie

top=$(cd "$(dirname "$0")/.." && pwd)
cache="$top/build/$NAME"

die() {
	echo "fetch-criu: $*" >&2
	exit 1
}

verify() {
	local sum
	sum=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$sum" = "$SHA256" ] ||
		die "$1: sha256 is $sum, expected $SHA256; refusing it"
}

if [ -n "${CRIU_TARBALL:-}" ]; then
	[ -f "$CRIU_TARBALL" ] || die "CRIU_TARBALL=$CRIU_TARBALL: no such file"
	verify "$CRIU_TARBALL"
	echo "$CRIU_TARBALL"
	exit 0
fi

if [ -f "$cache" ]; then
	verify "$cache"
	echo "$cache"
	exit 0
fi

uri=$(apt-get indextargets --format '$(REPO_URI)' 'Origin: Debian' 'Target-Of: deb' |
	grep -v -- '-security' | sort -u | head -n 1)
[ -n "$uri" ] || die "no Debian archive in the apt configuration (run apt-get update?)"

apt="$top/build/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
cat >"$apt/trixie-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts="-o Dir::Etc::SourceList=$apt/trixie-src.sources -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -qq"

echo "fetch-criu: reading the $SUITE source index" >&2
apt-get $opts update >&2 || die "apt-get update of the $SUITE deb-src entry failed"

# Only the orig tarball is needed (the .dsc may be missing from a mirror),
# so take its URI from apt and fetch it with apt's own downloader, which
# checks the hash the signed index gives.
line=$(apt-get $opts source --print-uris criu 2>/dev/null | grep "/$NAME'" || true)
[ -n "$line" ] || die "the $SUITE source index has no $NAME"
url=$(echo "$line" | cut -d"'" -f2)
idxsum=$(echo "$line" | sed -n 's/.*SHA256:\([0-9a-f]*\).*/\1/p')
[ "$idxsum" = "$SHA256" ] ||
	die "the archive lists $NAME with sha256 $idxsum, expected $SHA256; refusing it"

echo "fetch-criu: downloading $NAME" >&2
/usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$url" "$cache.part" "SHA256:$SHA256" >&2 ||
	die "download of $NAME failed"
verify "$cache.part"
mv "$cache.part" "$cache"
echo "$cache"
