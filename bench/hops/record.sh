#!/usr/bin/env bash
# bench/hops/record.sh BINDIR OUT: 2 s of syscall tracepoints (perf, as
# root) of the unloaded latency workload: the bench driver, its
# redis-server and its bench-worker, every thread. Writes OUT.txt (perf
# script), OUT.pids ("driver worker redis") and OUT.bench.txt (the
# bench's own output); then `python3 bench/hops/hops.py OUT.txt OUT.pids`
# gives the median of each hop (docs/benchmarks.md, "Unloaded latency,
# hop by hop").
set -euo pipefail
bin=$1 out=$2
"$bin/duro-bench" --only latency --latency-n 4000 >"$out.bench.txt" 2>&1 &
drv=$!
wk= rs=
for _ in $(seq 100); do
  wk=$(pgrep -P "$drv" -x bench-worker || true)
  rs=$(pgrep -P "$drv" -x redis-server || true)
  [[ -n "$wk" && -n "$rs" ]] && break
  sleep 0.1
done
sleep 1.5 # past the warm-up
ev=syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto
ev+=,syscalls:sys_enter_read,syscalls:sys_exit_read,syscalls:sys_enter_futex
ev+=,syscalls:sys_exit_futex,syscalls:sys_exit_epoll_wait,syscalls:sys_exit_poll
perf record -q -o "$out.data" -e "$ev" -p "$drv,$wk,$rs" -- sleep 2 2>/dev/null
echo "$drv $wk $rs" >"$out.pids"
wait "$drv" || true
perf script -i "$out.data" -F tid,pid,time,event,trace >"$out.txt" 2>/dev/null
