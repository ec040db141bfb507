"""Static group membership (KIP-345, group.instance.id) with confluent-kafka
(librdkafka 2.0.2; JoinGroup v5).

test_static_member_restart_without_rebalance
  Two static members A and B share a 4-partition topic and settle. B closes
  (librdkafka does not send LeaveGroup for a static member) and a new process
  with B's group.instance.id joins within session.timeout.ms: the coordinator
  replaces B's member id without a rebalance, so A sees no revoke/assign at
  all, and the new B gets exactly B's partitions back. Both then read records
  produced afterwards on their partitions.
test_duplicate_live_instance_id_is_fenced
  While static member A is alive, a second process joins with A's
  group.instance.id. As in Kafka, the newcomer takes over the instance id and
  the old member's next Heartbeat/OffsetCommit gets FENCED_INSTANCE_ID (82),
  which librdkafka raises as a fatal consumer error.

Environment: SLUICE_BOOTSTRAP, SLUICE_STATE_DIR (member stderr logs).
"""

import os
import time

import groups_util as gu

PARTITIONS = 4
SESSION_MS = 10000  # room for a Python process to restart within it
FATAL = -150  # librdkafka RD_KAFKA_RESP_ERR__FATAL


def _start(boot, group, topic, name, instance):
    return gu.MemberProc(boot, group, topic, name, strategy="range", session_ms=SESSION_MS,
                         instance_id=instance, log_dir=os.environ.get("SLUICE_STATE_DIR"))


def _callbacks(member, since):
    return [ev for ev in member.snapshot()
            if ev["e"] in ("assign", "revoke", "lost") and ev["t"] > since]


def test_static_member_restart_without_rebalance():
    boot = gu.bootstrap()
    tag = gu.run_tag()
    topic = group = "it-groups-static-%s" % tag
    gu.create_topic(boot, topic, PARTITIONS)
    acks = gu.produce_keyed(boot, topic, 2000)
    members = []
    try:
        a = _start(boot, group, topic, "static-a", "inst-a-" + tag)
        b = _start(boot, group, topic, "static-b", "inst-b-" + tag)
        members += [a, b]
        owned = gu.wait_stable([a, b], PARTITIONS, 45)
        gu.wait_for(lambda: set(acks) <= set(a.records()) | set(b.records()), 30,
                    "the two static members to read all records")
        b_parts = owned["static-b"]
        print("settled: %r" % {k: sorted(v) for k, v in owned.items()})
        mark = time.monotonic()

        b.close()  # static: no LeaveGroup
        assert b.proc.returncode == 0, "static-b exited with %s: %s" % (b.proc.returncode,
                                                                        b.stderr_tail())
        closed_at = time.monotonic()
        b2 = _start(boot, group, topic, "static-b2", "inst-b-" + tag)
        members.append(b2)
        try:
            gu.wait_for(lambda: b2.owned(), SESSION_MS / 1000 + 10,
                        "the restarted static member to get partitions")
        except AssertionError:
            raise AssertionError("restarted static member got no partitions; its events %r; "
                                 "A's callbacks since B closed %r"
                                 % (b2.snapshot()[-5:], _callbacks(a, mark)))
        rejoined = time.monotonic() - closed_at
        assert b2.owned() == b_parts, ("the restarted static member got %r, B had %r"
                                       % (sorted(b2.owned()), sorted(b_parts)))
        # Past the old member's session timeout: a coordinator that had not
        # replaced the member would expire it now and rebalance.
        time.sleep(max(0.0, SESSION_MS / 1000 + 1.5 - (time.monotonic() - closed_at)))
        cbs = _callbacks(a, mark)
        assert cbs == [], ("the other static member saw a rebalance when B restarted with its "
                           "group.instance.id (the coordinator must replace the member id "
                           "without one): %r" % cbs)
        assert b2.owned() == b_parts and a.owned() == owned["static-a"], (
            "ownership changed: a %r, b2 %r" % (sorted(a.owned()), sorted(b2.owned())))
        print("B rejoined %.1fs after closing; A saw no callbacks" % rejoined)

        more = gu.produce_keyed(boot, topic, 400, first=2000)
        gu.wait_for(lambda: set(more) <= set(a.records()) | set(b2.records()), 30,
                    "A and the restarted B to read records produced after the restart")
        b2_read = {p for p, o in b2.records()}
        assert b2_read <= b_parts, "the restarted B read partitions %r, owns %r" % (
            sorted(b2_read), sorted(b_parts))
        for m in (a, b2):
            errs = m.errors()
            assert not errs, "%s errors: %r" % (m.name, errs[:3])
        for m in (a, b2):
            m.close()
    finally:
        for m in members:
            m.kill()


def test_duplicate_live_instance_id_is_fenced():
    boot = gu.bootstrap()
    tag = gu.run_tag()
    topic = group = "it-groups-fence-%s" % tag
    gu.create_topic(boot, topic, PARTITIONS)
    gu.produce_keyed(boot, topic, 200)
    members = []
    try:
        a = _start(boot, group, topic, "fence-a", "inst-dup-" + tag)
        members.append(a)
        gu.wait_stable([a], PARTITIONS, 45)
        mark = time.monotonic()
        dup = _start(boot, group, topic, "fence-dup", "inst-dup-" + tag)
        members.append(dup)

        def fenced(m):
            return [e for e in m.snapshot() if e["e"] == "error" and e["t"] > mark and (
                e.get("fatal") or e.get("code") == FATAL or "fenced" in e.get("str", "").lower())]

        try:
            gu.wait_for(lambda: fenced(a) or fenced(dup), 30,
                        "a fatal FENCED_INSTANCE_ID error in either member")
        except AssertionError:
            raise AssertionError("two live members with one group.instance.id: neither got "
                                 "FENCED_INSTANCE_ID within 30 s; old member's last events %r; "
                                 "new member's %r" % (a.snapshot()[-4:], dup.snapshot()[-4:]))
        print("old member errors %r; new member errors %r" % (fenced(a), fenced(dup)))
        assert fenced(a), ("the new member was fenced instead of the old one (Kafka: the "
                           "newcomer takes over the instance id): %r" % fenced(dup))
        err = fenced(a)[0]
        assert err.get("fatal") or err.get("code") == FATAL, (
            "FENCED_INSTANCE_ID was not a fatal error: %r" % err)
        assert "fenced" in err.get("str", "").lower(), (
            "the fatal error is not FENCED_INSTANCE_ID: %r" % err)
        # The newcomer holds the instance's partitions.
        gu.wait_for(lambda: dup.owned() == set(range(PARTITIONS)), 20,
                    "the newcomer to own every partition")
    finally:
        for m in members:
            m.kill()
