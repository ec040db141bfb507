"""Classic consumer groups with confluent-kafka (librdkafka 2.0.2), three members.

For each partition.assignment.strategy (range, roundrobin, cooperative-sticky):
  * a 6-partition topic holds RECORDS keyed records (acks=all);
  * three member processes (groups_util.py member) subscribe in one group and
    consume until every acknowledged (partition, offset) was read;
  * the group settles with every partition owned by exactly one member and
    every member owning some;
  * no partition was ever held by two members at once (on_assign/on_revoke
    intervals, see groups_util.assert_no_double_ownership);
  * DescribeGroups (librdkafka's list_groups: ListGroups + DescribeGroups v0)
    reports Stable, protocol type consumer, the strategy, and per member (by
    client id) exactly the partitions it holds;
  * one member is SIGKILLed (no LeaveGroup): within session.timeout.ms (6000,
    the broker's group.min.session.timeout.ms default) plus a margin, and not
    before the session can have expired (a closed connection is no leave), its
    partitions move to the two others, which then read records produced after
    the kill on every partition.

test_many_members_in_one_process: 24 consumers (threads) over 48 partitions
read everything and settle with two partitions each (a JoinGroup response
carrying 24 members' metadata, a SyncGroup carrying 24 assignments).

This exercises FindCoordinator, JoinGroup (KIP-394 MEMBER_ID_REQUIRED round
trip), SyncGroup, Heartbeat (REBALANCE_IN_PROGRESS), LeaveGroup (close),
OffsetFetch/OffsetCommit (auto commit) and session expiry.

Environment: SLUICE_BOOTSTRAP, SLUICE_STATE_DIR (member stderr logs).
"""

import os

import pytest

import groups_util as gu

PARTITIONS = 6
RECORDS = 30000
AFTER_KILL = 600
MARGIN_S = 12  # beyond session.timeout.ms: expiry check, rejoin, sync


def _fatal_errors(members):
    return {m.name: [e for e in m.errors() if e.get("fatal") or e["e"] != "error"]
            for m in members if any(e.get("fatal") or e["e"] != "error" for e in m.errors())}


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_three_members_share_and_take_over(strategy):
    boot = gu.bootstrap()
    tag = gu.run_tag()
    topic = "it-groups-ck-%s-%s" % (strategy, tag)
    group = "it-groups-ck-%s-%s" % (strategy, tag)
    gu.create_topic(boot, topic, PARTITIONS)
    acks = gu.produce_keyed(boot, topic, RECORDS)
    assert {p for p, _ in acks} == set(range(PARTITIONS)), "records did not reach every partition"

    logs = os.environ.get("SLUICE_STATE_DIR")
    members = [gu.MemberProc(boot, group, topic, "%s-m%d" % (strategy, n), strategy=strategy,
                             log_dir=logs) for n in range(3)]
    try:
        want = set(acks)

        def all_read():
            got = set()
            for m in members:
                got.update(m.records())
            return want <= got

        try:
            gu.wait_for(all_read, 90, "the three members to read all %d records" % RECORDS)
        except AssertionError:
            got = set()
            for m in members:
                got.update(m.records())
            raise AssertionError(
                "%s: %d of %d records read after 90 s; per member %r; ownership %r; errors %r"
                % (strategy, len(want & got), len(want), {m.name: m.count() for m in members},
                   {m.name: sorted(m.owned()) for m in members},
                   {m.name: m.errors()[:3] for m in members}))
        got = set()
        for m in members:
            got.update(m.records())
        assert got <= want, "records read that were never produced: %r" % sorted(got - want)[:5]

        owned = gu.wait_stable(members, PARTITIONS, 45)
        print("%s: stable ownership %r" % (strategy, {k: sorted(v) for k, v in owned.items()}))
        gu.assert_no_double_ownership(members)
        assert not _fatal_errors(members), "member errors: %r" % _fatal_errors(members)

        # DescribeGroups (through librdkafka's list_groups) agrees with the members.
        g = gu.describe_group_confluent(boot, group)
        described = {m.client_id: gu.parse_assignment(m.assignment).get(topic, [])
                     for m in g.members}
        assert (g.error is None or g.error.code() == 0, g.state, g.protocol_type, g.protocol) == \
            (True, "Stable", "consumer", strategy), "DescribeGroups: error %s state %s type %s " \
            "protocol %s" % (g.error, g.state, g.protocol_type, g.protocol)
        assert described == {k: sorted(v) for k, v in owned.items()}, (
            "DescribeGroups assignments %r, the members hold %r"
            % (described, {k: sorted(v) for k, v in owned.items()}))

        # A member dies without LeaveGroup: its partitions move after the session timeout.
        victim, survivors = members[0], members[1:]
        lost = owned[victim.name]
        victim.kill()
        killed = victim.killed_at
        try:
            after = gu.wait_stable(survivors, PARTITIONS, gu.SESSION_MS / 1000 + MARGIN_S,
                                   quiet_s=1.0)
        except AssertionError as e:
            raise AssertionError("%s: partitions %r of the killed member did not move to the "
                                 "survivors within session.timeout.ms %d + %ds: %s"
                                 % (strategy, sorted(lost), gu.SESSION_MS, MARGIN_S, e))
        moved_after = max(ev["t"] for m in survivors for ev in m.snapshot()
                          if ev["e"] == "assign") - killed
        print("%s: killed member's partitions %r reassigned %.1fs after the kill: %r"
              % (strategy, sorted(lost), moved_after, {k: sorted(v) for k, v in after.items()}))
        # The member's last heartbeat was about heartbeat.interval.ms (1 s) before
        # the kill (2.5 s of slack for a loaded machine): Kafka does not evict a
        # member because its connection closed.
        assert moved_after >= gu.SESSION_MS / 1000 - 2.5, (
            "%s: the killed member's partitions moved %.1fs after the kill, before its "
            "session timeout of %d ms could have expired" % (strategy, moved_after, gu.SESSION_MS))

        more = gu.produce_keyed(boot, topic, AFTER_KILL, first=RECORDS)
        assert {p for p, _ in more} == set(range(PARTITIONS))

        def survivors_read():
            got = set()
            for m in survivors:
                got.update(m.records())
            return set(more) <= got

        try:
            gu.wait_for(survivors_read, 30, "the survivors to read the records produced "
                        "after the kill")
        except AssertionError:
            got = set()
            for m in survivors:
                got.update(m.records())
            missing = sorted(set(more) - got)
            raise AssertionError("%s: %d records produced after the kill not read by the "
                                 "survivors (partitions %r); ownership %r"
                                 % (strategy, len(missing), sorted({p for p, _ in missing}),
                                    {m.name: sorted(m.owned()) for m in survivors}))
        gu.assert_no_double_ownership(members)
        assert not _fatal_errors(survivors), "member errors: %r" % _fatal_errors(survivors)
        for m in survivors:
            m.close()
            assert m.proc.returncode == 0, "member %s exited with %s: %s" % (
                m.name, m.proc.returncode, m.stderr_tail())
    finally:
        for m in members:
            m.kill()


def test_many_members_in_one_process():
    """MANY librdkafka consumers (threads of this process) in one group over
    2*MANY partitions: large JoinGroup (every member's metadata to the leader)
    and SyncGroup (every assignment) exchanges. They read every record and
    settle with two partitions each."""
    import threading
    from confluent_kafka import Consumer

    boot = gu.bootstrap()
    many = 24
    topic = group = "it-groups-ck-many-%s" % gu.run_tag()
    gu.create_topic(boot, topic, 2 * many)
    want = set(gu.produce_keyed(boot, topic, 12000))
    owned = [set() for _ in range(many)]
    got, lock, stop, failures = set(), threading.Lock(), threading.Event(), []

    def run(i):
        try:
            c = Consumer({"bootstrap.servers": boot, "group.id": group, "client.id": "many-%d" % i,
                          "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                          "heartbeat.interval.ms": 1000, "enable.partition.eof": False})

            def on_assign(c, parts):
                owned[i].clear()
                owned[i].update(tp.partition for tp in parts)

            def on_revoke(c, parts):
                owned[i].clear()

            c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
            while not stop.is_set():
                for m in c.consume(500, 0.2):
                    if m.error() is None:
                        with lock:
                            got.add((m.partition(), m.offset()))
                    elif m.error().fatal():
                        failures.append(str(m.error()))
            c.close()
        except Exception as e:  # reported below
            failures.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(many)]
    for t in threads:
        t.start()
    try:
        def settled():
            with lock:
                done = want <= got
            flat = sorted(p for o in owned for p in list(o))
            return done and flat == list(range(2 * many)) and all(len(o) == 2 for o in owned)

        try:
            gu.wait_for(settled, 60, "%d members to read everything and hold 2 partitions each"
                        % many)
        except AssertionError:
            raise AssertionError("%d members: %d of %d records read; ownership %r; failures %r"
                                 % (many, len(want & got), len(want),
                                    [sorted(o) for o in owned], failures[:3]))
        assert not failures, failures[:3]
    finally:
        stop.set()
        for t in threads:
            t.join(30)
