#!/bin/sh
# memcached for the matrix's memcached tests, built from Debian's source packages
# (bookworm): memcached and the libevent it links, both static with Debian's musl-gcc (musl's
# getpwnam reads /etc/passwd, which glibc's static NSS cannot do without its shared
# modules). Nothing of either is committed; the sources and the binary live in the cache,
# outside the clone, keyed by the two versions. apt-get verifies the files against the
# signed Sources index, with a private apt state directory (as tools/lwip.sh).
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
	APT=$DIR/apt
	mkdir -p "$APT/lists/partial" "$APT/archives/partial"
	echo "deb-src http://deb.debian.org/debian bookworm main" >"$APT/sources.list"
	opts="-o Dir::Etc::SourceList=$APT/sources.list -o Dir::Etc::SourceParts=/dev/null
	      -o Dir::State::Lists=$APT/lists -o Dir::Cache::Archives=$APT/archives
	      -o APT::Sandbox::User=root"
	# shellcheck disable=SC2086
	apt-get -q $opts update >"$APT/update.log" 2>&1 || {
		tail -5 "$APT/update.log"
		echo "memcached: apt-get update of the deb-src index failed (log: $APT/update.log)"
		exit 1
	}
	cd "$DIR"
	# shellcheck disable=SC2086
	apt-get -q $opts source --download-only "memcached=$MC" "libevent=$LE" \
		>"$APT/source.log" 2>&1 || {
		tail -5 "$APT/source.log"
		echo "memcached: apt-get source failed (log: $APT/source.log)"
		exit 1
	}
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
