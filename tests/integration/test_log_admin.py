"""DeleteRecords and OffsetForLeaderEpoch on the wire (raw protocol bytes built
from the Kafka rules; none of the installed clients sends OffsetForLeaderEpoch).

DeleteRecords raises the log start offset: ListOffsets(earliest) and a fetch
below it agree; -1 means the high watermark; beyond it is OFFSET_OUT_OF_RANGE.
OffsetForLeaderEpoch answers epoch 0 with the log end offset and a later epoch
with -1/-1.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import time
import unittest

from test_bad_input import (Conn, Reader, array, compact_string, i8, i16, i32, i64, record_batch,
                            string, uvarint)
from test_cross_shard import create_topic, fetch, produce

OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_LEADER_EPOCH = 1, 3, 75


def delete_records(conn, topic, offsets):
    parts = [i32(p) + i64(o) for p, o in offsets.items()]
    body = array([string(topic) + array(parts)]) + i32(30000)
    r = Reader(conn.request(21, 1, body))
    r.i32()
    out = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, low, err = r.i32(), r.i64(), r.i16()
            out[p] = (err, low)
    return out


def earliest(conn, topic, partition):
    body = i32(-1) + i8(0) + array([string(topic) + array([i32(partition) + i32(-1) + i64(-2)])])
    r = Reader(conn.request(2, 4, body))
    r.i32()
    r.i32()
    r.string()
    r.i32()
    p, err, ts, off, epoch = r.i32(), r.i16(), r.i64(), r.i64(), r.i32()
    return err, off


def max_timestamp(conn, topic, partition):
    """ListOffsets v7 (flexible) with timestamp -3: (error, timestamp, offset)."""
    body = (i32(-1) + i8(0) + uvarint(2) + compact_string(topic) + uvarint(2) + i32(partition)
            + i32(-1) + i64(-3) + uvarint(0) + uvarint(0) + uvarint(0))
    data = conn.request(2, 7, body, flexible=True)
    assert data[0] == 0, "response header v1 tagged fields"
    r = Reader(data[1:])
    r.i32()                      # throttle
    assert r.take(1) == b"\x02"  # one topic (compact array: N+1)
    r.take(r.take(1)[0] - 1)     # compact topic name (short)
    assert r.take(1) == b"\x02"  # one partition
    p, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
    return err, ts, off


def epoch_end(conn, topic, requests):
    parts = [i32(p) + i32(cur) + i32(ep) for p, cur, ep in requests]
    body = i32(-1) + array([string(topic) + array(parts)])
    r = Reader(conn.request(23, 3, body))
    r.i32()
    out = []
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            err, p, ep, end = r.i16(), r.i32(), r.i32(), r.i64()
            out.append((p, err, ep, end))
    return out


class LogAdmin(unittest.TestCase):
    def setUp(self):
        host, port = os.environ["SLUICE_BOOTSTRAP"].rsplit(":", 1)
        self.conn = Conn(host, int(port))
        self.topic = "log-admin-%d" % int(time.time() * 1000)
        create_topic(self.conn, self.topic, 2)
        ts = int(time.time() * 1000)
        for n in range(4):  # 4 batches of 3 records per partition: offsets 0..11
            batch = record_batch([(b"k", b"v%d" % n, [])] * 3, ts)
            acks = produce(self.conn, self.topic, [batch, batch])
            self.assertEqual(acks[0], (0, 3 * n))

    def tearDown(self):
        self.conn.close()

    def test_delete_records_raises_the_log_start_offset(self):
        got = delete_records(self.conn, self.topic, {0: 5, 1: -1})
        self.assertEqual(got[0], (0, 5))
        self.assertEqual(got[1], (0, 12), "-1 deletes up to the high watermark")
        self.assertEqual(earliest(self.conn, self.topic, 0), (0, 5))
        self.assertEqual(earliest(self.conn, self.topic, 1), (0, 12))
        err, hwm, data = fetch(self.conn, self.topic, {0: 0})[0]
        self.assertEqual(err, OFFSET_OUT_OF_RANGE, "a fetch below the start offset")
        err, hwm, data = fetch(self.conn, self.topic, {0: 6})[0]
        self.assertEqual((err, hwm), (0, 12))
        self.assertTrue(data, "records at and above the start offset stay readable")
        # The start offset never moves back; beyond the high watermark is out of range.
        self.assertEqual(delete_records(self.conn, self.topic, {0: 2})[0], (0, 5))
        self.assertEqual(delete_records(self.conn, self.topic, {0: 13})[0][0], OFFSET_OUT_OF_RANGE)
        self.assertEqual(delete_records(self.conn, self.topic, {7: 1})[7][0],
                         UNKNOWN_TOPIC_OR_PARTITION)

    def test_list_offsets_max_timestamp(self):
        topic = self.topic + "-maxts"
        create_topic(self.conn, topic, 1)
        self.assertEqual(max_timestamp(self.conn, topic, 0), (0, -1, -1), "empty log")
        t = int(time.time() * 1000)
        later = record_batch([(b"k", b"a", [])] * 3, t + 100)   # offsets 0-2, ts t+100..t+102
        earlier = record_batch([(b"k", b"b", [])] * 3, t)       # offsets 3-5, ts t..t+2
        produce(self.conn, topic, [later])
        produce(self.conn, topic, [earlier])
        self.assertEqual(max_timestamp(self.conn, topic, 0), (0, t + 102, 2))

    def test_offset_for_leader_epoch(self):
        got = epoch_end(self.conn, self.topic, [(0, -1, 0), (1, 0, 0), (0, -1, 3), (1, 5, 0)])
        self.assertEqual(got[0], (0, 0, 0, 12))
        self.assertEqual(got[1], (1, 0, 0, 12))
        self.assertEqual(got[2], (0, 0, -1, -1), "an epoch after the current one is unknown")
        self.assertEqual(got[3][1], UNKNOWN_LEADER_EPOCH)


if __name__ == "__main__":
    unittest.main()
