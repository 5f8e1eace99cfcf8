#!/bin/bash
# Builds the nested Xen rig from Debian packages only (nothing of Xen or Linux is installed on
# the host):
#   OUT/xen            Xen 4.17 hypervisor as a plain ELF (qemu -kernel wants it uncompressed)
#   OUT/vmlinux        Debian's 6.1 kernel as a plain ELF: Xen then need not xz-unpack a
#                      bzImage under TCG (~4 s per boot)
#   OUT/dom0.cpio.gz   a trimmed dom0 userland: busybox, xl, xenstored, xenconsoled, the
#                      hotplug scripts and the kernel modules dom0 needs (e1000 only for
#                      `make run HV=xen-pv`: dom0's link to QEMU's user network; virtio_blk
#                      for `amphi run --disk` on Xen). Its /init comes
#                      from the overlay the runner appends at boot (dom0-init.sh), so
#                      changing the test flow never rebuilds this.
#
#   build.sh OUT [CHROOT_CACHE]
# The debootstrap chroot the userland is cut from is kept in CHROOT_CACHE (keyed by the
# package list below), so a recipe change costs ~15 s instead of ~60 s.
set -euo pipefail
OUT=${1:?usage: build.sh OUT [CHROOT_CACHE]}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${SECMIRROR:-http://deb.debian.org/debian-security}
DOM0_PKGS="xen-utils-4.17 xenstore-utils iproute2 kmod"
CHROOT_CACHE=${2:-$(dirname "$OUT")}
ROOTFS=$CHROOT_CACHE/dom0-chroot-$(echo "bookworm $DOM0_PKGS" | sha256sum | cut -c1-12)
WORK=$OUT.work
t0=$(date +%s)
log() { echo "xen-rig: +$(($(date +%s) - t0))s $*"; }

rm -rf "$WORK"
mkdir -p "$WORK/debs" "$WORK/x" "$OUT"

log "downloading Xen, the dom0 kernel and busybox (apt-get download)"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "xen-rig: cannot resolve linux-image-amd64" >&2; exit 1; }
(cd "$WORK/debs" && apt-get download -q xen-hypervisor-4.17-amd64 "$kpkg" busybox-static 2>&1 |
	grep -v 'Download is performed unsandboxed' || true)
for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$WORK/x"; done
kver=${kpkg#linux-image-}
zcat "$WORK/x/boot/xen-4.17-amd64.gz" >"$OUT/xen"
# The bzImage's payload is one xz stream: cut it out at its magic and unpack it.
vmlinuz=$WORK/x/boot/vmlinuz-$kver
off=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
tail -c +$((off + 1)) "$vmlinuz" | xz -dc >"$OUT/vmlinux" 2>/dev/null || true
[ "$(head -c4 "$OUT/vmlinux" | tail -c3)" = ELF ] || { echo "xen-rig: vmlinux extraction failed" >&2; exit 1; }

if [ ! -x "$ROOTFS/usr/lib/xen-4.17/bin/xl" ]; then
	log "debootstrap bookworm into $ROOTFS"
	rm -rf "$ROOTFS"
	debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -20 "$WORK/debootstrap.log"; exit 1; }
	printf 'deb %s bookworm main\ndeb %s bookworm-security main\n' "$MIRROR" "$SECMIRROR" \
		>"$ROOTFS/etc/apt/sources.list"
	# no service may start inside the chroot
	printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
	chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
	log "installing $DOM0_PKGS into the chroot"
	mount -t proc proc "$ROOTFS/proc"
	trap 'umount "$ROOTFS/proc" 2>/dev/null || true' EXIT
	chroot "$ROOTFS" apt-get -q update >"$WORK/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" apt-get -q install -y \
		--no-install-recommends $DOM0_PKGS >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; exit 1; }
	umount "$ROOTFS/proc"
	trap - EXIT
fi

log "assembling the dom0 initramfs"
S=$WORK/stage
mkdir -p "$S"/usr/bin "$S"/usr/sbin "$S"/usr/lib "$S"/usr/lib64 \
	"$S"/proc "$S"/sys "$S"/dev "$S"/run "$S"/tmp "$S"/root "$S"/etc/xen \
	"$S"/var/lib/xen "$S"/var/log/xen/console
for d in bin sbin lib lib64; do ln -s usr/$d "$S/$d"; done
ln -s ../run "$S/var/run"

XB=/usr/lib/xen-4.17/bin
# xenctx: the registers of a guest that triple-faulted (kept by on_reboot = "preserve")
bins="$XB/xl $XB/xenstored $XB/xenconsoled $XB/xen-init-dom0 $XB/libxl-save-helper $XB/xenctx
      /usr/bin/xenstore /usr/bin/bash /usr/bin/ip /usr/sbin/losetup /usr/bin/flock
      /usr/bin/stat /usr/bin/readlink"
for b in $bins; do
	mkdir -p "$S$(dirname "$b")"
	cp -L "$ROOTFS$b" "$S$b"
done
for a in read write list ls rm exists chmod watch; do ln -sf xenstore "$S/usr/bin/xenstore-$a"; done
# Shared libraries as ldd resolves them inside the chroot; glibc dlopen()s libgcc_s for
# pthread_cancel, and xl aborts without it.
libs=$(for b in $bins; do chroot "$ROOTFS" ldd "$b" 2>/dev/null; done |
	awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }' | sort -u)
for l in $libs /lib/x86_64-linux-gnu/libgcc_s.so.1; do
	case $l in /lib/* | /lib64/*) l=/usr$l ;; esac
	mkdir -p "$S$(dirname "$l")"
	cp -L "$ROOTFS$l" "$S$l"
done
cp -a "$ROOTFS/etc/xen/scripts" "$ROOTFS/etc/xen/xl.conf" "$S/etc/xen/"
# busybox for everything else; no brctl, so vif-bridge uses `ip link ... master`
cp "$WORK/x/bin/busybox" "$S/usr/bin/busybox"
for a in $("$WORK/x/bin/busybox" --list); do
	case $a in brctl | busybox) continue ;; esac
	[ -e "$S/usr/bin/$a" ] || [ -e "$S/usr/sbin/$a" ] || ln -s busybox "$S/usr/bin/$a"
done
# (virtio_blk and what it needs: amphi run --disk on Xen, the user's file as the rig's
# virtio disk, passed through to the guest)
for m in xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback xen-netback \
	bridge stp llc loop e1000 virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev \
	virtio_pci virtio_blk; do
	f=$(find "$WORK/x/lib/modules/$kver" -name "$m.ko*" | head -1)
	[ -n "$f" ] || { echo "xen-rig: kernel module $m not found" >&2; exit 1; }
	d=$S/usr/lib/modules/$kver/${f#"$WORK/x/lib/modules/$kver/"}
	mkdir -p "$(dirname "$d")"
	cp "$f" "$d"
done
cp "$WORK/x/lib/modules/$kver"/modules.builtin* "$WORK/x/lib/modules/$kver/modules.order" \
	"$S/usr/lib/modules/$kver/"
mkdir -p "$ROOTFS/tmp/stage"
mount --bind "$S" "$ROOTFS/tmp/stage"
chroot "$ROOTFS" depmod -b /tmp/stage "$kver" || true
umount "$ROOTFS/tmp/stage"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$S/etc/passwd"
printf 'root:x:0:\n' >"$S/etc/group"
: >"$S/etc/fstab"
(cd "$S" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/dom0.cpio.gz"
echo "$kver" >"$OUT/kernel-version"
rm -rf "$WORK"
log "done: $(du -sh "$OUT" | cut -f1) in $OUT"
