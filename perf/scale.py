#!/usr/bin/env python3
"""perf/scale.py — sluice with 10,000 partitions and 10,000 connections: does it
hold them, what does each cost in memory, how long do start-up and idle take.

  /usr/bin/python3 perf/scale.py [--build DIR] [--partitions N] [--connections N]
                                 [--json FILE]

Starts a release sluiced (--build, default build/release) on a free loopback
port with a fresh log dir under /var/tmp, then, printing a line per step:
  1. creates N partitions (10 topics of N/10, AdminClient), time taken
  2. produces one record to every partition and reads every one back with a
     consumer assigned all of them (librdkafka via confluent-kafka)
  3. RSS and open file descriptors: per partition = (after - before) / N
  4. opens C connections that each complete an ApiVersions round trip and stay
     open; RSS per connection; broker CPU over 5 idle seconds with all open
  5. SIGTERM, restart, time until the port answers with N partitions, and the
     records are still there (a sample of partitions read again)
The broker is started with its soft RLIMIT_NOFILE at the hard limit; when
partitions + connections do not fit under it (this sandbox allows 20,000),
the connection count is lowered to fit and the output says so.
Stops what it started (by PID) on any exit. Exit status 0 when every step held,
1 otherwise. Standard library + confluent_kafka (Debian python3-confluent-kafka).
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "perf"))
from bench_util import cpu_seconds, recv_exact  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_port(port, proc, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("scale: the broker exited (status %s)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def api_versions_request(correlation):
    client = b"scale"
    body = struct.pack(">hhih", 18, 0, correlation, len(client)) + client
    return struct.pack(">i", len(body)) + body


def start_broker(binary, port, logdir, out):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def raise_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    return subprocess.Popen([binary, "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
                             "--override", "log.dirs=%s" % logdir],
                            stdout=out, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--partitions", type=int, default=10000)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--json")
    a = ap.parse_args()
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    binary = os.path.join(a.build, "core", "sluiced")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = a.connections
    # Broker fds: one per partition (active segment), one per connection, plus
    # rings, pipes, listeners, directories (~200 is generous).
    if a.partitions + conns + 200 > hard:
        conns = max(0, hard - a.partitions - 200)
        print("scale: RLIMIT_NOFILE hard limit %d: connections lowered to %d" % (hard, conns))
    res = {"partitions": a.partitions, "connections": conns, "nofile_hard_limit": hard}
    ok = True
    work = tempfile.mkdtemp(prefix="sluice-scale.", dir="/var/tmp")
    port = free_port()
    boot = "127.0.0.1:%d" % port
    log = open(os.path.join(work, "broker.log"), "w")
    proc = start_broker(binary, port, os.path.join(work, "log"), log)
    socks = []
    try:
        if not wait_port(port, proc, 30):
            raise SystemExit("scale: the broker did not listen")
        time.sleep(0.5)
        rss0, fds0 = rss_bytes(proc.pid), fd_count(proc.pid)
        res["idle_rss_bytes"] = rss0
        print("broker up: RSS %.1f MiB, %d fds" % (rss0 / 2**20, fds0))

        admin = AdminClient({"bootstrap.servers": boot})
        topics = 10
        per = a.partitions // topics
        names = ["scale-%d" % i for i in range(topics)]
        t0 = time.time()
        for name, fut in admin.create_topics([NewTopic(n, per, 1) for n in names],
                                             operation_timeout=120).items():
            fut.result(timeout=180)
        res["create_s"] = time.time() - t0
        # Wait until metadata shows them all.
        deadline = time.time() + 120
        while time.time() < deadline:
            md = admin.list_topics(timeout=30)
            if all(n in md.topics and len(md.topics[n].partitions) == per for n in names):
                break
            time.sleep(0.2)
        res["create_visible_s"] = time.time() - t0
        print("created %d partitions (%d topics) in %.2f s" % (per * topics, topics,
                                                               res["create_visible_s"]))

        p = Producer({"bootstrap.servers": boot, "linger.ms": 20, "acks": "1",
                      "queue.buffering.max.messages": 1000000})
        t0 = time.time()
        for n in names:
            for part in range(per):
                p.produce(n, value=b"v-%s-%d" % (n.encode(), part), partition=part)
            p.poll(0)
        left = p.flush(120)
        res["produce_all_s"] = time.time() - t0
        ok &= left == 0
        print("one record produced to each partition in %.2f s (%d undelivered)"
              % (res["produce_all_s"], left))

        c = Consumer({"bootstrap.servers": boot, "group.id": "scale-check",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 100})
        c.assign([TopicPartition(n, part, 0) for n in names for part in range(per)])
        seen = set()
        t0 = time.time()
        while len(seen) < per * topics and time.time() - t0 < 120:
            for m in c.consume(10000, 1.0):
                if m.error() is None:
                    seen.add((m.topic(), m.partition()))
        c.close()
        res["consume_all_s"] = time.time() - t0
        ok &= len(seen) == per * topics
        print("read back %d of %d partitions in %.2f s" % (len(seen), per * topics,
                                                            res["consume_all_s"]))
        time.sleep(1)
        rss1, fds1 = rss_bytes(proc.pid), fd_count(proc.pid)
        res["partitions_rss_bytes"] = rss1
        res["rss_per_partition_bytes"] = (rss1 - rss0) / (per * topics)
        res["fds_per_partition"] = (fds1 - fds0) / (per * topics)
        print("with %d partitions: RSS %.1f MiB (%.1f KiB per partition), %d fds"
              % (per * topics, rss1 / 2**20, res["rss_per_partition_bytes"] / 1024, fds1))

        t0 = time.time()
        for i in range(conns):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(api_versions_request(i))
            socks.append(s)
        answered = 0
        for i, s in enumerate(socks):
            size = struct.unpack(">i", recv_exact(s, 4))[0]
            body = recv_exact(s, size)
            corr, err = struct.unpack(">ih", body[:6])
            answered += corr == i and err == 0
        res["connect_s"] = time.time() - t0
        ok &= answered == conns
        time.sleep(1)
        rss2, fds2 = rss_bytes(proc.pid), fd_count(proc.pid)
        res["connections_rss_bytes"] = rss2
        res["rss_per_connection_bytes"] = (rss2 - rss1) / max(conns, 1)
        print("%d connections open, %d answered ApiVersions in %.2f s: RSS %.1f MiB "
              "(%.1f KiB per connection), %d fds" % (conns, answered, res["connect_s"],
                                                     rss2 / 2**20,
                                                     res["rss_per_connection_bytes"] / 1024, fds2))
        c0 = cpu_seconds(proc.pid)
        time.sleep(5)
        res["idle_cpu_percent"] = (cpu_seconds(proc.pid) - c0) / 5 * 100
        print("idle with everything open: broker CPU %.2f%% of a core"
              % res["idle_cpu_percent"])
        for s in socks:
            s.close()
        socks = []

        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        res["stop_s"] = time.time() - t0
        t0 = time.time()
        proc = start_broker(binary, port, os.path.join(work, "log"), log)
        ok &= wait_port(port, proc, 120)
        res["restart_s"] = time.time() - t0
        c = Consumer({"bootstrap.servers": boot, "group.id": "scale-check-2",
                      "enable.auto.commit": False})
        sample = [TopicPartition(n, part, 0) for n in names for part in range(0, per, 97)]
        c.assign(sample)
        got = set()
        deadline = time.time() + 60
        while len(got) < len(sample) and time.time() < deadline:
            for m in c.consume(1000, 1.0):
                if m.error() is None:
                    got.add((m.topic(), m.partition()))
        c.close()
        ok &= len(got) == len(sample)
        print("SIGTERM took %.2f s; restart with %d partitions listening after %.2f s; "
              "%d of %d sampled partitions read back" % (res["stop_s"], per * topics,
                                                         res["restart_s"], len(got), len(sample)))
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    res["ok"] = bool(ok)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    print("scale: %s" % ("every step held" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
