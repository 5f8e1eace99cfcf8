# The matrix's shell test (nm_shell): Debian's busybox sh, with busybox's applets as links
# in /bin, runs this in normal mode; the same script in the same tree under busybox on the
# host (chroot) must print the same. Only what is deterministic is printed.
echo "pipeline: $(ls /bin | sort | head -3 | tr '\n' ' ')"
echo one > /tmp/f
echo two >> /tmp/f
printf 'three\n' >> /tmp/f
echo "lines: $(wc -l < /tmp/f)"
cat /tmp/f | tr a-z A-Z
n=0
while [ $n -lt 3 ]; do n=$((n + 1)); done
echo "while: $n"
for w in a b c; do printf '%s.' "$w"; done; echo
square() { echo $(($1 * $1)); }
echo "function: $(square 12)"
echo "nested: $(echo $(echo deep))"
false; echo "false: $?"
true; echo "true: $?"
(exit 7); echo "subshell: $?"
sh -c 'exit 3'; echo "sh -c: $?"
sleep 0.2 & sleep 0.1 & wait; echo "waited: $?"
# (wait's "Terminated" is the shell's, and only when the child's end is reaped inside the
# wait, which depends on when its SIGCHLD comes; on both kernels: not compared)
sleep 10 & p=$!; kill $p; wait $p 2>/dev/null; echo "killed sleep: $?"
mkdir -p /tmp/t/a/b && touch /tmp/t/a/b/x /tmp/t/y && echo hi > /tmp/t/a/z
echo "find: $(cd /tmp/t && find . | sort | tr '\n' ' ')"
echo "grep: $(grep -c hi /tmp/t/a/z) $(grep -rl hi /tmp/t)"
echo "sed: $(echo hello world | sed 's/o/0/g')"
echo "awk: $(printf '1 2\n3 4\n' | awk '{s += $1 * $2} END {print s}')"
echo "xargs: $(seq 1 10 | xargs -n 3 echo | wc -l)"
echo "wc: $(printf 'a b\nc\n' | wc -w)"
(cd /tmp && tar cf /tmp/t.tar t) && echo "tar: $(tar tf /tmp/t.tar | sort | tr '\n' ' ')"
mkdir /tmp/u && (cd /tmp/u && tar xf /tmp/t.tar) && echo "untar: $(cat /tmp/u/t/a/z)"
mv /tmp/t/y /tmp/t/y2 && ln -s y2 /tmp/t/l && echo "link: $(readlink /tmp/t/l) $(ls /tmp/t | tr '\n' ' ')"
ln /tmp/f /tmp/hard && echo more >> /tmp/hard && echo "hard link: $(wc -l < /tmp/f)"
rm -r /tmp/t /tmp/u /tmp/t.tar /tmp/hard; echo "rm: $(ls /tmp | tr '\n' ' ')"
rmdir /tmp/nothere 2>/dev/null || echo "rmdir of nothing fails"
echo "cd: $(cd /etc && pwd)"
echo "exec: $(exec echo replaced)"
yes | head -2 | tr '\n' ' '; echo
echo "uptime runs: $(uptime > /dev/null && echo yes)"
echo "zero: $(head -c 5000 /dev/zero | wc -c) $(head -c 3 /dev/zero | od -An -tx1)"
# /proc (the host's chroot has its own mounted): what ps, free, uptime and top show
echo "ps: $(ps -o comm | grep -c '^ps$')"
echo "free: $(free | grep -c '^Mem:')"
echo "uptime: $(uptime | grep -c 'load average')"
echo "top: $(top -b -n 1 | grep -c '^  PID  PPID USER')"
echo "cmdline: $(cat /proc/self/cmdline | tr '\0' ' ')"
echo "stat: $(cut -d' ' -f2,3 /proc/self/stat)"
echo "fd: $(ls /proc/self/fd | head -3 | tr '\n' ' ')"
exit 5
