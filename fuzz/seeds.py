#!/usr/bin/env python3
"""Writes the seed inputs in fuzz/corpus/NAME/ (fuzz/README.md): for each harness a few
small, well-formed inputs in its input format, so that fuzzing starts past the first
checks. Run it again after changing a harness's input format; the files are checked in."""
import io
import os
import struct
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def put(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for label, data in seeds.items():
        with open(os.path.join(d, label), "wb") as f:
            f.write(data)


def csum(data):
    """the Internet checksum (RFC 1071), as stored"""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def acpi_sum(data):
    return (-sum(data)) & 0xFF


# ---- elf: a static executable whose one segment holds the headers and the code


def elf(pie):
    base = 0 if pie else 0x400000
    phnum = 3 if pie else 1
    code = b"\xeb\xfe"  # jmp .
    phoff, entry_off = 64, 64 + 56 * phnum
    size = entry_off + len(code)
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 3 if pie else 2, 62, 1, base + entry_off, phoff, 0,
                      0, 64, 56, phnum, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    if pie:
        ph += struct.pack("<IIQQQQQQ", 2, 4, 0, base, base, 0, 0, 8)  # PT_DYNAMIC
        ph += struct.pack("<IIQQQQQQ", 6, 4, phoff, phoff, phoff, 56 * phnum, 56 * phnum, 8)
    return eh + ph + code


put("elf", {"static": elf(False), "pie": elf(True), "truncated": elf(False)[:90]})


# ---- tar: ustar, pax and GNU archives made by Python's tarfile


def tar(fmt, files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    data = b.getvalue()
    while data.endswith(bytes(512)):  # tarfile pads to 10 KiB: keep one end marker
        data = data[:-512]
    return data + bytes(1024)


long_name = "d/" + "n" * 120
too_long = "d/" + "n" * 298  # past the 255 bytes a name may have: the walk fails there
put("tar", {
    "ustar": tar(tarfile.USTAR_FORMAT, [("bin", None), ("bin/app", b"hello"), ("./etc/x", b"")]),
    "pax": tar(tarfile.PAX_FORMAT, [(long_name, b"pax")]),
    "gnu": tar(tarfile.GNU_FORMAT, [(long_name, b"gnu")]),
    "pax_too_long": tar(tarfile.PAX_FORMAT, [("a", b"a"), (too_long, b"pax")]),
    "gnu_too_long": tar(tarfile.GNU_FORMAT, [("a", b"a"), (too_long, b"gnu")]),
})

# ---- cmdline: buffer size, key, NUL, command line
put("cmdline", {
    "value": b"\x10mem\0console=hvc0 mem=0x4000000 quiet\tmem=64 -- app arg",
    "flag": b"\x04quiet\0a=1 quiet b=0xFFFFFFFFFFFFFFFF",
    "overflow": b"\x20n\0n=18446744073709551616 --",
})

# ---- acpi: the EBDA at 0x9fc00: RSDP, XSDT, MADT, FADT, DSDT; last byte: how many to keep
EBDA = 0x9FC00


def sdt(sig, body, rev=1):
    h = sig + struct.pack("<IBB", 36 + len(body), rev, 0) + b"AMPHI " + b"FUZZTBL " + \
        struct.pack("<I", 1) + b"AMPH" + struct.pack("<I", 1)
    t = bytearray(h + body)
    t[9] = acpi_sum(t)
    return bytes(t)


def acpi_image():
    img = bytearray(0x400)
    xsdt_at, madt_at, fadt_at, dsdt_at = 0x40, 0x80, 0x140, 0x240
    madt = struct.pack("<II", 0xFEE00000, 1)
    madt += struct.pack("<BBBBI", 0, 8, 0, 0, 1) + struct.pack("<BBBBI", 0, 8, 1, 1, 1)
    madt += struct.pack("<BBBBII", 1, 12, 2, 0, 0xFEC00000, 0)  # I/O APIC
    madt += struct.pack("<BBBBIH", 2, 10, 0, 0, 2, 0)  # IRQ0 -> GSI2
    madt += struct.pack("<BBBBIH", 2, 10, 0, 9, 9, 0xD)  # IRQ9 level, high
    madt += struct.pack("<BBHIII", 9, 16, 0, 7, 1, 0)  # x2APIC
    fadt = bytearray(244 - 36)
    struct.pack_into("<I", fadt, 40 - 36, EBDA + dsdt_at)
    struct.pack_into("<Q", fadt, 140 - 36, EBDA + dsdt_at)
    aml = b"\x5b\x82\x20_SB_VR00\x08_HID\x0dLNRO0005\x00\x08_CRS\x11\x1a\x0a\x17"
    aml += b"\x86\x09\x00\x01" + struct.pack("<II", 0xFEB00000, 0x200)
    aml += b"\x89\x06\x00\x03\x01" + struct.pack("<I", 12) + b"\x79\x00"
    tables = {xsdt_at: sdt(b"XSDT", struct.pack("<QQ", EBDA + madt_at, EBDA + fadt_at)),
              madt_at: sdt(b"APIC", madt, 4), fadt_at: sdt(b"FACP", bytes(fadt), 6),
              dsdt_at: sdt(b"DSDT", aml, 2)}
    for at, t in tables.items():
        img[at:at + len(t)] = t
    rsdp = bytearray(b"RSD PTR " + bytes(1) + b"AMPHI " + bytes([2]) +
                     struct.pack("<IIQ", 0, 36, EBDA + xsdt_at) + bytes(4))
    rsdp[8] = acpi_sum(rsdp[:20])
    rsdp[32] = acpi_sum(rsdp)
    img[0:36] = rsdp
    return bytes(img[:dsdt_at + len(tables[dsdt_at])]) + b"\x04"


madt_raw = sdt(b"APIC", struct.pack("<II", 0xFEE00000, 1) + struct.pack("<BBBBI", 0, 8, 0, 0, 1))
put("acpi", {"ebda": acpi_image(), "madt": madt_raw + b"\x02"})

# ---- memmap: capacity, count, then (base, length, type byte) each
def ranges(cap, rs):
    return bytes([cap, len(rs)]) + b"".join(struct.pack("<QQB", b, l, t) for b, l, t in rs)


put("memmap", {
    "pc": ranges(16, [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2),
                      (0x100000, 0x7F00000, 1), (0x7FE0000, 0x20000, 3)]),
    "overlap": ranges(8, [(0x1000, 0x10000, 1), (0x8000, 0x1000, 4), (0x8000, 0x800, 2),
                          (0xFFFFFFFFFFFFF000, 0x2000, 1)]) + struct.pack("<QQBB", 0x1000, 0x7000, 0, 1),
})

# ---- boot_pvh: the input is memory at 0x1000, the start info first
MEM = 0x1000


def pvh(version, nmods, entries, cmd):
    si_len, cmd_at, mods_at = 56, 0x40, 0x100
    mm_at = mods_at + 32 * nmods
    mem = bytearray(mm_at + 24 * len(entries))
    struct.pack_into("<IIIIQQQQII", mem, 0, 0x336EC578, version, 0, nmods,
                     MEM + mods_at if nmods else 0, MEM + cmd_at, 0xF5A10,
                     MEM + mm_at if entries else 0, len(entries), 0)
    mem[cmd_at:cmd_at + len(cmd) + 1] = cmd + b"\0"
    for i in range(nmods):
        struct.pack_into("<QQQQ", mem, mods_at + 32 * i, 0x800000 + i * 0x1000, 100, 0, 0)
    for i, (b, l, t) in enumerate(entries):
        struct.pack_into("<QQII", mem, mm_at + 24 * i, b, l, t, 0)
    assert si_len <= cmd_at
    return bytes(mem)


put("boot_pvh", {
    "qemu": pvh(1, 0, [(0x100000, 0x7F00000, 1), (0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0, 0, 0)],
                b"console=ttyS0 test=boot"),
    "modules": pvh(1, 2, [(0, 0x8000000, 1)], b"app"),
    "v0": pvh(0, 1, [], b""),
})

# ---- boot_xenpv: start_info's pseudo-physical address, then the structure with its
# virtual addresses as offsets from the domain's base


def xenpv(flags, mod_start, mod_len, cmd):
    si = bytearray(1168)
    si[0:15] = b"xen-3.0-x86_64\0"
    struct.pack_into("<QQ", si, 32, 8192, 0x12345000)
    struct.pack_into("<I", si, 48, flags)
    struct.pack_into("<QI", si, 56, 0x1235, 1)
    struct.pack_into("<QI", si, 72, 0x1234, 2)
    struct.pack_into("<QQQQQ", si, 88, 0x10A000, 4, 0x103000, mod_start, mod_len)
    si[128:128 + len(cmd)] = cmd
    return struct.pack("<Q", 0x105000) + bytes(si[:128 + len(cmd) + 1])


put("boot_xenpv", {
    "domu": xenpv(0, 0, 0, b"test=boot"),
    "dom0_module": xenpv((1 << 1) | (1 << 3), 0x300, 5000, b"console=hvc0"),
    "module_virt": xenpv(0, 0x400000, 1, b""),
})

# ---- xs_msg: response ring (cons, how, distance, bytes), request ring (cons, how,
# distance, length, bytes), the wanted reply type


def xs(rsp, want, cons=0, req=b"", req_used=0):
    return struct.pack("<IBHH", cons, 0, len(rsp), len(rsp)) + rsp + \
        struct.pack("<IBHH", 0, 0, req_used, len(req)) + req + bytes([want])


def msg(t, body):
    return struct.pack("<IIII", t, 7, 0, len(body)) + body


put("xs_msg", {
    "read": xs(msg(2, b"value"), 2, req=msg(2, b"device/vif/0/state\0")),
    "error": xs(msg(16, b"ENOENT\0"), 2),
    "dir_event": xs(msg(1, b"0\x001\x00") + msg(15, b"backend/vif\0tok\0"), 1, req_used=1000,
                    req=b"x" * 40),
})

# ---- frame: Ethernet frames


def ipv4(proto, payload, src=b"\x0a\x00\x02\x02", dst=b"\x0a\x00\x02\x0f", frag=0x4000):
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0,
                              src, dst))
    struct.pack_into("!H", h, 10, csum(bytes(h)))
    return bytes(h) + payload


def eth(type_, payload, dst=b"\x52\x54\x00\x12\x34\x56"):
    return dst + b"\x52\x54\x00\x00\x00\x01" + struct.pack("!H", type_) + payload


def icmp_echo():
    m = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"ping data")
    struct.pack_into("!H", m, 2, csum(bytes(m)))
    return bytes(m)


arp_req = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x52\x54\x00\x00\x00\x01",
                      b"\x0a\x00\x02\x02", bytes(6), b"\x0a\x00\x02\x0f")
udp = struct.pack("!HHHH", 68, 67, 8 + 4, 0) + b"dhcp"
tcp = struct.pack("!HHIIBBHHH", 1234, 80, 1, 0, 5 << 4, 2, 65535, 0, 0)
put("frame", {
    "arp": eth(0x0806, arp_req),
    "icmp": eth(0x0800, ipv4(1, icmp_echo())),
    "udp": eth(0x0800, ipv4(17, udp)) + bytes(10),
    "tcp": eth(0x0800, ipv4(6, tcp)),
})

# ---- inet: our MAC and IP, a selector ('P': parse an address), then the frame or string
ME = b"\x52\x54\x00\x12\x34\x56" + b"\x0a\x00\x02\x0f"
put("inet", {
    "arp": ME + b"F" + eth(0x0806, arp_req, dst=b"\xff" * 6),
    "echo": ME + b"F" + eth(0x0800, ipv4(1, icmp_echo())),
    "ip": ME + b"P" + b"10.0.2.15",
})

# ---- netfront: a script of one-byte operations (see netfront_fuzz.c) and their operands
POST_RX, POST_TX, RX_RSP, TX_RSP, RX_PROD, TX_PROD, TAKE, REAP, MAP, SCRIBBLE = range(10)


def rx_rsp(id_, off, flags, status):
    return bytes([RX_RSP]) + struct.pack("<HHHh", id_, off, flags, status)


def tx_rsp(id_, status):
    return bytes([TX_RSP]) + struct.pack("<Hh", id_, status)


put("netfront", {
    "rx": bytes([POST_RX + 30]) + rx_rsp(255, 0, 0, 60) + rx_rsp(254, 100, 0, 1514) +
    bytes([RX_PROD, TAKE + 30, POST_RX]),
    "tx": bytes([POST_TX + 20]) + tx_rsp(255, 0) + tx_rsp(254, -1) + bytes([TX_PROD, REAP]),
    "mapped": bytes([POST_RX, MAP]) + struct.pack("<HB", 0, 0) + rx_rsp(255, 0, 0, 60) +
    bytes([RX_PROD, TAKE, MAP]) + struct.pack("<HB", 0, 1) + bytes([REAP]),
    "lie": bytes([POST_RX + 10, RX_PROD | 0x80]) + struct.pack("<I", 5) + bytes([TAKE]),
})

# ---- blkfront: a script of operation bytes (low 4 bits: what; high bits: flags or a
# count; see blkfront_fuzz.c) and their operands
(B_SUBMIT, B_RSP, B_PROD, B_TAKE, B_MAP, B_SCRIBBLE, B_RETRY, B_MID, B_PEER,
 B_ANSWER) = range(10)
B_OURS, B_KNOWN = 0x80, 0x40
B_READ, B_WRITE, B_FLUSH = 1, 2, 0


def b_submit(kind, pages=1):
    return bytes([B_SUBMIT, kind + 3 * (pages - 1)])


def b_rsp(slot, status, flags=B_OURS | B_KNOWN, op=0):
    return bytes([B_RSP | flags]) + struct.pack("<QBH", slot, op, status)


def b_answer(n):
    return bytes([B_ANSWER | (n - 1) << 4])


put("blkfront", {
    "honest": b_submit(B_READ, 2) + b_submit(B_WRITE) + b_submit(B_FLUSH) + b_answer(3) +
    bytes([B_TAKE]) + b_submit(B_READ, 11) + b_answer(1) + bytes([B_TAKE]),
    "duplicate": b_submit(B_READ) + b_submit(B_WRITE) + b_rsp(0, 0) + b_rsp(0, 0) +
    bytes([B_PROD, B_TAKE, B_PEER, B_SUBMIT, B_READ]) + b_answer(1) + bytes([B_TAKE]),
    "held": b_submit(B_READ) + bytes([B_MAP | 0x40, 0]) + b_answer(1) +
    bytes([B_TAKE, B_RETRY, B_MAP | 0x80, 0, B_TAKE]),
    "index": b_submit(B_WRITE) + bytes([B_PROD | 0x80]) + struct.pack("<I", 5) +
    bytes([B_TAKE, B_PEER]) + b_submit(B_READ) + b_answer(1) + bytes([B_TAKE]),
    "mid": b_submit(B_READ) + b_submit(B_READ) + b_submit(B_WRITE) + b_answer(1) +
    bytes([B_MID | 0x40 | 0x20]) + struct.pack("<QBH", 1, 0, 0) + bytes([B_PROD, B_TAKE]),
    "queue": b"".join(b_submit(B_WRITE, 11) for _ in range(8)) +
    (b_answer(8) + bytes([B_TAKE])) * 3 + b_rsp(3, 7, flags=B_OURS) + bytes([B_PROD, B_TAKE]),
})

# ---- virtq: configuration (size, indirect, event_idx), then operations
ADD, PUBLISH, USED, IDX, GET, SCRIB, IRQ, DETACH = range(8)


def used(at, id_, len_):
    return bytes([USED]) + struct.pack("<HBBI", at, 0, id_, len_)


put("virtq", {
    "chain": bytes([3, ADD, 3, 1]) + struct.pack("<HHH", 16, 100, 1) + bytes([PUBLISH]) +
    used(0, 0, 101) + bytes([IDX + 8, GET, DETACH]),
    "indirect": bytes([0x40 | 2, ADD | 0x80, 0x80 | 0, 19, 2]) + bytes(40) + bytes([PUBLISH]) +
    used(0, 0, 64) + bytes([IDX + 8, GET + 8]),
    "event_idx": bytes([0x80 | 4, ADD, 0, 0, 8, 0, ADD, 0, 0, 8, 0, PUBLISH, IRQ, IRQ | 0x80]) +
    used(0, 1, 8) + used(1, 1, 8) + bytes([IDX + 16, GET + 8]),
})

# ---- mmio_cmdline: how many to keep, the command line
put("mmio_cmdline", {
    "two": b"\x03console=hvc0 virtio_mmio.device=4K@0xfeb00000:12 "
           b"virtio_mmio.device=0x200@0xfeb01000:13:2",
    "bad": b"\x01virtio_mmio.device=1G@0:300 virtio_mmio.device=512@4096:5",
})

# ---- negotiate: flags (bit 0 modern), wanted, required, offered, then status read-backs
V1 = 1 << 32
put("negotiate", {
    "modern": bytes([1]) + struct.pack("<QQQ", 0x3, 0x1, V1 | 0x5) + bytes([1] * 8),
    "legacy": bytes([0]) + struct.pack("<QQQ", V1 | 0x6, 0, 0x7) + bytes([1] * 8),
    "refused": bytes([1]) + struct.pack("<QQQ", 0x3, 0, V1 | 0x3) + bytes([1, 1, 1, 0x02]),
})

if len(sys.argv) > 1:
    print(sys.argv[0], "takes no arguments")
