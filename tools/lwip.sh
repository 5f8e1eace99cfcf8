#!/bin/sh
# Fetches lwIP's Debian source package (bookworm) into the cache, outside the clone, and
# unpacks the upstream tree: nothing of lwIP is committed. apt-get verifies the files
# against the signed Sources index (tools/debsrc.sh).
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
"$(dirname "$0")/debsrc.sh" lwip "$DIR" "lwip=$VERSION"
cd "$DIR"
tar -xf "lwip_${VERSION%-*}.orig.tar.xz"
[ -f "lwip-$UPSTREAM/src/core/tcp.c" ] || { echo "lwip: unexpected layout in the tarball"; exit 1; }
echo "lwip: ready in $DIR/lwip-$UPSTREAM"
