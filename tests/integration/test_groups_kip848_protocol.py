"""KIP-848 ConsumerGroupHeartbeat sequences driven with raw frames: joins,
epochs, revoke-before-assign reconciliation, fencing, leaving, validation,
regex subscriptions, the range assignor, member-epoch checks on OffsetCommit,
and ConsumerGroupDescribe.

Every byte is built here from Kafka's message specs (ConsumerGroupHeartbeat
v1, ConsumerGroupDescribe v0, OffsetCommit v9 are flexible: compact strings and
arrays, tagged fields). Python standard library only.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import struct
import time
import unittest
import uuid

from test_bad_input import Conn, i8, i16, i32, i64, string, array, uvarint
from test_cross_shard import create_topic

CGHB, CGDESC, OFFSET_COMMIT, FIND_COORDINATOR = 68, 69, 8, 10
NONE, UNKNOWN_MEMBER_ID, INVALID_REQUEST = 0, 25, 42
FENCED_MEMBER_EPOCH, UNSUPPORTED_ASSIGNOR, STALE_MEMBER_EPOCH = 110, 112, 113
INVALID_REGULAR_EXPRESSION, UNRELEASED_INSTANCE_ID = 128, 111
# Groups are named per run: the broker keeps them (and a rerun on the same broker
# would find the previous run's members).
RUN = "%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000000)


# ------------------------------------------------------------ encoding
def cstr(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def carray(items):
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = uvarint(0)


def heartbeat_body(group, member, epoch, topics=None, regex=None, owned=None, assignor=None,
                   instance=None, rebalance_timeout=30000):
    body = cstr(group) + cstr(member) + i32(epoch) + cstr(instance) + cstr(None)
    body += i32(rebalance_timeout)
    body += carray(None if topics is None else [cstr(t) for t in topics])
    body += cstr(regex) + cstr(assignor)
    if owned is None:
        body += uvarint(0)
    else:
        by_topic = {}
        for tid, p in owned:
            by_topic.setdefault(tid, []).append(p)
        body += carray([tid + carray([i32(p) for p in sorted(ps)]) + TAGS
                        for tid, ps in sorted(by_topic.items())])
    return body + TAGS


# ------------------------------------------------------------ decoding
class R:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        assert self.p + n <= len(self.d), "response truncated"
        out = self.d[self.p:self.p + n]
        self.p += n
        return out

    def uvarint(self):
        shift = out = 0
        while True:
            b = self.take(1)[0]
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def cstr(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def carray(self, item):
        n = self.uvarint()
        return None if n == 0 else [item(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def parse_heartbeat(data):
    r = R(data)
    r.tags()  # response header v1
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.cstr(), "member": r.cstr(),
           "epoch": r.i32(), "interval": r.i32(), "assignment": None}
    if r.i8() >= 0:
        def tp(r):
            tid = r.take(16)
            parts = r.carray(lambda r: r.i32())
            r.tags()
            return [(tid, p) for p in parts]
        topics = r.carray(tp)
        r.tags()
        out["assignment"] = {x for t in topics for x in t}
    r.tags()
    assert r.p == len(data), "trailing bytes"
    return out


class Kip848Protocol(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        host, port = os.environ["SLUICE_BOOTSTRAP"].rsplit(":", 1)
        cls.conn = Conn(host, int(port))
        create_topic(cls.conn, "kip848-t", 6)
        create_topic(cls.conn, "kip848-re-a", 2)
        create_topic(cls.conn, "kip848-re-b", 3)
        create_topic(cls.conn, "kip848-other", 4)
        # The first group lookup creates __consumer_offsets.
        for _ in range(50):
            r = R(cls.conn.request(FIND_COORDINATOR, 0, string("kip848-probe")))
            if r.i16() == NONE:
                break

    def hb(self, group, member, epoch, **kw):
        data = self.conn.request(CGHB, 1, heartbeat_body(group, member, epoch, **kw),
                                 flexible=True)
        return parse_heartbeat(data)

    def test_join_revoke_assign_leave(self):
        g = "kip848-g1-" + RUN
        a = self.hb(g, "member-a", 0, topics=["kip848-t"], owned=[])
        self.assertEqual(a["error"], NONE, a)
        self.assertGreater(a["epoch"], 0)
        self.assertEqual(len(a["assignment"]), 6, "a lone member gets every partition")
        self.assertEqual(a["member"], "member-a")
        owned_a = a["assignment"]

        b = self.hb(g, "member-b", 0, topics=["kip848-t"], owned=[])
        self.assertEqual(b["error"], NONE, b)
        self.assertGreater(b["epoch"], a["epoch"], "a join bumps the group epoch")
        self.assertEqual(b["assignment"], set(), "nothing is free until A revokes")

        # A must revoke before B may get anything: its epoch stays.
        a2 = self.hb(g, "member-a", a["epoch"], owned=sorted(owned_a))
        self.assertEqual(a2["error"], NONE, a2)
        self.assertEqual(a2["epoch"], a["epoch"])
        self.assertEqual(len(a2["assignment"]), 3)
        revoked = owned_a - a2["assignment"]

        b2 = self.hb(g, "member-b", b["epoch"], owned=[])
        self.assertEqual(b2["error"], NONE, b2)
        self.assertFalse(b2["assignment"] and b2["assignment"] & revoked,
                         "B got a partition A has not released yet")

        # A reports the revocation done: it moves to the new epoch.
        a3 = self.hb(g, "member-a", a["epoch"], owned=sorted(a2["assignment"]))
        self.assertEqual(a3["error"], NONE, a3)
        self.assertEqual(a3["epoch"], b["epoch"])
        b3 = self.hb(g, "member-b", b["epoch"], owned=[])
        self.assertEqual(b3["error"], NONE, b3)
        self.assertEqual(b3["assignment"], revoked, "B gets exactly what A released")
        self.assertEqual(a2["assignment"] | b3["assignment"], owned_a)
        self.assertFalse(a2["assignment"] & b3["assignment"])

        # Fencing and unknown members.
        self.assertEqual(self.hb(g, "member-a", a3["epoch"] + 5, owned=[])["error"],
                         FENCED_MEMBER_EPOCH)
        self.assertEqual(self.hb(g, "member-zzz", 3)["error"], UNKNOWN_MEMBER_ID)

        # A member-epoch commit: the right epoch is accepted, a newer one is stale.
        self.assertEqual(self.commit(g, "member-b", b3["epoch"], "kip848-t", 0, 42), NONE)
        self.assertEqual(self.commit(g, "member-b", b3["epoch"] + 1, "kip848-t", 0, 43),
                         STALE_MEMBER_EPOCH)
        self.assertEqual(self.commit(g, "nobody", 1, "kip848-t", 0, 43), UNKNOWN_MEMBER_ID)

        # Describe shows both members and the assignor.
        desc = self.describe(g)
        self.assertEqual(desc["error"], NONE)
        self.assertEqual(desc["assignor"], "uniform")
        self.assertEqual(sorted(desc["members"]), ["member-a", "member-b"])

        # B leaves; A ends up with everything again.
        left = self.hb(g, "member-b", b3["epoch"], owned=None)
        left = self.hb(g, "member-b", -1)
        self.assertEqual(left["error"], NONE, left)
        self.assertEqual(left["epoch"], -1)
        a4 = self.hb(g, "member-a", a3["epoch"], owned=sorted(a2["assignment"]))
        self.assertEqual(a4["error"], NONE, a4)
        self.assertGreater(a4["epoch"], a3["epoch"])
        self.assertEqual(a4["assignment"], owned_a)

    def commit(self, group, member, epoch, topic, partition, offset):
        body = cstr(group) + i32(epoch) + cstr(member) + cstr(None)
        body += carray([cstr(topic) + carray([i32(partition) + i64(offset) + i32(-1) +
                                              cstr("") + TAGS]) + TAGS]) + TAGS
        r = R(self.conn.request(OFFSET_COMMIT, 9, body, flexible=True))
        r.tags()
        r.i32()

        def part(r):
            p, e = r.i32(), r.i16()
            r.tags()
            return e

        def topic(r):
            r.cstr()
            es = r.carray(part)
            r.tags()
            return es

        return r.carray(topic)[0][0]

    def describe(self, group):
        body = carray([cstr(group)]) + i8(0) + TAGS
        r = R(self.conn.request(CGDESC, 0, body, flexible=True))
        r.tags()
        r.i32()

        def assignment(r):
            def tp(r):
                r.take(16)
                r.cstr()
                r.carray(lambda r: r.i32())
                r.tags()
            r.carray(tp)
            r.tags()

        def member(r):
            mid = r.cstr()
            r.cstr(), r.cstr(), r.i32(), r.cstr(), r.cstr()
            r.carray(lambda r: r.cstr())
            r.cstr()
            assignment(r)
            assignment(r)
            r.tags()
            return mid

        def group_(r):
            g = {"error": r.i16(), "message": r.cstr(), "id": r.cstr(), "state": r.cstr(),
                 "epoch": r.i32(), "assignment_epoch": r.i32(), "assignor": r.cstr()}
            g["members"] = r.carray(member)
            r.i32()
            r.tags()
            return g

        return r.carray(group_)[0]

    def test_validation(self):
        g = "kip848-g2-" + RUN
        self.assertEqual(self.hb(g, "m1", 0, owned=[])["error"], INVALID_REQUEST,
                         "a join needs a subscription")
        self.assertEqual(self.hb(g, "", 0, topics=["kip848-t"], owned=[])["error"],
                         INVALID_REQUEST, "v1 needs a member id")
        self.assertEqual(self.hb(g, "m1", 0, topics=["kip848-t"])["error"], INVALID_REQUEST,
                         "a join needs TopicPartitions")
        self.assertEqual(self.hb(g, "m1", -3)["error"], INVALID_REQUEST)
        self.assertEqual(self.hb(g, "m1", 0, topics=["kip848-t"], owned=[],
                                 assignor="nosuch")["error"], UNSUPPORTED_ASSIGNOR)
        self.assertEqual(self.hb(g, "m1", 0, regex="(unclosed", owned=[])["error"],
                         INVALID_REGULAR_EXPRESSION)
        self.assertEqual(self.describe("kip848-nosuch")["error"], 69)

    def test_regex_and_range(self):
        g = "kip848-g3-" + RUN
        m = self.hb(g, "re-1", 0, regex="kip848-re-.*", owned=[], assignor="range")
        self.assertEqual(m["error"], NONE, m)
        self.assertEqual(len(m["assignment"]), 5, "2 + 3 partitions of the matching topics")
        self.assertEqual(self.describe(g)["assignor"], "range")
        # Java/RE2 classes are translated; backreferences are refused.
        w = self.hb("kip848-g5-" + RUN, "re-2", 0, regex=r"kip848-re-\w", owned=[])
        self.assertEqual(w["error"], NONE, w)
        self.assertEqual(len(w["assignment"]), 5)
        self.assertEqual(self.hb("kip848-g6-" + RUN, "re-3", 0, regex=r"(a)\1", owned=[])["error"],
                         INVALID_REGULAR_EXPRESSION)

    def test_empty_consumer_group_becomes_classic(self):
        g = "kip848-g7-" + RUN
        a = self.hb(g, "c-1", 0, topics=["kip848-t"], owned=[])
        self.assertEqual(a["error"], NONE, a)
        # A classic JoinGroup is refused while the KIP-848 group has members...
        body = string(g) + i32(10000) + string("") + string("consumer")
        body += array([string("range") + i32(0)])
        r = R(self.conn.request(11, 0, body))
        self.assertEqual(r.i16(), 23)  # INCONSISTENT_GROUP_PROTOCOL
        # ... and accepted once it is empty: the group is classic again.
        self.assertEqual(self.hb(g, "c-1", -1)["error"], NONE)
        r = R(self.conn.request(11, 0, body))
        self.assertEqual(r.i16(), NONE)
        r.i32()
        r.take(struct.unpack(">h", r.take(2))[0])  # protocol
        r.take(struct.unpack(">h", r.take(2))[0])  # leader
        member = r.take(struct.unpack(">h", r.take(2))[0]).decode()
        self.conn.request(13, 0, string(g) + string(member))  # LeaveGroup v0

    def test_static_member_comes_back(self):
        g = "kip848-g4-" + RUN
        a = self.hb(g, "s-1", 0, topics=["kip848-other"], owned=[], instance="inst-1")
        self.assertEqual(a["error"], NONE, a)
        self.assertEqual(self.hb(g, "s-2", 0, topics=["kip848-other"], owned=[],
                                 instance="inst-1")["error"], UNRELEASED_INSTANCE_ID)
        gone = self.hb(g, "s-1", -2)
        self.assertEqual(gone["epoch"], -2)
        back = self.hb(g, "s-1b", 0, topics=["kip848-other"], owned=[], instance="inst-1")
        self.assertEqual(back["error"], NONE, back)
        self.assertEqual(back["assignment"], a["assignment"],
                         "a static member gets its partitions back")


if __name__ == "__main__":
    unittest.main()
