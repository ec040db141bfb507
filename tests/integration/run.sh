#!/usr/bin/env bash
# tests/integration/run.sh — every integration test, against a real sluiced.
#
# usage: tests/integration/run.sh BROKER_BIN CLI_BIN [BUILD_DIR]
#   BROKER_BIN  sluiced to test (e.g. build/debug/core/sluiced)
#   CLI_BIN     the sluice CLI (e.g. build/debug/cli/sluice)
#   BUILD_DIR   where tests/rdk_roundtrip was built (default: CLI_BIN/../..)
#
# Starts the broker on a free loopback port with a fresh data directory,
# waits until the port answers, runs each test with a time budget, restarts
# the broker where a test needs it (SIGTERM, wait for the PID to exit, start
# again; kill -9 for the durability test) and always kills what it started
# (trap EXIT). Prints PASS/FAIL per test, the failing test's output tail and
# the broker log tail, and a closing "integration: N passed, M failed" line.
# Exit status: 0 if every test passed, 1 otherwise, 2 bad usage.
#
# Python tests get SLUICE_BOOTSTRAP, SLUICE_CLI (the sluice binary),
# SLUICE_DATA_DIR (the broker's log.dirs), SLUICE_IT_PERF (sluice-perf) and
# SLUICE_IT_BROKER_PID among other variables (pytest_phase).
#
# The tests are the test_* functions below, listed in TESTS with their time
# budgets; any tests/integration/test_NAME.py without a function of its own
# runs as test NAME under pytest. A missing client or tool is a failure,
# never a skip.
#
# Environment (all optional; CI sets none):
#   SLUICE_IT_ONLY="cli kcat"   run only these tests
#   SLUICE_IT_PORT=19092        first port to try
#   SLUICE_IT_KCAT_COUNT        records in the kcat test (default 1000000)
#   SLUICE_RECORD_COUNT         records in the client tests (default 100000)
#   SLUICE_IT_BUDGET_S          whole-suite budget in seconds (default 3600)
#   SLUICE_IT_KEEP=1            keep the scratch directory even on success
set -u -o pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 BROKER_BIN CLI_BIN [BUILD_DIR]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
BROKER_BIN=$(abspath "$1")
CLI_BIN=$(abspath "$2")
BUILD_DIR=$(abspath "${3:-$(dirname "$(dirname "$CLI_BIN")")}")
RDK=$BUILD_DIR/tests/rdk_roundtrip
PY=/usr/bin/python3 # Debian's interpreter: it sees python3-confluent-kafka and python3-kafka

KCAT_COUNT=${SLUICE_IT_KCAT_COUNT:-1000000}
RECORD_COUNT=${SLUICE_RECORD_COUNT:-100000}
SUITE_BUDGET_S=${SLUICE_IT_BUDGET_S:-3600}
MAX_REQUEST_BYTES=4194304 # socket.request.max.bytes for the run: above every client's requests
AUTO_PARTITIONS=4         # num.partitions for the run (auto-created topics)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it.XXXXXX")
BROKER_LOG=$WORK/broker.log
BROKER_PID=""
BG_PIDS=()
export PYTHONDONTWRITEBYTECODE=1 KAFKAJS_NO_PARTITIONER_WARNING=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

# ---------------------------------------------------------------- broker
pick_port() {
    "$PY" - "${SLUICE_IT_PORT:-19092}" <<'EOF'
import socket, sys
want = int(sys.argv[1])
for port in list(range(want, want + 20)) + [0]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
EOF
}
PORT=$(pick_port)
BOOT=127.0.0.1:$PORT
BROKER_ARGS=(
    --override "listeners=PLAINTEXT://127.0.0.1:$PORT"
    --override "advertised.listeners=PLAINTEXT://127.0.0.1:$PORT"
    --override "log.dirs=$WORK/data"
    --override "num.partitions=$AUTO_PARTITIONS"
    --override "socket.request.max.bytes=$MAX_REQUEST_BYTES"
    # test_retention needs retention checked every second, not every 5 minutes
    --override "log.retention.check.interval.ms=1000"
    # test_groups_offsets_log expires offsets committed with a retention time
    --override "offsets.retention.check.interval.ms=1000"
)

# True while `pid` runs (a zombie counts as exited: it can no longer serve).
alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ]
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# Starts sluiced and waits (60 s at most) until its port accepts connections.
broker_start() {
    if [ ! -x "$BROKER_BIN" ]; then
        echo "broker binary $BROKER_BIN does not exist or is not executable"
        return 1
    fi
    # A killed process's io_uring is torn down by the kernel after the process
    # is reaped, and its listening socket with it: give that a moment.
    local deadline=$((SECONDS + 15))
    while port_answers && ((SECONDS < deadline)); do sleep 0.1; done
    if port_answers; then
        echo "port $PORT still answers 15 s after the previous sluiced exited: something else listens there"
        return 1
    fi
    echo "=== $(date +%T) starting: $BROKER_BIN ${BROKER_ARGS[*]}" >>"$BROKER_LOG"
    (cd "$WORK" && exec "$BROKER_BIN" "${BROKER_ARGS[@]}") >>"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        if ! alive "$BROKER_PID"; then
            wait "$BROKER_PID"
            echo "sluiced exited with status $? before listening on $PORT"
            BROKER_PID=""
            return 1
        fi
        port_answers && return 0
        sleep 0.2
    done
    echo "sluiced (pid $BROKER_PID) did not listen on $PORT within 60 s"
    return 1
}

# SIGTERM, then wait for the PID: a clean shutdown must finish within 60 s
# and exit 0 (or 143, killed by the TERM it re-raised). A sanitizer report
# at exit (leaks) makes the status non-zero and fails the test.
broker_stop() {
    local pid=$BROKER_PID status
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    local deadline=$((SECONDS + 60))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid"; then
        echo "sluiced (pid $pid) still running 60 s after SIGTERM: killing it"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        BROKER_PID=""
        return 1
    fi
    wait "$pid"
    status=$?
    BROKER_PID=""
    echo "=== $(date +%T) sluiced exited with status $status after SIGTERM" >>"$BROKER_LOG"
    if [ "$status" -ne 0 ] && [ "$status" -ne 143 ]; then
        echo "sluiced exited with status $status after SIGTERM (expected 0)"
        return 1
    fi
}

broker_kill9() {
    local pid=$BROKER_PID
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    BROKER_PID=""
    echo "=== $(date +%T) sluiced killed with SIGKILL" >>"$BROKER_LOG"
}

broker_restart() {
    echo "restarting sluiced (SIGTERM)"
    broker_stop && broker_start
}

cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    if [ -n "$BROKER_PID" ]; then
        kill -TERM "$BROKER_PID" 2>/dev/null
        for _ in $(seq 50); do alive "$BROKER_PID" || break; sleep 0.2; done
        kill -KILL "$BROKER_PID" 2>/dev/null
        wait "$BROKER_PID" 2>/dev/null
    fi
    if [ "${SLUICE_IT_KEEP:-0}" = 1 ] || [ "${FAILED:-0}" -gt 0 ]; then
        echo "scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------- test helpers
# t CMD...: runs CMD with what is left of the current test's time budget.
t() {
    local left=$((TEST_DEADLINE - SECONDS))
    if ((left <= 0)); then
        echo "time budget of the test exhausted before: $*"
        return 124
    fi
    timeout -k 10 "$left" "$@"
}

fail() {
    echo "FAIL: $*"
    return 1
}

need() {
    local what
    for what in "$@"; do
        case "$what" in
        /*) [ -x "$what" ] || { fail "$what is missing (not built?)"; return 1; } ;;
        py:*) "$PY" -c "import ${what#py:}" 2>/dev/null ||
            { fail "Python module ${what#py:} missing for $PY (run .ci/setup)"; return 1; } ;;
        *) command -v "$what" >/dev/null || { fail "$what is not installed (run .ci/setup)"; return 1; } ;;
        esac
    done
}

# ---------------------------------------------------------------- tests
# The sluice CLI: topics create/list/describe/delete, produce, consume.
test_cli() {
    need "$CLI_BIN" || return 1
    local topic=it-cli out err i
    t "$CLI_BIN" --version | grep -q '^sluice ' || fail "sluice --version" || return 1

    out=$(t "$CLI_BIN" topics --bootstrap-server "$BOOT" --create --topic $topic --partitions 3 \
        --replication-factor 1 --config retention.ms=86400000) || fail "topics --create" || return 1
    [ "$out" = "Created topic $topic." ] || fail "topics --create printed '$out'" || return 1
    err=$(t "$CLI_BIN" topics --bootstrap-server "$BOOT" --create --topic $topic --partitions 3 2>&1)
    [ $? -eq 1 ] && grep -q "already exists" <<<"$err" ||
        fail "creating an existing topic: want exit 1 and 'already exists', got: $err" || return 1
    t "$CLI_BIN" topics --bootstrap-server "$BOOT" --create --topic $topic --partitions 3 \
        --if-not-exists || fail "--if-not-exists on an existing topic" || return 1
    t "$CLI_BIN" topics --bootstrap-server "$BOOT" --create --topic $topic-default >/dev/null ||
        fail "topics --create without --partitions (broker default)" || return 1

    out=$(t "$CLI_BIN" topics --bootstrap-server "$BOOT" --list) || fail "topics --list" || return 1
    grep -qx "$topic" <<<"$out" && grep -qx "$topic-default" <<<"$out" ||
        fail "topics --list lacks $topic or $topic-default: $out" || return 1

    out=$(t "$CLI_BIN" topics --bootstrap-server "$BOOT" --describe --topic $topic) ||
        fail "topics --describe" || return 1
    echo "$out"
    # Kafka's header line ends with the topic's config overrides.
    head -n1 <<<"$out" | grep -qP "^Topic: $topic\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=86400000$" ||
        fail "describe header line" || return 1
    [ "$(grep -cP "^\tTopic: $topic\tPartition: [0-2]\tLeader: \d+\tReplicas: \d+\tIsr: \d+$" <<<"$out")" = 3 ] ||
        fail "describe: want 3 partition lines with Leader/Replicas/Isr" || return 1
    t "$CLI_BIN" topics --bootstrap-server "$BOOT" --describe --topic $topic-default |
        head -n1 | grep -qP "\tPartitionCount: $AUTO_PARTITIONS\t" ||
        fail "a topic created without --partitions must get num.partitions=$AUTO_PARTITIONS" || return 1

    # 300 keyed lines and one null value (null.marker); consume them all back.
    for i in $(seq 1 300); do echo "key$i:value $i"; done >"$WORK/cli.in"
    echo "keynull:NULL" >>"$WORK/cli.in"
    t "$CLI_BIN" produce --bootstrap-server "$BOOT" --topic $topic --key-separator : \
        --property null.marker=NULL <"$WORK/cli.in" || fail "produce" || return 1
    t "$CLI_BIN" consume --bootstrap-server "$BOOT" --topic $topic --from-beginning \
        --max-messages 301 --timeout-ms 30000 --property print.key=true \
        --property key.separator=: >"$WORK/cli.out" 2>"$WORK/cli.err" || fail "consume" || return 1
    grep -q "Processed a total of 301 messages" "$WORK/cli.err" ||
        fail "consume stderr: $(cat "$WORK/cli.err")" || return 1
    sed 's/^keynull:NULL$/keynull:null/' "$WORK/cli.in" | sort >"$WORK/cli.want"
    sort "$WORK/cli.out" | diff "$WORK/cli.want" - || fail "consumed records differ (diff above)" || return 1

    # Per partition: print.partition/offset, --partition with --offset.
    t "$CLI_BIN" consume --bootstrap-server "$BOOT" --topic $topic --from-beginning \
        --max-messages 301 --timeout-ms 30000 --property print.partition=true \
        --property print.offset=true --property print.key=true >"$WORK/cli.pos" 2>/dev/null ||
        fail "consume with print.partition" || return 1
    local p n total=0 last
    for p in 0 1 2; do
        n=$(grep -c "^Partition:$p	" "$WORK/cli.pos")
        total=$((total + n))
        [ "$(grep "^Partition:$p	" "$WORK/cli.pos" | cut -f2 | sort -t: -k2 -n | tr '\n' ' ')" = \
            "$(for ((i = 0; i < n; i++)); do printf 'Offset:%d ' $i; done)" ] ||
            fail "partition $p offsets are not 0..$((n - 1))" || return 1
        ((n > 0)) || continue
        out=$(t "$CLI_BIN" consume --bootstrap-server "$BOOT" --topic $topic --partition $p \
            --offset earliest --max-messages "$n" --timeout-ms 20000 2>/dev/null | wc -l)
        [ "$out" = "$n" ] || fail "partition $p from earliest: $out records, want $n" || return 1
        last=$(grep "^Partition:$p	Offset:$((n - 1))	" "$WORK/cli.pos" | cut -f4)
        out=$(t "$CLI_BIN" consume --bootstrap-server "$BOOT" --topic $topic --partition $p \
            --offset $((n - 1)) --max-messages 1 --timeout-ms 20000 2>/dev/null)
        [ "$out" = "$last" ] || fail "partition $p offset $((n - 1)): '$out', want '$last'" || return 1
    done
    [ "$total" = 301 ] || fail "print.partition output has $total records, want 301" || return 1

    # --offset latest sees only records produced after it started: keep
    # producing one until it has one (it may take a moment to be assigned).
    t "$CLI_BIN" consume --bootstrap-server "$BOOT" --topic $topic --partition 1 --offset latest \
        --max-messages 1 --timeout-ms 60000 >"$WORK/cli.latest" 2>/dev/null &
    local consumer=$!
    BG_PIDS+=("$consumer")
    for i in $(seq 1 20); do
        sleep 2
        alive $consumer || break
        echo "after-latest-$i" | t "$CLI_BIN" produce --bootstrap-server "$BOOT" --topic $topic \
            --partition 1 --acks 1 --compression gzip || fail "produce --partition 1" || return 1
    done
    wait $consumer || fail "consume --offset latest" || return 1
    grep -qx "after-latest-[0-9]*" "$WORK/cli.latest" ||
        fail "--offset latest read '$(cat "$WORK/cli.latest")'" || return 1

    # Failures are reported with a non-zero exit.
    err=$(echo x | t "$CLI_BIN" produce --bootstrap-server "$BOOT" --topic $topic --partition 99 \
        --producer-property message.timeout.ms=10000 2>&1)
    [ $? -eq 1 ] && grep -q "1 of 1 records failed" <<<"$err" ||
        fail "produce to partition 99: want exit 1 and a failure count, got: $err" || return 1
    err=$(t "$CLI_BIN" consume --bootstrap-server "$BOOT" --topic it-cli-missing --timeout-ms 1000 2>&1)
    [ $? -eq 1 ] && grep -q "does not exist" <<<"$err" ||
        fail "consume of a missing topic: $err" || return 1

    t "$CLI_BIN" topics --bootstrap-server "$BOOT" --delete --topic $topic || fail "delete" || return 1
    local deadline=$((SECONDS + 30))
    while t "$CLI_BIN" topics --bootstrap-server "$BOOT" --list | grep -qx $topic; do
        ((SECONDS < deadline)) || fail "$topic still listed 30 s after --delete" || return 1
        sleep 0.5
    done
    err=$(t "$CLI_BIN" topics --bootstrap-server "$BOOT" --delete --topic $topic 2>&1)
    [ $? -eq 1 ] && grep -q "does not exist" <<<"$err" ||
        fail "deleting a missing topic: $err" || return 1
    t "$CLI_BIN" topics --bootstrap-server "$BOOT" --delete --topic $topic --if-exists ||
        fail "--delete --if-exists of a missing topic" || return 1
}

# kcat: metadata, 1,000,000 keyed records through kcat -P / -C, again after a restart.
test_kcat() {
    need kcat || return 1
    local topic=it-kcat keys=1000
    t "$PY" "$HERE/kcat_check.py" gen "$KCAT_COUNT" $keys >"$WORK/kcat.in" || return 1
    log "kcat -P: $KCAT_COUNT records to $topic (auto-created)"
    t kcat -P -b "$BOOT" -t $topic -K: -X acks=all -X message.timeout.ms=300000 \
        -l "$WORK/kcat.in" || fail "kcat -P exited with an error" || return 1
    t kcat -L -b "$BOOT" >"$WORK/kcat.meta" || fail "kcat -L" || return 1
    cat "$WORK/kcat.meta"
    t "$PY" "$HERE/kcat_check.py" metadata "$BOOT" $topic $AUTO_PARTITIONS <"$WORK/kcat.meta" ||
        return 1
    log "kcat -C: reading everything back"
    t kcat -C -b "$BOOT" -t $topic -e -o beginning -X check.crcs=true -f '%p %o %k %s\n' |
        t "$PY" "$HERE/kcat_check.py" check "$KCAT_COUNT" $keys $AUTO_PARTITIONS \
            --save "$WORK/kcat.listing" || fail "kcat -C output check" || return 1
    broker_restart || return 1
    log "kcat -C after the restart"
    t kcat -C -b "$BOOT" -t $topic -e -o beginning -X check.crcs=true -f '%p %o %k %s\n' |
        t "$PY" "$HERE/kcat_check.py" check "$KCAT_COUNT" $keys $AUTO_PARTITIONS \
            --compare "$WORK/kcat.listing" || fail "kcat -C after restart" || return 1
}

# librdkafka (C): admin create, 100,000 records with keys/headers/nulls, acks=all, assign().
test_rdk_roundtrip() {
    need "$RDK" || return 1
    t "$RDK" --bootstrap "$BOOT" --topic it-rdk --partitions 6 --count "$RECORD_COUNT" \
        --state "$WORK/rdk.state" || return 1
    broker_restart || return 1
    t "$RDK" --bootstrap "$BOOT" --topic it-rdk --state "$WORK/rdk.state" --verify-only
}

# acks=all then kill -9: every acknowledged record must survive, both when the
# kill comes after the producer finished and while it is producing.
test_rdk_durability() {
    need "$RDK" || return 1
    log "part 1: 50000 records acknowledged, then kill -9"
    t "$RDK" --bootstrap "$BOOT" --topic it-durable-after --partitions 3 --count 50000 \
        --durability-produce --state "$WORK/durable-after.acked" ||
        fail "not every record was acknowledged by a healthy broker" || return 1
    broker_kill9
    broker_start || return 1
    t "$RDK" --bootstrap "$BOOT" --topic it-durable-after --partitions 3 --durability-verify \
        --state "$WORK/durable-after.acked" || return 1

    log "part 2: kill -9 while producing"
    local acked="$WORK/durable-during.acked" producer status lines deadline
    t "$RDK" --bootstrap "$BOOT" --topic it-durable-during --partitions 3 --count 400000 \
        --message-timeout-ms 30000 --durability-produce --state "$acked" \
        >"$WORK/durable-during.out" 2>&1 &
    producer=$!
    BG_PIDS+=("$producer")
    deadline=$((SECONDS + 300))
    while :; do
        lines=$(wc -l 2>/dev/null <"$acked" || echo 0)
        ((lines > 20000)) && break
        alive "$producer" || break
        if ((SECONDS >= deadline)); then
            kill -KILL "$producer" 2>/dev/null
            fail "fewer than 20000 acknowledgements in 300 s"
            return 1
        fi
        sleep 0.05
    done
    alive "$producer" || echo "note: the producer finished before the kill"
    broker_kill9
    echo "killed sluiced with $(($(wc -l <"$acked") - 1)) records acknowledged"
    sleep 1
    broker_start || return 1
    wait "$producer"
    status=$?
    cat "$WORK/durable-during.out"
    [ $status -eq 0 ] || [ $status -eq 3 ] || fail "producer exited with status $status" || return 1
    t "$RDK" --bootstrap "$BOOT" --topic it-durable-during --partitions 3 --durability-verify \
        --state "$acked"
}

pytest_phase() { # FILE TEST
    SLUICE_BOOTSTRAP=$BOOT SLUICE_STATE_DIR=$WORK SLUICE_RECORD_COUNT=$RECORD_COUNT \
        SLUICE_CLI=$CLI_BIN SLUICE_DATA_DIR=$WORK/data SLUICED=$BROKER_BIN \
        SLUICE_IT_PERF=$BUILD_DIR/perf/sluice-perf SLUICE_IT_BROKER_PID=$BROKER_PID \
        SLUICE_AUTO_PARTITIONS=$AUTO_PARTITIONS SLUICE_SOCKET_REQUEST_MAX_BYTES=$MAX_REQUEST_BYTES \
        t "$PY" -m pytest -p no:cacheprovider -q -rfE "$HERE/$1${2:+::$2}"
}

test_confluent_kafka() {
    need py:pytest py:confluent_kafka || return 1
    pytest_phase test_confluent_kafka.py test_produce_then_consume || return 1
    broker_restart || return 1
    pytest_phase test_confluent_kafka.py test_after_restart
}

test_kafka_python() {
    need py:pytest py:kafka || return 1
    pytest_phase test_kafka_python.py test_produce_then_consume || return 1
    broker_restart || return 1
    pytest_phase test_kafka_python.py test_after_restart
}

# kafkajs produces; librdkafka reads back (kafkajs's consumer needs groups).
test_kafkajs() {
    need node "$RDK" || return 1
    [ -f "$HERE/js/node_modules/kafkajs/package.json" ] ||
        fail "kafkajs is not installed in $HERE/js (run .ci/setup)" || return 1
    t node "$HERE/js/kafkajs_roundtrip.js" produce --bootstrap "$BOOT" --topic it-kafkajs \
        --count "$RECORD_COUNT" --state "$WORK/kafkajs.json" || return 1
    t "$RDK" --bootstrap "$BOOT" --topic it-kafkajs --partitions 3 --dump >"$WORK/kafkajs.dump" ||
        return 1
    t node "$HERE/js/kafkajs_roundtrip.js" verify --state "$WORK/kafkajs.json" \
        --dump "$WORK/kafkajs.dump"
}

# One Produce and one Fetch spanning partitions of several shards (raw protocol).
test_cross_shard() {
    need py:pytest || return 1
    pytest_phase test_cross_shard.py
}

test_bad_input() {
    need py:pytest || return 1
    pytest_phase test_bad_input.py
}

# name budget_seconds
TESTS=(
    "cli 240"
    "kcat 900"
    "rdk_roundtrip 600"
    "rdk_durability 600"
    "confluent_kafka 600"
    "kafka_python 900"
    "kafkajs 400"
    "cross_shard 120"
    "bad_input 300"
)
# Any other tests/integration/test_NAME.py runs too, as test NAME (plain
# pytest, 300 s), so a new file cannot be forgotten here.
for file in "$HERE"/test_*.py; do
    name=$(basename "$file" .py)
    name=${name#test_}
    declare -F "test_$name" >/dev/null && continue
    [[ $name =~ ^[a-z0-9_]+$ ]] || { echo "ignoring $file: name is not [a-z0-9_]+" >&2; continue; }
    eval "test_$name() { need py:pytest || return 1; pytest_phase test_$name.py; }"
    TESTS+=("$name 300")
done

# ------------------------------------------------------------- the run
PASSED=0
FAILED=0
FAILED_NAMES=()
SUITE_DEADLINE=$((SECONDS + SUITE_BUDGET_S))
mkdir -p "$WORK/logs"
log "sluice integration tests: broker $BROKER_BIN on $BOOT, scratch $WORK"

sanitizer_report() { # OFFSET: prints sanitizer/assert lines the broker logged after OFFSET bytes
    tail -c +"$(($1 + 1))" "$BROKER_LOG" 2>/dev/null |
        grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|ASSERTION FAILED' |
        head -n 5
}

run_test() {
    local name=$1 budget=$2 out=$WORK/logs/$1.log start=$SECONDS ok=1 report offset
    if [ -n "${SLUICE_IT_ONLY:-}" ] && ! grep -qw -- "$name" <<<"$SLUICE_IT_ONLY"; then
        return
    fi
    if ((SECONDS + 30 > SUITE_DEADLINE)); then
        echo "FAIL  $name  (not run: the suite budget of ${SUITE_BUDGET_S}s is spent)"
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        return
    fi
    TEST_DEADLINE=$((SECONDS + budget))
    offset=$(stat -c %s "$BROKER_LOG" 2>/dev/null || echo 0)
    {
        echo "=== $name (budget ${budget}s)"
        alive "$BROKER_PID" || broker_start
    } >"$out" 2>&1
    if alive "$BROKER_PID"; then
        "test_$name" >>"$out" 2>&1 || ok=0
    else
        ok=0
    fi
    if ((ok)) && ! alive "$BROKER_PID"; then
        echo "FAIL: sluiced is not running at the end of the test (crashed?)" >>"$out"
        ok=0
    fi
    report=$(sanitizer_report "$offset")
    if [ -n "$report" ]; then
        printf 'FAIL: the broker log has sanitizer or assertion reports:\n%s\n' "$report" >>"$out"
        ok=0
    fi
    if ((ok)); then
        PASSED=$((PASSED + 1))
        echo "PASS  $name  ($((SECONDS - start))s)"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        echo "FAIL  $name  ($((SECONDS - start))s)"
        echo "----- last lines of the test output ($out)"
        tail -n 60 "$out" | sed 's/^/    /'
        echo "----- last lines of the broker log ($BROKER_LOG)"
        tail -c +"$((offset + 1))" "$BROKER_LOG" 2>/dev/null | tail -n 40 | sed 's/^/    /'
        echo "-----"
    fi
}

for entry in "${TESTS[@]}"; do
    # shellcheck disable=SC2086 # "name budget" is split on purpose
    run_test $entry
done

if ! broker_stop >>"$WORK/logs/final-stop.log" 2>&1; then
    echo "FAIL  final_shutdown  ($(cat "$WORK/logs/final-stop.log"))"
    tail -n 40 "$BROKER_LOG" | sed 's/^/    /'
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("final_shutdown")
fi
((FAILED > 0)) && echo "failed: ${FAILED_NAMES[*]}"
echo "integration: $PASSED passed, $FAILED failed"
((FAILED == 0))
