#!/bin/sh
# Installs the Debian packages that building, `make run` and `make test` need, with
# apt-get. Idempotent: when everything is present it prints nothing and costs ~0.1 s.
#   build:   make gcc libc6-dev binutils musl-tools (musl-gcc: the apps) golang-go (the Go apps,
#            apps/go/, built with CGO_ENABLED=0) libxen-dev (Xen public headers, /usr/include/xen),
#            and lwIP's Debian source package, fetched into the cache by tools/lwip.sh
#            linux-libc-dev (the virtio uapi headers, /usr/include/linux/virtio_*.h)
#   run:     qemu-system-x86 (and qboot.rom from qemu-system-data), python3
#   test:    gdb (the corrupt-boot test), iproute2 and iputils-ping (a tap device in a
#            network namespace, and pings through it), curl (the HTTP test), busybox (its
#            udhcpd: the guest's DHCP lease in the HTTP test), libmemcached-tools (memccapable:
#            memcached's protocol checks against the guest's), and for the Xen rig (test_matrix/xen-rig/build.sh):
#            debootstrap cpio gzip xz-utils
#   bench:   gnuplot-nox (the chart of the ratios), wrk (the HTTP rows' load); bench/linux-guest.sh downloads Debian's
#            kernel and busybox-static with apt-get download and unpacks them (cpio, gzip,
#            xz-utils, as the rig)
#   fuzz:    clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes: make fuzz,
#            make fuzz-smoke; fuzz/README.md)
set -eu
PKGS="make gcc libc6-dev linux-libc-dev binutils musl-tools golang-go libxen-dev qemu-system-x86 qemu-system-data
      python3 gdb iproute2 iputils-ping curl busybox libmemcached-tools debootstrap cpio gzip xz-utils
      clang-14 libclang-rt-14-dev gnuplot-nox wrk"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exec "$(dirname "$0")/lwip.sh"
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing"
	echo "deps: run 'make deps' as root (it uses apt-get), or install them yourself"
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# a broken third-party source must not stop us: Debian's own archive is what we need
apt-get update -q >/dev/null 2>&1 || echo "deps: apt-get update reported errors; trying anyway"
apt-get install -y -q --no-install-recommends $missing >/tmp/amphi-deps.log 2>&1 || {
	tail -20 /tmp/amphi-deps.log
	echo "deps: apt-get install failed (full log: /tmp/amphi-deps.log)"
	exit 1
}
echo "deps: done"
exec "$(dirname "$0")/lwip.sh"
