#!/usr/bin/env bash
# perf/matrix.sh — the standard benchmark matrix of issue 5, with the machine's
# limits measured in the same run, written as JSON, a Markdown table (figures
# as ratios to the limits) and a PNG chart.
#
#   bash perf/matrix.sh [--out DIR] [--quick] [--engines "native rdkafka"]
#                       [--duration S] [--warmup S] [--build DIR] [--data DIR]
#
#   --out DIR        where results go (default build/perf-matrix/<UTC time>);
#                    DIR/results.json, DIR/table.md, DIR/chart.png, DIR/rows/*.json
#                    (each sluice-perf --json), DIR/limits.json, DIR/broker.log
#   --quick          3 s rows, 1 s warm-up, quick limits (a smoke run, ~2 min)
#   --engines LIST   which sluice-perf engines to run (default: native rdkafka)
#   --duration S     measured seconds per row (default 10), --warmup S (default 2)
#   --build DIR      release build holding core/sluiced and perf/sluice-perf
#                    (default build/release; built with `cmake --preset release`
#                    when missing)
#   --data DIR       file system for the broker's log and the fio files (default:
#                    a fresh directory under /var/tmp, removed at the end)
#
# Rows (BENCHMARKS.md, issue 5), per engine, against one release broker started
# here with its defaults (fresh log dir, loopback, a free port; retention 1 GiB
# per partition so max-rate rows cannot fill the disk):
#   produce-100B-acks1   100-byte records, acks=1, 8 partitions, max rate
#   produce-1K-acks1     1 KiB records, acks=1, 8 partitions, max rate
#   produce-1K-acksall   1 KiB records, acks=all, 8 partitions, max rate
#   produce-1K-acksall-100k  the same at 100,000 msg/s, linger 1 ms: the ack latency
#                        of group commit below saturation, against fdatasync p99
#   consume-1K           reads what produce-1K-acks1 wrote (page cache), all partitions
#   e2e-1K-100k          1 KiB records at 100,000 msg/s, acks=1, 8 partitions,
#                        linger 0 (a latency row: batches leave when due)
# Every row passes --broker-pid, so each reports broker CPU-seconds per GB, and
# starts after a sync(1), so no row pays for the previous one's dirty pages.
# Ratios in the table: produce acks=1 MB/s and consume MB/s over iperf3
# loopback (1 MiB writes); produce acks=all MB/s over fio write+fsync; ack p99
# over fdatasync p99. Goals are printed beside them; nothing here fails on a
# goal (exit status 0 when every row ran, 1 when a row or the limits failed).
#
# Needs: a release build, iperf3 and fio (perf/limits.sh), python3, gnuplot
# (installed with apt-get when missing and we are root; without it the chart is
# skipped with a message). Stops the broker it started (by PID) on any exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
OUT='' QUICK=0 ENGINES='native rdkafka' DURATION=10 WARMUP=2 BUILD=$ROOT/build/release DATA=''
while (($#)); do
    case $1 in
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --quick) QUICK=1; DURATION=3; WARMUP=1; shift ;;
    --engines) ENGINES=${2:?--engines needs a list}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --warmup) WARMUP=${2:?}; shift 2 ;;
    --build) BUILD=${2:?}; shift 2 ;;
    --data) DATA=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "matrix: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] ||
    { echo "matrix: --duration and --warmup want whole seconds" >&2; exit 2; }

OUT=${OUT:-$ROOT/build/perf-matrix/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/rows"
OUT=$(cd "$OUT" && pwd)
SLUICED=$BUILD/core/sluiced
PERF=$BUILD/perf/sluice-perf
if [ ! -x "$SLUICED" ] || [ ! -x "$PERF" ]; then
    echo "matrix: building the release preset" >&2
    (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release -j"$(nproc)" >/dev/null)
fi
if ! command -v gnuplot >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "matrix: installing gnuplot-nox (Debian) for the chart" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
        echo "matrix: gnuplot could not be installed; the chart will be skipped" >&2
fi

SCRATCH=$(mktemp -d "${DATA:-/var/tmp}/sluice-matrix.XXXXXX")
BROKER_PID=''
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

status=0
log() { printf '[%s] matrix: %s\n' "$(date +%T)" "$*" >&2; }

log "limits of this machine -> $OUT/limits.json"
limit_args=(--out "$OUT/limits.json" --dir "$SCRATCH")
((QUICK)) && limit_args+=(--quick)
bash "$ROOT/perf/limits.sh" "${limit_args[@]}" >"$OUT/limits.txt" 2>&1 || { log "limits failed (see limits.txt)"; status=1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
BOOT=127.0.0.1:$PORT
mkdir -p "$SCRATCH/log"
# Defaults but for retention: max-rate rows write GBs; 1 GiB per partition
# bounds the disk used while keeping what the consume row reads.
"$SLUICED" --override "listeners=PLAINTEXT://$BOOT" --override "log.dirs=$SCRATCH/log" \
    --override log.retention.bytes=1073741824 --override log.segment.bytes=268435456 \
    --override log.retention.check.interval.ms=5000 >"$OUT/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { log "the broker exited (see broker.log)"; exit 1; }
    sleep 0.1
done
log "broker pid $BROKER_PID on $BOOT, log dir on $(findmnt -n -o FSTYPE --target "$SCRATCH")"

# row NAME ENGINE MODE ARGS... : one sluice-perf run, its JSON in rows/NAME.ENGINE.json
row() {
    local name=$1 engine=$2 mode=$3
    shift 3
    local json=$OUT/rows/$name.$engine.json
    # Start each row with no dirty page cache left by the previous one: its
    # writeback (and the dirty-page throttling it brings) would land in this
    # row's figures. What was written stays cached for the consume row.
    timeout 300 sync || true
    log "$name ($engine)"
    if ! timeout $((DURATION + WARMUP + 120)) "$PERF" "$mode" --engine "$engine" \
        --bootstrap-server "$BOOT" --broker-pid "$BROKER_PID" --json "$json" "$@" \
        >"$OUT/rows/$name.$engine.txt" 2>&1; then
        log "$name ($engine) failed: $(tail -n 3 "$OUT/rows/$name.$engine.txt" | tr '\n' ' ')"
        status=1
    fi
}

timed=(--duration "$DURATION" --warmup "$WARMUP")
for engine in $ENGINES; do
    t=$engine # topics per engine: the consume row reads its own engine's data
    row produce-100B-acks1 "$engine" produce --topic "m-$t-100" --partitions 8 \
        --record-size 100 --acks 1 "${timed[@]}"
    row produce-1K-acks1 "$engine" produce --topic "m-$t-1k" --partitions 8 \
        --record-size 1024 --acks 1 "${timed[@]}"
    row produce-1K-acksall "$engine" produce --topic "m-$t-1k-all" --partitions 8 \
        --record-size 1024 --acks all "${timed[@]}"
    row produce-1K-acksall-100k "$engine" produce --topic "m-$t-1k-all-r" --partitions 8 \
        --record-size 1024 --acks all --rate 100000 --linger-ms 1 "${timed[@]}"
    produced=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["produce"]["acked"])' \
        "$OUT/rows/produce-1K-acks1.$engine.json" 2>/dev/null || echo 0)
    if [ "$produced" -gt 0 ]; then
        row consume-1K "$engine" consume --topic "m-$t-1k" --count "$produced"
    else
        log "consume-1K ($engine) skipped: produce-1K-acks1 wrote nothing"
        status=1
    fi
    row e2e-1K-100k "$engine" e2e --topic "m-$t-e2e" --partitions 8 --record-size 1024 \
        --acks 1 --rate 100000 --linger-ms 0 "${timed[@]}"
done

python3 "$ROOT/perf/matrix_report.py" "$OUT" || status=1
log "results in $OUT (results.json, table.md, chart.png)"
cat "$OUT/table.md" 2>/dev/null || true
exit "$status"
