#!/usr/bin/env bash
# perf/limits.sh — the limits of this machine, measured with stock tools, so the
# broker's benchmark figures in the same run can be given as ratios of them
# (docs/BENCHMARKS.md, "The limits of the machine"; issue 5).
#
#   bash perf/limits.sh [--out FILE.json] [--dir DIR] [--quick] [--repeat N]
#
# Figures (all from the tools' own JSON output):
#   loopback_tcp_1m_Bps   iperf3 over 127.0.0.1, one stream, 1 MiB writes, 5 s:
#                         bytes/s received (end.sum_received)
#   loopback_tcp_16k_Bps  the same with 16 KiB writes
#   seq_write_fsync_Bps   fio sequential buffered write, 1 MiB blocks, 2 GiB,
#                         io_uring, one fsync at the end; fio's bandwidth counts
#                         the final fsync (fio 3.33), so this is bytes made durable/s
#   fdatasync_p50_ns, _p99_ns, _p99_9_ns
#                         fio 16 KiB sequential writes with fdatasync after each
#                         (64 MiB): percentiles of the fdatasync call alone
#                         (fio 3.33 JSON: jobs[0].sync.lat_ns.percentile; the
#                         write(2) latency is in jobs[0].write and not included)
#   machine               CPU model, online cores, kernel, DIR's filesystem and
#                         device, MemTotal/MemFree/MemAvailable, tool versions
#
# How they are used: the broker's figures are reported as fractions of these —
# durable produce MB/s over seq_write_fsync_Bps, fetch MB/s over
# loopback_tcp_1m_Bps (or _16k_ for small fetches), acks=all latency over the
# fdatasync percentiles of the same rank.
#
# Limits: the machines are shared and noisy. One run is one sample; with
# --repeat N each figure is the median of N runs (the per-run values are kept in
# the JSON under "runs"). Measure in the same session as the broker figures,
# never compare across machines. Loopback TCP is memory bandwidth plus the
# kernel's TCP path, not a NIC. The write figures depend on DIR's filesystem
# (printed; tmpfs makes fsync free and the figures meaningless) and on the
# page cache: 2 GiB fits in RAM on most machines, so the fio figure is "fill the
# cache, then flush it", which is what a broker's buffered log write does.
# CRC-32C, memcpy and sendfile/splice rows of BENCHMARKS.md need C and are not
# measured here.
#
# Time: about 20 s per repeat (--quick: about 6 s: 2 s iperf3 runs, 256 MiB and
# 16 MiB fio files); every tool runs under `timeout`, and fio is capped with
# --runtime, so a slow disk shortens the run rather than lengthening it.
# Cleans up its files and its iperf3 server (by PID) on any exit; on SIGINT or
# SIGTERM that happens once the tool running at that moment returns.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
OUT='' DIR='' QUICK=0 REPEAT=1
while (($#)); do
    case $1 in
    --out) OUT=${2:?--out needs a file}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a directory}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --repeat) REPEAT=${2:?--repeat needs N}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "limits: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "limits: --repeat wants a positive integer" >&2; exit 2; }

missing=()
for tool in iperf3 fio python3 timeout findmnt; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    echo "limits: missing ${missing[*]}; \`bash .ci/setup\` installs iperf3 and fio (Debian packages)" >&2
    exit 1
fi

if ((QUICK)); then
    TCP_SECS=2 SEQ_SIZE=256M SEQ_RUNTIME=8 SYNC_SIZE=16M SYNC_RUNTIME=5
else
    TCP_SECS=5 SEQ_SIZE=2G SEQ_RUNTIME=30 SYNC_SIZE=64M SYNC_RUNTIME=15
fi

# The scratch directory: DIR if given, else the repo's (git-ignored) data/ if it
# exists, else /tmp. Always a fresh subdirectory, removed on exit.
if [ -n "$DIR" ]; then
    [ -d "$DIR" ] || { echo "limits: --dir $DIR is not a directory" >&2; exit 2; }
    BASE=$DIR
elif [ -d "$ROOT/data" ]; then
    BASE=$ROOT/data
else
    BASE=${TMPDIR:-/tmp}
fi
WORK=$(mktemp -d "$BASE/sluice-limits.XXXXXX")
IPERF_PID=
cleanup() {
    if [ -n "$IPERF_PID" ]; then kill "$IPERF_PID" 2>/dev/null || true; wait "$IPERF_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FSTYPE=$(findmnt -n -o FSTYPE --target "$WORK")
case $FSTYPE in tmpfs | ramfs) echo "limits: warning: $WORK is on $FSTYPE; fsync figures mean nothing there (use --dir)" >&2 ;; esac

fail() { echo "limits: $1 failed; its output:" >&2; cat "$2" >&2; exit 1; }

# iperf3 server on a free loopback port, kept for all tests and killed by PID.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
iperf3 -s -B 127.0.0.1 -p "$PORT" --forceflush >"$WORK/iperf3-server.log" 2>&1 &
IPERF_PID=$!
TESTS=0
# The server prints "Server listening" once per test it is ready for; wait for it
# so a client never finds it busy with the previous test.
wait_server() {
    for _ in $(seq 100); do
        (($(grep -c 'Server listening' "$WORK/iperf3-server.log" || true) > TESTS)) && return 0
        kill -0 "$IPERF_PID" 2>/dev/null || fail "iperf3 server" "$WORK/iperf3-server.log"
        sleep 0.1
    done
    fail "iperf3 server (not listening after 10 s)" "$WORK/iperf3-server.log"
}

q() { printf '%q ' "$@"; }
: >"$WORK/commands.tsv"
record() { printf '%s\t%s\n' "$1" "${*:2}" >>"$WORK/commands.tsv"; }

run_tcp() { # NAME LEN OUTFILE
    local cmd=(iperf3 -c 127.0.0.1 -p "$PORT" -l "$2" -t "$TCP_SECS" --json)
    wait_server
    [ "$r" -eq 1 ] && record "$1" "$(q "${cmd[@]}")"
    timeout $((TCP_SECS + 20)) "${cmd[@]}" >"$3" 2>&1 || fail "$(q "${cmd[@]}")" "$3"
    TESTS=$((TESTS + 1))
}
run_fio() { # NAME OUTFILE fio-args...
    local name=$1 out=$2; shift 2
    local cmd=(fio --name="$name" --directory="$WORK" --unlink=1 --output-format=json "$@")
    [ "$r" -eq 1 ] && record "$name" "$(q "${cmd[@]}")"
    timeout 90 "${cmd[@]}" >"$out" 2>"$out.err" || { cat "$out" >>"$out.err"; fail "$(q "${cmd[@]}")" "$out.err"; }
}

for r in $(seq "$REPEAT"); do
    ((REPEAT > 1)) && echo "limits: run $r of $REPEAT" >&2
    run_tcp loopback_tcp_1m 1M "$WORK/run$r-tcp1m.json"
    run_tcp loopback_tcp_16k 16K "$WORK/run$r-tcp16k.json"
    run_fio seq_write_fsync "$WORK/run$r-seq.json" --rw=write --bs=1M --size="$SEQ_SIZE" \
        --ioengine=io_uring --end_fsync=1 --runtime="$SEQ_RUNTIME"
    run_fio fdatasync "$WORK/run$r-sync.json" --rw=write --bs=16k --fdatasync=1 \
        --size="$SYNC_SIZE" --runtime="$SYNC_RUNTIME"
done

python3 - "$WORK" "$REPEAT" "$QUICK" "$OUT" "$FSTYPE" <<'PY'
import json, os, platform, statistics, subprocess, sys, time

work, repeat, quick, out, fstype = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]

def load(path):
    with open(path) as f:
        text = f.read()
    return json.loads(text[text.index("{"):])  # fio may print notes before the JSON

def tcp(path):
    s = load(path)["end"]["sum_received"]
    return s["bytes"] / s["seconds"]

def fio_job(path):
    return load(path)["jobs"][0]

runs = []
for r in range(1, repeat + 1):
    p = lambda name: os.path.join(work, "run%d-%s.json" % (r, name))
    seq = fio_job(p("seq"))["write"]
    sync = fio_job(p("sync"))["sync"]["lat_ns"]
    pct = sync["percentile"]
    runs.append({
        "loopback_tcp_1m_Bps": tcp(p("tcp1m")),
        "loopback_tcp_16k_Bps": tcp(p("tcp16k")),
        "seq_write_fsync_Bps": seq["bw_bytes"],
        "seq_write_fsync_bytes": seq["io_bytes"],
        "fdatasync_p50_ns": pct["50.000000"],
        "fdatasync_p99_ns": pct["99.000000"],
        "fdatasync_p99_9_ns": pct["99.900000"],
        "fdatasync_mean_ns": sync["mean"],
        "fdatasync_count": sync["N"],
    })
limits = {k: statistics.median(run[k] for run in runs) for k in runs[0]}

def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()

def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("MemTotal", "MemFree", "MemAvailable"):
                m[k] = int(v.split()[0]) * 1024
    return m

def first_line(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return None

mem = meminfo()
src = first_line("findmnt", "-n", "-o", "SOURCE,TARGET", "--target", work) or ""
machine = {
    "cpu_model": cpu_model(),
    "cores_online": os.cpu_count(),
    "cores_usable": len(os.sched_getaffinity(0)),
    "kernel": platform.release(),
    "dir": os.path.dirname(work),
    "dir_fstype": fstype,
    "dir_device": src.split()[0] if src else None,
    "dir_mount": src.split()[1] if len(src.split()) > 1 else None,
    "mem_total_bytes": mem.get("MemTotal"),
    "mem_free_bytes": mem.get("MemFree"),
    "mem_available_bytes": mem.get("MemAvailable"),
    "fio_version": first_line("fio", "--version"),
    "iperf3_version": first_line("iperf3", "--version"),
    "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}
commands = {}
with open(os.path.join(work, "commands.tsv")) as f:
    for line in f:
        name, cmd = line.rstrip("\n").split("\t", 1)
        commands[name] = cmd.strip()
doc = {"machine": machine, "limits": limits, "commands": commands,
       "settings": {"quick": quick, "repeat": repeat, "statistic": "median" if repeat > 1 else "single run"},
       "runs": runs}

gb = lambda b: "%.2f GB/s" % (b / 1e9)
us = lambda ns: "%.0f µs" % (ns / 1e3)
print("machine: %s, %d cores (%d usable), Linux %s, %.1f GiB RAM (%.1f GiB available)"
      % (machine["cpu_model"], machine["cores_online"], machine["cores_usable"], machine["kernel"],
         mem["MemTotal"] / 2**30, mem["MemAvailable"] / 2**30))
print("scratch: %s (%s on %s)" % (machine["dir"], fstype, machine["dir_device"]))
print("%s%s" % ("quick run" if quick else "full run", ", median of %d runs" % repeat if repeat > 1 else ", one run"))
print()
rows = [
    ("loopback TCP, 1 MiB writes", gb(limits["loopback_tcp_1m_Bps"])),
    ("loopback TCP, 16 KiB writes", gb(limits["loopback_tcp_16k_Bps"])),
    ("seq buffered write + fsync (%.0f MiB)" % (limits["seq_write_fsync_bytes"] / 2**20),
     "%.0f MB/s" % (limits["seq_write_fsync_Bps"] / 1e6)),
    ("fdatasync after 16 KiB write, p50", us(limits["fdatasync_p50_ns"])),
    ("fdatasync after 16 KiB write, p99", us(limits["fdatasync_p99_ns"])),
    ("fdatasync after 16 KiB write, p99.9", us(limits["fdatasync_p99_9_ns"])),
]
w = max(len(r[0]) for r in rows)
print("%-*s  %s" % (w, "limit", "value"))
print("%s  %s" % ("-" * w, "-" * 12))
for name, value in rows:
    print("%-*s  %12s" % (w, name, value))
if repeat > 1:
    print()
    for k in ("loopback_tcp_1m_Bps", "loopback_tcp_16k_Bps", "seq_write_fsync_Bps", "fdatasync_p50_ns", "fdatasync_p99_ns"):
        vals = [run[k] for run in runs]
        print("%-22s runs: min %.4g  max %.4g  (spread %.0f%% of median)"
              % (k, min(vals), max(vals), 100 * (max(vals) - min(vals)) / limits[k] if limits[k] else 0))
if out:
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("\nwrote " + out)
PY
