"""The classic group coordinator over raw sockets: error codes as Apache Kafka's
GroupCoordinator gives them (group-coordinator/.../classic/ClassicGroup.java,
GroupMetadataManager.java), and malformed group requests.

Versions used (non-flexible, so the frames stay simple): FindCoordinator v1,
JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v7,
OffsetFetch v5, DescribeGroups v4, ListGroups v2, DeleteGroups v1, OffsetDelete
v0, which the
broker must advertise (ApiVersions); the oldest versions in one test, and the
flexible FindCoordinator v4 and OffsetFetch v8 in their own.

Divergences from Kafka on the static-membership checks are collected and
reported together at the end of their test (soft_equal / assert_soft), so one
of them does not hide the checks after it.

  join below/above the session timeout bounds -> INVALID_SESSION_TIMEOUT (26)
  FindCoordinator v1 names this broker; v4 (KIP-699) answers each of 5 keys
  JoinGroup v5 with an empty member id -> MEMBER_ID_REQUIRED (79) + a member id;
    the rejoin makes us leader of generation >= 1; SyncGroup hands back our
    assignment; DescribeGroups shows Stable with our member; Heartbeat ok;
    SyncGroup v5 (flexible) naming another protocol -> INCONSISTENT_GROUP_PROTOCOL
    (23), the right one -> protocol type/name and the assignment;
    SyncGroup/Heartbeat/OffsetCommit with a stale generation ->
    ILLEGAL_GENERATION (22); unknown member -> UNKNOWN_MEMBER_ID (25);
    OffsetCommit with generation -1 on the live group -> UNKNOWN_MEMBER_ID;
    DeleteGroups on the live group -> NON_EMPTY_GROUP (68); LeaveGroup; then
    DeleteGroups of the Empty group succeeds and a second one gets
    GROUP_ID_NOT_FOUND (69)
  Heartbeat for a group that does not exist -> UNKNOWN_MEMBER_ID (25)
  OffsetCommit generation -1 / member "" to a new (Empty) group is accepted;
    OffsetFetch returns offset and metadata; ListGroups lists the group
  JoinGroup with an empty group id -> INVALID_GROUP_ID (24); offering only a
    protocol the group does not use -> INCONSISTENT_GROUP_PROTOCOL (23)
  OffsetCommit metadata above offset.metadata.max.bytes ->
    OFFSET_METADATA_TOO_LARGE (12); to a missing topic ->
    UNKNOWN_TOPIC_OR_PARTITION (3)
  a static member (JoinGroup v5 with group.instance.id) joins without the
    MEMBER_ID_REQUIRED round trip; Heartbeat, SyncGroup, OffsetCommit and
    LeaveGroup v3 naming its instance with another member id ->
    FENCED_INSTANCE_ID (82); by instance id alone it leaves. Heartbeat,
    SyncGroup, OffsetCommit, LeaveGroup from a valid member naming a
    group.instance.id the group does not know -> UNKNOWN_MEMBER_ID (Kafka's
    ClassicGroup.validateMember checks the instance id first)
  the oldest versions (JoinGroup v1, SyncGroup v0, Heartbeat v0, OffsetCommit
    v2, OffsetFetch v1, LeaveGroup v0) round trip
  while a second member joins: Heartbeat REBALANCE_IN_PROGRESS and commits
    stored in PreparingRebalance; commits REBALANCE_IN_PROGRESS, heartbeats ok
    in CompletingRebalance; the follower gets the leader's assignment for it;
    DescribeGroups names each state, and outside Stable shows no protocol and
    members without metadata/assignment (Kafka's GroupMetadata.summary)
  the leader leaving before its SyncGroup: the follower's parked SyncGroup
    gets REBALANCE_IN_PROGRESS (27); its rejoin leads the next generation
  a member that does not rejoin is dropped when the rebalance timeout expires,
    not before; the librdkafka consumer that joined gets every partition
  OffsetDelete v0: an Empty group's offsets go; unknown group ->
    GROUP_ID_NOT_FOUND (69); subscribed live group -> GROUP_SUBSCRIBED_TO_TOPIC (86)
  OffsetFetch v8 (KIP-709): several groups in one request, null topics = all
  24 groups (on every shard) in one DescribeGroups / DeleteGroups request: an
    answer for each, Dead for unknown ones (v4), GROUP_ID_NOT_FOUND to delete
  a truncated JoinGroup frame closes the connection; the broker keeps serving

Environment: SLUICE_BOOTSTRAP.
"""

import struct
import time
import unittest

import groups_util as gu
import test_bad_input as bi
from test_bad_input import Reader, array, i8, i16, i32, i64, nbytes, string

FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 10, 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 15, 16, 42, 47
OFFSET_COMMIT, OFFSET_FETCH, API_VERSIONS, CREATE_TOPICS, METADATA = 8, 9, 18, 19, 3
USED = {FIND_COORDINATOR: 1, JOIN_GROUP: 5, SYNC_GROUP: 3, HEARTBEAT: 3, LEAVE_GROUP: 3,
        OFFSET_COMMIT: 7, OFFSET_FETCH: 5, DESCRIBE_GROUPS: 4, LIST_GROUPS: 2,
        DELETE_GROUPS: 1, OFFSET_DELETE: 0}
# also FindCoordinator v4 and OffsetFetch v8 (flexible) in their own tests

NONE, UNKNOWN_TOPIC_OR_PARTITION = 0, 3
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT = 22, 25, 26
REBALANCE_IN_PROGRESS, NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND = 27, 68, 69
MEMBER_ID_REQUIRED, TOPIC_ALREADY_EXISTS = 79, 36
OFFSET_METADATA_TOO_LARGE, INCONSISTENT_GROUP_PROTOCOL, INVALID_GROUP_ID = 12, 23, 24
FENCED_INSTANCE_ID, GROUP_SUBSCRIBED_TO_TOPIC = 82, 86

TOPIC = "it-groups-raw"
IO_TIMEOUT_S = 15
SESSION_MS = 10000


def bi_uvarint_read(r):
    """An unsigned varint from a Reader."""
    shift = value = 0
    while True:
        b = r.take(1)[0]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value
        shift += 7


def consumer_metadata(topics):
    """ConsumerProtocolSubscription v0: version, topics, user_data (null)."""
    return i16(0) + array([string(t) for t in topics]) + nbytes(None)


def consumer_assignment(topic, partitions):
    """ConsumerProtocolAssignment v0: version, [topic, [partition]], user_data."""
    return i16(0) + array([string(topic) + array([i32(p) for p in partitions])]) + nbytes(None)


class GroupsBadInput(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        host, port = gu.bootstrap().rsplit(":", 1)
        cls.host, cls.port = host, int(port)
        conn = cls.connect()
        try:
            versions = bi.BadInput.api_versions_v0(conn)
            missing = {k: v for k, v in USED.items()
                       if k not in versions or not versions[k][0] <= v <= versions[k][1]}
            if missing:
                raise AssertionError("the broker does not advertise these group API versions "
                                     "{api_key: version}: %r (advertised: %r)"
                                     % (missing, {k: versions.get(k) for k in USED}))
            r = Reader(conn.request(CREATE_TOPICS, 2, bi.BadInput.create_topics_v2_body(TOPIC, 2)))
            r.i32()
            topics = r.array(lambda r: (r.string(), r.i16(), r.string()))
            if topics[0][1] not in (NONE, TOPIC_ALREADY_EXISTS):
                raise AssertionError("CreateTopics %s: %r" % (TOPIC, topics))
        finally:
            conn.close()
        deadline = time.monotonic() + 30
        while True:
            conn = cls.connect()
            try:
                _, topics = bi.BadInput.metadata_v1(conn)
            finally:
                conn.close()
            parts = topics.get(TOPIC)
            if parts and len(parts) == 2 and all(e == NONE and l >= 0 for e, l in parts.values()):
                break
            if time.monotonic() > deadline:
                raise AssertionError("topic %s not ready: %r" % (TOPIC, parts))
            time.sleep(0.2)
        # As clients do: FindCoordinator until the coordinator is available (the
        # first one creates __consumer_offsets; until then COORDINATOR_NOT_AVAILABLE).
        deadline = time.monotonic() + 30
        while True:
            conn = cls.connect()
            try:
                r = Reader(conn.request(FIND_COORDINATOR, 1, string("it-groups-raw-probe") + i8(0)))
                r.i32()
                err = r.i16()
            finally:
                conn.close()
            if err == NONE:
                break
            if time.monotonic() > deadline:
                raise AssertionError("FindCoordinator still answers error %d after 30 s" % err)
            time.sleep(0.2)

    @classmethod
    def connect(cls):
        return bi.Conn(cls.host, cls.port)

    def setUp(self):
        self.soft_failures = []
        self.conn = self.connect()
        self.group = "it-groups-raw-%s-%s" % (self._testMethodName[5:30], gu.run_tag())

    def tearDown(self):
        self.conn.close()
        # The broker still serves: ApiVersions and Metadata on a new connection.
        conn = self.connect()
        try:
            bi.BadInput.api_versions_v0(conn)
            _, topics = bi.BadInput.metadata_v1(conn)
            self.assertIn(TOPIC, topics)
        finally:
            conn.close()

    def soft_equal(self, got, want, what):
        """A check that lets the test go on (reported by assert_soft at the end)."""
        if got != want:
            self.soft_failures.append("%s: got %r, want %r" % (what, got, want))

    def assert_soft(self):
        self.assertEqual(self.soft_failures, [], "%d divergences from Kafka:\n  %s"
                         % (len(self.soft_failures), "\n  ".join(self.soft_failures)))

    # -- requests ---------------------------------------------------------
    def find_coordinator(self, key):
        r = Reader(self.conn.request(FIND_COORDINATOR, 1, string(key) + i8(0)))
        r.i32()
        err, node, host, port = r.i16(), (r.string(), r.i32())[1], r.string(), r.i32()
        r.end()
        return err, node, host, port

    def join_body(self, member_id="", session_ms=SESSION_MS, rebalance_ms=20000,
                  instance_id=None, protocols=("range",), group=None):
        return (string(self.group if group is None else group) + i32(session_ms)
                + i32(rebalance_ms) + string(member_id) + string(instance_id) + string("consumer")
                + array([string(p) + nbytes(consumer_metadata([TOPIC])) for p in protocols]))

    @staticmethod
    def parse_join(data):
        r = Reader(data)
        r.i32()
        out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(),
               "leader": r.string(), "member_id": r.string()}
        out["members"] = r.array(lambda r: (r.string(), r.string(), r.nbytes()))
        r.end()
        return out

    @staticmethod
    def send_only(conn, api_key, version, body):
        """Sends a request without waiting; returns its correlation id."""
        conn.correlation_id += 1
        conn.send(bi.frame(api_key, version, conn.correlation_id, body))
        return conn.correlation_id

    @staticmethod
    def receive(conn, correlation_id):
        data = conn.recv_frame()
        got = struct.unpack(">i", data[:4])[0]
        if got != correlation_id:
            raise AssertionError("correlation id %d, expected %d" % (got, correlation_id))
        return data[4:]

    def join(self, member_id="", session_ms=SESSION_MS, rebalance_ms=20000, instance_id=None,
             conn=None, protocols=("range",), group=None):
        """JoinGroup v5 -> dict."""
        body = self.join_body(member_id, session_ms, rebalance_ms, instance_id, protocols, group)
        r = Reader((conn or self.conn).request(JOIN_GROUP, 5, body))
        r.i32()
        out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(),
               "leader": r.string(), "member_id": r.string()}
        out["members"] = r.array(lambda r: (r.string(), r.string(), r.nbytes()))
        r.end()
        return out

    def join_as_leader(self, **kw):
        """MEMBER_ID_REQUIRED round trip, then the real join -> (member_id, generation)."""
        first = self.join(**kw)
        self.assertEqual(first["error"], MEMBER_ID_REQUIRED,
                         "JoinGroup v5 with an empty member id: %r" % first)
        member = first["member_id"]
        self.assertTrue(member, "MEMBER_ID_REQUIRED without a member id: %r" % first)
        second = self.join(member, **kw)  # may wait group.initial.rebalance.delay.ms
        self.assertEqual(second["error"], NONE, "JoinGroup with the given member id: %r" % second)
        self.assertEqual(second["member_id"], member)
        self.assertEqual(second["leader"], member, "the only member must lead: %r" % second)
        self.assertGreaterEqual(second["generation"], 1)
        self.assertEqual(second["protocol"], "range")
        self.assertEqual([(m, i, md) for m, i, md in second["members"]],
                         [(member, None, consumer_metadata([TOPIC]))],
                         "the leader gets every member's metadata")
        return member, second["generation"]

    def sync_body(self, member, generation, assignments, instance_id=None):
        return (string(self.group) + i32(generation) + string(member) + string(instance_id)
                + array([string(m) + nbytes(a) for m, a in assignments]))

    def sync(self, member, generation, assignments, instance_id=None):
        body = self.sync_body(member, generation, assignments, instance_id)
        r = Reader(self.conn.request(SYNC_GROUP, 3, body))
        r.i32()
        err, assignment = r.i16(), r.nbytes()
        r.end()
        return err, assignment

    def heartbeat(self, member, generation, group=None, instance_id=None):
        body = (string(group or self.group) + i32(generation) + string(member)
                + string(instance_id))
        r = Reader(self.conn.request(HEARTBEAT, 3, body))
        r.i32()
        err = r.i16()
        r.end()
        return err

    def leave(self, member, instance_id=None):
        body = string(self.group) + array([string(member) + string(instance_id)])
        r = Reader(self.conn.request(LEAVE_GROUP, 3, body))
        r.i32()
        err = r.i16()
        members = r.array(lambda r: (r.string(), r.string(), r.i16()))
        r.end()
        return err, members

    def commit(self, generation, member, offsets, metadata="m", topic=TOPIC, instance_id=None):
        """OffsetCommit v7 -> {partition: error}."""
        parts = [i32(p) + i64(o) + i32(-1) + string(metadata) for p, o in sorted(offsets.items())]
        body = (string(self.group) + i32(generation) + string(member) + string(instance_id)
                + array([string(topic) + array(parts)]))
        r = Reader(self.conn.request(OFFSET_COMMIT, 7, body))
        r.i32()
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        r.end()
        self.assertEqual([t for t, _ in topics], [topic], "OffsetCommit response %r" % topics)
        return dict(topics[0][1])

    def fetch_offsets(self, partitions):
        """OffsetFetch v5 -> (error, {partition: (offset, metadata, error)})."""
        body = string(self.group) + array([string(TOPIC) + array([i32(p) for p in partitions])])
        r = Reader(self.conn.request(OFFSET_FETCH, 5, body))
        r.i32()
        topics = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.i32(), r.string(), r.i16()))))
        err = r.i16()
        r.end()
        out = {}
        for name, parts in topics:
            self.assertEqual(name, TOPIC)
            for p, off, _epoch, md, perr in parts:
                out[p] = (off, md, perr)
        return err, out

    def describe(self, groups=None):
        """DescribeGroups v4 of self.group -> dict; of `groups` -> [dict]."""
        body = array([string(g) for g in (groups or [self.group])]) + i8(0)
        r = Reader(self.conn.request(DESCRIBE_GROUPS, 4, body))
        r.i32()

        def member(r):
            return {"member_id": r.string(), "instance_id": r.string(), "client_id": r.string(),
                    "client_host": r.string(), "metadata": r.nbytes(), "assignment": r.nbytes()}

        out = r.array(lambda r: {"error": r.i16(), "group": r.string(), "state": r.string(),
                                 "protocol_type": r.string(), "protocol": r.string(),
                                 "members": r.array(member), "ops": r.i32()})
        r.end()
        if groups:
            return out
        self.assertEqual(len(out), 1, "DescribeGroups answered %r" % out)
        return out[0]

    def list_groups(self):
        r = Reader(self.conn.request(LIST_GROUPS, 2, b""))
        r.i32()
        err = r.i16()
        groups = r.array(lambda r: (r.string(), r.string()))
        r.end()
        return err, dict(groups)

    def delete_groups(self, groups):
        r = Reader(self.conn.request(DELETE_GROUPS, 1, array([string(g) for g in groups])))
        r.i32()
        results = r.array(lambda r: (r.string(), r.i16()))
        r.end()
        return dict(results)

    # -- tests ------------------------------------------------------------
    def test_find_coordinator_names_this_broker(self):
        err, node, host, port = self.find_coordinator(self.group)
        self.assertEqual(err, NONE)
        self.assertGreaterEqual(node, 0)
        self.assertEqual((host, port), (self.host, self.port))

    def test_find_coordinator_v4_batched_keys(self):
        """FindCoordinator v4 (KIP-699, flexible) as the Java client sends it:
        several group keys in one request, an answer per key."""
        keys = [self.group + "-%d" % n for n in range(5)]
        body = i8(0) + bi.uvarint(len(keys) + 1) + b"".join(bi.compact_string(k) for k in keys) \
            + bi.uvarint(0)
        data = self.conn.request(FIND_COORDINATOR, 4, body, flexible=True)
        r = Reader(data[1:])  # response header v1: empty tagged fields

        def cstring(r):
            n = bi_uvarint_read(r) - 1
            return None if n < 0 else r.take(n).decode()

        r.i32()
        n = bi_uvarint_read(r) - 1
        got = []
        for _ in range(n):
            key, node, host, port, err = cstring(r), r.i32(), cstring(r), r.i32(), r.i16()
            cstring(r)  # error_message
            self.assertGreaterEqual(node, 0, "coordinator node id for %s" % key)
            self.assertEqual(bi_uvarint_read(r), 0, "tagged fields")
            got.append((key, err, host, port))
        self.assertEqual(bi_uvarint_read(r), 0)
        r.end()
        self.assertEqual(sorted(got), sorted((k, NONE, self.host, self.port) for k in keys),
                         "FindCoordinator v4 with %d keys" % len(keys))

    def test_offset_fetch_v8_several_groups(self):
        """OffsetFetch v8 (KIP-709, flexible) as the Java admin client sends it:
        several groups in one request (on different shards), one of them asking
        for all its offsets (null topics), one unknown."""
        base = self.group
        names = [base + "-a", base + "-b", base + "-c", base + "-unknown"]
        for n, name in enumerate(names[:3]):
            self.group = name
            self.assertEqual(self.commit(-1, "", {0: 10 + n, 1: 20 + n}), {0: NONE, 1: NONE})
        u = bi.uvarint

        def group_req(name, partitions):
            if partitions is None:
                topics = u(0)  # null: every committed offset
            else:
                topics = u(2) + bi.compact_string(TOPIC) + u(len(partitions) + 1) + b"".join(
                    i32(p) for p in partitions) + u(0)
            return bi.compact_string(name) + topics + u(0)

        body = (u(len(names) + 1) + group_req(names[0], [0, 1]) + group_req(names[1], None)
                + group_req(names[2], [1]) + group_req(names[3], [0]) + i8(0) + u(0))
        data = self.conn.request(OFFSET_FETCH, 8, body, flexible=True)
        r = Reader(data[1:])

        def cstring(r):
            n = bi_uvarint_read(r) - 1
            return None if n < 0 else r.take(n).decode()

        def carray(r, item):
            n = bi_uvarint_read(r) - 1
            return None if n < 0 else [item(r) for _ in range(n)]

        def partition(r):
            out = (r.i32(), r.i64(), r.i32(), cstring(r), r.i16())
            bi_uvarint_read(r)
            return out

        def topic(r):
            out = (cstring(r), carray(r, partition))
            bi_uvarint_read(r)
            return out

        def group(r):
            out = (cstring(r), carray(r, topic), r.i16())
            bi_uvarint_read(r)
            return out

        r.i32()
        groups = carray(r, group)
        bi_uvarint_read(r)
        r.end()
        got = {g: (err, {(t, p): (off, md, perr) for t, parts in topics for p, off, _, md, perr
                         in parts}) for g, topics, err in groups}
        self.assertEqual(got, {
            names[0]: (NONE, {(TOPIC, 0): (10, "m", NONE), (TOPIC, 1): (20, "m", NONE)}),
            names[1]: (NONE, {(TOPIC, 0): (11, "m", NONE), (TOPIC, 1): (21, "m", NONE)}),
            names[2]: (NONE, {(TOPIC, 1): (22, "m", NONE)}),
            names[3]: (NONE, {(TOPIC, 0): (-1, "", NONE)}),
        }, "OffsetFetch v8 for 4 groups")
        self.delete_groups(names[:3])

    def test_session_timeout_out_of_bounds(self):
        for ms in (5999, 1000, 1800001):
            got = self.join(session_ms=ms)
            self.assertEqual(got["error"], INVALID_SESSION_TIMEOUT,
                             "JoinGroup with session.timeout.ms=%d (bounds 6000..1800000): %r"
                             % (ms, got))

    def test_heartbeat_for_unknown_group(self):
        # Kafka: GroupIdNotFoundException is turned into UNKNOWN_MEMBER_ID.
        self.assertEqual(self.heartbeat("nobody", 1, group=self.group + "-missing"),
                         UNKNOWN_MEMBER_ID)

    def test_member_lifecycle_and_stale_generation(self):
        member, gen = self.join_as_leader()
        mine = consumer_assignment(TOPIC, [0, 1])
        # Stale generation before the real sync: ILLEGAL_GENERATION.
        err, _ = self.sync(member, gen - 1, [(member, mine)])
        self.assertEqual(err, ILLEGAL_GENERATION, "SyncGroup with generation %d of %d"
                         % (gen - 1, gen))
        err, _ = self.sync("not-a-member", gen, [])
        self.assertEqual(err, UNKNOWN_MEMBER_ID, "SyncGroup from an unknown member")
        err, got = self.sync(member, gen, [(member, mine)])
        self.assertEqual((err, got), (NONE, mine), "the leader's SyncGroup")

        self.assertEqual(self.heartbeat(member, gen), NONE)
        self.assertEqual(self.heartbeat(member, gen + 1), ILLEGAL_GENERATION,
                         "Heartbeat with a future generation")
        self.assertEqual(self.heartbeat(member, gen - 1), ILLEGAL_GENERATION,
                         "Heartbeat with a stale generation")
        self.assertEqual(self.heartbeat("not-a-member", gen), UNKNOWN_MEMBER_ID)

        d = self.describe()
        self.assertEqual((d["error"], d["state"], d["protocol_type"], d["protocol"]),
                         (NONE, "Stable", "consumer", "range"), "DescribeGroups %r" % d)
        self.assertEqual([(m["member_id"], m["client_id"], m["assignment"])
                          for m in d["members"]], [(member, bi.CLIENT_ID, mine)],
                         "DescribeGroups members %r" % d["members"])

        # SyncGroup v5 (flexible) carries the protocol type and name: a mismatch is
        # INCONSISTENT_GROUP_PROTOCOL; a match returns them with the assignment.
        u = bi.uvarint

        def sync_v5(ptype, pname):
            body = (bi.compact_string(self.group) + i32(gen) + bi.compact_string(member) + u(0)
                    + bi.compact_string(ptype) + bi.compact_string(pname) + u(1) + u(0))
            r = Reader(self.conn.request(SYNC_GROUP, 5, body, flexible=True)[1:])
            r.i32()
            err = r.i16()
            out = []
            for _ in range(2):
                n = bi_uvarint_read(r) - 1
                out.append(None if n < 0 else r.take(n).decode())
            n = bi_uvarint_read(r) - 1
            assignment = r.take(n)
            self.assertEqual(bi_uvarint_read(r), 0)
            r.end()
            return err, out[0], out[1], assignment

        self.assertEqual(sync_v5("consumer", "roundrobin")[0], INCONSISTENT_GROUP_PROTOCOL,
                         "SyncGroup v5 naming another protocol")
        self.assertEqual(sync_v5("consumer", "range"), (NONE, "consumer", "range", mine),
                         "SyncGroup v5 in Stable")

        other = self.connect()
        try:
            got = self.join(conn=other, protocols=("roundrobin",))
        finally:
            other.close()
        self.assertEqual(got["error"], INCONSISTENT_GROUP_PROTOCOL,
                         "a member offering only roundrobin to a range group: %r" % got)
        # Kafka's validateMember: a group.instance.id the group does not know is
        # UNKNOWN_MEMBER_ID even when the member id is a valid (dynamic) member.
        self.soft_equal(self.heartbeat(member, gen, instance_id="never-joined"),
                        UNKNOWN_MEMBER_ID, "Heartbeat of a valid member naming an unknown "
                        "group.instance.id")
        self.soft_equal(self.sync(member, gen, [], instance_id="never-joined")[0],
                        UNKNOWN_MEMBER_ID, "SyncGroup of a valid member naming an unknown "
                        "group.instance.id")
        self.soft_equal(self.commit(gen, member, {0: 1}, instance_id="never-joined"),
                        {0: UNKNOWN_MEMBER_ID}, "OffsetCommit of a valid member naming an "
                        "unknown group.instance.id")
        self.soft_equal(self.leave(member, "never-joined"),
                        (NONE, [(member, "never-joined", UNKNOWN_MEMBER_ID)]),
                        "LeaveGroup v3 of a valid member naming an unknown group.instance.id")
        if self.heartbeat(member, gen) != NONE:  # the wrong LeaveGroup removed it
            member, gen = self.join_as_leader()
            self.assertEqual(self.sync(member, gen, [(member, mine)])[0], NONE)

        self.assertEqual(self.commit(gen, member, {0: 5, 1: 7}), {0: NONE, 1: NONE},
                         "OffsetCommit by the member")
        self.assertEqual(self.commit(gen - 1, member, {0: 9}), {0: ILLEGAL_GENERATION},
                         "OffsetCommit with a stale generation")
        self.assertEqual(self.commit(-1, "", {0: 9}), {0: UNKNOWN_MEMBER_ID},
                         "OffsetCommit with generation -1 while the group has members")
        err, got = self.fetch_offsets([0, 1])
        self.assertEqual(err, NONE)
        self.assertEqual(got, {0: (5, "m", NONE), 1: (7, "m", NONE)},
                         "rejected commits must not change the offsets")

        self.assertEqual(self.delete_groups([self.group]), {self.group: NON_EMPTY_GROUP},
                         "DeleteGroups of a group with a live member")
        err, members = self.leave(member)
        self.assertEqual((err, members), (NONE, [(member, None, NONE)]), "LeaveGroup v3")
        self.assertEqual(self.heartbeat(member, gen), UNKNOWN_MEMBER_ID,
                         "Heartbeat after LeaveGroup")
        self.assertEqual(self.describe()["state"], "Empty")
        self.assertEqual(self.delete_groups([self.group]), {self.group: NONE},
                         "DeleteGroups of the Empty group")
        self.assertEqual(self.delete_groups([self.group]), {self.group: GROUP_ID_NOT_FOUND},
                         "DeleteGroups of a deleted group")
        err, got = self.fetch_offsets([0, 1])
        self.assertEqual((err, got), (NONE, {0: (-1, "", NONE), 1: (-1, "", NONE)}),
                         "DeleteGroups must remove the committed offsets")
        self.assert_soft()

    def test_simple_commit_to_empty_group(self):
        self.assertEqual(self.commit(-1, "", {0: 42, 1: 0}, metadata="hello"), {0: NONE, 1: NONE},
                         "OffsetCommit generation -1 to a new group")
        err, got = self.fetch_offsets([0, 1])
        self.assertEqual(err, NONE)
        self.assertEqual(got, {0: (42, "hello", NONE), 1: (0, "hello", NONE)})
        err, groups = self.list_groups()
        self.assertEqual(err, NONE)
        self.assertIn(self.group, groups, "ListGroups after a simple commit")
        self.assertEqual(self.describe()["state"], "Empty")
        # Committing again (an admin reset) is allowed while the group is Empty.
        self.assertEqual(self.commit(-1, "", {0: 40}), {0: NONE})
        self.assertEqual(self.fetch_offsets([0])[1], {0: (40, "m", NONE)})
        self.assertEqual(self.delete_groups([self.group]), {self.group: NONE})

    def offset_delete(self, partitions, group=None):
        """OffsetDelete v0 -> (error, {partition: error})."""
        body = string(group or self.group) + array([string(TOPIC) + array(
            [i32(p) for p in partitions])])
        r = Reader(self.conn.request(OFFSET_DELETE, 0, body))
        err = r.i16()
        r.i32()
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        r.end()
        return err, {p: e for _, parts in topics for p, e in parts}

    def test_offset_delete(self):
        """OffsetDelete v0: removes offsets of an Empty group; a group that does
        not exist -> GROUP_ID_NOT_FOUND (69); a live consumer group subscribed
        to the topic -> GROUP_SUBSCRIBED_TO_TOPIC (86) for its partitions."""
        self.assertEqual(self.commit(-1, "", {0: 8, 1: 9}), {0: NONE, 1: NONE})
        self.assertEqual(self.offset_delete([0]), (NONE, {0: NONE}))
        self.assertEqual(self.fetch_offsets([0, 1])[1], {0: (-1, "", NONE), 1: (9, "m", NONE)},
                         "OffsetFetch after OffsetDelete of partition 0")
        self.assertEqual(self.offset_delete([0], group=self.group + "-missing")[0],
                         GROUP_ID_NOT_FOUND)
        member, gen = self.join_as_leader()
        self.assertEqual(self.sync(member, gen, [(member, consumer_assignment(TOPIC, [0, 1]))])[0],
                         NONE)
        self.assertEqual(self.offset_delete([1]), (NONE, {1: GROUP_SUBSCRIBED_TO_TOPIC}),
                         "OffsetDelete while a member subscribes to the topic")
        self.assertEqual(self.fetch_offsets([1])[1], {1: (9, "m", NONE)})
        self.leave(member)
        self.assertEqual(self.offset_delete([1]), (NONE, {1: NONE}), "once the group is Empty")

    def test_empty_group_id_is_invalid(self):
        got = self.join(group="")
        self.assertEqual(got["error"], INVALID_GROUP_ID, "JoinGroup with group id '': %r" % got)

    def test_commit_checks_metadata_size_and_topic(self):
        self.assertEqual(self.commit(-1, "", {0: 1}, metadata="x" * 4097),
                         {0: OFFSET_METADATA_TOO_LARGE},
                         "metadata above offset.metadata.max.bytes (4096)")
        self.assertEqual(self.commit(-1, "", {0: 1}, metadata="x" * 4096), {0: NONE},
                         "metadata of exactly offset.metadata.max.bytes")
        self.assertEqual(self.commit(-1, "", {0: 1}, topic="it-groups-raw-no-such-topic"),
                         {0: UNKNOWN_TOPIC_OR_PARTITION}, "OffsetCommit to a missing topic")
        self.delete_groups([self.group])

    def join_static(self, instance):
        got = self.join(instance_id=instance)  # static: no MEMBER_ID_REQUIRED round trip
        self.assertEqual(got["error"], NONE, "static JoinGroup v5 with an empty member id: %r"
                         % got)
        member = got["member_id"]
        self.assertTrue(member)
        self.assertEqual([(m, i) for m, i, _ in got["members"]], [(member, instance)],
                         "the leader sees the member's group.instance.id")
        err, _ = self.sync(member, got["generation"], [(member, b"")])
        self.assertEqual(err, NONE)
        return member, got["generation"]

    def test_static_member_leave_by_instance_id(self):
        instance = "raw-static-" + gu.run_tag()
        member, gen = self.join_static(instance)
        self.assertEqual(self.heartbeat(member, gen, instance_id=instance), NONE)
        self.assertEqual(self.heartbeat("someone-else", gen, instance_id=instance),
                         FENCED_INSTANCE_ID, "Heartbeat naming the instance with another "
                         "member id")
        self.soft_equal(self.sync("someone-else", gen, [], instance_id=instance)[0],
                        FENCED_INSTANCE_ID, "SyncGroup naming the instance with another "
                        "member id")
        self.soft_equal(self.commit(gen, "someone-else", {0: 1}, instance_id=instance),
                        {0: FENCED_INSTANCE_ID}, "OffsetCommit naming the instance with another "
                        "member id")
        self.soft_equal(self.leave("someone-else", instance),
                        (NONE, [("someone-else", instance, FENCED_INSTANCE_ID)]),
                        "LeaveGroup v3 naming the instance with another member id (Kafka's "
                        "validateMember checks the instance before the member id)")
        err, members = self.leave("", instance)
        self.assertEqual((err, members), (NONE, [("", instance, NONE)]),
                         "LeaveGroup v3 by group.instance.id alone")
        self.assertEqual(self.describe()["state"], "Empty")
        self.assert_soft()

    def test_many_groups_in_one_request(self):
        # Groups live on the shard of their __consumer_offsets partition: one
        # DescribeGroups / DeleteGroups naming 24 of them spans every shard.
        names = ["%s-%02d" % (self.group, n) for n in range(24)]
        for n, name in enumerate(names):
            self.group = name
            self.assertEqual(self.commit(-1, "", {0: n, 1: 100 + n}), {0: NONE, 1: NONE})
        for n, name in enumerate(names):
            self.group = name
            self.assertEqual(self.fetch_offsets([0, 1]), (NONE, {0: (n, "m", NONE),
                                                                 1: (100 + n, "m", NONE)}))
        missing = [names[0] + "-missing", names[1] + "-missing"]
        described = self.describe(names + missing)
        self.assertEqual(sorted(d["group"] for d in described), sorted(names + missing),
                         "DescribeGroups of %d groups answered for %r"
                         % (len(names) + 2, [d["group"] for d in described]))
        states = {d["group"]: (d["error"], d["state"]) for d in described}
        self.assertEqual(states, dict([(g, (NONE, "Empty")) for g in names]
                                      + [(g, (NONE, "Dead")) for g in missing]),
                         "DescribeGroups v4: Empty for the groups, Dead (no error before v6) "
                         "for unknown ones")
        err, listed = self.list_groups()
        self.assertEqual(err, NONE)
        self.assertEqual(sorted(set(names) & set(listed)), sorted(names), "ListGroups")
        deleted = self.delete_groups(names + missing[:1])
        self.assertEqual(deleted, dict([(g, NONE) for g in names]
                                       + [(missing[0], GROUP_ID_NOT_FOUND)]),
                         "DeleteGroups of 24 groups and an unknown one")
        err, listed = self.list_groups()
        self.assertEqual(sorted(set(names) & set(listed)), [], "listed after DeleteGroups")

    def test_member_not_rejoining_is_removed_after_rebalance_timeout(self):
        """A raw member settles (rebalance timeout 8 s, session 30 s), then a
        librdkafka consumer joins. The raw member never rejoins: as in Kafka the
        join phase waits for it until the rebalance timeout (the members' largest,
        8 s), then completes without it, and the consumer gets every partition."""
        from confluent_kafka import Consumer
        member, gen = self.join_as_leader(session_ms=30000, rebalance_ms=8000)
        err, _ = self.sync(member, gen, [(member, consumer_assignment(TOPIC, [0, 1]))])
        self.assertEqual(err, NONE)
        consumer = Consumer({"bootstrap.servers": gu.bootstrap(), "group.id": self.group,
                             "session.timeout.ms": 6000, "max.poll.interval.ms": 8000,
                             "heartbeat.interval.ms": 1000, "enable.auto.commit": False})
        try:
            start = time.monotonic()
            consumer.subscribe([TOPIC])
            while len(consumer.assignment()) < 2:
                self.assertLess(time.monotonic() - start, 25,
                                "the consumer got no full assignment within 25 s: %r; group %r"
                                % (consumer.assignment(), self.describe()))
                consumer.poll(0.2)
            took = time.monotonic() - start
            print("the consumer got both partitions %.1fs after subscribing" % took)
            self.assertGreater(took, 6.0, "the join phase ended %.1fs after the consumer "
                               "joined, before the old member's rebalance timeout (8 s)" % took)
            self.assertEqual(self.heartbeat(member, gen), UNKNOWN_MEMBER_ID,
                             "the member that did not rejoin must be gone")
            d = self.describe()
            self.assertEqual((d["state"], len(d["members"])), ("Stable", 1), "DescribeGroups %r" % d)
        finally:
            consumer.close()

    def test_oldest_versions_round_trip(self):
        """JoinGroup v1 (no MEMBER_ID_REQUIRED before v4), SyncGroup v0,
        Heartbeat v0, OffsetCommit v2 (retention_time), OffsetFetch v1,
        LeaveGroup v0: the versions old clients (and kafka-python) speak."""
        meta = consumer_metadata([TOPIC])
        body = (string(self.group) + i32(SESSION_MS) + i32(20000) + string("")
                + string("consumer") + array([string("range") + nbytes(meta)]))
        r = Reader(self.conn.request(JOIN_GROUP, 1, body))
        err, gen, proto, leader, member = r.i16(), r.i32(), r.string(), r.string(), r.string()
        members = r.array(lambda r: (r.string(), r.nbytes()))
        r.end()
        self.assertEqual((err, proto, leader), (NONE, "range", member),
                         "JoinGroup v1 with an empty member id joins at once")
        self.assertEqual(members, [(member, meta)])
        mine = consumer_assignment(TOPIC, [0, 1])
        r = Reader(self.conn.request(SYNC_GROUP, 0, string(self.group) + i32(gen) + string(member)
                                     + array([string(member) + nbytes(mine)])))
        self.assertEqual((r.i16(), r.nbytes()), (NONE, mine), "SyncGroup v0")
        r.end()
        r = Reader(self.conn.request(HEARTBEAT, 0, string(self.group) + i32(gen) + string(member)))
        self.assertEqual(r.i16(), NONE, "Heartbeat v0")
        r.end()
        parts = [i32(0) + i64(11) + string("old"), i32(1) + i64(12) + string(None)]
        r = Reader(self.conn.request(OFFSET_COMMIT, 2, string(self.group) + i32(gen)
                                     + string(member) + i64(-1)
                                     + array([string(TOPIC) + array(parts)])))
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        r.end()
        self.assertEqual(topics, [(TOPIC, [(0, NONE), (1, NONE)])], "OffsetCommit v2")
        r = Reader(self.conn.request(OFFSET_FETCH, 1, string(self.group)
                                     + array([string(TOPIC) + array([i32(0), i32(1)])])))
        topics = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16()))))
        r.end()
        self.assertEqual(topics, [(TOPIC, [(0, 11, "old", NONE), (1, 12, "", NONE)])],
                         "OffsetFetch v1 (a null metadata reads back as empty)")
        r = Reader(self.conn.request(LEAVE_GROUP, 0, string(self.group) + string(member)))
        self.assertEqual(r.i16(), NONE, "LeaveGroup v0")
        r.end()
        self.assertEqual(self.describe()["state"], "Empty")

    def test_commits_and_heartbeats_during_a_rebalance(self):
        """Kafka's rules while a second member joins: in PreparingRebalance a
        Heartbeat gets REBALANCE_IN_PROGRESS but an OffsetCommit of the current
        generation is stored; in CompletingRebalance a commit gets
        REBALANCE_IN_PROGRESS and a heartbeat is fine; after the SyncGroups both
        work again and each member got the leader's assignment for it."""
        a, g1 = self.join_as_leader()
        self.assertEqual(self.sync(a, g1, [(a, consumer_assignment(TOPIC, [0, 1]))])[0], NONE)
        bconn = self.connect()
        try:
            first = self.join(conn=bconn)
            self.assertEqual(first["error"], MEMBER_ID_REQUIRED)
            b = first["member_id"]
            self.assertEqual(self.heartbeat(a, g1), NONE, "a pending member is no rebalance")
            cb = self.send_only(bconn, JOIN_GROUP, 5, self.join_body(b))
            time.sleep(0.3)  # B's join is parked: PreparingRebalance
            self.assertEqual(self.heartbeat(a, g1), REBALANCE_IN_PROGRESS,
                             "Heartbeat in PreparingRebalance")
            d = self.describe()
            # Kafka's DescribeGroups outside Stable: no protocol, members without
            # metadata or assignment.
            self.soft_equal((d["state"], d["protocol"], [(m["metadata"], m["assignment"])
                                                         for m in d["members"]]),
                            ("PreparingRebalance", "", [(b"", b"")] * 2),
                            "DescribeGroups in PreparingRebalance (state, protocol, members)")
            self.assertEqual(self.commit(g1, a, {0: 3}), {0: NONE},
                             "OffsetCommit of the current generation in PreparingRebalance")
            ja = self.join(a)
            jb = self.parse_join(self.receive(bconn, cb))
            self.assertEqual((ja["error"], jb["error"]), (NONE, NONE))
            g2 = ja["generation"]
            self.assertEqual((jb["generation"], ja["leader"], jb["leader"]), (g2, a, a),
                             "the rejoining leader stays leader: %r %r" % (ja, jb))
            self.assertGreater(g2, g1)
            self.assertEqual(self.commit(g2, a, {0: 4}), {0: REBALANCE_IN_PROGRESS},
                             "OffsetCommit in CompletingRebalance")
            self.assertEqual(self.commit(g1, a, {0: 4}), {0: ILLEGAL_GENERATION},
                             "OffsetCommit of the previous generation")
            self.assertEqual(self.heartbeat(a, g2), NONE, "Heartbeat in CompletingRebalance")
            d = self.describe()
            self.soft_equal((d["state"], d["protocol"], sorted(m["member_id"] for m in d["members"]),
                             [(m["metadata"], m["assignment"]) for m in d["members"]]),
                            ("CompletingRebalance", "", sorted([a, b]), [(b"", b"")] * 2),
                            "DescribeGroups in CompletingRebalance (state, protocol, members)")
            cs = self.send_only(bconn, SYNC_GROUP, 3, self.sync_body(b, g2, []))
            mine, theirs = consumer_assignment(TOPIC, [0]), consumer_assignment(TOPIC, [1])
            self.assertEqual(self.sync(a, g2, [(a, mine), (b, theirs)]), (NONE, mine))
            r = Reader(self.receive(bconn, cs))
            r.i32()
            self.assertEqual((r.i16(), r.nbytes()), (NONE, theirs), "the follower's SyncGroup")
            self.assertEqual(self.commit(g2, a, {0: 5}), {0: NONE})
            self.assertEqual(self.fetch_offsets([0])[1], {0: (5, "m", NONE)})
            d = self.describe()
            self.assertEqual((d["state"], d["protocol"], sorted(
                (m["member_id"], m["assignment"]) for m in d["members"])),
                ("Stable", "range", sorted([(a, mine), (b, theirs)])), "DescribeGroups Stable")
            self.leave(a)
            r = Reader(bconn.request(LEAVE_GROUP, 3, string(self.group)
                                     + array([string(b) + string(None)])))
        finally:
            bconn.close()
        self.assert_soft()

    def test_leader_leaving_before_sync_restarts_the_rebalance(self):
        """Two raw members join one generation. The follower's SyncGroup waits
        for the leader's; the leader leaves instead: the waiting SyncGroup is
        answered REBALANCE_IN_PROGRESS (27), and the follower's rejoin makes it
        leader of the next generation."""
        a, b = self.connect(), self.connect()
        try:
            ids = {}
            for name, conn in (("a", a), ("b", b)):
                got = self.join(conn=conn)
                self.assertEqual(got["error"], MEMBER_ID_REQUIRED)
                ids[name] = got["member_id"]
            ca = self.send_only(a, JOIN_GROUP, 5, self.join_body(ids["a"]))
            cb = self.send_only(b, JOIN_GROUP, 5, self.join_body(ids["b"]))
            ja, jb = self.parse_join(self.receive(a, ca)), self.parse_join(self.receive(b, cb))
            self.assertEqual((ja["error"], jb["error"]), (NONE, NONE), "joins %r %r" % (ja, jb))
            gen = ja["generation"]
            self.assertEqual(jb["generation"], gen)
            self.assertEqual(ja["leader"], jb["leader"])
            self.assertIn(ja["leader"], ids.values())
            leader_is_a = ja["leader"] == ids["a"]
            lconn, fconn = (a, b) if leader_is_a else (b, a)
            leader, follower = (ids["a"], ids["b"]) if leader_is_a else (ids["b"], ids["a"])
            self.assertEqual(sorted(m for m, _, _ in (ja if leader_is_a else jb)["members"]),
                             sorted(ids.values()), "the leader gets both members")
            self.assertEqual((ja if not leader_is_a else jb)["members"], [],
                             "a follower gets no member list")

            cf = self.send_only(fconn, SYNC_GROUP, 3, self.sync_body(follower, gen, []))
            time.sleep(0.3)  # the follower's SyncGroup is parked
            lr = Reader(lconn.request(LEAVE_GROUP, 3, string(self.group)
                                      + array([string(leader) + string(None)])))
            lr.i32()
            self.assertEqual((lr.i16(), lr.array(lambda r: (r.string(), r.string(), r.i16()))),
                             (NONE, [(leader, None, NONE)]))
            fconn.sock.settimeout(IO_TIMEOUT_S)
            r = Reader(self.receive(fconn, cf))
            r.i32()
            err, assignment = r.i16(), r.nbytes()
            self.assertEqual(err, REBALANCE_IN_PROGRESS,
                             "the parked SyncGroup after the leader left: error %d" % err)
            self.assertIn(assignment, (b"", None))
            again = self.join(follower, conn=fconn)
            self.assertEqual((again["error"], again["leader"], again["generation"]),
                             (NONE, follower, gen + 1), "the follower's rejoin: %r" % again)
            r = Reader(fconn.request(SYNC_GROUP, 3, self.sync_body(
                follower, gen + 1, [(follower, consumer_assignment(TOPIC, [0, 1]))])))
            r.i32()
            self.assertEqual(r.i16(), NONE)
            r = Reader(fconn.request(LEAVE_GROUP, 3, string(self.group)
                                     + array([string(follower) + string(None)])))
        finally:
            a.close()
            b.close()

    def test_truncated_join_group_closes_connection(self):
        full = (string(self.group) + i32(SESSION_MS) + i32(20000) + string("") + string(None)
                + string("consumer") + array([string("range") + nbytes(consumer_metadata([TOPIC]))]))
        for cut in (len(full) - 3, len(string(self.group)) + 2, 1):
            with self.subTest(cut=cut):
                conn = self.connect()
                try:
                    conn.send(bi.frame(JOIN_GROUP, 5, 99, full[:cut]))
                    kind, got = conn.outcome()
                finally:
                    conn.close()
                self.assertEqual(kind, "closed", "JoinGroup v5 body cut at %d of %d bytes: "
                                 "expected the connection to be closed, got %r"
                                 % (cut, len(full), got[:64] if got else got))
        # A well-formed request still works (MEMBER_ID_REQUIRED) on a new connection.
        conn = self.connect()
        try:
            self.assertEqual(self.join(conn=conn)["error"], MEMBER_ID_REQUIRED)
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
