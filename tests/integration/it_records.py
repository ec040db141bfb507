"""Deterministic test records and their checks, shared by the Python client
tests (test_confluent_kafka.py, test_kafka_python.py). Standard library only.

Record i is a pure function of (i, base_ts), so a check run after a broker
restart regenerates what was sent instead of trusting anything stored by the
broker. Every shape a client can send appears: null, empty, text and binary
keys; null, empty and text+binary values; no headers, one header, a duplicated
header name, a null and an empty header value; a CreateTime timestamp.

State files (JSON) record where each record was acknowledged, so a later check
can require the *same* record at the *same* offset.
"""

import json
import os

# Bytes 0..255 in a scrambled order, doubled so that any window of up to 256
# bytes can be sliced without wrapping.
_PATTERN = bytes((k * 167 + 13) & 0xFF for k in range(256)) * 2


def make_record(i, base_ts, null_header_values=True, null_key_and_value=True):
    """Returns (key, value, headers, timestamp_ms) for record i.

    headers is a list of (str, bytes or None). Two switches step around
    client limitations (the broker must handle both cases; the C test sends
    them):
      null_header_values=False   a null header value becomes empty: kafka-python
                                 2.0.2 refuses to send one, and confluent-kafka
                                 1.7.0 corrupts None's refcount when it reads one
                                 (the interpreter aborts).
      null_key_and_value=False   a record whose key and value would both be null
                                 gets an empty key: kafka-python refuses it.
    """
    if i % 10 == 3:
        key = None
    elif i % 10 == 7:
        key = b""
    elif i % 10 == 9:
        key = i.to_bytes(8, "big")
    else:
        key = b"pk-%d" % (i % 503)

    if i % 9 == 4:
        value = None
    elif i % 9 == 8:
        value = b""
    else:
        start = i % 256
        value = b"pv-%d-" % i + _PATTERN[start:start + i % 200]

    if not null_key_and_value and key is None and value is None:
        key = b""

    kind = i % 4
    if kind == 0:
        headers = []
    elif kind == 1:
        headers = [("h", b"%d" % i)]
    elif kind == 2:
        headers = [("dup", b"a"), ("dup", b"b")]
    else:
        headers = [("nul", None if null_header_values else b""), ("emp", b"")]
    return key, value, headers, base_ts + i % 100000


def describe(data):
    """Short printable form of a key or value for failure messages."""
    if data is None:
        return "null"
    return "%d bytes %r" % (len(data), bytes(data[:24]))


class Mismatches:
    """Collects differences; the first `limit` are kept for the report."""

    def __init__(self, limit=20):
        self.count = 0
        self.limit = limit
        self.lines = []

    def add(self, text):
        self.count += 1
        if len(self.lines) < self.limit:
            self.lines.append(text)

    def report(self):
        more = self.count - len(self.lines)
        tail = ["... and %d more" % more] if more > 0 else []
        return "%d mismatches:\n  " % self.count + "\n  ".join(self.lines + tail)


def compare_record(out, where, i, base_ts, key, value, headers, timestamp, **limits):
    """Compares a consumed record with record i (made with the same `limits`
    keywords as make_record); adds differences to out."""
    want_key, want_value, want_headers, want_ts = make_record(i, base_ts, **limits)
    if key != want_key:
        out.add("%s: record %d key %s, expected %s" % (where, i, describe(key), describe(want_key)))
    if value != want_value:
        out.add("%s: record %d value %s, expected %s"
                % (where, i, describe(value), describe(want_value)))
    got_headers = [(k, None if v is None else bytes(v)) for k, v in (headers or [])]
    if got_headers != want_headers:
        out.add("%s: record %d headers %r, expected %r" % (where, i, got_headers, want_headers))
    if timestamp != want_ts:
        out.add("%s: record %d timestamp %r, expected %r" % (where, i, timestamp, want_ts))


def state_path(name):
    """Where the state of test `name` lives: $SLUICE_STATE_DIR/name.json."""
    directory = os.environ.get("SLUICE_STATE_DIR")
    if not directory:
        raise RuntimeError("SLUICE_STATE_DIR is not set: run through tests/integration/run.sh")
    return os.path.join(directory, name + ".json")


def save_state(name, topic, partitions, base_ts, acks):
    """acks[i] = (partition, offset) of record i."""
    with open(state_path(name), "w") as f:
        json.dump({"topic": topic, "partitions": partitions, "base_ts": base_ts,
                   "acks": acks}, f)


def load_state(name):
    path = state_path(name)
    if not os.path.exists(path):
        raise AssertionError("%s is missing: the produce test did not run or failed first" % path)
    with open(path) as f:
        return json.load(f)


def bootstrap():
    value = os.environ.get("SLUICE_BOOTSTRAP")
    if not value:
        raise RuntimeError("SLUICE_BOOTSTRAP is not set: run through tests/integration/run.sh")
    return value


def positions(acks):
    """{(partition, offset): i} from acks; raises if two records share one."""
    by_pos = {}
    for i, (partition, offset) in enumerate(acks):
        if (partition, offset) in by_pos:
            raise AssertionError("records %d and %d were both acknowledged at partition %d "
                                 "offset %d" % (by_pos[(partition, offset)], i, partition, offset))
        by_pos[(partition, offset)] = i
    return by_pos


def expected_high_watermarks(acks, partitions):
    """Per partition: 1 + highest acknowledged offset (0 if none)."""
    high = [0] * partitions
    for partition, offset in acks:
        high[partition] = max(high[partition], offset + 1)
    return high


class StreamCheck:
    """Checks the records a consumer returns, partition by partition, against
    a saved state: offsets contiguous from 0, each offset holding the record
    acknowledged there (byte-identical), production order kept within a
    partition, and every partition read up to its expected high watermark."""

    def __init__(self, state, **limits):
        self.partitions = state["partitions"]
        self.base_ts = state["base_ts"]
        self.limits = limits
        acks = [tuple(a) for a in state["acks"]]
        self.expected = len(acks)
        self.by_pos = positions(acks)
        self.high = expected_high_watermarks(acks, self.partitions)
        self.next_offset = [0] * self.partitions
        self.last_index = [-1] * self.partitions
        self.out = Mismatches()
        self.total = 0

    def done(self):
        """True once everything was read, or enough went wrong to stop."""
        return self.total >= self.expected or self.out.count >= 20

    def progress(self):
        return ("read %d of %d records; next offsets %r, high watermarks %r"
                % (self.total, self.expected, self.next_offset, self.high))

    def visit(self, p, o, key, value, headers, timestamp, create_time):
        where = "partition %d offset %d" % (p, o)
        if not 0 <= p < self.partitions:
            self.out.add("%s: unexpected partition" % where)
            return
        if o != self.next_offset[p]:
            self.out.add("%s: expected offset %d next (offsets must be contiguous)"
                         % (where, self.next_offset[p]))
            return
        self.next_offset[p] += 1
        self.total += 1
        i = self.by_pos.get((p, o))
        if i is None:
            self.out.add("%s: a record that was never acknowledged" % where)
            return
        if i <= self.last_index[p]:
            self.out.add("%s: record %d after record %d (production order broken)"
                         % (where, i, self.last_index[p]))
        self.last_index[p] = i
        if not create_time:
            self.out.add("%s: timestamp type is not CreateTime" % where)
        compare_record(self.out, where, i, self.base_ts, key, value, headers, timestamp,
                       **self.limits)

    def assert_ok(self):
        assert self.out.count == 0, self.out.report()
        assert self.next_offset == self.high, self.progress()
