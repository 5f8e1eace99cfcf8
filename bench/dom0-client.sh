#!/bin/bash
# make bench's load generators in the Xen rig's dom0 (bench/run.py stages this as
# /amphi/bench-client, with Debian's wrk and memcslap and every library they need, glibc
# and its loader too, in /amphi/lib: dom0's trimmed userland has no libm or libpthread,
# and this machine's glibc may be a newer point release than dom0's, so the programs run
# through the staged loader and none of dom0's libraries); the rig's `client` option runs
# it as it runs netclient,
# with the same kind of arguments as the QEMU side's Net.client:
#   bench-client wrk IP PORT CONNS SECS [close]
#   bench-client memcslap IP PORT THREADS COUNT
# What they print goes to the job's log as dom0's lines; bench/run.py reads them as it
# reads the QEMU side's (client_figures).
run() { /amphi/lib/ld-linux-x86-64.so.2 --library-path /amphi/lib "$@"; }
kind=$1 ip=$2 port=$3
shift 3
case $kind in
wrk)
	conns=$1 secs=$2
	hdr=()
	[ "${3:-}" = close ] && hdr=(-H "Connection: close")
	run /amphi/wrk -t 2 -c "$conns" -d "${secs}s" --timeout 5s "${hdr[@]}" "http://$ip:$port/"
	;;
memcslap)
	threads=$1 count=$2
	# memcached listens a moment after it says it runs: up to 30 s for its port
	n=0
	until (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null; do
		n=$((n + 1))
		if [ $n -ge 150 ]; then
			echo "memcslap: the port never answered"
			exit 1
		fi
		sleep 0.2
	done
	rc=0
	for test in set get; do
		run /amphi/memcslap -s "$ip:$port" -c "$threads" -e "$count" -t "$test" 2>&1 |
			sed "s/^/memcslap $test: /"
		[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	done
	exit $rc
	;;
*)
	echo "bench-client: unknown kind '$kind'"
	exit 2
	;;
esac
