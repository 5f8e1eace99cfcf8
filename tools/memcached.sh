#!/bin/sh
# memcached for the matrix's memcached tests, built from Debian's source packages
# (bookworm): memcached and the libevent it links, both static with Debian's musl-gcc (musl's
# getpwnam reads /etc/passwd, which glibc's static NSS cannot do without its shared
# modules). Nothing of either is committed; the sources and the binary live in the cache,
# outside the clone, keyed by the two versions (fetched by tools/debsrc.sh).
#   tools/memcached.sh OUT     build if missing (about a minute), copy the binary to OUT
set -eu
MC=1.6.18-1
LE=2.1.12-stable-8
CACHE=${AMPHI_CACHE:-$HOME/.cache/amphi}
DIR=$CACHE/memcached-$MC-libevent-$LE
OUT=$(realpath -m "${1:?usage: tools/memcached.sh OUT}")
BIN=$DIR/memcached
if [ ! -x "$BIN" ]; then
	echo "memcached: building Debian's memcached $MC with libevent $LE (musl, static) in $DIR"
	"$(dirname "$0")/debsrc.sh" memcached "$DIR" "memcached=$MC" "libevent=$LE"
	cd "$DIR"
	rm -rf src prefix && mkdir src
	tar -C src -xf "libevent_${LE%-*}.orig.tar.gz"
	tar -C src -xf "memcached_${MC%-*}.orig.tar.xz"
	log=$DIR/build.log
	(cd "src/libevent-${LE%-*}" &&
		./configure -q CC=musl-gcc --disable-shared --enable-static --disable-openssl \
			--disable-samples --disable-libevent-regress --disable-debug-mode \
			--prefix="$DIR/prefix" && make -j2 && make install) >"$log" 2>&1 || {
		tail -20 "$log"
		echo "memcached: building libevent failed (log: $log)"
		exit 1
	}
	(cd "src/memcached-${MC%-*}" &&
		./configure -q CC=musl-gcc --with-libevent="$DIR/prefix" --disable-sasl \
			--disable-tls --disable-docs LDFLAGS="-static -s" &&
		make -j2 memcached) >>"$log" 2>&1 || {
		tail -20 "$log"
		echo "memcached: building memcached failed (log: $log)"
		exit 1
	}
	cp "src/memcached-${MC%-*}/memcached" "$BIN.tmp"
	mv "$BIN.tmp" "$BIN"
	rm -rf src
	echo "memcached: ready: $BIN"
fi
cp "$BIN" "$OUT"
