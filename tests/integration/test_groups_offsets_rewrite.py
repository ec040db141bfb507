"""__consumer_offsets stays bounded: with a small offsets.topic.segment.bytes,
many commits to one group make its partition's log pass two segments; the
coordinator rewrites the live state and raises the log start offset, old
segments go, and the committed offsets (and a classic group's metadata) are
still right — also after a restart, which loads only from the new start.

Starts its own broker (groups_util.OwnBroker: SLUICED, SLUICE_STATE_DIR).
"""
import glob
import os
import time
import unittest

from groups_util import OwnBroker
from test_bad_input import Conn, Reader, array, i32, i64, string
from test_cross_shard import create_topic
from test_groups_offsets_log import java_partition

NONE = 0
GROUP = "rw-g"


class OffsetsRewrite(unittest.TestCase):

    def setUp(self):
        self.broker = OwnBroker(extra=["offsets.topic.segment.bytes=16384",
                                       "offsets.retention.check.interval.ms=300"])
        self.broker.start()

    def tearDown(self):
        self.broker.cleanup()

    def conn(self):
        host, port = self.broker.boot.rsplit(":", 1)
        return Conn(host, int(port))

    def commit(self, c, partition, offset):
        body = string(GROUP) + i32(-1) + string("") + i64(-1)
        body += array([string("rw-t") + array([i32(partition) + i64(offset) + string("m")])])
        r = Reader(c.request(8, 2, body))
        res = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        return res[0][1][0][1]

    def fetch(self, c):
        body = string(GROUP) + array([string("rw-t") + array([i32(0), i32(1)])])
        r = Reader(c.request(9, 1, body))
        res = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16()))))
        return {p: o for p, o, _, _ in res[0][1]}

    def segments(self):
        d = os.path.join(self.broker.data, "__consumer_offsets-%d" % java_partition(GROUP))
        return sorted(glob.glob(os.path.join(d, "*.log")))

    def test_log_is_rewritten_and_state_kept(self):
        c = self.conn()
        create_topic(c, "rw-t", 2)
        for _ in range(50):
            if Reader(c.request(10, 0, string(GROUP))).i16() == NONE:
                break
            time.sleep(0.1)
        for i in range(1500):  # ~100 bytes a record: ~150 KB, about 9 segments
            self.assertEqual(self.commit(c, i % 2, i), NONE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(self.segments()) > 3:
            time.sleep(0.2)
        self.assertLessEqual(len(self.segments()), 3,
                             "old segments were not removed: %s\n%s"
                             % (self.segments(), self.broker.log_tail()))
        self.assertEqual(self.fetch(c), {0: 1498, 1: 1499})
        self.assertEqual(self.commit(c, 0, 5000), NONE)
        c.close()
        self.broker.stop()
        self.broker.start()
        c = self.conn()
        self.assertEqual(self.fetch(c), {0: 5000, 1: 1499})
        c.close()
        self.assertIn("rewritten", open(os.path.join(self.broker.work, "broker.log")).read())


if __name__ == "__main__":
    unittest.main()
