"""The broker's receive paths for large request frames, driven with raw
Kafka frames over plain sockets.

A frame of which at least SL_DIRECT_RECV_MIN_BYTES (64 KiB) are still
missing is received straight into the frame buffer: the connection cancels
its multishot receive (provided buffers) and, once that has ended, issues one
RECV with MSG_WAITALL for the rest of the frame; then the multishot resumes
(core/sl_conn.c). The cases here make that path meet everything it has to
live with, and each fails on a lost, duplicated or misplaced byte (the
stored record batches are compared with the ones sent, CRC included), a
response missing or out of order, a hang (every socket has a timeout), a
connection closed that should not be, or a broker that died:

  a) a ~1 MiB Produce trickled in 7 KiB pieces, the size prefix split across
     two sends; the same frame in one send; frames whose missing part is just
     below, at and just above the 64 KiB threshold when the first piece lands.
  b) pipelining: one sendall holding a large Produce, small requests
     (ApiVersions, Metadata) and more large Produce requests: every response,
     in order; also with the first frame's head sent 50 ms earlier, so the
     rest lands on a direct receive with the pipelined requests right behind.
  c) 96 pipelined large Produce requests (more than SL_MAX_INFLIGHT_PER_CONN =
     64) behind Fetch responses the client reads slowly, so the broker must
     stop reading (backpressure) in the middle of large frames and resume.
  d) clients that go away in the middle of a 2 MiB frame (close, FIN while
     still reading, RST) or while the broker has paused their receive: the
     broker closes those, frees them (its count of open sockets falls back:
     a connection whose hold leaks keeps its socket) and keeps serving others.
  e) a frame of exactly socket.request.max.bytes is served; one byte more
     closes only that connection (also when it follows a large frame).

Python standard library only (the encoders and CRC-32C come from
test_bad_input.py). Environment (set by run.sh): SLUICE_BOOTSTRAP,
SLUICE_SOCKET_REQUEST_MAX_BYTES, SLUICE_IT_BROKER_PID (optional).
Run: /usr/bin/python3 -m pytest tests/integration/test_recv_paths.py
"""

import os
import random
import socket
import struct
import threading
import time

import pytest

from test_bad_input import (Reader, array, frame, i8, i16, i32, i64, record_batch, string)

TOPIC = "it-recv-paths"
PARTITIONS = 6
# Partition per case, so that no case sees another's batches.
P_TRICKLE, P_PIPELINE, P_PAUSE, P_FILL, P_GONE, P_LIMIT = range(PARTITIONS)
MAX_MESSAGE_BYTES = 8 << 20  # the topic's max.message.bytes: above every batch here
IO_TIMEOUT_S = 15
DIRECT_MIN = 64 * 1024  # SL_DIRECT_RECV_MIN_BYTES (proto/base/sl_limits.h)
MAX_INFLIGHT = 64  # SL_MAX_INFLIGHT_PER_CONN

PRODUCE, FETCH, METADATA, API_VERSIONS, CREATE_TOPICS = 0, 1, 3, 18, 19
NONE, TOPIC_ALREADY_EXISTS = 0, 36


# ------------------------------------------------------------- env, socket
def _bootstrap():
    boot = os.environ.get("SLUICE_BOOTSTRAP")
    if not boot:
        raise RuntimeError("set SLUICE_BOOTSTRAP (tests/integration/run.sh does)")
    host, port = boot.rsplit(":", 1)
    return host, int(port)


def _max_request_bytes():
    return int(os.environ.get("SLUICE_SOCKET_REQUEST_MAX_BYTES", "104857600"))


def connect(rcvbuf=None, sndbuf=None, timeout=IO_TIMEOUT_S):
    host, port = _bootstrap()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: caps the window
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small pieces go out as sent
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_exact(sock, n, chunk=1 << 20, pause_s=0.0):
    out = bytearray()
    while len(out) < n:
        try:
            got = sock.recv(min(chunk, n - len(out)))
        except socket.timeout:
            raise AssertionError("no byte from the broker for %ss: %d of %d bytes of a response "
                                 "received (broker stuck?)" % (sock.gettimeout(), len(out), n))
        if not got:
            raise AssertionError("the broker closed the connection after %d of %d bytes"
                                 % (len(out), n))
        out += got
        if pause_s:
            time.sleep(pause_s)
    return bytes(out)


def recv_response(sock, cid, chunk=1 << 20, pause_s=0.0):
    """One response frame; checks its correlation id, returns the body
    (response header v0: nothing after the correlation id)."""
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    assert 4 <= size <= 64 << 20, "response frame size %d" % size
    data = recv_exact(sock, size, chunk, pause_s)
    got = struct.unpack(">i", data[:4])[0]
    assert got == cid, "response with correlation id %d where %d was due (out of order or lost)" \
        % (got, cid)
    return data[4:]


def expect_closed(sock, within_s, what):
    """The broker closes the connection (EOF or reset) within within_s,
    sending nothing."""
    sock.settimeout(within_s)
    try:
        got = sock.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return
    except socket.timeout:
        raise AssertionError("%s: the broker did not close the connection within %ss"
                             % (what, within_s))
    assert got == b"", "%s: expected the connection closed, got %r" % (what, got[:64])


def rst_close(sock):
    """Closes with an RST (SO_LINGER 0) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --------------------------------------------------------------- requests
def produce_frame(cid, partition, batch):
    """Produce v3, acks=all."""
    part = i32(partition) + i32(len(batch)) + batch
    body = string(None) + i16(-1) + i32(30000) + array([string(TOPIC) + array([part])])
    return frame(PRODUCE, 3, cid, body)


def parse_produce(body, partition):
    """Produce v3 response body -> base offset; requires error 0."""
    r = Reader(body)
    topics = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    r.i32()  # throttle_time_ms
    r.end()
    assert len(topics) == 1 and topics[0][0] == TOPIC and len(topics[0][1]) == 1, \
        "Produce response %r" % (topics,)
    index, err, base, _ = topics[0][1][0]
    assert (index, err) == (partition, NONE), \
        "Produce to partition %d answered partition %d error %d" % (partition, index, err)
    return base


def fetch_frame(cid, partition, offset, max_bytes=16 << 20):
    """Fetch v4, no wait beyond what is there."""
    part = i32(partition) + i64(offset) + i32(max_bytes)
    body = (i32(-1) + i32(0) + i32(1) + i32(max_bytes) + i8(0)
            + array([string(TOPIC) + array([part])]))
    return frame(FETCH, 4, cid, body)


def parse_fetch(body, partition):
    """Fetch v4 response body -> (high watermark, records bytes)."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (
        r.i32(), r.i16(), r.i64(), r.i64(),
        r.array(lambda r: (r.i64(), r.i64())), r.nbytes()))))
    r.end()
    (name, parts), = topics
    (index, err, high, _, _, records), = parts
    assert (name, index, err) == (TOPIC, partition, NONE), "Fetch answered %r" % (topics,)
    return high, records or b""


def split_batches(records):
    """Complete record batches in a Fetch's records: [(base_offset, bytes)]."""
    out, pos = [], 0
    while pos + 12 <= len(records):
        base, length = struct.unpack(">qi", records[pos:pos + 12])
        if pos + 12 + length > len(records):
            break  # a partial batch at the end of the response
        out.append((base, records[pos:pos + 12 + length]))
        pos += 12 + length
    return out


def fetch_batches(partition, start, end):
    """Every batch with start <= base offset < end -> {base offset: bytes}."""
    out = {}
    sock = connect()
    try:
        offset, cid = start, 9000
        while offset < end:
            cid += 1
            sock.sendall(fetch_frame(cid, partition, offset))
            high, records = parse_fetch(recv_response(sock, cid), partition)
            batches = split_batches(records)
            assert batches, "Fetch at offset %d of partition %d returned no whole batch " \
                "(high watermark %d, want up to %d)" % (offset, partition, high, end)
            for base, b in batches:
                last_delta = struct.unpack(">i", b[23:27])[0]
                if base < end:
                    out[base] = b
                offset = base + last_delta + 1
    finally:
        sock.close()
    return out


def assert_stored(stored, base, sent, what):
    """The batch stored at `base` is the one sent: length, and everything
    from magic on (CRC and records) byte for byte; baseOffset is the
    broker's, partitionLeaderEpoch (bytes 12-15) the broker's to stamp."""
    assert base in stored, "%s: no batch stored at offset %d (have %s)" \
        % (what, base, sorted(stored)[:10])
    got = stored[base]
    assert struct.unpack(">q", got[:8])[0] == base, "%s: baseOffset" % what
    assert len(got) == len(sent), "%s: stored batch has %d bytes, sent %d" \
        % (what, len(got), len(sent))
    if got[16:] != sent[16:]:
        first = next(i for i in range(16, len(sent)) if got[i] != sent[i])
        raise AssertionError("%s: stored batch differs from the one sent from byte %d of %d"
                             % (what, first, len(sent)))
    assert got[8:12] == sent[8:12], "%s: batchLength" % what


def big_batch(tag, total_bytes, records=8):
    """A record batch v2 of about total_bytes, `records` records of
    pseudo-random values (a function of tag): no two batches alike."""
    rng = random.Random(tag)
    each = max(1, total_bytes // records)
    recs = []
    for n in range(records):
        value = rng.randbytes(each)
        recs.append((b"%s-%d" % (tag.encode(), n), value, [(b"n", b"%d" % n)]))
    return record_batch(recs, 1_700_000_000_000)


def batch_for_frame(tag, frame_bytes, partition, cid=1):
    """A one-record batch whose Produce frame (size prefix excluded) is
    exactly frame_bytes long."""
    value_len = frame_bytes - 200
    for _ in range(8):
        rng = random.Random(tag)
        batch = record_batch([(tag.encode(), rng.randbytes(value_len), [])], 1_700_000_000_000)
        got = len(produce_frame(cid, partition, batch)) - 4
        if got == frame_bytes:
            return batch
        value_len += frame_bytes - got
    raise AssertionError("could not size a frame to %d bytes" % frame_bytes)


def api_versions_frame(cid):
    return frame(API_VERSIONS, 0, cid, b"")


def check_api_versions(body):
    r = Reader(body)
    err = r.i16()
    entries = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    r.end()
    assert err == NONE, "ApiVersions error %d" % err
    assert {PRODUCE, FETCH, METADATA, API_VERSIONS} <= {k for k, _, _ in entries}, \
        "ApiVersions lists %r" % (entries,)


def metadata_frame(cid):
    return frame(METADATA, 1, cid, array([string(TOPIC)]))


def check_metadata(body):
    r = Reader(body)
    r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))  # brokers
    r.i32()  # controller_id

    def partition(r):
        err, index, leader = r.i16(), r.i32(), r.i32()
        r.array(lambda r: r.i32())
        r.array(lambda r: r.i32())
        return index, err, leader

    topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(partition)))
    r.end()
    assert len(topics) == 1 and topics[0][:2] == (NONE, TOPIC), "Metadata %r" % (topics,)
    assert len(topics[0][3]) == PARTITIONS, "Metadata partitions %r" % (topics[0][3],)
    return topics


def produce_one(partition, batch, sock=None):
    """Produce on a fresh (or given) connection; returns the base offset."""
    own = sock is None
    sock = sock or connect()
    try:
        sock.sendall(produce_frame(77, partition, batch))
        return parse_produce(recv_response(sock, 77), partition)
    finally:
        if own:
            sock.close()


def broker_alive():
    pid = os.environ.get("SLUICE_IT_BROKER_PID")
    if not pid:
        return True
    try:
        with open("/proc/%s/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def broker_sockets():
    """How many sockets the broker holds open (listener, connections), or
    None when its PID is unknown."""
    pid = os.environ.get("SLUICE_IT_BROKER_PID")
    if not pid:
        return None
    n = 0
    for fd in os.listdir("/proc/%s/fd" % pid):
        try:
            n += os.readlink("/proc/%s/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def assert_sockets_released(before, what):
    """The broker frees every connection this test opened: its socket count
    falls back to `before` (a connection it never frees keeps its socket)."""
    if before is None:
        return
    deadline = time.monotonic() + 10
    while True:
        now = broker_sockets()
        if now <= before:
            return
        if time.monotonic() > deadline:
            raise AssertionError("%s: the broker still holds %d more sockets than before, 10 s "
                                 "after the clients went (connections never freed?)"
                                 % (what, now - before))
        time.sleep(0.1)


def assert_serving(tag):
    """A fresh connection: ApiVersions, a ~300 KiB Produce (direct receive)
    stored byte for byte."""
    assert broker_alive(), "the broker process is gone"
    sock = connect()
    try:
        sock.sendall(api_versions_frame(1))
        check_api_versions(recv_response(sock, 1))
        batch = big_batch("serving-" + tag, 300 << 10)
        base = produce_one(P_GONE, batch, sock)
    finally:
        sock.close()
    assert_stored(fetch_batches(P_GONE, base, base + 1), base, batch, "after " + tag)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def topic():
    entry = (string(TOPIC) + i32(PARTITIONS) + i16(1) + array([])
             + array([string("max.message.bytes") + string(str(MAX_MESSAGE_BYTES))]))
    sock = connect()
    try:
        sock.sendall(frame(CREATE_TOPICS, 2, 1, array([entry]) + i32(30000) + i8(0)))
        r = Reader(recv_response(sock, 1))
        r.i32()
        results = r.array(lambda r: (r.string(), r.i16(), r.string()))
        r.end()
        assert len(results) == 1 and results[0][1] in (NONE, TOPIC_ALREADY_EXISTS), \
            "CreateTopics %r" % (results,)
        deadline = time.monotonic() + 30
        cid = 1
        while True:
            cid += 1
            sock.sendall(metadata_frame(cid))
            try:
                parts = check_metadata(recv_response(sock, cid))[0][3]
                if all(err == NONE and leader >= 0 for _, err, leader in parts):
                    break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
            assert time.monotonic() < deadline, "topic %s not ready after 30 s" % TOPIC
            time.sleep(0.2)
    finally:
        sock.close()


@pytest.fixture(autouse=True)
def broker_survives():
    yield
    assert broker_alive(), "the broker process died during the test"


# ------------------------------------------------------------------- a)
def test_large_frame_trickled_in_small_pieces():
    batch = big_batch("trickle", 1 << 20, records=5)
    data = produce_frame(11, P_TRICKLE, batch)
    assert len(data) > (1 << 20)
    sock = connect()
    try:
        sock.sendall(data[:2])  # half the size prefix
        time.sleep(0.05)
        sock.sendall(data[2:4 + 3000])  # the rest of it and the request header
        time.sleep(0.05)
        pos, piece = 4 + 3000, 7 * 1024
        while pos < len(data):
            sock.sendall(data[pos:pos + piece])
            pos += piece
            time.sleep(0.001)
        base = parse_produce(recv_response(sock, 11), P_TRICKLE)
        # The connection keeps working: a small request, then the same
        # frame again in one send.
        sock.sendall(api_versions_frame(12))
        check_api_versions(recv_response(sock, 12))
        batch2 = big_batch("whole", 1 << 20, records=3)
        sock.sendall(produce_frame(13, P_TRICKLE, batch2))
        base2 = parse_produce(recv_response(sock, 13), P_TRICKLE)
    finally:
        sock.close()
    stored = fetch_batches(P_TRICKLE, base, max(base, base2) + 1)
    assert_stored(stored, base, batch, "trickled 1 MiB frame")
    assert_stored(stored, base2, batch2, "1 MiB frame in one send")


@pytest.mark.parametrize("missing", [DIRECT_MIN - 1, DIRECT_MIN, DIRECT_MIN + 1, 3 * DIRECT_MIN])
def test_frame_around_direct_threshold(missing):
    """The first piece leaves `missing` bytes of the frame to come, the rest
    follows in two sends (the second after a pause, so a direct receive is
    waiting for it)."""
    frame_bytes = missing + 1000
    batch = batch_for_frame("thr-%d" % missing, frame_bytes, P_TRICKLE, cid=21)
    data = produce_frame(21, P_TRICKLE, batch)
    assert len(data) == 4 + frame_bytes
    first = 4 + frame_bytes - missing
    sock = connect()
    try:
        sock.sendall(data[:first])
        time.sleep(0.05)
        sock.sendall(data[first:first + missing // 2])
        time.sleep(0.05)
        sock.sendall(data[first + missing // 2:] + api_versions_frame(22))
        base = parse_produce(recv_response(sock, 21), P_TRICKLE)
        check_api_versions(recv_response(sock, 22))
    finally:
        sock.close()
    assert_stored(fetch_batches(P_TRICKLE, base, base + 1), base, batch,
                  "frame with %d bytes missing after the first piece" % missing)


# ------------------------------------------------------------------- b)
@pytest.mark.parametrize("head_first", [False, True], ids=["one-send", "head-first"])
def test_pipelined_large_and_small_requests(head_first):
    """All requests in one sendall; with head_first, the start of the first
    frame goes 50 ms earlier (so the broker is already receiving it
    directly when the rest and everything behind it arrive together)."""
    tag = "pipe-%s-" % head_first
    b1 = big_batch(tag + "1", 300 << 10, records=4)
    b2 = big_batch(tag + "2", 450 << 10, records=2)
    b3 = big_batch(tag + "3", 70 << 10, records=1)
    reqs = [
        (31, "produce", produce_frame(31, P_PIPELINE, b1), b1),
        (32, "versions", api_versions_frame(32), None),
        (33, "metadata", metadata_frame(33), None),
        (34, "versions", api_versions_frame(34), None),
        (35, "produce", produce_frame(35, P_PIPELINE, b2), b2),
        (36, "produce", produce_frame(36, P_PIPELINE, b3), b3),  # right behind a large one
        (37, "metadata", metadata_frame(37), None),
        (38, "versions", api_versions_frame(38), None),
    ]
    sock = connect()
    bases = []
    try:
        data = b"".join(r[2] for r in reqs)
        if head_first:
            sock.sendall(data[:4 + 2000])
            time.sleep(0.05)
            data = data[4 + 2000:]
        sock.sendall(data)
        for cid, kind, _, batch in reqs:
            body = recv_response(sock, cid)
            if kind == "produce":
                bases.append((parse_produce(body, P_PIPELINE), batch))
            elif kind == "versions":
                check_api_versions(body)
            else:
                check_metadata(body)
        sock.settimeout(0.3)  # nothing more
        try:
            extra = sock.recv(1)
        except socket.timeout:
            extra = None
        assert not extra, "a response nobody asked for: %r" % extra
    finally:
        sock.close()
    assert [b for b, _ in bases] == sorted(b for b, _ in bases), "base offsets %r" % bases
    stored = fetch_batches(P_PIPELINE, bases[0][0], bases[-1][0] + 1)
    for n, (base, batch) in enumerate(bases):
        assert_stored(stored, base, batch, "pipelined produce %d" % n)


# ------------------------------------------------------------------- c)
def test_backpressure_with_large_pipelined_produces():
    """Fetch responses of ~2 MiB to a client that does not read (32 KiB
    receive window) hold the response queue; 80 large Produce requests pile
    up behind them, so the broker must stop reading at 64 queued requests —
    in the middle of a large frame — and resume once the client reads."""
    fill = [big_batch("fill-%d" % n, 1 << 20, records=2) for n in range(2)]
    fill_base = produce_one(P_FILL, fill[0])
    produce_one(P_FILL, fill[1])
    fill_bytes = sum(len(b) for b in fill)

    # More than MAX_INFLIGHT + what the broker reads before its cancel lands
    # (it may queue a few more than 64) + what the socket buffers hold, so
    # that the client must block until it reads.
    count = 96
    batches = [big_batch("pause-%d" % n, (100 << 10) + n * 1531, records=1 + n % 3)
               for n in range(count)]
    reqs = []  # (cid, kind, frame, batch)
    cid = 100
    for n in range(count):
        if n in (0, 1, 30, 60, 90):  # head-of-line blockers, several rounds
            cid += 1
            reqs.append((cid, "fetch", fetch_frame(cid, P_FILL, fill_base), None))
        cid += 1
        reqs.append((cid, "produce", produce_frame(cid, P_PAUSE, batches[n]), batches[n]))
    data = b"".join(r[2] for r in reqs)

    sock = connect(rcvbuf=32 << 10, sndbuf=64 << 10)
    progress = {"sent": 0, "error": None}

    def writer():
        try:
            step = 64 << 10
            for pos in range(0, len(data), step):
                sock.sendall(data[pos:pos + step])
                progress["sent"] = pos + len(data[pos:pos + step])
        except Exception as e:  # reported by the main thread
            progress["error"] = e

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    results = []
    try:
        time.sleep(1.5)  # read nothing: the broker must stop reading
        assert progress["error"] is None, "writer: %r" % progress["error"]
        total = len(data)
        assert progress["sent"] < total, \
            "the client wrote all %d bytes (%d requests) while it read no response: the " \
            "broker did not apply backpressure at %d queued requests" \
            % (total, len(reqs), MAX_INFLIGHT)
        for rcid, kind, _, batch in reqs:
            if kind == "fetch":
                high, records = parse_fetch(recv_response(sock, rcid, chunk=32 << 10,
                                                          pause_s=0.001), P_FILL)
                got = dict(split_batches(records))
                assert len(records) >= fill_bytes and len(got) >= 2, \
                    "Fetch %d: %d bytes of records, want %d" % (rcid, len(records), fill_bytes)
            else:
                time.sleep(0.004)
                results.append((parse_produce(recv_response(sock, rcid), P_PAUSE), batch))
        t.join(IO_TIMEOUT_S)
        assert not t.is_alive(), "the writer is still blocked after every response came"
        assert progress["error"] is None, "writer: %r" % progress["error"]
        assert progress["sent"] == total
    finally:
        sock.close()
        t.join(5)
    bases = [b for b, _ in results]
    assert bases == sorted(bases) and len(set(bases)) == count, "base offsets %r" % bases
    stored = fetch_batches(P_PAUSE, bases[0], bases[-1] + 1)
    assert len(stored) == count, "%d batches stored, %d produced" % (len(stored), count)
    for n, (base, batch) in enumerate(results):
        assert_stored(stored, base, batch, "pipelined produce %d of %d" % (n, count))


# ------------------------------------------------------------------- d)
def test_client_gone_mid_frame():
    sockets_before = broker_sockets()
    batch = big_batch("gone", 2 << 20, records=4)
    data = produce_frame(41, P_GONE, batch)
    half = 4 + len(data) // 2

    # Closes (FIN) with half of the frame sent.
    sock = connect()
    sock.sendall(data[:half])
    time.sleep(0.1)
    sock.close()

    # Shuts its write side down with half of the frame sent, still reading:
    # the broker must see the end of the stream and close.
    sock = connect()
    try:
        sock.sendall(data[:half])
        time.sleep(0.1)
        sock.shutdown(socket.SHUT_WR)
        expect_closed(sock, 10, "half a frame then shutdown(SHUT_WR)")
    finally:
        sock.close()

    # Resets the connection with part of the frame sent (at the threshold,
    # so the direct receive and the multishot both get to see it).
    for cut in (4 + 10, 4 + 5000, half, len(data) - DIRECT_MIN):
        sock = connect()
        sock.sendall(data[:cut])
        time.sleep(0.05)
        rst_close(sock)

    # The size prefix only, then the client goes.
    sock = connect()
    sock.sendall(data[:4])
    time.sleep(0.05)
    sock.close()

    time.sleep(0.2)
    assert_serving("clients gone mid-frame")
    assert_sockets_released(sockets_before, "clients gone mid-frame")


def test_client_gone_while_paused():
    """A client that pipelines large Produce requests behind an unread Fetch
    (so the broker pauses its receive with requests queued), then resets the
    connection; another does the same and closes in the middle of a frame
    with a FIN."""
    sockets_before = broker_sockets()
    fill = big_batch("fill-gone", 1 << 20, records=2)
    fill_base = produce_one(P_FILL, fill)
    for how in ("rst", "fin"):
        reqs = [fetch_frame(500, P_FILL, fill_base), fetch_frame(501, P_FILL, fill_base)]
        reqs += [produce_frame(502 + n, P_GONE, big_batch("gp-%s-%d" % (how, n), 100 << 10))
                 for n in range(MAX_INFLIGHT + 30)]
        data = b"".join(reqs)
        sock = connect(rcvbuf=32 << 10, sndbuf=64 << 10, timeout=1.5)
        try:
            sock.sendall(data)
            raise AssertionError("the broker read %d bytes (%d requests) while the client read "
                                 "no response: no backpressure" % (len(data), len(reqs)))
        except socket.timeout:
            pass  # the broker stopped reading, as it should
        if how == "rst":
            rst_close(sock)
        else:
            sock.close()
    time.sleep(0.3)
    assert_serving("clients gone while paused")
    assert_sockets_released(sockets_before, "clients gone while paused")


# ------------------------------------------------------------------- e)
def test_frame_size_limit():
    sockets_before = broker_sockets()
    limit = _max_request_bytes()
    if limit > (16 << 20):
        pytest.fail("socket.request.max.bytes=%d: too large for this test (run.sh sets 4 MiB)"
                    % limit)
    # Exactly the limit: served (received directly, stored byte for byte).
    batch = batch_for_frame("limit", limit, P_LIMIT, cid=51)
    data = produce_frame(51, P_LIMIT, batch)
    assert len(data) == 4 + limit
    sock = connect()
    try:
        sock.sendall(data)
        base = parse_produce(recv_response(sock, 51), P_LIMIT)
    finally:
        sock.close()
    assert_stored(fetch_batches(P_LIMIT, base, base + 1), base, batch, "frame of the limit")

    # One byte more: closed, also right after a large frame was served on
    # the connection. (A bad size in the same send as a good frame closes
    # the connection too; the good frame's response may then be dropped, as
    # Kafka drops it: only the close is required.)
    small = big_batch("limit-before", 200 << 10)
    sock = connect()
    try:
        sock.sendall(produce_frame(52, P_LIMIT, small))
        parse_produce(recv_response(sock, 52), P_LIMIT)
        sock.sendall(i32(limit + 1) + b"\0" * 4096)
        expect_closed(sock, 10, "frame size %d after a served frame" % (limit + 1))
    finally:
        sock.close()
    sock = connect()
    try:
        sock.sendall(produce_frame(53, P_LIMIT, small) + i32(limit + 1) + b"\0" * 4096)
        sock.settimeout(10)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("a bad size behind a good frame: the broker did not close "
                                 "the connection within 10 s")
    finally:
        sock.close()
    assert_serving("a frame over socket.request.max.bytes")
    assert_sockets_released(sockets_before, "frames at and over the limit")
