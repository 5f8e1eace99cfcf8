#!/usr/bin/env python3
"""tools/amphi's tests (make test): a new user's commands, each booting QEMU (TCG) as the
user would, then five on Xen PV in the nested rig (--no-xen leaves those out), and what
they print and return checked. Ends with "amphi: N passed, N failed". Needs
build/amphi.elf, build/netclient and build/apps (make all apps build/netclient)."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
TREE = os.path.dirname(HERE)
AMPHI = os.path.join(HERE, "amphi")
APPS = os.path.join(TREE, "build", "apps")
passed = failed = 0


def amphi(*args, env=None, timeout=120):
    r = subprocess.run([AMPHI] + list(args), capture_output=True, text=True, timeout=timeout,
                       env=env)
    return r.returncode, r.stdout, r.stderr


def check(name, problems):
    global passed, failed
    problems = [p for p in problems if p]
    if problems:
        failed += 1
        print("FAIL %s: %s" % (name, "; ".join(problems)), flush=True)
    else:
        passed += 1
        print("PASS %s" % name, flush=True)


def has(text, rx, what=None):
    return "" if re.search(rx, text, re.M) else "no line matching %r%s" % (
        rx, " (%s)" % what if what else "")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def disk_pattern(who, first, n):
    """test_matrix/run.py's: 16 lines "amphi WHO sector N" of 32 bytes a sector"""
    return b"".join(((("amphi %s sector %d" % (who, s)).ljust(31) + "\n") * 16).encode()
                    for s in range(first, first + n))


def make_disk(path):
    """the matrix's disk for apps/rawdisk: 16 MiB, the host's pattern in sectors 0-2047"""
    with open(path, "wb") as f:
        f.write(disk_pattern("dom0", 0, 2048))
        f.truncate(16 << 20)


def disk_written(path):
    """apps/rawdisk's writes (the guest's pattern in sectors 2048-4095) are in the file"""
    with open(path, "rb") as f:
        f.seek(2048 * 512)
        return "" if f.read(2048 * 512) == disk_pattern("guest", 2048, 2048) else \
            "the guest's pattern is not in %s" % path


def udp_echoed(port, count, seconds):
    """count datagrams to 127.0.0.1:port, each sent again until echoed: how many were"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    got = set()
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        for i in range(count):
            if i not in got:
                s.sendto(b"amphi udp %d" % i, ("127.0.0.1", port))
        try:
            while True:
                data = s.recv(2048)
                m = re.match(rb"^amphi udp (\d+)$", data)
                if m:
                    got.add(int(m.group(1)))
        except socket.timeout:
            pass
    s.close()
    return len(got)


def finish(p, timeout):
    """a Popen'd amphi's (out, err), killed if it has not ended within timeout s"""
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate()


def udp_case(title, hv, seconds, udp):
    """udp_echo behind -p HOST:7/udp, 20 datagrams echoed, then amphi's status 0"""
    port = free_port()
    p = subprocess.Popen([AMPHI, "run"] + hv + ["-p", "%d:7/udp" % port, udp, "7", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    echoed = udp_echoed(port, 20, seconds)
    out, err = finish(p, 120 if hv else 60)
    check(title, [
        "" if echoed == 20 else "%d of 20 datagrams echoed" % echoed,
        "" if p.returncode == 0 else "amphi returned %s: %s" % (p.returncode, err.strip()[-300:])])


def rig_left():
    """QEMUs of amphi's rig boots still running (their stage is amphi-run-*)"""
    r = subprocess.run(["pgrep", "-af", "amphi-run-"], capture_output=True, text=True)
    return [l for l in r.stdout.splitlines() if "qemu-system" in l]


def xen_cases(tmp, www, hello, http, udp, rawdisk):
    rc, out, err = amphi("run", "--hv", "xen-pv", "--env", "GREETING=xen", "--dir",
                         www + ":/srv", hello, "a=b", "two", timeout=900)
    if "building the Xen rig needs root" in err:
        check("run on xen-pv (skipped: the rig needs root)", [])
        return
    check("run hello on xen-pv: arguments, environment, status", [
        "" if rc == 3 else "amphi returned %d, the program's status is 3: %s" % (
            rc, err.strip()[-300:]),
        has(out, r"^platform: xen-pv "), has(out, r"^argv\[1\]=a=b$"),
        has(out, r"^GREETING=xen$")])

    port = free_port()
    rc, out, err = amphi("run", "--hv", "xen-pv", "--detach", "--name", "xweb", "-p",
                         "%d:80" % port, http, "80", "0")
    answer = ""
    deadline = time.monotonic() + 600
    while not answer and rc == 0 and time.monotonic() < deadline:
        answer = subprocess.run(["curl", "-s", "-m", "30", "http://127.0.0.1:%d/" % port],
                                capture_output=True, text=True).stdout
        if not answer:
            time.sleep(1)
    rc_ps, ps, _ = amphi("ps")
    rc_stop, stop, _ = amphi("stop", "xweb")
    time.sleep(1)
    left = rig_left()
    check("run --detach -p on xen-pv: HTTP answered through dom0's relay, ps, stop", [
        "" if rc == 0 else "amphi run returned %d: %s" % (rc, err.strip()),
        has(answer, r"^hello from Amphi .*\(hp mode on xen-pv\)", "curl through -p"),
        has(ps, r"^xweb\s+\d+\s+xen-pv\s+hp\s+.*%d:80" % port, "amphi ps"),
        has(stop, r"^amphi: xweb stopped; its console log: "),
        "" if not left else "the rig's QEMU still runs after amphi stop: %s" % left[0][:200]])

    udp_case("run -p HOST:GUEST/udp on xen-pv: datagrams echoed through dom0's relay",
             ["--hv", "xen-pv"], 600, udp)

    disk = os.path.join(tmp, "xen-disk.img")
    make_disk(disk)
    rc, out, err = amphi("run", "--hv", "xen-pv", "--disk", disk, rawdisk, "/dev/vda",
                         timeout=900)
    check("run --disk on xen-pv: the file as the guest's disk, read and written", [
        "" if rc == 0 else "amphi returned %d: %s" % (rc, err.strip()[-300:]),
        has(out, r"^rawdisk: \d+ checks, 0 failed$"), has(err, r"dom0 disk: /dev/vda, 16 MiB"),
        disk_written(disk)])

    # amphi image's xl config, as written, booted by xl in the rig (its vif on the rig's
    # bridge, its disk a file)
    out_dir = os.path.join(tmp, "ximg")
    disk2 = os.path.join(tmp, "ximg-disk.img")
    make_disk(disk2)
    rc, out, err = amphi("image", "--name", "xen-pv-image", "--ip", "10.0.9.2/24", "--disk",
                         disk2, rawdisk, "/dev/vda", "-o", out_dir)
    sys.path.insert(0, os.path.join(TREE, "test_matrix"))
    import run as rig
    cell = next(c for c in rig.CELLS if c.name == "xen-pv")
    lines, how = rig.boot_xl_config(cell, os.path.join(out_dir, "xen-pv.cfg"), lambda l: None) \
        if rc == 0 else ([], "amphi image returned %d: %s" % (rc, err.strip()))
    con = "\n".join(lines or [])
    check("image: the xl config booted by xl in the rig (PV; vif, disk, extra)", [
        "" if lines is not None else "the rig: %s" % how,
        has(con, r"^hp: running /bin/rawdisk \(hp mode"),
        has(con, r"^rawdisk: \d+ checks, 0 failed$"),
        has(con, r"^hp: /bin/rawdisk exited with status 0"),
        has(con, r"^net: address 10\.0\.9\.2 \(static\) on ", "the vif"),
        "" if how == "poweroff" else "the guest ended by %s" % how])


def main():
    tmp = tempfile.mkdtemp(prefix="amphi-test-")
    # this run's VMs only (the Xen rig and the other caches stay where they are)
    os.environ["AMPHI_STATE"] = os.path.join(tmp, "vms")
    www = os.path.join(tmp, "www")
    os.makedirs(os.path.join(www, "sub"))
    with open(os.path.join(www, "sub", "note.txt"), "w") as f:
        f.write("from the host\n")
    hello, readfile, http, rawdisk, udp = (os.path.join(APPS, n) for n in (
        "hello", "readfile", "http_hello", "rawdisk", "udp_echo"))

    # arguments (one holding '='), the environment, exit status 3; HP and normal mode
    for mode in ("hp", "normal"):
        rc, out, err = amphi("run", "--mode", mode, "--env", "GREETING=hey", hello, "a=b", "two")
        check("run hello (%s mode): arguments, environment, status" % mode, [
            "" if rc == 3 else "amphi returned %d, the program's status is 3" % rc,
            has(out, r"^hp: running /bin/hello \(%s mode" % mode),
            has(out, r"^argc=3$"), has(out, r"^argv\[1\]=a=b$"), has(out, r"^argv\[2\]=two$"),
            has(out, r"^GREETING=hey$")])

    # a directory of the host, read by the program in the guest
    rc, out, err = amphi("run", "--dir", www + ":/srv", readfile, "/srv/sub/note.txt", "/srv")
    check("run readfile with --dir", [
        "" if rc == 0 else "amphi returned %d" % rc,
        has(out, r'^/srv/sub/note.txt: 14 bytes .*first line "from the host"'),
        has(out, r"^/srv: directory: .*\bsub/")])

    # a dynamic program: refused, saying how to build it
    dyn = "/bin/true"
    rc, out, err = amphi("run", dyn)
    check("a dynamic ELF refused", [
        "" if rc == 2 else "amphi returned %d, expected 2" % rc,
        has(err, r"dynamically linked"), has(err, r"-static"), has(err, r"CGO_ENABLED=0")])
    rc, out, err = amphi("run", "-p", "80", hello)
    check("a bad -p refused", ["" if rc == 2 else "amphi returned %d" % rc,
                               has(err, r"-p 80: give HOST:GUEST")])

    # an HTTP server in the background, answered through -p; ps and stop
    port = free_port()
    rc, out, err = amphi("run", "--detach", "--name", "web", "-p", "%d:80" % port, http, "80", "0")
    answer = ""
    for _ in range(120):
        try:
            answer = subprocess.run(["curl", "-s", "-m", "2", "http://127.0.0.1:%d/" % port],
                                    capture_output=True, text=True).stdout
        except OSError:
            break
        if answer:
            break
        time.sleep(0.5)
    rc_ps, ps, _ = amphi("ps")
    rc_stop, stop, _ = amphi("stop", "web")
    rc_ps2, ps2, _ = amphi("ps")
    check("run --detach -p: HTTP answered, ps, stop", [
        "" if rc == 0 else "amphi run returned %d: %s" % (rc, err.strip()),
        has(answer, r"^hello from Amphi .*\(hp mode on qemu\)", "curl through -p"),
        has(ps, r"^web\s+\d+\s+qemu\s+hp\s+.*%d:80" % port, "amphi ps"),
        has(stop, r"^amphi: web stopped; its console log: "),
        has(ps2, r"^amphi: no VM started with --detach is running")])

    # the README's quick start: a Go HTTP server (CGO_ENABLED=0) answered through -p; it
    # ends after 3 requests, and amphi with its status
    port = free_port()
    p = subprocess.Popen([AMPHI, "run", "-p", "%d:8080" % port, os.path.join(APPS, "go_http"),
                          "8080", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers = []
    deadline = time.monotonic() + 120
    while len(answers) < 3 and p.poll() is None and time.monotonic() < deadline:
        r = subprocess.run(["curl", "-s", "-m", "10", "http://127.0.0.1:%d/" % port],
                           capture_output=True, text=True)
        if r.stdout:
            answers.append(r.stdout)
        else:
            time.sleep(0.3)
    out, err = finish(p, 60)
    check("run -p: a Go HTTP server answered 3 times, then its status", [
        "" if len(answers) == 3 else "%d answers of 3" % len(answers),
        "" if p.returncode == 0 else "amphi returned %s: %s" % (p.returncode, err.strip()[-300:])])

    # a disk image of the host's as /dev/vda: the program's checks, and its writes in the file
    disk = os.path.join(tmp, "disk.img")
    make_disk(disk)
    rc, out, err = amphi("run", "--disk", disk, rawdisk, "/dev/vda")
    check("run --disk: /dev/vda read and written", [
        "" if rc == 0 else "amphi returned %d: %s" % (rc, err.strip()[-300:]),
        has(out, r"^rawdisk: \d+ checks, 0 failed$"), disk_written(disk)])
    rc, out, err = amphi("run", "--disk", os.path.join(tmp, "nodisk.img"), hello)
    check("a missing --disk refused", ["" if rc == 2 else "amphi returned %d" % rc,
                                       has(err, r"no such file \(make one with `truncate")])

    # a UDP port: datagrams echoed through -p HOST:GUEST/udp
    udp_case("run -p HOST:GUEST/udp: datagrams echoed", [], 60, udp)

    # amphi image: the files, and the written QEMU script booted (TCG here, KVM elsewhere)
    out_dir = os.path.join(tmp, "img")
    rc, out, err = amphi("image", "--env", "GREETING=img", hello, "x", "-o", out_dir)
    files = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
    cfg = open(os.path.join(out_dir, "xen-pv.cfg")).read() if "xen-pv.cfg" in files else ""
    boot = subprocess.run([os.path.join(out_dir, "run-qemu.sh")], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, ACCEL="tcg"),
                          stdin=subprocess.DEVNULL) if "run-qemu.sh" in files else None
    check("image: files, xl config, the QEMU script booted", [
        "" if rc == 0 else "amphi image returned %d: %s" % (rc, err.strip()),
        "" if files == ["amphi.elf", "app.tar", "run-qemu.sh", "xen-pv.cfg", "xen-pvh.cfg"]
        else "files: %s" % files,
        has(cfg, r'^type = "pv"$'), has(cfg, r'^kernel = "%s/amphi.elf"$' % re.escape(out_dir)),
        has(cfg, r'^ramdisk = "%s/app.tar"$' % re.escape(out_dir)),
        has(cfg, r'^extra = "app=/bin/hello -- GREETING=img -- x"$'),
        "" if boot and boot.returncode == 7 else "run-qemu.sh: QEMU status %s, expected 7 "
        "(status 3)" % (boot.returncode if boot else "-"),
        has(boot.stdout if boot else "", r"^argv\[1\]=x$"),
        has(boot.stdout if boot else "", r"^GREETING=img$")])

    # Xen PV on the nested rig (one rig boot each): arguments, environment, a directory,
    # the status; an HTTP server in the background answered through -p, ps, stop; UDP
    # through -p; a disk; and amphi image's xl config booted by xl
    if "--no-xen" not in sys.argv:
        xen_cases(tmp, www, hello, http, udp, rawdisk)

    print("amphi: %d passed, %d failed" % (passed, failed))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
