#!/bin/sh
# Runs libFuzzer harnesses for a bounded time each: fuzz/run.sh BUILD_DIR SECONDS NAME...
# With FUZZ_RUNS=N in the environment each runs for N executions instead (no time limit).
# Each starts from its seeds (fuzz/corpus/NAME, read-only) and what earlier runs found
# (BUILD_DIR/corpus/NAME, where new inputs go); a crash or broken invariant leaves its
# input in BUILD_DIR/crashes/ and the log in BUILD_DIR/logs/NAME.log. One line per harness
# with libFuzzer's execution count, then "N passed, N failed"; exit status 1 on a failure.
set -u
dir=$1
secs=$2
shift 2
here=$(dirname "$0")
pass=0
fail=0
mkdir -p "$dir/logs" "$dir/crashes"
for name in "$@"; do
	mkdir -p "$dir/corpus/$name"
	log=$dir/logs/$name.log
	# the archive and firmware harnesses want inputs of several blocks
	case $name in
	tar | acpi) maxlen=16384 ;;
	*) maxlen=4096 ;;
	esac
	if [ "${FUZZ_RUNS:-0}" -gt 0 ]; then
		bound="-runs=$FUZZ_RUNS"
	else
		bound="-max_total_time=$secs"
	fi
	start=$(date +%s)
	if "$dir/$name" "$bound" -max_len=$maxlen -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/crashes/$name-" \
		"$dir/corpus/$name" "$here/corpus/$name" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		printf '  PASS  %-14s %s executions in %ss\n' "$name" "${execs:-?}" \
			"$(($(date +%s) - start))"
		pass=$((pass + 1))
	else
		printf '  FAIL  %-14s (%s)\n' "$name" "$log"
		grep -E 'invariant broken|ERROR: |runtime error|SUMMARY|Test unit written' "$log" |
			head -n 5 | sed 's/^/        /'
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
