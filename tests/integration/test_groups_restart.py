"""Committed offsets survive a broker restart (they live in __consumer_offsets and
are reloaded at start), with confluent-kafka (librdkafka 2.0.2).

Starts its own broker (groups_util.OwnBroker: SLUICED on a free port, its own
data directory), because it restarts it.

test_committed_offsets_survive_sigterm_and_kill9
  1. a member of group G reads part of a 3-partition topic and commits
     synchronously (OffsetCommit) what it read; committed() shows it;
  2. SIGTERM, start again: a new consumer in G gets the same offsets from
     committed() (OffsetFetch) and, subscribed, reads exactly the rest: nothing
     below the committed offsets, everything from them to the end;
  3. it reads part of newly produced records and commits; kill -9 (the member
     still live), start again: a third consumer sees those commits and reads
     exactly the rest. A commit acknowledged before a kill -9 is never lost.
  Checked before and after each restart: a group with 200 successive simple
  commits (generation -1; 100 more right before the kill -9) keeps the last
  one, and a group removed with DeleteGroups (kafka-python's admin client)
  stays removed: no offsets, not in ListGroups.
test_commits_acknowledged_before_kill9_survive
  four groups commit increasing offsets in a tight loop (raw OffsetCommit v7);
  kill -9 mid-stream; after the restart each group holds at least its last
  acknowledged offset.
test_offsets_of_a_deleted_topic_are_removed
  a group's offsets of a deleted topic go with it (Kafka's
  onPartitionsDeleted): a topic created again under the same name is read
  from offset 0, also after a restart.
test_stable_group_rides_through_restarts
  two members settle, the broker restarts (SIGTERM, then kill -9) under
  them; as with Kafka's coordinator failover the group is reloaded with its
  generation and members, so nobody rebalances, and records produced after
  each restart are read.

Environment: SLUICED (broker binary), SLUICE_STATE_DIR (scratch space).
"""

import threading
import time
import unittest

from confluent_kafka import Consumer, KafkaException, TopicPartition
from kafka import KafkaAdminClient

import groups_util as gu
import test_bad_input as bi

PARTITIONS = 3
TOPIC = "it-groups-restart"
GROUP = "it-groups-restart-g"
GROUP_MANY = "it-groups-restart-many"
GROUP_DELETED = "it-groups-restart-deleted"
COMMITS = 200


class GroupsRestart(unittest.TestCase):

    def setUp(self):
        self.broker = gu.OwnBroker()
        self.broker.start()
        self.consumers = []

    def tearDown(self):
        for c in self.consumers:
            try:
                c.close()
            except (RuntimeError, KafkaException):
                pass
        self.broker.cleanup()

    def consumer(self):
        c = Consumer({"bootstrap.servers": self.broker.boot, "group.id": GROUP,
                      "client.id": "it-groups-restart", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "enable.partition.eof": False,
                      "session.timeout.ms": gu.SESSION_MS, "heartbeat.interval.ms": 1000})
        self.consumers.append(c)
        return c

    def close(self, c):
        c.close()
        self.consumers.remove(c)

    def committed(self, c, timeout_s=30):
        """committed() for every partition, retried while the coordinator loads."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                res = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)],
                                  timeout=10)
                errs = [tp.error for tp in res if tp.error]
                if not errs:
                    return {tp.partition: tp.offset for tp in res}
                last = errs
            except KafkaException as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("committed() failed for %ds: %s" % (timeout_s, last))
            time.sleep(0.5)

    def read(self, c, stop, timeout_s=60):
        """Polls until stop(records) is true; returns [(partition, offset)]."""
        got = []
        deadline = time.monotonic() + timeout_s
        while not stop(got):
            self.assertLess(time.monotonic(), deadline, "reading stalled: %d records after %ds"
                            % (len(got), timeout_s))
            for m in c.consume(num_messages=200, timeout=0.5):
                if m.error() is not None:
                    if m.error().fatal():
                        self.fail("consumer error: %s" % m.error())
                    continue
                got.append((m.partition(), m.offset()))
        return got

    def read_part_and_commit(self, c, hw, want):
        """Reads at least `want` records, commits what was read (per partition
        the next offset) synchronously; returns the committed map."""
        c.subscribe([TOPIC])
        got = self.read(c, lambda g: len(g) >= want)
        nxt = {}
        for p, o in got:
            nxt[p] = max(nxt.get(p, 0), o + 1)
        res = c.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in sorted(nxt.items())],
                       asynchronous=False)
        bad = [(tp.partition, tp.error) for tp in res if tp.error]
        self.assertEqual(bad, [], "OffsetCommit failed per partition")
        return nxt

    def resume_and_check(self, committed, hw, what):
        """A new consumer: committed() returns `committed`, and subscribed it reads
        exactly [committed[p], hw[p]) of every partition (no earlier records)."""
        c = self.consumer()
        got = self.committed(c)
        want = {p: committed.get(p, -1001) for p in range(PARTITIONS)}  # -1001: OFFSET_INVALID
        self.assertEqual(got, want, "%s: committed() after the restart" % what)
        start = {p: (o if o >= 0 else 0) for p, o in want.items()}
        expect = {(p, o) for p in range(PARTITIONS) for o in range(start[p], hw[p])}
        c.subscribe([TOPIC])
        read = self.read(c, lambda g: expect <= set(g))
        early = sorted({(p, o) for p, o in read if o < start[p]})
        self.assertEqual(early, [], "%s: read records below the committed offsets %r" % (
            what, start))
        return c

    def many_commits(self, first, last):
        """Simple commits (generation -1, no membership) to GROUP_MANY, one a call:
        offsets i and 2i for i = first..last."""
        c = Consumer({"bootstrap.servers": self.broker.boot, "group.id": GROUP_MANY,
                      "enable.auto.commit": False})
        try:
            for i in range(first, last + 1):
                res = c.commit(offsets=[TopicPartition(TOPIC, 0, i), TopicPartition(TOPIC, 1, 2 * i)],
                               asynchronous=False)
                self.assertEqual([tp.error for tp in res if tp.error], [], "commit %d" % i)
        finally:
            c.close()

    def other_groups_before(self):
        """GROUP_MANY: 200 successive simple commits (generation -1, no
        membership); GROUP_DELETED: a commit, then DeleteGroups."""
        self.many_commits(1, COMMITS)
        c = Consumer({"bootstrap.servers": self.broker.boot, "group.id": GROUP_DELETED,
                      "enable.auto.commit": False})
        try:
            c.commit(offsets=[TopicPartition(TOPIC, 0, 7)], asynchronous=False)
        finally:
            c.close()
        admin = KafkaAdminClient(bootstrap_servers=self.broker.boot)
        try:
            res = admin.delete_consumer_groups([GROUP_DELETED])
            self.assertEqual([(g, getattr(e, "__name__", e)) for g, e in res],
                             [(GROUP_DELETED, "NoError")])
        finally:
            admin.close()
        self.check_other_groups("before any restart")

    def check_other_groups(self, what, commits=COMMITS):
        c = Consumer({"bootstrap.servers": self.broker.boot, "group.id": GROUP_MANY,
                      "enable.auto.commit": False})
        try:
            self.assertEqual(self.committed(c), {0: commits, 1: 2 * commits, 2: -1001},
                             "%s: the last of %d commits must win" % (what, commits))
        finally:
            c.close()
        c = Consumer({"bootstrap.servers": self.broker.boot, "group.id": GROUP_DELETED,
                      "enable.auto.commit": False})
        try:
            self.assertEqual(self.committed(c), {p: -1001 for p in range(PARTITIONS)},
                             "%s: offsets of a deleted group" % what)
        finally:
            c.close()
        admin = KafkaAdminClient(bootstrap_servers=self.broker.boot)
        try:
            listed = dict(admin.list_consumer_groups())
        finally:
            admin.close()
        if what != "before any restart":
            self.assertIn(GROUP, listed, "%s: ListGroups" % what)
        self.assertIn(GROUP_MANY, listed, "%s: ListGroups" % what)
        self.assertNotIn(GROUP_DELETED, listed, "%s: a deleted group is listed" % what)

    def test_committed_offsets_survive_sigterm_and_kill9(self):
        gu.create_topic(self.broker.boot, TOPIC, PARTITIONS)
        gu.produce_keyed(self.broker.boot, TOPIC, 3000)
        hw = gu.high_watermarks(self.broker.boot, TOPIC, PARTITIONS)
        self.assertEqual(sum(hw.values()), 3000)
        self.other_groups_before()

        c = self.consumer()
        committed = self.read_part_and_commit(c, hw, 1200)
        self.assertEqual(self.committed(c), {p: committed.get(p, -1001)
                                             for p in range(PARTITIONS)},
                         "committed() before any restart")
        self.close(c)
        print("committed before SIGTERM: %r (high watermarks %r)" % (committed, hw))

        self.broker.stop()
        self.broker.start()
        c = self.resume_and_check(committed, hw, "after SIGTERM")
        self.check_other_groups("after SIGTERM")

        # Commit the end, produce more, read part of it and commit that.
        res = c.commit(offsets=[TopicPartition(TOPIC, p, hw[p]) for p in range(PARTITIONS)],
                       asynchronous=False)
        self.assertEqual([tp.error for tp in res if tp.error], [])
        self.close(c)
        gu.produce_keyed(self.broker.boot, TOPIC, 1500, first=3000)
        hw2 = gu.high_watermarks(self.broker.boot, TOPIC, PARTITIONS)
        c = self.consumer()
        part = self.read_part_and_commit(c, hw2, 600)
        committed2 = dict(hw)
        committed2.update(part)
        self.assertEqual(self.committed(c), committed2, "committed() before the kill -9")
        print("committed before kill -9: %r (high watermarks %r)" % (committed2, hw2))
        # 100 more acknowledged commits right before the crash: none may be lost.
        self.many_commits(COMMITS + 1, COMMITS + 100)
        # No close(): the broker dies under a live member, as in a crash.
        self.broker.kill9()
        self.consumers.remove(c)
        try:
            c.close()  # may take a while without a broker; it only frees resources
        except (RuntimeError, KafkaException):
            pass
        self.broker.start()
        c = self.resume_and_check(committed2, hw2, "after kill -9")
        self.close(c)
        self.check_other_groups("after kill -9", commits=COMMITS + 100)

    def test_stable_group_rides_through_restarts(self):
        """Two members settle; the broker restarts under them (SIGTERM, then
        kill -9), each time well within session.timeout.ms. As with Kafka's
        coordinator failover, the reloaded group keeps its generation and
        members: the members' heartbeats are accepted and nobody sees a
        rebalance. Records produced after each restart are read."""
        topic = group = "it-groups-ride"
        gu.create_topic(self.broker.boot, topic, 4)
        acks = gu.produce_keyed(self.broker.boot, topic, 400)
        members = [gu.MemberProc(self.broker.boot, group, topic, "ride-%d" % n,
                                 session_ms=15000, log_dir=self.broker.work) for n in range(2)]

        def read():
            return set(members[0].records()) | set(members[1].records())

        try:
            owned = gu.wait_stable(members, 4, 45)
            gu.wait_for(lambda: set(acks) <= read(), 30, "the members to read the records")
            first = 400
            for how in ("SIGTERM", "kill -9"):
                mark = time.monotonic()
                if how == "kill -9":
                    self.broker.kill9()
                else:
                    self.broker.stop()
                self.broker.start()
                more = gu.produce_keyed(self.broker.boot, topic, 400, first=first)
                first += 400
                try:
                    gu.wait_for(lambda: set(more) <= read(), 40,
                                "the members to read records produced after the restart")
                except AssertionError:
                    raise AssertionError("%s: records produced after the restart not read; "
                                         "member events since the restart: %r"
                                         % (how, {m.name: [e for e in m.snapshot()
                                                           if e["t"] > mark and e["e"] != "recs"][:6]
                                                  for m in members}))
                callbacks = {m.name: [(e["e"], e["p"]) for e in m.snapshot() if e["t"] > mark
                                      and e["e"] in ("assign", "revoke", "lost")] for m in members}
                self.assertEqual(callbacks, {m.name: [] for m in members},
                                 "a broker restart (%s) made the members rebalance: the group "
                                 "was not reloaded with its generation and members (Kafka "
                                 "keeps them)" % how)
                self.assertEqual({m.name: m.owned() for m in members}, owned)
        finally:
            for m in members:
                m.kill()
    def test_commits_acknowledged_before_kill9_survive(self):
        """Four groups (on different __consumer_offsets partitions, so different
        shards) commit increasing offsets as fast as they can, each over its own
        raw connection (OffsetCommit v7, generation -1); the broker is killed
        with SIGKILL in the middle. After the restart each group's offset is at
        least the last one acknowledged (and at most the last one sent)."""
        gu.create_topic(self.broker.boot, TOPIC, PARTITIONS)
        host, port = "127.0.0.1", self.broker.port
        conn = bi.Conn(host, port)
        try:  # FindCoordinator creates __consumer_offsets
            deadline = time.monotonic() + 30
            while True:
                r = bi.Reader(conn.request(10, 1, bi.string("probe") + bi.i8(0)))
                r.i32()
                if r.i16() == 0:
                    break
                self.assertLess(time.monotonic(), deadline, "no coordinator after 30 s")
                time.sleep(0.2)
        finally:
            conn.close()
        groups = ["it-groups-crash-%d" % n for n in range(4)]
        acked = {g: 0 for g in groups}
        sent = {g: 0 for g in groups}
        errors = []

        def commit_loop(group):
            c = bi.Conn(host, port)
            try:
                n = 0
                while True:
                    n += 1
                    part = bi.i32(0) + bi.i64(n) + bi.i32(-1) + bi.string(None)
                    body = (bi.string(group) + bi.i32(-1) + bi.string("") + bi.string(None)
                            + bi.array([bi.string(TOPIC) + bi.array([part])]))
                    sent[group] = n
                    r = bi.Reader(c.request(8, 7, body))
                    r.i32()
                    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
                    if topics != [(TOPIC, [(0, 0)])]:
                        errors.append("%s commit %d: %r" % (group, n, topics))
                        return
                    acked[group] = n
            except (OSError, bi.Closed, AssertionError):
                return  # the broker died
            finally:
                c.close()

        threads = [threading.Thread(target=commit_loop, args=(g,), daemon=True) for g in groups]
        for t in threads:
            t.start()
        time.sleep(2.0)
        self.broker.kill9()
        for t in threads:
            t.join(20)
        self.assertEqual(errors, [])
        self.assertTrue(all(v > 10 for v in acked.values()), "too few commits before the "
                        "kill: %r" % acked)
        self.broker.start()
        got = {}
        for g in groups:
            c2 = Consumer({"bootstrap.servers": self.broker.boot, "group.id": g,
                           "enable.auto.commit": False})
            try:
                got[g] = self.committed(c2)[0]
            finally:
                c2.close()
        print("acknowledged %r, sent %r, after kill -9 %r" % (acked, sent, got))
        for g in groups:
            self.assertTrue(acked[g] <= got[g] <= sent[g],
                            "%s: offset %d after kill -9; %d was acknowledged, %d the last sent"
                            % (g, got[g], acked[g], sent[g]))

    def test_offsets_of_a_deleted_topic_are_removed(self):
        """Kafka removes a group's committed offsets of deleted partitions
        (GroupCoordinator.onPartitionsDeleted writes their tombstones). Else a
        topic deleted and created again under the same name would be read from
        the old offsets, skipping its first records. Checked after the
        deletion, after the new topic exists, by a subscribed consumer that
        must start at offset 0, and after a restart."""
        from confluent_kafka.admin import AdminClient
        topic, group = "it-groups-deleted-topic", "it-groups-deleted-topic-g"
        gu.create_topic(self.broker.boot, topic, 2)
        gu.produce_keyed(self.broker.boot, topic, 100)

        def consumer():
            c = Consumer({"bootstrap.servers": self.broker.boot, "group.id": group,
                          "enable.auto.commit": False, "auto.offset.reset": "earliest",
                          "enable.partition.eof": False})
            self.consumers.append(c)
            return c

        def committed(c):
            res = c.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
            return {tp.partition: tp.offset for tp in res}

        c = consumer()
        res = c.commit(offsets=[TopicPartition(topic, 0, 70), TopicPartition(topic, 1, 90)],
                       asynchronous=False)
        self.assertEqual([tp.error for tp in res if tp.error], [])
        self.assertEqual(committed(c), {0: 70, 1: 90})
        admin = AdminClient({"bootstrap.servers": self.broker.boot})
        admin.delete_topics([topic], operation_timeout=30)[topic].result(60)
        gu.wait_for(lambda: topic not in admin.list_topics(timeout=10).topics, 30,
                    "the topic to disappear from metadata")
        deadline = time.monotonic() + 10
        while committed(c) != {0: -1001, 1: -1001} and time.monotonic() < deadline:
            time.sleep(0.5)
        self.assertEqual(committed(c), {0: -1001, 1: -1001},
                         "committed offsets of a deleted topic (Kafka deletes them with it)")
        gu.create_topic(self.broker.boot, topic, 2)
        self.assertEqual(committed(c), {0: -1001, 1: -1001},
                         "a topic created again under the same name inherits old offsets")
        self.close(c)
        fresh = gu.produce_keyed(self.broker.boot, topic, 40)
        c = consumer()
        c.subscribe([topic])
        got = self.read(c, lambda g: set(fresh) <= set(g), timeout_s=40)
        self.assertEqual(min(o for _, o in got), 0, "the new topic must be read from offset 0")
        self.close(c)
        self.broker.stop()
        self.broker.start()
        c = consumer()
        deadline = time.monotonic() + 30
        while True:
            try:
                after = committed(c)
                break
            except KafkaException:  # the coordinator may still be loading
                self.assertLess(time.monotonic(), deadline, "committed() after the restart")
                time.sleep(0.5)
        self.assertEqual(after, {0: -1001, 1: -1001}, "after a restart")


if __name__ == "__main__":
    unittest.main()
