#!/usr/bin/env python3
"""Checks that amphi.elf boots on every loader, from what `readelf` and `nm` say of it:
the Xen PV notes and the PVH note with the right values, no multiboot header (QEMU would
prefer it to the PVH note), and load addresses that both loaders agree on."""
import re
import subprocess
import sys

VIRT_BASE = 0xFFFFFFFF80000000
elf = sys.argv[1] if len(sys.argv) > 1 else "build/amphi.elf"
phdrs = subprocess.run(["readelf", "-lW", elf], capture_output=True, text=True, check=True).stdout
syms = dict((name, int(addr, 16)) for addr, _, name in (
    l.split() for l in subprocess.run(["nm", elf], capture_output=True, text=True, check=True).stdout.splitlines()
    if len(l.split()) == 3))

# The raw .note.Xen section (readelf -x), decoded here: readelf -n does not know Xen's note
# types and names some of them after other owners' types, differently across versions.
dump = subprocess.run(["readelf", "-x", ".note.Xen", elf], capture_output=True, text=True, check=True).stdout
raw = b"".join(bytes.fromhex("".join(m.group(1).split()))
               for m in re.finditer(r"^\s+0x[0-9a-f]+ ((?:[0-9a-f]{2,8} ){1,4})", dump, re.M))
xen = {}
off = 0
while off + 12 <= len(raw):
    namesz, descsz, ntype = (int.from_bytes(raw[off + i:off + i + 4], "little") for i in (0, 4, 8))
    name = raw[off + 12:off + 12 + namesz].rstrip(b"\0")
    desc_off = off + 12 + (namesz + 3) // 4 * 4
    if name == b"Xen":
        xen[ntype] = raw[desc_off:desc_off + descsz]
    off = desc_off + (descsz + 3) // 4 * 4


def text(t):
    d = xen.get(t)
    return d.rstrip(b"\0").decode() if d else None


def num(t):
    d = xen.get(t)
    return int.from_bytes(d, "little") if d else None


checks = [
    ("GUEST_OS is Amphi", text(6) == "Amphi"),
    ("GUEST_VERSION is set", bool(text(7))),
    ("XEN_VERSION is xen-3.0", text(5) == "xen-3.0"),
    ("LOADER is generic", text(8) == "generic"),
    ("VIRT_BASE is 0xffffffff80000000", num(3) == VIRT_BASE),
    ("PADDR_OFFSET is 0", num(4) == 0),
    ("ENTRY is xenpv_entry", num(1) == syms.get("xenpv_entry")),
    ("HYPERCALL_PAGE is hypercall_page, page aligned",
     num(2) == syms.get("hypercall_page") and num(2) % 4096 == 0),
    ("FEATURES is !writable_page_tables", text(10) == "!writable_page_tables"),
    ("PAE_MODE is yes", text(9) == "yes"),
    ("MOD_START_PFN is 1", num(16) == 1),
    ("PHYS32_ENTRY is pvh_entry's physical address, 8 bytes (QEMU reads a size_t)",
     num(18) == syms.get("pvh_entry", 0) - VIRT_BASE and len(xen.get(18, b"")) == 8),
]
with open(elf, "rb") as f:
    head = f.read(32768)
checks.append(("no multiboot header in the first 32 KiB",
               b"\x02\xb0\xad\x1b" not in head and b"\xd6\x50\x52\xe8" not in head))
loads = re.findall(r"^\s+LOAD\s+0x[0-9a-f]+ 0x([0-9a-f]+) 0x([0-9a-f]+)", phdrs, re.M)
checks.append(("every PT_LOAD has p_paddr = p_vaddr - VIRT_BASE",
               bool(loads) and all(int(v, 16) - VIRT_BASE == int(p, 16) for v, p in loads)))

failed = [d for d, ok in checks if not ok]
for d in failed:
    print("FAIL %s" % d)
print("ELF notes (%s): %d passed, %d failed" % (elf, len(checks) - len(failed), len(failed)))
sys.exit(1 if failed else 0)
