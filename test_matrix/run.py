#!/usr/bin/env python3
"""The Amphi test matrix: the same build/amphi.elf on every platform cell x every guest test.

    run.py [--cells a,b] [--tests x,y] [--repeat N] [--list]   run the matrix (make test)
    run.py --boot [--hv qemu|kvm|xen-pv|xen-pvh] [--cmdline ..]
                                                   boot once, console on this terminal (make run)

Guests report over their console in fixed lines ("TEST <name> PASS|FAIL ...", "EXIT <code>",
"PANIC ..."); the runner also takes the platform's own verdict (QEMU's isa-debug-exit status,
xl's shutdown reason) and checks the banner against the cell's configuration. Every run has a
timeout, so a hang is a FAIL, never a wait. Results: a table on stdout, build/test_matrix.md,
build/test_matrix.xml (JUnit) and one log per cell and test under build/test_matrix/.
"""
import argparse
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from xml.sax.saxutils import quoteattr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
KERNEL = os.path.join(BUILD, "amphi.elf")
NETCLIENT = os.path.join(BUILD, "netclient")  # tools/netclient.c, the network tests' host side
RIG_DIR = os.path.join(ROOT, "test_matrix", "xen-rig")
QBOOT = "/usr/share/qemu/qboot.rom"
EXIT_PANIC = 2


@dataclasses.dataclass
class Cell:
    name: str
    platform: str  # what the banner must say
    kind: str  # "qemu" or "xen"
    args: list = dataclasses.field(default_factory=list)  # qemu machine/accel arguments
    xl_type: str = ""
    mem_mib: int = 128
    vcpus: int = 2
    timeout: int = 30  # seconds per guest
    needs_kvm: bool = False
    cmdline: str = ""  # added to every test's command line
    pci: bool = False  # QEMU: virtio devices on PCI (else virtio-mmio)


CELLS = [
    # q35 carries QEMU's edu PCI device: the irq test's MSI source
    Cell("qemu-q35", "qemu", "qemu", ["-M", "q35", "-bios", QBOOT, "-accel", "tcg", "-device", "edu"],
         pci=True),
    Cell("qemu-microvm", "qemu", "qemu", ["-M", "microvm", "-accel", "tcg"]),
    # The local KVM emulates guest ring 0 one instruction at a time (~1 us each, PLATFORM.md):
    # a smoke cell with a generous timeout (clock takes ~80 s there, sched ~75 s). Its
    # emulator stops the VM at stac/clac, and its CPUID offers SMAP whatever -cpu says:
    # nosmap (SMEP works there).
    Cell("kvm-microvm", "kvm", "qemu",
         ["-M", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities"],
         timeout=400, needs_kvm=True, cmdline="nosmap"),
    Cell("xen-pv", "xen-pv", "xen", xl_type="pv", mem_mib=32, timeout=60),
    Cell("xen-pvh", "xen-pvh", "xen", xl_type="pvh", mem_mib=32, timeout=60),
]


@dataclasses.dataclass
class Outcome:
    """What one guest run left behind."""
    lines: list
    code: object = None  # the exit code the platform reports, None if it gave none
    how: str = ""  # human-readable platform verdict ("qemu exit status 5", "xl: crash")
    timed_out: bool = False
    log: str = ""
    note: str = ""  # shown after the verdict (the rig retried this guest)


@dataclasses.dataclass
class Result:
    status: str  # PASS, FAIL, SKIP
    detail: str = ""
    retried: str = ""  # the rig ran it again after a fault of its own: why


# ---------------------------------------------------------------- checks shared by tests

def judge(problems, passed):
    """FAIL with every non-empty problem, or PASS with `passed`."""
    problems = [p for p in problems if p]
    return Result("FAIL", "; ".join(problems)) if problems else Result("PASS", passed)


def find(lines, pattern):
    rx = re.compile(pattern)
    for line in lines:
        m = rx.search(line)
        if m:
            return m
    return None


def guest_exit(out):
    """The exit code the guest announced ("EXIT n") and the platform confirmed."""
    m = find(out.lines, r"^EXIT (\d+)$")
    said = int(m.group(1)) if m else None
    if out.timed_out:
        return None, "timed out (%s)" % out.how
    if said is None:
        return None, "guest printed no EXIT line (%s)" % out.how
    if out.code is None:
        return None, "no exit status from the platform (%s)" % out.how
    if out.code == "nonzero":  # Xen: a crash carries no number, only "not 0"
        if said == 0:
            return None, "guest said EXIT 0 but %s" % out.how
        return said, ""
    if out.code != said:
        return None, "guest said EXIT %d but %s" % (said, out.how)
    return said, ""


def expect_exit(out, want):
    code, why = guest_exit(out)
    if code is None:
        return why
    if code != want:
        return "exit code %d, expected %d" % (code, want)
    return ""


# What each platform's banner must say about its clock (the boot test also checks it runs).
CLOCK_EVIDENCE = {
    "kvm": r"kvmclock \d+\.\d{6} s since VM start, TSC [1-9]\d* kHz",
    "qemu": r"no PV clock \(TCG\): falling back to the TSC, [1-9]\d* kHz by ",
    "xen-pv": r"pvclock \d+\.\d{6} s since Xen started, TSC [1-9]\d* kHz",
    "xen-pvh": r"pvclock \d+\.\d{6} s since Xen started, TSC [1-9]\d* kHz",
}


def check_banner(cell, out):
    plat = find(out.lines, r"^platform: (\S+)")
    if not plat:
        return "no banner"
    if plat.group(1) != cell.platform:
        return "banner says platform %s, expected %s" % (plat.group(1), cell.platform)
    ram = find(out.lines, r"^ram: .*\((\d+) KiB\)")
    if not ram:
        return "banner has no RAM line"
    kib, want = int(ram.group(1)), cell.mem_mib * 1024
    if abs(kib - want) > want / 100:
        return "RAM %d KiB is not within 1%% of the configured %d KiB" % (kib, want)
    vcpus = find(out.lines, r"^vcpus: (\d+)")
    if not vcpus or int(vcpus.group(1)) != cell.vcpus:
        return "vcpus %s, expected %d" % (vcpus.group(1) if vcpus else "missing", cell.vcpus)
    if not find(out.lines, r"^hypervisor: .*" + CLOCK_EVIDENCE[cell.platform]):
        return "banner does not show the %s clock working" % cell.platform
    mem = find(out.lines, r"^memory: (\d+) KiB free of (\d+) KiB")
    if not mem or not 0 < int(mem.group(1)) <= int(mem.group(2)) <= kib:
        return "no sane 'memory: N KiB free of M KiB' line"
    return ""


def test_line(out, name):
    m = find(out.lines, r"^TEST %s (PASS|FAIL)(.*)$" % re.escape(name))
    if not m:
        return None, "no TEST %s line" % name
    return m.group(1) == "PASS", m.group(2).strip()


# ---------------------------------------------------------------- the guest tests

# Where the early console (before the platform's) is visible to the runner: COM1 under QEMU,
# Xen's console through port 0xe9 for PVH. Xen PV's early console is HYPERVISOR_console_io,
# which a release Xen refuses to unprivileged guests.
EARLY_CONSOLE = {"kvm": r"^early console: ok$", "qemu": r"^early console: ok$",
                 "xen-pvh": r"\(d\d+\) early console: ok$"}


def eval_boot(cell, out):
    ok, detail = test_line(out, "boot")
    early = EARLY_CONSOLE.get(cell.platform)
    return judge([
        "" if ok else "guest: " + detail,
        "" if not ok or "clock=ok" in detail else "the guest found no clock",
        "" if not early or find(out.lines, early) else "the early console line is missing",
        check_banner(cell, out),
        expect_exit(out, 0),
    ], detail)


FAULT_ADDR = "0x00000dead000beef"


def eval_fault(cell, out):
    problems = []
    if not find(out.lines, r"^PANIC on %s cpu0: page fault \(#PF\), vector 14$" % re.escape(cell.platform)):
        problems.append("no page-fault panic naming the platform")
    if not find(out.lines, r"^\s+cr2=%s \(page not present, read" % FAULT_ADDR):
        problems.append("panic does not report cr2=%s" % FAULT_ADDR)
    if not find(out.lines, r"^\s+#0 0x[0-9a-f]{16} test_fault\+0x[0-9a-f]+$"):
        problems.append("backtrace does not start in test_fault")
    if not find(out.lines, r"^\s+#\d+ 0x[0-9a-f]{16} selftest_run\+0x"):
        problems.append("backtrace does not reach selftest_run")
    problems.append(expect_exit(out, EXIT_PANIC))
    return judge(problems, "panic report and exit %d" % EXIT_PANIC)


EXIT_CODE = 42


def eval_exitcode(cell, out):
    ok, detail = test_line(out, "exitcode")
    return judge(["" if ok else "guest: " + detail, expect_exit(out, EXIT_CODE)],
                 "exit %d seen by the platform" % EXIT_CODE)


def eval_badboot(cell, out):
    problems = []
    if not find(out.lines, r"^PANIC on %s cpu0: boot: bad PVH start info magic 0xdeadbeef" % re.escape(cell.platform)):
        problems.append("no clear 'bad PVH start info magic' panic")
    problems.append(expect_exit(out, EXIT_PANIC))
    return judge(problems, "bad magic reported, exit %d" % EXIT_PANIC)


def eval_hang(cell, out):
    if not find(out.lines, r"^hanging on purpose"):
        return Result("FAIL", "the guest did not reach the hang (%s)" % out.how)
    if not out.timed_out:
        return Result("FAIL", "a hanging guest was not reported as a timeout (%s)" % out.how)
    if find(out.lines, r"^EXIT \d+$"):
        return Result("FAIL", "the guest exited instead of hanging")
    return Result("PASS", "hang turned into a timeout: %s" % out.how)


def eval_console_stuck(cell, out):
    ok, detail = test_line(out, "flood")
    dropped = find(out.lines, r"^\[console: (\d+) bytes dropped\]$")
    return judge([
        "" if ok else "guest: " + detail,
        "" if find(out.lines, r"^flood 0000:") else "the first flood lines are missing",
        "" if dropped and int(dropped.group(1)) > 0 else "no report of the dropped output",
        "" if not find(out.lines, r"^flood 0999:") else "nothing was dropped: was the backend frozen?",
        expect_exit(out, 0),
    ], "backend frozen: %s bytes dropped and reported, exit 0" % (dropped.group(1) if dropped else "?"))


def eval_mm(cell, out):
    ok, detail = test_line(out, "mm")
    return judge([
        "" if ok else "guest: " + detail,
        # Xen PV guests may not use 2 MiB pages; everywhere else the direct map has them
        "" if not ok or cell.platform == "xen-pv" or "split_2m=ok" in detail
        else "no 2 MiB page was split",
        "" if find(out.lines, r"^heap: .*large [1-9]\d* blocks") else "no heap statistics at peak",
        expect_exit(out, 0)], detail)


def eval_mm_wx(cell, out):
    at = find(out.lines, r"^writing to kernel text at (0x[0-9a-f]{16})")
    problems = []
    if not at:
        problems.append("the test did not start")
    elif not find(out.lines, r"^\s+cr2=%s \(protection violation, write" % at.group(1)):
        problems.append("no write-protection page fault at %s" % at.group(1))
    if not find(out.lines, r"^PANIC on %s cpu0: page fault \(#PF\), vector 14$" % re.escape(cell.platform)):
        problems.append("no page-fault panic")
    problems.append(expect_exit(out, EXIT_PANIC))
    return judge(problems, "write to text faulted, exit %d" % EXIT_PANIC)


def eval_mm_badfree(cell, out):
    at = find(out.lines, r"^freeing (0x[0-9a-f]{16}) a second time")
    problems = []
    if not at:
        problems.append("the test did not start")
    elif not find(out.lines, r"^PANIC on %s cpu0: kfree: %s is already free: double free$" % (
            re.escape(cell.platform), at.group(1))):
        problems.append("no double-free panic naming %s" % at.group(1))
    if not find(out.lines, r"^\s+#\d+ 0x[0-9a-f]{16} kfree\+0x"):
        problems.append("backtrace does not show kfree")
    problems.append(expect_exit(out, EXIT_PANIC))
    return judge(problems, "double free caught, exit %d" % EXIT_PANIC)


def eval_guest_pass(name, *required):
    """A guest test that reports PASS and exits 0, and prints the lines `required` matches."""
    def evaluate(cell, out):
        ok, detail = test_line(out, name)
        return judge(["" if ok else "guest: " + detail, expect_exit(out, 0)] +
                     ["" if find(out.lines, rx) else "no line matching %r" % rx for rx in required],
                     detail)
    return evaluate


PING_OK = r"^(dom0|host): ping: %d packets transmitted, %d (packets )?received, 0%% packet loss"


def eval_device(name, *required, virtio=(), xen=(), fast=()):
    """A device test: PASS and exit 0, the lines `required` matches (and `virtio` on the
    cells with virtio devices, `xen` on the Xen cells, `fast` on all but the local KVM,
    whose emulated kernel is too slow for them), and the devices let go of cleanly at
    shutdown (xenbus handshake; virtio reset)."""
    def evaluate(cell, out):
        ok, detail = test_line(out, name)
        clean = (r"^xenbus: closed 1 of 1 devices cleanly" if cell.kind == "xen"
                 else r"^virtio: 1 device reset")
        more = (tuple(virtio) if cell.kind != "xen" else tuple(xen)) + \
            (tuple(fast) if cell.platform != "kvm" else ())
        return judge(["" if ok else "guest: " + detail, expect_exit(out, 0)] +
                     ["" if find(out.lines, rx) else "no line matching %r" % rx
                      for rx in required + more + (clean,)], detail)
    return evaluate


def eval_rawdisk(mode):
    """apps/rawdisk on the first disk (/dev/vda): its checks all passed, its writes are
    on the disk image afterwards (the host's or dom0's check of the guest's pattern), and
    it ended with status 0. Not compared with a Linux run: the host has no such disk."""
    def evaluate(cell, out):
        summary = find(out.lines, r"^rawdisk: (\d+) checks, (\d+) failed$")
        fails = [l for l in out.lines if l.startswith("FAIL (line")]
        problems = [
            "" if find(out.lines, r"^hp: running rawdisk \(%s mode" % mode)
            else "the app did not start in %s mode" % mode,
            "" if summary and summary.group(2) == "0" else
            "; ".join(fails[:3]) or "no summary line from rawdisk",
            "" if find(out.lines, r"^(host|dom0): disk: guest pattern OK") else
            "the guest's pattern is not on the disk image",
            expect_exit(out, 0)]
        return judge(problems, "%s checks passed, the guest's 1 MiB on the image" %
                     (summary.group(1) if summary else "?"))
    return evaluate


def eval_crashloop(cell, out):
    """make rig-crashloop (a measurement of the rig, not of Amphi): dom0 programs started
    beside UDP traffic through the guest; PASS when none of them failed."""
    m = find(out.lines, r"^dom0: crashloop: (\d+) programs, (\d+) of them beside the traffic, "
             r"(\d+) failed \((\d+) hung\), (\d+) s")
    udp = find(out.lines, r"^dom0: udp: (\d+) of (\d+) datagrams")
    if not m:
        return Result("FAIL", "no crashloop line from dom0")
    crashes = len([l for l in out.lines if l.startswith("dom0: dom0 crash: ")])
    detail = "%s programs (%s beside %s datagrams), %s failed (%s hung), %d crashes in dom0's log, %s s" % (
        m.group(1), m.group(2), udp.group(1) if udp else "no", m.group(3), m.group(4), crashes,
        m.group(5))
    return judge(["" if m.group(3) == "0" and not crashes else detail], detail)


def eval_reconnect(cell, out):
    ok, detail = test_line(out, "reconnect")
    pings = [l for l in out.lines if re.match(r"^dom0: ping: 20 packets transmitted, 20 packets received", l)]
    return judge(["" if ok else "guest: " + detail, expect_exit(out, 0),
                  "" if len(pings) == 2 else "dom0: %d of 2 ping rounds without loss" % len(pings)],
                 detail)


# ---------------------------------------------------------------- HP-mode apps

APPS = os.path.join(BUILD, "apps")
GUEST_IP = "10.0.9.2"  # the responder's default (ip=); the namespace side is .1


def app_words(cmdline):
    """(environment dict, argv[1:]) from an app command line's words after ' -- '."""
    words = cmdline.split(" -- ", 1)[1].split() if " -- " in cmdline else []
    env = {}
    while words and "=" in words[0] and not words[0].startswith("="):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    return env, words


_host_runs = {}


def memcache_args(ip, app_args):
    """netclient's memcache arguments for a memcached with APP_ARGS (its -p port): 4
    connections of 100 items each"""
    words = app_args.split()
    return ["memcache", ip, words[words.index("-p") + 1], "4", "100", str(MEMCACHE_HELD)]


# the VM's memory for the Go apps
GO_MIB = 32

# connections the memcache client holds open at once: past the 64 descriptors and sockets
# the kernel once had, under memcached's default limit of 1024 (-c)
MEMCACHE_HELD = 300

# requests of the http_many test, each on a new connection: past net/core.c's TW_MAX (256)
HTTP_MANY = 400


def httpload_args(ip, app_args):
    """netclient's httpload arguments for go_http PORT REQUESTS: 4 connections, each with
    REQUESTS/8 requests kept alive and as many on new connections."""
    port, reqs = app_args.split()[:2]
    return ["httpload", ip, port, "4", str(int(reqs) // 8)]


def tcpbulk_args(ip, app_args, client="tcpbulk"):
    """netclient's tcp arguments for tcp_bulk PORT CONNS KIB: the same; client "tcpslow":
    netclient's slow reader"""
    port, conns, kib = app_args.split()[:3]
    return ["tcp", ip, port, conns, kib] + (["slow"] if client == "tcpslow" else [])


def httpmany_args(ip, app_args):
    """netclient's httpmany arguments for http_hello PORT COUNT: COUNT requests, each on a
    new connection"""
    port, count = app_args.split()[:2]
    return ["httpmany", ip, port, count]


def host_run(app, words, client="", cwd=None):
    """The app run on this Linux host with the same arguments and environment: (stdout
    lines, exit status as a shell gives it). The reference the guest's output must equal.
    A network app gets the same client as in the guest's test, over the loopback."""
    key = (app, words)
    if key not in _host_runs:
        env, args = app_words(" -- " + words)
        p = subprocess.Popen([os.path.join(APPS, app)] + args, env=env, stdout=subprocess.PIPE,
                             text=True, cwd=cwd)
        out = []
        if client == "memcache":  # (it prints nothing; the client waits for its port)
            subprocess.run([NETCLIENT] + memcache_args("127.0.0.1", " ".join(args)),
                           capture_output=True, timeout=120)
        elif client:
            out.append(p.stdout.readline().rstrip("\n"))  # its "ready" line
            if client == "udp":
                subprocess.run([NETCLIENT, "udp", "127.0.0.1", args[0], args[1]],
                               capture_output=True, timeout=120)
            elif client == "httpload":
                subprocess.run([NETCLIENT] + httpload_args("127.0.0.1", " ".join(args)),
                               capture_output=True, timeout=120)
            elif client == "httpmany":
                subprocess.run([NETCLIENT] + httpmany_args("127.0.0.1", " ".join(args)),
                               capture_output=True, timeout=120)
            elif client in ("tcpbulk", "tcpslow"):
                subprocess.run([NETCLIENT] + tcpbulk_args("127.0.0.1", " ".join(args), client),
                               capture_output=True, timeout=120)
            elif client == "http":
                for _ in range(3):
                    subprocess.run(["curl", "-s", "-m", "30", "http://127.0.0.1:%s/" % args[0]],
                                   capture_output=True, timeout=60)
        # the rest through the same reader as the first line: communicate() with a
        # timeout reads the pipe itself and loses what readline() had buffered (a line
        # that came with the ready one)
        rest = []
        reader = threading.Thread(target=lambda: rest.append(p.stdout.read()))
        reader.start()
        reader.join(120)
        if reader.is_alive():
            p.kill()
            reader.join()
        p.wait()
        out += "".join(rest).splitlines()
        _host_runs[key] = (out, 128 - p.returncode if p.returncode < 0 else p.returncode)
    return _host_runs[key]


# The kernel's own lines that may come while an app runs (a NIC connecting, ...): a
# subsystem's name, or a device's ("xnet0:", "vblk0:"), then ": ".
KERNEL_LINE = re.compile(r"^(hp|net|netfront|virtio|xenbus|xenstore|blk|smp|sched|devices|"
                         r"interrupts)"
                         r": |^(xnet|xblk|vnet|vblk)\d+: |^\[console: ")


def app_output(lines, name):
    """What the app printed in the guest (between the loader's lines, without the kernel's
    own lines: KERNEL_LINE), and the status the kernel reported."""
    out, inside, status = [], False, None
    for line in lines:
        if re.match(r"^hp: running %s " % re.escape(name), line):
            inside = True
            continue
        m = re.match(r"^hp: %s exited with status (\d+)" % re.escape(name), line)
        if m:
            status = int(m.group(1))
            break
        if inside and not KERNEL_LINE.match(line):
            out.append(line)
    return out, status


def same_output(guest, host):
    """Lines that start with 'bench:' are measurements: present on both sides, not equal."""
    g = [l for l in guest if not l.startswith("bench:")]
    h = [l for l in host if not l.startswith("bench:")]
    if g == h:
        return ""
    for i, (a, b) in enumerate(zip(g + ["<end>"] * len(h), h + ["<end>"] * len(g))):
        if a != b:
            return "output differs from Linux's at line %d: guest %r, Linux %r" % (i + 1, a, b)
    return "output differs from Linux's"


def eval_app(name, *required, note=None, memory=False):
    """The app printed what it prints on Linux (bench: lines aside) and ended with the
    same status; the VM's exit code is that status (1 when it is over 127: a signal).
    In a required pattern, {vcpus} is the cell's vCPU count. note(test, cell, lines): more
    for the detail (measurements, never a verdict). memory: everything the app held (its
    forked processes' too) came back: the free memory after it within HOSTILE_SLACK_KIB of
    the free memory before."""
    def evaluate(cell, out):
        test = evaluate.test
        want, want_status = host_run(name, test.app_words_for(cell),
                                     test.host if test.virtio == "net" else "",
                                     fs_dir() if test.tar else None)
        name_in_guest = "/bin/" + name if test.tar else name
        got, status = app_output(out.lines, name_in_guest)
        problems = [
            "" if find(out.lines, r"^hp: running %s \(%s mode" % (re.escape(name_in_guest), test.mode))
            else "the app did not start in %s mode" % test.mode,
            same_output(got, want),
            "" if status == want_status else "status %s, Linux's %d" % (status, want_status),
            expect_exit(out, want_status if want_status <= 127 else 1),
        ] + ["" if find(out.lines, rx.replace("{vcpus}", str(cell.vcpus)))
             else "no line matching %r" % rx.replace("{vcpus}", str(cell.vcpus))
             for rx in required]
        if memory:
            mem = [(int(m.group(1)), int(m.group(2))) for m in (
                re.match(r"^hp: memory: (\d+) KiB free before the app, (\d+) KiB after", l)
                for l in out.lines) if m]
            problems.append("no memory line" if not mem else
                            "%d KiB did not come back" % (mem[0][0] - mem[0][1])
                            if mem[0][0] - mem[0][1] > HOSTILE_SLACK_KIB else "")
        # an unknown system call is logged once, however often it is made
        logged = [l for l in out.lines if re.match(r"^hp: \S+: system call \d+ (is not|does not)", l)]
        if len(logged) != len(set(logged)):
            problems.append("an unknown system call was logged more than once")
        bench = [l for l in got if l.startswith("bench:")]
        extra = note(test, cell, out.lines) if note else ""
        return judge(problems, "%d lines as on Linux, status %d%s%s" % (
            len(got), want_status, "; " + "; ".join(bench) if bench else "",
            "; " + extra if extra else ""))
    return evaluate


def eval_vdso(*required):
    """The vdso app as eval_app judges it, and its clock read in the app where the kernel
    says so (its 200,000 readings then make no system call): on the QEMU cells always (the
    TSC clock is one for every CPU); on Xen the vDSO makes the system call (noted)."""
    inner = eval_app("vdso", *required)

    def evaluate(cell, out):
        inner.test = evaluate.test
        verdict = inner(cell, out)
        in_app = find(out.lines, r"^hp: running vdso \(.*vdso clock: in the app\)")
        calls = find(out.lines, r"^hp: vdso exited with status \d+ \((\d+) syscalls")
        problems = [] if verdict.status == "PASS" else [verdict.detail]
        if cell.kind == "qemu" and not in_app:
            problems.append("the kernel does not keep the vDSO's clock on a QEMU cell")
        if in_app and (not calls or int(calls.group(1)) >= 100000):
            problems.append("the vDSO's clock made system calls (%s)" %
                            (calls.group(1) if calls else "no count"))
        return judge(problems, "%s; clock %s, %s system calls in all" % (
            verdict.detail, "in the app" if in_app else "by system call",
            calls.group(1) if calls else "?"))
    return evaluate


def ipis_per_item(test, cell, lines):
    """The IPIs the kernel sent while the app ran (hp: sched cpuN during the app), per 100
    of its items (its first argument): an upper bound for the items alone, as the app's
    ping-pong is in the count too."""
    ipis = [int(m.group(1)) for l in lines
            for m in [re.match(r"^hp: sched cpu\d+ during the app: .*?, (\d+) IPIs sent", l)] if m]
    words = test.app_words_for(cell).split()
    items = int(words[0]) if words else 0
    if not ipis or not items:
        return ""
    return "%d IPIs while it ran: at most %.2f per 100 items" % (sum(ipis), 100.0 * sum(ipis) / items)


# The udp client's line: every datagram echoed; on QEMU (host:) none sent again either,
# though the guest must resolve the host's address first (VirtioSetup), with the client's
# first 32 datagrams waiting for that (on Xen, dom0's path may lose one: sent again)
UDP_ECHOED = (r"^(host: udp: (\d+) of \2 datagrams of 200 bytes echoed intact, 0 sent again|"
              r"dom0: udp: (\d+) of \3 datagrams of 200 bytes echoed intact, \d+ sent again)")
# ... and then one datagram larger than the link's MTU: IP fragments both ways, the guest's
# reply cut by its stack (core.c, ip_out: lwIP's own MTU is larger over a TSO device)
BIG_ECHOED = r"^(host|dom0): udp: .*; one of 1800 bytes \(in IP fragments\) echoed intact$"


# How corrupt_app breaks an app, and the loader's reason for refusing it.
CORRUPTIONS = {
    "magic": r"bad magic: not an ELF file",
    "truncated": r"segment \d+ is truncated",
    "overlap": r"segment \d+ overlaps segment at 0x",
    "entry": r"entry point 0x10 is outside the executable segments",
}


def corrupt_app(app, how):
    """A copy of build/apps/<app> broken one way (CORRUPTIONS); returns its path."""
    import struct
    with open(os.path.join(APPS, app), "rb") as f:
        b = bytearray(f.read())
    phoff, = struct.unpack_from("<Q", b, 32)
    phnum, = struct.unpack_from("<H", b, 56)
    loads = [phoff + 56 * i for i in range(phnum) if struct.unpack_from("<I", b, phoff + 56 * i)[0] == 1]
    if how == "magic":
        b[1:4] = b"XYZ"
    elif how == "truncated":  # cut in the middle of the code: pages of it are missing
        # (Xen PV hands the module over in whole pages, zero-padded: a cut within the
        # last page cannot be seen there)
        text = next(p for p in loads if struct.unpack_from("<I", b, p + 4)[0] & 1)
        off, filesz = struct.unpack_from("<Q", b, text + 8)[0], struct.unpack_from("<Q", b, text + 32)[0]
        b = b[:off + filesz // 2]
    elif how == "overlap":  # the writable segment moved onto the code
        text = next(p for p in loads if struct.unpack_from("<I", b, p + 4)[0] & 1)
        tva, = struct.unpack_from("<Q", b, text + 16)
        last = loads[-1]
        off, = struct.unpack_from("<Q", b, last + 8)
        struct.pack_into("<Q", b, last + 16, tva + off % 4096)
    elif how == "entry":
        struct.pack_into("<Q", b, 24, 0x10)
    path = os.path.join(BUILD, "test_matrix", "%s.%s" % (app, how))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b)
    return path


def shell_tar():
    """build/test_matrix/shell.tar: Debian's busybox-static as bin/busybox, a link to it in
    bin/ for each of its applets (`busybox --list`), test_matrix/shell/shell.sh as
    etc/shell.sh, an empty tmp/ (mode 1777). The nm_shell test's tree, in the guest and
    (chroot) on the host."""
    import io
    import tarfile
    path = os.path.join(BUILD, "test_matrix", "shell.tar")
    bb = os.path.join(APPS, "busybox")
    applets = subprocess.run([bb, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    with open(os.path.join(ROOT, "test_matrix", "shell", "shell.sh"), "rb") as f:
        script = f.read()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            t.addfile(ti)
        t.add(bb, "bin/busybox")
        for a in applets:
            if a != "busybox":
                ti = tarfile.TarInfo("bin/" + a)
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, "busybox", 0o777
                t.addfile(ti)
        ti = tarfile.TarInfo("etc/shell.sh")
        ti.size, ti.mode = len(script), 0o755
        t.addfile(ti, io.BytesIO(script))
    return path


def shell_host_run():
    """The shell test's script under busybox on this host, in the same tree (shell_tar()
    unpacked, chroot, with /dev's null, zero and urandom, and a /proc mounted): (its output
    lines, stderr's too as on the guest's console, status)."""
    import tarfile
    d = tempfile.mkdtemp(prefix="amphi-shell-")
    try:
        with tarfile.open(shell_tar()) as t:
            t.extractall(d)
        # the devices the guest has without a tree entry (background jobs read /dev/null)
        import stat
        os.makedirs(os.path.join(d, "dev"))
        for name, minor in (("null", 3), ("zero", 5), ("urandom", 9)):
            os.mknod(os.path.join(d, "dev", name), 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        os.makedirs(os.path.join(d, "proc"))
        subprocess.run(["mount", "-t", "proc", "proc", os.path.join(d, "proc")], check=True)
        try:
            p = subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", d, "/bin/sh",
                                "/etc/shell.sh"], env={"PATH": "/bin"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=120)
        finally:
            subprocess.run(["umount", os.path.join(d, "proc")])
        return p.stdout.splitlines(), p.returncode
    finally:
        shutil.rmtree(d, ignore_errors=True)


def eval_shell(cell, out):
    """nm_shell: busybox sh ran the script as on this host (line by line, and its status),
    and everything the processes held came back."""
    want, want_status = shell_host_run()
    got, status = app_output(out.lines, "/bin/sh")
    mem = [(int(m.group(1)), int(m.group(2))) for m in (
        re.match(r"^hp: memory: (\d+) KiB free before the app, (\d+) KiB after", l)
        for l in out.lines) if m]
    forks = find(out.lines, r"^hp: /bin/sh exited with status \d+ \(\d+ syscalls, \d+ threads, "
                            r"(\d+) processes forked\)$")
    problems = [
        "" if find(out.lines, r"^hp: running /bin/sh \(normal mode") else "sh did not start",
        same_output(got, want),
        "" if status == want_status else "status %s, the host's %d" % (status, want_status),
        expect_exit(out, want_status),
        "no memory line" if not mem else "%d KiB did not come back" % (mem[0][0] - mem[0][1])
        if mem[0][0] - mem[0][1] > HOSTILE_SLACK_KIB else ""]
    return judge(problems, "%d lines as busybox sh's on this host, status %d, %s processes" % (
        len(got), want_status, forks.group(1) if forks else "?"))


# what nm_tty types, each once a line with the text came (the command that sleeps prints
# "started" from a string the typed line does not hold, so that its echo cannot trigger it;
# the shell, as Linux's, drops the rest of a command line whose foreground job Ctrl-C
# killed, so the status is asked for on a line of its own)
TTY_KEYS = [("Enter 'help' for a list of built-in commands.", b"echo hi $((6*7))\r"),
            ("hi 42", b'read x; echo "got [$x]"\r'),
            ("read x; echo", b"typed words\r"),
            ("got [typed words]", b"sh -c 'echo sta\"\"rted; exec sleep 100'\r"),
            # (the next line waits in the terminal's input while the sleep runs)
            ("started", b"\x03echo \"after $?\"\r"),
            # job control: Ctrl-Z stops the foreground job (the shell says so and takes the
            # terminal back), `jobs` lists it, `fg` continues it in the foreground, where
            # Ctrl-C ends it
            # (the job ticks once a second while it runs: Ctrl-C only once a tick says
            # that `fg` gave it the terminal, else it could reach the shell instead)
            ("after 130", b"sh -c 'echo sto\"\"pme; while :; do sleep 1; echo ti\"\"ck; "
             b"done'\r"),
            ("stopme", b"\x1a"),
            ("Stopped", b"jobs; echo \"jobs $?\"\r"),
            ("jobs 0", b"fg\r"),
            ("tick", b"\x03echo \"fg $?\"\r"),
            # a background job reading the terminal stops (SIGTTIN) until `fg` gives it the
            # terminal
            # (cat: a read at once; busybox's read builtin polls first, as Linux's n_tty
            # lets a background job do without stopping it)
            ("fg 130", b"cat & sleep 1; jobs\r"),
            ("Stopped (tty input)", b"fg\r"),
            ("cat", b"late words\r"),
            ("late words", b"\x04echo \"cat $?\"\r"),
            # ... and one changing the terminal's modes stops (SIGTTOU) until `fg`
            ("cat 0", b"stty -echo & sleep 1; jobs\r"),
            ("Stopped (tty output)", b"fg\r"),
            ("stty -echo", b"stty echo; echo \"stty $?\"\r"),
            ("stty 0", b"exit 6\r")]


def eval_tty(cell, out):
    """nm_tty: each typed line answered, Ctrl-C ended the foreground sleep (status 130 as
    the shell saw it), Ctrl-Z stopped the next (the shell's job table says so twice), `fg`
    continued it and Ctrl-C ended it, a background job's read of the terminal stopped it
    (SIGTTIN) until `fg`, as did one's change of its modes (SIGTTOU), and the shell's exit
    status is the VM's."""
    return judge(["" if find(out.lines, r"^hp: running /bin/sh \(normal mode") else
                  "sh did not start"] +
                 ["" if find(out.lines, rx) else "no line matching %r" % rx
                  for rx in (r"^hi 42\r?$", r"typed words", r"^got \[typed words\]\r?$",
                             r"^after 130\r?$", r"^hp: /bin/sh exited with status 6 ")] +
                 ["" if len([l for l in out.lines if re.match(
                     r"^(/ # \S*)?\[1\]\+\s+Stopped\s+sh -c ", l)]) == 2
                  else "the stopped job not listed twice (at Ctrl-Z, by jobs)"] +
                 ["" if find(out.lines, rx) else "no line matching %r" % rx
                  for rx in (r"^jobs 0\r?$", r"^fg 130\r?$", r"Stopped \(tty input\)",
                             r"^cat 0\r?$", r"Stopped \(tty output\)",
                             r"^(/ # )?stty 0\r?$")] +  # (typed with echo off: not echoed)
                 [expect_exit(out, 6)],
                 "a command, a line read, Ctrl-C to a foreground sleep, Ctrl-Z, jobs, fg, a "
                 "background read and stty stopped (SIGTTIN, SIGTTOU), "
                 "exit: all answered")


def app_file(test):
    if not test.app:
        return None
    if test.batch:
        return batch_tar(test.batch)
    if test.tar == "shell":
        return shell_tar()
    if test.tar:
        return app_tar(test.app)
    return corrupt_app(test.app, test.corrupt) if test.corrupt else os.path.join(APPS, test.app)


def fs_tree():
    """The files of the tar tests: {path: bytes}; the same tree is the Linux run's cwd."""
    blob = b"".join(hashlib.sha256(b"amphi %d" % i).digest() for i in range(3200))  # 100 KiB
    return {"etc/motd": b"Welcome to Amphi.\nThis file came from a tar image.\n",
            "data/blob.bin": blob,
            # a directory the image implies (no entry of its own) and one it lists
            "data/sub/deep.txt": b"deep\n", "etc/empty/": b"",
            # the users a server may switch to (memcached -u), for musl's getpwnam
            "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
            # a script (mode 755, as every *.sh here) whose interpreter is an app (procs)
            "bin/hi.sh": b"#!bin/procs script-arg\necho not reached\n"}


def app_tar(app, extra=None, path=None):
    """build/test_matrix/APP.tar: bin/APP (APP: a name or a list of them), fs_tree() and
    extra ({path: bytes}), in ustar (pax) format."""
    import io
    import tarfile
    apps = [app] if isinstance(app, str) else app
    path = path or os.path.join(BUILD, "test_matrix", "%s.tar" % app)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for d in ("bin", "etc", "data"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        for a in apps:
            t.add(os.path.join(APPS, a), "bin/" + a)
        for name, data in dict(fs_tree(), **(extra or {})).items():
            ti = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
                continue
            ti.size, ti.mode = len(data), 0o755 if name.endswith(".sh") else 0o644
            t.addfile(ti, io.BytesIO(data))
    return path


def named_apps(text):
    """the programs of build/apps that text runs or names as a word /bin/NAME (a program
    an app runs), sorted"""
    return sorted({m.group(1) for m in re.finditer(r"(?:^|\s)/bin/(\S+)", text)
                   if os.path.exists(os.path.join(APPS, m.group(1)))})


def batch_tar(text):
    """build/test_matrix/batch-HASH.tar: the batch file as etc/batch, and bin/NAME of every
    program it names (named_apps; app_tar)"""
    apps = named_apps(text)
    path = os.path.join(BUILD, "test_matrix", "batch-%s.tar" %
                        hashlib.sha256(text.encode()).hexdigest()[:12])
    return app_tar(apps, {"etc/batch": text.encode()}, path)


def fs_dir():
    """fs_tree() written out: the Linux run's working directory."""
    d = os.path.join(BUILD, "test_matrix", "fs")
    for name, data in fs_tree().items():
        os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
        if name.endswith("/"):
            continue
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(d, name), 0o755 if name.endswith(".sh") else 0o644)
    # the programs a tar test's app runs by path (execve) are there on Linux too
    for a in ("procs", "go_exec"):
        dst = os.path.join(d, "bin", a)
        if os.path.exists(os.path.join(APPS, a)):
            shutil.copy(os.path.join(APPS, a), dst)
    return d


def eval_badelf(how):
    def evaluate(cell, out):
        return judge([
            "" if find(out.lines, r"^hp: hello: refused: " + CORRUPTIONS[how]) else
            "no 'hp: hello: refused: %s' line" % CORRUPTIONS[how],
            "" if not find(out.lines, r"^hp: running ") else "the loader ran it",
            expect_exit(out, 1)], "refused (%s), exit 1" % how)
    return evaluate


# The local KVM emulates ring 0 and dies on SSE there (PLATFORM.md); musl's code and
# gcc's use SSE, so an app cannot run in ring 0 on that cell
HP_SKIP = {"kvm": "this KVM (kvm_pvm) emulates guest ring 0 and stops the VM at the app's "
                  "first SSE instruction (PLATFORM.md)"}


def kernel_symbol(name):
    """the address of a symbol of build/amphi.elf (extable: the first instruction of its
    exception table, a copy helper's)"""
    elf = os.path.join(BUILD, "amphi.elf")
    if name == "extable":  # the first entry's instruction: a quad at __extable_start
        at = kernel_symbol("__extable_start")
        dump = subprocess.run(["objdump", "-s", "--start-address=%#x" % at,
                               "--stop-address=%#x" % (at + 8), elf],
                              capture_output=True, text=True, check=True).stdout
        words = re.search(r"^ [0-9a-f]+ ([0-9a-f]{8}) ([0-9a-f]{8})", dump, re.M).groups()
        return int.from_bytes(bytes.fromhex("".join(words)), "little")
    out = subprocess.run(["nm", elf], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"^([0-9a-f]+) \w %s$" % re.escape(name), out, re.M)
    if not m:
        raise SystemExit("run.py: no symbol %s in build/amphi.elf" % name)
    return int(m.group(1), 16)


def eval_hostile(status, *required, memory=False):
    """An attack from a normal-mode app (apps/hostile.c): it ended with `status` (139: its
    death by SIGSEGV), printed the required lines, never what says an attack worked, and the
    kernel lived on to report it and shut down cleanly. memory: what the app held all came
    back (the kernel's free memory before and after the app, within a few pages)."""
    def evaluate(cell, out):
        got, got_status = app_output(out.lines, "hostile")
        problems = [
            "" if got_status == status else "app status %s, expected %d" % (got_status, status),
            expect_exit(out, status if status <= 127 else 1),
        ] + ["" if find(out.lines, rx) else "no line matching %r" % rx for rx in required]
        problems += ["the attack worked: " + l for l in got
                     if re.search(r"ESCAPED|SURVIVED|ACCEPTED", l)]
        mem = find(out.lines, r"^hp: memory: (\d+) KiB free before the app, (\d+) KiB after")
        if memory and not mem:
            problems.append("no memory line")
        elif memory and int(mem.group(1)) - int(mem.group(2)) > HOSTILE_SLACK_KIB:
            problems.append("%d KiB did not come back after the app" %
                            (int(mem.group(1)) - int(mem.group(2))))
        return judge(problems, "status %d%s" % (status, "; memory %s KiB free before, %s after"
                                                % mem.groups() if mem else ""))
    return evaluate


def eval_reclaim(cell, out):
    """nm_reclaim: the kept pages were let go (said once) before the filling child was
    killed for want of memory, procs ended well, and its memory all came back."""
    got, status = app_output(out.lines, "/bin/procs")
    got = [l for l in got if not l.startswith("mm: no memory for an app page")]
    let_go = [i for i, l in enumerate(out.lines)
              if re.match(r"^hp: files: memory short: [1-9]\d* KiB of programs' pages let go", l)]
    killed = [i for i, l in enumerate(out.lines)
              if re.match(r"^hp: /bin/procs killed by SIGKILL: out of memory", l)]
    mem = find(out.lines, r"^hp: memory: (\d+) KiB free before the app, (\d+) KiB after")
    problems = [
        "" if got == ["reclaim: a child running this program exited 0",
                      "reclaim: a child filling memory killed by signal 9"]
        else "procs printed %r" % got,
        "" if status == 0 else "status %s" % status,
        expect_exit(out, 0),
        "" if len(let_go) == 1 else "the kept pages let go %d times, not once" % len(let_go),
        "" if let_go and killed and let_go[0] < killed[0]
        else "no kill after the kept pages went",
        "no memory line" if not mem else
        "%d KiB did not come back" % (int(mem.group(1)) - int(mem.group(2)))
        if int(mem.group(1)) - int(mem.group(2)) > HOSTILE_SLACK_KIB else "",
    ]
    return judge(problems, "kept pages let go, then the child killed; memory %s KiB free "
                 "before, %s after" % (mem.groups() if mem else ("?", "?")))


# what may stay allocated after an app: a few pages (heap pages the kernel keeps; on Xen PV
# also the app's user root and the level-3 tables it links)
HOSTILE_SLACK_KIB = 24


def slow_on_kvm(what):
    """skip= for a test that takes too long on the local KVM cell (a smoke cell: the
    QEMU cells run it under TCG)"""
    return {"kvm": "the local KVM emulates ring 0 (~1 us an instruction): %s take minutes "
                   "there" % what}


SLOW_ON_KVM = slow_on_kvm("exhausting the guest's memory or 200 rounds of thread races")
# unixio's 80,000 polls and 4,000 descriptors (measured: past 5 minutes)
SLOW_UNIXIO = slow_on_kvm("unixio's 80,000 polls and 4,000 descriptors")


def hostile_test(name, args, status, *required, net=False, memory=False, skip=None, cpu=""):
    """nm_attack_*: apps/hostile.c in normal mode"""
    ev = eval_hostile(status, *required, memory=memory)
    t = Test(name, "ip=%s/24" % GUEST_IP if net else "", ev, app="hostile", app_args=args,
             mode="normal", timeout={"qemu": 120, "xen": 150}, virtio="net" if net else "",
             host="ping", rig="ping" if net else "", skip=skip, cpu=cpu)
    ev.test = t
    return t


KILLED = r"^hp: hostile killed by SIGSEGV: "


def sized(cell, test):
    """The cell as `test` runs on it: with the test's vCPU count, where it sets one."""
    return dataclasses.replace(cell, vcpus=test.vcpus) if test.vcpus else cell


def app_test(name, app, args, *required, timeout=None, net="", kvm_args=None, mode="hp",
             tar="", skip=None, note=None, cmdline="", vcpus=0, kinds=("qemu", "xen"),
             mem_mib=0, memory=False):
    """An app test (HP mode, or normal: ring 3). net="udp" or "http": with a NIC, and that
    client on the other side (the host's network namespace, or dom0) once the app says it
    is ready. kvm_args: smaller work where the local KVM emulates the kernel's ring 0."""
    ev = eval_app(app, *required, note=note, memory=memory)
    t = Test(name, " ".join(w for w in ("ip=%s/24" % GUEST_IP if net else "", cmdline) if w),
             ev, app=app, app_args=args, vcpus=vcpus, kinds=kinds,
             app_args_by={"kvm": kvm_args} if kvm_args is not None else {}, mode=mode,
             skip=skip or (HP_SKIP if mode == "hp" else None), timeout=timeout,
             virtio="net" if net else "blk" if tar == "disk" else "", host=net or "ping",
             rig="client" if net in ("httpload", "memcache", "httpmany", "tcpbulk") else net,
             tar=tar,
             mem_mib=mem_mib,
             # httpload (in dom0 through the rig's client option): PORT REQUESTS of go_http,
             # 4 connections each asking a quarter of half the requests twice (netclient.c);
             # memcache: once the app runs (the client waits for its port)
             host_args="http server on\n" + " ".join(httpload_args(GUEST_IP, args))
             if net == "httpload" else
             "http server on\n" + " ".join(httpmany_args(GUEST_IP, args))
             if net == "httpmany" else
             "tcp bulk ready\n" + " ".join(tcpbulk_args(GUEST_IP, args))
             if net == "tcpbulk" else
             "hp: running /bin/%s\n" % app + " ".join(memcache_args(GUEST_IP, args))
             if net == "memcache" else "")
    ev.test = t
    return t


@dataclasses.dataclass
class Test:
    name: str
    cmdline: str
    evaluate: object
    kinds: tuple = ("qemu", "xen")
    corrupt_start_info: bool = False
    stop_console: bool = False  # Xen: freeze xenconsoled while the guest runs
    rig: str = ""  # Xen: what dom0 does for it (dom0-init.sh options: ping, reconnect, disk,
    # blkreconnect, vif, udp, vifshow, ...)
    # seconds per cell platform or kind (the platform first), overriding the cell's
    timeout: dict = None
    mem_mib: int = 0  # guest RAM, overriding the cell's
    # QEMU: a virtio device for it ("net": on a tap in a network namespace the runner
    # makes, pinged from there; "blk": a raw image with the host's pattern, checked after)
    virtio: str = ""
    # "": modern-only PCI (disable-legacy=on) or virtio-mmio v2; "transitional": a
    # transitional PCI device, driven through its modern interface (PCI cells only);
    # "legacy": a transitional PCI device driven through its legacy interface
    # (virtio_pci=legacy), or virtio-mmio v1
    variant: str = ""
    # QEMU, with virtio="net": what the namespace side runs once the guest is ready
    # ("ping": 100 pings after "net: ready"; "udp": netclient udp after "net: udp echo
    # ready")
    host: str = "ping"
    # more command line on one platform (the local KVM emulates ring 0: smaller loads)
    extra: dict = None
    # an HP-mode app from build/apps/ as the boot module (QEMU -initrd, xl ramdisk=);
    # `corrupt` breaks a copy of it first (see corrupt_app)
    app: str = ""
    corrupt: str = ""
    # platform -> why this test cannot run there (a visible SKIP)
    skip: dict = None
    # the app's words after " -- " (environment, arguments), per platform where they
    # differ, and its mode ("hp" or "normal")
    app_args: str = ""
    app_args_by: dict = None
    mode: str = "hp"
    # the app comes from a tar image (app_tar) as /bin/NAME: "disk" (the first disk) or
    # "module" (the boot module)
    tar: str = ""
    # QEMU TCG cells: the CPU model (e.g. "max": SMEP and SMAP), instead of QEMU's default
    cpu: str = ""
    # QEMU: the machine's own firmware (q35: SeaBIOS), not the cell's -bios
    firmware: bool = False
    # not in `make test`: run only when named (--tests), e.g. make rig-crashloop
    manual: bool = False
    # the host's client's arguments after the guest's address, where the test sets them
    # (host="soak": make soak, test_matrix/soak.py; on Xen dom0 reads them from a file)
    host_args: str = ""
    # vCPUs, overriding the cell's (sized: the cell as this test runs it)
    vcpus: int = 0
    # Xen: another guest kernel and ramdisk instead of amphi.elf and the app (make bench's
    # Linux domU): names of files run_rig's `files` stages in dom0's /amphi
    xl_kernel: str = ""
    xl_ramdisk: str = ""
    # Xen: a ready xl config (a host path; amphi image's) booted as it is written, its
    # kernel and ramdisk staged in dom0 at their own paths; the rig adds its vCPU placement
    xl_cfg: str = ""
    # a batch file's text: the kernel runs the programs it names (batch=/etc/batch) from a
    # tar image that holds it and them (batch_tar), as the boot module
    batch: str = ""
    # the console's input: [(text, keys)], in order: once a console line holds text (a line
    # after the one that set off the key before), the runner types keys (bytes) into the
    # guest's console (QEMU: its serial port; Xen: dom0 into the console's pty)
    keys: list = None

    def udp_count(self, cell):
        """datagrams the udp client sends: an app's COUNT argument, udp_count=, or 10,000"""
        words = self.app_words_for(cell).split()
        if self.app and len(words) > 1:
            return int(words[1])
        m = re.search(r"\budp_count=(\d+)", self.cmdline_for(cell))
        return int(m.group(1)) if m else 10000

    def app_words_for(self, cell):
        words = (self.app_args_by or {}).get(cell.platform, self.app_args)
        # {sym:NAME}: the address of one of the kernel's symbols (the hostile tests')
        return re.sub(r"\{sym:(\w+)\}", lambda m: "%#x" % kernel_symbol(m.group(1)), words)

    def cmdline_for(self, cell):
        words = [self.cmdline, (self.extra or {}).get(cell.platform, ""), cell.cmdline]
        if self.app and self.batch:
            words += ["mode=normal" if self.mode == "normal" else "", "batch=/etc/batch"]
        elif self.app and not self.corrupt:  # (a corrupt app's test names it in cmdline)
            words += ["mode=normal" if self.mode == "normal" else "",
                      "app=" + ("/bin/" if self.tar else "") + self.app]
            if self.app_words_for(cell):
                words += ["--", self.app_words_for(cell)]
        return " ".join(x for x in words if x)

    def applies(self, cell):
        if cell.kind not in self.kinds:
            return False
        return self.variant != "transitional" or cell.pci

    def skip_reason(self, cell):
        return (self.skip or {}).get(cell.platform)

    def limit(self, cell):
        t = self.timeout or {}
        return t.get(cell.platform) or t.get(cell.kind) or cell.timeout

    def mem(self, cell):
        return self.mem_mib or cell.mem_mib


TESTS = [
    Test("boot", "test=boot", eval_boot),
    Test("fault", "test=fault", eval_fault),
    Test("exitcode", "test=exitcode exit=%d" % EXIT_CODE, eval_exitcode),
    # QEMU only: a debugger overwrites the PVH magic before the first instruction runs. Under
    # xl the start info is built inside Xen, out of the runner's reach.
    Test("badboot", "test=boot", eval_badboot, kinds=("qemu",), corrupt_start_info=True),
    # QEMU's own firmware instead of qboot (q35: SeaBIOS, whose PVH loader puts the memory
    # map in page 0, which the boot page tables once left out: "PVH memory map at 0x5a8 is
    # not readable"), as a user's plain qemu-system-x86_64 -kernel amphi.elf boots it
    Test("boot_default_firmware", "test=boot", eval_boot, kinds=("qemu",), firmware=True),
    # the guest spins for ever; the runner must cut it off (xl: after create, ~1.5 s)
    Test("hang", "test=hang", eval_hang, timeout={"qemu": 3, "xen": 6}),
    # Xen only: 56 KB into a 2 KiB ring whose consumer is frozen for 5 s: no hang, the loss
    # reported once the consumer is back
    Test("console_stuck", "test=flood", eval_console_stuck, kinds=("xen",), stop_console=True),
    # memory: everything with 32 MiB of guest RAM, as small as the platforms go
    Test("mm", "test=mm", eval_mm, mem_mib=32),
    Test("mm_wx", "test=mm_wx", eval_mm_wx, mem_mib=32),
    Test("mm_badfree", "test=mm_badfree", eval_mm_badfree, mem_mib=32),
    # SMEP and SMAP: on where the CPU has them (QEMU's -cpu max does), and then a user page
    # is neither read nor run by the kernel outside the copy helpers
    Test("smap", "test=smap", eval_guest_pass("smap")),
    Test("smap_max", "test=smap", eval_guest_pass("smap", r"^TEST smap PASS smap=on smep=on$"),
         kinds=("qemu",), cpu="max",
         skip={"kvm": "-cpu max is TCG's; the local KVM cell runs test=smap with -cpu host"}),
    # time, timers, threads and SMP, with two vCPUs everywhere
    Test("clock", "test=clock", eval_guest_pass("clock")),
    Test("timer", "test=timer", eval_guest_pass("timer")),
    # (the local KVM, a smoke cell: 10% of the round trips and items. At full size it
    # failed there 1 time in 4 full runs with a run-queue stub read as 0xff00...00: a torn
    # 8-byte access of that host's emulated ring 0, never seen under TCG or Xen; see
    # sched/README.md)
    Test("sched", "test=sched", eval_guest_pass(
        "sched", r"^sched cpu0: \d+ switches, .* IPIs sent, .* halts",
        r"^sched cpu1: \d+ switches", r"^interrupts: "), timeout={"xen": 240},
        extra={"kvm": "sched_scale=10"}),
    # ... and a cpu1 that takes no thread (interrupts off for 2.5 s) is reported as stuck
    Test("smp", "test=smp", eval_guest_pass("smp", r"^smp: cpu1 reported in",
                                            r"^sched: cpu1 is stuck: threads woken for it \d+ ms ago")),
    # balancing: busy threads created from one thread spread evenly (n, n+1, 4n of them);
    # 2n let go from cpu0 are taken by the other CPUs (asked for, or given at slice ends);
    # a thread that pins itself stays there and its CPU time is at most its wall time
    Test("balance", "test=balance", eval_guest_pass(
        "balance", r"^sched cpu0: \d+ switches, .*; load \d+, \d+ steals \(\d+ asks\)",
        r"^sched cpu1: \d+ switches, .*, \d+ pushed, \d+ moved at wake, \d+ ms idle, \d+ hypervisor yields$")),
    # device interrupts through hal->irq_bind: the RTC on ISA IRQ 8 via the I/O APIC (PCs),
    # MSI from edu (q35), a looped-back event channel (Xen)
    Test("irq", "test=irq", eval_guest_pass("irq")),
    # Xen: xenstore round trips, watches, a conflicting transaction retried
    Test("xenstore", "test=xenstore", eval_guest_pass("xenstore"), kinds=("xen",)),
    # devices: an ARP/ICMP responder over struct netdev that dom0 pings 100 times; the same
    # with the vif detached and re-attached halfway; a disk pattern both sides check
    Test("net_raw", "test=net_raw", eval_device("net_raw", PING_OK % (100, 100)),
         rig="ping", virtio="net", timeout={"xen": 150}),
    Test("reconnect", "test=reconnect", eval_reconnect, kinds=("xen",), rig="reconnect",
         timeout={"xen": 180}),
    # netback takes none of the guest's transmissions for 3 s (its vif down in dom0): the
    # driver reports the stall, notifies it again each second and sees it end
    Test("tx_stall", "test=tx_stall", eval_device(
        "tx_stall", r"^dom0: vif vif\d+\.0 down rc=0", r"^dom0: vif vif\d+\.0 up rc=0",
        r"^xnet0: the backend answered none of \d+ transmit requests for \d+ ms",
        r"^xnet0: the backend answers transmit requests again, after \d+ ms",
        r"^net: phase 2: \d+ frames sent, 0 refused",
        r"^dom0: ping: 20 packets transmitted, 20 packets received"),
        kinds=("xen",), rig="txpause", timeout={"xen": 180}),
    # netfront makes its own transmit ring lie (a response index past its requests): it
    # counts and reports the lie, stops, tells the backend (its state Closing) and lets go
    # once the backend closed; the kernel shuts down cleanly
    Test("net_lie", "test=net_lie", eval_guest_pass(
        "net_lie", r"^netfront: xnet0: tx response index \d+ is past our requests",
        r"^xnet0: told \S+ we closed the device \(0\)$", r"^xnet0: disconnected from "),
        kinds=("xen",), rig="vif", timeout={"xen": 120}),
    Test("blk", "test=blk", eval_device("blk", r"^(dom0|host): disk: guest pattern OK"),
         rig="disk", virtio="blk", timeout={"xen": 150}),
    # the disk detached and attached again while requests are in flight: they fail with
    # -ENODEV, none hangs, I/O works again (the guest's pattern is written afterwards)
    Test("blk_reconnect", "test=blk_reconnect", eval_guest_pass(
        "blk_reconnect", r"^dom0: block-detach rc=0", r"^dom0: block-attach rc=0",
        r"^dom0: disk: guest pattern OK", r"^blk: reconnected after"),
        kinds=("xen",), rig="disk,blkreconnect", timeout={"xen": 180}),
    # blkfront makes its own ring lie (a response index past its requests): it reports the
    # lie, refuses new requests, tells the backend (Closing) and does not connect again
    Test("blk_lie", "test=blk_lie", eval_guest_pass(
        "blk_lie", r"^blkfront: xblk0: response index \d+ is not within our requests"),
        kinds=("xen",), rig="disk", timeout={"xen": 120}),
    # the network stack (lwIP over net channels): 10,000 datagrams of 200 bytes echoed
    # (2,000 on the local KVM: its emulated ring 0 echoes ~40 a second, so 10,000 took
    # 200 of the client's 240 s and failed when the host was busy)
    Test("udp_echo", "test=udp_echo ip=10.0.9.2/24", eval_device(
        "udp_echo", UDP_ECHOED + ", 0 bad",
        r"^(host|dom0): udp: (10000|2000) of ", BIG_ECHOED),
        virtio="net", host="udp", rig="udp", timeout={"qemu": 300, "xen": 300},
        extra={"kvm": "udp_count=2000"}),
    # netfront's queue pairs (xen/io/netif.h): by default one per vCPU (2 here; dom0's
    # netback offers 4) with split event channels. The client's fixed source port sends the
    # guest's two reply flows (from ports 7 and 9) out on one transmit queue each; dom0
    # shows the vif's xenstore keys and netback's rings of each queue. Then the same with
    # one queue and one event channel (xnet_queues=1 xnet_split=0), the layout of a backend
    # without either feature, and no large transmit (xnet_tso=0: the connected line says
    # none). net_queues' connected line says large transmit, the default.
    Test("net_queues", "test=udp_echo ip=10.0.9.2/24", eval_device(
        "udp_echo", r"^dom0: udp: 10000 of 10000 datagrams of 200 bytes echoed intact",
        r"^xnet0: connected to .*: 2 queues, split event channels, large transmit \(gso-tcpv4\)$",
        r'^dom0: diag: /local/domain/\d+/device/vif/0/multi-queue-num-queues = "2"',
        r'^dom0: diag: /local/domain/\d+/device/vif/0/queue-1/event-channel-rx = "\d+"',
        r'^dom0: diag: /local/domain/0/backend/vif/\d+/0/multi-queue-max-queues = "4"',
        r"^dom0: diag: netback vif\d+\.0 io_ring_q1:",
        r"^net: xnet0: queue 0: [^;]+; [^;]+; [1-9]\d* out, \d+ in, [1-9]\d* events; "
        r"queue 1: [^;]+; [^;]+; [1-9]\d* out, \d+ in, [1-9]\d* events; 0 transmit stalls"),
        kinds=("xen",), rig="udp,vifshow", timeout={"xen": 300}),
    Test("net_queues_shared", "test=udp_echo ip=10.0.9.2/24 xnet_queues=1 xnet_split=0 xnet_tso=0",
         eval_device(
        "udp_echo", r"^dom0: udp: 10000 of 10000 datagrams of 200 bytes echoed intact",
        r"^xnet0: connected to .*: 1 queue, shared event channel$",
        r'^dom0: diag: /local/domain/\d+/device/vif/0/event-channel = "\d+"',
        r'^dom0: diag: /local/domain/\d+/device/vif/0/multi-queue-num-queues = "1"',
        r"^net: xnet0: queue 0: [^;]+; [^;]+; [1-9]\d* out, [1-9]\d* in, [1-9]\d* events; "
        r"0 transmit stalls"),
        kinds=("xen",), rig="udp,vifshow", timeout={"xen": 300}),
    # make rig-crashloop: the rig's dom0 fault rate (test_matrix/README.md), measured
    Test("rig_crashloop", "test=udp_echo ip=10.0.9.2/24 udp_count=%d crashloop_progs=%d" % (
        int(os.environ.get("CRASHLOOP_DGRAMS", "1000000")),
        int(os.environ.get("CRASHLOOP_PROGS", "5000"))), eval_crashloop, kinds=("xen",),
        rig="crashloop", timeout={"xen": 2400}, manual=True),
    # 10 concurrent TCP connections, 8 MiB each way, checked byte by byte and by sum; the
    # host's (dom0's) 64 KiB segments arrive whole in several buffers (virtio's
    # GUEST_TSO4, netfront's feature-gso-tcpv4), and what the guest sends goes out
    # gathered for the device or backend to cut (virtio's HOST_TSO4, netfront's slots
    # with a GSO extra-info, when the backend offers feature-gso-tcpv4). The local KVM's
    # guest takes ~50 ms a frame: the host sends it only what its receive window opened
    # since its last read, never more than a receive buffer at once (no large frames)
    Test("tcp", "test=tcp ip=10.0.9.2/24", eval_device(
        "tcp", r"^(host|dom0): tcp: 10 of 10 connections moved \d+ KiB each way intact",
        r"^net: [1-9]\d* TCP segments gathered into larger ones the device cuts",
        # (lwIP's hook for them is called: its own numbers are the same in every boot)
        r"^net: (1\d|[2-9]\d|\d{3,}) TCP connections began at unpredictable sequence "
        r"numbers \(RFC 6528\)$",
        xen=(r"^xnet0: connected to .*, large transmit \(gso-tcpv4\)$",),
        fast=(r"^net: [1-9]\d* large frames in \(the device's segments received whole\), "
              r"0 refused",)),
        virtio="net", host="tcp", rig="tcp", timeout={"qemu": 300, "xen": 400},
        extra={"kvm": "tcp_kib=256"}),
    # the guest takes a DHCP lease (busybox udhcpd on the host's side offers 10.0.9.2 only),
    # then its default HTTP server answers curl three times
    Test("http", "test=http ip=dhcp", eval_device(
        "http", r"^net: DHCP lease 10\.0\.9\.2 on ",
        r"^(host|dom0): http: Amphi 0\.1 on (qemu|kvm|xen-pv|xen-pvh): up "),
        virtio="net", host="http", rig="dhcp,http", timeout={"qemu": 120, "xen": 150}),
    # broken frames of 17 kinds between valid datagrams: dropped and counted, no crash
    Test("malformed", "test=malformed ip=10.0.9.2/24", eval_device(
        "malformed", r"^(host|dom0): malformed: \d+ broken frames of \d+ kinds sent; 100 of 100 valid"),
        virtio="net", host="malformed", rig="malformed", timeout={"qemu": 180, "xen": 200}),
    # the same over the other virtio interfaces (QEMU): transitional PCI devices through
    # their modern and their legacy interface; virtio-mmio v1 on microvm
    Test("net_raw_transitional", "test=net_raw", eval_device("net_raw", PING_OK % (100, 100)),
         kinds=("qemu",), virtio="net", variant="transitional"),
    Test("blk_transitional", "test=blk", eval_device("blk", r"^host: disk: guest pattern OK"),
         kinds=("qemu",), virtio="blk", variant="transitional"),
    Test("net_raw_legacy", "test=net_raw", eval_device("net_raw", PING_OK % (100, 100)),
         kinds=("qemu",), virtio="net", variant="legacy"),
    Test("blk_legacy", "test=blk", eval_device("blk", r"^host: disk: guest pattern OK"),
         kinds=("qemu",), virtio="blk", variant="legacy"),
]

# HP mode: static musl apps from a boot module, their output the same as on this host
# The apps, in HP mode (ring 0; hp_*) and in normal mode (ring 3; nm_*): each prints what
# the same binary prints on this host, bench: lines aside
def eval_console_times(*required):
    """hello with `console_times`: every kernel line from the banner on starts with the time
    since boot ("[    0.036123] "), rising, the loader's `up N ms` the same time to a
    millisecond, and none of the app's own lines has one; without the times, the run is
    judged as eval_app judges it (the app's output the same as on this host)"""
    inner = eval_app("hello", *required)
    stamp = re.compile(r"^\[\s*(\d+)\.(\d{6})\] ")

    def evaluate(cell, out):
        inner.test = evaluate.test
        plain, times, problems, app = [], [], [], False
        for line in out.lines:
            m = stamp.match(line)
            if m:
                times.append((int(m.group(1)) * 1000000 + int(m.group(2)), line[m.end():]))
                line = line[m.end():]
            elif line.startswith("Amphi ") or (times and not app and line.strip()):
                problems.append("a kernel line without its time: %r" % line[:80])
            if line.startswith("hp: running "):
                app = True
            elif line.startswith("hp: ") and " exited with status " in line:
                app = False
            plain.append(line)
        verdict = inner(cell, dataclasses.replace(out, lines=plain))
        if verdict.status != "PASS":
            problems.append(verdict.detail)
        if not times or not times[0][1].startswith("Amphi "):
            problems.append("the banner has no time")
        if any(b[0] < a[0] for a, b in zip(times, times[1:])):
            problems.append("the times go back")
        up = [(us, re.search(r", up (\d+) ms;", l)) for us, l in times
              if l.startswith("hp: running ")]
        if not up or not up[0][1] or abs(up[0][0] / 1000 - int(up[0][1].group(1))) > 2:
            problems.append("the app's start: %s" % (
                "no `up N ms`" if not up or not up[0][1] else "up %s ms at %.3f ms" % (
                    up[0][1].group(1), up[0][0] / 1000)))
        return judge(problems, "%d kernel lines with their times; the app started at %s" % (
            len(times), "%.1f ms" % (up[0][0] / 1000) if up else "?"))
    return evaluate


def console_times_test(name):
    t = app_test(name, "hello", "GREETING=hi one two", cmdline="console_times")
    t.evaluate = eval_console_times()
    t.evaluate.test = t
    return t


def vdso_test(name, mode):
    t = app_test(name, "vdso", "", r"^vdso: \d+ checks, 0 failed$", mode=mode)
    t.evaluate = eval_vdso(r"^vdso: \d+ checks, 0 failed$")
    t.evaluate.test = t
    return t


# batch=: programs one after another in one boot, each one's threads, descriptors and
# memory back before the next (a kernel's teardown of an app, run after run): threads that
# never end by themselves, a program that is not there, pipes and epoll, lazy mappings,
# one killed by a fault, then hello again with other words
BATCH = """# the matrix's batch test (test_matrix/run.py)
/bin/hello GREETING=one first

/bin/exit_threads
/bin/nothere
/bin/unixio
/bin/lazymem
/bin/fault write 0xffffffff80100000
\t/bin/hello   GREETING=two -- second=2
"""
# (program, status; None: it could not run)
BATCH_RUNS = [("/bin/hello", 3), ("/bin/exit_threads", 5), ("/bin/nothere", None),
              ("/bin/unixio", 0), ("/bin/lazymem", 0), ("/bin/fault", 139), ("/bin/hello", 3)]


def eval_batch(mode):
    def evaluate(cell, out):
        lines = out.lines
        ran = [m.group(1) for m in (re.match(r"^hp: running (\S+) \(%s mode" % mode, l)
                                    for l in lines) if m]
        want = [p for p, st in BATCH_RUNS if st is not None]
        ended = [(m.group(1), int(m.group(2))) for m in (
            re.match(r"^hp: (\S+) exited with status (\d+) ", l) for l in lines) if m]
        mem = [(int(m.group(1)), int(m.group(2))) for m in (
            re.match(r"^hp: memory: (\d+) KiB free before the app, (\d+) KiB after", l)
            for l in lines) if m]
        leaks = [b - a for b, a in mem if b - a > HOSTILE_SLACK_KIB]
        bad = [(p, st) for p, st in BATCH_RUNS if st != 0]
        first = next(i for i, (p, st) in enumerate(BATCH_RUNS) if st != 0)
        problems = [
            "" if ran == want else "ran %s in %s mode, expected %s" % (ran, mode, want),
            "" if ended == [(p, st) for p, st in BATCH_RUNS if st is not None]
            else "ended %s" % ended,
            "" if len(mem) == len(want) else "%d memory lines for %d programs" % (
                len(mem), len(want)),
            "" if not leaks else "a program's memory did not all come back: %s KiB" % leaks,
            # run after run: nothing piles up (the first's before, the last's after)
            "" if mem and mem[0][0] - mem[-1][1] <= HOSTILE_SLACK_KIB else
            "the batch kept %s KiB" % (mem[0][0] - mem[-1][1] if mem else "?"),
            expect_exit(out, BATCH_RUNS[first][1]),
        ] + ["" if find(lines, rx) else "no line matching %r" % rx for rx in (
            r"^GREETING=one$", r"^argv\[1\]=first$", r"^GREETING=two$", r"^argv\[1\]=second=2$",
            r"^hp: /bin/nothere: not found in the tar image$",
            r"^unixio: \d+ checks, 0 failed$", r"^lazymem: \d+ checks, 0 failed$",
            r"^hp: /bin/fault killed by SIGSEGV: page fault",
            r"^hp: batch=/etc/batch: %d programs ran, %d did not end with status 0 \(the "
            r"first: program %d, status %d\)$" % (len(BATCH_RUNS), len(bad), first + 1,
                                                  BATCH_RUNS[first][1]))]
        return judge(problems, "%d programs, memory free before each and after: %s" % (
            len(ran), " ".join("%d/%d" % m for m in mem)))
    return evaluate


# The console's Ctrl-C is SIGINT to the running program, as a terminal's is to its
# foreground job: memcached (Debian's source, unchanged) takes it with its handler and
# ends with status 0; Go's runtime takes it, then dies of it as Linux's does (SIG_DFL and
# raise again: killed by SIGINT, 130); http_hello has no handler (the default action);
# the batch goes on each time, and hello still runs last
CTRLC = """/bin/memcached -A -u root -p 11211 -U 11211 -m 64 -t 2 -vv
/bin/go_http 8080 0
/bin/http_hello 80 0
/bin/hello GREETING=after
"""
CTRLC_KEYS = [("server listening", b"\x03"), ("go_http: http server on port 8080", b"\x03"),
              ("http_hello: http server on port 80", b"\x03")]
CTRLC_RUNS = [("/bin/memcached", 0), ("/bin/go_http", 130), ("/bin/http_hello", 130),
              ("/bin/hello", 3)]


def eval_ctrlc(mode):
    def evaluate(cell, out):
        lines = out.lines
        ran = [m.group(1) for m in (re.match(r"^hp: running (\S+) \(%s mode" % mode, l)
                                    for l in lines) if m]
        ended = [(m.group(1), int(m.group(2))) for m in (
            re.match(r"^hp: (\S+) exited with status (\d+) ", l) for l in lines) if m]
        problems = [
            "" if ran == [p for p, _ in CTRLC_RUNS] else "ran %s in %s mode" % (ran, mode),
            "" if ended == CTRLC_RUNS else "ended %s, expected %s" % (ended, CTRLC_RUNS),
            expect_exit(out, 1),  # (the first status that is not 0, 130, is out of range)
        ] + ["" if find(lines, rx) else "no line matching %r" % rx for rx in (
            r"^Exiting normally$",
            r"^hp: /bin/go_http killed by SIGINT: the signal's default action",
            r"^hp: /bin/http_hello killed by SIGINT: the signal's default action",
            r"^GREETING=after$")]
        return judge(problems, "%d programs, each Ctrl-C ended the one running" % len(ran))
    return evaluate


def app_tests(p, mode):
    return [
        Test(p + "ctrlc", "ip=%s/24" % GUEST_IP, eval_ctrlc(mode), app="hello", batch=CTRLC,
             tar="module", keys=CTRLC_KEYS, virtio="net", host="none", rig="vif",
             mode=mode, skip=HP_SKIP if mode == "hp" else None, mem_mib=256,
             timeout={"qemu": 60, "xen": 240}),
        Test(p + "batch", "", eval_batch(mode), app="hello", batch=BATCH, tar="module",
             mode=mode, skip=HP_SKIP if mode == "hp" else SLOW_UNIXIO,
             timeout={"qemu": 120, "xen": 180}),
        app_test(p + "hello", "hello", "GREETING=hi one two",
                 r"^hp: hello: system call 500 is not implemented \(-ENOSYS\)$",
                 r"^hp: hello: system call 100000 does not exist \(-ENOSYS\)$", mode=mode),
        # the same with the kernel's lines timed (console_times: Xen's log has no times)
        *([console_times_test(p + "console_times")] if mode == "hp" else []),
        # the same as a static-PIE: placed at 16 MiB, relocating itself
        app_test(p + "pie", "hello_pie", "GREETING=hi one two",
                 r"^hp: running hello_pie \(\w+ mode, entry 0x10[0-9a-f]{5},", r"^hello, world$",
                 mode=mode),
        app_test(p + "syscall", "syscall_bench", "200000", r"^bench: \d+ syscalls/s",
                 kvm_args="5000", mode=mode),
        # processes (normal mode): fork, wait4, execve, pipes and signals between them, an
        # orphan, 64 children at once (HP mode: fork refused, with the reason); exec maps
        # a program's read-only pages from its file (and copies the rest)
        *([app_test(p + "procs", "procs", "64",
                    r"^hp: /bin/procs exited with status 0 \(\d+ syscalls, \d+ threads, \d+ "
                    r"processes forked\)$",
                    r"^hp: memory: .*; program pages: [1-9]\d* mapped from their files, "
                    r"[1-9]\d* copied$", tar="module", mem_mib=128, memory=True,
                    timeout={"qemu": 60, "xen": 180}, mode=mode,
                    skip=slow_on_kvm("its 170 processes (a fork and exec: 0.4 s)")),
            # Go's os/exec (clone with CLONE_VM | CLONE_VFORK, a close-on-exec pipe for
            # exec's errors, waitid): a child's output, its exit status, its standard
            # input fed, a missing program, 20 children in a row
            app_test(p + "go_exec", "go_exec", "", r"^go_exec: 0 checks failed$",
                     tar="module", mem_mib=128, memory=True,
                     timeout={"qemu": 90, "xen": 240}, mode=mode)]
          if mode == "normal" else []),
        # threads (clone, futex): POSIX semaphores, and a condition-variable ping-pong
        app_test(p + "sem", "sem_ipc", "100000",
                 r"^hp: sem_ipc exited with status 0 \(\d+ syscalls, 2 threads\)",
                 kvm_args="2000", mode=mode),
        app_test(p + "ctxsw", "ctxsw", "20000",
                 r"^hp: ctxsw exited with status 0 \(\d+ syscalls, 2 threads\)",
                 kvm_args="500", mode=mode),
        # a byte each way through two pipes, the threads pinned to two CPUs: a waiter's
        # stack semaphore woken and timed out on every round (this crashed the kernel in
        # 1 of 3 runs before sched/sync.c's drain let go of its token with a full barrier)
        app_test(p + "pipes", "pingpong", "20000 apart",
                 r"^hp: pingpong exited with status 0 \(\d+ syscalls, 2 threads\)",
                 kvm_args="500 apart", mode=mode),
        # 4 threads on the 2 vCPUs keep their vector registers (xmm: Amphi saves them with
        # fxsave and leaves AVX off) across yields, sleeps and preemption; on Xen also
        # across the hypervisor's FPU switch (which lost a Linux guest's ymm values under
        # TCG until the rig's Xen switched eagerly: README.md, "The rig's Xen")
        app_test(p + "vecregs", "vecregs", "2000 4",
                 r"^bench: vecregs: the [xy]mm \(\w+\) registers: 0 of \d+ rounds lost",
                 kvm_args="100 4", timeout={"qemu": 90, "xen": 240}, mode=mode),
        # threads on every vCPU (sched/README.md). Judged: what the threads did and where
        # they ran (the spread of busy threads, a pinned one that stays, producer and
        # consumer apart); printed only: how long it took (timing is for make bench)
        # the same work on one thread per vCPU, against one thread alone (the ratio)
        # (the local KVM: 10 times the work, as its emulated kernel takes ~100 ms to make
        # or wake a thread, which must stay small beside the work)
        app_test(p + "par", "par", "30000000",
                 r"^bench: par: a quarter into their work the threads ran on {vcpus} of {vcpus} CPUs$",
                 timeout={"qemu": 60, "xen": 120}, mode=mode, kvm_args="300000000"),
        # 2, 3 and 8 busy threads from one: at most one apart per vCPU; a thread pinned
        # by sched_setaffinity never runs elsewhere (that line is compared with Linux's)
        app_test(p + "balance", "balance", "100",
                 *[r"^bench: balance: %d threads: per CPU \S+ \(spread [01]\)$" % k
                   for k in (2, 3, 8)], timeout={"qemu": 60, "xen": 120}, mode=mode),
        # a producer with 2,000 rounds of work per item and a consumer, 200,000 items
        # through POSIX semaphores: on different vCPUs; the time against the producer's
        # work alone and the IPIs per item are printed; then a condvar ping-pong
        # sched_poll_us=0: no CPU polls and no futex waiter spins (each wait halts and
        # each wake sends an IPI), and the app still runs as on Linux
        *([app_test(p + "ipc_nopoll", "ipc", "20000 2000 2000",
                    r"^sched: idle CPUs poll and futex waiters spin up to 0 us",
                    *[r"^hp: sched cpu%d during the app: .*, 0 polls won, 0 spins won," % c
                      for c in (0, 1)], timeout={"qemu": 120, "xen": 240},
                    kvm_args="2000 2000 200", cmdline="sched_poll_us=0", mode=mode)]
          if mode == "normal" else []),
        app_test(p + "ipc", "ipc", "200000 2000 20000",
                 r"^bench: ipc: producer and consumer on different CPUs in \d+ of \d+ samples "
                 r"\(mostly apart\)$", timeout={"qemu": 120, "xen": 240},
                 kvm_args="5000 2000 1000", note=ipis_per_item, mode=mode),
        # the same on 4 vCPUs (QEMU: 4 vCPU threads on this host's 2 cores, so only where
        # the threads went is checked, never a time)
        app_test(p + "par4", "par", "30000000",
                 r"^bench: par: a quarter into their work the threads ran on {vcpus} of {vcpus} CPUs$",
                 timeout={"qemu": 90}, mode=mode, kvm_args="300000000", vcpus=4,
                 kinds=("qemu",)),
        app_test(p + "balance4", "balance", "100",
                 *[r"^bench: balance: %d threads: per CPU \S+ \(spread [01]\)$" % k
                   for k in (2, 3, 8)], timeout={"qemu": 90}, mode=mode, vcpus=4,
                 kinds=("qemu",)),
        # sched_getaffinity shows every vCPU, and sysconf and a Go-style count agree;
        # pinning, bad masks, another thread's mask; the CPU-time clocks, getrusage, times
        app_test(p + "affinity", "affinity", "", r"^bench: affinity: {vcpus} CPUs;",
                 mode=mode),
        # sockets: 10,000 datagrams echoed over two ports with poll; an HTTP server for curl
        app_test(p + "udp", "udp_echo", "7,9 10000",
                 UDP_ECHOED, BIG_ECHOED,
                 net="udp", timeout={"qemu": 300, "xen": 300}, kvm_args="7,9 300", mode=mode),
        # the same echo with busy polling (net/README.md): the NIC's interrupts off while
        # packets come, an idle CPU looking, one about to halt asking for one interrupt
        *([app_test(p + "udp_busy", "udp_echo", "7,9 10000", UDP_ECHOED,
                    r"^net: (vnet|xnet)0: busy polling \(2000 us\): [1-9]\d* windows, \d+ "
                    r"wakes by an idle CPU$",
                    net="udp", cmdline="net_poll_us=2000", timeout={"qemu": 300, "xen": 300},
                    kvm_args="7,9 300", mode=mode)] if mode == "hp" else []),
        # the same echo through an edge-triggered epoll set, recvmsg (after a MSG_PEEK |
        # MSG_TRUNC look) and sendmsg with iovecs, recvmmsg/sendmmsg, recvfrom/sendto
        app_test(p + "udp_msg", "udp_msg", "7,9 10000", UDP_ECHOED, BIG_ECHOED, net="udp",
                 timeout={"qemu": 300, "xen": 300}, kvm_args="7,9 300", mode=mode),
        app_test(p + "http", "http_hello", "80 3",
                 r"^(host|dom0): http: hello from Amphi 0\.1 \(%s mode on (qemu|kvm|xen-pv|xen-pvh)\), up \d+ s$"
                 % ("hp" if mode == "hp" else "normal"),
                 net="http", timeout={"qemu": 120, "xen": 150}, mode=mode),
        # 400 requests, each on a new connection the server closes first: lwIP keeps every
        # one in TIME_WAIT for 2 MSL and walks them all for each SYN; past 256 the oldest
        # go (net/core.c: TW_MAX) and every request is still answered
        app_test(p + "http_many", "http_hello", "80 %d quiet" % HTTP_MANY,
                 r"^(host|dom0): httpmany: %d of %d answered on new connections$"
                 % (HTTP_MANY, HTTP_MANY),
                 r"^net: \d+ connections in TIME_WAIT ended early \(more than 256\)$",
                 net="httpmany", timeout={"qemu": 120, "xen": 240}, mode=mode),
        # an app's TCP bulk transfer: 4 connections of 2 MiB each way, every byte checked
        # by the client; the app sends its last bytes, closes and ends at once, and the
        # VM ends only once the client has them all (net_linger; before, on Xen, the
        # last ~90 KiB of 256 were lost with the VM every time)
        app_test(p + "tcp_bulk", "tcp_bulk", "5001 4 2048 check",
                 r"^(host|dom0): tcp: 4 of 4 connections moved 2048 KiB each way intact",
                 net="tcpbulk", timeout={"qemu": 120, "xen": 240}, mode=mode),
        # the same over a lossy network: one TCP frame in 100 the guest sends is lost
        # (net_drop_tx=100), last ones and acknowledgements too; lwIP's retransmissions
        # recover every byte (a lost last segment waits for the retransmission timeout,
        # which lwipopts.h's 50 ms timer keeps at 300 ms or more rather than 1.5 s)
        *([app_test(p + "tcp_lossy", "tcp_bulk", "5001 4 1024 check",
                    r"^(host|dom0): tcp: 4 of 4 connections moved 1024 KiB each way intact",
                    r"^net: [1-9]\d* TCP frames lost on purpose \(net_drop_tx=100: one in 100\)$",
                    # (segments of many MSS lost and sent again: net/core.c, TSO_MAX_IP)
                    r"^net: [1-9]\d* TCP segments of many MSS sent for the device to cut",
                    net="tcpbulk", cmdline="net_drop_tx=100",
                    timeout={"qemu": 180, "xen": 300}, mode=mode)] if mode == "hp" else []),
        # a slow reader on the host (netclient tcp ... slow): its window shuts and opens
        # in part, below the guest's big segments with nothing in flight, which the net
        # thread's persist timer would split by more than an MSS, an lwIP assertion (a
        # panic): tcp_unstick splits them first (net/core.c; QEMU's virtio cuts them)
        *([app_test(p + "tcp_slowreader", "tcp_bulk", "5001 2 2048 check",
                    r"^host: tcp: 2 of 2 connections moved 2048 KiB each way intact",
                    r"^net: [1-9]\d* TCP segments of many MSS sent for the device to cut, "
                    r"[1-9]\d* split for a",
                    net="tcpslow", kinds=("qemu",), timeout={"qemu": 120},
                    mode=mode)] if mode == "hp" else []),
        # files from a tar image on the first disk (the app itself too), and the same
        # image as the boot module: read, pread, lseek, fstat, stat, access, ENOENT
        app_test(p + "files", "readfile", "etc/motd data/blob.bin ./etc/motd nothere /dev/null "
                 "data etc etc/empty data/sub cd:data sub/deep.txt ../etc/motd cd:sub "
                 "deep.txt cd:../.. etc/motd cd:nothere cd:etc/motd",
                 r"^hp: files: the tar image on ", tar="disk", mode=mode),
        app_test(p + "files_module", "readfile", "etc/motd data/blob.bin", tar="module",
                 mode=mode),
        # the first disk as /dev/vda (and /dev/xvda): reads and writes at any offset and
        # of any length, the size, fsync, its end; the host checks what it wrote
        Test(p + "rawdisk", "", eval_rawdisk(mode), app="rawdisk", app_args="/dev/vda",
             mode=mode, virtio="blk", rig="disk", skip=HP_SKIP if mode == "hp" else None,
             timeout={"qemu": 120, "xen": 180}),
        # pipes (Linux's 64 KiB in 16 pages), dup/dup2/dup3/fcntl, eventfds, poll, select,
        # ppoll, pselect6 and epoll (level, edge, oneshot, exclusive); threads blocked in a
        # pipe, epoll_wait or poll woken by others; every line as on Linux
        app_test(p + "unixio", "unixio", "", r"^unixio: \d+ checks, 0 failed$", mode=mode,
                 timeout={"qemu": 60, "xen": 90},
                 skip=SLOW_UNIXIO if mode == "normal" else None),
        # credentials and dropping root, umask, prctl names, readlink /proc/self/exe,
        # /dev/urandom, getrandom's bytes (1 MiB: every byte value about equally often, no
        # block twice) and AT_RANDOM, RLIMIT_NOFILE lowered (and what then fails) and raised
        # again; the kernel's generator seeded from RDRAND and 64 timings of its own work
        # (2048 timings without RDRAND, e.g. QEMU's default CPU: common/random.c)
        app_test(p + "procfacts", "procfacts", "", r"^procfacts: done$",
                 r"^random: (seeded from 512 bits of RDRAND and 64|no RDRAND: seeded from "
                 r"2048) timings of the CPU's own work \(\d+ us\)$", mode=mode),
        # memory on first touch: 1 GiB mapped in a VM of 32 (Xen) or 128 MiB (QEMU), 160 MiB
        # written and given back with MADV_DONTNEED, 4 threads faulting the same pages at
        # once, mprotect and mremap of untouched pages
        app_test(p + "lazymem", "lazymem", "", r"^lazymem: \d+ checks, 0 failed$", mode=mode),
        # the vDSO (AT_SYSINFO_EHDR): symbols found as Go finds them, clocks between two
        # system calls, never backwards, the wall clocks in step, getcpu on every CPU
        vdso_test(p + "vdso", mode),
        # glibc (Debian's gcc -static): threads, a barrier, a condition variable, TLS,
        # printf of doubles, qsort, getaddrinfo of literals, realloc of large blocks (mremap)
        app_test(p + "glibc_threads", "glibc_threads", "", r"^glibc_threads: done$", mode=mode),
        # signals: handlers and their siginfo, masks, sigsuspend, sigtimedwait, the
        # alternate stack, faults caught (and a handler that moves rip on, every register
        # back), a thread stopped by a signal while it makes no system call, EINTR and
        # SA_RESTART, SIGPIPE; at the end SIGTERM's default action (status 143)
        app_test(p + "signals", "signals", "", r"^signals: \d+ checks, 0 failed$", mode=mode),
        # Go (Debian's golang-go, CGO_ENABLED=0): the runtime on every vCPU (GOMAXPROCS),
        # channels, a mutex, a GC, timers; net/http over its epoll netpoller, answering 4
        # connections at once from the host, kept alive and new; 1,000,000 writes to
        # /dev/null through os.OpenFile (bench: its time per write). In 32 MiB VMs: Go maps
        # 32 MiB for its arena index alone and far more for its heap, and uses what it
        # touches (before memory on first touch, these needed 128 MiB)
        app_test(p + "go_par", "go_par", "", r"^go_par: a tight loop was preempted: true$", mode=mode, mem_mib=GO_MIB,
                 timeout={"qemu": 90, "xen": 120}),
        # memcached 1.6 from Debian's source (musl-static with Debian's libevent: tools/
        # memcached.sh), unchanged, answering the host's client (netclient memcache) over TCP
        # (4 connections, values of 1 to 100,000 bytes, multi-gets, deletes, a shared
        # counter) and 300 connections open at once (memcached's default -c 1024 and
        # RLIMIT_NOFILE raised to it), UDP (answers of several datagrams), then told to
        # shut down; on the QEMU cells first memccapable's protocol checks (dom0 has no
        # libmemcached-tools)
        app_test(p + "memcached", "memcached", "-A -u root -p 11211 -U 11211 -m 64 -t 2",
                 r"^(host: memccapable: (\d+) of \2 protocol checks passed in [\d.]+ s|"
                 r"dom0: memcache: shutdown sent)$",
                 r"^(host|dom0): memcache: tcp: 4 connections: 400 of 400 sets stored, 400 of "
                 r"400 gets right .* 40 multi-gets right .* counter 200 of 200",
                 r"^(?:host|dom0): memcache: tcp: %d connections open at once: %d of %d "
                 r"answered right$" % ((MEMCACHE_HELD,) * 3),
                 r"^(?:host|dom0): memcache: udp: 100 of 100 sets stored, 100 of 100 gets right, "
                 r"(\d+) of \1 gets of TCP's values right",
                 net="memcache", tar="module", mode=mode, mem_mib=256,
                 timeout={"kvm": 300, "qemu": 120, "xen": 180}),
        app_test(p + "go_http", "go_http", "8080 1000",
                 r"^(host|dom0): httpload: 500 of 500 answers right on 4 kept-alive "
                 r"connections, 500 of 500 on new connections", net="httpload", mode=mode,
                 mem_mib=GO_MIB, timeout={"qemu": 120, "xen": 180}),
        app_test(p + "go_devnull", "go_devnull", "1000000", r"^bench: go_devnull: \d+ ns per write",
                 mode=mode, mem_mib=GO_MIB, kvm_args="5000", timeout={"qemu": 90, "xen": 180}),
        # exit() ends a spinning, a sleeping and a waiting thread at once
        app_test(p + "exit", "exit_threads", "",
                 r"^hp: exit_threads exited with status 5 \(\d+ syscalls, 4 threads\)",
                 timeout={"qemu": 30, "xen": 30}, mode=mode),
        # ... and a thread in a TCP connect nobody answers: without the end of the app
        # ending its wait, the app lasts until lwIP gives up (some 30 s), past the timeout
        # (Xen's includes dom0's 10 s wait for a 'net: ready' that apps do not print)
        app_test(p + "exit_net", "exit_threads", "net",
                 r"^hp: exit_threads exited with status 5 \(\d+ syscalls, 5 threads\)",
                 net="ping", timeout={"qemu": 15, "xen": 25}, mode=mode),
    ]


def eval_hp_fork(cell, out):
    """HP mode runs one program: procs's first fork fails (ENOSYS), the kernel says why,
    and procs, finding no child to wait for, exits 1."""
    return judge(["" if find(out.lines, r"^hp: /bin/procs: fork: HP mode runs one program in "
                             r"the kernel's address space \(processes need mode=normal\)$")
                  else "no line saying why fork is refused",
                  "" if find(out.lines, r"^fork gave a pid: no \(Function not implemented\)$")
                  else "fork did not fail with ENOSYS",
                  expect_exit(out, 1)], "fork refused, with the reason")


TESTS += app_tests("hp_", "hp") + [
    # an app that faults is ended with SIGSEGV and a message; the kernel reports it
    app_test("hp_fault", "fault", "write 0xffffffff80100000",
             r"^hp: fault killed by SIGSEGV: page fault \(#PF\) at rip 0x[0-9a-f]+, address 0xffffffff80100000"),
    Test("hp_fork", "", eval_hp_fork, app="procs", app_args="64", tar="module", mode="hp",
         skip=HP_SKIP),
    # the programs' pages exec keeps (mapped into each process that runs them, not copied)
    # are let go when memory runs short: a child runs procs, another fills memory until the
    # kernel kills it with SIGKILL (not on Linux: its OOM killer picks whom it likes)
    Test("nm_reclaim", "", eval_reclaim, app="procs", app_args="reclaim bin/procs",
         tar="module", mode="normal", mem_mib=64, skip=SLOW_ON_KVM,
         timeout={"qemu": 60, "xen": 180}),
    # Debian's busybox sh runs a script of pipelines, redirections into /tmp, loops,
    # functions, background jobs, kill, find, grep, sed, awk, xargs, wc, tar, links: the same
    # output as busybox on this host in the same tree (hp/README.md "Processes", "Files")
    Test("nm_shell", "", eval_shell, app="sh", app_args="PATH=/bin /etc/shell.sh",
         tar="shell", mode="normal", mem_mib=128,
         timeout={"kvm": 300, "qemu": 90, "xen": 240}),
    # the console as a terminal: busybox sh, interactive (its own line editing in raw mode),
    # typed into: a command, a line read by `read` in canonical mode (the kernel's echo),
    # Ctrl-C to a foreground `sleep 100`, then `exit 6`
    Test("nm_tty", "", eval_tty, app="sh", app_args="PATH=/bin HOME=/", tar="shell",
         mode="normal", mem_mib=128, keys=TTY_KEYS, timeout={"qemu": 90, "xen": 240}),
] + [Test("hp_bad_" + how, "app=hello", eval_badelf(how), app="hello", corrupt=how)
     for how in CORRUPTIONS] + app_tests("nm_", "normal") + [
    # normal mode: kernel memory is out of the app's reach; reading it ends the app, the
    # kernel reports it and lives on (its exit code is the app's)
    app_test("nm_fault", "fault", "read 0xffffffff80100000",
             # (natively a protection fault; on Xen PV the app's root has no kernel half)
             r"^hp: fault killed by SIGSEGV: page fault \(#PF\) at rip 0x[0-9a-f]+, address 0xffffffff80100000 \((protection|not present), user",
             mode="normal"),
    # hardening: a hostile app in ring 3 gets errors or dies by a signal, never more
    # a jump to the syscall entry with SYSCALL's registers made up (IOPL 3 in %r11) is a
    # fault, not a syscall (nor a raise of the app's I/O rights); so with a non-canonical
    # %rcx; a call into the kernel's text ends the app, not the kernel
    hostile_test("nm_attack_entry", "entry {sym:syscall_entry_user}", 139, KILLED),
    hostile_test("nm_attack_entry_nc", "entry_nc {sym:syscall_entry_user}", 139, KILLED),
    hostile_test("nm_attack_call", "call {sym:hp_syscall}", 139, KILLED),
    hostile_test("nm_attack_extable", "call {sym:extable}", 139, KILLED),
    # syscall in the top user page returns by iretq; in the last bytes it would return to a
    # non-canonical address: the app dies, the kernel does not
    hostile_test("nm_attack_systop", "systop", 139,
                 r"^hostile: syscall at 0x7fffffffeffe came back: 1$",
                 r"^hp: hostile killed by SIGSEGV: its syscall returns outside the user range, at rip 0x800000000000"),
    # bad pointers to every call that takes one: all refused
    # (with SMAP on the QEMU cells: the copy helpers are the kernel's one way to app memory)
    hostile_test("nm_attack_badptr", "badptr", 0, r"^hostile: badptr: (\d+) calls, \1 refused$",
                 net=True, cpu="max"),
    # exhaustion: threads (slots reused), descriptors, memory (4 GiB of address space
    # mapped as on Linux, then pages written until none is left: the app is killed, as by
    # Linux's OOM killer); all of it comes back
    hostile_test("nm_attack_threads", "threads", 0, r"^hostile: threads: 300 created and joined$",
                 memory=True),
    hostile_test("nm_attack_fds", "fds", 0, r"^hostile: fds: EMFILE after the same count in 3 rounds$",
                 memory=True),
    hostile_test("nm_attack_memory", "memory", 137,
                 r"^hostile: memory: 4 GiB mapped, the same each round$",
                 r"^hp: hostile killed by SIGKILL: out of memory \(a page touched at ",
                 memory=True, skip=SLOW_ON_KVM),
    # socket misuse: a second bind, 100 binds of closed sockets, send/recv when listening
    hostile_test("nm_attack_sockets", "sockets", 0, r"^hostile: a second bind: Invalid argument$",
                 r"^hostile: 100 sockets bound and closed: 100 binds worked$",
                 r"^hostile: send on a listening socket: Broken pipe$",
                 r"^hostile: recv on a listening socket: (Socket|Transport endpoint is) not connected$",
                 net=True, memory=True),
    # signals: a handler in the kernel's text is entered in ring 3 and faults; rt_sigreturn
    # takes neither I/O rights nor the kernel's selectors from a made-up frame, and never
    # returns to a non-canonical address
    hostile_test("nm_attack_handler", "handler {sym:hp_syscall}", 139, KILLED),
    hostile_test("nm_attack_sigreturn", "sigreturn", 139, KILLED),
    hostile_test("nm_attack_sigreturn_nc", "sigreturn_nc", 139,
                 r"^hp: hostile killed by SIGSEGV: rt_sigreturn to an address outside the user range"),
    # threads racing close/close, socket/socket, close/recv, munmap/munmap
    hostile_test("nm_attack_race", "race", 0, r"^hostile: close/close: 200 closed, 200 EBADF of 400$",
                 r"^hostile: socket/socket: 0 descriptors handed out twice$",
                 r"^hostile: munmap/munmap: 200 rounds$", net=True, memory=True, skip=SLOW_ON_KVM),
    # a 4-byte value the kernel writes is seen whole by the app's other threads (a futex
    # word: a thread's CLONE_CHILD_CLEARTID, cleared byte by byte, once hung nm_attack_race)
    hostile_test("nm_attack_torn", "torn", 0, r"^hostile: torn: 0 of [1-9]\d* reads torn, in 100000 kernel writes$",
                 net=True, memory=True, skip=SLOW_ON_KVM),
]


# ---------------------------------------------------------------- running guests under QEMU

def wait_output(p, timeout):
    """Waits at most `timeout` s for process p; kills it after that.
    Returns its output (text, CRs removed) and whether it timed out."""
    try:
        out, _ = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        timed_out = True
    return out.decode(errors="replace").replace("\r", ""), timed_out


def qemu_base(cell, cmdline, mem_mib=None):
    return ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
            "-m", str(mem_mib or cell.mem_mib), "-smp", str(cell.vcpus)] + cell.args + [
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", KERNEL, "-append", cmdline]


def pvh_entry_pa():
    out = subprocess.run(["nm", KERNEL], capture_output=True, text=True, check=True).stdout
    va = int(re.search(r"^([0-9a-f]+) T pvh_entry$", out, re.M).group(1), 16)
    return va - 0xffffffff80000000


GUEST_MAC = "52:54:00:12:34:56"


def tap_netns(ns):
    """The network namespace `ns` (one of that name goes first) with tap0 up at
    10.0.9.1/24, the host's side of a QEMU guest's tap NIC (the guest is 10.0.9.2).
    Raises RuntimeError naming the command that failed (most often: not root)."""
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for c in (["ip", "netns", "add", ns],
              ["ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap"],
              ["ip", "-n", ns, "addr", "add", "10.0.9.1/24", "dev", "tap0"],
              ["ip", "-n", ns, "link", "set", "tap0", "up"],
              ["ip", "-n", ns, "link", "set", "lo", "up"]):
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("%s: %s" % (" ".join(c), r.stderr.strip()))


def disk_pattern(who, first, n):
    """What test=blk expects (common/blk_selftest.c): 16 lines of 32 bytes per sector."""
    return b"".join(((("amphi %s sector %d" % (who, s)).ljust(31) + "\n") * 16).encode()
                    for s in range(first, first + n))


class VirtioSetup:
    """The host side of a virtio test: QEMU arguments, a command line addition, and what
    to do around the guest (a network namespace with a tap device; a disk image)."""

    def __init__(self, cell, test):
        self.cell, self.test = cell, test
        self.ns = self.img = None
        self.cmdline = ""
        self.host_lines = []
        self.pinger = None
        self.dhcpd = self.dhcp_dir = None

    def args(self):
        t, cell = self.test, self.cell
        opts, glob = "", []
        if cell.pci:
            dev = "virtio-%s-pci" % t.virtio
            opts = ",disable-legacy=on" if t.variant == "" else ",disable-legacy=off"
            if t.variant == "legacy":
                self.cmdline = "virtio_pci=legacy"
        else:
            dev = "virtio-%s-device" % t.virtio
            if t.variant == "":
                glob = ["-global", "virtio-mmio.force-legacy=false"]
        if t.virtio == "net":
            self.ns = "amphi-%d" % os.getpid()
            tap_netns(self.ns)
            if "ip=dhcp" in t.cmdline_for(cell):
                self.start_dhcpd()
            return glob + ["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                           "-device", "%s,netdev=n0,mac=%s%s" % (dev, GUEST_MAC, opts)]
        fd, self.img = tempfile.mkstemp(prefix="amphi-disk-", suffix=".img")
        with os.fdopen(fd, "wb") as f:
            if t.tar == "disk":  # the app's tar image, not the pattern
                with open(app_tar(t.app), "rb") as src:
                    f.write(src.read())
                self.tar_disk = True
            else:
                f.write(disk_pattern("dom0", 0, 2048))
            f.truncate(16 << 20)
        return glob + ["-drive", "file=%s,format=raw,if=none,id=d0" % self.img,
                       "-device", "%s,drive=d0%s" % (dev, opts)]

    def start_dhcpd(self):
        """busybox udhcpd on tap0, offering the guest's address and nothing else."""
        self.dhcp_dir = tempfile.mkdtemp(prefix="amphi-dhcp-")
        conf = os.path.join(self.dhcp_dir, "udhcpd.conf")
        with open(conf, "w") as f:
            f.write("interface tap0\nstart %s\nend %s\nmax_leases 1\n"
                    "lease_file %s/leases\npidfile %s/pid\noption subnet 255.255.255.0\n"
                    "option router 10.0.9.1\noption lease 3600\n"
                    % (GUEST_IP, GUEST_IP, self.dhcp_dir, self.dhcp_dir))
        open(os.path.join(self.dhcp_dir, "leases"), "w").close()
        self.dhcpd = subprocess.Popen(["ip", "netns", "exec", self.ns, "busybox", "udhcpd",
                                       "-f", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)

    def wrap(self, cmd):
        return ["ip", "netns", "exec", self.ns] + cmd if self.ns else cmd

    def on_line(self, line):
        if not self.ns or self.pinger is not None:
            return
        if self.test.host == "ping" and line.startswith("net: ready"):
            self.pinger = threading.Thread(target=self.ping)
        elif self.test.host == "udp" and "udp echo ready" in line:  # the kernel's or an app's
            # the host knows the guest's MAC, so it sends no ARP request the guest could
            # learn the host's from: the guest's first replies wait for its own ARP
            # (lwIP's queue for an unresolved next hop: no reply may be lost there)
            r = subprocess.run(["ip", "-n", self.ns, "neigh", "replace", GUEST_IP, "lladdr",
                                GUEST_MAC, "dev", "tap0", "nud", "permanent"],
                               capture_output=True, text=True)
            if r.returncode:
                self.host_lines.append("host: ip neigh failed: " + r.stderr.strip())
            # the local KVM's emulated kernel takes ~70 ms an echo in normal mode: 32 at
            # once would wait past the 0.3 s after which one is sent again
            slow = ["240", "0", "4", "3"] if self.cell.platform == "kvm" else []
            self.pinger = threading.Thread(target=self.client, args=(
                ["udp", GUEST_IP, "7,9", str(self.test.udp_count(self.cell))] + slow,))
        elif self.test.host == "tcp" and line.startswith("net: tcp ready"):
            m = re.search(r"tcp_kib=(\d+)", self.test.cmdline_for(self.cell))
            self.pinger = threading.Thread(target=self.client, args=(
                ["tcp", GUEST_IP, "5001", "10", m.group(1) if m else "8192"],))
        elif self.test.host == "malformed" and line.startswith("net: malformed echo ready"):
            self.pinger = threading.Thread(target=self.client, args=(
                ["malformed", "tap0", GUEST_MAC, GUEST_IP, "7"],))
        elif self.test.host == "http" and "http server on" in line:
            self.pinger = threading.Thread(target=self.curl)
        elif self.test.host == "memcache" and line.startswith("hp: running "):
            self.pinger = threading.Thread(target=self.memcache)
        elif self.test.host == "httpload" and "http server on" in line:
            self.pinger = threading.Thread(target=self.client, args=(
                httpload_args(GUEST_IP, self.test.app_words_for(self.cell)),))
        elif self.test.host == "httpmany" and "http server on" in line:
            self.pinger = threading.Thread(target=self.client, args=(
                httpmany_args(GUEST_IP, self.test.app_words_for(self.cell)),))
        elif self.test.host in ("tcpbulk", "tcpslow") and "tcp bulk ready" in line:
            self.pinger = threading.Thread(target=self.client, args=(
                tcpbulk_args(GUEST_IP, self.test.app_words_for(self.cell), self.test.host),))
        elif self.test.host == "soak" and line.startswith("soak: serving"):
            self.pinger = threading.Thread(target=self.client, args=(
                ["soak", GUEST_IP] + self.test.host_args.split() + ["tap0"],))
        if self.pinger:
            self.pinger.start()

    def curl(self):
        for _ in range(3):
            r = subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-s", "-S", "-m", "30",
                                "http://%s/" % GUEST_IP], capture_output=True, text=True)
            self.host_lines.append("host: http: " + (r.stdout.strip() or
                                                    "curl failed: " + r.stderr.strip()))

    def memcache(self):
        """memcached's own protocol checks (libmemcached-tools' memccapable: binary and
        ascii), once its port answers; then netclient's load, which ends the server"""
        args = memcache_args(GUEST_IP, self.test.app_words_for(self.cell))
        t0 = time.time()
        while time.time() - t0 < 60:
            t1 = time.time()
            r = subprocess.run(["ip", "netns", "exec", self.ns, "memccapable", "-h", GUEST_IP,
                                "-p", args[2]], capture_output=True, text=True, timeout=120)
            if "Failed to connect" not in r.stdout + r.stderr:
                break
            time.sleep(0.2)
        lines = r.stdout.splitlines()
        passed = sum(1 for l in lines if l.rstrip().endswith("[pass]"))
        failed = [l.split("[")[0].strip() for l in lines if l.rstrip().endswith("[FAIL]")]
        self.host_lines.append("host: memccapable: %d of %d protocol checks passed%s in %.1f s" % (
            passed, passed + len(failed), " (failed: %s)" % ", ".join(failed) if failed else "",
            time.time() - t1))
        self.client(args)

    def client(self, args):
        r = subprocess.run(["ip", "netns", "exec", self.ns, NETCLIENT] + args,
                           capture_output=True, text=True)
        out = (r.stdout.strip() or "no output (%s)" % r.stderr.strip()[-200:]).splitlines()
        self.host_lines.extend("host: " + l for l in out)

    def ping(self):
        r = subprocess.run(["ip", "netns", "exec", self.ns, "ping", "-c", "100", "-i", "0.02",
                            "-W", "2", "-w", "90", "-q", GUEST_IP],
                           capture_output=True, text=True)
        summary = [l for l in r.stdout.splitlines() if "packets transmitted" in l]
        self.host_lines.append("host: ping: " + (summary[0] if summary else
                                                  "no summary (%s)" % r.stderr.strip()))

    def finish(self):
        if self.pinger:
            self.pinger.join(250)
        if self.dhcpd:
            self.dhcpd.kill()
            self.dhcpd.wait()
            shutil.rmtree(self.dhcp_dir, ignore_errors=True)
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        if self.img and getattr(self, "tar_disk", False):
            os.unlink(self.img)
        elif self.img:
            with open(self.img, "rb") as f:
                f.seek(2048 * 512)
                got = f.read(2048 * 512)
            self.host_lines.append("host: disk: guest pattern %s" % (
                "OK" if got == disk_pattern("guest", 2048, 2048) else "MISMATCH"))
            os.unlink(self.img)


def watch_output(p, timeout, on_line):
    """wait_output, handing each line to on_line as it comes."""
    lines = []

    def reader():
        for raw in p.stdout:
            line = raw.decode(errors="replace").replace("\r", "").rstrip("\n")
            lines.append(line)
            on_line(line)
    th = threading.Thread(target=reader)
    th.start()
    try:
        p.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        timed_out = True
    th.join(10)
    return "".join(l + "\n" for l in lines), timed_out


def typist(p, keys):
    """An on_line that types Test.keys into QEMU's serial port (its stdin), each once its
    line came."""
    todo = list(keys)

    def on_line(line):
        if todo and todo[0][0] in line:
            try:
                p.stdin.write(todo.pop(0)[1])
                p.stdin.flush()
            except OSError:  # (QEMU has ended)
                pass
    return on_line


def run_qemu(cell, test, on_line=None):
    """Boots one guest; returns an Outcome. QEMU's status with isa-debug-exit is 2*code+1.
    on_line: also called with each line of the guest's console as it comes (make soak)."""
    vs = VirtioSetup(cell, test) if test.virtio else None
    try:
        extra = vs.args() if vs else []
    except (RuntimeError, OSError) as e:
        vs.finish()
        return Outcome([], None, "host setup failed: %s" % e, False, "host setup failed: %s\n" % e)
    cmdline = " ".join(x for x in (test.cmdline_for(cell), vs.cmdline if vs else "") if x)
    cmd = qemu_base(cell, cmdline, test.mem(cell)) + ["-serial", "stdio", "-no-reboot"] + extra
    if test.firmware and "-bios" in cmd:
        i = cmd.index("-bios")
        del cmd[i:i + 2]
    if test.cpu and cell.platform == "qemu":  # (TCG; the local KVM keeps -cpu host)
        cmd += ["-cpu", test.cpu]
    if test.app and test.tar != "disk":
        cmd += ["-initrd", app_file(test)]
    if vs:
        cmd = vs.wrap(cmd)
    limit = test.limit(cell)
    gdb = None
    sock = None
    if test.corrupt_start_info:
        sock = tempfile.mktemp(prefix="amphi-gdb-", suffix=".sock")
        cmd += ["-S", "-gdb", "unix:%s,server=on,wait=off" % sock]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.PIPE if test.keys else subprocess.DEVNULL)
    try:
        if test.corrupt_start_info:
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            # stop at the PVH entry, where %rbx holds the start info's physical address, and
            # break its magic; then let the kernel run into it
            gdb = subprocess.Popen(
                ["gdb", "-nx", "-batch", "-ex", "target remote %s" % sock,
                 "-ex", "hbreak *0x%x" % pvh_entry_pa(), "-ex", "continue",
                 "-ex", "set *(unsigned int *)$rbx = 0xdeadbeef", "-ex", "detach"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        watchers = [f for f in (vs.on_line if vs else None, on_line,
                                typist(p, test.keys) if test.keys else None) if f]
        if watchers:
            text, timed_out = watch_output(p, limit, lambda l: [f(l) for f in watchers])
        else:
            text, timed_out = wait_output(p, limit)
    finally:
        if vs:
            vs.finish()
            text += "".join(l + "\n" for l in vs.host_lines)
        if gdb:
            try:
                gdb_out = gdb.communicate(timeout=10)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                gdb.kill()
                gdb_out = "gdb did not finish"
        if sock and os.path.exists(sock):
            os.unlink(sock)
    secs = time.monotonic() - t0
    rc = p.returncode
    if timed_out:
        how = "no exit within %d s" % limit
        code = None
    elif rc % 2 == 1:
        code = (rc - 1) // 2
        how = "qemu exit status %d = code %d" % (rc, code)
    else:
        code = None
        how = "qemu exit status %d: not from isa-debug-exit" % rc
    log = "$ %s\n%s\n[%.2f s, %s]\n" % (" ".join(cmd), text, secs, how)
    if gdb:
        log += "--- gdb ---\n%s" % gdb_out
    return Outcome(text.splitlines(), code, how, timed_out, log)


def kvm_usable():
    """None when /dev/kvm can create a VM, else why not (KVM_GET_API_VERSION, KVM_CREATE_VM)."""
    import fcntl
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "no /dev/kvm (%s)" % e.strerror
    try:
        if fcntl.ioctl(fd, 0xAE00) != 12:
            return "/dev/kvm has an unexpected API version"
        vm = fcntl.ioctl(fd, 0xAE01, 0)
        os.close(vm)
    except OSError as e:
        return "/dev/kvm cannot create a VM (%s)" % e.strerror
    finally:
        os.close(fd)
    return None


# ---------------------------------------------------------------- the Xen rig

def cache_root():
    return os.environ.get("AMPHI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "amphi")


def rig_dir():
    """The rig is cached outside the clone, keyed by its recipe (build.sh)."""
    with open(os.path.join(RIG_DIR, "build.sh"), "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:12]
    return os.path.join(cache_root(), "xen-rig-" + key)


def ensure_rig(say):
    d = rig_dir()
    if all(os.path.exists(os.path.join(d, f)) for f in ("xen", "vmlinux", "dom0.cpio.gz")):
        return d, None
    if os.geteuid() != 0:
        return None, "building the Xen rig needs root (debootstrap, chroot)"
    say("building the Xen rig into %s (once: 2 to 10 minutes, most of it the first time "
        "it downloads Debian's Xen and kernel packages and debootstraps dom0's userland)" % d)
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log = os.path.join(BUILD, "xen-rig-build.log")
    os.makedirs(BUILD, exist_ok=True)
    with open(log, "w") as f:  # (build.sh's own steps, "xen-rig: +Ns ...", as they come)
        p = subprocess.Popen([os.path.join(RIG_DIR, "build.sh"), tmp, cache_root()],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for raw in p.stdout:
            line = raw.decode(errors="replace")
            f.write(line)
            if line.startswith("xen-rig: "):
                say(line.rstrip())
        rc = p.wait()
    if rc != 0:
        with open(log) as f:
            tail = f.read().splitlines()[-15:]
        return None, "Xen rig build failed (rc %d, %s):\n  %s" % (rc, log, "\n  ".join(tail))
    os.rename(tmp, d)
    return d, None


XEN_GUEST_MAC = "00:16:3e:00:09:02"  # dom0-init.sh re-attaches the vif with it


# The rig's Xen (test_matrix/README.md, "The rig's Xen: eager FPU switching" and "Where
# the rig's vCPUs run"): the outer QEMU's CPUs (Xen's physical CPUs), more of Xen's command
# line, and the guests' xl `cpus` (hard affinity; a list gives each vCPU its own; empty:
# none). The environment overrides them for measurements (make rig-crashloop).
# spec-ctrl=eager-fpu: Xen's default on this CPU model is the lazy FPU switch (CR0.TS and
# a #NM trap at a vCPU's first FPU instruction), and under QEMU 7.2's TCG a vCPU's ymm
# (AVX) registers did not survive it: apps/vecregs lost them in 8 % of its rounds in a
# Linux domU, Go's net/http server there crashed in 5 of 6 runs, and dom0's programs died
# at start beside a guest's traffic (18 of 300 in make rig-crashloop: glibc's AVX memcpy
# and memset). Switched eagerly, none is lost (0 of 1,000 dom0 programs on each Xen cell,
# every vCPU free to move).
# dom0 keeps Xen's CPU 0 to itself (dom0_vcpus_pin) and the guests' vCPUs run on CPU 1: no
# vCPU moves between Xen's CPUs. With them free to move, nested SVM corrupted PVH guests'
# world switches far more often (a vCPU found at Xen's own rip, a triple fault: 3 of 9
# xen-pvh batch guests of one make bench, Linux's among them; 0 of 9 pinned). The price: a
# guest's two vCPUs take turns on one CPU on Xen (the QEMU cells run them in parallel).
RIG_SMP = os.environ.get("AMPHI_RIG_SMP", "2")
RIG_XEN_ARGS = os.environ.get("AMPHI_RIG_XEN_ARGS", "dom0_vcpus_pin spec-ctrl=eager-fpu")
RIG_GUEST_CPUS = os.environ.get("AMPHI_RIG_GUEST_CPUS", '"1"')


def xl_config(cell, test, name, app):
    """The job's xl config; app: the app's file in dom0's /amphi, staged once for every
    job that boots it (rig_command), or None"""
    lines = ['name = "%s"' % name,
             'type = "%s"' % cell.xl_type,
             'kernel = "/amphi/%s"' % (test.xl_kernel or "amphi.elf"),
             'extra = "%s"' % test.cmdline_for(cell),
             "memory = %d" % test.mem(cell),
             "vcpus = %d" % cell.vcpus,
             'on_poweroff = "destroy"',
             'on_crash = "destroy"',
             # a triple fault (PVH) is a "reboot": keep the domain so the rig can read its
             # registers (xenctx) before destroying it
             'on_reboot = "preserve"']
    opts = test.rig.split(",")
    if set(opts) & {"ping", "reconnect", "txpause", "udp", "tcp", "http", "malformed", "serve",
                    "dhcp", "crashloop", "vif", "soak", "client", "clients"}:
        lines.append("vif = ['mac=%s,bridge=xenbr0']" % XEN_GUEST_MAC)
    if "disk" in opts:
        lines.append("disk = ['format=raw,vdev=xvda,access=rw,target=/tmp/%s.img']" % name)
    if "userdisk" in opts:  # the rig's own virtio disk (dom0-init.sh's user_disk)
        lines.append("disk = ['format=raw,vdev=xvda,access=rw,target=/dev/vda']")
    if test.xl_ramdisk:
        lines.append('ramdisk = "/amphi/%s"' % test.xl_ramdisk)
    elif test.app and test.tar == "disk":
        lines.append("disk = ['format=raw,vdev=xvda,access=ro,target=/amphi/%s']" % app)
    elif test.app:
        lines.append('ramdisk = "/amphi/%s"' % app)
    if cell.xl_type == "pvh":
        # QEMU's emulated SVM reports RDTSCP exits as RDTSC and Xen cannot decode them
        lines.append('tsc_mode = "native"')
    if RIG_GUEST_CPUS:
        lines.append("cpus = %s" % RIG_GUEST_CPUS)
    return "\n".join(lines) + "\n"


def rig_command(rig, stage, jobs, nic="none", files=None, qemu_args=()):
    """Stages dom0's overlay (the kernel, netclient, dom0-init.sh, one xl config and job
    line per (cell, test), and files: {name in /amphi: host path}) in stage and returns
    the QEMU command that boots the rig (qemu_args: more of it, e.g. a disk)."""
    os.makedirs(os.path.join(stage, "amphi"))
    for name, path in (files or {}).items():  # (name may hold a directory: "lib/x.so")
        os.makedirs(os.path.dirname(os.path.join(stage, "amphi", name)), exist_ok=True)
        shutil.copy(path, os.path.join(stage, "amphi", name))
    shutil.copy(KERNEL, os.path.join(stage, "amphi", "amphi.elf"))
    shutil.copy(NETCLIENT, os.path.join(stage, "amphi", "netclient"))
    shutil.copy(os.path.join(RIG_DIR, "dom0-init.sh"), os.path.join(stage, "init"))
    os.chmod(os.path.join(stage, "init"), 0o755)
    # each app file once, however many jobs boot it (dom0 unpacks the overlay into its
    # 384 MiB: make bench's 36 guests of Go and memcached, a copy each, filled it)
    staged = {}
    with open(os.path.join(stage, "amphi", "jobs"), "w") as jf:
        for cell, test in jobs:
            name = "%s-%s" % (cell.name, test.name)
            app = None
            if test.app and not test.xl_ramdisk:
                path = app_file(test)
                if path not in staged:
                    staged[path] = "app%d-%s" % (len(staged), os.path.basename(path))
                    shutil.copy(path, os.path.join(stage, "amphi", staged[path]))
                app = staged[path]
            with open(os.path.join(stage, "amphi", name + ".cfg"), "w") as f:
                f.write(user_xl_config(stage, test.xl_cfg) if test.xl_cfg else
                        xl_config(sized(cell, test), test, name, app))
            if test.host_args:
                with open(os.path.join(stage, "amphi", name + ".client"), "w") as f:
                    f.write(test.host_args + "\n")
            if test.keys:  # a line each: the text, "|", the keys as printf's octal escapes
                with open(os.path.join(stage, "amphi", name + ".keys"), "w") as f:
                    f.writelines("%s|%s\n" % (text, "".join("\\%03o" % b for b in keys))
                                 for text, keys in test.keys)
            opts = ([test.rig] if test.rig else []) + (["keys"] if test.keys else []) + (
                ["stop-console"] if test.stop_console else [])
            jf.write("%s %d %s\n" % (name, test.limit(cell), ",".join(opts)))
    if os.environ.get("AMPHI_RIG_DIAG"):  # dom0's network view after every network job
        open(os.path.join(stage, "amphi", "diag-always"), "w").close()
    # dom0's root is ramfs (rootfstype=ramfs), not the tmpfs Linux makes without a root=:
    # tmpfs takes at most half the RAM the kernel sees at boot (384 MiB less its image
    # and this initrd's compressed copy: some 130 MiB), and make bench's overlay (Debian's
    # 66 MB vmlinux for the Linux domU, the batch images) is 109 MB: dom0 died at boot
    # ("Initramfs unpacking failed: write error") and took every Xen guest with it
    overlay = subprocess.run("find . | cpio -o -H newc --quiet | gzip -1", shell=True,
                             cwd=stage, capture_output=True, check=True).stdout
    initrd = os.path.join(stage, "dom0+amphi.cpio.gz")
    with open(initrd, "wb") as f:
        with open(os.path.join(rig, "dom0.cpio.gz"), "rb") as base:
            shutil.copyfileobj(base, f)
        f.write(overlay)
    return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max,-smap", "-m", "1024",
            "-smp", RIG_SMP, "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-nic", nic, "-no-reboot", "-kernel", os.path.join(rig, "xen"),
            "-append", "console=com1 com1=115200,8n1 dom0_mem=384M,max:384M "
            "dom0_max_vcpus=1 bootscrub=0 loglvl=warning guest_loglvl=all " + RIG_XEN_ARGS,
            "-initrd", "%s console=hvc0 rdinit=/init rootfstype=ramfs quiet,%s" % (os.path.join(rig, "vmlinux"), initrd)
            ] + list(qemu_args)


def xl_cfg_values(text):
    """An xl config's simple settings (key = "string" or number): {key: value}"""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^\s*(\w+)\s*=\s*(?:"([^"]*)"|(\d+))\s*(#.*)?$', line)
        if m:
            out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def user_xl_config(stage, path):
    """A ready xl config (amphi image's) for the rig: its kernel, ramdisk and disk files
    staged in dom0 at the paths it names, and the rig's vCPU placement added at its end (every rig
    guest's: see RIG_GUEST_CPUS). Its text is returned."""
    with open(path) as f:
        text = f.read()
    values = xl_cfg_values(text)
    # (a disk's file too: dom0's copy, which its writes change, not the host's)
    disk_files = re.findall(r"target=(/[^,'\"\]]+)", text)
    for key, src in [(k, values[k]) for k in ("kernel", "ramdisk") if k in values] + \
            [("disk", f) for f in disk_files]:
        if not os.path.isabs(src) or not os.path.isfile(src):
            raise ValueError("%s: %s %r is not a file the rig can stage" % (path, key, src))
        dst = os.path.join(stage, src.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(src, dst)
    if RIG_GUEST_CPUS:
        text += "# added by the test rig: where its guests' vCPUs run\ncpus = %s\n" % RIG_GUEST_CPUS
    return text


def rig_messages(p):
    """The rig's own lines as they come from its QEMU p: (kind, text) for each
    @@AMPHI-CON|DOM0|XL|RIG|JOB line (the job's name taken off), Xen's and dom0's boot
    messages left out."""
    for raw in p.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        m = re.match(r"^@@AMPHI-(CON|DOM0|XL|RIG|JOB) (?:[\w-]+\|)?(.*)$", line)
        if m:
            yield m.groups()


def boot_xen(cell, cmdline, http_port, app="", app_args=""):
    """make run HV=xen-pv|xen-pvh: boots the rig with one guest, streams its console here
    and forwards the host's http_port to the guest's port 80 (QEMU user network -> dom0's
    eth0 port 8080 -> netclient relay -> the guest on xenbr0). Returns the guest's exit code
    (its EXIT line), or 1."""
    if "ip=" not in cmdline:  # no DHCP server on dom0's bridge
        cmdline = (cmdline + " ip=10.0.9.2/24").strip()
    rig, why = ensure_rig(lambda m: print(m, flush=True))
    if not rig:
        print("run.py: " + why)
        return 1
    test = Test("run", cmdline, None, rig="serve", timeout={"xen": 24 * 3600}, app=app,
                app_args=app_args)
    stage = tempfile.mkdtemp(prefix="amphi-run-")
    code = None
    try:
        cmd = rig_command(rig, stage, [(cell, test)],
                          nic="user,model=e1000,hostfwd=tcp:127.0.0.1:%d-10.0.2.15:8080" % http_port)
        print("$ " + " ".join(cmd), flush=True)
        print("Booting Xen and dom0 under TCG (about a minute), then `xl create` the guest.\n"
              "Once this says 'ready', try:  curl http://localhost:%d/\n"
              "Stop it with Ctrl-C." % http_port, flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        try:
            for kind, text in rig_messages(p):
                if kind == "CON":
                    print(text, flush=True)
                    e = re.match(r"^EXIT (\d+)", text)
                    if e:
                        code = int(e.group(1))
                elif kind == "RIG" and text.startswith(("TOOLSTACK_READY", "FAIL", "WARN")):
                    print("xen rig: " + text, flush=True)
                elif kind in ("DOM0", "XL"):
                    print("dom0: " + text, flush=True)
                    if text.startswith("relay: port 8080 to"):
                        print("ready: curl http://localhost:%d/" % http_port, flush=True)
            p.wait()
        except KeyboardInterrupt:
            p.terminate()
            p.wait()
            print("\nstopped")
            return 0
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print("guest exit code: %s" % code)
    return 0 if code == 0 else 1


def boot_xen_app(cell, cmdline, tar_path, ports, mem_mib, vcpus, on_line, disk=None,
                 preexec=None):
    """amphi run --hv xen-pv|xen-pvh: boots the rig with one guest running the app of the
    tar image (its ramdisk), hands on_line every line of its console as it comes, and
    relays each (protocol, host port, guest port) of ports: QEMU's user network to dom0's
    eth0 at the guest's port, and a relay in dom0 to the guest, once the app runs. disk: a
    raw image file, the rig's virtio disk, which dom0 gives the guest as its xvda (its
    writes land in the file). preexec: run in the rig's QEMU before it starts (amphi's:
    QEMU dies with amphi). Returns the guest's console lines, or None and why the rig
    could not boot."""
    if not re.match(r"^(\S+ )*ip=", cmdline.split(" -- ")[0]):  # no DHCP on dom0's bridge
        cmdline = "ip=10.0.9.2/24 " + cmdline  # (a kernel option: before the app's words)
    rig, why = ensure_rig(lambda m: print("amphi: " + m, file=sys.stderr, flush=True))
    if not rig:
        return None, why
    test = Test("run", cmdline, None, rig="serve,userdisk" if disk else "serve",
                timeout={"xen": 24 * 3600}, xl_ramdisk="app.tar", mem_mib=mem_mib, vcpus=vcpus,
                host_args="hp: running \n" + "".join(
                    "%d%s\n" % (g, "/udp" if proto == "udp" else "") for proto, _, g in ports))
    stage = tempfile.mkdtemp(prefix="amphi-run-")
    lines = []
    try:
        fwd = "".join(",hostfwd=%s:127.0.0.1:%d-10.0.2.15:%d" % p for p in ports)
        cmd = rig_command(rig, stage, [(cell, test)], nic="user,model=e1000" + fwd,
                          files={"app.tar": tar_path},
                          qemu_args=["-drive", "file=%s,format=raw,if=virtio,cache=writeback"
                                     % disk.replace(",", ",,")] if disk else ())
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, preexec_fn=preexec)
        try:
            for kind, text in rig_messages(p):
                if kind == "CON":
                    lines.append(text)
                    on_line(text)
                elif kind == "RIG" and text.startswith(("TOOLSTACK_READY", "FAIL", "WARN")):
                    print("amphi: xen rig: " + text, file=sys.stderr, flush=True)
                elif kind == "DOM0" and text.startswith(("relay: ", "disk: ", "no /dev/vda")):
                    print("amphi: dom0 " + text, file=sys.stderr, flush=True)
                elif kind == "XL" and text.strip():
                    print("amphi: xl: " + text, file=sys.stderr, flush=True)
                elif kind == "JOB" and " END " in text:
                    break
            p.terminate()
            p.wait()
        except BaseException:
            p.terminate()
            p.wait()
            raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return lines, None


def boot_xl_config(cell, cfg_path, on_line, limit=300):
    """Boots the rig with one guest made by `xl create` of a ready config (amphi image's
    xen-pv.cfg), its vif on the rig's bridge; hands on_line every console line. The
    config's name must be CELL-NAME (the rig's job and the domain are the same). Returns
    (the guest's console lines, how it ended: dom0-init.sh's reason), or (None, why)."""
    with open(cfg_path) as f:
        name = xl_cfg_values(f.read()).get("name", "")
    if not name.startswith(cell.name + "-"):
        return None, "%s: its name must begin with %s- (it is %r)" % (cfg_path, cell.name, name)
    rig, why = ensure_rig(lambda m: print(m, file=sys.stderr, flush=True))
    if not rig:
        return None, why
    test = Test(name[len(cell.name) + 1:], "", None, rig="vif", timeout={"xen": limit},
                xl_cfg=cfg_path)
    stage = tempfile.mkdtemp(prefix="amphi-xl-")
    lines, reason = [], "the rig ended before the guest did"
    try:
        cmd = rig_command(rig, stage, [(cell, test)])
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        timer = threading.Timer(limit + 180, p.kill)  # (the rig's boot, and the guest's limit)
        timer.start()
        try:
            for kind, text in rig_messages(p):
                if kind == "CON":
                    lines.append(text)
                    on_line(text)
                elif kind == "XL" and text.strip():
                    on_line("xl: " + text)
                elif kind == "RIG" and re.match(r"JOB \S+ RETRY", text):
                    on_line("(the rig retries the guest: %s)" % text)  # its own fault
                    lines = []
                elif kind == "JOB" and " END " in text:
                    m = re.search(r"reason=(\S+)", text)
                    reason = m.group(1) if m else text
                    break
        finally:
            timer.cancel()
            p.terminate()
            p.wait()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return lines, reason


def run_rig(jobs, say, on_line=None, files=None, qemu_args=()):
    """Boots Xen + dom0 once and xl-creates every job in it. jobs: [(cell, test)]
    Returns {(cell name, test name): Outcome} and the rig's own log. on_line: also called
    with each line of the rig's output as it comes (make soak: @@AMPHI-LIVE lines).
    files: more files for dom0's /amphi ({name: host path}; make bench's Linux guest).
    qemu_args: more of the rig's QEMU command (make bench --profile: a gdbstub)."""
    rig, why = ensure_rig(say)
    if not rig:
        return None, why
    say("xen: booting Xen + dom0 once for %d guests" % len(jobs))
    stage = tempfile.mkdtemp(prefix="amphi-rig-")
    try:
        names = {}
        for cell, test in jobs:
            names["%s-%s" % (cell.name, test.name)] = (cell, test)
        cmd = rig_command(rig, stage, jobs, files=files, qemu_args=qemu_args)
        # every job's limit, and one more of the longest for a job the rig retries (jobs
        # mostly end well within their limits, which leaves room for more)
        budget = 120 + sum(t.limit(c) + 5 for c, t in jobs) + max(t.limit(c) for c, t in jobs)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if on_line:
            text, timed_out = watch_output(p, budget, on_line)
        else:
            text, timed_out = wait_output(p, budget)
        secs = time.monotonic() - t0
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    rig_log = "$ %s\n%s\n[%.1f s%s]\n" % (" ".join(cmd), text, secs, ", TIMED OUT" if timed_out else "")
    results = {}
    per = {n: {"CON": [], "HV": [], "XL": [], "DOM0": []} for n in names}
    ends = {}
    retried = {}
    for line in text.splitlines():
        m = re.match(r"^@@AMPHI-(CON|HV|XL|DOM0) ([\w-]+)\|(.*)$", line)
        if m and m.group(2) in per:
            per[m.group(2)][m.group(1)].append(m.group(3))
            continue
        # the rig ran a job again after a fault of its own (dom0-init.sh; at most twice):
        # the earlier tries' lines stay in the log, the verdict is the last try's
        m = re.match(r"^@@AMPHI-RIG JOB ([\w-]+) RETRY (.*)$", line)
        if m and m.group(1) in per:
            first = per[m.group(1)]
            n, text_before, why = retried.get(m.group(1), (0, "", ""))
            retried[m.group(1)] = (n + 1, text_before + (
                "--- try %d; the rig retried %s ---\n" % (n + 1, m.group(2)) +
                "\n".join(first["CON"] + ["--- dom0 ---"] + first["DOM0"] + ["--- xl ---"] +
                          first["XL"]) + "\n"),
                why or m.group(2).split("retried ", 1)[-1])
            per[m.group(1)] = {"CON": [], "HV": [], "XL": [], "DOM0": []}
            continue
        m = re.match(r"^@@AMPHI-JOB ([\w-]+) END reason=(\S+) secs=(\S+) xl_rc=(\S+)", line)
        if m:
            ends[m.group(1)] = m.groups()[1:]
    # dom0 dead before its /init ran (a kernel panic at boot): every guest says why
    dom0_dead = None
    if "@@AMPHI-RIG DOM0_INIT" not in text:
        dom0_dead = next((l.strip() for l in text.splitlines() if re.search(
            r"Initramfs unpacking failed|Kernel panic|Hardware Dom0 crashed", l)), None)
    for name, (cell, test) in names.items():
        lines = per[name]["CON"]
        log = "\n".join(lines) + "\n"
        if per[name]["HV"]:
            log += "--- Xen console (xl dmesg) ---\n" + "\n".join(per[name]["HV"]) + "\n"
        if per[name]["DOM0"]:
            log += "--- dom0 ---\n" + "\n".join(per[name]["DOM0"]) + "\n"
            lines = lines + ["dom0: " + l for l in per[name]["DOM0"]]
        if per[name]["XL"]:
            log += "--- xl ---\n" + "\n".join(per[name]["XL"]) + "\n"
        if name not in ends:
            how = "the rig ended before this guest finished" + (" (rig timed out)" if timed_out else "")
            if dom0_dead:
                how = "the rig's dom0 died at boot, before any guest (%s)" % dom0_dead
            results[(cell.name, test.name)] = Outcome(lines, None, how, True, log + "[%s]\n" % how)
            continue
        reason, gsecs, rc = ends[name]
        code = {"poweroff": 0, "crash": "nonzero"}.get(reason)
        how = "xl: %s after %s s" % (reason, gsecs)
        log += "[%s, xl rc %s]\n" % (how, rc)
        times = ""
        if name in retried:
            n, before, why = retried[name]
            times = "once" if n == 1 else "twice"
            log = before + "--- try %d (the verdict's) ---\n" % (n + 1) + log
            how += "; retried %s after a fault of the rig" % times
        results[(cell.name, test.name)] = Outcome(lines + per[name]["HV"], code, how, reason == "timeout", log)
        results[(cell.name, test.name)].note = (
            "retried %s %s" % (times, retried[name][2]) if name in retried else "")
    return results, rig_log


# ---------------------------------------------------------------- report

def write_reports(cells, tests, results, totals, secs):
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, "test_matrix.md"), "w") as f:
        f.write("# Amphi test matrix\n\n| test | %s |\n|---|%s\n" % (
            " | ".join(c.name for c in cells), "---|" * len(cells)))
        for t in tests:
            f.write("| %s | %s |\n" % (t.name, " | ".join(
                results[(c.name, t.name)].status if (c.name, t.name) in results else "n/a" for c in cells)))
        f.write("\n%d passed, %d failed, %d skipped (%.0f s)\n\n" % (totals + (secs,)))
        for (cn, tn), r in sorted(results.items()):
            if r.status != "PASS" or r.retried:
                f.write("- %s / %s: %s%s %s\n" % (cn, tn, r.status, " (retried)" if r.retried else "",
                                                r.detail))
    with open(os.path.join(BUILD, "test_matrix.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<testsuite name="amphi-test-matrix" tests="%d" failures="%d" skipped="%d" time="%.1f">\n'
                % (sum(totals), totals[1], totals[2], secs))
        for (cn, tn), r in sorted(results.items()):
            f.write("  <testcase classname=%s name=%s>" % (quoteattr(cn), quoteattr(tn)))
            if r.status == "FAIL":
                f.write("<failure message=%s/>" % quoteattr(r.detail))
            elif r.status == "SKIP":
                f.write("<skipped message=%s/>" % quoteattr(r.detail))
            f.write("</testcase>\n")
        f.write("</testsuite>\n")


def print_table(cells, tests, results):
    w = max(len(t.name) for t in tests) + 2
    cw = [max(len(c.name), 4) + 2 for c in cells]
    print("".ljust(w) + "".join(c.name.ljust(cw[i]) for i, c in enumerate(cells)))
    for t in tests:
        row = t.name.ljust(w)
        for i, c in enumerate(cells):
            r = results.get((c.name, t.name))
            row += (r.status if r else "-").ljust(cw[i])
        print(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", help="comma list of cells (default: all)")
    ap.add_argument("--tests", help="comma list of tests (default: all)")
    ap.add_argument("--list", action="store_true", help="list cells and tests")
    ap.add_argument("--boot", action="store_true", help="boot once with the console here (make run)")
    ap.add_argument("--accel", default="tcg", choices=("tcg", "kvm"))
    ap.add_argument("--hv", default="qemu", choices=("qemu", "kvm", "xen-pv", "xen-pvh"),
                    help="make run: qemu (TCG), kvm, or a Xen cell through the Xen rig")
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--app", default="", help="make run: the app from build/apps/ to boot "
                    "(HP mode; none: the kernel's own HTTP server)")
    ap.add_argument("--app-args", default="", help="make run: the app's arguments")
    ap.add_argument("--http-port", type=int, default=8080,
                    help="make run: the host port forwarded to the guest's HTTP server")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each selected test N times (as name-rK): hunting a rare failure")
    ap.add_argument("--cycle", type=int, default=1,
                    help="run the selected tests N times over, in their order (as name-cK): "
                    "hunting a failure that depends on what ran before it")
    a = ap.parse_args()

    if a.list:
        for c in CELLS:
            print("cell %-14s platform %-8s %s" % (c.name, c.platform, " ".join(c.args) or "xl type=" + c.xl_type))
        for t in TESTS:
            print("test %-16s cmdline %-40s on %s" % (t.name, t.cmdline_for(CELLS[0]), "/".join(t.kinds)))
        return 0
    for f in (KERNEL, NETCLIENT):
        if not os.path.exists(f) and not a.boot:
            print("run.py: %s is missing; run make test (or make matrix)" % f)
            return 2
    if a.boot and a.app and not os.path.exists(os.path.join(APPS, a.app)):
        print("run.py: build/apps/%s is missing (make apps builds %s)" % (
            a.app, " ".join(sorted(os.listdir(APPS))) if os.path.isdir(APPS) else "them"))
        return 2
    if a.boot and a.hv.startswith("xen"):
        return boot_xen(next(c for c in CELLS if c.name == a.hv), a.cmdline, a.http_port,
                        a.app, a.app_args)
    if a.boot:
        cell = CELLS[2] if a.accel == "kvm" or a.hv == "kvm" else CELLS[0]
        nic = "virtio-net-pci" if cell.pci else "virtio-net-device"
        cmdline = " ".join(x for x in (cell.cmdline, a.cmdline) if x)
        if a.app:
            cmdline = " ".join(x for x in (cmdline, "app=" + a.app, "--" if a.app_args else "",
                                           a.app_args) if x)
        cmd = qemu_base(cell, cmdline) + (["-initrd", os.path.join(APPS, a.app)] if a.app else []) + [
            "-serial", "mon:stdio", "-no-reboot",
            # user networking: the guest's DHCP comes from QEMU; its port 80 is the host's
            # port 8080
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:80" % a.http_port,
            "-device", "%s,netdev=n0" % nic]
        print("$ " + " ".join(cmd), flush=True)
        print("Once the guest says 'http server', try:  curl http://localhost:%d/\n"
              "Stop the guest with Ctrl-A X." % a.http_port, flush=True)
        rc = subprocess.run(cmd).returncode
        code = (rc - 1) // 2 if rc % 2 else None
        print("guest exit code: %s (qemu status %d)" % (code, rc))
        return 0 if code == 0 else 1

    cells = [c for c in CELLS if not a.cells or c.name in a.cells.split(",")]
    tests = [t for t in TESTS if (not a.tests and not t.manual) or
             (a.tests and t.name in a.tests.split(","))]
    if not cells or not tests:
        print("run.py: no such cell or test (see --list)")
        return 2
    if a.repeat > 1:
        tests = [dataclasses.replace(t, name="%s-r%d" % (t.name, k + 1))
                 for t in tests for k in range(a.repeat)]
    if a.cycle > 1:
        tests = [dataclasses.replace(t, name="%s-c%d" % (t.name, k + 1))
                 for k in range(a.cycle) for t in tests]
    logdir = os.path.join(BUILD, "test_matrix")
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    t_start = time.monotonic()
    results = {}
    stalls = []
    lock = threading.Lock()

    def say(msg):
        with lock:
            print("[%5.1f s] %s" % (time.monotonic() - t_start, msg), flush=True)

    def record(cell, test, outcome):
        r = test.evaluate(sized(cell, test), outcome)
        if outcome.note:
            r.detail += " [%s]" % outcome.note
            r.retried = outcome.note
            # Only the host's documented fault (QEMU's emulated SVM corrupting a world
            # switch, test_matrix/README.md) may be retried into a pass; a dom0 program
            # that crashed or a netback that stalled is a fault the rig must not have
            # (its cause, vCPUs moving between Xen's CPUs, is removed): a failure
            if "nested-virtualization fault" not in outcome.note and r.status == "PASS":
                r.status = "FAIL"
                r.detail = "passed only when retried: " + r.detail
        with open(os.path.join(logdir, "%s-%s.log" % (cell.name, test.name)), "w") as f:
            f.write(outcome.log)
        # netfront's watchdog: netback answered none of the guest's transmit requests for
        # a second (issue 20). Counted in every test but tx_stall, which makes one.
        if not test.name.startswith("tx_stall"):
            for line in outcome.log.splitlines():
                if re.search(r"xnet\d+: the backend answered none of \d+ transmit requests", line):
                    stalls.append((cell.name, test.name, line.split("|", 1)[-1]))
        results[(cell.name, test.name)] = r
        say("%-13s %-9s %s %s" % (cell.name, test.name, r.status, r.detail))

    # The Xen cells share one rig boot, in the background while the QEMU cells run.
    for c in cells:
        for t in tests:
            if t.applies(c) and t.skip_reason(c):
                results[(c.name, t.name)] = Result("SKIP", t.skip_reason(c))
                say("%-13s %-9s SKIP %s" % (c.name, t.name, t.skip_reason(c)))
    xen_jobs = [(c, t) for c in cells if c.kind == "xen" for t in tests
                if t.applies(c) and not t.skip_reason(c)]
    xen_thread = None
    if xen_jobs:
        def xen_side():
            outs, rig_log = run_rig(xen_jobs, say)
            if outs is None:
                skip = rig_log.startswith("building the Xen rig needs root")
                for c, t in xen_jobs:
                    results[(c.name, t.name)] = Result("SKIP" if skip else "FAIL", rig_log)
                say("xen: %s" % rig_log)
                return
            with open(os.path.join(logdir, "xen-rig.log"), "w") as f:
                f.write(rig_log)
            for c, t in xen_jobs:
                record(c, t, outs[(c.name, t.name)])
        xen_thread = threading.Thread(target=xen_side)
        xen_thread.start()

    for cell in cells:
        if cell.kind != "qemu":
            continue
        why = kvm_usable() if cell.needs_kvm else None
        for test in tests:
            if not test.applies(cell) or test.skip_reason(cell):
                continue
            if why:
                results[(cell.name, test.name)] = Result("SKIP", why)
                say("%-13s %-9s SKIP %s" % (cell.name, test.name, why))
                continue
            record(cell, test, run_qemu(sized(cell, test), test))
    if xen_thread:
        xen_thread.join()

    secs = time.monotonic() - t_start
    counts = [sum(1 for r in results.values() if r.status == s) for s in ("PASS", "FAIL", "SKIP")]
    print()
    print_table(cells, tests, results)
    failed = [(k, r) for k, r in sorted(results.items()) if r.status != "PASS"]
    for (cn, tn), r in failed:
        print("%s %s / %s: %s" % (r.status, cn, tn, r.detail))
        if r.status == "FAIL":
            log = os.path.join(logdir, "%s-%s.log" % (cn, tn))
            if os.path.exists(log):
                with open(log) as f:
                    tail = failure_excerpt(f.read())
                print("  from %s:\n    %s" % (os.path.relpath(log, ROOT), "\n    ".join(tail)))
    write_reports(cells, tests, results, tuple(counts), secs)
    retried = [(k, r) for k, r in sorted(results.items()) if r.retried]
    for (cn, tn), r in retried:
        print("RETRIED %s / %s (%s): %s" % (cn, tn, r.status, r.retried))
    for cn, tn, line in stalls:
        print("STALL %s / %s: %s" % (cn, tn, line))
    if any(c.kind == "xen" for c in cells):
        print("netback stalls (netfront's watchdog, outside tx_stall): %d" % len(stalls))
    print("\ntest matrix: %d passed, %d failed, %d skipped, %d retried in %.0f s "
          "(build/test_matrix.md, .xml)" % (counts[0], counts[1], counts[2], len(retried), secs))
    return 1 if counts[1] else 0


def failure_excerpt(text):
    """A short view of a failed run's log for the summary (CI shows only the end of the
    output): the guest's last lines, then the tail of each other section (of dom0's, its
    own lines apart from its diagnostics), and of a Xen dump on a timeout only what
    concerns guests' vCPUs."""
    sections, name = {"guest": []}, "guest"
    for line in text.splitlines():
        m = re.match(r"^--- (.+) ---$", line)
        if m:
            name = m.group(1)
            sections.setdefault(name, [])
        else:
            sections[name].append(line)
    out = ["[guest] " + l for l in sections.pop("guest")[-12:]]
    for name, lines in sections.items():
        if "dmesg" in name or any("(XEN)" in l for l in lines):
            picked, guest = [], False
            for l in lines:
                if "(XEN)" not in l:
                    picked.append(l)
                elif re.search(r"\bd[1-9]\d*v\d", l):
                    picked.append(l)
                    guest = "state" in l
                elif guest and re.search(r"RIP:|RSP:|CR3:", l):
                    picked.append(l)
            lines = picked[-10:]
        else:
            # dom0's own lines (its client's verdict, xl's end) before its diagnostics,
            # which a failed client adds by the dozen (kernel log, vif rings) after them:
            # of those the first (the client's exit status) and the last
            own = [i for i, l in enumerate(lines) if not l.startswith("diag:")]
            diag = [i for i, l in enumerate(lines) if l.startswith("diag:")]
            keep = set(own[-6:] + diag[:1] + diag[-3:])
            lines = [l for i, l in enumerate(lines) if i in keep]
        out += ["[%s] %s" % (name, l) for l in lines]
    return out


if __name__ == "__main__":
    sys.exit(main())
