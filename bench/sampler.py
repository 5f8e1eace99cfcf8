"""A sampling profiler for a guest under QEMU (make bench's --profile). A thread talks
to QEMU's gdbstub (the remote protocol, no gdb needed): stop the guest, read every vCPU's
RIP, let it go on, a few hundred times a second; at the end the addresses are named from
the kernel's and the app's symbols (`nm`). Under TCG a stop lands between translated
blocks, so a sample is where a block begins. The guest stops for some 100 µs a sample,
which slows it a little; compare profiles with profiles, not with unprofiled figures.
SAMPLER_DELAY=S in the environment starts the samples S seconds after the app: for a hang,
the samples then show where the vCPUs are stuck, and the sampling does not disturb the
run that leads to it (how the TSO hang in mm_frames_alloc was found).
(QEMU's monitor, asked for the registers while the guest runs, was tried first: its answer
needs QEMU's big lock, so every vCPU waiting for that lock at a device register was caught
there, and half the samples fell on the LAPIC and virtio registers.)"""
import bisect
import collections
import os
import re
import socket
import subprocess
import threading
import time


class Sampler:
    def __init__(self, path, hz=200, wait=5.0):
        self.path = path
        self.wait = wait  # seconds for QEMU to make the socket
        self.period = 1.0 / hz
        self.samples = collections.Counter()  # (cpu, rip) -> n
        self.rounds = 0
        self.error = ""
        self.stop_ = threading.Event()
        self.thread = None
        self.buf = b""

    def start(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_.set()
        if self.thread:
            self.thread.join(5)

    # the remote protocol: $data#checksum, each packet acknowledged with '+' (QEMU 7.2
    # has no QStartNoAckMode)
    def send(self, s, data):
        pkt = b"$" + data + b"#%02x" % (sum(data) & 255)
        s.sendall(pkt)

    def reply(self, s):
        while True:
            m = re.search(rb"\$([^#]*)#..", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                s.sendall(b"+")
                return m.group(1)
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("gdbstub closed")
            self.buf += chunk

    def ask(self, s, data):
        """a request's answer (a stop reply ahead of it, as the one a connection brings,
        is passed over)"""
        self.send(s, data)
        while True:
            r = self.reply(s)
            if not r[:1] in (b"T", b"S"):
                return r

    def run(self):
        s = None
        for _ in range(int(self.wait / 0.05)):  # (QEMU makes it a moment after it starts)
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.path)
                break
            except OSError:
                s = None
                if self.stop_.wait(0.05):
                    break
        if not s:
            self.error = "no gdbstub at " + self.path
            return
        s.settimeout(5)
        try:
            # a connection stops the guest; a vCPU is a thread "pP.T"
            self.ask(s, b"qSupported:multiprocess+")
            threads = []
            r = self.ask(s, b"qfThreadInfo")
            while r.startswith(b"m"):
                threads += r[1:].split(b",")
                r = self.ask(s, b"qsThreadInfo")
            self.send(s, b"c")
            self.stop_.wait(float(os.environ.get("SAMPLER_DELAY", "0")))
            while not self.stop_.is_set():
                time.sleep(self.period)
                s.sendall(b"\x03")
                self.reply(s)  # the stop reply
                for cpu, t in enumerate(threads):
                    self.ask(s, b"Hg" + t)
                    r = self.ask(s, b"g")  # rax..r15, then rip: little-endian hex
                    if len(r) >= 272:
                        self.samples[(cpu, int.from_bytes(bytes.fromhex(r[256:272].decode()),
                                                          "little"))] += 1
                self.rounds += 1
                self.send(s, b"c")
        except (OSError, ValueError) as e:
            self.error = str(e)
        finally:
            s.close()


class Symbols:
    def __init__(self, elfs):
        pairs = []
        for elf in elfs:
            try:
                out = subprocess.run(["nm", "-n", "--defined-only", elf], capture_output=True,
                                     text=True).stdout
            except OSError:
                continue
            for line in out.splitlines():
                w = line.split()
                if len(w) == 3 and w[1] in "tTwW":
                    pairs.append((int(w[0], 16), w[2]))
        pairs.sort()
        self.addrs = [a for a, _ in pairs]
        self.names = [n for _, n in pairs]

    def name(self, rip):
        i = bisect.bisect_right(self.addrs, rip) - 1
        return self.names[i] if i >= 0 and rip - self.addrs[i] < 1 << 20 else "0x%x" % rip


IDLE = ("arch_halt_insn",)  # where a halted vCPU stands


def report(sampler, elfs, top=50):
    """the profile as text: per CPU the share idle; then the functions, most first"""
    sym = Symbols(elfs)
    total = sum(sampler.samples.values())
    if not total:
        return "profile: no samples (%s)\n" % (sampler.error or "none taken")
    per_fn = collections.Counter()
    per_cpu = collections.Counter()
    idle = collections.Counter()
    for (cpu, rip), n in sampler.samples.items():
        name = sym.name(rip)
        per_cpu[cpu] += n
        if name in IDLE:
            idle[cpu] += n
        else:
            per_fn[name] += n
    lines = ["profile: %d rounds, %d samples%s" % (
        sampler.rounds, total, "; ended by: " + sampler.error if sampler.error else "")]
    for cpu in sorted(per_cpu):
        lines.append("  cpu%d: %.1f%% halted" % (cpu, 100.0 * idle[cpu] / per_cpu[cpu]))
    busy = total - sum(idle.values())
    lines.append("  busy samples, by function:")
    for fn, n in per_fn.most_common(top):
        lines.append("  %6.2f%% %6d  %s" % (100.0 * n / max(busy, 1), n, fn))
    return "\n".join(lines) + "\n"


# The Xen rig's address ranges (the outer QEMU sees whatever its CPU runs: Xen, dom0, a
# guest): Amphi's kernel lies below Linux's, whose text starts at 16 MiB into the kernel
# map whatever its KASLR picks; Xen keeps 0xffff8000'00000000-0xffff87ff'ffffffff.
AMPHI_KERNEL = (0xffffffff80000000, 0xffffffff81000000)
XEN = (0xffff800000000000, 0xffff880000000000)


def report_rig(sampler, elfs, top=50):
    """A profile of the whole rig (make bench --profile on the Xen cells): per CPU of the
    rig (Xen's CPU 0 runs dom0, CPU 1 the guests) the share of Amphi's kernel, Xen, a
    Linux kernel (dom0's or the Linux guest's) and user space; then the functions. Amphi's
    kernel and apps are named (the apps' addresses may be the Linux guest's running the
    same binary, or a dom0 program's); Xen and Linux are not (no symbols)."""
    sym = Symbols(elfs)
    total = sum(sampler.samples.values())
    if not total:
        return "profile: no samples (%s)\n" % (sampler.error or "none taken")
    per_cpu = collections.defaultdict(collections.Counter)
    per_fn = collections.Counter()
    for (cpu, rip), n in sampler.samples.items():
        if AMPHI_KERNEL[0] <= rip < AMPHI_KERNEL[1]:
            kind, name = "amphi", sym.name(rip)
            if name in IDLE:
                kind = "amphi halted"
        elif XEN[0] <= rip < XEN[1]:
            kind, name = "xen", "(Xen)"
        elif rip >= 1 << 63:
            kind, name = "linux", "(a Linux kernel: dom0's or the Linux guest's)"
        else:
            kind, name = "user", sym.name(rip)
            if name.startswith("0x"):
                name = "(user space, not an app's symbol)"
        per_cpu[cpu][kind] += n
        per_fn[name] += n
    lines = ["profile of the rig: %d rounds, %d samples%s" % (
        sampler.rounds, total, "; ended by: " + sampler.error if sampler.error else "")]
    for cpu in sorted(per_cpu):
        c = per_cpu[cpu]
        lines.append("  cpu%d: " % cpu + ", ".join(
            "%s %.1f%%" % (k, 100.0 * v / sum(c.values())) for k, v in c.most_common()))
    lines.append("  all samples, by function:")
    for fn, n in per_fn.most_common(top):
        lines.append("  %6.2f%% %6d  %s" % (100.0 * n / total, n, fn))
    return "\n".join(lines) + "\n"
