"""Members loaded from __consumer_offsets at start-up expire like live ones:
after a restart with nobody left, a classic group and a KIP-848 group become
Empty once their members' session timeouts pass (so they can be deleted and
their offsets can expire), instead of keeping ghost members forever.

Starts its own broker (groups_util.OwnBroker) with short session timeouts.
"""
import struct
import time
import unittest

from groups_util import OwnBroker
from test_bad_input import Conn, Reader, array, i32, string
from test_cross_shard import create_topic
from test_groups_kip848_protocol import heartbeat_body, parse_heartbeat

NONE = 0


class Ghosts(unittest.TestCase):

    def setUp(self):
        self.broker = OwnBroker(extra=["group.initial.rebalance.delay.ms=0",
                                       "group.min.session.timeout.ms=1000",
                                       "group.consumer.session.timeout.ms=2000"])
        self.broker.start()

    def tearDown(self):
        self.broker.cleanup()

    def conn(self):
        host, port = self.broker.boot.rsplit(":", 1)
        return Conn(host, int(port))

    def state(self, c, group):
        r = Reader(c.request(15, 0, array([string(group)])))
        groups = r.array(lambda r: (r.i16(), r.string(), r.string(), r.string(), r.string(),
                                    r.array(lambda r: (r.string(), r.string(), r.string(),
                                                       r.nbytes(), r.nbytes()))))
        return groups[0][2], len(groups[0][5])

    def test_loaded_members_expire(self):
        c = self.conn()
        create_topic(c, "ghost-t", 2)
        for _ in range(50):
            if Reader(c.request(10, 0, string("ghost-classic"))).i16() == NONE:
                break
            time.sleep(0.1)
        # A classic group, Stable with one member (JoinGroup v0 + SyncGroup v0).
        body = string("ghost-classic") + i32(2000) + string("") + string("consumer")
        body += array([string("range") + struct.pack(">i", 0)])
        r = Reader(c.request(11, 0, body))
        self.assertEqual(r.i16(), NONE)
        gen = r.i32()
        r.string()
        r.string()
        member = r.string()
        body = string("ghost-classic") + i32(gen) + string(member)
        body += array([string(member) + struct.pack(">i", 0)])
        self.assertEqual(Reader(c.request(14, 0, body)).i16(), NONE)
        self.assertEqual(self.state(c, "ghost-classic"), ("Stable", 1))
        # A KIP-848 group with one member.
        hb = parse_heartbeat(c.request(68, 1, heartbeat_body("ghost-848", "g-1", 0,
                                                             topics=["ghost-t"], owned=[]),
                                       flexible=True))
        self.assertEqual(hb["error"], NONE, hb)
        c.close()
        self.broker.stop()
        self.broker.start()
        c = self.conn()
        self.assertEqual(self.state(c, "ghost-classic"), ("Stable", 1), "loaded with its member")
        self.assertEqual(self.state(c, "ghost-848")[1], 1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (self.state(c, "ghost-classic")[0] != "Empty" or
                                               self.state(c, "ghost-848")[0] != "Empty"):
            time.sleep(0.3)
        self.assertEqual(self.state(c, "ghost-classic"), ("Empty", 0))
        self.assertEqual(self.state(c, "ghost-848"), ("Empty", 0))
        c.close()


if __name__ == "__main__":
    unittest.main()
