"""Shared helpers for the consumer group integration tests (test_groups_*.py).

Three parts:

* Producing and topic set-up with confluent-kafka (librdkafka): create_topic,
  produce_keyed (returns where every record landed), high_watermarks.
* Group members in their own processes: `python3 groups_util.py member ...`
  runs one confluent-kafka Consumer subscribed to a topic and reports on stdout,
  one JSON object a line: assign / revoke / lost callbacks (partition lists),
  consumed records ([partition, offset]), successful and failed commits,
  errors. It obeys "close" on stdin (Consumer.close(), which for a dynamic
  member sends LeaveGroup). MemberProc starts one, collects its events in a
  thread and kills it by PID (SIGKILL: a member that stops heartbeating).
  Timestamps are time.monotonic(), CLOCK_MONOTONIC, comparable across the
  processes of one machine.
* OwnBroker: a sluiced of the test's own (SLUICED) on a free loopback port with
  its own data directory, ready when an ApiVersions round trip succeeds;
  stop() is SIGTERM then wait, kill9() is SIGKILL.

Python: /usr/bin/python3 (Debian's confluent-kafka 1.7.0 on librdkafka 2.0.2).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
# The broker's group.min.session.timeout.ms default (Kafka's) is 6000.
SESSION_MS = 6000


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies (even by
    SIGKILL from run.sh's timeout), so no broker or member outlives it."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def bootstrap():
    b = os.environ.get("SLUICE_BOOTSTRAP")
    if not b:
        raise RuntimeError("set SLUICE_BOOTSTRAP (tests/integration/run.sh does)")
    return b


def run_tag():
    return "%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000000)


# ------------------------------------------------------------ topics, records
def create_topic(boot, topic, partitions, timeout_s=30):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": boot})
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                              operation_timeout=timeout_s)
    fut[topic].result(timeout=timeout_s + 30)
    deadline = time.monotonic() + timeout_s
    last = "no metadata"
    while time.monotonic() < deadline:
        t = admin.list_topics(timeout=10).topics.get(topic)
        if t is None:
            last = "not listed"
        elif t.error is not None:
            last = "error %s" % t.error
        elif len(t.partitions) != partitions:
            last = "%d partitions" % len(t.partitions)
        elif any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
            last = "a partition without leader"
        else:
            return
        time.sleep(0.2)
    raise AssertionError("topic %s not ready after %ds: %s" % (topic, timeout_s, last))


def produce_keyed(boot, topic, count, first=0, idempotent=False):
    """Produces records first..first+count-1 (key k<i>, value v<i>), acks=all.
    Returns {(partition, offset): i}."""
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": boot, "acks": "all", "linger.ms": 5,
            "message.timeout.ms": 60000}
    if idempotent:
        conf["enable.idempotence"] = True
    producer = Producer(conf)
    acks, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acks[(msg.partition(), msg.offset())] = int(msg.value()[1:])

    for i in range(first, first + count):
        while True:
            try:
                producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 500 == 0:
            producer.poll(0)
    left = producer.flush(60)
    assert left == 0, "%d records undelivered after 60 s" % left
    assert not errors, "delivery errors: %r" % errors[:5]
    assert len(acks) == count, "%d delivery reports for %d records" % (len(acks), count)
    return acks


def high_watermarks(boot, topic, partitions):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": boot, "group.id": "it-groups-watermarks"})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
                for p in range(partitions)}
    finally:
        c.close()


def parse_assignment(data):
    """ConsumerProtocolAssignment (any version: v0 prefix) -> {topic: [partitions]}."""
    import struct
    pos = 2  # version
    out = {}
    (n,) = struct.unpack_from(">i", data, pos)
    pos += 4
    for _ in range(max(n, 0)):
        (ln,) = struct.unpack_from(">h", data, pos)
        pos += 2
        topic = data[pos:pos + ln].decode()
        pos += ln
        (k,) = struct.unpack_from(">i", data, pos)
        pos += 4
        out[topic] = sorted(struct.unpack_from(">%di" % k, data, pos)) if k > 0 else []
        pos += 4 * max(k, 0)
    return out


def describe_group_confluent(boot, group):
    """librdkafka's ListGroups + DescribeGroups (AdminClient.list_groups) for one
    group -> GroupMetadata."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": boot})
    groups = admin.list_groups(group, timeout=20)
    assert len(groups) == 1 and groups[0].id == group, "list_groups(%s) -> %r" % (
        group, [g.id for g in groups])
    return groups[0]


# ------------------------------------------------------------- member process
def _member_main(argv):
    import argparse
    from confluent_kafka import Consumer, TopicPartition

    ap = argparse.ArgumentParser(prog="groups_util.py member")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--strategy", default="range")
    ap.add_argument("--session-ms", type=int, default=SESSION_MS)
    ap.add_argument("--heartbeat-ms", type=int, default=1000)
    ap.add_argument("--max-poll-ms", type=int, default=20000)
    ap.add_argument("--instance-id")
    ap.add_argument("--manual-commit", action="store_true",
                    help="enable.auto.commit=false; commit synchronously after each batch")
    ap.add_argument("--no-records", action="store_true", help="do not report each record")
    ap.add_argument("--process-ms", type=int, default=0,
                    help="time spent 'processing' a batch before committing it")
    a = ap.parse_args(argv)

    out_lock = threading.Lock()

    def emit(ev, **kw):
        kw["e"] = ev
        kw["t"] = time.monotonic()
        line = json.dumps(kw)
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    conf = {"bootstrap.servers": a.bootstrap, "group.id": a.group, "client.id": a.name,
            "auto.offset.reset": "earliest", "enable.partition.eof": False,
            "enable.auto.commit": not a.manual_commit, "auto.commit.interval.ms": 1000,
            "session.timeout.ms": a.session_ms, "heartbeat.interval.ms": a.heartbeat_ms,
            "max.poll.interval.ms": a.max_poll_ms,
            "partition.assignment.strategy": a.strategy}
    if a.instance_id:
        conf["group.instance.id"] = a.instance_id
    cooperative = a.strategy == "cooperative-sticky"
    consumer = Consumer(conf)

    def on_assign(c, parts):
        emit("assign", p=sorted(tp.partition for tp in parts))
        if cooperative:
            c.incremental_assign(parts)
        else:
            c.assign(parts)

    def on_revoke(c, parts):
        emit("revoke", p=sorted(tp.partition for tp in parts))
        if cooperative:
            c.incremental_unassign(parts)
        else:
            c.unassign()

    def on_lost(c, parts):
        emit("lost", p=sorted(tp.partition for tp in parts))
        if cooperative:
            c.incremental_unassign(parts)
        else:
            c.unassign()

    commands = []

    def read_stdin():
        for line in sys.stdin:
            commands.append(line.strip())
        commands.append("eof")

    threading.Thread(target=read_stdin, daemon=True).start()
    consumer.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    emit("subscribed")
    try:
        while True:
            if commands:
                cmd = commands.pop(0)
                if cmd in ("close", "eof"):
                    consumer.close()
                    emit("closed")
                    return 0
            msgs = consumer.consume(num_messages=500, timeout=0.2)
            recs, nxt = [], {}
            for m in msgs:
                if m.error() is not None:
                    err = m.error()
                    emit("error", code=err.code(), fatal=bool(err.fatal()), str=str(err))
                    continue
                recs.append([m.partition(), m.offset()])
                nxt[m.partition()] = max(nxt.get(m.partition(), 0), m.offset() + 1)
            if recs:
                emit("recs", r=[] if a.no_records else recs, n=len(recs))
            if recs and a.process_ms:
                time.sleep(a.process_ms / 1000.0)
            if a.manual_commit and nxt:
                offsets = [TopicPartition(a.topic, p, o) for p, o in sorted(nxt.items())]
                try:
                    res = consumer.commit(offsets=offsets, asynchronous=False)
                    bad = [(tp.partition, str(tp.error)) for tp in res or [] if tp.error]
                    if bad:
                        emit("commit_fail", c=sorted(nxt.items()), err=str(bad))
                    else:
                        emit("commit", c=sorted(nxt.items()))
                except Exception as e:  # KafkaException: rebalance, illegal generation...
                    emit("commit_fail", c=sorted(nxt.items()), err=str(e))
    except Exception as e:
        emit("crash", str=repr(e))
        raise


class MemberProc:
    """A member process (see _member_main) and the events it reported."""

    def __init__(self, boot, group, topic, name, strategy="range", session_ms=SESSION_MS,
                 instance_id=None, manual_commit=False, heartbeat_ms=1000, max_poll_ms=20000,
                 no_records=False, process_ms=0, log_dir=None):
        self.name = name
        args = [PY, os.path.join(HERE, "groups_util.py"), "member", "--bootstrap", boot,
                "--group", group, "--topic", topic, "--name", name, "--strategy", strategy,
                "--session-ms", str(session_ms), "--heartbeat-ms", str(heartbeat_ms),
                "--max-poll-ms", str(max_poll_ms)]
        if instance_id:
            args += ["--instance-id", instance_id]
        if manual_commit:
            args.append("--manual-commit")
        if no_records:
            args.append("--no-records")
        if process_ms:
            args += ["--process-ms", str(process_ms)]
        self.stderr_path = os.path.join(log_dir or tempfile.gettempdir(),
                                        "member-%s-%d.err" % (name, os.getpid()))
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=HERE, preexec_fn=_die_with_parent)
        self.events = []
        self.lock = threading.Lock()
        self.killed_at = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"e": "garbage", "line": line.decode(errors="replace"), "t": time.monotonic()}
            with self.lock:
                self.events.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def owned(self):
        """Partitions this member holds according to its callbacks (empty once killed)."""
        if self.killed_at is not None:
            return set()
        return owned_from_events(self.snapshot())

    def records(self):
        out = []
        for ev in self.snapshot():
            if ev["e"] == "recs":
                out.extend((p, o) for p, o in ev["r"])
        return out

    def count(self):
        return sum(ev["n"] for ev in self.snapshot() if ev["e"] == "recs")

    def errors(self):
        return [ev for ev in self.snapshot() if ev["e"] in ("error", "crash", "garbage")]

    def alive(self):
        return self.proc.poll() is None

    def close(self, timeout_s=30):
        """Asks for Consumer.close() and waits for the process to exit."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"close\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("member %s did not close within %ds" % (self.name, timeout_s))
        self.reader.join(5)
        self._stderr.close()

    def kill(self):
        """SIGKILL by PID: the member stops heartbeating without leaving."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            if self.killed_at is None:
                self.killed_at = time.monotonic()
        self.reader.join(5)
        self._stderr.close()

    def stderr_tail(self, n=2000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""


def owned_from_events(events):
    owned = set()
    for ev in events:
        if ev["e"] == "assign":
            owned |= set(ev["p"])
        elif ev["e"] in ("revoke", "lost"):
            owned -= set(ev["p"])
        elif ev["e"] == "closed":
            owned = set()
    return owned


def ownership_intervals(member):
    """[(partition, start, end)] from a member's callbacks; a partition still
    held ends at the kill time, or stays open (end=None)."""
    out, start = [], {}
    for ev in member.snapshot():
        if ev["e"] == "assign":
            for p in ev["p"]:
                if p in start:
                    raise AssertionError("member %s: partition %d assigned twice without a "
                                         "revoke in between (%r)" % (member.name, p, ev))
                start[p] = ev["t"]
        elif ev["e"] in ("revoke", "lost"):
            for p in ev["p"]:
                if p in start:
                    out.append((p, start.pop(p), ev["t"]))
        elif ev["e"] == "closed":
            for p, s in start.items():
                out.append((p, s, ev["t"]))
            start = {}
    for p, s in start.items():
        out.append((p, s, member.killed_at))
    return out


def assert_no_double_ownership(members):
    """No partition was held by two members at the same time. Ownership starts
    when on_assign ran (after SyncGroup answered) and ends when on_revoke ran
    (before the member rejoined), so a broker that hands out a partition still
    held elsewhere shows up as overlapping intervals."""
    by_part = {}
    for m in members:
        for p, s, e in ownership_intervals(m):
            by_part.setdefault(p, []).append((s, float("inf") if e is None else e, m.name))
    for p, ivs in by_part.items():
        ivs.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(ivs, ivs[1:]):
            if n1 != n2 and s2 < e1:
                raise AssertionError(
                    "partition %d held by %s and %s at once: %s from %.3f to %s, %s from %.3f"
                    % (p, n1, n2, n1, s1, "end" if e1 == float("inf") else "%.3f" % e1, n2, s2))


def wait_for(cond, timeout_s, what, interval=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout_s, what))


def wait_stable(members, partitions, timeout_s, quiet_s=1.5, each_nonempty=True):
    """Waits until the live members together own every partition exactly once
    (each member some) and nothing changed for quiet_s. Returns {name: set}."""
    deadline = time.monotonic() + timeout_s
    last, since = None, None
    while time.monotonic() < deadline:
        owned = {m.name: m.owned() for m in members if m.killed_at is None}
        flat = [p for s in owned.values() for p in s]
        ok = sorted(flat) == list(range(partitions)) and (
            not each_nonempty or all(owned.values()))
        state = repr(sorted((k, sorted(v)) for k, v in owned.items()))
        if ok:
            if state != last:
                last, since = state, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return owned
        else:
            last, since = None, None
        time.sleep(0.1)
    owned = {m.name: sorted(m.owned()) for m in members}
    errs = {m.name: m.errors()[:3] for m in members if m.errors()}
    raise AssertionError("group not stable after %ds: ownership %r (want partitions 0..%d, "
                         "each exactly once%s); member errors %r"
                         % (timeout_s, owned, partitions - 1,
                            ", every member some" if each_nonempty else "", errs))


# ------------------------------------------------------------------- broker
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _api_versions_round_trip(port):
    """One ApiVersions v0 request/response on a fresh connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        client = b"groups-probe"
        msg = (b"\x00\x12\x00\x00" + (4242).to_bytes(4, "big")
               + len(client).to_bytes(2, "big") + client)
        s.sendall(len(msg).to_bytes(4, "big") + msg)
        head = b""
        while len(head) < 8:
            chunk = s.recv(8 - len(head))
            if not chunk:
                raise OSError("closed")
            head += chunk
        if int.from_bytes(head[4:8], "big") != 4242:
            raise OSError("bad correlation id")
    finally:
        s.close()


class OwnBroker:
    """A sluiced of this test's own: SLUICED on a free port, data in a fresh
    directory under SLUICE_STATE_DIR."""

    def __init__(self, extra=()):
        binary = os.environ.get("SLUICED")
        if not binary:
            raise RuntimeError("set SLUICED, the broker binary (tests/integration/run.sh does)")
        self.binary = binary
        self.work = tempfile.mkdtemp(prefix="groups-broker-", dir=os.environ.get("SLUICE_STATE_DIR"))
        self.data = os.path.join(self.work, "data")
        self.port = free_port()
        self.boot = "127.0.0.1:%d" % self.port
        self.extra = list(extra)
        self.proc = None

    def start(self, timeout_s=30):
        log = open(os.path.join(self.work, "broker.log"), "ab")
        args = [self.binary,
                "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
                "--override", "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
                "--override", "log.dirs=%s" % self.data,
                "--override", "num.partitions=4"]
        for kv in self.extra:
            args += ["--override", kv]
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=self.work,
                                     preexec_fn=_die_with_parent)
        log.close()
        # Ready means an ApiVersions answer: right after a SIGKILL the dead
        # broker's listening socket can linger and take a connection it resets.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("sluiced exited with status %s at start; log tail:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                _api_versions_round_trip(self.port)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("sluiced did not answer ApiVersions within %ds" % timeout_s)

    def stop(self, timeout_s=60):
        """SIGTERM, wait; a clean stop exits 0 (or 143)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sluiced still running %ds after SIGTERM" % timeout_s)
        if rc not in (0, 143, -15):
            raise AssertionError("sluiced exited with status %d after SIGTERM; log tail:\n%s"
                                 % (rc, self.log_tail()))

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, n=3000):
        try:
            with open(os.path.join(self.work, "broker.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        """Sanitizer or assertion lines in the broker log (as run.sh checks its own)."""
        import re
        pat = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                         r"ASSERTION FAILED")
        try:
            with open(os.path.join(self.work, "broker.log"), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if pat.search(line)][:5]

    def cleanup(self):
        """Kills the broker if still running; fails on sanitizer reports in its log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        report = self.sanitizer_report()
        if report:
            raise AssertionError("the broker log %s has sanitizer or assertion reports:\n%s"
                                 % (os.path.join(self.work, "broker.log"), "\n".join(report)))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "member":
        sys.exit(_member_main(sys.argv[2:]))
    print("usage: groups_util.py member --bootstrap B --group G --topic T --name N ...",
          file=sys.stderr)
    sys.exit(2)
