#!/usr/bin/env python3
"""make bench: the same static benchmark binaries on Amphi (HP mode and normal mode) and on
a Debian Linux guest, on the same QEMU command line, side by side.

    run.py [--bench a,b] [--cells qemu-q35] [--runs 3] [--smoke] [--nice N]
           [--linux-kernel vmlinux|bzImage] [--list]

Each workload boots each guest --runs times, in turns (Amphi HP, Amphi normal, Linux, then
again), and takes its figure from the app's "bench:" line, or, for "boot", from the time
between QEMU's start and the app's first line. Results: a table per cell on stdout and in
build/bench/results.md (median of the runs, min-max), every run in build/bench/results.json,
and each guest's console in build/bench/logs/. --smoke: tiny counts, one run each, to keep
the harness from rotting (figures meaningless).
"""
import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sampler as profile  # noqa: E402  (bench/sampler.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
OUT = os.path.join(BUILD, "bench")
KERNEL = os.path.join(BUILD, "amphi.elf")
PROFILE = False  # --profile
APPS = os.path.join(BUILD, "apps")
NETCLIENT = os.path.join(BUILD, "netclient")  # tools/netclient.c: the UDP workloads' client
FLOOR = os.path.join(OUT, "floor.elf")  # bench/floor.S: an empty PVH kernel's one line
HERE = os.path.join(ROOT, "bench")
QBOOT = "/usr/share/qemu/qboot.rom"
GUEST_MAC = "52:54:00:12:34:56"
# the network of the workloads with a client: the guest and its peer (on the QEMU cells a
# tap in a namespace of its own, as in the test matrix; on Xen the rig's bridge, dom0 the
# peer), and QEMU's side of the tap
GUEST_IP, PEER_IP = "10.0.9.2", "10.0.9.1"
TAP_NETDEV = "tap,id=n0,ifname=tap0,script=no,downscript=no"
BOOT_LIMIT = 40  # s from QEMU's start to the app's start (Linux: 3-7 s under TCG)
# Amphi under TCG times everything by the TSC, whose rate it measures against 2 ms of the
# PIT or LAPIC timer (hv_kvm/tsc.c); when the host takes the vCPU away meanwhile the rate
# comes out too high and the guest's clock too slow (9 of 48 boots of one loaded run:
# 2.98-19.2 GHz against the host's 2.60): the timings of such a run's app are wrong, so it
# boots again, up to TSC_RETRIES times, then fails (not in a smoke run, whose figures mean
# nothing)
TSC_SLACK = 0.05
TSC_RETRIES = 2


@dataclasses.dataclass
class Cell:
    """Where the guests run. kind "qemu": this host's QEMU with `machine`; other kinds are
    listed so that the tables name them, and skipped until the harness drives them.
    linux_cmdline: more of the Linux guest's command line ({tsc_khz}: the host's TSC
    rate, which TCG's guests see)."""
    name: str
    kind: str
    machine: list = dataclasses.field(default_factory=list)
    nic: str = "virtio-net-pci"
    mem_mib: int = 512
    vcpus: int = 2
    linux_cmdline: str = ""


CELLS = [
    Cell("qemu-q35", "qemu", ["-M", "q35", "-bios", QBOOT, "-accel", "tcg"]),
    # microvm's PIT often fails Linux's TSC calibration under TCG, and with no HPET or PM
    # timer to fall back on Linux then hangs at boot (3 boots of 4 here): it is told the
    # rate instead (Amphi calibrates against the LAPIC timer)
    Cell("qemu-microvm", "qemu", ["-M", "microvm", "-accel", "tcg"], nic="virtio-net-device",
         linux_cmdline="tsc_early_khz={tsc_khz}"),
    # the Xen cells run in the test matrix's rig (Xen 4.17 and a Debian dom0, nested in
    # TCG; test_matrix/README.md), every guest in one rig boot: Amphi as PV or PVH domU,
    # Linux as the same kind of domU with the same kernel and initramfs as on QEMU, both on
    # netback over dom0's bridge. The rig has 1 GiB, dom0 384 MiB of it.
    Cell("xen-pv", "xen", mem_mib=256),
    Cell("xen-pvh", "xen", mem_mib=256),
]


@dataclasses.dataclass
class Metric:
    """One row of a table: `pattern`'s group 1 (times `scale`) on the first line of the run
    that has it (the app's "bench:" lines, the host client's "host:" lines, then the
    guest's console after the app), or the sum over all such lines (total), or "boot":
    QEMU's start to the app's first line. A dict gives a pattern per guest OS ("amphi",
    "linux"). per: a pattern whose group 1 divides the figure (the items of a run).
    lower: smaller is better; None: a row to read, not to rank (no ratio). expect: the
    value a correct run gives (e.g. every connection intact): any other fails the run,
    in make bench-smoke too (speed is never judged, correctness is)."""
    what: str
    pattern: object
    unit: str
    scale: float = 1.0
    lower: object = True
    total: bool = False
    per: str = ""
    only: str = ""  # "amphi": a figure of Amphi's alone (Linux shows "-")
    expect: object = None


# Both guests' counters over the app's run: Amphi's per-CPU "hp: sched cpuN during the
# app" lines (summed), the Linux guest's RES, CAL and TLB lines of /proc/interrupts and
# ctxt of /proc/stat
IPIS = {"amphi": r"^hp: sched cpu\d+ during the app: .*?, (\d+) IPIs sent",
        "linux": r"^bench-init: counters: (\d+) IPIs"}
SWITCHES = {"amphi": r"^hp: sched cpu\d+ during the app: \d+% busy, (\d+) switches",
            "linux": r"^bench-init: counters: .* (\d+) context switches"}
COUNTERS = [Metric("IPIs sent", IPIS, "", total=True),
            Metric("context switches", SWITCHES, "", total=True)]


@dataclasses.dataclass
class Workload:
    """An app from build/apps/ with its arguments (full and smoke) and what to read from a
    run. client: the host side's arguments, run once the app prints `ready`, via a tap or
    QEMU's user network (Net), by kind: "udp": netclient's after "udp GUEST"; "tcp":
    netclient's after "tcp GUEST" (PORT CONNS KIB); "wrk": Debian's wrk, "PORT CONNS SECS
    [close]" (close: a new connection per request). server: the app serves until it is
    stopped, which the runner does once the client is done (its figures are the client's).
    timed: the app times itself by the guest's clock (the others are timed on the host, or
    count). batched: one boot of each guest per run runs every such workload, one program
    after another (Amphi's batch=, the Linux guest's too), each client once its program is
    ready (BatchNet; dom0's `clients`). xen_args: the Xen cells' arguments, where a smaller
    count gives the same figure per operation (their guests are ten to a hundred times
    slower)."""
    name: str
    app: str
    args: str
    smoke_args: str
    metrics: list
    timeout: int = 120
    client: str = ""
    smoke_client: str = ""
    xen_client: str = ""  # the Xen cells' client, when smaller than client (their guests
                          # are ten times slower: make bench's limit per guest holds)
    xen_args: str = ""
    via: str = "tap"
    timed: bool = False
    dhcp: bool = False  # the guest's address by DHCP (QEMU's user network's server)
    kind: str = "udp"
    ready: object = "udp echo ready"  # a line's text, or a tuple of them (any)
    server: bool = False
    # a batch boot ends it with a Ctrl-C once its client is done (a server; udp_echo,
    # which would wait 3 s more for late datagrams)
    ctrl_c: bool = False
    tar: bool = False  # Amphi: the app as /bin/APP in a tar image with /etc/passwd
    special: str = ""  # "size", "ram": not one boot per run (see main)
    # the guests that run it (empty: all); e.g. processes, which HP mode does not have: its
    # column shows "-", and the ratio is Amphi normal's against Linux
    guests: tuple = ()

    def for_guest(self, g):
        return not self.guests or g in self.guests

    def ready_for(self, os_name):
        """the text of the line that says the app is ready, on that guest"""
        return self.ready if isinstance(self.ready, str) else self.ready[os_name == "linux"]

    @property
    def ends_by_ctrl_c(self):
        return self.server or self.ctrl_c

    @property
    def batched(self):
        """every workload but those that need a boot of their own: DHCP, QEMU's user
        network, size and ram (and on QEMU none with --profile: a profile per boot; the
        Xen cells' is the whole rig's anyway)"""
        return not self.special and not self.dhcp and self.via == "tap"

    def runs_on(self, cell):
        """The Xen cells have no DHCP server and no QEMU user network; dom0 runs the
        clients (netclient, and Debian's wrk and memcslap staged into it: dom0_clients)."""
        return cell.kind == "qemu" or (not self.dhcp and self.via == "tap" and
                                       not self.special)


def udp_echo(name, window, count, via="tap", xen_count=0):
    # the app ends 3 s after the last datagram; the client's rate is over its own run
    how = "window %d%s" % (window, ", QEMU's user network" if via == "user" else "")
    return Workload(name, "udp_echo", "7,9 %d" % count, "7,9 200", [
        Metric("UDP echo, 200 B, %s: echoes a second" % how,
               r"^host: udp: .*\(([\d.]+)/s\)", "/s", lower=False),
        Metric("UDP echo, %s: datagrams sent again (replies lost)" % how,
               r"^host: udp: .* (\d+) sent again", ""),
        # (both over the app's run only)
        Metric("UDP echo, %s: NIC interrupts per 1000 packets" % how,
               {"amphi": r"^hp: net during the app: [vx]net0: .* and (\d+) per 1000 packets\)",
                "linux": r"^bench-init: net: .*\((\d+) per 1000 packets\)"}, ""),
    ], client="7,9 %d 240 0 %d" % (count, window), smoke_client="7,9 200 60 0 %d" % window,
        via=via, ctrl_c=True, xen_args="7,9 %d" % xen_count if xen_count else "",
        xen_client="7,9 %d 240 0 %d" % (xen_count, window) if xen_count else "")


def tcp_bulk(name, conns, kib):
    return Workload(name, "tcp_bulk", "5001 %d %d" % (conns, kib), "5001 %d 256" % conns, [
        Metric("TCP bulk, %d connection%s, %d KiB each way: MB/s (both ways)" % (
            conns, "s" if conns > 1 else "", kib), r"^host: tcp: .*\(([\d.]+) MB/s\)", "MB/s",
            lower=False),
        Metric("TCP bulk, %d connection%s: connections intact" % (conns, "s" if conns > 1 else ""),
               r"^host: tcp: (\d+) of", "", lower=None, expect=conns),
    ], client="5001 %d %d" % (conns, kib), smoke_client="5001 %d 256" % conns, kind="tcp",
        ready="tcp bulk ready", timeout=240)


def http(name, app, args, port, close, what):
    how = "a new connection per request" if close else "keep-alive"
    return Workload(name, app, args, args, [
        Metric("HTTP, %s, %s (wrk, 16 connections): requests a second" % (what, how),
               r"^host: Requests/sec:\s+([\d.]+)", "/s", lower=False),
        Metric("HTTP, %s, %s: wrk's errors (socket errors, non-2xx answers)" % (what, how),
               r"^host: wrk: (\d+) errors", ""),
    ], client="%d 16 5%s" % (port, " close" if close else ""),
        smoke_client="%d 2 1%s" % (port, " close" if close else ""), kind="wrk",
        xen_client="%d 16 3%s" % (port, " close" if close else ""),
        ready="http server on", server=True, timeout=120)


WORKLOADS = [
    Workload("boot", "hello", "GREETING=hi a b", "GREETING=hi a b",
             [Metric("QEMU start to the app's first line", "boot", "s"),
              # (Linux booted with `quiet` prints nothing before /init to time from)
              Metric("the kernel's first line to the app's first line", "ready", "ms", 1e3,
                     only="amphi"),
              # what the hypervisor's side takes before any of the guest's code runs
              # (Amphi's banner is its first work): the floor of the first row
              Metric("QEMU start to the kernel's first line", "first", "s", only="amphi")]),
    # the same with the address from QEMU's DHCP server (Amphi: ip=dhcp; Linux: busybox
    # udhcpc in /init), both before the app starts
    Workload("dhcp", "hello", "GREETING=hi a b", "GREETING=hi a b",
             [Metric("QEMU start to the app's first line, address by DHCP", "boot", "s")],
             dhcp=True),
    # (on Xen a call takes 14-35 µs and a cross-CPU round trip 0.5-0.9 ms: fewer of them)
    Workload("syscall", "syscall_bench", "1000000", "20000",
             [Metric("write(/dev/null, 1 byte), per call", r"(\d+) ns each", "ns")],
             timed=True, xen_args="200000"),
    Workload("ctxsw", "ctxsw", "20000", "500",
             [Metric("condvar ping-pong, per round trip", r"(\d+) ns each", "µs", 1e-3)]
             + COUNTERS, timed=True, xen_args="4000"),
    # apps/ipc.c: N items through 2 semaphores (WORK rounds each), then R ping-pongs; its
    # IPIs and switches are counted over both parts, so "per 100 items" is at most that
    Workload("ipc", "ipc", "200000 2000 20000", "2000 20 1000", [
        Metric("producer/consumer, 2 semaphores, whole run",
               r"^bench: ipc: \d+ items in (\d+) ms", "ms"),
        Metric("the producer's work alone, in one thread", r"work alone (\d+) ms", "ms"),
        Metric("whole run over the work alone", r"^bench: ipc: .* ratio ([\d.]+)", ""),
        Metric("producer and consumer on different CPUs, % of samples",
               r"^bench: ipc: producer and consumer on different CPUs in (\d+) of", "%", 100,
               lower=None, per=r"^bench: ipc: producer and .* in \d+ of (\d+) samples"),
        Metric("condvar ping-pong, per round trip", r"ping-pong round trip (\d+) ns", "µs",
               1e-3),
        Metric("ping-pong threads on different CPUs, % of samples",
               r"^bench: ipc: condvar .* different CPUs in (\d+) of", "%", 100, lower=None,
               per=r"^bench: ipc: condvar .* in \d+ of (\d+) samples"),
        Metric("IPIs per 100 items (with the ping-pong's)", IPIS, "", 100, total=True,
               per=r"^bench: ipc: (\d+) items in"),
        Metric("context switches per 100 items (with the ping-pong's)", SWITCHES, "", 100,
               total=True, per=r"^bench: ipc: (\d+) items in"),
    ], timeout=300, timed=True, xen_args="50000 2000 2000"),
    # apps/par.c: WORK rounds in one thread, then in one thread per CPU at once
    Workload("par", "par", "50000000", "200000", [
        Metric("a computation in 1 thread", r"^bench: par: 1 thread (\d+) ms", "ms"),
        Metric("the same work in one thread per CPU at once",
               r"^bench: par: .* \d+ threads (\d+) ms", "ms"),
        Metric("all threads over one (1: in parallel)", r"^bench: par: .* ratio ([\d.]+)", ""),
        Metric("CPUs the threads ran on a quarter in", r"^bench: par: a quarter into .* on (\d+) of", "",
               lower=None),
    ], timed=True),
    # Go's runtime: os.File writes through its poller-less path, 1,000,000 of them
    Workload("gosyscall", "go_devnull", "1000000", "20000",
             [Metric("Go: write(/dev/null, 1 byte), per call", r"(\d+) ns per write", "ns")],
             timed=True, xen_args="50000"),
    # processes (normal mode: HP mode runs one program): apps/procs's loop of fork, execve
    # of itself (found by /proc/self/exe; it exits 0 at once) and waitpid, one child at a time
    Workload("forkexec", "procs", "forkexec 200", "forkexec 5",
             [Metric("fork + execve + waitpid, per child", r"fork\+exec\+wait: (\d+) us each",
                     "ms", 1e-3)],
             timed=True, xen_args="forkexec 40", guests=("amphi-normal", "linux")),
    # the same as a shell runs it: busybox sh's loop of `/bin/busybox true` by its path (a
    # fork and an execve of busybox each; the same busybox-static on both guests)
    Workload("shloop", "procs", "shloop 200 /bin/busybox", "shloop 5 /bin/busybox",
             [Metric("busybox sh loop running /bin/busybox true, per command",
                     r"busybox sh loop: (\d+) us each", "ms", 1e-3)],
             timed=True, xen_args="shloop 40 /bin/busybox", guests=("amphi-normal", "linux"),
             tar=True),
    # apps/pingpong.c: a byte each way through two pipes, both threads on one CPU or apart
    Workload("pipe1", "pingpong", "100000 one", "1000 one",
             [Metric("pipe ping-pong, one CPU, per round trip", r"(\d+) ns per round trip",
                     "µs", 1e-3)] + COUNTERS, timed=True, xen_args="20000 one"),
    Workload("pipe2", "pingpong", "20000 apart", "500 apart",
             [Metric("pipe ping-pong, two CPUs, per round trip", r"(\d+) ns per round trip",
                     "µs", 1e-3)] + COUNTERS, timed=True, xen_args="4000 apart"),
    udp_echo("udp1", 1, 5000, xen_count=2000),
    udp_echo("udp32", 32, 20000, xen_count=8000),
    udp_echo("udp32user", 32, 20000, via="user"),
    tcp_bulk("tcp1", 1, 16384),
    tcp_bulk("tcp10", 10, 2048),
    http("http", "http_hello", "80 0 quiet", 80, True, "apps/http_hello"),
    # (go_http ends after that many requests: never, here)
    http("httpgo", "go_http", "8080 1000000000", 8080, False, "Go's net/http"),
    http("httpgoclose", "go_http", "8080 1000000000", 8080, True, "Go's net/http"),
    # memcached 1.6 (Debian's source, musl-static: tools/memcached.sh) as the matrix runs it,
    # under libmemcached-tools' memcslap: 4 threads of 5,000 keys each: their sets, then
    # their gets
    Workload("memcached", "memcached", "-A -u root -p 11211 -U 11211 -m 64 -t 2",
             "-A -u root -p 11211 -U 11211 -m 64 -t 2", [
                 Metric("memcached, memcslap 4 threads: sets a second", r"^host: set: ([\d.]+)/s",
                        "/s", lower=False),
                 Metric("memcached, memcslap 4 threads: gets a second", r"^host: get: ([\d.]+)/s",
                        "/s", lower=False)],
             client="11211 4 5000", smoke_client="11211 2 500", kind="memcslap",
             # (memcslap from dom0 on xen-pv: 44,000 sets in 84 s, then 76,000 gets in 163 s;
             # 1,000 keys a thread take Amphi's guest about 4 s each way there)
             xen_client="11211 4 500",
             ready=("hp: running /bin/memcached ", "bench-init: running memcached"),
             server=True, tar=True, timeout=240),
    # not a speed: a check that the platform keeps each thread's vector registers across
    # switches (apps/vecregs.c: ymm where the kernel enabled AVX, Linux; xmm on Amphi). Xen's
    # lazy FPU switch under TCG lost a Linux domU's ymm values, and its Go server crashed
    # (test_matrix/README.md, "The rig's Xen"); a lost value fails the run
    Workload("vecregs", "vecregs", "2000 4", "200 4", [
        Metric("rounds in which a thread's vector registers lost their values",
               r"^bench: vecregs: the .* registers: (\d+) of \d+ rounds lost", "",
               lower=None, expect=0)],
             xen_args="500 4"),
    # no boot: the files a VM of each needs (Amphi: amphi.elf and the app; Linux: its
    # kernel and initramfs with the app)
    Workload("size", "udp_echo", "", "", [
        Metric("image: the kernel and the app (and Linux's initramfs)", "size", "MiB",
               1 / 1048576)], special="size"),
    # the smallest -m (of RAM_STEPS) in which the UDP echo still answers every datagram
    Workload("ram", "udp_echo", "7,9 2000", "7,9 200", [
        Metric("the smallest RAM in which the UDP echo serves (of %s MiB)" % "/".join(
            str(m) for m in (8, 12, 16, 24, 32, 48, 64, 96, 128)), "ram", "MiB")],
        client="7,9 2000 60 0 32", smoke_client="7,9 200 60 0 32", special="ram"),
]
RAM_STEPS = [8, 12, 16, 24, 32, 48, 64, 96, 128]

GUESTS = ["amphi-hp", "amphi-normal", "linux"]
GUEST_TITLE = {"amphi-hp": "Amphi HP", "amphi-normal": "Amphi normal", "linux": "Linux"}


# ---------------------------------------------------------------- the Linux guest

def cache_root():
    return os.environ.get("AMPHI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "amphi")


def linux_dir():
    """The Linux guest is cached outside the clone, keyed by its recipe."""
    h = hashlib.sha256()
    for f in ("linux-guest.sh", "linux-init.sh"):
        with open(os.path.join(HERE, f), "rb") as fp:
            h.update(fp.read())
    return os.path.join(cache_root(), "linux-guest-" + h.hexdigest()[:12])


def ensure_linux(say):
    d = linux_dir()
    if all(os.path.exists(os.path.join(d, f)) for f in ("vmlinux", "bzImage", "base.cpio.gz")):
        return d
    say("building the Linux guest into %s (once; about 12 s)" % d)
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(OUT, exist_ok=True)
    log = os.path.join(OUT, "linux-guest-build.log")
    with open(log, "w") as f:
        rc = subprocess.run([os.path.join(HERE, "linux-guest.sh"), tmp], stdout=f,
                            stderr=subprocess.STDOUT).returncode
    if rc:
        with open(log) as f:
            sys.exit("bench: the Linux guest build failed (%s):\n  %s" % (
                log, "\n  ".join(f.read().splitlines()[-10:])))
    os.rename(tmp, d)
    return d


def linux_initrd(base, apps, path=None, batch=""):
    """The cached initramfs with the apps appended as /bench/NAME, and batch as /etc/batch
    (a second cpio archive:
    Linux unpacks them one after the other), at path (default build/bench/), as ONE gzip
    stream: Xen's domain builder unpacks a PV guest's gzip ramdisk itself, into room the
    size the file's last four bytes give (gzip's length of the last stream only), and
    only its first stream, so two streams put end to end lost the apps there once they
    outgrew the base (every Linux guest of make bench-smoke on xen-pv: "no app")."""
    import gzip
    stage = tempfile.mkdtemp(prefix="amphi-bench-")
    os.makedirs(os.path.join(stage, "root", "bench"))
    os.makedirs(os.path.join(stage, "root", "etc"))
    for a in apps:
        shutil.copy(os.path.join(APPS, a), os.path.join(stage, "root", "bench", a))
    for name, data in dict(PASSWD, **({"etc/batch": batch.encode()} if batch else {})).items():
        with open(os.path.join(stage, "root", name), "wb") as f:
            f.write(data)
    overlay = subprocess.run("cd %s/root && find . | cpio -o -H newc --quiet" % stage,
                             shell=True, capture_output=True, check=True).stdout
    path = path or os.path.join(OUT, "linux-initrd.cpio.gz")
    with gzip.open(os.path.join(base, "base.cpio.gz"), "rb") as b:
        whole = b.read() + overlay
    with open(path, "wb") as f:
        f.write(gzip.compress(whole, compresslevel=1))
    shutil.rmtree(stage)
    return path


# ---------------------------------------------------------------- one guest run

class Net:
    """The guest's network. Without a host client: QEMU's user network (the guest
    10.0.2.15). With one (client: the workload's client arguments, the guest's ports first),
    via "tap": a tap device in a network namespace of its own (the guest 10.0.9.2, the host
    10.0.9.1, as in the test matrix), the client in it; via "user" (UDP only): QEMU's user
    network with the guest's ports forwarded from the loopback's, the client on this host.
    The client starts once the app prints `ready`."""

    def __init__(self, client_args, via, kind="udp", ready="udp echo ready", ns=None):
        self.ns, self.thread, self.host_lines, self.client_cmd = None, None, [], None
        self.own_ns = ns is None  # (ns: a BatchNet's, made and removed by it)
        self.ip, self.gw = "10.0.2.15/24", "10.0.2.2"
        self.netdev = "user,id=n0"
        self.kind, self.ready = kind, ready
        if not client_args:
            return
        ports, rest = client_args.split(" ", 1)
        if via == "user":
            fwd = {p: free_udp_port() for p in ports.split(",")}
            self.netdev += "".join(",hostfwd=udp:127.0.0.1:%d-:%s" % (h, p)
                                   for p, h in fwd.items())
            self.client_cmd = [NETCLIENT, "udp", "127.0.0.1",
                               ",".join(str(h) for h in fwd.values())] + rest.split()
            return
        self.ip, self.gw = GUEST_IP + "/24", PEER_IP
        self.netdev = TAP_NETDEV
        self.ns = ns or "amphi-bench-%d" % os.getpid()
        if kind == "memcslap":  # PORT THREADS COUNT: sets, then gets
            w = rest.split()
            self.client_cmd = [self.wrap(
                ["memcslap", "-s", "%s:%s" % (GUEST_IP, ports), "-c", w[0], "-e", w[1], "-t", t])
                for t in ("set", "get")]
            self.port = int(ports)
        elif kind == "wrk":  # PORT CONNS SECS [close]
            w = rest.split()
            self.client_cmd = self.wrap(
                ["wrk", "-t", "2", "-c", w[0], "-d", w[1] + "s", "--timeout", "5s"] +
                (["-H", "Connection: close"] if w[2:] == ["close"] else []) +
                ["http://%s:%s/" % (GUEST_IP, ports)])
        else:
            self.client_cmd = self.wrap([NETCLIENT, kind, GUEST_IP, ports] + rest.split())
        if self.own_ns:
            make_netns(self.ns)

    def wrap(self, cmd):
        return ["ip", "netns", "exec", self.ns] + cmd if self.ns else cmd

    def is_ready(self, line):
        """line says the app is ready for the client"""
        ready = self.ready if isinstance(self.ready, tuple) else (self.ready,)
        return any(r in line for r in ready)

    def on_line(self, line):
        if self.client_cmd and not self.thread and self.is_ready(line):
            self.thread = threading.Thread(target=self.client)
            self.thread.start()

    def done(self):
        """the client has run and ended"""
        return self.thread is not None and not self.thread.is_alive()

    def client(self):
        if self.kind == "memcslap":
            return self.memcslap()
        r = subprocess.run(self.client_cmd, capture_output=True, text=True)
        out = r.stdout.strip() or "%s printed nothing (%s)" % (
            self.client_cmd[-1], r.stderr.strip()[-200:])
        self.host_lines += ["host: " + l.strip() for l in out.splitlines()]
        self.host_lines += client_figures(self.kind, self.host_lines)

    def memcslap(self):
        """memcslap's set run, then its get run ("host: set: N/s": its keys over its
        time), once the server's port answers"""
        ok = False
        for _ in range(150):  # (memcached listens a moment after it starts)
            r = subprocess.run(self.wrap([sys.executable, "-c", "import socket, sys; "
                                          "socket.create_connection(('%s', %d), 1)"
                                          % (GUEST_IP, self.port)]), capture_output=True)
            if r.returncode == 0:
                ok = True
                break
            time.sleep(0.2)
        if not ok:
            self.host_lines.append("host: memcslap: the port never answered")
            return
        for cmd in self.client_cmd:
            test = cmd[-1]
            r = subprocess.run(cmd, capture_output=True, text=True)
            out = (r.stdout + r.stderr).strip()
            lines = ["host: memcslap %s: %s" % (test, l) for l in out.splitlines()]
            self.host_lines += lines + (client_figures("memcslap", lines)
                                        if r.returncode == 0 else [])

    def close(self):
        if self.thread:
            self.thread.join(300)
        if self.ns and self.own_ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def make_netns(ns):
    """the network namespace ns with tap0, the guest's peer (the test matrix's)"""
    try:
        matrix().tap_netns(ns)
    except RuntimeError as e:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        sys.exit("bench: %s (the network workloads need root)" % e)


CTRL_C = b"\x03"


class BatchNet:
    """A batch boot's network (a tap in a namespace, as Net's) and its workloads' clients
    in turn: each starts once its program has started (BATCH_START) and says it is ready;
    once a server's client is done, a Ctrl-C typed into the console ends the server
    (Amphi: SIGINT to the running program; the Linux guest's /init gives each program the
    console as its terminal) and the batch goes on. A program that runs past its workload's
    timeout stops the guest (overdue), rather than the whole batch's limit later."""

    def __init__(self, wls, smoke, os_name):
        self.wls, self.os_name, self.cur, self.proc = wls, os_name, -1, None
        self.deadline, self.overdue = time.monotonic() + BOOT_LIMIT, ""
        self.ns = "amphi-bench-%d" % os.getpid()
        self.ip, self.gw = GUEST_IP + "/24", PEER_IP
        self.netdev = TAP_NETDEV
        make_netns(self.ns)
        self.nets = [Net(wl.smoke_client if smoke else wl.client, wl.via, wl.kind, wl.ready,
                         ns=self.ns) if wl.client else None for wl in wls]

    def wrap(self, cmd):
        return ["ip", "netns", "exec", self.ns] + cmd

    def on_line(self, line):
        if BATCH_START[self.os_name].match(line):
            self.cur += 1
            if self.cur < len(self.wls):
                self.deadline = time.monotonic() + self.wls[self.cur].timeout
        net = self.nets[self.cur] if 0 <= self.cur < len(self.nets) else None
        if net and not net.thread and net.is_ready(line):
            net.thread = threading.Thread(target=self.serve, args=(net, self.wls[self.cur],
                                                                   self.cur))
            net.thread.start()

    def serve(self, net, wl, n):
        net.client()
        # (a server that died meanwhile: the Ctrl-C would end the next program)
        if wl.ends_by_ctrl_c and self.cur == n:
            try:
                self.proc.stdin.write(CTRL_C)
                self.proc.stdin.flush()
            except (OSError, AttributeError):  # (QEMU has ended)
                pass

    def finished(self):
        """(run_guest) true once the program running is overdue"""
        if time.monotonic() > self.deadline and not self.overdue:
            wl = self.wls[self.cur] if 0 <= self.cur < len(self.wls) else None
            self.overdue = "%s did not end within its %d s: QEMU stopped" % (
                wl.name if wl else "the boot", wl.timeout if wl else BOOT_LIMIT)
        return bool(self.overdue)

    def host_lines(self):
        """each workload's client's lines"""
        return [net.host_lines if net else [] for net in self.nets]

    def close(self):
        for net in self.nets:
            if net:
                net.close()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def client_figures(kind, host_lines):
    """What bench reads from a load generator's own output ("host: ..." lines, on QEMU
    or from dom0), as lines of their own: wrk's errors in one number ("host: wrk: N
    errors"), memcslap's keys a second for each of its runs ("host: set: N/s")."""
    text = "\n".join(host_lines)
    if kind == "wrk":
        errs = sum(int(n) for l in host_lines if "Socket errors" in l
                   for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", l))
        errs += sum(int(m.group(1)) for m in re.finditer(r"Non-2xx or 3xx responses: (\d+)",
                                                         text))
        return ["host: wrk: %d errors" % errs]
    out = []
    if kind == "memcslap":  # "Time to set  40000 keys by  4 threads:  1.234 seconds."
        for test in ("set", "get"):
            m = re.search(r"memcslap %s: .*Time to %s\s+(\d+) keys by\s+\d+ threads:\s+"
                          r"([\d.]+) seconds" % (test, test), text)
            if m and float(m.group(2)) > 0:
                out.append("host: %s: %.0f/s" % (test, int(m.group(1)) / float(m.group(2))))
    return out


def dom0_clients(workloads):
    """dom0's /amphi files for the Xen cells' wrk and memcslap workloads: Debian's
    binaries (this machine's, from the packages make bench installs), bench/dom0-client.sh
    that runs them, and the libraries they need, glibc's and its loader too (dom0's
    userland is trimmed: no libm, no libpthread; bench-client runs them through this
    loader, so that no library of dom0's mixes with this machine's)"""
    progs = sorted({"/usr/bin/" + w.kind for w in workloads if w.kind in ("wrk", "memcslap")})
    if not progs:
        return {}
    files = {"bench-client": os.path.join(ROOT, "bench", "dom0-client.sh")}
    for prog in progs:
        files[os.path.basename(prog)] = prog
        out = subprocess.run(["ldd", prog], capture_output=True, text=True, check=True).stdout
        for m in re.finditer(r"^\s*(?:(\S+) => )?(/\S+) \(0x", out, re.M):
            name = m.group(1) or os.path.basename(m.group(2))
            files["lib/" + name] = os.path.realpath(m.group(2))
    return files


def matrix():
    """test_matrix/run.py as a module (its tap namespace), loaded once"""
    if "amphi_matrix" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "amphi_matrix", os.path.join(ROOT, "test_matrix", "run.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules["amphi_matrix"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["amphi_matrix"]


def host_tsc_khz():
    """The host's TSC rate: its cpu MHz, which is the TSC's where the TSC is constant."""
    with open("/proc/cpuinfo") as f:
        info = f.read()
    m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)
    if not m or "constant_tsc" not in info:
        sys.exit("bench: cannot tell the host's TSC rate from /proc/cpuinfo")
    return int(float(m.group(1)) * 1000)


def free_udp_port():
    """A UDP port on the loopback that nothing holds now (QEMU takes it a moment later)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# more of Amphi's command line for every Amphi guest (an experiment's tunables, e.g.
# BENCH_AMPHI_ARGS="net_poll_us=1000"), with a space in front
AMPHI_ARGS = (" " + os.environ["BENCH_AMPHI_ARGS"]) if os.environ.get("BENCH_AMPHI_ARGS") else ""


def qemu_command(cell, net, kernel, initrd, cmdline):
    """The one QEMU command line both guests share; only -kernel, -initrd and -append
    differ."""
    return ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
            "-m", str(cell.mem_mib), "-smp", str(cell.vcpus)] + cell.machine + [
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-serial", "stdio", "-no-reboot",
            "-netdev", net.netdev, "-device", "%s,netdev=n0,mac=%s" % (cell.nic, GUEST_MAC),
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline]


def run_guest(cmd, timeout, nice, on_line, started, finished=None, sampler=None, typed=None):
    """Runs QEMU; returns ([(seconds since QEMU's start, line)], exit status, None on a
    timeout, or "stopped": finished() came true (a server's client is done), and QEMU was
    stopped a second later. A guest whose app has not started (started(line) never true)
    within BOOT_LIMIT s is stopped then: Linux on microvm sometimes hangs at boot
    (PLATFORM.md). typed: a BatchNet, which types into the console (QEMU's stdin)."""
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    lines = []
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.PIPE if typed else subprocess.DEVNULL)
    if typed:
        typed.proc = p
    up = threading.Event()

    def reader():
        for raw in p.stdout:
            line = raw.decode(errors="replace").replace("\r", "").rstrip("\n")
            lines.append((time.monotonic() - t0, line))
            if started(line) and not up.is_set():
                up.set()
                if sampler:
                    sampler.start()
            on_line(line)
    th = threading.Thread(target=reader)
    th.start()
    rc, end = None, None
    while rc is None and time.monotonic() - t0 < (timeout if up.is_set() else BOOT_LIMIT):
        try:
            rc = p.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if finished and finished():
                end = end or time.monotonic()
                if time.monotonic() - end > 1:
                    break
    if rc is None:
        p.kill()
        p.wait()
        if end:
            rc = "stopped"
    th.join(10)
    if sampler:
        sampler.stop()
    return lines, rc


def qemu_floor(cell, runs, nice):
    """QEMU's own start on a cell: the seconds from QEMU's start to bench/floor.S's one
    line, with the cell's machine, memory, vCPUs and NIC (on QEMU's user network) and a
    small module, as (median, min, max) of `runs` boots, or None. Every boot figure of the
    cell stands on it."""
    if not os.path.exists(FLOOR):
        return None
    cmd = qemu_command(cell, Net("", "user"), FLOOR, os.path.join(APPS, "hello"), "")
    times = []
    for _ in range(runs):
        lines, _ = run_guest(cmd, 10, nice, lambda line: None, lambda l: l == "floor")
        times += [t for t, l in lines if l == "floor"][:1]
    return (statistics.median(times), min(times), max(times)) if times else None


# the lines around an app's output: Amphi's loader, and the Linux guest's /init
APP_START = {"amphi": r"^hp: running %s ", "linux": r"^bench-init: running %s\b"}
APP_END = {"amphi": r"^hp: %s exited with status (\d+)",
           "linux": r"^bench-init: %s exited with status (\d+)"}
KERNEL_LINE = re.compile(r"^(hp|net|virtio|sched|devices|interrupts|smp|blk): |^(vnet|xnet|vblk)\d+: "
                         r"|^\[ *\d+\.\d+\] ")


def app_lines(lines, os_name, app):
    """[(t, line)] the app printed, its exit status (None: it never ended), and the index
    in lines of the app's end (or of the last line)."""
    out, inside = [], False
    for i, (t, line) in enumerate(lines):
        if re.match(APP_START[os_name] % re.escape(app), line):
            inside = True
            continue
        m = re.match(APP_END[os_name] % re.escape(app), line)
        if inside and m:
            return out, int(m.group(1)), i
        if inside and not KERNEL_LINE.match(line):
            out.append((t, line))
    return out, None, len(lines) - 1


TSC_ERROR = "Amphi's TSC rate"


def tsc_error(lines):
    """Why Amphi's clock cannot be trusted (its TSC rate against the host's), or ""."""
    for _, line in lines:
        m = re.search(r"the TSC, (\d+) kHz by (.*)$", line)
        if m and abs(int(m.group(1)) / host_tsc_khz() - 1) > TSC_SLACK:
            return TSC_ERROR + ", %s kHz by %s, is not the host's %d kHz: its clock is " \
                "off" % (m.group(1), m.group(2), host_tsc_khz())
    return ""


def guest_app(wl, os_name):
    """the app's name in the guest: /bin/APP in Amphi's tar image (Workload.tar)"""
    return "/bin/" + wl.app if wl.tar and os_name == "amphi" else wl.app


PASSWD = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
          "etc/group": b"root:x:0:\n"}  # (memcached -u root: musl's getpwnam reads them)


def bench_tar(app, args=""):
    """build/bench/APP.tar: bin/APP, every program of build/apps that args runs as /bin/NAME
    (shloop's busybox), and /etc/passwd: Amphi's image for a Workload.tar"""
    import io
    import tarfile
    progs = [app] + [p for p in matrix().named_apps(args) if p != app]
    path = os.path.join(OUT, "-".join(progs) + ".tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for d in ("bin", "etc"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        for p in progs:
            t.add(os.path.join(APPS, p), "bin/" + p)
        for name, data in PASSWD.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
    return path


def app_words(wl, smoke, os_name="amphi", xen=False):
    args = wl.smoke_args if smoke else wl.xen_args if xen and wl.xen_args else wl.args
    name = guest_app(wl, os_name)
    return args, ("app=%s -- %s" % (name, args) if args else "app=" + name)


# ---------------------------------------------------------------- batches

def batch_text(wls, smoke, xen):
    """The batch file (Amphi's batch=, and the Linux guest's /init reads the same): a
    line per workload, /bin/APP and its words"""
    return "# make bench's batch: one boot runs them all, one after another\n" + "".join(
        "/bin/%s %s\n" % (wl.app, app_words(wl, smoke, xen=xen)[0]) for wl in wls)


BATCH_START = {"amphi": re.compile(r"^hp: running /bin/\S+ \("),
               "linux": re.compile(r"^bench-init: running \S+")}


def batch_results(wls, os_name, lines, smoke, rc, boot_log, log_name, xen, host, boots=None,
                  first=None):
    """Each workload's result of one boot that ran them all in turn: its program's part
    of the console (the lines before the first program's start, its banner, come with
    each) and its client's lines (host: a list per workload), judged as one boot of its own
    would be. boots: per workload, when dom0 saw it start after `xl create` (Xen); first:
    when dom0 saw the guest's first console output (Xen)."""
    starts = [i for i, (_, l) in enumerate(lines) if BATCH_START[os_name].match(l)]
    prefix = lines[:starts[0]] if starts else lines
    out = []
    for n, wl in enumerate(wls):
        part = lines[starts[n]:starts[n + 1] if n + 1 < len(starts) else len(lines)] \
            if n < len(starts) else []
        args, _ = app_words(wl, smoke, xen=xen)
        res = {"args": args, "values": [None] * len(wl.metrics), "error": "", "status": None,
               "qemu_status": rc, "log": "[%s: one boot ran the batch; its console: %s]\n%s"
               % (wl.name, log_name, "\n".join(l for _, l in part)) + "\n",
               "secs": round(part[-1][0] - part[0][0], 2) if part and part[0][0] is not None
               else 0}
        if boots and boots[n] is not None:
            res["boot"] = boots[n]
        if first is not None:
            res["first"] = first
        if not part:
            res["error"] = "the batch ended before it started (%s)" % (boot_log or
                                                                       "status %s" % rc)
            out.append(res)
            continue
        as_tar = dataclasses.replace(wl, tar=True) if os_name == "amphi" else wl
        res = judge(as_tar, os_name, prefix + part, host[n], smoke, res)
        if not res["error"] and res["status"] is None:
            res["error"] = "it did not end (%s)" % (boot_log or "status %s" % rc)
        out.append(res)
    return out


def linux_cmdline(cell, net, words):
    """The Linux guest's command line on QEMU: its console, the cell's words, the
    address /init sets, then words (app= or batch=)"""
    return " ".join(x for x in (
        "console=ttyS0 quiet panic=-1", cell.linux_cmdline.format(tsc_khz=host_tsc_khz()),
        "bench_ip=%s bench_gw=%s %s" % (net.ip, net.gw, words)) if x)


def measure(cell, wl, guest, smoke, linux, nice):
    """One boot on QEMU: {"values": [a figure or None per metric], "error": why not, "log":
    ...}. linux: the Linux guest's "kernel" and "initrd"."""
    os_name = "linux" if guest == "linux" else "amphi"
    args, words = app_words(wl, smoke, os_name)
    net = Net(wl.smoke_client if smoke else wl.client, wl.via, wl.kind, wl.ready)
    if wl.dhcp:
        net.ip = "dhcp"
    if os_name == "linux":
        cmd = qemu_command(cell, net, linux["kernel"], linux["initrd"],
                           linux_cmdline(cell, net, words))
    else:
        cmdline = "ip=%s %s%s%s%s" % (net.ip, "" if wl.dhcp else "gw=%s " % net.gw,
                                      "mode=normal " if guest == "amphi-normal" else "", words,
                                      AMPHI_ARGS)
        cmd = qemu_command(cell, net, KERNEL, bench_tar(wl.app, args) if wl.tar else
                           os.path.join(APPS, wl.app), cmdline)
    sampler = None
    if PROFILE:
        sock = os.path.join(OUT, "gdb-%d.sock" % os.getpid())
        cmd += ["-chardev", "socket,id=gdb0,path=%s,server=on,wait=off" % sock,
                "-gdb", "chardev:gdb0"]
        sampler = profile.Sampler(sock)
    try:
        start = re.compile(APP_START[os_name] % re.escape(guest_app(wl, os_name)))
        lines, rc = run_guest(net.wrap(cmd), wl.timeout, nice, net.on_line, start.match,
                              net.done if wl.server else None, sampler)
    finally:
        net.close()
    log = "$ %s\n%s\n%s\n[qemu status %s]\n" % (
        " ".join(cmd), "\n".join("%8.3f %s" % (t, l) for t, l in lines),
        "\n".join(net.host_lines), rc)
    res = {"args": args, "values": [None] * len(wl.metrics), "error": "", "log": log,
           "status": None, "qemu_status": rc, "secs": round(lines[-1][0], 2) if lines else 0}
    if sampler:
        res["profile"] = profile.report(sampler, [KERNEL, os.path.join(APPS, wl.app)]
                                        if os_name == "amphi" else [])
    if rc is None and not any(start.match(l) for _, l in lines):
        res["error"] = "the app did not start within %d s" % BOOT_LIMIT
    elif rc is None:
        res["error"] = "no exit within %d s" % wl.timeout
    return judge(wl, os_name, lines, net.host_lines, smoke, res)


def measure_batch(cell, wls, guest, smoke, linux, nice, logs, k):
    """One boot on QEMU that runs every workload of wls in turn (batch_text): a result per
    workload, as measure's; the whole console in logs/CELL-batch-GUEST-N.log."""
    os_name = "linux" if guest == "linux" else "amphi"
    net = BatchNet(wls, smoke, os_name)
    if os_name == "linux":
        cmd = qemu_command(cell, net, linux["kernel"], linux["initrd"],
                           linux_cmdline(cell, net, "batch=/etc/batch"))
    else:
        cmdline = "ip=%s gw=%s %sbatch=/etc/batch%s" % (
            net.ip, net.gw, "mode=normal " if guest == "amphi-normal" else "", AMPHI_ARGS)
        cmd = qemu_command(cell, net, KERNEL, matrix().batch_tar(batch_text(wls, smoke, False)),
                           cmdline)
    try:
        lines, rc = run_guest(net.wrap(cmd), sum(wl.timeout for wl in wls), nice, net.on_line,
                              BATCH_START[os_name].match, net.finished, typed=net)
    finally:
        net.close()
    host = net.host_lines()
    name = "%s-batch-%s-%d.log" % (cell.name, guest, k + 1)
    with open(os.path.join(logs, name), "w") as f:
        f.write("$ %s\n%s\n%s\n[qemu status %s]\n" % (" ".join(cmd), "\n".join(
            "%8.3f %s" % (t, l) for t, l in lines), "\n".join(sum(host, [])), rc))
    why = net.overdue or ("" if rc is not None else
                          "no end within %d s" % sum(wl.timeout for wl in wls))
    return batch_results(wls, os_name, lines, smoke, rc, why, name, False, host)


def judge(wl, os_name, lines, host_lines, smoke, res):
    """Reads a run's figures into res["values"] (or says in res["error"] why not). lines:
    [(seconds since the start or None, line)] of the guest's console; host_lines: the
    client's lines, "host: ..."."""
    out, status, end = app_lines(lines, os_name, guest_app(wl, os_name))
    res["status"] = status
    if res["error"]:
        return res
    if not out and not wl.server:
        res["error"] = "the app printed nothing"
    elif wl.server and (status == 130 or status is None and res.get("qemu_status") == "stopped"):
        pass  # (ended by a Ctrl-C, SIGINT, or stopped, once its client was done)
    elif status not in (0, 3):  # (hello ends with 3)
        res["error"] = "the app ended with status %s" % status
    elif os_name == "amphi" and wl.timed and not smoke and out[0][0] is not None:
        res["error"] = tsc_error(lines)  # (QEMU: Amphi on Xen has Xen's pvclock)
    if res["error"]:
        return res
    after = [l for _, l in lines[end:]]
    found = [l for _, l in out if l.startswith("bench:")] + host_lines + after
    for i, m in enumerate(wl.metrics):
        if m.only and m.only != os_name:
            continue
        if m.pattern == "boot":
            res["values"][i] = res.get("boot", out[0][0])
            continue
        if m.pattern in ("ready", "first"):  # from Amphi's banner
            first = [t for t, l in lines if l.startswith("Amphi ")]
            if out[0][0] is None:
                # (no times on Xen's console: the kernel's own clock at the app's start,
                # and when dom0 saw the guest's first output)
                up = [h for h in (re.match(r"^hp: running .*, up (\d+) ms;", l)
                                  for _, l in lines) if h]
                if m.pattern == "ready" and up:
                    res["values"][i] = float(up[0].group(1)) / 1e3 * m.scale
                elif m.pattern == "first" and res.get("first") is not None:
                    res["values"][i] = res["first"] * m.scale
            elif first:
                res["values"][i] = (out[0][0] - first[0] if m.pattern == "ready"
                                    else first[0]) * m.scale
            else:
                res["error"] = "no banner line"
            continue
        pat = m.pattern[os_name] if isinstance(m.pattern, dict) else m.pattern
        hits = [h for h in (re.search(pat, l) for l in found) if h]
        per = [h for h in (re.search(m.per, l) for l in found) if h] if m.per else []
        if not hits or (m.per and not per):
            res["error"] = "no line matches %r" % (pat if not hits else m.per)
        elif not m.per or float(per[0].group(1)):
            res["values"][i] = sum(float(h.group(1)) for h in hits[:None if m.total else 1]) \
                * m.scale / (float(per[0].group(1)) if m.per else 1)
        if m.expect is not None and res["values"][i] is not None and \
                res["values"][i] != m.expect:
            res["error"] = res["error"] or "%s: %s, not %s" % (
                m.what, fmt(res["values"][i]), fmt(m.expect))
    return res


def special(wl, cell, guest, smoke, linux, linux_dir_, nice, say):
    """The workloads that are not one boot per run. size: the bytes of what a VM of each
    needs (Amphi: amphi.elf and the app, as QEMU's -kernel and -initrd; Linux: Debian's
    bzImage and the initramfs with the app, gzipped). ram: the smallest of RAM_STEPS MiB in
    which the UDP echo answers every datagram (a binary search: a few boots a guest)."""
    res = {"args": "", "values": [None], "error": "", "status": 0, "secs": 0, "log": ""}
    if wl.special == "size":
        if guest == "linux":
            tmp = os.path.join(OUT, "size-initrd.cpio.gz")
            linux_initrd(linux_dir_, [wl.app], tmp)
            parts = [os.path.join(linux_dir_, "bzImage"), tmp]
        else:
            parts = [KERNEL, os.path.join(APPS, wl.app)]
        res["values"][0] = sum(os.path.getsize(p) for p in parts) * wl.metrics[0].scale
        res["log"] = "".join("%s: %d bytes\n" % (p, os.path.getsize(p)) for p in parts)
        return res
    t0 = time.monotonic()
    steps = RAM_STEPS if not smoke else RAM_STEPS[-3:]
    lo, hi, best = 0, len(steps) - 1, None  # (serving is assumed to hold from some size up)
    while lo <= hi:
        mid = (lo + hi) // 2
        r = measure(dataclasses.replace(cell, mem_mib=steps[mid]), dataclasses.replace(
            wl, metrics=[]), guest, smoke, linux, nice)
        m = [re.search(r"^host: udp: (\d+) of (\d+) datagrams", l) for l in r["log"].splitlines()]
        m = [x for x in m if x]
        ok = not r["error"] and m and m[0].group(1) == m[0].group(2)
        res["log"] += "=== -m %d: %s\n%s" % (steps[mid], "serves" if ok else "does not serve (%s)"
                                             % (r["error"] or "datagrams lost"), r["log"])
        say("%-32s -m %d: %s" % ("%s-%s-%s" % (cell.name, wl.name, guest), steps[mid],
                                 "serves" if ok else "does not serve"))
        if ok:
            best, hi = steps[mid], mid - 1
        else:
            lo = mid + 1
    res["values"][0] = best
    res["secs"] = round(time.monotonic() - t0, 1)
    if best is None:
        res["error"] = "no size up to %d MiB served" % steps[-1]
    return res


# ---------------------------------------------------------------- the Xen cells

XEN_READY = {"amphi": "hp: running %s ", "linux": "bench-init: running %s"}
XEN_END = {"amphi": "hp: %s exited with status ", "linux": "bench-init: %s exited with status "}
XEN_BATCH_END = {"amphi": "hp: batch=/etc/batch: ", "linux": "bench-init: batch /etc/batch done"}
BOOT_WAIT = 120  # s from `xl create` to a batch's first program (the Linux domU: 13-15 s)


def xen_client_args(wl, client):
    """netclient's or bench-client's words for a workload's client against the guest"""
    ports, rest = client.split(" ", 1)
    return "%s %s %s %s" % (wl.kind, GUEST_IP, ports, rest)


def xen_clients(wls, smoke, os_name):
    """The rig's `clients` file for a batch boot: a line per workload, the console text
    dom0 waits for (its program's ready line, or its start), how long it may take (the
    program before's limit: one that hangs ends the guest), netclient's or bench-client's
    arguments (none: only the time it came after `xl create`), and for a server, which a
    Ctrl-C ends once its client is done, the start of the line its end prints (no Ctrl-C
    once it shows: it would end the next program); "|" between them; then the batch's
    last line"""
    lines, secs = [], BOOT_WAIT
    for wl in wls:
        name = guest_app(dataclasses.replace(wl, tar=True), os_name)
        text = XEN_READY[os_name] % name
        client = wl.smoke_client if smoke else wl.xen_client or wl.client
        args = ""
        if client:
            text = wl.ready_for(os_name)
            args = xen_client_args(wl, client)
        end = XEN_END[os_name] % name if wl.ends_by_ctrl_c else ""
        lines.append("%s|%d|%s|%s" % (text, secs, args, end))
        secs = wl.timeout
    # the batch's last line, after the last program's end
    lines.append("%s|%d||" % (XEN_BATCH_END[os_name], secs))
    return "\n".join(lines)


def xen_jobs(cells, workloads, runs, smoke):
    """[(matrix cell, matrix Test, (cell, workload, guest, run index))] for the rig: every
    guest of every workload, in turns as on QEMU. Each has a vif on dom0's bridge (as each
    QEMU guest has its NIC) and the rig's `client` option: dom0 times the app's start from
    `xl create` and runs the workload's client."""
    mx = matrix()
    xcells = {c.name: c for c in mx.CELLS}
    jobs = []
    for cell in cells:
        # the batched workloads: one guest a run, with a vif; dom0 runs their clients in
        # turn (the rig's `clients`)
        all_batched = [wl for wl in workloads if wl.batched and wl.runs_on(cell)]
        for k in range(runs if all_batched else 0):
            for g in GUESTS:
                batch = [wl for wl in all_batched if wl.for_guest(g)]
                if not batch:
                    continue
                name, limit = "b-batch-%s-%d" % (g, k + 1), sum(wl.timeout for wl in batch)
                os_name = "linux" if g == "linux" else "amphi"
                clients = xen_clients(batch, smoke, os_name)
                if g == "linux":
                    t = mx.Test(name, "console=hvc0 quiet panic=-1 bench_ip=%s/24 bench_gw=%s "
                                "batch=/etc/batch" % (GUEST_IP, PEER_IP), None, rig="clients",
                                host_args=clients, mem_mib=cell.mem_mib,
                                timeout={"xen": limit + 120},
                                xl_kernel="linux-kernel", xl_ramdisk="linux-initrd")
                else:
                    t = mx.Test(name, "ip=%s/24 gw=%s%s" % (GUEST_IP, PEER_IP, AMPHI_ARGS), None,
                                rig="clients",
                                host_args=clients, mem_mib=cell.mem_mib,
                                timeout={"xen": limit + 30}, app=batch[0].app,
                                batch=batch_text(batch, smoke, True), tar="module",
                                mode="normal" if g == "amphi-normal" else "hp")
                jobs.append((xcells[cell.name], t, (cell, batch, g, k)))
        for wl in workloads:
            if not wl.runs_on(cell) or wl in all_batched:
                continue
            client = wl.smoke_client if smoke else wl.xen_client or wl.client
            for k in range(runs):
                for g in filter(wl.for_guest, GUESTS):
                    os_name = "linux" if g == "linux" else "amphi"
                    args, words = app_words(wl, smoke, os_name, xen=True)
                    name = "b-%s-%s-%d" % (wl.name, g, k + 1)
                    ready = XEN_READY[os_name] % wl.app
                    if client:
                        ready_args = "%s\n%s" % (wl.ready_for(os_name),
                                                  xen_client_args(wl, client))
                    else:
                        ready_args = ready + "\n"
                    rig = "client,endafter" if wl.server else "client"
                    limit = wl.timeout + (120 if os_name == "linux" else 30)
                    if os_name == "linux":
                        t = mx.Test(name, "console=hvc0 quiet panic=-1 bench_ip=%s/24 "
                                    "bench_gw=%s %s" % (GUEST_IP, PEER_IP, words), None,
                                    rig=rig, host_args=ready_args, mem_mib=cell.mem_mib,
                                    timeout={"xen": limit}, xl_kernel="linux-kernel",
                                    xl_ramdisk="linux-initrd")
                    else:
                        t = mx.Test(name, "ip=%s/24 gw=%s" % (GUEST_IP, PEER_IP), None,
                                    rig=rig, host_args=ready_args, mem_mib=cell.mem_mib,
                                    timeout={"xen": limit}, app=wl.app, app_args=args,
                                    tar="module" if wl.tar else "",
                                    mode="normal" if g == "amphi-normal" else "hp")
                    jobs.append((xcells[cell.name], t, (cell, wl, g, k)))
    return jobs


def run_xen(cells, workloads, runs, smoke, linux, say, logs):
    """Runs every Xen guest in one rig boot; yields (cell, workload, guest, run index, res)."""
    jobs = xen_jobs(cells, workloads, runs, smoke)
    if not jobs:
        return
    mx = matrix()
    # (a guest of its own: 8 s for Amphi, 20 for Linux; a batch boot's program: 4 s and
    # 5 (xen-pv's 17 programs: Amphi 54-78 s a batch, Linux 75-93), about a quarter of
    # that with --smoke)
    secs = sum((len(wl) * (5 if g == "linux" else 4) // (4 if smoke else 1))
               if isinstance(wl, list) else 20 if g == "linux" else 8
               for _, _, (_, wl, g, _) in jobs)
    say("xen: %d guests in one rig boot (Xen and dom0 under TCG; about %d minutes)" % (
        len(jobs), 2 + secs // 60))
    done = []

    def progress(line):  # one line per guest as the rig ends it (the figures come at the end)
        m = re.match(r"^@@AMPHI-JOB (\S+) END reason=(\S+) secs=(\S+)", line)
        if m:
            done.append(m.group(1))
            say("xen: %d/%d %s: %s after %s s" % (len(done), len(jobs), m.group(1),
                                                  m.group(2), m.group(3)))
    # every workload the rig runs (a batch job holds a list of them)
    wls = [w for _, _, (_, wl, _, _) in jobs for w in (wl if isinstance(wl, list) else [wl])]
    files = {"linux-kernel": linux["xen_kernel"], "linux-initrd": linux["xen_initrd"]}
    files.update(dom0_clients(wls))
    qemu_args, sampler = [], None
    if PROFILE:  # the rig's QEMU sampled whole: every guest's, Xen's and dom0's time
        sock = os.path.join(OUT, "gdb-rig-%d.sock" % os.getpid())
        qemu_args = ["-chardev", "socket,id=gdb0,path=%s,server=on,wait=off" % sock,
                     "-gdb", "chardev:gdb0"]
        sampler = profile.Sampler(sock, hz=100, wait=600)
        sampler.start()
    try:
        outcomes, rig_log = mx.run_rig([(c, t) for c, t, _ in jobs], say, on_line=progress,
                                       files=files, qemu_args=qemu_args)
    finally:
        if sampler:
            sampler.stop()
    with open(os.path.join(logs, "xen-rig.log"), "w") as f:
        f.write(rig_log)
    if sampler:
        with open(os.path.join(logs, "xen-rig.profile"), "w") as f:
            f.write(profile.report_rig(sampler, [KERNEL] + sorted(
                {os.path.join(APPS, w.app) for w in wls})))
    for xc, t, (cell, wl, g, k) in jobs:
        os_name = "linux" if g == "linux" else "amphi"
        o = (outcomes or {}).get((xc.name, t.name))
        if isinstance(wl, list):  # a batch: a result per workload
            name = "%s-batch-%s-%d.log" % (cell.name, g, k + 1)
            with open(os.path.join(logs, name), "w") as f:
                f.write(o.log if o else "[no outcome: %s]\n" % rig_log[-300:])
            why = ("the rig did not run it" if not o else
                   "no end within the job's limit (%s)" % o.how if o.timed_out else "")
            lines = [(None, l) for l in (o.lines if o else []) if not l.startswith("dom0: ")]
            # dom0's lines per workload: from its "clients: N:" line to the next one's
            host, boots, n, first = [[] for _ in wl], [None] * len(wl), -1, None
            for line in (o.lines if o else []):
                m = re.match(r"^dom0: clients: (\d+): '.*' ([\d.]+) s after xl create$", line)
                f = re.match(r"^dom0: console: first output ([\d.]+) s after xl create$", line)
                if f:
                    first = float(f.group(1))
                elif m and int(m.group(1)) <= len(wl):
                    n = int(m.group(1)) - 1
                    boots[n] = float(m.group(2))
                elif line.startswith("dom0: ") and n >= 0:
                    host[n].append("host: " + line[6:])
            for h, w in zip(host, wl):
                h += client_figures(w.kind, h)
            for w, res in zip(wl, batch_results(wl, os_name, lines, smoke,
                                                o.code if o else None, why, name, True, host,
                                                boots, first)):
                yield cell, w, g, k, res
            continue
        args, _ = app_words(wl, smoke, xen=True)
        res = {"args": args, "values": [None] * len(wl.metrics), "error": "", "status": None,
               "secs": 0, "log": o.log if o else "[no outcome: %s]\n" % rig_log[-300:]}
        lines, host = [], []
        if not o:
            res["error"] = "the rig did not run it: %s" % (rig_log if not outcomes else "")[-200:]
        else:
            for line in o.lines:
                if line.startswith("dom0: "):
                    m = re.match(r"^dom0: client: '.*' ([\d.]+) s after xl create$", line)
                    if m:
                        res["boot"] = float(m.group(1))
                    elif line == "dom0: client: done; the server is destroyed":
                        res["qemu_status"] = "stopped"  # (as QEMU's stop: judge)
                    else:
                        host.append("host: " + line[6:])
                else:
                    lines.append((None, line))
            host += client_figures(wl.kind, host)
            m = re.search(r"after ([\d.]+) s", o.how)
            res["secs"] = float(m.group(1)) if m else 0
            if o.timed_out:
                res["error"] = "no end within the job's limit (%s)" % o.how
            elif res.get("qemu_status") == "stopped" and wl.server:
                pass  # (a server ends when the rig destroys it)
            elif o.code != 0 and (os_name == "linux" or
                                  not app_lines(lines, os_name, guest_app(wl, os_name))[1]):
                # (Amphi ends the domain as crashed when its app's status is not 0)
                res["error"] = "the guest did not power off (%s)" % o.how
            elif "boot" not in res:
                res["error"] = "dom0 did not see the app start"
        yield cell, wl, g, k, judge(wl, os_name, lines, host, smoke, res)


# ---------------------------------------------------------------- the tables

def fmt(v):
    if v is None:
        return "-"
    if v == int(v) or abs(v) >= 100:
        return "{:,.0f}".format(v)
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def summary(values, unit):
    vs = [v for v in values if v is not None]
    if not vs:
        return None, "failed"
    med = statistics.median(vs)
    text = ("%s %s" % (fmt(med), unit)).strip()
    if len(vs) > 1:
        text += " (%s–%s)" % (fmt(min(vs)), fmt(max(vs)))
    if len(vs) < len(values):
        text += ", %d of %d failed" % (len(values) - len(vs), len(values))
    return med, text


def ratio(metric, amphi, linux):
    """How many times better Amphi (HP; normal for what HP mode cannot run) is than Linux
    (> 1: Amphi ahead)."""
    if metric.lower is None or amphi is None or linux is None or (amphi == 0 and linux == 0):
        return "-"
    if (metric.lower and amphi == 0) or (not metric.lower and linux == 0):
        return "∞"
    r = linux / amphi if metric.lower else amphi / linux
    return "%.2f×" % r


def rows(results, cell, workloads):
    """The table of one cell: [(workload, metric, {guest: median}, [column texts], ratio)]."""
    out = []
    for wl in workloads:
        r = results.get(cell.name, {}).get(wl.name)
        if not r:
            continue
        for i, m in enumerate(wl.metrics):
            meds, cols = {}, []
            for g in GUESTS:
                if (m.only and not g.startswith(m.only)) or not wl.for_guest(g):
                    meds[g], text = None, "-"
                else:
                    meds[g], text = summary([x["values"][i] for x in r[g]], m.unit)
                cols.append(text)
            amphi = "amphi-hp" if wl.for_guest("amphi-hp") else "amphi-normal"
            out.append((wl, m, meds, cols, ratio(m, meds[amphi], meds["linux"])))
    return out


def what(cell, m):
    if m.pattern in ("boot", "first") and cell.kind == "xen":
        return m.what.replace("QEMU start", "`xl create`").replace("the app's first line",
                                                                   "the app's start")
    if m.pattern == "ready" and cell.kind == "xen":  # (Xen's console has no times)
        return "the kernel's start to the app's start (its own clock: `up N ms`)"
    return m.what


def tables(results, cells, workloads, meta):
    md = ["# make bench", "",
          "%s; %s; %d run%s per guest, median (min–max). Linux guest: %s. ratio: Amphi HP "
          "(Amphi normal where only it runs the workload: processes) against Linux, > 1 means "
          "Amphi is ahead." % (
              meta["when"], meta["machine"], meta["runs"], "s" if meta["runs"] > 1 else "",
              meta["linux"]), ""]
    if meta["smoke"]:
        md += ["**Smoke run: tiny counts, the figures mean nothing.**", ""]
    for cell in cells:
        md += ["## %s" % cell.name, ""]
        if cell.kind == "xen":
            md += ["Xen 4.17 nested in QEMU TCG (the test matrix's rig), %d MiB and %d vCPUs "
                   "per guest, a vif on dom0's bridge for the network workloads; Linux as the same kind of domU, from "
                   "the same kernel and initramfs. boot: `xl create` to the app's start, as "
                   "dom0 sees it in the console's log (to about 50 ms)." % (
                       cell.mem_mib, cell.vcpus), ""]
        md += ["| workload | %s | ratio |" % " | ".join(GUEST_TITLE[g] for g in GUESTS),
               "|---" * (len(GUESTS) + 2) + "|"]
        for wl, m, _, cols, rt in rows(results, cell, workloads):
            md.append("| %s: %s%s (`%s %s`) | %s | %s |" % (
                wl.name, what(cell, m), "" if m.lower in (True, None) else ", higher is better",
                wl.app, next(rs[0]["args"] for rs in results[cell.name][wl.name].values() if rs),
                " | ".join(cols), rt))
        md.append("")
        md += floor_note(results, cell, meta)
    return "\n".join(md)


def floor_note(results, cell, meta):
    """Under a QEMU cell's table: QEMU's own start (qemu_floor), and the boot row's ratio
    over what the kernels themselves took above it."""
    floor = meta.get("floor", {}).get(cell.name)
    if not floor:
        return []
    boots = {g: [r["values"][0] for r in results[cell.name].get("boot", {}).get(g, [])
                 if r["values"] and r["values"][0] is not None] for g in GUESTS}
    above = {g: statistics.median(v) - floor[0] for g, v in boots.items() if v}
    text = ("QEMU's own start: an empty kernel (`bench/floor.S`, one line on the serial port) "
            "printed its line %.3f s (%.3f–%.3f) after QEMU's start, with this cell's machine, "
            "memory, vCPUs and NIC: every boot figure stands on it." % floor)
    if "amphi-hp" in above and "linux" in above and above["amphi-hp"] > 0:
        text += (" Above it, Amphi HP took %.3f s to its app's first line and Linux %.3f s: "
                 "%.1f×." % (above["amphi-hp"], above["linux"],
                             above["linux"] / above["amphi-hp"]))
    return [text, ""]


def chart(results, cells, workloads, meta):
    """build/bench/ratios.png: a bar per ranked row and cell, Amphi HP against Linux (log
    scale; 1: level), with gnuplot. Returns the file's path, or why there is none."""
    labels, data = [], {}
    for cell in cells:
        for wl, m, _, _, rt in rows(results, cell, workloads):
            if not rt.endswith("×"):
                continue
            label = "%s: %s" % (wl.name, re.sub(r"\s*\(.*?\)|, per .*|, 200 B", "",
                                                m.what.replace("QEMU start", "start")))
            if len(label) > 48:
                label = label[:45] + "..."
            if label not in data:
                labels.append(label)
                data[label] = {}
            data[label][cell.name] = float(rt[:-1])
    used = [c for c in cells if any(c.name in d for d in data.values())]
    if not labels or not shutil.which("gnuplot"):
        return None, "no ratios" if not labels else "gnuplot is missing (make deps)"
    dat = os.path.join(OUT, "ratios.dat")
    png = os.path.join(OUT, "ratios.png")
    with open(dat, "w") as f:
        f.write("# row %s\n" % " ".join(c.name for c in used))
        for label in labels:
            f.write('"%s" %s\n' % (label.replace('"', "'"), " ".join(
                "%.4g" % data[label][c.name] if c.name in data[label] else "NaN" for c in used)))
    script = "\n".join([
        "set terminal png size %d,720 font ',9'" % max(900, 60 * len(labels)),
        "set output '%s'" % png,
        "set title 'make bench: Amphi HP against Linux, times better (> 1: Amphi ahead), "
        "%s%s'" % (meta["when"], ", smoke run" if meta["smoke"] else ""),
        "set style data histograms", "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1", "set logscale y 2", "set grid ytics",
        "set xtics rotate by -40 left", "set bmargin 16", "set rmargin 14",
        "set key top right",
        "set ylabel 'ratio (log scale)'", "set datafile missing 'NaN'",
        "plot " + ", ".join("'%s' using %d:xtic(1) title '%s'" % (dat, i + 2, c.name)
                            for i, c in enumerate(used)) + ", 1 notitle lc 'black'"])
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode:
        return None, "gnuplot failed: %s" % r.stderr.strip()[-200:]
    return png, ""


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.split("\n")[0]
    return "%s, %d CPUs, %s, %s" % (cpu or platform.machine(), os.cpu_count(), qemu,
                                   "load %.2f %.2f %.2f" % os.getloadavg())


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", help="comma list of workloads (default: all; --list)")
    ap.add_argument("--cells", default="qemu-q35", help="comma list of cells (default qemu-q35)")
    ap.add_argument("--xen-bench", help="comma list of workloads on the Xen cells (default: "
                    "those of --bench)")
    ap.add_argument("--runs", type=int, default=3, help="boots per guest and workload")
    ap.add_argument("--smoke", action="store_true", help="tiny counts, one run (make bench-smoke)")
    ap.add_argument("--nice", type=int, default=int(os.environ.get("BENCH_NICE", "0")),
                    help="run QEMU under nice -n N (a shared machine)")
    ap.add_argument("--linux-kernel", default="vmlinux", choices=("vmlinux", "bzImage"),
                    help="boot Linux's plain ELF through its PVH note, as amphi.elf boots "
                    "(default), or Debian's bzImage, which unpacks itself first")
    ap.add_argument("--list", action="store_true", help="list the workloads and cells")
    ap.add_argument("--profile", action="store_true", help="sample the QEMU guests' "
                    "instruction pointers through QEMU's gdbstub (bench/sampler.py) into "
                    "build/bench/logs/*.profile (the Xen cells: the rig's whole boot, "
                    "xen-rig.profile); slows the guests a little")
    a = ap.parse_args()
    global PROFILE
    PROFILE = a.profile

    if a.list:
        for w in WORKLOADS:
            print("%-8s %s %s: %s" % (w.name, w.app, w.args,
                                       "; ".join(m.what for m in w.metrics)))
        print("cells: %s" % " ".join(c.name for c in CELLS))
        return 0
    workloads = [w for w in WORKLOADS if not a.bench or w.name in a.bench.split(",")]
    cells = [c for c in CELLS if c.name in a.cells.split(",")]
    if not workloads or not cells:
        print("bench: no such workload or cell (--list)")
        return 2
    runs = 1 if a.smoke else a.runs
    for f in [KERNEL, NETCLIENT] + [os.path.join(APPS, w.app) for w in workloads]:
        if not os.path.exists(f):
            print("bench: %s is missing (make all apps build/netclient)" % f)
            return 2

    def say(msg):
        print("bench: " + msg, flush=True)
    linux = ensure_linux(say)
    logs = os.path.join(OUT, "logs")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    # (xl boots Linux from its plain vmlinux too: from the bzImage, dom0 unpacked its xz
    # payload at every `xl create`, about a minute under nested TCG)
    xen_wls = [w for w in workloads if not a.xen_bench or w.name in a.xen_bench.split(",")]
    apps = sorted({w.app for w in workloads + xen_wls})
    guest = {"kernel": os.path.join(linux, a.linux_kernel),
             "xen_kernel": os.path.join(linux, "vmlinux"),
             "initrd": linux_initrd(linux, apps, batch=batch_text(
                 [w for w in workloads if w.batched and not PROFILE and w.for_guest("linux")],
                 a.smoke, False)),
             "xen_initrd": linux_initrd(linux, apps, os.path.join(OUT, "linux-initrd-xen.cpio.gz"),
                                        batch_text([w for w in xen_wls if w.batched and
                                                    w.for_guest("linux")], a.smoke, True))}
    with open(os.path.join(linux, "kernel-version")) as f:
        kver = f.read().strip()
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "runs": runs, "smoke": a.smoke, "linux": "Debian %s (%s), busybox-static "
            "initramfs" % (kver, "vmlinux through its PVH note" if a.linux_kernel == "vmlinux"
                           else "bzImage through qboot")}
    say("%s; Linux guest: %s" % (meta["machine"], meta["linux"]))
    t_start = time.monotonic()
    results, failures, retried = {}, 0, 0

    def record(cell, wl, g, k, res):
        nonlocal failures
        r = results.setdefault(cell.name, {}).setdefault(wl.name, {g: [] for g in GUESTS})
        r[g].append(res)
        failures += bool(res["error"])
        figures = ", ".join(("%s %s" % (fmt(v), m.unit)).strip()
                            for v, m in zip(res["values"], wl.metrics))
        say("%-32s %s (%.1f s)%s" % ("%s-%s-%s-%d" % (cell.name, wl.name, g, k + 1), figures,
                                     res["secs"], " FAILED: " + res["error"] if res["error"]
                                     else ""))

    xen = [c for c in cells if c.kind == "xen"]
    for cell, wl, g, k, res in run_xen(xen, xen_wls, runs, a.smoke, guest, say, logs):
        with open(os.path.join(logs, "%s-%s-%s-%d.log" % (cell.name, wl.name, g, k + 1)),
                  "w") as f:
            f.write(res.pop("log"))
        record(cell, wl, g, k, res)
    for cell in cells:
        if cell.kind != "qemu":
            continue
        if any(wl.name == "boot" for wl in workloads):
            meta.setdefault("floor", {})[cell.name] = qemu_floor(cell, 1 if a.smoke else 5,
                                                                 a.nice)
        all_batched = [wl for wl in workloads if wl.batched and not PROFILE]
        for k in range(runs if all_batched else 0):
            for g in GUESTS:
                batch = [wl for wl in all_batched if wl.for_guest(g)]
                if not batch:
                    continue
                for attempt in range(TSC_RETRIES + 1):
                    rs = measure_batch(cell, batch, g, a.smoke, guest, a.nice, logs, k)
                    tsc = [r["error"] for r in rs if r["error"].startswith(TSC_ERROR)]
                    if not tsc or attempt == TSC_RETRIES:
                        break
                    retried += 1
                    say("%-32s booted again: %s" % ("%s-batch-%s-%d" % (cell.name, g, k + 1),
                                                    tsc[0]))
                for wl, res in zip(batch, rs):
                    res["tsc_retries"] = attempt
                    with open(os.path.join(logs, "%s-%s-%s-%d.log" % (cell.name, wl.name, g,
                                                                     k + 1)), "w") as f:
                        f.write(res.pop("log"))
                    record(cell, wl, g, k, res)
        for wl in workloads:
            if wl in all_batched:
                continue
            if wl.special:
                for g in filter(wl.for_guest, GUESTS):
                    res = special(wl, cell, g, a.smoke, guest, linux, a.nice, say)
                    with open(os.path.join(logs, "%s-%s-%s.log" % (cell.name, wl.name, g)),
                              "w") as f:
                        f.write(res.pop("log"))
                    record(cell, wl, g, 0, res)
                continue
            for k in range(runs):
                for g in filter(wl.for_guest, GUESTS):
                    name = "%s-%s-%s-%d" % (cell.name, wl.name, g, k + 1)
                    for attempt in range(TSC_RETRIES + 1):
                        res = measure(cell, wl, g, a.smoke, guest, a.nice)
                        res["tsc_retries"] = attempt
                        with open(os.path.join(logs, name + ".log"), "a" if attempt else "w") as f:
                            f.write(res.pop("log"))
                        if "profile" in res:
                            with open(os.path.join(logs, name + ".profile"), "w") as f:
                                f.write(res.pop("profile"))
                        if not res["error"].startswith(TSC_ERROR) or attempt == TSC_RETRIES:
                            break
                        retried += 1
                        say("%-32s booted again: %s" % (name, res["error"]))
                    record(cell, wl, g, k, res)
    meta["secs"] = round(time.monotonic() - t_start, 1)
    md = tables(results, cells, workloads, meta)
    md += "\n%d guest runs in %.0f s; %d failed; %d booted again for a wrong TSC rate.\n" % (
        sum(len(x) for c in results.values() for w in c.values() for x in w.values()),
        meta["secs"], failures, retried)
    png, why = chart(results, cells, workloads, meta)
    md += "\nThe ratios as a chart: %s\n" % (png or "none (%s)" % why)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"meta": meta, "workloads": {w.name: dataclasses.asdict(w) for w in workloads},
                   "results": results}, f, indent=1)
    print("\n" + md)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
