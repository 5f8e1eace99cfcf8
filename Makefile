# Amphi: one non-recursive Makefile; everything it makes goes to build/.
#   make            build build/amphi.elf
#   make run        install what is missing, build, boot under QEMU (see README.md)
#   make test       install what is missing, host unit tests, fuzz and bench smoke runs, then
#                   the test matrix
#   make soak       UDP, TCP and HTTP at one guest for SOAK_S s (not in make test)
#   make bench      Amphi against a Debian Linux guest, side by side (bench/README.md)
#   make deps       install the Debian packages the build, run and tests need
#   make clean
BUILD ?= build
CC := gcc
LD := ld
PYTHON ?= python3

# Everything in these folders that is not a host test is kernel code.
KDIRS := arch_x86_64 hv_kvm hv_xen virtio netfront blkfront net common mm sched hp lib
KSRC := $(filter-out %_test.c,$(foreach d,$(KDIRS),$(wildcard $(d)/*.c $(d)/*.S)))
KOBJ := $(patsubst %,$(BUILD)/k/%.o,$(KSRC))

# lwIP from Debian's source package, unpacked in the cache by tools/lwip.sh (make deps):
# the IPv4 core, ARP, ICMP, UDP, TCP, DHCP and Ethernet; configured by net/port/.
LWIP := $(shell tools/lwip.sh --dir)/src
LWIP_FILES := core/def.c core/inet_chksum.c core/init.c core/ip.c core/mem.c core/memp.c \
	core/netif.c core/pbuf.c core/stats.c core/tcp.c core/tcp_in.c core/tcp_out.c \
	core/timeouts.c core/udp.c core/ipv4/dhcp.c core/ipv4/etharp.c core/ipv4/icmp.c \
	core/ipv4/ip4.c core/ipv4/ip4_addr.c core/ipv4/ip4_frag.c netif/ethernet.c
LWIP_OBJ := $(patsubst %.c,$(BUILD)/lwip/%.o,$(LWIP_FILES))
LWIP_INC := -Inet/port -I$(LWIP)/include
ALLOBJ := $(KOBJ) $(LWIP_OBJ)

GCC_INC := $(shell $(CC) -print-file-name=include)
XEN_INC := /usr/include/xen
# gnu11: C11 plus the GNU extensions a kernel cannot do without (asm, typeof); the Xen
# headers also need them for their anonymous register unions.
COMMON_CFLAGS := -std=gnu11 -g -Wall -Wextra -Wno-unused-parameter -Werror \
	-I. -I$(BUILD)/include -D__XEN_INTERFACE_VERSION__=0x00040e00
# Kernel: freestanding, no SSE/x87 (see DEVELOPERS.md and PLATFORM.md: the local KVM dies on
# them in ring 0), no endbr64, frame pointers and no tail calls so that panic backtraces show
# every caller, linked at -2 GiB. No frame over 4 KiB, a quarter of a thread's stack (the
# largest now: memmap_normalise, ~3.1 KiB; a 12.7 KiB frame once overflowed a stack).
KCFLAGS := $(COMMON_CFLAGS) -MMD -MP -O2 -ffreestanding -nostdinc -isystem $(GCC_INC) \
	-mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-pic -fno-pie \
	-fno-stack-protector -fno-omit-frame-pointer -fno-optimize-sibling-calls \
	-fno-asynchronous-unwind-tables \
	-fcf-protection=none -fno-common -fno-strict-aliasing -Wframe-larger-than=4096
KLDFLAGS := -nostdlib -static -no-pie -z max-page-size=4096 -z noexecstack --build-id=none \
	--no-warn-rwx-segments -T arch_x86_64/kernel.ld

# Host unit tests: pure code (no asm, no hardware) compiled for the host with sanitizers.
HOST_SRC := lib/chacha.c lib/rng.c lib/format.c lib/cmdline.c lib/memmap.c lib/acpi.c lib/pvclock.c lib/ksyms.c lib/time.c lib/inet.c lib/siphash.c lib/elf.c lib/tar.c \
	arch_x86_64/boot_pvh.c arch_x86_64/boot_xenpv.c mm/frame.c mm/heap.c mm/early.c mm/vm.c \
	sched/sync.c sched/balance.c common/devices.c hp/mmap_area.c hv_xen/grant.c hv_xen/xs_msg.c netfront/resp.c blkfront/resp.c virtio/virtq.c virtio/mmio_cmdline.c virtio/negotiate.c net/frame.c \
	tools/unit/unit.c
HOST_TESTS := $(foreach d,$(KDIRS),$(wildcard $(d)/*_test.c))
HCFLAGS := $(COMMON_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -DHOST_TEST
# The lock-free code's tests again under ThreadSanitizer, which ASan excludes.
TSAN_TESTS := net/chan_test.c lib/mpsc_test.c sched/sync_test.c sched/sync.c \
	sched/balance_test.c sched/balance.c hv_xen/grant_test.c hv_xen/grant.c \
	common/devices_test.c common/devices.c mm/frame_test.c mm/frame.c

# V=1 shows the full commands
Q := $(if $(V),,@)

.PHONY: all run install test unit matrix deps clean apps fuzz fuzz-build fuzz-smoke rig-crashloop soak \
	bench bench-smoke
all: $(BUILD)/amphi.elf

# The public headers the kernel uses from Debian packages, and only those: Xen's (libxen-dev)
# and the Linux uapi ones virtio/ takes its structures from (linux-libc-dev).
LINUX_INC := /usr/include/linux
$(BUILD)/include/stamp: Makefile
	@mkdir -p $(BUILD)/include
	@test -d $(XEN_INC) || { echo "missing $(XEN_INC): run 'make deps' (libxen-dev)"; exit 1; }
	@test -f $(LINUX_INC)/virtio_ring.h || { echo "missing $(LINUX_INC): run 'make deps' (linux-libc-dev)"; exit 1; }
	$(Q)ln -sfn $(XEN_INC) $(BUILD)/include/xen
	$(Q)ln -sfn $(LINUX_INC) $(BUILD)/include/linux
	$(Q)ln -sfn /usr/include/$(shell $(CC) -print-multiarch)/asm $(BUILD)/include/asm
	$(Q)ln -sfn /usr/include/asm-generic $(BUILD)/include/asm-generic
	$(Q)touch $@

$(BUILD)/k/%.c.o: %.c Makefile | $(BUILD)/include/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

# net/ sees lwIP's headers; lwIP itself is third-party code, built without our warnings
$(BUILD)/k/net/%.c.o: net/%.c Makefile | $(BUILD)/include/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(KCFLAGS) $(LWIP_INC) -c $< -o $@

$(BUILD)/lwip/%.o: $(LWIP)/%.c $(wildcard net/port/*.h net/port/arch/*.h) Makefile | $(BUILD)/include/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      lwip/$*.c")
	$(Q)$(CC) $(filter-out -Werror -Wall -Wextra -MMD -MP,$(KCFLAGS)) -w $(LWIP_INC) -c $< -o $@

# lwIP 2.1.3's tcp_split_unsent_seg leaves a FIN (and PSH) on the first part of a segment
# it splits, as well as on the rest: its callers (the persist timer, net/core.c's
# tcp_unstick) reach it through net/core.c's wrapper, which clears them
$(BUILD)/lwip/core/tcp_out.o: KCFLAGS += -Dtcp_split_unsent_seg=lwip_tcp_split_unsent_seg

$(LWIP)/%.c:
	@echo "missing lwIP source $@: run 'make deps' (tools/lwip.sh fetches it)"; exit 1

$(BUILD)/k/%.S.o: %.S Makefile | $(BUILD)/include/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(KCFLAGS) -D__ASSEMBLY__ -c $< -o $@

# The vDSO (hp/vdso/): a shared object of its own, position-independent and without libc,
# kept in the kernel image by hp/vdso_blob.S (which the kernel maps into every app).
VDSO_SO := $(BUILD)/vdso/vdso.so
VDSO_CFLAGS := $(COMMON_CFLAGS) -O2 -fPIC -ffreestanding -nostdinc -isystem $(GCC_INC) \
	-mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fcf-protection=none -fno-plt -nostdlib -shared -Wl,-T,hp/vdso/vdso.lds \
	-Wl,--version-script=hp/vdso/vdso.map -Wl,--hash-style=both \
	-Wl,-soname=linux-vdso.so.1 -Wl,-z,max-page-size=4096 -Wl,--build-id=none \
	-Wl,-z,noexecstack -g0 -Wl,--strip-all
$(VDSO_SO): hp/vdso/vdso.c hp/vdso/vdso.lds hp/vdso/vdso.map common/vclock.h lib/pvclock.h \
		Makefile | $(BUILD)/include/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  VDSO    $@")
	$(Q)$(CC) $(VDSO_CFLAGS) -o $@ hp/vdso/vdso.c
	$(Q)! readelf -r $@ | grep -q "^Relocation section" || { echo "$@: relocations"; rm -f $@; exit 1; }
$(BUILD)/k/hp/vdso_blob.S.o: $(VDSO_SO)
$(BUILD)/k/hp/vdso_blob.S.o: KCFLAGS += -DVDSO_SO='"$(VDSO_SO)"'

# Two-pass link for the symbol table the panic backtrace prints: pass 1 has an empty
# table; its text symbols become the table of pass 2. The table sits after .data, so text
# addresses cannot move between the passes; ksyms.sh --check proves it.
$(BUILD)/amphi.pass1.elf: $(ALLOBJ) $(BUILD)/k/ksyms-empty.o arch_x86_64/kernel.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(ALLOBJ) $(BUILD)/k/ksyms-empty.o

$(BUILD)/k/ksyms-empty.S: tools/ksyms.sh
	@mkdir -p $(dir $@)
	$(Q)tools/ksyms.sh --empty >$@

$(BUILD)/k/ksyms-table.S: $(BUILD)/amphi.pass1.elf tools/ksyms.sh
	$(Q)tools/ksyms.sh $< >$@

$(BUILD)/k/ksyms-%.o: $(BUILD)/k/ksyms-%.S
	$(Q)$(CC) $(KCFLAGS) -D__ASSEMBLY__ -c $< -o $@

$(BUILD)/amphi.elf: $(ALLOBJ) $(BUILD)/k/ksyms-table.o arch_x86_64/kernel.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(KLDFLAGS) -o $@.tmp $(ALLOBJ) $(BUILD)/k/ksyms-table.o
	$(Q)tools/ksyms.sh --check $(BUILD)/amphi.pass1.elf $@.tmp
	$(Q)mv $@.tmp $@

HDRS := $(wildcard */*.h tools/unit/*.h)
# kernel sources a test compiles into itself (#include "dir/file.c")
HOST_INCLUDED := netfront/netfront.c
$(BUILD)/host/unit: $(HOST_SRC) $(HOST_TESTS) $(HOST_INCLUDED) $(HDRS) | $(BUILD)/include/stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(CC) $(HCFLAGS) -pthread -o $@ $(HOST_SRC) $(HOST_TESTS)

$(BUILD)/host/unit-tsan: $(TSAN_TESTS) tools/unit/unit.c $(HDRS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(CC) $(COMMON_CFLAGS) -O1 -g -fsanitize=thread -pthread -DHOST_TEST -o $@ \
		tools/unit/unit.c $(TSAN_TESTS)

# libFuzzer harnesses (fuzz/README.md): one per parser and ring consumer the host build has,
# with Debian's clang, each linked with the kernel files it drives. `make fuzz` runs each for
# FUZZ_S seconds (or FUZZ_RUNS executions, if given); `make fuzz-smoke` for 4 s each (about
# 80 s in all, with libFuzzer's start and exit), failing on any crash or broken invariant.
FUZZ_CC := clang-14
FUZZ_S ?= 60
FUZZ_SMOKE_S ?= 4
FUZZ_RUNS ?= 0
FUZZ_CFLAGS := $(COMMON_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer -DHOST_TEST
FUZZ_NAMES := elf tar cmdline acpi memmap boot_pvh boot_xenpv xs_msg frame netfront blkfront \
	virtq mmio_cmdline negotiate inet
fuzz_src_elf := lib/elf.c lib/format.c
fuzz_src_tar := lib/tar.c lib/format.c
fuzz_src_cmdline := lib/cmdline.c
fuzz_src_acpi := lib/acpi.c
fuzz_src_memmap := lib/memmap.c
fuzz_src_boot_pvh := arch_x86_64/boot_pvh.c lib/memmap.c lib/format.c
fuzz_src_boot_xenpv := arch_x86_64/boot_xenpv.c lib/format.c
fuzz_src_xs_msg := hv_xen/xs_msg.c
fuzz_src_frame := net/frame.c lib/inet.c lib/siphash.c
fuzz_src_netfront := netfront/resp.c hv_xen/grant.c
fuzz_src_blkfront := blkfront/resp.c hv_xen/grant.c
fuzz_src_virtq := virtio/virtq.c
fuzz_src_mmio_cmdline := virtio/mmio_cmdline.c
fuzz_src_negotiate := virtio/negotiate.c
fuzz_src_inet := lib/inet.c lib/siphash.c net/frame.c
FUZZ_BIN := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES))

define fuzz_rule
$(BUILD)/fuzz/$(1): fuzz/$(1)_fuzz.c fuzz/fuzz.h $$(fuzz_src_$(1)) $$(HDRS) Makefile \
		| $$(BUILD)/include/stamp
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  FUZZCC  $$@")
	$$(Q)$$(FUZZ_CC) $$(FUZZ_CFLAGS) -o $$@ $$< $$(fuzz_src_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(n))))

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	FUZZ_RUNS=$(FUZZ_RUNS) fuzz/run.sh $(BUILD)/fuzz $(FUZZ_S) $(FUZZ_NAMES)

fuzz-smoke: fuzz-build
	fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SMOKE_S) $(FUZZ_NAMES)

# the host side of the network tests (in the test's network namespace, and in the Xen
# rig's dom0, which has no Python): static
$(BUILD)/netclient: tools/netclient.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -static -pthread -o $@ $<

# The apps (apps/): static Linux executables built with Debian's musl-gcc, which run
# unchanged on Linux and on Amphi (HP mode)
APPS := hello syscall_bench fault hostile sem_ipc ctxsw exit_threads udp_echo http_hello readfile \
	par balance ipc affinity unixio procfacts udp_msg signals lazymem vdso rawdisk tcp_bulk pingpong \
	vecregs procs
# Go apps (apps/go/): Debian's golang-go, static (CGO_ENABLED=0), the standard library only
GO_APPS := go_http go_par go_devnull go_exec
# glibc apps: Debian's gcc and glibc, -static
GLIBC_APPS := glibc_threads
APP_BIN := $(patsubst %,$(BUILD)/apps/%,$(APPS) $(GO_APPS) $(GLIBC_APPS)) $(BUILD)/apps/hello_pie \
	$(BUILD)/apps/memcached $(BUILD)/apps/busybox
apps: $(APP_BIN)
# memcached from Debian's source packages (with libevent's), musl-static, built once into
# the cache by tools/memcached.sh
$(BUILD)/apps/memcached: tools/memcached.sh
	@mkdir -p $(dir $@)
	$(Q)tools/memcached.sh $@
# Debian's busybox-static, as Debian ships it, fetched once into the cache by tools/busybox.sh
$(BUILD)/apps/busybox: tools/busybox.sh
	@mkdir -p $(dir $@)
	$(Q)tools/busybox.sh $@
$(BUILD)/apps/go_%: apps/go/go_%.go Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GO      $@")
	$(Q)GOCACHE=$(abspath $(BUILD))/gocache GOPATH=$(abspath $(BUILD))/gopath GO111MODULE=off \
		CGO_ENABLED=0 GOFLAGS= \
		go build -trimpath -o $@ $<
$(BUILD)/apps/glibc_%: apps/glibc_%.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (glibc, static)")
	$(Q)gcc -static -pthread -O2 -Wall -Wextra -Werror -Wl,--no-warnings -o $@ $< # (ld: getaddrinfo and static linking; literals need no NSS)
$(BUILD)/apps/%: apps/%.c apps/check.h Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  MUSLCC  $@")
	$(Q)musl-gcc -static -O2 -Wall -Wextra -Werror -o $@ $<

# hello again as a static-PIE (ET_DYN, no interpreter, relocating itself: musl's rcrt1.o);
# musl-gcc's -static-pie would still name an interpreter, so the link is spelled out
MUSL_LIB := /usr/lib/x86_64-linux-musl
$(BUILD)/apps/hello_pie: apps/hello.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  MUSLCC  $@ (static-pie)")
	$(Q)musl-gcc -fPIE -pie -nostartfiles -Wl,--no-dynamic-linker -Wl,-z,text -O2 -Wall \
		-Wextra -Werror -o $@ $(MUSL_LIB)/rcrt1.o $(MUSL_LIB)/crti.o $< \
		-Wl,-Bstatic -L$(MUSL_LIB) -lc $(MUSL_LIB)/crtn.o

deps:
	@tools/deps.sh

unit: $(BUILD)/host/unit $(BUILD)/host/unit-tsan $(BUILD)/amphi.elf
	$(BUILD)/host/unit
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/host/unit-tsan
	$(PYTHON) tools/check_notes.py $(BUILD)/amphi.elf

# The guest command line for `make run`; CMDLINE=... overrides it.
# HV=qemu (TCG, the default), kvm (the local KVM, microvm), xen-pv or xen-pvh (through the
# nested Xen rig); ACCEL=kvm is the same as HV=kvm.
# APP (build/apps/NAME, default http_hello) runs in HP mode with APP_ARGS; APP= boots the
# kernel's own HTTP server instead.
CMDLINE ?=
ACCEL ?= tcg
HV ?= qemu
APP ?= http_hello
# (busybox: `sh`, a shell on the console in normal mode: tools/amphi's defaults)
APP_ARGS ?= $(if $(filter busybox,$(APP)),,80 0)
# make run: an app from build/apps/ under QEMU or KVM is `tools/amphi run` (the host's port
# 8080 to the guest's 80); the kernel's own HTTP server (APP=) and the Xen cells go through
# run.py, which boots the nested Xen rig
run: deps
	@$(MAKE) --no-print-directory all $(BUILD)/netclient apps
	@if [ -n "$(APP)" ] && { [ "$(HV)" = qemu ] || [ "$(HV)" = kvm ]; }; then \
		hv=$(HV); [ "$(ACCEL)" = kvm ] && hv=kvm; \
		if [ "$(APP)" != busybox ]; then \
		echo "Once the app runs, try:  curl http://localhost:8080/   (stop it with Ctrl-C)"; fi; \
		echo "$$ tools/amphi run --hv $$hv -p 8080:80 --kernel-args '$(CMDLINE)' $(BUILD)/apps/$(APP) $(APP_ARGS)"; \
		tools/amphi run --hv $$hv -p 8080:80 --kernel-args "$(CMDLINE)" $(BUILD)/apps/$(APP) $(APP_ARGS); \
	else \
		$(PYTHON) test_matrix/run.py --boot --accel $(ACCEL) --hv $(HV) --cmdline "$(CMDLINE)" \
			--app "$(APP)" --app-args "$(APP_ARGS)"; \
	fi

# make install: the amphi command into $(PREFIX)/bin and the kernel it boots into
# $(PREFIX)/lib/amphi (amphi finds it there when it runs outside this tree)
PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/amphi
	install -m 755 tools/amphi $(DESTDIR)$(PREFIX)/bin/amphi
	install -m 644 $(BUILD)/amphi.elf $(DESTDIR)$(PREFIX)/lib/amphi/amphi.elf

matrix: all $(BUILD)/netclient apps
	$(PYTHON) test_matrix/run.py $(MATRIX_ARGS)

# The Xen rig's dom0 fault rate (test_matrix/README.md): CRASHLOOP_PROGS dom0 programs
# beside up to CRASHLOOP_DGRAMS UDP datagrams echoed by a guest on each cell of RIG_CELLS
RIG_CELLS ?= xen-pv
rig-crashloop: deps all $(BUILD)/netclient
	$(PYTHON) test_matrix/run.py --cells $(RIG_CELLS) --tests rig_crashloop

# The soak (test_matrix/soak.py; not in make test): UDP, TCP and HTTP traffic at one guest
# (test=soak) at once for SOAK_S seconds on each cell of SOAK_CELLS (the Xen cells in the
# nested rig, beside the QEMU ones), its memory and counters sampled every minute; a table,
# a plot and the verdicts on stdout and in build/soak/ with a CSV per cell
SOAK_S ?= 3600
SOAK_CELLS ?= qemu-q35,xen-pv
soak: deps all $(BUILD)/netclient
	$(PYTHON) test_matrix/soak.py --secs $(SOAK_S) --cells $(SOAK_CELLS)

# The benchmarks (bench/README.md; make test runs bench-smoke): the same static apps on Amphi (HP and
# normal mode) and on a Debian Linux guest built from Debian packages and cached like the
# Xen rig, on the same QEMU command line; median of BENCH_RUNS boots each, tables in
# build/bench/results.md and .json. BENCH=name runs one workload (bench/run.py --list);
# BENCH_NICE=19 runs QEMU niced on a shared machine. bench-smoke: tiny counts, one boot
# each, so that the harness cannot rot (its figures mean nothing).
# The Xen cells run in the test matrix's rig (all their guests in one rig boot); bench-smoke
# runs six workloads on xen-pv (the boot, the app's counters, the UDP and TCP clients, wrk and
# memcslap from dom0).
BENCH ?=
BENCH_CELLS ?= qemu-q35,qemu-microvm,xen-pv,xen-pvh
BENCH_RUNS ?= 3
BENCH_NICE ?= 0
BENCH_FLAGS = --nice $(BENCH_NICE) $(if $(BENCH),--bench $(BENCH))
bench: deps
	@$(MAKE) --no-print-directory all apps $(BUILD)/netclient $(BUILD)/bench/floor.elf
	$(PYTHON) bench/run.py $(BENCH_FLAGS) --cells $(BENCH_CELLS) --runs $(BENCH_RUNS)

# QEMU's own start, the floor under every boot figure (bench/floor.S)
$(BUILD)/bench/floor.elf: bench/floor.S bench/floor.ld Makefile
	@mkdir -p $(dir $@)
	$(Q)gcc -c -o $(BUILD)/bench/floor.o bench/floor.S
	$(Q)ld -m elf_x86_64 -T bench/floor.ld -o $@ $(BUILD)/bench/floor.o

bench-smoke: deps
	@$(MAKE) --no-print-directory all apps $(BUILD)/netclient $(BUILD)/bench/floor.elf
	$(PYTHON) bench/run.py $(BENCH_FLAGS) --cells qemu-q35,xen-pv --xen-bench boot,ipc,udp1,tcp1,http,memcached,vecregs,forkexec,shloop --smoke

test: deps
	@$(MAKE) --no-print-directory all $(BUILD)/host/unit $(BUILD)/host/unit-tsan $(BUILD)/netclient apps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory bench-smoke
	$(PYTHON) tools/amphi_test.py
	$(PYTHON) test_matrix/run.py $(MATRIX_ARGS)

clean:
	rm -rf $(BUILD)

-include $(KOBJ:.o=.d)
