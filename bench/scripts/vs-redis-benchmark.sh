#!/usr/bin/env bash
# Client CPU and throughput of mayfly-bench vs redis-benchmark against the
# same redis-server, same connections and pipeline (GET over 100k keys).
#
# Usage: bench/scripts/vs-redis-benchmark.sh [REQUESTS] [CONNECTIONS] [PIPELINE] [ROUNDS]
# Needs redis-server, redis-benchmark and /usr/bin/time; builds mayfly-bench in release.
# SERVER_CPU=0 CLIENT_CPU=1 pin the server and each client with taskset (unset: no pinning).
set -euo pipefail
REQUESTS=${1:-1000000}
CONNECTIONS=${2:-50}
PIPELINE=${3:-16}
ROUNDS=${4:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p mayfly-bench --manifest-path "$ROOT/Cargo.toml"
BENCH=$TARGET/release/mayfly-bench

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
SPIN=(); CPIN=()
[ -n "${SERVER_CPU:-}" ] && SPIN=(taskset -c "$SERVER_CPU")
[ -n "${CLIENT_CPU:-}" ] && CPIN=(taskset -c "$CLIENT_CPU")
"${SPIN[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
cleanup() { kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$PORT" ping >/dev/null

echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*') on port $PORT; $REQUESTS GET requests, $CONNECTIONS connections, pipeline $PIPELINE; server cpu ${SERVER_CPU:-any}, client cpu ${CLIENT_CPU:-any}; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# client_busy: client CPU seconds / wall seconds (1.00 = one core saturated)
printf '%-15s %5s %12s %9s %9s %14s %11s\n' tool round ops/s user_s sys_s cpu_s/M_req client_busy
for round in $(seq "$ROUNDS"); do
    "${CPIN[@]}" /usr/bin/time -f '%U %S %e' -o "$WORK/rb.time" \
        redis-benchmark -p "$PORT" -c "$CONNECTIONS" -P "$PIPELINE" -n "$REQUESTS" -t get -r 100000 -d 3 -q \
        >"$WORK/rb.out" 2>&1
    rb_ops=$(tr '\r' '\n' <"$WORK/rb.out" | grep -o 'GET: [0-9.]* requests per second' | tail -1 | awk '{print $2}')
    read -r u s e <"$WORK/rb.time"
    printf '%-15s %5s %12.0f %9.2f %9.2f %14.3f %11.2f\n' redis-benchmark "$round" "$rb_ops" "$u" "$s" \
        "$(echo "($u + $s) * 1000000 / $REQUESTS" | bc -l)" "$(echo "($u + $s) / $e" | bc -l)"

    "${CPIN[@]}" /usr/bin/time -f '%U %S %e' -o "$WORK/mb.time" \
        "$BENCH" -p "$PORT" -c "$CONNECTIONS" -P "$PIPELINE" -n "$REQUESTS" --ratio 0:1 --keyspace 100000 \
        --data-size 3 --no-progress --json "$WORK/mb.json" >"$WORK/mb.out" 2>&1
    mb_ops=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['overall']['ops_per_sec'])" "$WORK/mb.json")
    read -r u s e <"$WORK/mb.time"
    printf '%-15s %5s %12.0f %9.2f %9.2f %14.3f %11.2f\n' mayfly-bench "$round" "$mb_ops" "$u" "$s" \
        "$(echo "($u + $s) * 1000000 / $REQUESTS" | bc -l)" "$(echo "($u + $s) / $e" | bc -l)"
done
