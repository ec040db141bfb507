#!/usr/bin/env bash
# perf/kcat-baseline.sh — first produce/consume throughput figures with kcat
# (librdkafka) against a release sluiced, until sluice-perf exists (issue 5).
#
#   bash perf/kcat-baseline.sh [RECORDS] [RECORD_BYTES] [PARTITIONS]
#
# Starts its own broker on a free loopback port with a temporary data dir,
# produces RECORDS records of RECORD_BYTES (acks=1) to a topic of PARTITIONS,
# consumes them back, and prints msg/s, MB/s and the broker's CPU seconds per
# GB moved (utime+stime from /proc/<pid>/stat). A figure, never a pass/fail.
set -euo pipefail
RECORDS=${1:-2000000}
RECORD_BYTES=${2:-100}
PARTITIONS=${3:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BROKER=${SLUICED:-$ROOT/build/release/core/sluiced}
CLI=${SLUICE:-$ROOT/build/release/cli/sluice}
PORT=${PORT:-19193}
WORK=$(mktemp -d /tmp/sluice-kcat-baseline.XXXXXX)
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

"$BROKER" --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$WORK/data" \
    >"$WORK/broker.log" 2>&1 &
PID=$!
for _ in $(seq 100); do kcat -L -b "127.0.0.1:$PORT" -m 1 >/dev/null 2>&1 && break; sleep 0.1; done
"$CLI" topics --bootstrap-server "127.0.0.1:$PORT" --create --topic bench --partitions "$PARTITIONS" >/dev/null
python3 -c "import sys; v='x'*$RECORD_BYTES+'\n'; sys.stdout.write(v*$RECORDS)" >"$WORK/in.txt"

cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
hz=$(getconf CLK_TCK)
now() { date +%s.%N; }

c0=$(cpu); t0=$(now)
kcat -P -b "127.0.0.1:$PORT" -t bench -X linger.ms=5 -X batch.num.messages=10000 \
     -X queue.buffering.max.messages=1000000 <"$WORK/in.txt"
t1=$(now); c1=$(cpu)
kcat -C -b "127.0.0.1:$PORT" -t bench -e -q -o beginning >"$WORK/out.txt"
t2=$(now); c2=$(cpu)
got=$(wc -l <"$WORK/out.txt")
[ "$got" -eq "$RECORDS" ] || { echo "consumed $got of $RECORDS records" >&2; exit 1; }

python3 - "$RECORDS" "$RECORD_BYTES" "$t0" "$t1" "$t2" "$c0" "$c1" "$c2" "$hz" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2 = map(float, sys.argv[3:6])
c0, c1, c2 = (int(x) / int(sys.argv[9]) for x in sys.argv[6:9])
gb = n * size / 1e9
for name, dt, dc in (("produce", t1 - t0, c1 - c0), ("consume", t2 - t1, c2 - c1)):
    print("%-8s %9d records x %d B: %6.2f s  %10.0f msg/s  %7.1f MB/s  broker %.2f CPU-s/GB"
          % (name, n, size, dt, n / dt, n * size / dt / 1e6, dc / gb))
PY
