"""Membership churn under continuous production, with confluent-kafka.

An idempotent producer writes keyed records to a 6-partition topic for
PRODUCE_S seconds while member processes (groups_util.py member, range
assignor, enable.auto.commit=false, a synchronous OffsetCommit after every
processed batch, PROCESS_MS after reading it) join, leave with LeaveGroup,
or are SIGKILLed every STEP_S seconds (1 to 4 members at a time). Afterwards
the live members close and a final member of the same group drains. Checks:
  * no loss: every acknowledged record was read by some member;
  * duplicates only where Kafka allows them: a record read twice must not lie
    below an offset whose commit had completed before the re-reader was
    assigned the partition (that would mean OffsetFetch served a stale or lost
    commit), and its first reader must have been SIGKILLed or seen a commit of
    that partition fail (graceful leavers commit everything they read); the
    number of duplicates is printed;
  * at the end the group's committed offsets are the high watermarks;
  * no member saw a fatal error.

Environment: SLUICE_BOOTSTRAP, SLUICE_STATE_DIR (member stderr logs).
"""

import os
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

import groups_util as gu

PARTITIONS = 6
PRODUCE_S = 28
RATE = 300  # records a second
STEP_S = 3.5
# Each batch is "processed" this long between being read and being committed, so
# that a SIGKILL can land between the two and leave legitimately re-read records.
PROCESS_MS = 150
# Every STEP_S seconds; a member is never added beyond 4 or removed below 1.
ACTIONS = ["start", "start", "kill", "close", "start", "kill", "start", "close"]


class ContinuousProducer(threading.Thread):
    def __init__(self, boot, topic):
        super().__init__(daemon=True)
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": boot, "enable.idempotence": True,
                                  "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})
        self.acks, self.errors, self.sent = {}, [], 0
        self.stop = threading.Event()

    def _on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.acks[(msg.partition(), msg.offset())] = int(msg.value()[1:])

    def run(self):
        start = time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * RATE)
            while self.sent < due:
                i = self.sent
                try:
                    self.producer.produce(self.topic, key=b"k%d" % i, value=b"v%d" % i,
                                          on_delivery=self._on_delivery)
                except BufferError:
                    break
                self.sent += 1
            self.producer.poll(0.02)
        left = self.producer.flush(60)
        if left:
            self.errors.append("%d records undelivered after flush" % left)


def test_members_churn_while_producing():
    boot = gu.bootstrap()
    tag = gu.run_tag()
    topic = group = "it-groups-churn-%s" % tag
    logs = os.environ.get("SLUICE_STATE_DIR")
    gu.create_topic(boot, topic, PARTITIONS)

    members, live = [], []
    counter = [0]

    def start_member(name=None):
        counter[0] += 1
        m = gu.MemberProc(boot, group, topic, name or "churn-m%d" % counter[0], strategy="range",
                          manual_commit=True, max_poll_ms=15000, process_ms=PROCESS_MS,
                          log_dir=logs)
        members.append(m)
        live.append(m)
        return m

    producer = ContinuousProducer(boot, topic)
    log = []
    try:
        producer.start()
        start_member()
        start_member()
        t0 = time.monotonic()
        for n, action in enumerate(ACTIONS):
            time.sleep(max(0.0, t0 + (n + 1) * STEP_S - time.monotonic()))
            if action == "start" and len(live) < 4:
                m = start_member()
                log.append("%.1fs start %s" % (time.monotonic() - t0, m.name))
            elif action in ("kill", "close") and len(live) > 1:
                m = live.pop(0)
                if action == "kill":
                    m.kill()
                else:
                    m.close()
                log.append("%.1fs %s %s" % (time.monotonic() - t0, action, m.name))
        time.sleep(max(0.0, t0 + PRODUCE_S - time.monotonic()))
        producer.stop.set()
        producer.join(90)
        assert not producer.is_alive(), "the producer did not finish"
        assert not producer.errors, "producer errors: %r" % producer.errors[:5]
        acks = producer.acks
        print("churn: %s; %d records produced" % ("; ".join(log), len(acks)))
        assert len(acks) == producer.sent, "%d sent, %d acknowledged" % (producer.sent, len(acks))
        time.sleep(3)
        for m in list(live):
            m.close()
            live.remove(m)

        drainer = start_member("churn-drainer")
        want = set(acks)

        def read_by_all():
            got = set()
            for m in members:
                got.update(m.records())
            return got

        try:
            gu.wait_for(lambda: want <= read_by_all(), 60, "the drainer to read the rest")
        except AssertionError:
            missing = sorted(want - read_by_all())
            raise AssertionError(
                "%d of %d acknowledged records never read (first %r); per partition %r; "
                "drainer owns %r; drainer events %r"
                % (len(missing), len(want), missing[:5],
                   {p: sum(1 for q, _ in missing if q == p) for p in range(PARTITIONS)},
                   sorted(drainer.owned()), [e for e in drainer.snapshot() if e["e"] != "recs"][-6:]))
        drainer.close()
        live.remove(drainer)

        got_all = read_by_all()
        assert got_all <= want, "records read that were never acknowledged: %r" % sorted(
            got_all - want)[:5]
        fatal = {m.name: [e for e in m.errors() if e.get("fatal") or e["e"] != "error"]
                 for m in members}
        fatal = {k: v for k, v in fatal.items() if v}
        assert not fatal, "member errors: %r" % fatal

        # Duplicates: who read what when; which commits had completed when.
        reads = []  # (t, member, partition, offset)
        commits = []  # (t, partition, next offset)
        assigns = {}  # member -> [(t, partitions)]
        failed_commits = 0
        for m in members:
            for ev in m.snapshot():
                if ev["e"] == "recs":
                    reads.extend((ev["t"], m.name, p, o) for p, o in ev["r"])
                elif ev["e"] == "commit":
                    commits.extend((ev["t"], p, o) for p, o in ev["c"])
                elif ev["e"] == "commit_fail":
                    failed_commits += 1
                elif ev["e"] == "assign":
                    assigns.setdefault(m.name, []).append((ev["t"], set(ev["p"])))
        reads.sort()
        killed = {m.name for m in members if m.killed_at is not None}
        commit_failed = {(m.name, p) for m in members for ev in m.snapshot()
                         if ev["e"] == "commit_fail" for p, _ in ev["c"]}
        first_read, dups, violations, unexplained = {}, 0, [], []
        for t, name, p, o in reads:
            if (p, o) not in first_read:
                first_read[(p, o)] = (t, name)
                continue
            dups += 1
            # Every batch is committed right after it is processed, and before the
            # member can see a revoke or close: only a SIGKILLed member, or a failed
            # commit, leaves read records uncommitted.
            first = first_read[(p, o)][1]
            if first not in killed and (first, p) not in commit_failed:
                unexplained.append("partition %d offset %d read by %s, then again by %s; %s "
                                   "was not killed and no commit of it failed"
                                   % (p, o, first, name, first))
            # When did the re-reader get p (its last assignment of p before t)?
            got_at = max((at for at, parts in assigns.get(name, []) if p in parts and at <= t),
                         default=None)
            if got_at is None:
                violations.append("%s read %d/%d without an assignment of it" % (name, p, o))
                continue
            done = [c for c in commits if c[1] == p and c[2] > o and c[0] < got_at]
            if done:
                violations.append("%s re-read partition %d offset %d (first read by %s) although "
                                  "offset %d had been committed %.2fs before it was assigned "
                                  "the partition" % (name, p, o, first_read[(p, o)][1],
                                                     max(c[2] for c in done),
                                                     got_at - max(c[0] for c in done)))
        print("churn: %d records read, %d duplicates (%.2f%%), %d commits, %d failed commits"
              % (len(reads), dups, 100.0 * dups / max(1, len(reads)), len(commits),
                 failed_commits))
        assert not violations, "%d re-reads below completed commits, first: %s" % (
            len(violations), violations[:5])
        assert not unexplained, "%d duplicates not explained by a kill or a failed commit, " \
            "first: %s" % (len(unexplained), unexplained[:5])

        hw = gu.high_watermarks(boot, topic, PARTITIONS)
        c = Consumer({"bootstrap.servers": boot, "group.id": group})
        try:
            res = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=20)
        finally:
            c.close()
        committed = {tp.partition: tp.offset for tp in res}
        assert committed == hw, "committed offsets at the end %r, high watermarks %r" % (
            committed, hw)
    finally:
        producer.stop.set()
        for m in members:
            m.kill()
