#!/usr/bin/env bash
# tests/container/container_test.sh — the Docker appliance (issue 6), for real:
# builds ./Dockerfile with podman through the container-check tool and runs
# the image with host networking on a free loopback port.
#
#   1. smoke         container-check smoke PORT (build, start, kcat -L, stop)
#   2. health        the image's HEALTHCHECK passes against the broker, and
#                    fails against an address nobody answers on
#   3. settings      SLUICE_* variables reach the broker (DescribeConfigs)
#   4. topic         `sluice topics --create` inside the image (podman exec)
#   5. roundtrip     kcat on the host produces RECORDS records and reads them back
#   6. stop          `podman stop -t 10` under an acks=all sluice-perf load ends
#                    it with status 0 in under 10 s
#   7. volume        a new container on the same host directory (an upgrade)
#                    serves the same records, and logged that no recovery
#                    was needed
#   8. tools         sluice-perf in the image benchmarks the broker briefly
#   9. mounted-file  a server.properties mounted over the image's is used, and
#                    a SLUICE_ variable still wins over it
#  10. bad-config    a bad SLUICE_ value and an unknown SLUICE_ name each stop
#                    the container with a non-zero status and a message
#                    naming the variable
#
# usage: tests/container/container_test.sh
# Environment: CONTAINER_CHECK (default $ROOT/../shared/tools/container-check),
# CT_PORT (first port to try, default 29092), CT_RECORDS (default 2000).
#
# Prints "PASS: name" / "FAIL: name: why" per check and a closing line
# "container: N passed, M failed". When the tool is missing or podman cannot
# be installed it prints "SKIP: container test: reason" and "container:
# skipped" and exits 0. Exit status: 0 all passed (or skipped), 1 otherwise.
# Removes every container it started and its scratch directory (trap EXIT).
# Bounded: each podman/kcat call has a timeout. A run takes 1 to 2 minutes on
# 2 cores (most of it the image build), plus about one minute the first time
# for container-check's debootstrap base image.
# pipefail: no `producer | grep -q` below (grep -q's early exit makes the
# producer die of SIGPIPE, and the pipeline fail); output goes to files first.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CC=${CONTAINER_CHECK:-$ROOT/../shared/tools/container-check}
IMAGE=localhost/sluice:ct
NAME=sluice-ct-$$
RECORDS=${CT_RECORDS:-2000}
TOPIC=ct-roundtrip
APP_UID=10001 # the image's user sluice (Dockerfile)
PASSED=0
FAILED=0
WORK=""
STARTED=$SECONDS

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
skip() {
    echo "SKIP: container test: $*"
    echo "container: skipped"
    exit 0
}
pass() {
    echo "PASS: $1"
    PASSED=$((PASSED + 1))
}
fail() {
    echo "FAIL: $1: $2"
    FAILED=$((FAILED + 1))
    return 1
}

# ------------------------------------------------------------ prerequisites
[ -x "$CC" ] || skip "no container-check tool at $CC (set CONTAINER_CHECK)"
[ "$(uname -m)" = x86_64 ] || skip "the image is built for x86-64 (-msse4.2), this is $(uname -m)"
missing=()
for tool in podman runc debootstrap kcat; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    [ "$(id -u)" -eq 0 ] || skip "${missing[*]} not installed and not root to install them"
    declare -A PKG=([podman]=podman [runc]=runc [debootstrap]=debootstrap [kcat]=kcat)
    pkgs=()
    for tool in "${missing[@]}"; do pkgs+=("${PKG[$tool]}"); done
    log "installing ${pkgs[*]}"
    APT=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if ! timeout 600 "${APT[@]}" update -qq >/dev/null 2>&1 ||
        ! timeout 900 "${APT[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; then
        skip "podman cannot be installed here (apt-get install ${pkgs[*]} failed)"
    fi
fi
podman info >/dev/null 2>&1 || skip "podman is installed but does not work here (podman info fails)"

# ------------------------------------------------------------ helpers
pick_port() {
    local port
    for port in $(seq "${CT_PORT:-29092}" $((${CT_PORT:-29092} + 40))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        echo "$port"
        return 0
    done
    return 1
}
PORT=$(pick_port) || {
    echo "FAIL: setup: no free port"
    exit 1
}
BOOT=127.0.0.1:$PORT
# The options of every broker container: the port, and io_uring allowed (the
# default seccomp profiles of Podman and Docker 25+ block it).
BASE_OPTS="--security-opt seccomp=unconfined -e SLUICE_LISTENERS=PLAINTEXT://127.0.0.1:$PORT"

cleanup() {
    local n
    for n in "$NAME" "$NAME-smoke" "$NAME-load" "$NAME-2" "$NAME-file" "$NAME-bad"; do
        podman rm -f -v "$n" >/dev/null 2>&1 || true
    done
    # the log files belong to the image's uid: root removes them, a rootless
    # user through its user namespace
    if [ -n "$WORK" ]; then
        rm -rf "$WORK" 2>/dev/null || podman unshare rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# container-check with our image and container names, under CT_TIMEOUT (120 s);
# RUN_OPTS passes through.
cc() {
    (cd "$ROOT" && IMAGE=$IMAGE NAME=${CT_NAME:-$NAME} BUILDAH_FORMAT=docker \
        timeout -k 10 "${CT_TIMEOUT:-120}" "$CC" "$@")
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# Waits until container $1 listens on PORT (60 s); fails if it exits first.
wait_listening() {
    local _
    for _ in $(seq 1 120); do
        port_answers && return 0
        [ "$(podman inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || {
            podman logs "$1" 2>&1 | tail -n 20
            return 1
        }
        sleep 0.5
    done
    podman logs "$1" 2>&1 | tail -n 20
    return 1
}

# Waits until nothing listens on PORT (15 s).
wait_port_free() {
    local _
    for _ in $(seq 1 30); do
        port_answers || return 0
        sleep 0.5
    done
    return 1
}

consume_all() { # prints every record of TOPIC, sorted
    timeout 60 kcat -C -b "$BOOT" -t "$TOPIC" -o beginning -e -q -X fetch.wait.max.ms=100 | sort
}

# ------------------------------------------------------------ 1. smoke
log "sluice container test: port $PORT, image $IMAGE, container-check $CC"
log "building the image and running container-check smoke (the first build takes a few minutes)"
# BUILDAH_FORMAT=docker (in cc): podman's default OCI format drops HEALTHCHECK.
# Every container gets a host directory at /var/lib/sluice: an anonymous
# volume would outlive container-check's `podman rm -f`.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-ct.XXXXXX")
# The broker runs as uid 10001 in the image: the host directories must be its.
app_dir() {
    mkdir -p "$1"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$APP_UID:$APP_UID" "$1"
    else
        podman unshare chown "$APP_UID:$APP_UID" "$1"
    fi
}
app_dir "$WORK/smoke-volume"
started_build=$SECONDS
if CT_NAME=$NAME-smoke CT_TIMEOUT=780 RUN_OPTS="$BASE_OPTS -v $WORK/smoke-volume:/var/lib/sluice" \
    cc smoke "$PORT" >"$WORK/smoke.log" 2>&1; then
    tail -n 1 "$WORK/smoke.log"
    pass "smoke ($((SECONDS - started_build)) s with the image build)"
else
    tail -n 40 "$WORK/smoke.log"
    fail smoke "container-check smoke $PORT failed (output above)"
    echo "container: $PASSED passed, $FAILED failed"
    exit 1
fi
size=$(podman image inspect -f '{{.Size}}' "$IMAGE" 2>/dev/null || echo 0)
log "image $IMAGE: $((size / 1000000)) MB"
wait_port_free || fail smoke "port $PORT still answers after the smoke container stopped"

# ------------------------------------------------------------ 2..9 on a volume
app_dir "$WORK/volume"
VOL_OPTS="$BASE_OPTS -v $WORK/volume:/var/lib/sluice -e SLUICE_NUM_PARTITIONS=3 -e SLUICE_LOG_SEGMENT_BYTES=1048576 -e SLUICE_LOG_RETENTION_HOURS=24"

log "starting $NAME with the volume $WORK/volume"
if ! RUN_OPTS=$VOL_OPTS cc run >/dev/null 2>"$WORK/run.err" || ! wait_listening "$NAME"; then
    cat "$WORK/run.err"
    fail volume-start "the container did not listen on $PORT"
    echo "container: $PASSED passed, $FAILED failed"
    exit 1
fi

# 2. health: the image's own HEALTHCHECK, run now rather than on its timer.
# Another address in the same container must make it fail (negative space).
ok=0
for _ in $(seq 1 20); do
    timeout 30 podman healthcheck run "$NAME" >/dev/null 2>&1 && ok=1 && break
    sleep 1
done
if ((ok)) && [ "$(podman inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null)" = healthy ]; then
    if timeout 30 podman exec -e SLUICE_HEALTHCHECK_BOOTSTRAP=127.0.0.1:1 "$NAME" \
        sluice-healthcheck >/dev/null 2>&1; then
        fail health "the health check passed against 127.0.0.1:1, where nothing listens"
    else
        pass health
    fi
else
    fail health "podman healthcheck run did not report healthy within 20 s"
fi

# 3. settings: the environment reached the broker (DescribeConfigs reports
# them as set); the entrypoint advertised the listener's address.
describe=$(timeout 60 podman exec "$NAME" sluice configs --describe --broker 1 --all \
    --bootstrap-server "$BOOT" 2>&1)
if grep -q '^ *num.partitions=3 ' <<<"$describe" &&
    grep -q '^ *log.retention.hours=24 ' <<<"$describe" &&
    grep -q '^ *log.segment.bytes=1048576 ' <<<"$describe" &&
    grep -q "^ *advertised.listeners=PLAINTEXT://127.0.0.1:$PORT " <<<"$describe"; then
    pass settings
else
    echo "$describe" | head -n 40
    fail settings "SLUICE_NUM_PARTITIONS/LOG_RETENTION_HOURS/LOG_SEGMENT_BYTES not reported by DescribeConfigs"
fi

# 4. topic: created with the CLI inside the image; the default partition
# count comes from SLUICE_NUM_PARTITIONS.
if timeout 60 podman exec "$NAME" sluice topics --create --topic "$TOPIC" \
    --bootstrap-server "$BOOT" &&
    timeout 60 podman exec "$NAME" sluice topics --describe --topic "$TOPIC" \
        --bootstrap-server "$BOOT" >"$WORK/describe.out" &&
    grep -q 'PartitionCount: *3' "$WORK/describe.out"; then
    pass topic
else
    cat "$WORK/describe.out" 2>/dev/null
    fail topic "sluice topics --create/--describe inside the container"
fi

# 5. roundtrip: kcat on the host, acks=all, keys spread over the partitions.
seq 1 "$RECORDS" | sed 's/.*/k&:record-&/' >"$WORK/expected.raw"
sed 's/^k[0-9]*://' "$WORK/expected.raw" | sort >"$WORK/expected"
if timeout 120 kcat -P -b "$BOOT" -t "$TOPIC" -K: -X acks=all <"$WORK/expected.raw" &&
    consume_all >"$WORK/got1" && cmp -s "$WORK/expected" "$WORK/got1"; then
    pass roundtrip
else
    fail roundtrip "read back $(wc -l <"$WORK/got1" 2>/dev/null || echo 0) of $RECORDS records, or different ones"
fi

# 6. stop: SIGTERM (the image's STOPSIGNAL) within podman stop's 10 s, while
# a sluice-perf from the image produces with acks=all to another topic: the
# shutdown has connections to drain and writes to finish.
timeout 60 podman run -d --name "$NAME-load" --runtime runc --cgroup-manager=cgroupfs \
    --network=host --ulimit nofile=10000:10000 --ulimit nproc=4000:4000 "$IMAGE" \
    sluice-perf produce --bootstrap-server "$BOOT" --topic ct-load --partitions 3 --acks all \
    --duration 60 >/dev/null 2>&1
sleep 3
load_running=$(podman inspect -f '{{.State.Running}}' "$NAME-load" 2>/dev/null)
t0=$(date +%s%N)
timeout 60 podman stop -t 10 "$NAME" >/dev/null 2>&1
stop_ms=$((($(date +%s%N) - t0) / 1000000))
podman rm -f -v "$NAME-load" >/dev/null 2>&1
status=$(podman inspect -f '{{.State.ExitCode}}' "$NAME" 2>/dev/null)
if [ "$status" = 0 ] && ((stop_ms < 9000)) && [ "$load_running" = true ] &&
    podman logs "$NAME" >"$WORK/stop.log" 2>&1 && grep -q 'sluiced stopped cleanly' "$WORK/stop.log"; then
    pass "stop (under acks=all load: ${stop_ms} ms, exit 0, stopped cleanly)"
else
    podman logs "$NAME" 2>&1 | tail -n 10
    fail stop "podman stop took ${stop_ms} ms, exit status $status, load generator running: $load_running"
fi
wait_port_free || fail stop "port $PORT still answers after the stop"

# 7. volume: a new container on the same directory (what an upgrade does)
# finds the clean-shutdown marker and every record.
podman rm -f -v "$NAME" >/dev/null 2>&1
if CT_NAME=$NAME-2 RUN_OPTS=$VOL_OPTS cc run >/dev/null 2>"$WORK/run.err" && wait_listening "$NAME-2" &&
    consume_all >"$WORK/got2" && cmp -s "$WORK/expected" "$WORK/got2"; then
    podman logs "$NAME-2" >"$WORK/restart.log" 2>&1
    if grep -q 'log dir /var/lib/sluice/data: clean shutdown, no recovery needed' "$WORK/restart.log" &&
        ! grep -q 'will be recovered' "$WORK/restart.log"; then
        pass "volume (a new container read all $RECORDS records; no recovery needed)"
    else
        podman logs "$NAME-2" 2>&1 | head -n 20
        fail volume "the second start did not log 'clean shutdown, no recovery needed'"
    fi
else
    cat "$WORK/run.err"
    podman logs "$NAME-2" 2>&1 | tail -n 20
    fail volume "read back $(wc -l <"$WORK/got2" 2>/dev/null || echo 0) of $RECORDS records after the restart"
fi

# 8. tools: sluice-perf from the image against the running broker (host
# network), a few seconds; its report counts the records it produced.
if timeout 120 podman run --rm --runtime runc --cgroup-manager=cgroupfs --network=host \
    --ulimit nofile=10000:10000 --ulimit nproc=4000:4000 "$IMAGE" \
    sluice-perf produce --bootstrap-server "$BOOT" --topic ct-perf --partitions 3 \
    --duration 3 --record-size 100 >"$WORK/perf.out" 2>&1; then
    pass "tools (sluice-perf $(grep -E '^produce: ' "$WORK/perf.out" | tail -n 1 | tr -s ' ' | cut -c 1-100))"
else
    tail -n 20 "$WORK/perf.out"
    fail tools "sluice-perf produce in the image failed"
fi
timeout 60 podman stop -t 10 "$NAME-2" >/dev/null 2>&1
podman rm -f -v "$NAME-2" >/dev/null 2>&1
wait_port_free || true

# 9. mounted-file: a server.properties of one's own over the image's, with a
# SLUICE_ variable on top of it (the environment wins over the file).
cat >"$WORK/server.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT
log.dirs=/var/lib/sluice/other
num.partitions=5
log.retention.hours=1
EOF
chmod 0644 "$WORK/server.properties"
app_dir "$WORK/file-volume"
FILE_OPTS="--security-opt seccomp=unconfined -v $WORK/file-volume:/var/lib/sluice -v $WORK/server.properties:/etc/sluice/server.properties:ro -e SLUICE_LOG_RETENTION_HOURS=12"
if CT_NAME=$NAME-file RUN_OPTS=$FILE_OPTS cc run >/dev/null 2>"$WORK/run.err" &&
    wait_listening "$NAME-file"; then
    describe=$(timeout 60 podman exec "$NAME-file" sluice configs --describe --broker 1 --all \
        --bootstrap-server "$BOOT" 2>&1)
    if grep -q '^ *num.partitions=5 ' <<<"$describe" &&
        grep -q '^ *log.retention.hours=12 ' <<<"$describe" &&
        grep -q '^ *log.dirs=/var/lib/sluice/other ' <<<"$describe"; then
        pass mounted-file
    else
        echo "$describe" | head -n 40
        fail mounted-file "the mounted file's settings (or the variable over it) are not in DescribeConfigs"
    fi
else
    cat "$WORK/run.err"
    podman logs "$NAME-file" 2>&1 | tail -n 20
    fail mounted-file "the container with a mounted server.properties did not listen on $PORT"
fi
timeout 60 podman stop -t 10 "$NAME-file" >/dev/null 2>&1
podman rm -f -v "$NAME-file" >/dev/null 2>&1
wait_port_free || true

# 10. bad-config: start-up refuses, names the variable, exits non-zero.
bad_config() { # VAR=VALUE EXPECTED-TEXT
    local out status
    out=$(timeout 60 podman run --rm --name "$NAME-bad" --runtime runc --cgroup-manager=cgroupfs \
        --network=host --ulimit nofile=10000:10000 --ulimit nproc=4000:4000 \
        --security-opt seccomp=unconfined -e "$1" "$IMAGE" 2>&1)
    status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q "${1%%=*}" <<<"$out" &&
        grep -q "$2" <<<"$out"; then
        return 0
    fi
    echo "$out" | tail -n 5
    fail bad-config "$1: exit status $status, expected non-zero with '${1%%=*}' and '$2'"
}
if bad_config SLUICE_NUM_PARTITIONS=zero "is not an integer" &&
    bad_config SLUICE_LOG_RETENTION_HOUR=24 "no setting named 'log.retention.hour'"; then
    pass bad-config
fi

echo "container: $PASSED passed, $FAILED failed ($((SECONDS - STARTED)) s)"
((FAILED == 0))
