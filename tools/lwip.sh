#!/bin/sh
# Fetches lwIP's Debian source package (bookworm) into the cache, outside the clone, and
# unpacks the upstream tree: nothing of lwIP is committed. apt-get verifies the files
# against the signed Sources index; a private apt state directory holds the deb-src entry,
# so the machine's own apt configuration is left alone.
#   tools/lwip.sh          fetch if missing, print nothing when it is there
#   tools/lwip.sh --dir    print the unpacked source directory
set -eu
VERSION=2.1.3+dfsg1-2
UPSTREAM=2.1.3
CACHE=${AMPHI_CACHE:-$HOME/.cache/amphi}
DIR=$CACHE/lwip-$VERSION
if [ "${1:-}" = "--dir" ]; then
	echo "$DIR/lwip-$UPSTREAM"
	exit 0
fi
[ -f "$DIR/lwip-$UPSTREAM/src/core/tcp.c" ] && exit 0
echo "lwip: fetching Debian's source package lwip $VERSION into $DIR"
APT=$DIR/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial"
echo "deb-src http://deb.debian.org/debian bookworm main" >"$APT/sources.list"
opts="-o Dir::Etc::SourceList=$APT/sources.list -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists=$APT/lists -o Dir::Cache::Archives=$APT/archives
      -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get -q $opts update >"$APT/update.log" 2>&1 || {
	tail -5 "$APT/update.log"
	echo "lwip: apt-get update of the deb-src index failed (log: $APT/update.log)"
	exit 1
}
cd "$DIR"
# shellcheck disable=SC2086
apt-get -q $opts source --download-only "lwip=$VERSION" >"$APT/source.log" 2>&1 || {
	tail -5 "$APT/source.log"
	echo "lwip: apt-get source lwip=$VERSION failed (log: $APT/source.log)"
	exit 1
}
tar -xf "lwip_${VERSION%-*}.orig.tar.xz"
[ -f "lwip-$UPSTREAM/src/core/tcp.c" ] || { echo "lwip: unexpected layout in the tarball"; exit 1; }
echo "lwip: ready in $DIR/lwip-$UPSTREAM"
