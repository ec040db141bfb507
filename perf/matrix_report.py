#!/usr/bin/env python3
"""perf/matrix_report.py DIR — turns a perf/matrix.sh run into its results.

Reads DIR/limits.json (perf/limits.sh) and DIR/rows/<row>.<engine>.json
(sluice-perf --json) and writes:
  DIR/results.json  {"machine", "limits", "rows": [{row, engine, figures...,
                    ratios, goal, met}]} — figures straight from the row files
  DIR/table.md      the README table: one line per row and engine, figures and
                    their ratio to the limit named in the goal
  DIR/chart.dat, DIR/chart.gp, DIR/chart.png (when gnuplot is installed):
                    left, throughput of each row as a fraction of its limit;
                    right, ack / e2e latency percentiles (log scale)
Standard library only. Exit status 0, or 1 when a file is missing or malformed.
"""

import json
import os
import shutil
import subprocess
import sys

ROWS = [  # name, what it is, goal text
    ("produce-100B-acks1", "produce 100 B, acks=1, 8 partitions", "≥ 2,000,000 msg/s (native)"),
    ("produce-1K-acks1", "produce 1 KiB, acks=1, 8 partitions", "≥ 40% of loopback"),
    ("produce-1K-acksall", "produce 1 KiB, acks=all, 8 partitions",
     "≥ 80% of write+fsync, p99 ≤ 3× fdatasync p99"),
    ("produce-1K-acksall-100k", "produce 1 KiB, acks=all, at 100k msg/s, linger 1 ms",
     "p99 ≤ 3× fdatasync p99"),
    ("consume-1K", "consume 1 KiB from page cache", "≥ 60% of loopback"),
    ("e2e-1K-100k", "end-to-end 1 KiB at 100k msg/s, acks=1, linger 0", "e2e p99 ≤ 1 ms"),
]
CPU_GOAL = 0.5  # CPU-seconds per GB produced + consumed


def load(path):
    with open(path) as f:
        return json.load(f)


def figures(row, doc, limits):
    """The row's figures, ratios and whether its goal was met (None: unknown)."""
    out = {"interrupted": doc.get("interrupted")}
    side = doc.get("consume") if row == "consume-1K" else doc.get("produce")
    if side:
        out["msg_per_s"] = side["msg_per_s"]
        out["mb_per_s"] = side["mb_per_s"]
    lat_key = "e2e_latency" if row.startswith("e2e") else "ack_latency"
    lat = doc.get(lat_key)
    if lat:
        out["latency"] = {k: lat[k] for k in ("p50_ms", "p99_ms", "p99.9_ms", "p99.99_ms", "max_ms")
                          if k in lat}
        out["latency_kind"] = lat_key
    cpu = doc.get("broker_cpu") or {}
    out["cpu_s_per_gb"] = cpu.get("cpu_s_per_gb")
    loop = limits.get("loopback_tcp_1m_Bps")
    wfs = limits.get("seq_write_fsync_Bps")
    fds99 = limits.get("fdatasync_p99_ns")
    bps = out.get("mb_per_s", 0) * 1e6
    ratios, met = {}, None
    if row == "produce-100B-acks1":
        met = out.get("msg_per_s", 0) >= 2_000_000
    elif row in ("produce-1K-acks1", "consume-1K") and loop:
        ratios["of_loopback"] = bps / loop
        met = ratios["of_loopback"] >= (0.40 if row.startswith("produce") else 0.60)
    elif row == "produce-1K-acksall-100k" and fds99:
        p99 = out.get("latency", {}).get("p99_ms")
        if p99 is not None:
            ratios["p99_over_fdatasync_p99"] = p99 * 1e6 / fds99
            met = ratios["p99_over_fdatasync_p99"] <= 3
    elif row == "produce-1K-acksall" and wfs and fds99:
        ratios["of_write_fsync"] = bps / wfs
        p99 = out.get("latency", {}).get("p99_ms")
        if p99 is not None:
            ratios["p99_over_fdatasync_p99"] = p99 * 1e6 / fds99
            met = ratios["of_write_fsync"] >= 0.80 and ratios["p99_over_fdatasync_p99"] <= 3
    elif row == "e2e-1K-100k":
        p99 = out.get("latency", {}).get("p99_ms")
        met = p99 is not None and p99 <= 1.0
    out["ratios"] = ratios
    out["met"] = met
    out["cpu_met"] = None if out["cpu_s_per_gb"] is None else out["cpu_s_per_gb"] <= CPU_GOAL
    return out


def fmt_lat(f):
    lat = f.get("latency")
    if not lat:
        return "—"
    return "p50 %.2f / p99 %.2f / p99.9 %.2f ms" % (lat["p50_ms"], lat["p99_ms"], lat["p99.9_ms"])


def fmt_ratio(f):
    r = f["ratios"]
    parts = []
    if "of_loopback" in r:
        parts.append("%.0f%% of loopback" % (100 * r["of_loopback"]))
    if "of_write_fsync" in r:
        parts.append("%.0f%% of write+fsync" % (100 * r["of_write_fsync"]))
    if "p99_over_fdatasync_p99" in r:
        parts.append("p99 = %.1f× fdatasync p99" % r["p99_over_fdatasync_p99"])
    return ", ".join(parts) or "—"


def yes_no(v):
    return "?" if v is None else ("yes" if v else "**no**")


def main():
    if len(sys.argv) != 2:
        print("usage: matrix_report.py DIR", file=sys.stderr)
        return 2
    d = sys.argv[1]
    try:
        lim_doc = load(os.path.join(d, "limits.json"))
    except (OSError, ValueError) as e:
        print("matrix_report: limits.json: %s" % e, file=sys.stderr)
        lim_doc = {"limits": {}, "machine": {}}
    limits = lim_doc.get("limits", {})
    rows, status = [], 0
    engines = sorted({f.rsplit(".", 2)[1] for f in os.listdir(os.path.join(d, "rows"))
                      if f.endswith(".json")}, key=lambda e: (e != "native", e))
    for name, what, goal in ROWS:
        for engine in engines:
            path = os.path.join(d, "rows", "%s.%s.json" % (name, engine))
            try:
                doc = load(path)
            except (OSError, ValueError) as e:
                print("matrix_report: %s: %s" % (path, e), file=sys.stderr)
                status = 1
                continue
            f = figures(name, doc, limits)
            f.update({"row": name, "engine": engine, "what": what, "goal": goal})
            rows.append(f)
    with open(os.path.join(d, "results.json"), "w") as out:
        json.dump({"machine": lim_doc.get("machine"), "limits": limits, "rows": rows}, out,
                  indent=2)

    lines = []
    m = lim_doc.get("machine", {})
    if limits:
        lines.append("Limits measured in the same run (%s, %s cores, kernel %s, log dir on %s): "
                     "loopback TCP %.2f GB/s (1 MiB writes), write+fsync %.0f MB/s, "
                     "fdatasync p50 %.0f µs / p99 %.0f µs." % (
                         m.get("cpu_model", "?"), m.get("cores_online", "?"), m.get("kernel", "?"),
                         m.get("dir_fstype", "?"), limits.get("loopback_tcp_1m_Bps", 0) / 1e9,
                         limits.get("seq_write_fsync_Bps", 0) / 1e6,
                         limits.get("fdatasync_p50_ns", 0) / 1e3,
                         limits.get("fdatasync_p99_ns", 0) / 1e3))
        lines.append("")
    lines.append("| workload | engine | msg/s | MB/s | ratio to the limit | latency | "
                 "broker CPU-s/GB | goal | met |")
    lines.append("|---|---|---:|---:|---|---|---:|---|---|")
    for f in rows:
        cpu = f["cpu_s_per_gb"]
        lines.append("| %s | %s | %s | %s | %s | %s%s | %s | %s | %s |" % (
            f["what"], f["engine"],
            "{:,.0f}".format(f["msg_per_s"]) if "msg_per_s" in f else "—",
            "%.0f" % f["mb_per_s"] if "mb_per_s" in f else "—",
            fmt_ratio(f),
            "e2e " if f.get("latency_kind") == "e2e_latency" else ("ack " if f.get("latency") else ""),
            fmt_lat(f),
            "%.2f" % cpu if cpu is not None else "—",
            f["goal"], yes_no(f["met"])))
    lines.append("")
    lines.append("Broker CPU goal: ≤ %.1f CPU-s per GB produced + consumed." % CPU_GOAL)
    with open(os.path.join(d, "table.md"), "w") as out:
        out.write("\n".join(lines) + "\n")

    # Chart data: one line per row/engine.
    with open(os.path.join(d, "chart.dat"), "w") as out:
        out.write("# label fraction_of_limit p50 p99 p99.9 p99.99\n")
        for f in rows:
            r = f["ratios"]
            frac = r.get("of_loopback", r.get("of_write_fsync"))
            if frac is None and f["row"] == "produce-100B-acks1" and "msg_per_s" in f:
                frac = f["msg_per_s"] / 2_000_000  # of the goal: no hardware limit for msg/s
            lat = f.get("latency") or {}
            out.write('"%s\\n%s" %s %s %s %s %s\n' % (
                f["row"], f["engine"], "%.4f" % frac if frac is not None else "NaN",
                *("%.4f" % lat[k] if k in lat else "NaN"
                  for k in ("p50_ms", "p99_ms", "p99.9_ms", "p99.99_ms"))))
    gp = os.path.join(d, "chart.gp")
    with open(gp, "w") as out:
        out.write("""set terminal pngcairo size 1400,560 font ",10"
set output "%(png)s"
set multiplot layout 1,2 title "sluice-perf standard matrix (this machine)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -35 scale 0 font ",8"
set grid ytics
set title "throughput as a fraction of the machine's limit\\n(100 B row: of the 2M msg/s goal)"
set yrange [0:*]
plot "%(dat)s" using 2:xtic(1) title "fraction" lc rgb "#3b6ea5"
set title "latency percentiles (ms, log scale): ack, or e2e for the e2e row"
set logscale y
set yrange [*:*]
plot "%(dat)s" using 3:xtic(1) title "p50", "" using 4 title "p99", "" using 5 title "p99.9", \\
     "" using 6 title "p99.99"
unset multiplot
""" % {"png": os.path.join(d, "chart.png"), "dat": os.path.join(d, "chart.dat")})
    if shutil.which("gnuplot"):
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if r.returncode != 0:
            print("matrix_report: gnuplot failed: %s" % r.stderr.strip(), file=sys.stderr)
            status = 1
    else:
        print("matrix_report: gnuplot is not installed; chart.png skipped", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
