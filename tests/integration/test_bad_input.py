"""Malformed and hostile requests over raw sockets: the broker must reject each
one the way Apache Kafka does and keep serving everybody else.

Python standard library only. Every byte is built here from the protocol
rules (KAFKA-PROTOCOL.md, Kafka's message JSON specs), including a record
batch v2 encoder with a pure-Python CRC-32C, so the test shares no code with
the broker's codecs.

After each bad input a fresh connection must still get an ApiVersions answer
and a Metadata answer that lists this test's topic (assert_broker_serving).
Positive controls (a valid Produce v3 that is stored byte-for-byte) make sure
the rejections are not a broker that rejects everything.

Environment: SLUICE_BOOTSTRAP (host:port), SLUICE_SOCKET_REQUEST_MAX_BYTES
(the socket.request.max.bytes the broker was started with).
Run: /usr/bin/python3 -m pytest tests/integration/test_bad_input.py
"""

import os
import socket
import struct
import time
import unittest
import zlib

TOPIC = "it-bad-input"
PARTITIONS = 2
CLIENT_ID = "sluice-bad-input"
IO_TIMEOUT_S = 15

# Kafka error codes (Errors.java)
NONE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 2, 3
UNSUPPORTED_VERSION, TOPIC_ALREADY_EXISTS, INVALID_REQUEST, INVALID_RECORD = 35, 36, 42, 87
# API keys
PRODUCE, FETCH, LIST_OFFSETS, METADATA, API_VERSIONS, CREATE_TOPICS = 0, 1, 2, 3, 18, 19


# --------------------------------------------------------------- CRC-32C
def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli, reflected), as record batch v2 uses."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


# ------------------------------------------------------------- encoders
def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    """STRING / NULLABLE_STRING: int16 length (-1 = null) + UTF-8."""
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def nbytes(b):
    """BYTES / NULLABLE_BYTES / RECORDS: int32 length (-1 = null)."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items):
    """ARRAY of already encoded items: int32 count (-1 = null)."""
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    """Zig-zag signed varint (record fields)."""
    return uvarint((n << 1) ^ (n >> 63))


def compact_string(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def frame(api_key, version, correlation_id, body, flexible=False):
    """A request frame: int32 size, header v1 (v2 = v1 + empty tagged fields
    for flexible versions), body."""
    header = i16(api_key) + i16(version) + i32(correlation_id) + string(CLIENT_ID)
    if flexible:
        header += uvarint(0)
    msg = header + body
    return i32(len(msg)) + msg


def record(offset_delta, timestamp_delta, key, value, headers):
    body = (i8(0) + varint(timestamp_delta) + varint(offset_delta)
            + (varint(-1) if key is None else varint(len(key)) + key)
            + (varint(-1) if value is None else varint(len(value)) + value)
            + varint(len(headers)))
    for name, hvalue in headers:
        body += varint(len(name)) + name
        body += varint(-1) if hvalue is None else varint(len(hvalue)) + hvalue
    return varint(len(body)) + body


def record_batch(records, base_timestamp):
    """Record batch v2 (magic 2), uncompressed, no producer id.
    records: list of (key, value, headers); offsets and timestamps 0, 1, ..."""
    body = b"".join(record(n, n, k, v, h) for n, (k, v, h) in enumerate(records))
    after_crc = (i16(0)                              # attributes
                 + i32(len(records) - 1)             # lastOffsetDelta
                 + i64(base_timestamp)               # baseTimestamp
                 + i64(base_timestamp + len(records) - 1)  # maxTimestamp
                 + i64(-1) + i16(-1) + i32(-1)       # producerId, epoch, baseSequence
                 + i32(len(records)) + body)
    batch_length = 4 + 1 + 4 + len(after_crc)  # partitionLeaderEpoch, magic, crc, rest
    return (i64(0) + i32(batch_length) + i32(-1) + i8(2)
            + struct.pack(">I", crc32c(after_crc)) + after_crc)


def message_set_v1(key, value, timestamp):
    """A magic-1 message set (what Produce v0-2 carry), CRC-32 (IEEE)."""
    msg = i8(1) + i8(0) + i64(timestamp) + nbytes(key) + nbytes(value)
    msg = struct.pack(">I", zlib.crc32(msg)) + msg
    return i64(0) + i32(len(msg)) + msg


def sample_records(tag):
    return [(b"key-" + tag, b"value-" + tag, [(b"h", b"v"), (b"n", None)]),
            (None, b"no key " + tag, []),
            (b"key-" + tag, None, [(b"e", b"")])]


# ---------------------------------------------------------------- decoder
class Reader:
    """Bounds-checked reads over a response body."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise AssertionError("response truncated: need %d bytes at %d of %d"
                                 % (n, self.pos, len(self.data)))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n == -1 else self.take(n).decode()

    def nbytes(self):
        n = self.i32()
        return None if n == -1 else self.take(n)

    def array(self, item):
        n = self.i32()
        if n == -1:
            return None
        if n < 0 or n > len(self.data):
            raise AssertionError("absurd array count %d" % n)
        return [item(self) for _ in range(n)]

    def end(self):
        if self.pos != len(self.data):
            raise AssertionError("%d unexpected trailing bytes in response: %r"
                                 % (len(self.data) - self.pos, self.data[self.pos:self.pos + 32]))


class Closed(Exception):
    pass


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=IO_TIMEOUT_S)
        self.correlation_id = 1000

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise Closed("connection closed after %d of %d bytes" % (len(out), n))
            out += chunk
        return bytes(out)

    def recv_frame(self):
        size = struct.unpack(">i", self._recv_exact(4))[0]
        if not 4 <= size <= 64 << 20:
            raise AssertionError("response frame size %d" % size)
        return self._recv_exact(size)

    def request(self, api_key, version, body, flexible=False):
        """Sends one request and returns the response body after checking the
        correlation id (response header v0; flexible non-ApiVersions
        responses use header v1, whose tagged fields are skipped)."""
        self.correlation_id += 1
        self.send(frame(api_key, version, self.correlation_id, body, flexible))
        data = self.recv_frame()
        got = struct.unpack(">i", data[:4])[0]
        if got != self.correlation_id:
            raise AssertionError("correlation id %d, expected %d" % (got, self.correlation_id))
        return data[4:]

    def outcome(self, wait_s=IO_TIMEOUT_S):
        """After a bad input: ('closed', None) if the broker closed the
        connection, or ('response', frame) if it answered. Fails if it did
        neither within wait_s."""
        self.sock.settimeout(wait_s)
        try:
            head = self.sock.recv(4)
        except (ConnectionResetError, BrokenPipeError):
            return "closed", None
        except socket.timeout:
            raise AssertionError("the broker neither answered nor closed the connection "
                                 "within %ds" % wait_s)
        if not head:
            return "closed", None
        try:
            head += self._recv_exact(4 - len(head))
            size = struct.unpack(">i", head)[0]
            return "response", self._recv_exact(size) if 0 < size <= 64 << 20 else head
        except (Closed, ConnectionResetError):
            return "response", head


# ------------------------------------------------------------ the tests
class BadInput(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        bootstrap = os.environ.get("SLUICE_BOOTSTRAP")
        max_bytes = os.environ.get("SLUICE_SOCKET_REQUEST_MAX_BYTES")
        if not bootstrap or not max_bytes:
            raise RuntimeError("set SLUICE_BOOTSTRAP and SLUICE_SOCKET_REQUEST_MAX_BYTES "
                               "(tests/integration/run.sh does)")
        host, port = bootstrap.rsplit(":", 1)
        cls.host, cls.port, cls.max_request_bytes = host, int(port), int(max_bytes)
        conn = cls.connect()
        try:
            cls.api_versions = cls.api_versions_v0(conn)
            body = cls.create_topics_v2_body(TOPIC, PARTITIONS)
            r = Reader(conn.request(CREATE_TOPICS, 2, body))
            r.i32()  # throttle_time_ms
            topics = r.array(lambda r: (r.string(), r.i16(), r.string()))
            r.end()
            if len(topics) != 1 or topics[0][0] != TOPIC or \
                    topics[0][1] not in (NONE, TOPIC_ALREADY_EXISTS):
                raise AssertionError("CreateTopics v2 %s: %r" % (TOPIC, topics))
        finally:
            conn.close()
        deadline = time.monotonic() + 30
        while True:
            conn = cls.connect()
            try:
                brokers, topics = cls.metadata_v1(conn)
            finally:
                conn.close()
            parts = topics.get(TOPIC)
            if parts and len(parts) == PARTITIONS and all(
                    err == NONE and leader >= 0 for err, leader in parts.values()):
                break
            if time.monotonic() > deadline:
                raise AssertionError("topic %s not ready after 30s: %r" % (TOPIC, parts))
            time.sleep(0.2)

    # -- helpers --------------------------------------------------------
    @classmethod
    def connect(cls):
        return Conn(cls.host, cls.port)

    @staticmethod
    def api_versions_v0(conn):
        """ApiVersions v0 -> {api_key: (min, max)}; requires error 0."""
        r = Reader(conn.request(API_VERSIONS, 0, b""))
        error = r.i16()
        entries = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
        r.end()
        if error != NONE:
            raise AssertionError("ApiVersions v0 error %d" % error)
        versions = {k: (lo, hi) for k, lo, hi in entries}
        for key in (PRODUCE, FETCH, LIST_OFFSETS, METADATA, API_VERSIONS):
            if key not in versions:
                raise AssertionError("ApiVersions does not list api key %d: %r" % (key, versions))
        return versions

    @staticmethod
    def metadata_v1(conn):
        """Metadata v1 for all topics -> (brokers, {topic: {partition: (error, leader)}})."""
        r = Reader(conn.request(METADATA, 1, array(None)))
        brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
        r.i32()  # controller_id

        def partition(r):
            err, index, leader = r.i16(), r.i32(), r.i32()
            r.array(lambda r: r.i32())  # replicas
            r.array(lambda r: r.i32())  # isr
            return index, (err, leader)

        topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(partition)))
        r.end()
        return brokers, {name: dict(parts) for _, name, _, parts in topics}

    @staticmethod
    def create_topics_v2_body(topic, partitions):
        topic_entry = string(topic) + i32(partitions) + i16(1) + array([]) + array([])
        return array([topic_entry]) + i32(30000) + i8(0)

    @staticmethod
    def produce_body(version, partition, records, acks=-1):
        part = i32(partition) + nbytes(records)
        topic = string(TOPIC) + array([part])
        head = (string(None) if version >= 3 else b"") + i16(acks) + i32(30000)
        return head + array([topic])

    @staticmethod
    def parse_produce_response(body):
        """Produce v2/v3 response -> [(partition, error, base_offset)]."""
        r = Reader(body)
        topics = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
        r.i32()  # throttle_time_ms
        r.end()
        if len(topics) != 1 or topics[0][0] != TOPIC:
            raise AssertionError("Produce response for topics %r" % [t[0] for t in topics])
        return [(p, err, base) for p, err, base, _ in topics[0][1]]

    def produce(self, version, partition, records, conn=None):
        """One Produce request; returns (partition, error, base_offset)."""
        own = conn is None
        conn = conn or self.connect()
        try:
            body = conn.request(PRODUCE, version, self.produce_body(version, partition, records))
            parts = self.parse_produce_response(body)
        finally:
            if own:
                conn.close()
        self.assertEqual(len(parts), 1, "Produce response partitions %r" % parts)
        self.assertEqual(parts[0][0], partition, "Produce response partitions %r" % parts)
        return parts[0]

    def high_watermark(self, partition):
        """ListOffsets v1, timestamp -1 (latest) -> the log end offset."""
        conn = self.connect()
        try:
            body = array([string(TOPIC) + array([i32(partition) + i64(-1)])])
            r = Reader(conn.request(LIST_OFFSETS, 1, i32(-1) + body))
            topics = r.array(lambda r: (r.string(), r.array(
                lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
            r.end()
        finally:
            conn.close()
        (name, parts), = topics
        (index, err, _, offset), = parts
        self.assertEqual((name, index, err), (TOPIC, partition, NONE),
                         "ListOffsets answered %r" % topics)
        return offset

    def fetch_batch(self, partition, offset):
        """Fetch v4 from `offset`: returns the bytes of the first batch."""
        conn = self.connect()
        try:
            part = i32(partition) + i64(offset) + i32(1 << 20)
            body = (i32(-1) + i32(500) + i32(1) + i32(1 << 20) + i8(0)
                    + array([string(TOPIC) + array([part])]))
            r = Reader(conn.request(FETCH, 4, body))
            r.i32()  # throttle_time_ms
            topics = r.array(lambda r: (r.string(), r.array(lambda r: (
                r.i32(), r.i16(), r.i64(), r.i64(),
                r.array(lambda r: (r.i64(), r.i64())), r.nbytes()))))
            r.end()
        finally:
            conn.close()
        (name, parts), = topics
        (index, err, high, _, _, records), = parts
        self.assertEqual((name, index, err), (TOPIC, partition, NONE), "Fetch answered %r" % topics)
        self.assertTrue(records and len(records) >= 12, "Fetch returned no records at offset %d "
                        "(high watermark %d)" % (offset, high))
        length = struct.unpack(">i", records[8:12])[0]
        self.assertLessEqual(12 + length, len(records), "Fetch returned a partial first batch")
        return records[:12 + length]

    def assert_broker_serving(self):
        """A fresh connection gets ApiVersions and Metadata answers, and the
        Metadata lists this broker and the test topic."""
        conn = self.connect()
        try:
            self.api_versions_v0(conn)
            brokers, topics = self.metadata_v1(conn)
        finally:
            conn.close()
        self.assertTrue(any(port == self.port for _, _, port, _ in brokers),
                        "Metadata brokers %r do not include port %d" % (brokers, self.port))
        self.assertIn(TOPIC, topics, "Metadata no longer lists %s" % TOPIC)
        self.assertEqual(len(topics[TOPIC]), PARTITIONS)

    def assert_closed(self, data, what):
        conn = self.connect()
        try:
            conn.send(data)
            kind, got = conn.outcome()
        finally:
            conn.close()
        self.assertEqual(kind, "closed", "%s: expected the connection to be closed, got a "
                         "response %r" % (what, got[:64] if got else got))

    def assert_closed_or_error(self, data, correlation_id, allowed_errors, what):
        """Closed, or a response with this correlation id whose body starts
        (after an optional empty tagged-field byte) with an allowed error."""
        conn = self.connect()
        try:
            conn.send(data)
            kind, got = conn.outcome()
        finally:
            conn.close()
        if kind == "closed":
            return
        self.assertGreaterEqual(len(got), 6, "%s: short response %r" % (what, got))
        self.assertEqual(struct.unpack(">i", got[:4])[0], correlation_id,
                         "%s: response with another correlation id" % what)
        errors = {struct.unpack(">h", got[4:6])[0]}
        if got[4] == 0 and len(got) >= 7:
            errors.add(struct.unpack(">h", got[5:7])[0])
        self.assertTrue(errors & set(allowed_errors), "%s: response %r carries no error in %r"
                        % (what, got[:32], allowed_errors))

    def assert_rejected_not_stored(self, version, records, allowed_errors, what):
        """Produces `records` to partition 0 and requires one of
        allowed_errors and an unchanged log end offset."""
        before = self.high_watermark(0)
        _, err, _ = self.produce(version, 0, records)
        self.assertIn(err, allowed_errors, "%s: Produce error %d, expected one of %r"
                      % (what, err, allowed_errors))
        self.assertEqual(self.high_watermark(0), before, "%s: the log grew" % what)

    def tearDown(self):
        self.assert_broker_serving()

    # -- framing ----------------------------------------------------------
    def test_http_request_closes_connection(self):
        # "GET " read as a size is 1195725856, far above any request limit.
        self.assert_closed(b"GET / HTTP/1.1\r\nHost: sluice\r\n\r\n", "HTTP request")

    def test_garbage_frame_closes_connection(self):
        # A well-sized frame whose header names api key 0xdead (-8531).
        self.assert_closed(i32(12) + b"\xde\xad\xbe\xef" * 3, "garbage frame")

    def test_zero_length_frame_closes_connection(self):
        self.assert_closed(i32(0), "zero-length frame")

    def test_frame_over_socket_request_max_bytes_closes_connection(self):
        for size in (self.max_request_bytes + 1, 0x7FFFFFFF):
            with self.subTest(size=size):
                self.assert_closed(i32(size) + b"\x00" * 64, "frame of %d bytes" % size)

    def test_negative_length_closes_connection(self):
        for size in (-1, -2, -0x80000000):
            with self.subTest(size=size):
                self.assert_closed(i32(size) + b"\x00" * 16, "frame of size %d" % size)

    def test_truncated_header_closes_connection(self):
        # The frame ends inside the client id string.
        self.assert_closed(i32(10) + i16(API_VERSIONS) + i16(0) + i32(7) + i16(50),
                           "header cut inside client_id")

    # -- versions ---------------------------------------------------------
    def test_unknown_api_key_closes_or_errors(self):
        self.assert_closed_or_error(frame(9999, 0, 77, b""), 77,
                                    (UNSUPPORTED_VERSION, INVALID_REQUEST), "api key 9999")

    def test_api_versions_v127_answers_v0_error_35(self):
        # KIP-511: an unknown ApiVersions version gets a v0-format response
        # with UNSUPPORTED_VERSION and (at least) the ApiVersions range.
        body = compact_string("sluice-bad-input") + compact_string("0.0") + uvarint(0)
        conn = self.connect()
        try:
            conn.send(frame(API_VERSIONS, 127, 4242, body, flexible=True))
            data = conn.recv_frame()
            r = Reader(data)
            self.assertEqual(r.i32(), 4242, "correlation id")
            self.assertEqual(r.i16(), UNSUPPORTED_VERSION, "error code")
            entries = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
            r.end()  # v0: nothing after the array (no throttle, no tags)
            versions = {k: (lo, hi) for k, lo, hi in entries}
            self.assertIn(API_VERSIONS, versions, "the ApiVersions entry is missing: %r" % entries)
            lo, hi = versions[API_VERSIONS]
            self.assertEqual(lo, 0, "ApiVersions min version")
            self.assertGreaterEqual(hi, 3, "ApiVersions max version")
            # The connection stays usable: clients retry on it with a lower version.
            self.api_versions_v0(conn)
        finally:
            conn.close()

    def test_metadata_unsupported_version_closes_or_errors(self):
        version = self.api_versions[METADATA][1] + 1
        flexible = version >= 9
        if flexible:  # topics=null, allow_auto_topic_creation, include_*_operations, tags
            body = uvarint(0) + i8(1) + i8(0) + i8(0) + uvarint(0)
        else:
            body = array(None) + i8(1) + i8(0) + i8(0)
        self.assert_closed_or_error(frame(METADATA, version, 78, body, flexible), 78,
                                    (UNSUPPORTED_VERSION,), "Metadata v%d" % version)

    def test_produce_v2_is_rejected(self):
        # Kafka 4.0 advertises Produce from v0 but rejects v0-2 (KAFKA-18659).
        before = self.high_watermark(0)
        records = message_set_v1(b"k", b"old format", int(time.time() * 1000))
        body = self.produce_body(2, 0, records)
        conn = self.connect()
        try:
            conn.send(frame(PRODUCE, 2, 79, body))
            kind, got = conn.outcome()
        finally:
            conn.close()
        if kind == "response":
            self.assertEqual(struct.unpack(">i", got[:4])[0], 79, "correlation id")
            parts = self.parse_produce_response(got[4:])
            self.assertEqual([(p, err) for p, err, _ in parts], [(0, UNSUPPORTED_VERSION)],
                             "Produce v2 answered %r" % parts)
        self.assertEqual(self.high_watermark(0), before, "Produce v2 wrote to the log")

    # -- record batches ---------------------------------------------------
    def test_valid_batch_is_stored_verbatim(self):
        # Positive control for the rejections below.
        batch = record_batch(sample_records(b"ok"), int(time.time() * 1000))
        before = self.high_watermark(0)
        partition, err, base_offset = self.produce(3, 0, batch)
        self.assertEqual(err, NONE, "a valid batch was rejected with error %d" % err)
        self.assertEqual(base_offset, before, "base offset")
        self.assertEqual(self.high_watermark(0), before + 3, "log end offset after 3 records")
        stored = self.fetch_batch(0, base_offset)
        self.assertEqual(struct.unpack(">q", stored[:8])[0], base_offset, "stored baseOffset")
        self.assertEqual(stored[8:12], batch[8:12], "stored batchLength")
        # partitionLeaderEpoch (bytes 12-15) is the broker's to stamp; the
        # rest, CRC included, must be exactly what the client sent.
        self.assertEqual(stored[16:], batch[16:], "stored batch differs from the one sent")

    def test_truncated_batch_is_rejected(self):
        batch = record_batch(sample_records(b"cut"), int(time.time() * 1000))
        for cut in (len(batch) - 7, 40):
            with self.subTest(bytes_kept=cut):
                self.assert_rejected_not_stored(3, batch[:cut], (CORRUPT_MESSAGE, INVALID_RECORD),
                                                "batch cut to %d of %d bytes" % (cut, len(batch)))

    def test_crc_corrupt_batch_is_rejected(self):
        batch = bytearray(record_batch(sample_records(b"crc"), int(time.time() * 1000)))
        for position in (70, 17):  # a record byte; the CRC field itself
            with self.subTest(flipped_byte=position):
                bad = bytearray(batch)
                bad[position] ^= 0x55
                self.assert_rejected_not_stored(3, bytes(bad), (CORRUPT_MESSAGE, INVALID_RECORD),
                                                "byte %d flipped" % position)

    def test_produce_to_unknown_partition(self):
        batch = record_batch(sample_records(b"p99"), int(time.time() * 1000))
        before = [self.high_watermark(p) for p in range(PARTITIONS)]
        _, err, _ = self.produce(3, 99, batch)
        self.assertEqual(err, UNKNOWN_TOPIC_OR_PARTITION, "Produce to partition 99")
        self.assertEqual([self.high_watermark(p) for p in range(PARTITIONS)], before,
                         "a log grew after producing to partition 99")


if __name__ == "__main__":
    unittest.main()
