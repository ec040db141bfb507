"""One Produce and one Fetch request that span partitions owned by different
shards return exactly the bytes produced, at the right offsets.

Partitions are placed round-robin over the shards at creation, so with two or
more shards (the default on a multi-core machine; run.sh does not pin
num.shards) a topic of 6 partitions is spread over all of them, and a single
request touching all six is split, sent to the owners over the cross-shard
queues, and gathered. Raw protocol bytes, built here from the Kafka rules.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import struct
import time
import unittest

from test_bad_input import (Conn, Reader, array, i8, i16, i32, i64, record_batch, string,
                            sample_records)

PARTITIONS = 6


def create_topic(conn, name, partitions):
    body = array([string(name) + i32(partitions) + i16(1) + array([]) + array([])])
    body += i32(30000) + i8(0)
    r = Reader(conn.request(19, 2, body))
    r.i32()  # throttle
    results = r.array(lambda r: (r.string(), r.i16(), r.string()))
    assert results[0][1] in (0, 36), "CreateTopics error %r" % (results[0],)


def produce(conn, topic, batches):
    parts = [i32(p) + i32(len(b)) + b for p, b in enumerate(batches)]
    body = string(None) + i16(1) + i32(30000)
    body += array([string(topic) + array(parts)])
    r = Reader(conn.request(0, 7, body))
    out = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, err, base = r.i32(), r.i16(), r.i64()
            r.i64()  # log append time
            r.i64()  # log start offset
            out[p] = (err, base)
    return out


def fetch(conn, topic, offsets):
    parts = [i32(p) + i32(-1) + i64(o) + i64(-1) + i32(1 << 20) for p, o in offsets.items()]
    body = i32(-1) + i32(100) + i32(1) + i32(16 << 20) + i8(0) + i32(0) + i32(-1)
    body += array([string(topic) + array(parts)]) + array([]) + string("")
    r = Reader(conn.request(1, 11, body))
    r.i32()
    assert r.i16() == 0
    r.i32()
    out = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, err, hwm = r.i32(), r.i16(), r.i64()
            r.i64()
            r.i64()
            r.array(lambda r: (r.i64(), r.i64()))
            r.i32()
            out[p] = (err, hwm, r.nbytes())
    return out


def stamped(batch, base_offset):
    """What the broker stores: the batch with baseOffset and leader epoch 0 set."""
    return struct.pack(">q", base_offset) + batch[8:12] + struct.pack(">i", 0) + batch[16:]


class CrossShard(unittest.TestCase):
    def test_one_request_spanning_shards_round_trips(self):
        host, port = os.environ["SLUICE_BOOTSTRAP"].rsplit(":", 1)
        conn = Conn(host, int(port))
        topic = "cross-shard-%d" % int(time.time() * 1000)
        create_topic(conn, topic, PARTITIONS)
        ts = int(time.time() * 1000)
        rounds = []
        for round_no in range(3):
            batches = [record_batch(sample_records(b"r%dp%d" % (round_no, p)), ts)
                       for p in range(PARTITIONS)]
            acks = produce(conn, topic, batches)
            self.assertEqual(sorted(acks), list(range(PARTITIONS)))
            for p in range(PARTITIONS):
                self.assertEqual(acks[p], (0, 3 * round_no), "partition %d" % p)
            rounds.append(batches)
        got = fetch(conn, topic, {p: 0 for p in range(PARTITIONS)})
        for p in range(PARTITIONS):
            err, hwm, data = got[p]
            self.assertEqual((err, hwm), (0, 9), "partition %d" % p)
            want = b"".join(stamped(rounds[n][p], 3 * n) for n in range(3))
            self.assertEqual(data, want, "partition %d: fetched bytes differ" % p)
        # A fetch in the middle starts at the batch containing the offset.
        got = fetch(conn, topic, {p: 4 for p in range(PARTITIONS)})
        for p in range(PARTITIONS):
            want = b"".join(stamped(rounds[n][p], 3 * n) for n in (1, 2))
            self.assertEqual(got[p][2], want, "partition %d from offset 4" % p)
        conn.close()


if __name__ == "__main__":
    unittest.main()
