"""Classic consumer groups with kafka-python 2.0.2 (pure Python; FindCoordinator
v0, JoinGroup v2, SyncGroup/Heartbeat/LeaveGroup v1, OffsetCommit v2,
OffsetFetch v1), three members in threads of this process.

For each of kafka-python's assignors (range, roundrobin), on a 6-partition topic
holding RECORDS keyed records:
  * three KafkaConsumers subscribe in one group and read every record;
  * the group settles with every partition owned by exactly one member, each
    member owning some, and no partition was ever held by two members at once
    (ConsumerRebalanceListener intervals);
  * one member closes (LeaveGroup): its partitions move to the two others,
    which read records produced afterwards on every partition;
  * ListGroups/DescribeGroups (KafkaAdminClient) report the Stable group and
    each member's assignment as the members hold it;
  * the survivors' commits are visible to a fresh consumer's committed() and
    to the admin client's OffsetFetch; DeleteGroups of the Empty group removes
    it and its offsets.

Environment: SLUICE_BOOTSTRAP.
"""

import threading
import time

import pytest
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

import groups_util as gu

PARTITIONS = 6
RECORDS = 20000
AFTER_LEAVE = 600
ASSIGNORS = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}


class ThreadMember(ConsumerRebalanceListener):
    """One KafkaConsumer polled by its own thread; events in groups_util's format."""

    def __init__(self, boot, group, topic, name, assignor):
        self.name, self.topic = name, topic
        self.events, self.lock = [], threading.Lock()
        self.killed_at = None
        self.stop = threading.Event()
        self.failure = None
        self.consumer = KafkaConsumer(
            bootstrap_servers=boot, group_id=group, client_id=name,
            auto_offset_reset="earliest", enable_auto_commit=True, auto_commit_interval_ms=1000,
            session_timeout_ms=gu.SESSION_MS, heartbeat_interval_ms=1000,
            max_poll_interval_ms=30000, request_timeout_ms=40000,
            partition_assignment_strategy=[assignor])
        self.consumer.subscribe([topic], listener=self)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _emit(self, ev, **kw):
        kw["e"], kw["t"] = ev, time.monotonic()
        with self.lock:
            self.events.append(kw)

    # ConsumerRebalanceListener
    def on_partitions_revoked(self, revoked):
        self._emit("revoke", p=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned):
        self._emit("assign", p=sorted(tp.partition for tp in assigned))

    def _run(self):
        try:
            while not self.stop.is_set():
                batch = self.consumer.poll(timeout_ms=200, max_records=1000)
                recs = [[tp.partition, r.offset] for tp, rs in batch.items() for r in rs]
                if recs:
                    self._emit("recs", r=recs, n=len(recs))
            self.consumer.close()  # commits, then LeaveGroup
            self._emit("closed")
        except Exception as e:  # reported by the test
            self.failure = repr(e)
            self._emit("crash", str=repr(e))

    def close(self, timeout_s=30):
        self.stop.set()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "%s did not close within %ds" % (self.name, timeout_s)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def owned(self):
        return gu.owned_from_events(self.snapshot())

    def records(self):
        return [(p, o) for ev in self.snapshot() if ev["e"] == "recs" for p, o in ev["r"]]

    def errors(self):
        return [ev for ev in self.snapshot() if ev["e"] == "crash"]


def _read_set(members):
    got = set()
    for m in members:
        got.update(m.records())
    return got


@pytest.mark.parametrize("assignor", ["range", "roundrobin"])
def test_three_members_share_and_one_leaves(assignor):
    boot = gu.bootstrap()
    tag = gu.run_tag()
    topic = "it-groups-kp-%s-%s" % (assignor, tag)
    group = "it-groups-kp-%s-%s" % (assignor, tag)
    gu.create_topic(boot, topic, PARTITIONS)
    acks = gu.produce_keyed(boot, topic, RECORDS)
    want = set(acks)

    members = []
    try:
        for n in range(3):
            members.append(ThreadMember(boot, group, topic, "kp-%s-m%d" % (assignor, n),
                                        ASSIGNORS[assignor]))
        try:
            gu.wait_for(lambda: want <= _read_set(members), 90,
                        "the three kafka-python members to read all records")
        except AssertionError:
            raise AssertionError("%s: %d of %d records read; ownership %r; failures %r"
                                 % (assignor, len(want & _read_set(members)), len(want),
                                    {m.name: sorted(m.owned()) for m in members},
                                    {m.name: m.failure for m in members if m.failure}))
        assert _read_set(members) <= want, "records read that were never produced"
        owned = gu.wait_stable(members, PARTITIONS, 45)
        print("%s: stable ownership %r" % (assignor, {k: sorted(v) for k, v in owned.items()}))
        gu.assert_no_double_ownership(members)
        assert not any(m.failure for m in members), [m.failure for m in members]

        # kafka-python's admin client: ListGroups and DescribeGroups agree.
        admin = KafkaAdminClient(bootstrap_servers=boot, client_id="kp-groups-admin")
        try:
            listed = dict(admin.list_consumer_groups())
            assert listed.get(group) == "consumer", "ListGroups: %r" % listed
            info = admin.describe_consumer_groups([group])[0]
        finally:
            admin.close()
        assert (info.error_code, info.group, info.state, info.protocol_type, info.protocol) == \
            (0, group, "Stable", "consumer", assignor), "DescribeGroups: %r" % (info,)
        described = {m.client_id: sorted(p for t, ps in m.member_assignment.assignment
                                         if t == topic for p in ps) for m in info.members}
        assert described == {k: sorted(v) for k, v in owned.items()}, (
            "DescribeGroups assignments %r, the members hold %r" % (described, owned))

        leaver, survivors = members[0], members[1:]
        left_at = time.monotonic()
        leaver.close()
        assert leaver.failure is None, "%s: close failed: %s" % (leaver.name, leaver.failure)
        # LeaveGroup triggers the rebalance at once: far below the session timeout.
        after = gu.wait_stable(survivors, PARTITIONS, 20, quiet_s=1.0)
        print("%s: after %s left (%.1fs): %r" % (assignor, leaver.name, time.monotonic() - left_at,
                                                  {k: sorted(v) for k, v in after.items()}))
        more = gu.produce_keyed(boot, topic, AFTER_LEAVE, first=RECORDS)
        try:
            gu.wait_for(lambda: set(more) <= _read_set(survivors), 30,
                        "the survivors to read the records produced after the leave")
        except AssertionError:
            missing = set(more) - _read_set(survivors)
            raise AssertionError("%s: %d records produced after the leave not read, partitions "
                                 "%r" % (assignor, len(missing), sorted({p for p, _ in missing})))
        gu.assert_no_double_ownership(members)
        # Close one at a time, letting the last one settle with every partition, so
        # that its close() commits outside a rebalance.
        survivors[0].close()
        gu.wait_stable(survivors[1:], PARTITIONS, 20, quiet_s=1.0)
        survivors[1].close()
        for m in survivors:
            assert m.failure is None, "%s: %s" % (m.name, m.failure)

        # close() committed what was read: a fresh consumer sees the end offsets.
        hw = gu.high_watermarks(boot, topic, PARTITIONS)
        probe = KafkaConsumer(bootstrap_servers=boot, group_id=group, enable_auto_commit=False)
        try:
            committed = {p: probe.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
        finally:
            probe.close()
        assert committed == hw, ("committed offsets after every member closed %r, want the "
                                 "high watermarks %r" % (committed, hw))

        # The Empty group: the admin client's OffsetFetch (all partitions), then
        # DeleteGroups, after which the group and its offsets are gone.
        admin = KafkaAdminClient(bootstrap_servers=boot, client_id="kp-groups-admin")
        try:
            offsets = admin.list_consumer_group_offsets(group)
            assert {tp.partition: om.offset for tp, om in offsets.items()
                    if tp.topic == topic} == hw, "OffsetFetch (all): %r" % offsets
            assert admin.describe_consumer_groups([group])[0].state == "Empty"
            res = admin.delete_consumer_groups([group])
            # (kafka-python returns the error class, not an instance)
            assert [(g, getattr(e, "__name__", type(e).__name__)) for g, e in res] == \
                [(group, "NoError")], "DeleteGroups: %r" % res
            assert admin.list_consumer_group_offsets(group) == {}, "offsets after DeleteGroups"
            assert group not in dict(admin.list_consumer_groups()), "listed after DeleteGroups"
        finally:
            admin.close()
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.thread.join(10)
