#!/usr/bin/env python3
"""The host side of the network tests (run inside the test's network namespace).

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


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "udp":
        size = int(sys.argv[5]) if len(sys.argv) > 5 else 200
        return udp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), size)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
