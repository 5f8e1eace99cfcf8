#!/bin/sh
# busybox for the matrix's shell tests: Debian's busybox-static as Debian ships it (not
# rebuilt), fetched with apt-get download into the cache, outside the clone, keyed by the
# package's version (bookworm's, the same as the Linux guest's initramfs holds).
#   tools/busybox.sh OUT     fetch if missing, copy the binary to OUT
set -eu
CACHE=${AMPHI_CACHE:-$HOME/.cache/amphi}
OUT=$(realpath -m "${1:?usage: tools/busybox.sh OUT}")
VER=$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')
[ -n "$VER" ] && [ "$VER" != "(none)" ] || {
	echo "busybox: apt-cache knows no busybox-static (apt-get update?)"
	exit 1
}
DIR=$CACHE/busybox-static-$(echo "$VER" | tr ':~' '__')
BIN=$DIR/busybox
if [ ! -x "$BIN" ]; then
	echo "busybox: fetching Debian's busybox-static $VER into $DIR"
	rm -rf "$DIR.work" && mkdir -p "$DIR.work"
	(cd "$DIR.work" && apt-get download -q "busybox-static=$VER" >/dev/null 2>&1) || {
		echo "busybox: apt-get download busybox-static=$VER failed"
		exit 1
	}
	dpkg-deb -x "$DIR.work"/busybox-static_*.deb "$DIR.work/x"
	mkdir -p "$DIR"
	cp "$DIR.work/x/bin/busybox" "$BIN.tmp"
	mv "$BIN.tmp" "$BIN"
	rm -rf "$DIR.work"
fi
mkdir -p "$(dirname "$OUT")"
cp "$BIN" "$OUT"
