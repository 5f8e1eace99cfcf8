#!/bin/busybox sh
# /init of the Linux reference guest (bench/linux-guest.sh): the same command-line words
# as Amphi's (`app=NAME -- [NAME=VALUE...] [ARG...]`, or `batch=FILE`), apps from /bench,
# then power off.
# Network: eth0 (virtio-net) gets bench_ip= (default 10.0.2.15/24, QEMU's user network;
# dhcp: a lease from busybox udhcpc) and bench_gw= (default 10.0.2.2). The runner reads the lines that start with "bench-init:".
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "bench-init: init after $(cut -d' ' -f1 /proc/uptime) s of uptime, Linux $(uname -r)," \
	"$(nproc) CPUs, clocksource" \
	"$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"

# (xen-netfront only on Xen: elsewhere it refuses to load)
for m in $(cat /lib/modules/load-order); do
	case $m in xen-*) [ -d /sys/bus/xen ] || continue ;; esac
	insmod "/lib/modules/$m" || echo "bench-init: insmod $m failed"
done

cmdline=$(cat /proc/cmdline)
word() { # word NAME DEFAULT: the value of NAME= before " -- " on the command line
	for w in ${cmdline%% -- *}; do
		case $w in "$1="*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}
app=$(word app "")
ip=$(word bench_ip 10.0.2.15/24)
gw=$(word bench_gw 10.0.2.2)

ip link set lo up
if [ -e /sys/class/net/eth0 ] && [ "$ip" = dhcp ]; then
	# busybox udhcpc: a lease, then its script sets the address and the route
	printf '%s\n' '#!/bin/busybox sh' '[ "$1" = bound ] || exit 0' \
		'ifconfig "$interface" "$ip" netmask "$subnet" up' \
		'[ -z "$router" ] || ip route add default via "${router%% *}"' >/tmp/udhcpc.sh
	chmod +x /tmp/udhcpc.sh
	ip link set eth0 up
	udhcpc -q -n -t 10 -T 1 -i eth0 -s /tmp/udhcpc.sh >/dev/null 2>&1
	echo "bench-init: eth0 by DHCP: $(ip -4 -o addr show dev eth0 | awk '{ print $4 }')"
elif [ -e /sys/class/net/eth0 ]; then
	ip addr add "$ip" dev eth0 && ip link set eth0 up && ip route add default via "$gw"
	echo "bench-init: eth0 $ip via $gw"
else
	echo "bench-init: no eth0"
fi

# what an app's run cost: the NIC's lines of /proc/interrupts (all CPUs: virtio's, or
# netfront's queues, ...-q0-tx and -rx, on Xen) against the packets eth0 passed meanwhile, the IPIs
# (rescheduling, function call, TLB shootdown) and the context switches (/proc/stat)
irqs() { # irqs AWK_PATTERN: the sum of the matching lines' per-CPU counts
	awk "$1"' { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' \
		/proc/interrupts
}
packets() {
	n=0
	for f in /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets; do
		[ -e $f ] && n=$((n + $(cat $f)))
	done
	echo $n
}

# The console's terminal (ttyS0 on QEMU, hvc0 on Xen): each program runs as the leader of
# a session that it controls, so that a Ctrl-C typed into the console is SIGINT to the
# program, as on Amphi (make bench ends a server that way once its client is done).
tty=/dev/$(awk '{ print $NF }' /sys/class/tty/console/active 2>/dev/null)
if [ ! -c "$tty" ]; then
	echo "bench-init: no console terminal ($tty): Ctrl-C reaches no program"
	tty=
fi

# run_app NAME [NAME=VALUE...] [--] [ARG...]: /bench/NAME with that environment (leading
# NAME=VALUE words, up to a "--") and those arguments, and what its run cost
run_app() {
	app=${1##*/}
	shift
	env=
	while [ $# -gt 0 ]; do
		case $1 in --) shift; break ;; [A-Za-z_]*=*) env="$env $1"; shift ;; *) break ;; esac
	done
	if [ -z "$app" ] || [ ! -x "/bench/$app" ]; then
		echo "bench-init: no app /bench/$app"
		return
	fi
	irq0=$(irqs '/virtio|-q[0-9]+(-[rt]x)?$/')
	ipi0=$(irqs '$1 ~ /^(RES|CAL|TLB):$/')
	ctxt0=$(awk '$1 == "ctxt" { print $2 }' /proc/stat)
	pk0=$(packets)
	echo "bench-init: running $app $*"
	cd /tmp
	if [ -n "$tty" ]; then
		# (setsid -c: TIOCSCTTY on its stdin; it execs, not forks: the shell's child
		# leads no process group.) The session's leader is a shell that outlives the
		# program (a handler for SIGINT, which the program gets as SIG_DFL): its exit
		# hangs the terminal up, which drops what the terminal has not sent yet, so it
		# waits for that first (stty sets with TCSADRAIN). No echo, which would put "^C"
		# before the next line, set in the session: hvc0 forgets its settings at a
		# hangup.
		env -i $env /bin/setsid -c /bin/sh -c 'trap : INT; /bin/stty -echo -echoctl
			"$0" "$@"; s=$?; /bin/stty -echo; exit $s' "/bench/$app" "$@" <"$tty"
	else
		env -i $env "/bench/$app" "$@"
	fi
	echo "bench-init: $app exited with status $?"
	irq=$(($(irqs '/virtio|-q[0-9]+(-[rt]x)?$/') - irq0))
	ipi=$(($(irqs '$1 ~ /^(RES|CAL|TLB):$/') - ipi0))
	pk=$(($(packets) - pk0))
	ctxt=$(($(awk '$1 == "ctxt" { print $2 }' /proc/stat) - ctxt0))
	echo "bench-init: counters: $ipi IPIs sent, $ctxt context switches during the app"
	per=0 # (busybox sh evaluates both sides of ?:)
	[ "$pk" -eq 0 ] || per=$((irq * 1000 / pk))
	echo "bench-init: net: $pk packets in and out, $irq NIC interrupts ($per per 1000 packets)"
}

batch=$(word batch "")
if [ -n "$batch" ]; then
	# batch=FILE, as Amphi's: a program a line (PATH [NAME=VALUE...] [--] [ARG...]; the
	# app is /bench/ and PATH's last part), one after another; blank and # lines skipped
	if [ -f "$batch" ]; then
		while read -r line <&3; do
			case $line in "" | "#"*) continue ;; esac
			# shellcheck disable=SC2086 # the line's words
			run_app $line
		done 3<"$batch"
		echo "bench-init: batch $batch done"
	else
		echo "bench-init: no batch file $batch"
	fi
else
	# the app's words after " -- "
	set --
	case $cmdline in *" -- "*) set -- ${cmdline#* -- } ;; esac
	run_app "$app" "$@"
fi
poweroff -f
