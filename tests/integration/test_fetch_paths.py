"""Fetch served by splice (file -> pipe -> socket) and by read + send give
clients the same bytes.

Three brokers of this test's own: fetch.splice.min.bytes=0 (every slice is
spliced), -1 (never) and the default (64 KiB: large slices spliced, small
ones read). Each gets the same records — small and large (up to 900 KB, larger
than a pipe's default 64 KiB, so one slice takes several pipe steps), with
keys and headers — produced with acks=all, and two consumers read them back:
confluent-kafka (librdkafka, 1 MiB partition fetches) and kafka-python
(smaller fetches). Every record must come back byte for byte, in order.
A consumer that goes away in the middle of a large spliced response must not
hurt the broker: a raw client sends a Fetch for megabytes, reads a few bytes
and closes; the broker keeps serving.

Environment (set by run.sh): SLUICED, SLUICE_STATE_DIR.
"""

import hashlib
import os
import socket
import struct

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition

from groups_util import OwnBroker

TOPIC = "it-fetch-paths"
PARTITIONS = 2


def payload(i):
    size = [10, 1000, 70000, 300000, 900000][i % 5]
    seed = hashlib.sha256(b"%d" % i).digest()
    return (seed * (size // len(seed) + 1))[:size]


N = 60


def produce(boot):
    p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": 5,
                  "message.max.bytes": 2000000})
    for i in range(N):
        p.produce(TOPIC, key=b"k%d" % i, value=payload(i), partition=i % PARTITIONS,
                  headers=[("h", b"%d" % i)])
    assert p.flush(60) == 0


def check(records):
    by_part = {}
    for part, key, value in records:
        by_part.setdefault(part, []).append((key, value))
    for part in range(PARTITIONS):
        want = [(b"k%d" % i, payload(i)) for i in range(N) if i % PARTITIONS == part]
        got = by_part.get(part, [])
        assert len(got) == len(want), "partition %d: %d of %d" % (part, len(got), len(want))
        for (gk, gv), (wk, wv) in zip(got, want):
            assert gk == wk and gv == wv, "record %s differs" % wk


def consume_librdkafka(boot):
    c = Consumer({"bootstrap.servers": boot, "group.id": "fp", "enable.auto.commit": False,
                  "fetch.message.max.bytes": 1048576})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    out = []
    for _ in range(200):
        for m in c.consume(100, 0.5):
            assert m.error() is None, m.error()
            out.append((m.partition(), m.key(), m.value()))
        if len(out) >= N:
            break
    c.close()
    return out


def consume_kafka_python(boot):
    c = KafkaConsumer(bootstrap_servers=boot, enable_auto_commit=False,
                      max_partition_fetch_bytes=2000000, fetch_max_bytes=3000000,
                      consumer_timeout_ms=5000)
    c.assign([KPTopicPartition(TOPIC, p) for p in range(PARTITIONS)])
    c.seek_to_beginning()
    out = [(m.partition, m.key, m.value) for m in c]
    c.close()
    return out


def fetch_and_hang_up(port):
    """Fetch v4 for megabytes of partition 0, read 16 bytes, close."""
    client = b"hangup"
    body = struct.pack(">hhih", 1, 4, 7, len(client)) + client
    body += struct.pack(">iiiib", -1, 100, 1, 10000000, 0)  # replica, wait, min, max, isolation
    body += struct.pack(">ih", 1, len(TOPIC)) + TOPIC.encode()
    body += struct.pack(">iiqi", 1, 0, 0, 8000000)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(struct.pack(">i", len(body)) + body)
    s.recv(16)
    s.close()


@pytest.mark.parametrize("splice_min", ["0", "-1", "65536"])
def test_splice_and_read_paths_serve_the_same_bytes(splice_min):
    b = OwnBroker(extra=["fetch.splice.min.bytes=%s" % splice_min,
                         "message.max.bytes=2000000", "num.partitions=%d" % PARTITIONS])
    b.start()
    try:
        produce(b.boot)
        check(consume_librdkafka(b.boot))
        check(consume_kafka_python(b.boot))
        for _ in range(5):
            fetch_and_hang_up(b.port)
        check(consume_librdkafka(b.boot))  # still serving
        assert b.proc.poll() is None
    finally:
        b.stop()
