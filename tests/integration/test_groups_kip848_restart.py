"""KIP-848 group state survives a broker restart: the members, their epochs
and assignments are reloaded from __consumer_offsets (records 3, 5, 6, 7, 8),
so a member keeps heartbeating with its epoch and keeps its partitions — no
rebalance — after a clean stop and after kill -9.

Starts its own broker (groups_util.OwnBroker: SLUICED, SLUICE_STATE_DIR).
Raw frames from test_groups_kip848_protocol.
"""
import unittest

from groups_util import OwnBroker
from test_bad_input import Conn, Reader, string
from test_cross_shard import create_topic
from test_groups_kip848_protocol import parse_heartbeat, heartbeat_body

NONE = 0


class Kip848Restart(unittest.TestCase):

    def setUp(self):
        self.broker = OwnBroker()
        self.broker.start()

    def tearDown(self):
        if self.broker.proc and self.broker.proc.poll() is None:
            self.broker.kill9()

    def conn(self):
        host, port = self.broker.boot.rsplit(":", 1)
        return Conn(host, int(port))

    def hb(self, conn, member, epoch, **kw):
        return parse_heartbeat(conn.request(68, 1, heartbeat_body("r-g", member, epoch, **kw),
                                            flexible=True))

    def check_survives(self, restart):
        c = self.conn()
        create_topic(c, "r-t", 4)
        for _ in range(50):
            if Reader(c.request(10, 0, string("r-g"))).i16() == NONE:
                break
        a = self.hb(c, "m-a", 0, topics=["r-t"], owned=[])
        b = self.hb(c, "m-b", 0, topics=["r-t"], owned=[])
        a = self.hb(c, "m-a", a["epoch"], owned=sorted(a["assignment"]))
        a = self.hb(c, "m-a", a["epoch"], owned=sorted(a["assignment"]))
        b = self.hb(c, "m-b", b["epoch"], owned=[])
        self.assertEqual(a["error"], NONE, a)
        self.assertEqual(b["error"], NONE, b)
        self.assertEqual(a["epoch"], b["epoch"])
        self.assertEqual(len(a["assignment"]) + len(b["assignment"]), 4)
        c.close()
        restart()
        c = self.conn()
        a2 = self.hb(c, "m-a", a["epoch"], owned=sorted(a["assignment"]))
        b2 = self.hb(c, "m-b", b["epoch"], owned=sorted(b["assignment"]))
        self.assertEqual(a2["error"], NONE, a2)
        self.assertEqual(b2["error"], NONE, b2)
        self.assertEqual(a2["epoch"], a["epoch"], "no rebalance after the restart")
        self.assertEqual(b2["epoch"], b["epoch"])
        # A full heartbeat returns the same assignment.
        a3 = self.hb(c, "m-a", a["epoch"], topics=["r-t"], owned=sorted(a["assignment"]))
        self.assertEqual(a3["assignment"], a["assignment"])
        c.close()

    def test_clean_restart(self):
        def restart():
            self.broker.stop()
            self.broker.start()
        self.check_survives(restart)

    def test_kill9_restart(self):
        def restart():
            self.broker.kill9()
            self.broker.start()
        self.check_survives(restart)


if __name__ == "__main__":
    unittest.main()
