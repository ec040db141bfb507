#!/usr/bin/env python3
"""Consumer group figures against a running broker (sluiced or any Kafka).

    /usr/bin/python3 perf/groups_bench.py --bootstrap 127.0.0.1:9092 --pid PID

Prints:
  1. broker CPU while three group members (confluent-kafka / librdkafka) idle
     in poll() for 20 s (from /proc/PID/stat), and how long a record takes
     from the produce call to a member (median of 5; the long-poll fetch is
     woken by the append);
  2. OffsetCommit throughput from one synchronous raw-protocol client
     (v2, 100 partitions per request, 2000 requests).
Creates topics bench-groups-idle (6 partitions) and bench-groups-commit (100).
Figures only: nothing fails on them. Python standard library + confluent_kafka.
"""
import argparse
import os
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import cpu_seconds, recv_exact  # noqa: E402


def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def string(s): return i16(len(s)) + s.encode()
def array(items): return i32(len(items)) + b"".join(items)


def raw_request(sock, key, version, body, corr=[0]):
    corr[0] += 1
    msg = i16(key) + i16(version) + i32(corr[0]) + string("groups-bench") + body
    sock.sendall(i32(len(msg)) + msg)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    return recv_exact(sock, size)[4:]


def idle_and_latency(boot, pid):
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": boot})
    fs = admin.create_topics([NewTopic("bench-groups-idle", 6, 1)])
    try:
        fs["bench-groups-idle"].result(30)
    except ck.KafkaException:
        pass  # exists already
    members = [ck.Consumer({"bootstrap.servers": boot, "group.id": "bench-groups-idle",
                            "auto.offset.reset": "latest"}) for _ in range(3)]
    for m in members:
        m.subscribe(["bench-groups-idle"])
    deadline = time.time() + 30
    while time.time() < deadline and sum(len(m.assignment()) for m in members) < 6:
        for m in members:
            m.poll(0.1)
    producer = ck.Producer({"bootstrap.servers": boot, "linger.ms": 0})
    producer.produce("bench-groups-idle", b"warm-up")
    producer.flush()
    for _ in range(20):
        for m in members:
            m.poll(0.05)
    c0 = cpu_seconds(pid)
    t0 = time.time()
    while time.time() - t0 < 20:
        for m in members:
            m.poll(0.2)
    idle = cpu_seconds(pid) - c0
    print("idle: 3 group members polling for 20 s cost the broker %.3f CPU-s (%.2f%% of a core)"
          % (idle, idle / 20 * 100))
    latencies = []
    for _ in range(5):
        t = time.time()
        producer.produce("bench-groups-idle", b"x")
        producer.flush()
        got = None
        while got is None and time.time() - t < 10:
            for m in members:
                msg = m.poll(0.001)
                if msg is not None and not msg.error():
                    got = time.time() - t
        latencies.append(got if got is not None else float("inf"))
        time.sleep(0.5)
    print("latency: produce call to a group member, median of 5: %.1f ms"
          % (statistics.median(latencies) * 1000))
    for m in members:
        m.close()


def commit_throughput(boot):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": boot})
    try:
        admin.create_topics([NewTopic("bench-groups-commit", 100, 1)])["bench-groups-commit"].result(30)
    except Exception:
        pass
    time.sleep(1)
    host, port = boot.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    raw_request(sock, 10, 0, string("bench-groups-commit-0"))  # FindCoordinator
    n = 2000
    t = time.time()
    for i in range(n):
        parts = [i32(p) + i64(i) + string("") for p in range(100)]
        body = string("bench-groups-commit-%d" % (i % 20)) + i32(-1) + string("") + i64(-1)
        body += array([string("bench-groups-commit") + array(parts)])
        raw_request(sock, 8, 2, body)
    dt = time.time() - t
    print("commits: %d OffsetCommit requests x 100 partitions in %.2f s: %.0f requests/s, "
          "%.0f offsets/s" % (n, dt, n / dt, n * 100 / dt))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--pid", type=int, required=True, help="the broker's pid (CPU accounting)")
    a = ap.parse_args()
    idle_and_latency(a.bootstrap, a.pid)
    commit_throughput(a.bootstrap)


if __name__ == "__main__":
    main()
