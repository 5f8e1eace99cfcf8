#!/usr/bin/env python3
"""make soak: UDP, TCP and HTTP traffic at one guest at once for SOAK_S seconds, on each
cell asked for (default qemu-q35 and xen-pv, the nested Xen rig), with the guest's memory
and counters sampled every minute. Not part of make test.

    soak.py [--secs 3600] [--cells qemu-q35,xen-pv]

The guest runs test=soak (net/soak.c): UDP echo on ports 7 and 9, the tcp test's server on
port 5001 and HTTP on port 80, and a "soak: sample" line when it is ready, every 60 s and
at the end. The host's side is `netclient soak` (tools/netclient.c), in the test's network
namespace (QEMU) or in dom0 (Xen): it runs SOAK_S + 15 s, so that the sample at SOAK_S is
still taken under load, then says "SOAK END". Pass criteria, each printed with its figures:

  memory  free memory in the last sample under load (the last one after which the clients'
          traffic still went on) within 1 % of the sample at minute 1 (the warm-up over,
          under load as well): the same phase at both ends. The samples before any traffic
          and after it are printed too, for information.
  errors  no kernel warning or panic on the console; the guest's own verdict (TEST soak
          PASS: no server error, every TCP byte right); netdev rx_bad 0; the clients saw
          no corrupt or missing echo, no wrong TCP byte, no failed connection, no bad HTTP
          answer; the guest ended on the host's word, shut down cleanly and let go of its NIC.
  drops   every datagram the clients never got back is counted as a drop somewhere (the
          guest's counters, or the host's interfaces toward it), and every frame the guest
          dropped on receive shows at the clients (a lost datagram or a TCP segment sent
          again).

Output: per cell a per-minute table and an ASCII plot of free memory (Markdown, to paste
into a note) and the verdicts; build/soak/<cell>.csv (every sample), <cell>.log (the
guest's console and the host's lines) and report.md (what was printed).
"""
import argparse
import csv
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the matrix's cells, QEMU and the Xen rig)

OUT = os.path.join(run.BUILD, "soak")
TAIL = 15  # s the clients run past SOAK_S: the sample at SOAK_S is taken under load
GUEST_SLACK = 120  # s after the clients' end that the guest stops by itself if not told
MEM_MIB = 128  # guest RAM on every cell: 1 % of it is well above what is in flight
SOAK_CELLS = ("qemu-q35", "qemu-microvm", "xen-pv", "xen-pvh")

# What the clients drive (netclient soak): UDP datagrams a second, TCP lanes (each the tcp
# test's connections one after another, 0.5 s apart) of KiB each way, HTTP GETs a second.
# Modest: the rig's dom0 runs under nested TCG, and the cells run side by side on a
# 2-core machine.
LOAD = {"qemu": {"udp": 100, "conns": 2, "kib": 256, "http": 2},
        "xen": {"udp": 20, "conns": 1, "kib": 64, "http": 1}}

# What the kernel prints when something went wrong: a panic, an lwIP assertion, a
# scheduler or netfront watchdog, a device or ring that broke, lost console output, a
# stalled or failed soak connection.
WARNINGS = [r"^PANIC", r"lwip: assertion", r"unexpected interrupt", r"is stuck:",
            r"the backend answered none of", r"the backend lies", r"used ring .*resetting",
            r"ring is broken", r"\[console: \d+ bytes dropped\]", r"delivered twice",
            r"no progress for", r"the link is still down", r"^soak: tcp connection",
            r"^soak: tcp: .* refusing"]

# the guest's drop counters (net/soak.c sample()), by side; other_proto (frames of an
# ethertype the guest does not speak: the host's own IPv6 chatter) is not the clients'
# traffic, and is listed apart
RX_DROPS = ("rx_drop", "bad", "malformed", "chan_drop", "feed_drop", "lwip_drop", "sock_drop")
TX_DROPS = ("tx_refused", "tx_drop", "udp_fail")

out_lock = threading.Lock()


def say(msg):
    with out_lock:
        print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def soak_test(cell, secs):
    load = LOAD[cell.kind]
    return run.Test(
        "soak", "test=soak ip=%s/24 soak_s=%d tcp_kib=%d" % (
            run.GUEST_IP, secs + TAIL + GUEST_SLACK, load["kib"]), None,
        virtio="net", host="soak", rig="soak", mem_mib=MEM_MIB,
        timeout={"qemu": secs + TAIL + GUEST_SLACK + 180, "xen": secs + TAIL + GUEST_SLACK + 180},
        host_args="%d %d %d %d %d" % (secs + TAIL, load["udp"], load["conns"], load["kib"],
                                      load["http"]))


def numbers(text):
    """name=value words -> dict (ints, floats; '?' stays a string)"""
    d = {}
    for k, v in re.findall(r"(\w+)=(\S+)", text):
        try:
            d[k] = int(v)
        except ValueError:
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def parse_sample(line):
    m = re.match(r"^soak: sample (\S+) (.*)$", line)
    if not m:
        return None
    d = numbers(m.group(2))
    d["sample"] = m.group(1)
    return d


def live(cell_name):
    """a line callback that shows each sample as the guest prints it"""
    def show(line):
        s = parse_sample(line)
        if s:
            say("%-9s sample %-5s t=%7.1f s  free %7d KiB  heap %6d KiB  udp %8d  tcp %6d  "
                "http %6d" % (cell_name, s["sample"], s["t"], s["free_kib"], s["heap_kib"],
                              s["udp"], s["tcp_conns"], s["http"]))
        elif line.startswith("soak: "):
            say("%-9s %s" % (cell_name, line))
    return show


# ---------------------------------------------------------------- judging

def drops(s, names):
    return sum(s[k] for k in names)


def loaded_samples(samples):
    """the minute samples after which the clients' traffic still went on (UDP echoes or
    HTTP answers grew before the next sample)"""
    minutes = [s for s in samples if s["sample"].isdigit()]
    final = [s for s in samples if s["sample"] == "final"]
    after = minutes[1:] + final
    return [s for s, n in zip(minutes, after) if n["udp"] + n["http"] > s["udp"] + s["http"]]


def judge_memory(samples):
    """(ok, lines): the warm-up sample against the last one under load"""
    loaded = loaded_samples(samples)
    warm = loaded[0] if loaded and loaded[0]["sample"] == "1" else None
    if not warm or len(loaded) < 2:
        return False, ["memory: FAIL needs minute 1 and at least one later sample under load "
                       "(%d under load: %s; SOAK_S must be 120 or more)" % (
                           len(loaded), ", ".join(s["sample"] for s in loaded) or "none")]
    end = loaded[-1]
    diff = end["free_kib"] - warm["free_kib"]
    limit = warm["free_kib"] / 100
    ok = abs(diff) <= limit
    lines = ["memory: %s free %d KiB at minute 1 (the warm-up over, under load) and %d KiB at "
             "minute %s (the last sample under load): %+d KiB (%+.2f %%), %s 1 %% (%d KiB)" % (
                 "PASS" if ok else "FAIL", warm["free_kib"], end["free_kib"], end["sample"],
                 diff, 100.0 * diff / warm["free_kib"], "within" if ok else "NOT within",
                 limit)]
    ready = next((s for s in samples if s["sample"] == "ready"), None)
    final = next((s for s in samples if s["sample"] == "final"), None)
    info = []
    n = len(loaded)
    if n >= 10:  # (fewer say more about the load's ups and downs than about a trend)
        mt = sum(s["t"] for s in loaded) / n
        mf = sum(s["free_kib"] for s in loaded) / n
        var = sum((s["t"] - mt) ** 2 for s in loaded)
        slope = sum((s["t"] - mt) * (s["free_kib"] - mf) for s in loaded) / var * 3600
        info.append("trend under load %+.0f KiB/h over %d samples" % (slope, n))
    if ready and final:
        info.append("%d KiB when ready (no traffic yet), %d KiB at the end (traffic over): "
                    "%+d KiB; heap %d KiB then, %d KiB at the end" % (
                        ready["free_kib"], final["free_kib"],
                        final["free_kib"] - ready["free_kib"], ready["heap_kib"],
                        final["heap_kib"]))
    if info:
        lines.append("memory (information): " + "; ".join(info))
    if final and "tw_reopened" in final:
        lines.append("tcp (information): %d connection requests reopened a connection the "
                     "guest kept in TIME_WAIT (a client reusing its port)" % final["tw_reopened"])
    return ok, lines


def judge_errors(cell, out, samples, host):
    guest = [l for l in out.lines if not l.startswith(("host: ", "dom0: "))]
    warned = [l for l in guest if any(re.search(w, l) for w in WARNINGS)]
    ok_test, detail = run.test_line(out, "soak")
    final = next((s for s in samples if s["sample"] == "final"), None)
    clean = (r"^xenbus: closed 1 of 1 devices cleanly" if cell.kind == "xen"
             else r"^virtio: 1 device reset")
    problems = [
        "%d kernel warnings (%s)" % (len(warned), warned[0][:120]) if warned else "",
        "" if ok_test else "the guest: " + detail,
        run.expect_exit(out, 0),
        "" if run.find(out.lines, r"^soak: the host said SOAK END") else
        "the guest was not ended by the host",
        "" if run.find(out.lines, clean) else "no clean device shutdown (%s)" % clean[1:],
        "no final sample" if not final else
        "" if final["bad"] == 0 else "netdev rx_bad %d" % final["bad"],
    ]
    if not host:
        problems.append("no summary from the host's client")
    else:
        for key, what in (("udp_bad", "corrupt echoes"), ("udp_unanswered", "datagrams never echoed"),
                          ("tcp_wrong", "TCP connections with wrong data"),
                          ("tcp_err", "TCP connections failed"), ("http_bad", "bad HTTP answers")):
            if host.get(key):
                problems.append("the clients: %d %s" % (host[key], what))
    host_errors = [l.split("soak-host: ", 1)[1] for l in out.lines
                   if re.match(r"^(host|dom0): soak-host: (tcp|http): ", l)]
    if host_errors:
        problems.append("first client errors: " + "; ".join(host_errors[:3]))
    problems = [p for p in problems if p]
    if problems:
        return False, ["errors: FAIL " + "; ".join(problems)]
    return True, ["errors: PASS no kernel warning or panic; the guest: %s; netdev rx_bad 0; the "
                  "clients: %d datagrams echoed intact, %d TCP connections with every byte and "
                  "sum right (%d KiB), %d HTTP answers right, none failed" % (
                      detail, host["udp_back"], host["tcp_ok"], host["tcp_kib"], host["http_ok"])]


def judge_drops(samples, host):
    ready = next((s for s in samples if s["sample"] == "ready"), None)
    final = next((s for s in samples if s["sample"] == "final"), None)
    if not (ready and final and host):
        return False, ["drops: FAIL cannot account: %s" % ", ".join(
            w for w, x in (("no ready sample", ready), ("no final sample", final),
                           ("no client summary", host)) if not x)]
    d = {k: final[k] - ready[k] for k in RX_DROPS + TX_DROPS + ("other_proto",)}
    rx, tx = drops(d, RX_DROPS), drops(d, TX_DROPS)
    link = max(host["link_drop"], 0) + max(host["link_err"], 0)
    lost, retrans = host["udp_lost"], max(host["tcp_retrans"], 0)
    unknown = [k for k in ("link_drop", "tcp_retrans") if host[k] < 0]
    counted_ok = lost <= rx + tx + link
    seen_ok = rx <= lost + retrans
    ok = counted_ok and seen_ok
    ledger = "the guest counted %d on receive (%s) and %d on transmit (%s), and %d frames " \
             "of other protocols apart (not the clients' traffic); the host's interfaces " \
             "toward it %d; the clients: %d transmissions never came back (%d datagrams " \
             "sent again, %d echoes late), %d TCP segments sent again%s" % (
                 rx, ", ".join("%s %d" % (k, d[k]) for k in RX_DROPS), tx,
                 ", ".join("%s %d" % (k, d[k]) for k in TX_DROPS), d["other_proto"], link,
                 lost, host["udp_resent"], host["udp_dup"], retrans,
                 " (unknown: %s)" % ", ".join(unknown) if unknown else "")
    verdicts = ["every loss the clients saw is counted" if counted_ok else
                "%d transmissions lost that no counter explains" % (lost - rx - tx - link),
                "every receive drop showed at the clients" if seen_ok else
                "%d receive drops the clients never saw (neither a lost datagram nor a TCP "
                "segment sent again)" % (rx - lost - retrans)]
    return ok, ["drops: %s %s: %s" % ("PASS" if ok else "FAIL", "; ".join(verdicts), ledger)]


# ---------------------------------------------------------------- output

COLUMNS = [("sample", "sample"), ("t (s)", "t"), ("free KiB", "free_kib"),
           ("vs min 1", None), ("heap KiB", "heap_kib"), ("heap objs", "heap_objs"),
           ("pkts in", "rx"), ("pkts out", "tx"), ("UDP echoed", "udp"),
           ("TCP conns", "tcp_conns"), ("HTTP", "http"), ("drops", None), ("bad", "bad"),
           ("lwIP drops", "lwip_drop"), ("chan drops", "chan_drop")]
PER_INTERVAL = {"rx", "tx", "udp", "tcp_conns", "http"}


def table(samples):
    """Markdown: one row a sample; traffic per interval, drops since ready"""
    warm = next((s for s in samples if s["sample"] == "1"), samples[0])
    ready = samples[0]
    rows, prev = [], None
    for s in samples:
        row = []
        for title, key in COLUMNS:
            if title == "vs min 1":
                row.append("%+d" % (s["free_kib"] - warm["free_kib"]))
            elif title == "drops":
                row.append(str(drops(s, RX_DROPS + TX_DROPS) - drops(ready, RX_DROPS + TX_DROPS)))
            elif key == "t":
                row.append("%.1f" % s["t"])
            elif key in PER_INTERVAL:
                row.append(str(s[key] - prev[key] if prev else 0))
            elif key in ("bad", "lwip_drop", "chan_drop"):
                row.append(str(s[key] - ready[key]))
            else:
                row.append(str(s[key]))
        rows.append(row)
        prev = s
    titles = [t for t, _ in COLUMNS]
    w = [max(len(titles[i]), max(len(r[i]) for r in rows)) for i in range(len(titles))]
    lines = ["| " + " | ".join(t.ljust(w[i]) for i, t in enumerate(titles)) + " |",
             "|" + "|".join("-" * (x + 1) + ":" for x in w) + "|"]
    lines += ["| " + " | ".join(c.rjust(w[i]) for i, c in enumerate(r)) + " |" for r in rows]
    return lines + ["", "(traffic: in the interval before the sample; drops, bad, lwIP and "
                    "channel drops: since ready; vs min 1: free KiB against minute 1)"]


def plot(samples, height=11, width=72):
    """free memory over time in a band of minute 1's figure +/- 1 %, one column a sample
    (several a column when there are more samples than columns: their mean)"""
    warm = next((s for s in samples if s["sample"] == "1"), samples[0])["free_kib"]
    lo, hi = warm * 0.99, warm * 1.01
    n = len(samples)
    cols = min(n, width)
    groups = [samples[j * n // cols:(j + 1) * n // cols] for j in range(cols)]
    vals = [sum(s["free_kib"] for s in g) / len(g) for g in groups]
    grid = [[" "] * cols for _ in range(height)]
    for j, v in enumerate(vals):
        if v > hi:
            grid[0][j] = "^"
        elif v < lo:
            grid[-1][j] = "v"
        else:
            grid[round((hi - v) / (hi - lo) * (height - 1))][j] = "*"
    lines = ["free memory (KiB): minute 1's %d KiB +/- 1 %%; one column %s; ^ v: off the band" % (
        warm, "a sample" if cols == n else "the mean of %.1f samples" % (n / cols))]
    for r in range(height):
        y = hi - r * (hi - lo) / (height - 1)
        lines.append("%9d %+5.1f%% |%s" % (y, 100.0 * (y - warm) / warm, "".join(grid[r])))
    lines.append(" " * 17 + "+" + "-" * cols)
    axis = [" "] * cols
    for j, g in enumerate(groups):
        k = g[0]["sample"]
        mark = "r" if k == "ready" else "f" if k == "final" else k if int(k) % 10 == 0 else ""
        if mark and all(c == " " for c in axis[j:j + len(mark)]) and j + len(mark) <= cols:
            axis[j:j + len(mark)] = list(mark)
    lines.append(" " * 18 + "".join(axis).rstrip() + "   (r: ready, minutes, f: final)")
    return ["```"] + lines + ["```"]


def write_csv(cell, samples):
    keys = [k for k in samples[0] if k != "sample"]
    path = os.path.join(OUT, "%s.csv" % cell.name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell", "sample"] + keys)
        for s in samples:
            w.writerow([cell.name, s["sample"]] + [s.get(k, "") for k in keys])
    return path


def report(cell, secs, out):
    """(ok, lines) for one cell's run"""
    load = LOAD[cell.kind]
    samples = [s for s in map(parse_sample, out.lines) if s]
    m = None
    for line in out.lines:
        m = re.match(r"^(?:host|dom0): soak-host: end (.*)$", line) or m
    host = numbers(m.group(1)) if m else None
    lines = ["## %s: soak of %d s" % (cell.name, secs), "",
             "Guest %d MiB, %d vCPUs, test=soak. Clients (%s): UDP %d datagrams/s to ports 7 "
             "and 9, TCP %d lane%s of %d KiB each way a connection, HTTP %d GETs/s, for %s s "
             "(SOAK_S + %d). Guest: %s." % (
                 MEM_MIB, cell.vcpus, "dom0" if cell.kind == "xen" else "the host, in a "
                 "network namespace", load["udp"], load["conns"], "s" if load["conns"] > 1 else "",
                 load["kib"], load["http"], host["secs"] if host else "?", TAIL, out.how), ""]
    if out.note:
        lines += ["The rig ran it again: %s." % out.note, ""]
    if not samples:
        return False, lines + ["%s: FAIL the guest printed no samples (%s)" % (cell.name, out.how)]
    lines += table(samples) + [""] + plot(samples) + [""]
    verdicts = [judge_memory(samples), judge_errors(cell, out, samples, host),
                judge_drops(samples, host)]
    ok = all(v[0] for v in verdicts)
    if out.note and "nested-virtualization fault" not in out.note:
        ok = False
        lines.append("retried: FAIL the rig retried it after a fault of dom0 (%s)" % out.note)
    for _, v in verdicts:
        lines += v
    lines += ["", "%s: %s  (%s, %s)" % (cell.name, "PASS" if ok else "FAIL",
                                        os.path.relpath(write_csv(cell, samples), run.ROOT),
                                        os.path.relpath(os.path.join(OUT, cell.name + ".log"),
                                                        run.ROOT)), ""]
    return ok, lines


# ---------------------------------------------------------------- running

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secs", type=int, default=3600, help="SOAK_S: the soak's length")
    ap.add_argument("--cells", default="qemu-q35,xen-pv", help="comma list: %s" % ", ".join(SOAK_CELLS))
    a = ap.parse_args()
    names = [c for c in a.cells.split(",") if c]
    bad = [c for c in names if c not in SOAK_CELLS]
    if bad or not names:
        print("soak.py: no soak cell %s (cells: %s)" % (", ".join(bad) or "given", ", ".join(SOAK_CELLS)))
        return 2
    if a.secs < 120:
        print("soak.py: SOAK_S=%d: the memory check needs two samples under load, so 120 s at "
              "least" % a.secs)
        return 2
    for f in (run.KERNEL, run.NETCLIENT):
        if not os.path.exists(f):
            print("soak.py: %s is missing (make soak builds it)" % f)
            return 2
    cells = [c for c in run.CELLS if c.name in names]
    os.makedirs(OUT, exist_ok=True)
    outcomes = {}
    say("soak of %d s on %s (clients for SOAK_S + %d s; a sample a minute; the cells side by "
        "side; results at the end)" % (a.secs, ", ".join(c.name for c in cells), TAIL))

    xen = [(c, soak_test(c, a.secs)) for c in cells if c.kind == "xen"]
    xen_thread = None
    if xen:
        def rig_line(line):
            m = re.match(r"^@@AMPHI-LIVE ([\w-]+)\|(.*)$", line)
            if m:
                live(m.group(1).rsplit("-soak", 1)[0])(m.group(2))

        def xen_side():
            outs, rig_log = run.run_rig(xen, say, on_line=rig_line)
            with open(os.path.join(OUT, "xen-rig.log"), "w") as f:
                f.write(rig_log)
            for c, t in xen:
                outcomes[c.name] = outs[(c.name, t.name)] if outs else run.Outcome(
                    [], None, "the rig did not run: %s" % rig_log.splitlines()[0], True, rig_log)
        xen_thread = threading.Thread(target=xen_side)
        xen_thread.start()
    for c in cells:
        if c.kind == "qemu":
            say("%s: booting the guest" % c.name)
            outcomes[c.name] = run.run_qemu(c, soak_test(c, a.secs), on_line=live(c.name))
    if xen_thread:
        xen_thread.join()

    all_lines, results = [], []
    for c in cells:
        out = outcomes[c.name]
        with open(os.path.join(OUT, c.name + ".log"), "w") as f:
            f.write(out.log)
        ok, lines = report(c, a.secs, out)
        results.append((c.name, ok))
        all_lines += lines
    all_lines.append("soak: %s (%s)" % ("PASS" if all(ok for _, ok in results) else "FAIL",
                                        ", ".join("%s %s" % (n, "PASS" if ok else "FAIL")
                                                  for n, ok in results)))
    with open(os.path.join(OUT, "report.md"), "w") as f:
        f.write("\n".join(all_lines) + "\n")
    with out_lock:
        print()
        print("\n".join(all_lines))
        print("(build/soak/report.md)")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
