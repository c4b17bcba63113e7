#!/usr/bin/env bash
# Instructions per request of two server builds, measured with callgrind: repeatable on a
# loaded or virtual machine where wall-clock throughput and `perf stat` are not (instruction
# counts do not depend on what else runs). Each server runs under valgrind; its counters are
# zeroed after start-up, redis-benchmark sends N requests, the counters are dumped.
#
#   bench/scripts/callgrind-compare.sh OLD_BINARY NEW_BINARY [N] [SHARDS...]
#
# Prints, per build × shards × pipeline depth (1, 16) × command (SET, GET), the instructions
# per request and the NEW/OLD ratio. With more than one shard the count includes the loop's
# brief spinning while it waits for another shard's reply, which depends on scheduling: read
# those figures as approximate. Needs valgrind, callgrind_control, redis-benchmark.
set -euo pipefail
old=${1:?old binary}; new=${2:?new binary}; n=${3:-20000}; shift 3 || true
shards=("$@"); [ ${#shards[@]} -eq 0 ] && shards=(1)
port=$((7400 + RANDOM % 500))
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ir_of() { # binary shards pipeline command -> instructions per request
  local bin=$1 s=$2 p=$3 cmd=$4 out="$tmp/cg.out"
  rm -f "$tmp"/cg.out*
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --port "$port" --shards "$s" \
    --bind 127.0.0.1 >"$tmp/server.log" 2>&1 &
  local vpid=$!
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
  redis-benchmark -p "$port" -t "$cmd" -n 2000 -c 20 -P "$p" -q >/dev/null 2>&1 # warm-up, keys
  callgrind_control -z "$vpid" >/dev/null
  redis-benchmark -p "$port" -t "$cmd" -n "$n" -c 20 -P "$p" -q >/dev/null 2>&1
  callgrind_control -d "$vpid" >/dev/null
  sleep 1
  kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null || true
  # The explicit dump (`.1`) holds exactly what ran between zeroing and dumping, all threads.
  local total
  total=$(grep -m1 '^summary:' "$out.1" | awk '{print $2}')
  echo $((total / n))
}

printf '%-8s %-3s %-4s %-12s %-12s %s\n' shards P cmd old_ir/req new_ir/req new/old
for s in "${shards[@]}"; do
  for p in 1 16; do
    for cmd in set get; do
      a=$(ir_of "$old" "$s" "$p" "$cmd"); b=$(ir_of "$new" "$s" "$p" "$cmd")
      printf '%-8s %-3s %-4s %-12s %-12s %s\n' "$s" "$p" "$cmd" "$a" "$b" \
        "$(python3 -c "print(f'{$b/$a:.3f}')")"
    done
  done
done
