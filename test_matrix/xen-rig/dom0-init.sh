#!/bin/sh
# /init of the rig's dom0 (added at boot as an overlay, see run.py). Brings up the Xen
# toolstack without an init system, runs every guest job in /amphi/jobs with `xl create -F`,
# reports each on the console in lines the runner parses, then reboots, which ends QEMU
# (-no-reboot):
#   @@AMPHI-RIG <event> ...              toolstack progress
#   @@AMPHI-CON <job>|<line>             the guest's PV console (xenconsoled's log)
#   @@AMPHI-HV <job>|<line>              the guest's lines in Xen's console (xl dmesg)
#   @@AMPHI-XL <job>|<line>              xl's own output for the job
#   @@AMPHI-JOB <job> END reason=<poweroff|crash|reboot|timeout|unknown> secs=<s> xl_rc=<n>
#   @@AMPHI-DOM0 <job>|<line>            what dom0 did or measured for the job (ping, disk)
#   @@AMPHI-LIVE <job>|<line>            a guest's console line as it comes (soak)
# /amphi/jobs has one job per line: "<name> <timeout seconds> [option,...]", config in
# /amphi/<name>.cfg. Options:
#   stop-console   freeze xenconsoled for 5 s once the guest is up (a backend that stops
#                  consuming)
#   ping           once the guest says "net: ready", ping it 100 times from dom0
#   reconnect      ping 20 times, detach and re-attach its vif, ping 20 times again
#   txpause        ping 20 times; once the guest says "phase 1 done", take its vif down in
#                  dom0 for 3 s (netback takes no requests meanwhile); ping 20 times again
#   disk           give it /tmp/<job>.img (16 MiB, dom0's pattern in sectors 0-2047) and
#                  check the guest's pattern in sectors 2048-4095 after it is gone
#   blkreconnect   (with disk) detach and re-attach the disk once the guest says
#                  "blk: phase 1 done"
#   serve          not a test (`make run HV=xen-pv`, `amphi run --hv xen-pv`): the guest's
#                  console streamed as it comes, dom0's eth0 (QEMU's user network,
#                  10.0.2.15) up, and its port 8080 relayed to the guest's port 80 once the
#                  guest's HTTP server is up (amphi: the ports its <job>.client names,
#                  "PORT" or "PORT/udp" lines, once the line its first line says shows)
#   userdisk       (with serve: amphi run --disk) the rig's own virtio disk, dom0's
#                  /dev/vda, is the guest's xvda (its config says so)
#   dhcp           busybox udhcpd on xenbr0 while the guest runs, offering it 10.0.9.2
#   crashloop      a measurement: dom0 programs started in a loop beside UDP traffic
#                  through the guest, those that failed counted (see crashloop)
#   udp, tcp, http, malformed
#                  a vif; once the guest says it is ready, /amphi/netclient (tools/netclient.c)
#                  runs that test's host side against it (tcp: tcp_kib= from the guest's
#                  command line, default 8192)
#   vif            a vif on the bridge and nothing else from dom0 (the guest tests itself)
#   vifshow        (with udp) the vif's xenstore directories and netback's rings of each
#                  queue in the log, and the client's source port fixed (40001)
#   soak           (make soak, test_matrix/soak.py) a vif; once the guest (test=soak) says
#                  "soak: serving", `netclient soak` with the arguments in /amphi/<job>.client
#                  and the guest's vif and xenbr0 for their drop counters; dom0's side of the
#                  network sampled every 60 s, not 5; the guest's "soak:" lines streamed as
#                  they come (@@AMPHI-LIVE <job>|<line>), and all of its console at the end
#   client         (make bench, bench/run.py) a vif; /amphi/<job>.client holds two lines:
#                  what the guest prints when ready, then netclient's arguments (the
#                  guest's address among them; none: no client). Once the guest says it,
#                  dom0 reports how long after `xl create` it saw the line (to ~50 ms: it
#                  polls the console's log) and runs the client (its lines as @@AMPHI-DOM0):
#                  netclient, or /amphi/bench-client (bench/dom0-client.sh) for "wrk" and
#                  "memcslap"
#   endafter       (with client) the guest is destroyed once its client is done (a server)
#   clients        (make bench's batch boots) a vif; each program's client in turn, as
#                  client's, and a Ctrl-C ends a server once its client is done (run_clients)
#   keys           (Test.keys) dom0 types into the guest's console (xenconsoled's pty):
#                  /amphi/<job>.keys holds a line per key, the text to wait for in the
#                  console (on a line after the one that set off the key before), "|",
#                  then the keys as printf's escapes
# The guest's network is 10.0.9.0/24 on bridge xenbr0: dom0 .1, the guest .2.
export PATH=/usr/sbin:/usr/bin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
# devtmpfs lacks these; the hotplug scripts' locking loops forever without /dev/stdin
ln -s /proc/self/fd /dev/fd
ln -s fd/0 /dev/stdin
ln -s fd/1 /dev/stdout
ln -s fd/2 /dev/stderr
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/lock /run/xenstored /var/log/xen/console /var/lib/xen /tmp
exec </dev/console >/dev/console 2>&1

now() { cut -d' ' -f1 /proc/uptime; }
rig() { echo "@@AMPHI-RIG $*"; }
finish() {
	rig "DONE $*"
	sync
	reboot -f
	sleep 5
	poweroff -f
}

rig "DOM0_INIT uptime=$(now) kernel=$(uname -r)"
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-blkback bridge loop; do
	modprobe "$m" || rig "WARN modprobe $m failed"
done
# netback offers as many queue pairs as dom0 has vCPUs (one) unless told: 4, so that a
# guest's netfront takes one per vCPU of its own (the queues test)
modprobe xen-netback max_queues=4 || rig "WARN modprobe xen-netback failed"
# netback's rings for net_diag (xen-netback's debugfs files)
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || rig "WARN no debugfs"
mount -t xenfs xenfs /proc/xen || { rig "FAIL cannot mount xenfs"; finish fail; }
xenstored --pid-file /run/xen/xenstored.pid || { rig "FAIL xenstored did not start"; finish fail; }
i=0
while [ ! -s /run/xen/xenstored.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
xen-init-dom0 >/tmp/init-dom0.log 2>&1 || rig "WARN xen-init-dom0 rc=$?"
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console ||
	{ rig "FAIL xenconsoled did not start"; finish fail; }
xl dmesg -c >/dev/null 2>&1
rig "TOOLSTACK_READY uptime=$(now) xen=$(xl info 2>/dev/null | sed -n 's/^xen_version *: //p')"

GUEST_IP=10.0.9.2
GUEST_MAC=00:16:3e:00:09:02

dom0() { echo "@@AMPHI-DOM0 $name|$*"; }

bridge_up() {
	[ -e /sys/class/net/xenbr0 ] && return
	ip link add name xenbr0 type bridge stp_state 0 forward_delay 0
	ip addr add 10.0.9.1/24 dev xenbr0
	ip link set xenbr0 up
}

# waits until the guest's console shows $1, for at most $2 s or while xl runs
wait_console() {
	n=0
	while ! grep -q "$1" "$log" 2>/dev/null; do
		if [ $n -ge $(($2 * 20)) ] || ! kill -0 "$xlpid" 2>/dev/null; then
			dom0 "gave up waiting for '$1'"
			return 1
		fi
		sleep 0.05
		n=$((n + 1))
	done
}

# dom0's side of the guest's network: netback's rings (debugfs), each vif's and the
# bridge's state and counters, the neighbour table; with the job option vifshow also the
# vif's xenstore directories, the frontend's and the backend's (queues, event channels)
net_diag() {
	if [ -n "$show_vif" ] && domid=$(xl domid "$name" 2>/dev/null); then
		xenstore-ls -f /local/domain/$domid/device/vif/0 2>&1
		xenstore-ls -f /local/domain/0/backend/vif/$domid/0 2>&1
	fi
	for d in /sys/kernel/debug/xen-netback/vif*; do
		[ -d "$d" ] || continue
		for f in "$d"/io_ring_q*; do
			echo "netback ${d##*/} ${f##*/}:"
			tr -s ' \t' ' ' <"$f"
		done
	done
	for i in /sys/class/net/vif* /sys/class/net/xenbr0; do
		[ -d "$i" ] || continue
		s=$i/statistics
		m=$(readlink "$i/master" 2>/dev/null)
		echo "${i##*/}: $(cat "$i/operstate") carrier $(cat "$i/carrier" 2>/dev/null)" \
			"bridge ${m##*/} rx $(cat $s/rx_packets) dropped $(cat $s/rx_dropped)" \
			"tx $(cat $s/tx_packets) dropped $(cat $s/tx_dropped)"
	done
	ip neigh show 2>&1
	# dom0's kernel's own view of each vif's event channels: the events its handler took
	# (xenbus counts them after the "already active" check), those it found nothing in,
	# and the EOIs it delayed; and the interrupt counts
	for b in /sys/bus/xen-backend/devices/vif-*; do
		x=$b/xenbus
		[ -e "$x/events" ] || continue
		echo "xenbus ${b##*/}: events $(cat "$x/events") spurious $(cat "$x/spurious_events")" \
			"eoi delayed $(cat "$x/jiffies_eoi_delayed") jiffies"
	done
	grep -E 'vif[0-9]' /proc/interrupts | tr -s ' ' ' '
}

# Xen's view of the event channels between dom0 and guest $1 ('e' dump: pending/masked
# per port): which side holds a notification the backend never handled. Printed once per
# job, when netback's TX ring kept the same unconsumed requests for two samples.
evtchn_view() {
	xl debug-keys e >/dev/null 2>&1
	sleep 1
	xl dmesg 2>/dev/null | awk -v d="$1" '
		/dumping event-channel info/ { n++ }
		/Event channel information for/ { sec = $NF; sub(":", "", sec) }
		{ l[NR] = $0; s[NR] = sec; run[NR] = n }
		END {
			for (i = 1; i <= NR; i++) {
				if (run[i] != n) continue
				if (s[i] == d || (s[i] == "0" && l[i] ~ (" d=" d " "))) print l[i]
			}
		}'
}

# 0 if a TX ring in sample $2 has unconsumed requests exactly as in sample $1
tx_stuck() {
	[ -s "$1" ] && [ -s "$2" ] || return 1
	awk 'FNR == 1 { f++ } /^TX:/ { t = 1; next }
		t && /^req prod/ { t = 0; if ($3 != $6) { if (f == 1) a[$3 " " $6] = 1; else if ($3 " " $6 in a) hit = 1 } }
		END { exit !hit }' "$1" "$2"
}

# console_after TEXT N [SECS]: waits until a line of the guest's console after line N
# holds TEXT (while the guest runs; at most SECS) and prints that line's number
console_after() {
	t_end=$(awk "BEGIN { print $(now) + ${3:-1000000} }")
	while :; do
		at=$(grep -n -F -- "$1" "$log" 2>/dev/null | awk -F: -v a="$2" '$1 > a { print $1; exit }')
		[ -n "$at" ] && echo "$at" && return 0
		kill -0 "$xlpid" 2>/dev/null || return 1
		awk "BEGIN { exit !($(now) > $t_end) }" && return 1
		sleep 0.05
	done
}

# type_console KEYS: printf's escapes typed into the guest's console (xenconsoled's pty)
type_console() {
	tty=$(xenstore-read "/local/domain/$(xl domid "$name" 2>/dev/null)/console/tty" 2>/dev/null)
	if [ -z "$tty" ]; then
		dom0 "keys: no console pty for $name"
		return 1
	fi
	# shellcheck disable=SC2059 # the keys are printf's escapes
	printf "$1" >"$tty"
}

# keys: each line of /amphi/<job>.keys typed into the guest's console once its text shows
type_keys() {
	after=0
	while IFS='|' read -r text keys <&3; do
		if ! after=$(console_after "$text" "$after"); then
			dom0 "keys: gave up waiting for '$text'"
			return 1
		fi
		type_console "$keys" && dom0 "keys: typed after '$text'"
	done 3<"/amphi/$name.keys"
}

# clients (make bench's batch boots): /amphi/<job>.client holds a line per program of the
# batch: the console text to wait for (on a line after the previous program's), how long
# it may take to come (the program before's limit: a program that hangs ends the guest,
# not the whole job's limit later), its client's arguments (as netclient's below; none:
# only when the text came), and for a server, which a Ctrl-C typed into the console ends
# once its client is done, the text of the line its end prints (if that came already,
# the Ctrl-C would end the next program); "|" between them. First, when the guest's
# console said its first word: what `xl create` took before any code of the guest ran
# (Amphi's banner is its first instruction's work; make bench's boot rows)
run_clients() {
	after=0 i=0 n=0
	while [ ! -s "$log" ] && [ $n -lt 2400 ] && kill -0 "$xlpid" 2>/dev/null; do
		sleep 0.05
		n=$((n + 1))
	done
	[ -s "$log" ] &&
		dom0 "console: first output $(awk "BEGIN { printf \"%.2f\", $(now) - $txl }") s after xl create"
	while IFS='|' read -r text secs args ended <&3; do
		i=$((i + 1))
		if ! after=$(console_after "$text" "$after" "$secs"); then
			dom0 "clients: $i: '$text' did not come within $secs s: the guest is destroyed"
			xl destroy "$name" >/dev/null 2>&1
			return 1
		fi
		dom0 "clients: $i: '$text' $(awk "BEGIN { printf \"%.2f\", $(now) - $txl }") s after xl create"
		# shellcheck disable=SC2086 # the client's arguments are words
		[ -z "$args" ] || netclient "$text" $args
		if [ -n "$ended" ]; then
			if console_after "$ended" "$after" 0 >/dev/null; then
				dom0 "clients: $i: the server ended before its client did"
			else
				type_console '\003'
			fi
		fi
	done 3<"/amphi/$name.client"
}

# once the guest's console shows $1: /amphi/netclient with the rest, its lines to the log.
# While it runs, dom0's side of the network is sampled every 5 s; when the client fails,
# the last sample that still had the guest's vif and dom0's kernel log go to the log.
netclient() {
	ready=$1
	shift
	wait_console "$ready" 60 || return
	# each sample in a process of its own: dom0's programs now and then crash (see
	# crashes), which must not end the sampling. A sample without the
	# guest's vif and netback's rings (taken while xl tore the guest down, or with a
	# reader that crashed) does not replace one with them.
	rm -f /tmp/diag /tmp/diag.new /tmp/diag.old /tmp/evtchn
	(while kill -0 "$xlpid" 2>/dev/null; do
		(net_diag >/tmp/diag.new 2>&1 && grep -q '^TX: ' /tmp/diag.new &&
			cp /tmp/diag.new /tmp/diag)
		if [ ! -e /tmp/evtchn ] &&
			{ [ -e /amphi/diag-always ] || tx_stuck /tmp/diag.old /tmp/diag.new; } &&
			domid=$(xl domid "$name" 2>/dev/null); then
			(echo "netback's TX ring kept its unconsumed requests for $diag_every s" \
				"(or AMPHI_RIG_DIAG):"
				grep -E '^(TX:|req prod|xenbus|.*vif[0-9])' /tmp/diag.new
				evtchn_view "$domid"
				sleep 2
				echo "2 s later:"
				net_diag 2>&1 | grep -E '^xenbus|vif[0-9].*-q'
				evtchn_view "$domid") >/tmp/evtchn 2>&1
		fi
		cp /tmp/diag.new /tmp/diag.old 2>/dev/null
		sleep "$diag_every"
	done) &
	diagpid=$!
	# make bench's wrk and memcslap (bench/dom0-client.sh), or netclient
	# (prog: the names a crash of the client shows, for crashed; through the staged
	# loader a program's name is its loader's)
	case $1 in
	wrk | memcslap) prog="(bench-client|ld-linux-x86-64|$1)" &&
		/amphi/bench-client "$@" >/tmp/netclient.log 2>&1 ;;
	*) prog=netclient && /amphi/netclient "$@" >/tmp/netclient.log 2>&1 ;;
	esac
	ncrc=$?
	kill $diagpid 2>/dev/null
	while read -r l; do dom0 "$l"; done </tmp/netclient.log
	# (a client killed before its verdict line: said here, where the test's excerpt shows
	# it, whether or not the kernel logged why)
	[ $ncrc -lt 128 ] || dom0 "client: $1 ended by signal $((ncrc - 128))"
	if [ $ncrc -ge 128 ] && c=$(crashed $prog) && [ -n "$c" ]; then
		rig_fault="a dom0 fault (dom0's client crashed: $c)"
		# the guest would wait for its client until the job's limit (make bench's
		# tcp10 twice for 277 s): it ends now, and the job gets its next try
		dom0 "the guest is destroyed: its client crashed"
		xl destroy "$name" >/dev/null 2>&1
	fi
	# A backend that took none of the guest's transmit requests to the end, though the
	# guest notified it every second (netfront's watchdog), is dom0's fault, not the
	# guest's. Seen in CI (xen-pv hp_udp: the guest answered dom0's ARP requests for 2
	# minutes and netback consumed none of the answers) and in a fresh-clone run
	# (xen-pvh nm_udp: netback took 1 of 114 requests despite 118 notifications). The
	# job gets another try.
	if [ $ncrc -ne 0 ] && grep -q 'the backend answered none of' "$log" 2>/dev/null &&
		! grep -q 'the backend answers transmit requests again' "$log" 2>/dev/null; then
		rig_fault="a backend fault (dom0's netback took none of the guest's transmit"
		rig_fault="$rig_fault requests to the end; the guest notified it every second)"
	fi
	if [ $ncrc -ne 0 ] || [ -e /amphi/diag-always ] || [ -n "$show_vif" ]; then
		dom0 "diag: the client ended with rc $ncrc; dom0's view while the guest ran:"
		[ -s /tmp/diag ] || cp /tmp/diag.new /tmp/diag 2>/dev/null
		sed 's/^/diag: /' /tmp/diag 2>/dev/null | while read -r l; do dom0 "$l"; done
		dmesg 2>/dev/null | tail -40 | sed 's/^/diag: kernel: /' |
			while read -r l; do dom0 "$l"; done
	fi
	sed 's/^/diag: stuck: /' /tmp/evtchn 2>/dev/null | while read -r l; do dom0 "$l"; done
}

# crashloop (a measurement, not a test: `make rig-crashloop`): while /amphi/netclient
# echoes UDP through the guest (up to CRASHLOOP_DGRAMS datagrams, at most 30 minutes),
# start dom0 programs one after another (busybox true, busybox stat /, coreutils stat /),
# CRASHLOOP_PROGS of them, and count those that failed: killed by a signal, a non-zero exit,
# or hung for 15 s. The crashes themselves are listed as for every job (crashes).
crashloop() {
	wait_console "udp echo ready" 60 || return
	want=$(sed -n 's/.*crashloop_progs=\([0-9]*\).*/\1/p' "$cfg" | head -1)
	dgrams=$(sed -n 's/.*udp_count=\([0-9]*\).*/\1/p' "$cfg" | head -1)
	/amphi/netclient udp $GUEST_IP 7,9 "${dgrams:-100000}" 1800 >/tmp/netclient.log 2>&1 &
	ncpid=$!
	n=0 failed=0 hung=0 beside=0 cl0=$(now)
	while [ $n -lt "${want:-5000}" ]; do
		case $((n % 3)) in
		0) timeout 15 busybox true ;;
		1) timeout 15 busybox stat / >/dev/null ;;
		*) timeout 15 /usr/bin/stat / >/dev/null ;;
		esac
		prc=$?
		n=$((n + 1))
		kill -0 $ncpid 2>/dev/null && beside=$((beside + 1))
		[ $prc -eq 0 ] && continue
		failed=$((failed + 1))
		if [ $prc -eq 124 ] || [ $prc -eq 143 ]; then hung=$((hung + 1)); fi
		[ $failed -le 20 ] && dom0 "crashloop: program $n ($((n % 3))) failed with rc $prc"
	done
	kill -TERM $ncpid 2>/dev/null
	wait $ncpid
	while read -r l; do dom0 "$l"; done </tmp/netclient.log
	dom0 "crashloop: $n programs, $beside of them beside the traffic, $failed failed" \
		"($hung hung), $(awk "BEGIN { printf \"%.0f\", $(now) - $cl0 }") s"
}

# soak (make soak): the guest serves UDP, TCP and HTTP for up to an hour while netclient
# drives all three. The client reads the guest's vif's and the bridge's drop counters.
# dom0's side of the network is sampled once a minute: a sample is a dozen dom0 programs,
# and dom0 runs under nested TCG.
soak() {
	wait_console "soak: serving" 60 || return
	soak_live &
	vif=
	for v in /sys/class/net/vif*; do # one guest at a time: its vif is the only one
		[ -e "$v" ] && vif=${v##*/} && break
	done
	diag_every=60
	read -r args <"/amphi/$name.client" # (a builtin: no dom0 program that could crash)
	# shellcheck disable=SC2086 # the client's arguments are words
	netclient "soak: serving" soak $GUEST_IP $args "$vif,xenbr0"
}

# the guest's "soak:" lines as they come (@@AMPHI-LIVE), for make soak's live view, until
# xl ends; with the shell's read on the log, so that only `sleep` starts a program
soak_live() {
	cr=$(printf '\r')
	part=
	exec 3<"$log" || return
	while :; do
		while IFS= read -r l <&3; do
			l=$part$l
			part=
			case $l in "soak: "*) echo "@@AMPHI-LIVE $name|${l%"$cr"}" ;; esac
		done
		part=$part$l # the end of the file: a line not yet finished
		kill -0 "$xlpid" 2>/dev/null || break
		sleep 5
	done
	exec 3<&-
}

# dom0's programs that crashed in this job (dmesg is cleared when a job begins). Beside a
# guest's network traffic the nested rig once killed a few per cent of new dom0 processes
# at start (busybox applets, coreutils' stat, bash), seen reading a page they had just
# written (their TLS block, a relocated pointer) as its old content; 18 of 300 in make
# rig-crashloop. The cause was Xen's lazy FPU switch under TCG, which lost ymm registers
# (glibc's AVX memcpy); the rig's Xen switches eagerly now (run.py's RIG_XEN_ARGS;
# test_matrix/README.md, "The rig's Xen"), and keeps dom0 and the guests' vCPUs on CPUs
# of their own for nested SVM's sake. A crash is still reported in every job's log,
# and a job whose verdict came from a program that crashed gets another try, which the
# runner counts as a failure.
crashes() {
	dmesg 2>/dev/null | grep -E 'segfault at|traps: .* general protection' |
		sed 's/^\[ *[0-9.]*\] //'
}

# the last of those crashes that was program $1's, shortened (nothing if it did not crash)
crashed() {
	crashes | grep -E "^(traps: )?$1\[" | tail -1 | cut -c1-100
}

# after `xl block-attach/detach`: all xl said, the hotplug scripts' log, the loop
# devices and the backend's hotplug nodes (the script's error is in hotplug-error)
hotplug_diag() {
	{
		sed "s/^/xl: /" /tmp/$1.log
		tail -30 /var/log/xen/xen-hotplug.log 2>/dev/null | sed "s/^/hotplug log: /"
		losetup -a 2>&1 | sed "s/^/losetup: /"
		for b in $(xenstore-list /local/domain/0/backend/vbd 2>/dev/null); do
			for v in $(xenstore-list /local/domain/0/backend/vbd/$b 2>/dev/null); do
				p=/local/domain/0/backend/vbd/$b/$v
				echo "xenstore $p: state $(xenstore-read $p/state 2>&1)" \
					"hotplug-status $(xenstore-read $p/hotplug-status 2>&1)" \
					"hotplug-error $(xenstore-read $p/hotplug-error 2>&1)" \
					"physical-device $(xenstore-read $p/physical-device 2>&1)"
			done
		done
		dmesg 2>/dev/null | tail -20 | sed "s/^/kernel: /"
	} | while read -r l; do dom0 "diag: block-$1: $l"; done
}

pings() {
	ping -c "$1" -A -W 2 -w 60 $GUEST_IP >/tmp/ping.log 2>&1
	prc=$?
	# a ping that crashed (see crashes; killed by a signal: 128 + its number) measured
	# nothing: once more
	if [ $prc -ge 128 ]; then
		dom0 "ping crashed (rc $prc): once more"
		ping -c "$1" -A -W 2 -w 60 $GUEST_IP >/tmp/ping.log 2>&1
	fi
	tail -2 /tmp/ping.log | while read -r l; do dom0 "ping: $l"; done
}

# sector s: 16 lines of printf("%-31s\n", "amphi <who> sector <s>") (common/blk_selftest.c)
# Xen's dumps of a stuck guest (domain $1, the dmesg in $2) show the host's lost event
# injection: in both 'q' dumps, a second apart, every vCPU of the guest has events pending
# (upcall_pend=01) and unmasked (upcall_mask=00), and a vCPU the 'd' dump caught running
# the guest's own code has interrupts on (RFLAGS.IF). Xen must then inject the upcall
# (PV: on its way back to the guest; PVH: the callback vector, which no APIC priority
# blocks) within the second; nothing the guest does can keep it out. Seen once under
# QEMU's emulated SVM: a xen-pvh guest spun 60 s at IF=1 with no event delivered. A stuck
# guest of our own making halts (nothing pending) or runs with interrupts off.
lost_injection() {
	awk -v d="$1" '
		/'"'"'q'"'"' pressed/ { q++; on = 0 }
		/VCPU information and callbacks for domain/ { on = ($NF == d ":"); next }
		/General information for domain|Notifying guest|event-channel info/ { on = 0 }
		on && q <= 2 && /upcall_pend=/ {
			n[q]++
			if ($0 !~ /upcall_pend=01 upcall_mask=00/) bad = 1
		}
		/RFLAGS: .*CONTEXT: (hvm|pv) guest/ && index($0, "(d" d "v") {
			match($0, /RFLAGS: [0-9a-fA-F]+/)
			r = substr($0, RSTART + 8, RLENGTH - 8)
			if (index("2367abefABEF", substr(r, length(r) - 2, 1))) ifon = 1
		}
		END { exit !(q >= 2 && n[1] > 0 && n[2] > 0 && !bad && ifon) }' "$2"
}

disk_pattern() {
	awk -v who="$1" -v first="$2" -v n="$3" 'BEGIN {
		for (s = first; s < first + n; s++) {
			line = sprintf("%-31s\n", "amphi " who " sector " s)
			for (l = 0; l < 16; l++) printf "%s", line
		}
	}'
}

# amphi run --disk FILE on Xen: the file is the rig's virtio disk (QEMU's), dom0's /dev/vda,
# which the guest's config gives it as its xvda
user_disk() {
	modprobe virtio_pci && modprobe virtio_blk || rig "WARN modprobe virtio_blk failed"
	n=0
	while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	if [ ! -b /dev/vda ]; then
		dom0 "no /dev/vda: the rig's disk did not appear"
		echo "@@AMPHI-JOB $name END reason=nodisk secs=0 xl_rc=1"
		return 1
	fi
	dom0 "disk: /dev/vda, $(($(cat /sys/block/vda/size) / 2048)) MiB, for the guest's xvda"
}

# `make run HV=...`: one guest with its console streamed and its HTTP server reachable
serve_job() {
	modprobe e1000 || rig "WARN modprobe e1000 failed"
	if ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0; then
		n=0 # the e1000's link comes up a few seconds later under TCG
		while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -lt 200 ]; do
			sleep 0.05
			n=$((n + 1))
		done
		dom0 "eth0 10.0.2.15 up, carrier $(cat /sys/class/net/eth0/carrier 2>/dev/null)"
	else
		dom0 "no eth0: the host cannot reach the guest"
	fi
	bridge_up
	case $opts in *,userdisk,*) user_disk || return ;; esac
	timeout "$limit" xl create -F "$cfg" >/tmp/xl-$name.log 2>&1 &
	xlpid=$!
	(tail -n +1 -F "$log" 2>/dev/null | while IFS= read -r l; do
		echo "@@AMPHI-CON $name|${l%$(printf '\r')}"; done) &
	tailpid=$!
	# the relays: make run's (dom0's 8080 to the guest's 80 once its HTTP server is up), or
	# amphi run's (its .client file: the console line to wait for, then "PORT" or
	# "PORT/udp" lines: dom0's PORT to the guest's same PORT)
	wait_for="http server on" relays="8080:80"
	if [ -f "/amphi/$name.client" ]; then
		wait_for=$(sed -n 1p "/amphi/$name.client")
		relays=$(sed -n '2,$p' "/amphi/$name.client" |
			awk '{ p = $1; sub(/\/udp$/, "", p); print p ":" $1 }')
	fi
	(wait_console "$wait_for" 120 && for r in $relays; do
		how=relay
		case $r in */udp) how=relay-udp ;; esac
		r=${r%/udp}
		/amphi/netclient $how ${r%:*} $GUEST_IP ${r#*:} 2>&1 | while read -r l; do dom0 "$l"; done &
	done; wait) &
	relaypid=$!
	wait $xlpid
	rc=$?
	sleep 0.5 # the console's last lines
	kill $tailpid $relaypid 2>/dev/null
	pkill -f "netclient relay" 2>/dev/null; pkill -f "tail -n +1 -F" 2>/dev/null
	sed "s/^/@@AMPHI-XL $name|/" /tmp/xl-$name.log
	echo "@@AMPHI-JOB $name END reason=served secs=$(awk "BEGIN { print $(now) - $t0 }") xl_rc=$rc"
}

run_job() {
	name=$1 limit=$2 opts=,$3,
	cfg=/amphi/$name.cfg
	log=/var/log/xen/console/guest-$name.log
	t0=$(now)
	rig "JOB $name BEGIN uptime=$t0 $3"
	dmesg -c >/dev/null 2>&1 # dom0's kernel log from here on is this job's
	show_vif=
	case $opts in *,vifshow,*) show_vif=1 ;; esac
	diag_every=5 # s between samples of dom0's side of the network (netclient)
	case $opts in *,serve,*) serve_job; return ;; esac
	case $opts in *,ping,* | *,reconnect,* | *,txpause,* | *,udp,* | *,tcp,* | *,http,* | *,malformed,* | *,dhcp,* | *,crashloop,* | *,vif,* | *,soak,* | *,client,* | *,clients,*)
		bridge_up ;;
	esac
	dhcpd=
	case $opts in *,dhcp,*)
		printf 'interface xenbr0\nstart %s\nend %s\nmax_leases 1\nlease_file /tmp/leases\npidfile /tmp/udhcpd.pid\noption subnet 255.255.255.0\noption router 10.0.9.1\noption lease 3600\n' \
			$GUEST_IP $GUEST_IP >/tmp/udhcpd.conf
		: >/tmp/leases
		udhcpd -f /tmp/udhcpd.conf >/tmp/udhcpd.log 2>&1 &
		dhcpd=$! ;;
	esac
	case $opts in *,disk,*)
		dd if=/dev/zero of=/tmp/$name.img bs=1M count=16 2>/dev/null
		disk_pattern dom0 0 2048 | dd of=/tmp/$name.img conv=notrunc 2>/dev/null ;;
	esac
	if [ "$opts" != ",," ] && [ "$opts" != ",stop-console," ]; then
		txl=$(now)
		timeout "$limit" xl create -F "$cfg" >/tmp/xl-$name.log 2>&1 &
		xlpid=$!
		case $opts in *,ping,*)
			wait_console "net: ready" 60 && pings 100 ;;
		esac
		case $opts in *,reconnect,*)
			if wait_console "net: ready" 60 && pings 20 && wait_console "phase 1 done" 30; then
				xl network-detach "$name" 0 >/tmp/detach.log 2>&1
				dom0 "network-detach rc=$? $(head -c 200 /tmp/detach.log)"
				sleep 1
				xl network-attach "$name" "mac=$GUEST_MAC" bridge=xenbr0 >/tmp/attach.log 2>&1
				dom0 "network-attach rc=$? $(head -c 200 /tmp/attach.log)"
				wait_console "link up again" 60 && pings 20
			fi ;;
		esac
		case $opts in *,txpause,*)
			# the backend stops taking the guest's transmit requests for 3 s
			if wait_console "net: ready" 60 && pings 20 && wait_console "phase 1 done" 30; then
				# one guest at a time: its vif is the only one
				vif=$(ls /sys/class/net | grep '^vif' | head -1)
				ip link set "$vif" down
				dom0 "vif $vif down rc=$?"
				sleep 3
				ip link set "$vif" up
				dom0 "vif $vif up rc=$?"
				wait_console "net: phase 2" 30 && pings 20
			fi ;;
		esac
		case $opts in
		*,udp,*)
			# vifshow: a fixed source port, so that the guest's two reply flows (from 7
			# and from 9) take its two transmit queues (netfront_flow_queue) every run
			sport=
			[ -n "$show_vif" ] && sport="240 40001"
			netclient "udp echo ready" udp $GUEST_IP 7,9 10000 $sport ;;
		*,tcp,*)
			kib=$(sed -n 's/.*tcp_kib=\([0-9]*\).*/\1/p' "$cfg" | head -1)
			netclient "net: tcp ready" tcp $GUEST_IP 5001 10 "${kib:-8192}" ;;
		*,http,*) netclient "http server on" http $GUEST_IP 80 3 ;;
		*,malformed,*) netclient "net: malformed echo ready" malformed xenbr0 "$GUEST_MAC" $GUEST_IP 7 ;;
		*,crashloop,*) crashloop ;;
		*,soak,*) soak ;;
		*,client,*)
			{ read -r ready && read -r args; } <"/amphi/$name.client"
			if wait_console "$ready" 120; then
				dom0 "client: '$ready' $(awk "BEGIN { printf \"%.2f\", $(now) - $txl }") s after xl create"
				# shellcheck disable=SC2086 # the client's arguments are words
				[ -z "$args" ] || netclient "$ready" $args
				# a server (make bench's http and memcached) serves until it is
				# stopped: once its client is done
				case $opts in *,endafter,*)
					dom0 "client: done; the server is destroyed"
					xl destroy "$name" >/dev/null 2>&1 ;;
				esac
			fi ;;
		esac
		case $opts in *,keys,*) type_keys ;; esac
		case $opts in *,clients,*) run_clients ;; esac
		case $opts in *,blkreconnect,*)
			if wait_console "blk: phase 1 done" 60; then
				: >/var/log/xen/xen-hotplug.log
				c0=$(crashes | wc -l)
				xl block-detach "$name" xvda >/tmp/detach.log 2>&1
				brc=$?
				dom0 "block-detach rc=$brc $(head -c 200 /tmp/detach.log)"
				[ $brc -eq 0 ] || hotplug_diag detach
				sleep 1
				xl block-attach "$name" "format=raw,vdev=xvda,access=rw,target=/tmp/$name.img" \
					>/tmp/attach.log 2>&1
				brc2=$?
				dom0 "block-attach rc=$brc2 $(head -c 200 /tmp/attach.log)"
				[ $brc2 -eq 0 ] && [ ! -e /amphi/diag-always ] || hotplug_diag attach
				# xl runs Xen's hotplug script (bash, busybox, xenstore-write) for each;
				# a dom0 program that crashed meanwhile (see crashes) failed it: the
				# rig's fault, so the job gets another try. CI saw block-attach rc=1
				# ("/etc/xen/scripts/block add exited with error status 1") while the
				# disk did come back and the guest's I/O on it worked.
				c1=$(crashes | wc -l)
				if [ $((brc + brc2)) -ne 0 ] && [ "$c1" -gt "$c0" ]; then
					rig_fault="a dom0 fault (a dom0 program crashed while xl ran the"
					rig_fault="$rig_fault block hotplug script: $(crashes | tail -1 | cut -c1-120))"
				fi
			fi ;;
		esac
		wait $xlpid
		rc=$?
		[ -n "$dhcpd" ] && kill $dhcpd 2>/dev/null
	elif [ "$opts" = ",stop-console," ]; then
		# libxl waits for xenconsoled while it creates the domain, so freeze it only once
		# the guest says it is running (it then waits 2 s before it floods its console)
		timeout "$limit" xl create -F "$cfg" >/tmp/xl-$name.log 2>&1 &
		xlpid=$!
		n=0
		while ! grep -q 'stop the console now' "$log" 2>/dev/null && [ $n -lt 200 ]; do
			sleep 0.05
			n=$((n + 1))
		done
		# With no new process where one can be spared: dom0's programs now and then die
		# at start beside a guest (crashes above). A `sleep` that died at once thawed
		# xenconsoled before the flood (CI: "nothing was dropped", a busybox segfault):
		# the freeze is checked in /proc, and the thaw sleeps until a sleep worked.
		read -r cpid </run/xen/xenconsoled.pid
		n=0
		while [ $n -lt 5 ] && ! grep -q '^State:.*T' /proc/$cpid/status 2>/dev/null; do
			kill -STOP "$cpid"
			n=$((n + 1))
		done
		grep -q '^State:.*T' /proc/$cpid/status 2>/dev/null ||
			rig_fault="a dom0 fault (xenconsoled could not be frozen: $(crashes | tail -1 | cut -c1-120))"
		(until sleep 5; do :; done; kill -CONT "$cpid") &
		wait $xlpid
		rc=$?
		kill -CONT "$cpid"
	else
		timeout "$limit" xl create -F "$cfg" >/tmp/xl-$name.log 2>&1
		rc=$?
	fi
	reason=unknown
	# coreutils timeout says 124; busybox's reports the signal it sent (TERM: 143)
	if [ $rc -eq 124 ] || [ $rc -eq 143 ]; then
		reason=timeout
		# what the stuck guest was doing: its vCPUs' event state (q, twice, a second
		# apart), its event channels (e) and registers (d)
		domid=$(xl domid "$name" 2>/dev/null)
		xl debug-keys q >/dev/null 2>&1
		sleep 1
		xl debug-keys q >/dev/null 2>&1
		xl debug-keys e >/dev/null 2>&1
		xl debug-keys d >/dev/null 2>&1
		sleep 0.5
		xl dmesg -c >/tmp/dump-$name 2>/dev/null
		tail -400 /tmp/dump-$name | sed "s/^/@@AMPHI-XL $name|dmesg: /"
		if [ -n "$domid" ] && lost_injection "$domid" /tmp/dump-$name; then
			rig_fault="a nested-virtualization fault (Xen delivered no event for a second to vCPUs that had events pending and unmasked, one running the guest with interrupts on)"
		fi
		rm -f /tmp/dump-$name
		xl destroy "$name" >/dev/null 2>&1
	else
		# xl -F logs "Domain N has shut down, reason code R 0xR" (xen/sched.h SHUTDOWN_*)
		code=$(sed -n 's/.*has shut down, reason code \([0-9]*\).*/\1/p' /tmp/xl-$name.log | head -1)
		case $code in
		0) reason=poweroff ;;
		1) reason=reboot
			# a PVH guest that triple-faults "reboots"; on_reboot = "preserve" (run.py)
			# keeps it, so its vCPUs' registers can be read before it goes
			domid=$(xl domid "$name" 2>/dev/null)
			if [ -n "$domid" ]; then
				: >/tmp/xenctx
				for v in 0 1 2 3; do
					/usr/lib/xen-4.17/bin/xenctx -a "$domid" $v 2>&1 | head -40 |
						sed "s/^/xenctx vcpu$v: /" >>/tmp/xenctx
				done
				sed "s/^/@@AMPHI-XL $name|/" /tmp/xenctx
				xl destroy "$name" >/dev/null 2>&1
				# A vCPU "running" Xen's own code (its code selector e008, a Xen text
				# address) is QEMU's emulated SVM handing the guest Xen's state on a
				# world switch: a fault of the nested rig, not of the guest, which has
				# no such selector. Other triple faults seen here (a vCPU just back
				# from a hypercall, the guest already echoing at a crawl) look like the
				# same world-switch fault with less of the state swapped. Either way
				# the job gets one more try (the main loop); the result says so and
				# the first try stays in the log, so a real fault still shows.
				if grep -q 'cs: e008' /tmp/xenctx && grep -q 'rip: ffff82d0' /tmp/xenctx; then
					rig_fault="a nested-virtualization fault (a vCPU resumed at Xen's own rip)"
				else
					rig_fault="a nested-virtualization fault (a triple fault)"
				fi
			fi ;;
		3) reason=crash ;;
		"") reason=unknown ;;
		*) reason=code$code ;;
		esac
	fi
	case $opts in *,disk,*)
		# the programs that compare may crash (see crashes): then a second look, not a
		# second try
		for look in 1 2; do
			want=$(disk_pattern guest 2048 2048 | md5sum | cut -c1-32)
			got=$(dd if=/tmp/$name.img bs=512 skip=2048 count=2048 2>/dev/null |
				md5sum | cut -c1-32)
			[ "$want" != "$got" ] && [ -n "$(crashes)" ] || break
		done
		if [ "$want" = "$got" ]; then dom0 "disk: guest pattern OK"; else
			dom0 "disk: guest pattern MISMATCH (md5 $got, want $want)"; fi
		rm -f /tmp/$name.img ;;
	esac
	crashes | while read -r l; do dom0 "dom0 crash: $l"; done
	c=$(crashed xl)
	[ -z "$c" ] || rig_fault="a dom0 fault (xl crashed: $c)"
	sleep 0.2 # let xenconsoled write out what the guest left in its ring
	# the guest's own report of the same rig fault (arch_x86_64/traps.S: a vector
	# delivered twice, the first frame lost): also worth one more try
	if grep -q 'was delivered twice and' "$log" 2>/dev/null; then
		rig_fault="a nested-virtualization fault (the guest saw a vector delivered twice)"
	fi
	# ... and its watchdog's (sched/sched.c): a vCPU that took no work for 10 s or more
	# while Xen had it running or runnable: it ran none of the guest's code (seen: a vCPU
	# resumed at Xen's own rip, and one that went silent with the guest's threads waiting
	# for it). The smp test's deliberate stall lasts under 10 s and does not count.
	if grep -Eq 'is stuck: threads woken for it [0-9]{5,} ms ago .*Xen: vcpu[0-9]+ (running|runnable)' \
		"$log" 2>/dev/null; then
		rig_fault="a nested-virtualization fault (a vCPU stopped running the guest's code: the guest's watchdog)"
	fi
	# awk ends every line, also a last one the guest left unfinished
	awk -v p="@@AMPHI-CON $name|" '{ sub(/\r$/, ""); print p $0 }' "$log" 2>/dev/null
	xl dmesg -c 2>/dev/null | grep '(d[1-9][0-9]*)' | sed "s/^/@@AMPHI-HV $name|/"
	if [ "$reason" != poweroff ] && [ "$reason" != crash ]; then
		sed "s/^/@@AMPHI-XL $name|/" /tmp/xl-$name.log
	fi
	echo "@@AMPHI-JOB $name END reason=$reason secs=$(awk "BEGIN { print $(now) - $t0 }") xl_rc=$rc"
}

while read -r name limit opt; do
	[ -n "$name" ] || continue
	rig_fault=
	run_job "$name" "${limit:-60}" "$opt"
	# up to two more tries: the fault came back at once on the next try (twice seen, a
	# xen-pvh UDP echo about 1,160 s after Xen booted), and went away later
	tries=1
	while [ -n "$rig_fault" ] && [ $tries -lt 3 ]; do
		rig "JOB $name RETRY after $rig_fault"
		rm -f "/var/log/xen/console/guest-$name.log"
		rig_fault=
		tries=$((tries + 1))
		run_job "$name" "${limit:-60}" "$opt"
	done
done </amphi/jobs
finish ok
