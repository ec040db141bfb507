#!/usr/bin/env bash
# tests/crash/crash_loop.sh — kill -9 the broker at random points under an
# idempotent acks=all producer, restart it, and repeat; then check that every
# acknowledged record is present exactly once, in order per partition, and that
# no record at all appears twice (idempotence across crashes).
#
#   bash tests/crash/crash_loop.sh SLUICED BUILD_DIR [CYCLES=50]
#
# The producer (tests/integration/rdk_crash_producer.c, librdkafka) runs through
# every crash and reconnects on its own. Bounded in time; kills what it started
# by PID; exit 0 only when every check passed.
set -u -o pipefail
BROKER=$1
BUILD=$2
CYCLES=${3:-50}
PRODUCER=$BUILD/tests/rdk_crash_producer
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-crash.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BOOT=127.0.0.1:$PORT
TOPIC=crash-loop
BPID=
PPID_=
cleanup() {
    [ -n "$PPID_" ] && kill -9 "$PPID_" 2>/dev/null
    [ -n "$BPID" ] && kill -9 "$BPID" 2>/dev/null
    wait 2>/dev/null
}
trap cleanup EXIT
fail() {
    echo "FAIL crash_loop: $*"
    echo "----- broker log (tail)"; tail -20 "$WORK/broker.log"
    echo "----- producer log (tail)"; tail -20 "$WORK/producer.log"
    echo "scratch kept: $WORK"
    exit 1
}
start_broker() {
    "$BROKER" --override "listeners=PLAINTEXT://$BOOT" --override "log.dirs=$WORK/data" \
        --override num.partitions=3 >>"$WORK/broker.log" 2>&1 &
    BPID=$!
    for _ in $(seq 200); do
        kcat -L -b "$BOOT" -m 1 >/dev/null 2>&1 && return 0
        kill -0 "$BPID" 2>/dev/null || fail "broker exited at start"
        sleep 0.05
    done
    fail "broker did not answer within 10 s"
}

[ -x "$PRODUCER" ] || fail "missing $PRODUCER (build the tests)"
start_broker
"$PRODUCER" "$BOOT" "$TOPIC" "$WORK/acked.txt" >"$WORK/producer.log" 2>&1 &
PPID_=$!
for cycle in $(seq "$CYCLES"); do
    sleep "0.$((RANDOM % 9 + 2))"
    kill -9 "$BPID"
    wait "$BPID" 2>/dev/null
    kill -0 "$PPID_" 2>/dev/null || fail "the producer died in cycle $cycle"
    start_broker
done
sleep 1
kill -TERM "$PPID_"
wait "$PPID_"
pstatus=$?
PPID_=
[ "$pstatus" -eq 0 ] || fail "the producer reported failures (exit $pstatus)"
timeout 300 kcat -C -b "$BOOT" -t "$TOPIC" -e -q -f '%p %o %s\n' >"$WORK/consumed.txt" ||
    fail "consuming the topic failed"
python3 - "$WORK/acked.txt" "$WORK/consumed.txt" "$CYCLES" <<'PY' || fail "verification failed"
import sys
acked = {}
for line in open(sys.argv[1]):
    p, o, s = line.split()
    acked[int(s)] = (int(p), int(o))
seen, errors, last = {}, [], {}
for line in open(sys.argv[2]):
    p, o, s = line.split()
    p, o, s = int(p), int(o), int(s)
    if s in seen:
        errors.append("seq %d stored twice: at %r and %r" % (s, seen[s], (p, o)))
    seen[s] = (p, o)
    if p in last and s <= last[p]:
        errors.append("partition %d: seq %d after %d (order broken)" % (p, s, last[p]))
    last[p] = s
for s, where in acked.items():
    if s not in seen:
        errors.append("acknowledged seq %d (at %r) is missing" % (s, where))
    elif seen[s] != where:
        errors.append("seq %d acknowledged at %r but stored at %r" % (s, where, seen[s]))
print("crash_loop: %s cycles, %d records acknowledged, %d stored, %d errors"
      % (sys.argv[3], len(acked), len(seen), len(errors)))
for e in errors[:20]:
    print("  " + e)
sys.exit(1 if errors or not acked else 0)
PY
echo "PASS crash_loop ($CYCLES kill -9 cycles)"
rm -rf "$WORK"
