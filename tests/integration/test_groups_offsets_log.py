"""Committed offsets as records of __consumer_offsets, over raw frames:
commit / fetch / delete round trips, error codes, offsets.retention expiry of
offsets committed with a retention time, the records on disk decoded by
`sluice dump-log --offsets-decoder`, and the protection of the internal topic
(no produce, create or delete by clients).

Environment (run.sh): SLUICE_BOOTSTRAP, SLUICE_CLI, SLUICE_DATA_DIR; the broker
runs with offsets.retention.check.interval.ms=1000.
"""
import glob
import os
import subprocess
import time
import unittest

from test_bad_input import Conn, Reader, array, i8, i16, i32, i64, record_batch, string
from test_cross_shard import create_topic

OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, OFFSET_DELETE = 8, 9, 10, 47
NONE, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE = 0, 3, 12
INVALID_TOPIC_EXCEPTION, INVALID_REQUEST, GROUP_ID_NOT_FOUND = 17, 42, 69
TOPIC = "it-olog"


def java_partition(group, partitions=50):
    h = 0
    data = group.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % partitions


class OffsetsLog(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        host, port = os.environ["SLUICE_BOOTSTRAP"].rsplit(":", 1)
        cls.conn = Conn(host, int(port))
        create_topic(cls.conn, TOPIC, 3)
        for _ in range(50):
            r = Reader(cls.conn.request(FIND_COORDINATOR, 0, string("it-olog-probe")))
            if r.i16() == NONE:
                break
            time.sleep(0.1)

    def commit(self, group, partition, offset, metadata="", retention_ms=-1, topic=TOPIC):
        body = string(group) + i32(-1) + string("") + i64(retention_ms)
        body += array([string(topic) + array([i32(partition) + i64(offset) + string(metadata)])])
        r = Reader(self.conn.request(OFFSET_COMMIT, 2, body))
        res = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        r.end()
        return res[0][1][0][1]

    def fetch(self, group, partition):
        body = string(group) + array([string(TOPIC) + array([i32(partition)])])
        r = Reader(self.conn.request(OFFSET_FETCH, 1, body))
        res = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16()))))
        r.end()
        _, offset, metadata, err = res[0][1][0]
        self.assertEqual(err, NONE)
        return offset, metadata

    def test_commit_fetch_and_the_record_on_disk(self):
        group = "it-olog-g1"
        self.assertEqual(self.commit(group, 1, 7, "meta-7"), NONE)
        self.assertEqual(self.fetch(group, 1), (7, "meta-7"))
        self.assertEqual(self.fetch(group, 2), (-1, ""), "nothing committed there")
        self.assertEqual(self.fetch("it-olog-nosuch", 0), (-1, ""))
        part = java_partition(group)
        files = sorted(glob.glob(os.path.join(os.environ["SLUICE_DATA_DIR"],
                                              "__consumer_offsets-%d" % part, "*.log")))
        self.assertTrue(files, "the group's offsets partition %d has no segment" % part)
        out = subprocess.run([os.environ["SLUICE_CLI"], "dump-log", "--offsets-decoder",
                              "--files", ",".join(files)], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn('"group":"%s","topic":"%s","partition":1' % (group, TOPIC), out.stdout)
        self.assertIn('"offset":7', out.stdout)
        self.assertIn('"metadata":"meta-7"', out.stdout)

    def test_errors(self):
        self.assertEqual(self.commit("it-olog-g2", 0, 1, "x" * 5000), OFFSET_METADATA_TOO_LARGE)
        self.assertEqual(self.commit("it-olog-g2", 9, 1), UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(self.commit("it-olog-g2", 0, 1, topic="it-olog-nosuch"),
                         UNKNOWN_TOPIC_OR_PARTITION)

    def test_empty_group_id_is_invalid(self):
        self.assertEqual(self.commit("", 0, 1), 24)  # INVALID_GROUP_ID
        body = string("") + i32(10000) + string("") + string("consumer")
        body += array([string("range") + i32(0)])
        r = Reader(self.conn.request(11, 0, body))  # JoinGroup v0
        self.assertEqual(r.i16(), 24)

    def test_offset_delete(self):
        group = "it-olog-g3"
        self.assertEqual(self.commit(group, 0, 11), NONE)
        body = string(group) + array([string(TOPIC) + array([i32(0)])])
        r = Reader(self.conn.request(OFFSET_DELETE, 0, body))
        self.assertEqual(r.i16(), NONE)
        r.i32()
        res = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        self.assertEqual(res[0][1][0], (0, NONE))
        self.assertEqual(self.fetch(group, 0), (-1, ""))
        body = string("it-olog-nosuch") + array([string(TOPIC) + array([i32(0)])])
        r = Reader(self.conn.request(OFFSET_DELETE, 0, body))
        self.assertEqual(r.i16(), GROUP_ID_NOT_FOUND)

    def test_offsets_with_a_retention_time_expire(self):
        group = "it-olog-exp"
        self.assertEqual(self.commit(group, 2, 5, retention_ms=1500), NONE)
        self.assertEqual(self.fetch(group, 2)[0], 5)
        deadline = time.time() + 15
        while time.time() < deadline and self.fetch(group, 2)[0] != -1:
            time.sleep(0.5)
        self.assertEqual(self.fetch(group, 2), (-1, ""), "the offset did not expire")

    def test_internal_topic_is_protected(self):
        batch = record_batch([(b"k", b"v", [])], int(time.time() * 1000))
        body = string(None) + i16(1) + i32(30000)
        body += array([string("__consumer_offsets") + array([i32(0) + i32(len(batch)) + batch])])
        r = Reader(self.conn.request(0, 7, body))
        r.i32()
        r.string()
        r.i32()
        p, err = r.i32(), r.i16()
        self.assertEqual(err, INVALID_TOPIC_EXCEPTION)
        body = array([string("__consumer_offsets")]) + i32(30000)
        r = Reader(self.conn.request(20, 1, body))
        r.i32()
        res = r.array(lambda r: (r.string(), r.i16()))
        self.assertEqual(res[0][1], INVALID_REQUEST)
        body = array([string("__transaction_state") + i32(1) + i16(1) + array([]) + array([])])
        body += i32(30000) + i8(0)
        r = Reader(self.conn.request(19, 2, body))
        r.i32()
        res = r.array(lambda r: (r.string(), r.i16(), r.string()))
        self.assertEqual(res[0][1], INVALID_REQUEST)


if __name__ == "__main__":
    unittest.main()
