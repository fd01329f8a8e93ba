#!/usr/bin/env bash
# Builds the microVM tier's image into OUT (make vm-image):
#   vmlinux       the kernel of Debian's linux-image-amd64 (the version it points to today,
#                 recorded in image.txt), unpacked from the .deb (never installed on the host)
#                 and decompressed: QEMU boots the ELF through its PVH entry, which saves the
#                 seconds an emulated CPU spends unpacking an xz bzImage;
#   initrd.cpio   /init = cordon-vm-agent (static), and the drivers it loads in /modules;
#   root.ext4     the container tiers' root filesystem (make rootfs) as a read-only disk.
# Everything comes from Debian's packages and this repository; timestamps are pinned.
set -euo pipefail

ROOTFS=$1 AGENT=$2 OUT=$3
# Downloaded kernel packages are kept here (outside git) across rebuilds.
DEBS=${DEBS:-.cache/debs}
export SOURCE_DATE_EPOCH=1700000000
# The drivers the agent needs: virtio over MMIO, the disk, the serial port, ext4 and 9p.
MODULES=(virtio_mmio virtio_blk virtio_console ext4 9pnet_virtio 9p)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n $pkg ]] || { echo "vm-image: apt knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
version=${pkg#linux-image-}
mkdir -p "$DEBS"
if ! ls "$DEBS/$pkg"_*.deb >/dev/null 2>&1; then
  (cd "$DEBS" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
fi
deb=$(ls "$DEBS/$pkg"_*.deb | tail -1)
dpkg-deb -x "$deb" "$work/kernel"
depmod -b "$work/kernel" "$version"

mkdir -p "$work/initrd/modules" "$work/initrd/dev" "$work/initrd/proc" "$work/initrd/sys"
install -m 0755 "$AGENT" "$work/initrd/init"
for m in "${MODULES[@]}"; do
  modprobe -d "$work/kernel" -S "$version" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$work/initrd/modules/"
  basename "$ko" >> "$work/initrd/modules/order"
done

rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
python3 - "$work/kernel/boot/vmlinuz-$version" "$OUT.tmp/vmlinux" <<'PY'
import lzma, sys
image = open(sys.argv[1], 'rb').read()
start = image.find(b'\xfd7zXZ\x00')
if start < 0:
    sys.exit('vm-image: the kernel is not xz-compressed; cannot unpack it')
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(image[start:])
if not elf.startswith(b'\x7fELF'):
    sys.exit('vm-image: the unpacked kernel is not an ELF image')
open(sys.argv[2], 'wb').write(elf)
PY
(cd "$work/initrd" && find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + &&
  find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0 --reproducible) > "$OUT.tmp/initrd.cpio"

# The root disk: the rootfs plus 30% room for the filesystem's own metadata.
size_kib=$(( $(du -sk "$ROOTFS" | cut -f1) * 13 / 10 + 16384 ))
mkfs.ext4 -q -d "$ROOTFS" -L cordon-root -O ^has_journal -U clear -E hash_seed=00000000-0000-0000-0000-000000000000 \
  "$OUT.tmp/root.ext4" "${size_kib}K"

cat > "$OUT.tmp/image.txt" <<INFO
kernel $pkg ($(dpkg-deb -f "$deb" Version))
modules $(tr '\n' ' ' < "$work/initrd/modules/order")
rootfs $ROOTFS
INFO
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "vm-image: $OUT ($pkg, root $(( size_kib / 1024 )) MiB)"
