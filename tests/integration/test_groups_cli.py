"""Consumer groups through the sluice CLI (kafka-consumer-groups.sh's
equivalent, `sluice groups`) and `sluice consume --group`, with
confluent-kafka-python (librdkafka) producing and as a second group member.

One group goes through its whole life: records produced with known
timestamps to a 2-partition topic; `sluice consume --group` reads them all
and commits; `groups --list` shows the group Empty; `--describe` shows the
committed offsets, the log end offsets and the lag of records produced
after; while a confluent_kafka consumer is in the group, --members and
--state show it, --reset-offsets is refused ("... is inactive, but the
current state is Stable.") and --delete is refused (NON_EMPTY_GROUP); once
it closed, --reset-offsets plans (--dry-run changes nothing, --to-offset is
clamped to the log end) and executes (--to-earliest, --to-datetime,
--shift-by), `consume --group` resumes from the reset offsets,
--delete-offsets drops one partition's offset and --delete removes the group.

Environment: SLUICE_BOOTSTRAP (host:port), SLUICE_CLI (the sluice binary).
"""
import datetime
import os
import subprocess
import time
import unittest

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

PER_PARTITION = 10  # records first produced to each of partitions 0 and 1
EXTRA = 5           # records produced to partition 0 after the group read
STEP_MS = 1000      # CreateTime step between records of a partition


def sluice(*args, timeout=120):
    cli = os.environ.get("SLUICE_CLI")
    if not cli:
        raise AssertionError("SLUICE_CLI is not set: run through tests/integration/run.sh")
    return subprocess.run([cli] + list(args), capture_output=True, text=True, timeout=timeout)


def table(stdout, first_column):
    """The data rows (lists of columns) of a table whose header starts with
    `first_column`, as `sluice groups` prints them."""
    rows, seen = [], False
    for line in stdout.splitlines():
        cols = line.split()
        if not cols:
            continue
        if cols[0] == first_column:
            seen = True
            continue
        if seen:
            rows.append(cols)
    return rows


class GroupsCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = os.environ["SLUICE_BOOTSTRAP"]
        stamp = int(time.time() * 1000)
        cls.topic = "groups-cli-%d" % stamp
        cls.group = "groups-cli-g-%d" % stamp
        admin = AdminClient({"bootstrap.servers": cls.bootstrap})
        admin.create_topics([NewTopic(cls.topic, 2, 1)])[cls.topic].result(30)
        cls.base = stamp - 3600 * 1000  # an hour ago: CreateTimes well in the past
        cls.produce({0: PER_PARTITION, 1: PER_PARTITION})

    @classmethod
    def produce(cls, counts, first=0):
        p = Producer({"bootstrap.servers": cls.bootstrap, "linger.ms": 0})
        for part, n in counts.items():
            for i in range(first, first + n):
                p.produce(cls.topic, value=b"v%d-%d" % (part, i), partition=part,
                          timestamp=cls.base + i * STEP_MS)
        assert p.flush(30) == 0, "records left unsent"

    def groups(self, *args, ok=True):
        out = sluice("groups", "--bootstrap-server", self.bootstrap, *args)
        if ok:
            self.assertEqual(out.returncode, 0, "groups %s: %s%s" % (args, out.stdout, out.stderr))
        return out

    def describe(self):
        """{partition: (current, end, lag, consumer_id)} of the offsets view."""
        out = self.groups("--describe", "--group", self.group)
        rows = table(out.stdout, "GROUP")
        got = {}
        for r in rows:
            self.assertEqual(len(r), 9, out.stdout)
            self.assertEqual(r[0], self.group)
            self.assertEqual(r[1], self.topic)
            got[int(r[2])] = (r[3], r[4], r[5], r[6])
        return got

    def consume_group(self, n, *extra):
        out = sluice("consume", "--bootstrap-server", self.bootstrap, "--topic", self.topic,
                     "--group", self.group, "--max-messages", str(n), "--timeout-ms", "60000",
                     *extra)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Processed a total of %d messages" % n, out.stderr)
        return out.stdout.splitlines()

    def test_group_lifecycle(self):
        # 1. Read everything as the group; the final commit covers it all.
        lines = self.consume_group(2 * PER_PARTITION, "--from-beginning")
        want = sorted("v%d-%d" % (p, i) for p in (0, 1) for i in range(PER_PARTITION))
        self.assertEqual(sorted(lines), want)

        # 2. --list shows it, Empty now that the consumer left; --state filters.
        out = self.groups("--list")
        self.assertEqual(out.stdout.splitlines()[0].split(), ["GROUP", "STATE"])
        states = {r[0]: r[1] for r in table(out.stdout, "GROUP")}
        self.assertEqual(states.get(self.group), "Empty", out.stdout)
        out = self.groups("--list", "--state", "Stable")
        self.assertNotIn(self.group, [r[0] for r in table(out.stdout, "GROUP")])
        out = self.groups("--list", "--state=empty,stable")
        self.assertIn(self.group, [r[0] for r in table(out.stdout, "GROUP")])

        # 3. --describe: committed offsets, log end offsets and lag.
        self.produce({0: EXTRA}, first=PER_PARTITION)
        got = self.describe()
        self.assertEqual(got, {
            0: (str(PER_PARTITION), str(PER_PARTITION + EXTRA), str(EXTRA), "-"),
            1: (str(PER_PARTITION), str(PER_PARTITION), "0", "-"),
        })

        # 4. With an active member: described, and reset and delete are refused.
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                      "enable.auto.commit": False, "session.timeout.ms": 10000})
        try:
            c.subscribe([self.topic])
            deadline = time.time() + 60
            while not c.assignment() and time.time() < deadline:
                c.poll(0.2)
            self.assertEqual(len(c.assignment()), 2, "the consumer got no assignment in 60 s")
            out = self.groups("--describe", "--group", self.group, "--state")
            row = table(out.stdout, "GROUP")[0]
            self.assertEqual(row[0], self.group)
            self.assertEqual(row[-2:], ["Stable", "1"], out.stdout)
            out = self.groups("--describe", "--group", self.group, "--members")
            rows = table(out.stdout, "GROUP")
            self.assertEqual(len(rows), 1, out.stdout)
            self.assertEqual(rows[0][-2:], ["2", "%s(0,1)" % self.topic], out.stdout)
            got = self.describe()
            self.assertNotEqual(got[0][3], "-", "an owned partition shows its consumer id")

            out = self.groups("--reset-offsets", "--group", self.group, "--topic", self.topic,
                              "--to-earliest", "--execute", ok=False)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("Assignments can only be reset if the group '%s' is inactive, but the "
                          "current state is Stable." % self.group, out.stderr)
            out = self.groups("--delete", "--group", self.group, ok=False)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("NON_EMPTY_GROUP", out.stderr)
        finally:
            c.close()

        # 5. Inactive again. A dry run prints the plan and changes nothing;
        # --to-offset beyond the end is clamped to the log end offset.
        out = self.groups("--reset-offsets", "--group", self.group, "--all-topics",
                          "--to-offset", "1000", "--dry-run")
        self.assertEqual(sorted(table(out.stdout, "GROUP")), [
            [self.group, self.topic, "0", str(PER_PARTITION + EXTRA)],
            [self.group, self.topic, "1", str(PER_PARTITION)],
        ])
        self.assertIn("is higher than latest offset", out.stderr)
        self.assertEqual(self.describe()[0][0], str(PER_PARTITION))

        # 6. --to-earliest --execute: every committed offset is back to 0.
        out = self.groups("--reset-offsets", "--group", self.group, "--topic", self.topic,
                          "--to-earliest", "--execute")
        self.assertEqual(sorted(table(out.stdout, "GROUP")), [
            [self.group, self.topic, "0", "0"], [self.group, self.topic, "1", "0"]])
        got = self.describe()
        self.assertEqual(got[0][:3], ("0", str(PER_PARTITION + EXTRA), str(PER_PARTITION + EXTRA)))
        self.assertEqual(got[1][:3], ("0", str(PER_PARTITION), str(PER_PARTITION)))

        # 7. The group resumes from there.
        lines = self.consume_group(2 * PER_PARTITION + EXTRA)
        self.assertEqual(len(set(lines)), 2 * PER_PARTITION + EXTRA)
        self.assertEqual({k: v[2] for k, v in self.describe().items()}, {0: "0", 1: "0"})

        # 8. --to-datetime (UTC) on partition 0 only, then --shift-by.
        at = datetime.datetime.fromtimestamp((self.base + 3 * STEP_MS) / 1000,
                                             tz=datetime.timezone.utc)
        when = at.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (at.microsecond // 1000)
        out = self.groups("--reset-offsets", "--group", self.group, "--topic",
                          self.topic + ":0", "--to-datetime", when, "--execute")
        self.assertEqual(table(out.stdout, "GROUP"), [[self.group, self.topic, "0", "3"]])
        out = self.groups("--reset-offsets", "--group", self.group, "--topic",
                          self.topic + ":0", "--shift-by", "-2", "--execute")
        self.assertEqual(table(out.stdout, "GROUP"), [[self.group, self.topic, "0", "1"]])
        got = self.describe()
        self.assertEqual((got[0][0], got[1][0]), ("1", str(PER_PARTITION)))

        # 9. --delete-offsets of partition 1; the group keeps partition 0's.
        out = self.groups("--delete-offsets", "--group", self.group, "--topic",
                          self.topic + ":1")
        self.assertEqual(table(out.stdout, "TOPIC"), [[self.topic, "1", "Successful"]])
        self.assertEqual(set(self.describe()), {0})

        # 10. --delete, now that nobody is in the group.
        out = self.groups("--delete", "--group", self.group)
        self.assertIn("Deletion of requested consumer groups ('%s') was successful."
                      % self.group, out.stdout)
        out = self.groups("--list")
        self.assertNotIn(self.group, [r[0] for r in table(out.stdout, "GROUP")])
        out = self.groups("--describe", "--group", self.group, ok=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn("consumer group '%s' does not exist" % self.group, out.stderr)

    def test_cooperative_sticky_member_commits(self):
        group = self.group + "-coop"
        out = sluice("consume", "--bootstrap-server", self.bootstrap, "--topic", self.topic,
                     "--group", group, "--from-beginning", "--max-messages", "3",
                     "--timeout-ms", "60000", "--partition-assignment-strategy",
                     "cooperative-sticky")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(out.stdout.splitlines()), 3)
        out = self.groups("--describe", "--group", group)
        committed = sum(int(r[3]) for r in table(out.stdout, "GROUP") if r[3] != "-")
        self.assertEqual(committed, 3, out.stdout)
        # It left the group on exit (not after session.timeout.ms).
        out = self.groups("--list")
        self.assertIn([group, "Empty"], table(out.stdout, "GROUP"))

    def test_unknown_group_and_bad_usage(self):
        missing = "groups-cli-missing-%d" % time.time()
        out = self.groups("--describe", "--group", missing, ok=False)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("does not exist", out.stderr)
        out = self.groups("--reset-offsets", "--group", missing, "--to-earliest", ok=False)
        self.assertEqual(out.returncode, 2)  # neither --topic nor --all-topics
        out = self.groups("--reset-offsets", "--group", missing, "--topic", "no-such-topic",
                          "--to-latest", ok=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn("does not exist", out.stderr)
        out = sluice("consume", "--bootstrap-server", self.bootstrap, "--topic", self.topic,
                     "--group", missing, "--partition", "0")
        self.assertEqual(out.returncode, 2)


if __name__ == "__main__":
    unittest.main()
