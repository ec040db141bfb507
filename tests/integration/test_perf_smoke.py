"""sluice-perf against a real sluiced, both engines: what it reports is what the
broker holds.

Short runs (the debug broker under ASan is slow; figures are not checked, only
that the counts add up): each engine produces a known count with acks=all, the
topic's end offsets are read back with kcat, the other engine's consumer reads
them all, the native consumer reads them all on several threads too, and a
short e2e run at a fixed rate loses nothing (native also on two threads).
--json output is parsed, --broker-pid gives a CPU figure, a bad option is a
usage error (2), and the native engine refuses what it does not do with a
message.

Environment (set by run.sh): SLUICE_BOOTSTRAP, SLUICE_IT_PERF, SLUICE_IT_BROKER_PID (SLUICE_IT_*: never
broker settings, see core/sl_config_env.c).
"""

import json
import os
import re
import subprocess
import tempfile

BOOT = os.environ["SLUICE_BOOTSTRAP"]
PERF = os.environ["SLUICE_IT_PERF"]
PID = os.environ.get("SLUICE_IT_BROKER_PID", "")
COUNT = 20000


def perf(*args, expect=0):
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        cmd = [PERF] + list(args) + ["--bootstrap-server", BOOT, "--json", j.name]
        if PID:
            cmd += ["--broker-pid", PID]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        print("$ %s -> %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr[-3000:]))
        assert r.returncode == expect, r.stderr[-2000:]
        return json.load(open(j.name)) if expect == 0 else None


def total_end_offset(topic, partitions):
    args = []
    for p in range(partitions):
        args += ["-t", "%s:%d:-1" % (topic, p)]
    r = subprocess.run(["kcat", "-b", BOOT, "-Q"] + args, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    offs = [int(m) for m in re.findall(r"\[\d+\] offset (\d+)", r.stdout)]
    assert len(offs) == partitions, r.stdout
    return sum(offs)


def test_native_produce_then_rdkafka_consume():
    rep = perf("produce", "--engine", "native", "--topic", "it-perf-native", "--partitions", "4",
               "--record-size", "200", "--acks", "all", "--count", str(COUNT))
    assert rep["engine"] == "native"
    assert rep["produce"]["acked"] == COUNT and rep["produce"]["delivery_errors"] == 0
    assert rep["ack_latency"]["samples"] == COUNT
    if PID:
        assert rep["broker_cpu"]["cpu_s"] >= 0
    assert total_end_offset("it-perf-native", 4) == COUNT
    rep = perf("consume", "--engine", "rdkafka", "--topic", "it-perf-native", "--count",
               str(COUNT))
    assert rep["consume"]["received"] == COUNT and rep["consume"]["errors"] == 0


def test_rdkafka_produce_then_native_consume():
    rep = perf("produce", "--engine", "rdkafka", "--topic", "it-perf-rdk", "--partitions", "3",
               "--record-size", "100", "--keys", "seq", "--count", str(COUNT))
    assert rep["produce"]["acked"] == COUNT
    assert total_end_offset("it-perf-rdk", 3) == COUNT
    rep = perf("consume", "--engine", "native", "--topic", "it-perf-rdk", "--count", str(COUNT))
    # The last fetch may bring a little more than asked; never less.
    assert rep["consume"]["received"] >= COUNT and rep["consume"]["errors"] == 0


def test_native_consume_on_threads():
    # 5 partitions: 2 threads read 3 + 2 of them, 3 threads 2 + 2 + 1; 8
    # threads start only 5. The topic holds exactly COUNT records, so a
    # --count run reads exactly those, every byte counted once.
    topic = "it-perf-threads"
    rep = perf("produce", "--engine", "native", "--topic", topic, "--partitions", "5",
               "--record-size", "300", "--acks", "all", "--count", str(COUNT), "--threads", "2")
    assert rep["produce"]["acked"] == COUNT
    assert total_end_offset(topic, 5) == COUNT
    for threads, conns in (("2", "1"), ("3", "2"), ("8", "1")):
        rep = perf("consume", "--engine", "native", "--topic", topic, "--count", str(COUNT),
                   "--threads", threads, "--connections", conns)
        c = rep["consume"]
        assert c["received"] == COUNT and c["errors"] == 0
        assert c["measured_records"] == COUNT and c["measured_bytes"] == COUNT * 300
    # Duration mode: every thread reads its partitions to the end, then
    # long-polls until the duration is over.
    rep = perf("consume", "--engine", "native", "--topic", topic, "--duration", "5",
               "--threads", "2")
    assert rep["consume"]["received"] == COUNT and rep["consume"]["errors"] == 0


def test_e2e_at_a_fixed_rate_loses_nothing():
    runs = (("native", []), ("native", ["--threads", "2"]), ("rdkafka", []))
    for engine, extra in runs:
        topic = "it-perf-e2e-" + engine + ("-threads" if extra else "")
        rep = perf("e2e", "--engine", engine, "--topic", topic, "--partitions", "2",
                   "--rate", "2000", "--duration", "2", *extra)
        sent = rep["produce"]["acked"]
        assert sent > 1000, "about 4000 records at 2000/s for 2 s"
        assert rep["consume"]["received"] == sent
        assert rep["e2e_latency"]["samples"] > 0


def test_usage_errors():
    perf("produce", "--topic", "x", "--acks", "7", expect=2)
    perf("produce", "--engine", "native", "--topic", "x", "--compression", "lz4", expect=2)
    perf("bogus-mode", expect=2)
