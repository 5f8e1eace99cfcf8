#!/bin/sh
# Fetches Debian source packages (bookworm) into DIR with apt-get, which verifies the files
# against the signed Sources index. A private apt state directory (DIR/apt) holds the
# deb-src entry, so the machine's own apt configuration is left alone. Used by
# tools/lwip.sh and tools/memcached.sh; the caller unpacks what it needs.
#   tools/debsrc.sh NAME DIR PKG=VERSION...     (NAME: what the messages say)
set -eu
NAME=$1
DIR=$2
shift 2
APT=$DIR/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial"
echo "deb-src http://deb.debian.org/debian bookworm main" >"$APT/sources.list"
opts="-o Dir::Etc::SourceList=$APT/sources.list -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists=$APT/lists -o Dir::Cache::Archives=$APT/archives
      -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get -q $opts update >"$APT/update.log" 2>&1 || {
	tail -5 "$APT/update.log"
	echo "$NAME: apt-get update of the deb-src index failed (log: $APT/update.log)"
	exit 1
}
cd "$DIR"
# shellcheck disable=SC2086
apt-get -q $opts source --download-only "$@" >"$APT/source.log" 2>&1 || {
	tail -5 "$APT/source.log"
	echo "$NAME: apt-get source $* failed (log: $APT/source.log)"
	exit 1
}
