#!/bin/sh
# Builds the Linux reference guest for `make bench` from Debian packages only (nothing is
# installed on the host; `apt-get download` and `dpkg -x`):
#   OUT/bzImage        the kernel of linux-image-amd64, as Debian ships it
#   OUT/vmlinux        the same kernel as a plain ELF (the bzImage's xz payload): QEMU boots
#                      it through its PVH note, as it boots amphi.elf, with no decompression
#   OUT/base.cpio.gz   busybox-static, the virtio modules and bench/linux-init.sh as /init
#   OUT/kernel-version
# The benchmark binaries are not in it: bench/run.py appends them at boot in an overlay
# cpio (Linux unpacks concatenated archives), so `make apps` never rebuilds this.
#   linux-guest.sh OUT
set -eu
OUT=${1:?usage: linux-guest.sh OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$OUT.work
# Debian builds virtio, virtio_pci and virtio_net as modules (CONFIG_VIRTIO_NET=m,
# CONFIG_VIRTIO_PCI=m): the initramfs carries them and their dependencies. virtio_mmio is
# for the microvm cell, xen-netfront for the Xen cells (the same kernel is the rig's PV and
# PVH domU).
MODULES="virtio_net virtio_pci virtio_mmio xen-netfront"

rm -rf "$WORK"
mkdir -p "$WORK/debs" "$WORK/x" "$OUT"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "linux-guest: cannot resolve linux-image-amd64" >&2; exit 1; }
kver=${kpkg#linux-image-}
echo "linux-guest: downloading $kpkg and busybox-static (apt-get download)"
(cd "$WORK/debs" && apt-get download -q "$kpkg" busybox-static 2>&1 |
	grep -v 'Download is performed unsandboxed' || true)
for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$WORK/x"; done

cp "$WORK/x/boot/vmlinuz-$kver" "$OUT/bzImage"
# The bzImage's payload is one xz stream: cut it out at its magic and unpack it (xz
# complains about what follows the stream; the ELF is whole).
off=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$OUT/bzImage" | head -1 | cut -d: -f1)
tail -c +$((off + 1)) "$OUT/bzImage" | xz -dc >"$OUT/vmlinux" 2>/dev/null || true
[ "$(head -c4 "$OUT/vmlinux" | tail -c3)" = ELF ] ||
	{ echo "linux-guest: vmlinux extraction failed" >&2; exit 1; }

S=$WORK/stage
BB=$WORK/x/bin/busybox
mkdir -p "$S/bin" "$S/sbin" "$S/proc" "$S/sys" "$S/dev" "$S/tmp" "$S/bench" "$S/etc"
cp "$BB" "$S/bin/busybox"
for a in $("$BB" --list); do
	[ "$a" = busybox ] || ln -s busybox "$S/bin/$a"
done
cp "$HERE/linux-init.sh" "$S/init"
chmod +x "$S/init" "$S/bin/busybox"

# The modules and their dependencies, in load order: busybox's depmod (the host has no
# kmod) writes modules.dep for the whole tree; each wanted module is preceded by its
# dependencies, as modprobe would load them.
M=$WORK/x/lib/modules/$kver
"$BB" depmod -b "$WORK/x" "$kver"
order=
add() { # add MODULE_PATH (relative to $M), after its dependencies
	case " $order " in *" $1 "*) return ;; esac
	for dep in $(awk -v m="$1:" '$1 == m { $1 = ""; print }' "$M/modules.dep"); do
		add "$dep"
	done
	order="$order $1"
}
for m in $MODULES; do
	p=$(awk -F: -v m="/$m.ko" 'index($1, m) == length($1) - length(m) + 1 { print $1; exit }' \
		"$M/modules.dep")
	[ -n "$p" ] || { echo "linux-guest: module $m not found in $kpkg" >&2; exit 1; }
	add "$p"
done
mkdir -p "$S/lib/modules"
: >"$S/lib/modules/load-order"
for p in $order; do
	cp "$M/$p" "$S/lib/modules/"
	basename "$p" >>"$S/lib/modules/load-order"
done
echo "$kver" >"$S/etc/kernel-version"

(cd "$S" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/base.cpio.gz"
echo "$kver" >"$OUT/kernel-version"
rm -rf "$WORK"
echo "linux-guest: done: $kver, modules:$(echo "$order" | sed 's|[^ ]*/||g')"
