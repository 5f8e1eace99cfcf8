#!/usr/bin/env python3
"""The host side of the network tests (run inside the test's network namespace).

  netclient.py tcp HOST PORT CONNS KIB
      CONNS concurrent connections; each sends a 4-byte id and KIB KiB of pattern(id), then
      receives KIB KiB of pattern(id + 100) and the 8-byte sum of the 64-bit words the guest
      received, and checks both (test=tcp in net/net_selftest.c makes the same patterns).

  netclient.py malformed IFACE GUEST_MAC HOST PORT
      Broken frames on IFACE (a raw socket, which takes no frame shorter than an Ethernet header: IPv4, UDP, TCP and ARP
      headers; bad versions, header and total lengths; bad IP, UDP, TCP and ICMP checksums;
      nonsense), 20 of each kind, between valid UDP datagrams to HOST:PORT that must all
      come back; then "BYE <number of broken frames>".

  netclient.py udp HOST PORT COUNT [SIZE]
      COUNT datagrams of SIZE (200) bytes, each numbered and filled from its number, at
      most 32 outstanding, a lost one sent again after 0.3 s; every echo must come back
      intact. Ends with "BYE". Prints one summary line; exit 0 when all came back.
"""
import hashlib
import socket
import sys
import time


def payload(seq, size):
    head = seq.to_bytes(4, "big")
    body = hashlib.sha256(head).digest() * (size // 32 + 1)
    return head + body[:size - 4]


def udp(host, port, count, size=200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    window, rto = 32, 0.3
    sent_at = {}  # seq -> last send time, while outstanding
    done = set()
    nxt = 0
    resent = bad = dup = 0
    t0 = time.monotonic()
    deadline = t0 + 240
    while len(done) < count and time.monotonic() < deadline:
        while nxt < count and len(sent_at) < window:
            s.sendto(payload(nxt, size), (host, port))
            sent_at[nxt] = time.monotonic()
            nxt += 1
        try:
            data, _ = s.recvfrom(4096)
            seq = int.from_bytes(data[:4], "big") if len(data) >= 4 else -1
            if seq < 0 or seq >= count or data != payload(seq, size):
                bad += 1
            elif seq in done:
                dup += 1
            else:
                done.add(seq)
                sent_at.pop(seq, None)
        except socket.timeout:
            pass
        now = time.monotonic()
        for seq, t in list(sent_at.items()):
            if now - t > rto:
                s.sendto(payload(seq, size), (host, port))
                sent_at[seq] = now
                resent += 1
    for _ in range(3):
        s.sendto(b"BYE", (host, port))
        time.sleep(0.05)
    secs = time.monotonic() - t0
    print("udp: %d of %d datagrams of %d bytes echoed intact, %d sent again, %d bad, "
          "%d duplicate, %.1f s (%.0f/s)" % (len(done), count, size, resent, bad, dup, secs,
                                             len(done) / secs if secs else 0), flush=True)
    return 0 if len(done) == count and not bad else 1


def pattern(cid, nbytes):
    """byte i = (((i & 0xffff) * 7 + cid * 13 + ((i & 0xffff) >> 8)) ^ (i >> 16)) & 255"""
    base = bytes(((j * 7 + cid * 13 + (j >> 8)) & 255) for j in range(65536))
    bint = int.from_bytes(base, "little")
    out = bytearray()
    for k in range(0, (nbytes + 65535) // 65536):
        mask = int.from_bytes(bytes([k & 255]) * 65536, "little")
        out += (bint ^ mask).to_bytes(65536, "little")
    return bytes(out[:nbytes])


def word_sum(data):
    pad = data + bytes(-len(data) % 8)
    return sum(memoryview(pad).cast("Q")) % (1 << 64)


def tcp(host, port, conns, kib):
    import threading
    n = kib * 1024
    results = [None] * conns

    def one(i):
        try:
            s = socket.create_connection((host, port), timeout=120)
            s.settimeout(120)
            out = pattern(i, n)
            s.sendall(i.to_bytes(4, "little") + out)
            want = pattern(i + 100, n)
            got = bytearray()
            while len(got) < n + 8:
                b = s.recv(1 << 20)
                if not b:
                    break
                got += b
            ok_data = bytes(got[:n]) == want
            ok_sum = len(got) >= n + 8 and int.from_bytes(got[n:n + 8], "little") == word_sum(out)
            s.close()
            results[i] = "ok" if ok_data and ok_sum else "data %s, sum %s, %d bytes" % (
                "ok" if ok_data else "WRONG", "ok" if ok_sum else "WRONG", len(got))
        except OSError as e:
            results[i] = "error: %s" % e
    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    good = sum(1 for r in results if r == "ok")
    print("tcp: %d of %d connections moved %d KiB each way intact, %.1f s (%.1f MB/s)%s" % (
        good, conns, kib, secs, 2 * conns * n / secs / 1e6 if secs else 0,
        "" if good == conns else "; " + "; ".join("conn %d: %s" % (i, r) for i, r in
                                                   enumerate(results) if r != "ok")), flush=True)
    return 0 if good == conns else 1


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff


def ip_header(src, dst, proto, payload_len, ihl=5, version=4, total=None, good=True):
    h = bytearray(20)
    h[0] = version << 4 | ihl
    h[2:4] = (total if total is not None else 20 + payload_len).to_bytes(2, "big")
    h[8] = 64
    h[9] = proto
    h[12:16] = src
    h[16:20] = dst
    c = csum(bytes(h))
    h[10:12] = (c if good else c ^ 0x5a5a).to_bytes(2, "big")
    return bytes(h)


def malformed(iface, guest_mac, host, port):
    import random
    rnd = random.Random(7)
    gmac = bytes.fromhex(guest_mac.replace(":", ""))
    with open("/sys/class/net/%s/address" % iface) as f:
        hmac = bytes.fromhex(f.read().strip().replace(":", ""))
    src = socket.inet_aton(socket.gethostbyname(socket.gethostname()) if False else "10.0.9.1")
    dst = socket.inet_aton(host)
    eth = gmac + hmac + b"\x08\x00"
    udp_ok = b"\x30\x39" + port.to_bytes(2, "big")

    def udp_seg(payload, length=None, good=True):
        seg = bytearray(udp_ok + (length or 8 + len(payload)).to_bytes(2, "big") + b"\0\0" + payload)
        pseudo = src + dst + b"\0\x11" + (8 + len(payload)).to_bytes(2, "big")
        c = csum(pseudo + bytes(seg)) or 0xffff
        seg[6:8] = (c if good else c ^ 0x1111).to_bytes(2, "big")
        return bytes(seg)

    def tcp_seg(good=False):
        seg = bytearray(b"\x30\x39\x13\x89" + b"\0\0\0\1" + b"\0\0\0\0" + b"\x50\x02\xff\xff" + b"\0\0\0\0")
        pseudo = src + dst + b"\0\x06" + len(seg).to_bytes(2, "big")
        c = csum(pseudo + bytes(seg))
        seg[16:18] = (c if good else c ^ 0x2222).to_bytes(2, "big")
        return bytes(seg)

    icmp = bytearray(b"\x08\0\0\0\0\1\0\1" + b"ping" * 8)
    icmp[2:4] = (csum(bytes(icmp)) ^ 0x3333).to_bytes(2, "big")
    u = udp_seg(b"bad checksum", good=False)
    t = tcp_seg()
    kinds = {
        "ethernet header only": lambda: eth,
        "ipv4 truncated": lambda: eth + ip_header(src, dst, 17, 0)[:12],
        "ipv4 version 6": lambda: eth + ip_header(src, dst, 17, len(u), version=6) + u,
        "ipv4 ihl 3": lambda: eth + ip_header(src, dst, 17, len(u), ihl=3) + u,
        "ipv4 ihl beyond frame": lambda: eth + ip_header(src, dst, 17, 0, ihl=15),
        "ipv4 total > frame": lambda: eth + ip_header(src, dst, 17, len(u), total=1400) + u,
        "ipv4 total < header": lambda: eth + ip_header(src, dst, 17, len(u), total=12) + u,
        "ipv4 bad checksum": lambda: eth + ip_header(src, dst, 17, len(u), good=False) + u,
        "udp bad checksum": lambda: eth + ip_header(src, dst, 17, len(u)) + u,
        "udp length > ip payload": lambda: eth + ip_header(src, dst, 17, 16) + udp_seg(b"x" * 8, length=400),
        "udp truncated": lambda: eth + ip_header(src, dst, 17, 4) + udp_ok,
        "tcp bad checksum": lambda: eth + ip_header(src, dst, 6, len(t)) + t,
        "tcp truncated": lambda: eth + ip_header(src, dst, 6, 8) + t[:8],
        "icmp bad checksum": lambda: eth + ip_header(src, dst, 1, len(icmp)) + bytes(icmp),
        "arp truncated": lambda: gmac + hmac + b"\x08\x06" + b"\0\1\x08\0\6\4",
        "nonsense ipv4": lambda: eth + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))),
    }
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((iface, 0))
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.settimeout(2)
    sent_bad = echoed = 0
    lost = []
    for rnd_i in range(20):
        for name, make in kinds.items():
            raw.send(make())
            sent_bad += 1
        for k in range(5):  # valid datagrams in between: the guest must still answer
            msg = b"valid %d %d" % (rnd_i, k)
            for attempt in range(3):
                us.sendto(msg, (host, port))
                try:
                    data, _ = us.recvfrom(2048)
                    if data == msg:
                        echoed += 1
                        break
                except socket.timeout:
                    continue
            else:
                lost.append(msg.decode())
    for _ in range(3):
        us.sendto(b"BYE %d" % sent_bad, (host, port))
        time.sleep(0.05)
    print("malformed: %d broken frames of %d kinds sent; %d of 100 valid datagrams echoed%s" % (
        sent_bad, len(kinds), echoed, "; lost: " + ", ".join(lost[:5]) if lost else ""), flush=True)
    return 0 if echoed == 100 else 1


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "malformed":
        return malformed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    if len(sys.argv) == 6 and sys.argv[1] == "tcp":
        return tcp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    if len(sys.argv) >= 5 and sys.argv[1] == "udp":
        size = int(sys.argv[5]) if len(sys.argv) > 5 else 200
        return udp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), size)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
