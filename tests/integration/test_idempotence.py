"""Idempotent producing: InitProducerId (key 22) and the broker side of
enable.idempotence.

  test_idempotent_producer_delivers_exactly_once_in_order
      confluent-kafka Producer (enable.idempotence, acks=all) sends 50,000
      records to a 3-partition topic; every record is delivered and read back
      with assign() exactly once, in order within each partition.
  test_init_producer_id_v0_and_v4_give_distinct_ids
      raw InitProducerId v0 (non-flexible) and v4 (flexible, with an old
      id/epoch that a non-transactional request ignores): new ids, epoch 0.
  test_ids_distinct_and_increasing_across_a_block
      1,200 raw InitProducerId calls cross a 1000-id reservation block; ids
      strictly increase. (Ids increasing across a restart is not testable from
      inside one test: run.sh restarts the broker elsewhere.)
  test_transactional_id_is_refused / test_transaction_timeout_validated
      transactions are not supported: COORDINATOR_NOT_AVAILABLE, after
      Kafka's INVALID_TRANSACTION_TIMEOUT check.
  test_transactional_batch_rejected
      a transactional batch with no ongoing transaction: INVALID_TXN_STATE.
  test_sequence_zero_accepted / test_resent_batch_answered_as_duplicate
      a raw Produce with producer id/epoch/sequence 0 is appended at offset N;
      the same batch sent again is answered with offset N and not stored again.
  test_sequence_gap_and_stale_epoch_rejected
      OUT_OF_ORDER_SEQUENCE_NUMBER for a gap, INVALID_PRODUCER_EPOCH for an
      epoch below the producer's last one (storage's checks, mapped by
      h_produce.c).

Environment: SLUICE_BOOTSTRAP (host:port). Frames are built with the helpers of
test_bad_input.py (imported as a module, so its test class is not collected
twice).
"""

import os
import struct
import time
import unittest

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import test_bad_input as bi

INIT_PRODUCER_ID, PRODUCE = 22, 0
NONE = 0
COORDINATOR_NOT_AVAILABLE, INVALID_TXN_STATE, INVALID_TRANSACTION_TIMEOUT = 15, 48, 50
OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47
RECORD_COUNT = 50000
PARTITIONS = 3
RUN_TAG = "%d-%d" % (os.getpid(), int(time.time()))


def bootstrap():
    b = os.environ.get("SLUICE_BOOTSTRAP")
    if not b:
        raise RuntimeError("set SLUICE_BOOTSTRAP (tests/integration/run.sh does)")
    return b


def create_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                            replication_factor=1)], request_timeout=30)
    futures[name].result(timeout=30)


def raw_conn():
    host, port = bootstrap().rsplit(":", 1)
    return bi.Conn(host, int(port))


def init_producer_id(conn, version, transactional_id=None, timeout_ms=60000,
                     producer_id=-1, epoch=-1):
    """Raw InitProducerId -> (error, producer_id, epoch)."""
    flexible = version >= 2
    if flexible:
        tid = bi.uvarint(0) if transactional_id is None else bi.compact_string(transactional_id)
    else:
        tid = bi.string(transactional_id)
    body = tid + bi.i32(timeout_ms)
    if version >= 3:
        body += bi.i64(producer_id) + bi.i16(epoch)
    if flexible:
        body += bi.uvarint(0)
    data = conn.request(INIT_PRODUCER_ID, version, body, flexible=flexible)
    r = bi.Reader(data[1:] if flexible else data)  # response header v1: empty tags
    r.i32()  # throttle_time_ms
    err, pid, ep = r.i16(), r.i64(), r.i16()
    if flexible:
        if r.i8() != 0:
            raise AssertionError("unexpected tagged fields in InitProducerId response")
    r.end()
    return err, pid, ep


def idempotent_batch(values, producer_id, epoch, base_sequence, transactional=False):
    """Record batch v2, uncompressed, with producer id/epoch/sequence."""
    body = b"".join(bi.record(n, n, None, v, []) for n, v in enumerate(values))
    ts = int(time.time() * 1000)
    after_crc = (bi.i16(0x10 if transactional else 0)
                 + bi.i32(len(values) - 1) + bi.i64(ts) + bi.i64(ts + len(values) - 1)
                 + bi.i64(producer_id) + bi.i16(epoch) + bi.i32(base_sequence)
                 + bi.i32(len(values)) + body)
    batch_length = 4 + 1 + 4 + len(after_crc)
    return (bi.i64(0) + bi.i32(batch_length) + bi.i32(-1) + bi.i8(2)
            + struct.pack(">I", bi.crc32c(after_crc)) + after_crc)


def produce_v3(conn, topic, partition, batch):
    """Raw Produce v3, acks=-1 -> (error, base_offset)."""
    part = bi.i32(partition) + bi.nbytes(batch)
    body = (bi.string(None) + bi.i16(-1) + bi.i32(30000)
            + bi.array([bi.string(topic) + bi.array([part])]))
    r = bi.Reader(conn.request(PRODUCE, 3, body))
    topics = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    r.i32()
    r.end()
    assert len(topics) == 1 and len(topics[0][1]) == 1, topics
    _, err, base, _ = topics[0][1][0]
    return err, base


class Idempotence(unittest.TestCase):

    def test_idempotent_producer_delivers_exactly_once_in_order(self):
        topic = "it-idempotence-" + RUN_TAG
        create_topic(topic, PARTITIONS)
        producer = Producer({"bootstrap.servers": bootstrap(), "enable.idempotence": True,
                             "acks": "all", "linger.ms": 5, "message.timeout.ms": 120000})
        delivered, errors = [0], []

        def on_delivery(err, msg):
            if err is not None:
                errors.append(err)
            else:
                delivered[0] += 1

        for i in range(RECORD_COUNT):
            while True:
                try:
                    producer.produce(topic, value=b"%d" % i, partition=i % PARTITIONS,
                                     on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        self.assertEqual(producer.flush(120), 0, "records still queued after flush")
        self.assertEqual(errors, [], "delivery errors: %r" % errors[:5])
        self.assertEqual(delivered[0], RECORD_COUNT)

        consumer = Consumer({"bootstrap.servers": bootstrap(), "group.id": "unused-" + RUN_TAG,
                             "enable.auto.commit": False, "enable.partition.eof": False})
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                             for p in range(PARTITIONS)])
            got = {p: [] for p in range(PARTITIONS)}
            total, deadline = 0, time.time() + 120
            while total < RECORD_COUNT and time.time() < deadline:
                for msg in consumer.consume(num_messages=1000, timeout=1.0):
                    if msg.error():
                        self.assertEqual(msg.error().code(), KafkaError._PARTITION_EOF,
                                         msg.error())
                        continue
                    got[msg.partition()].append(int(msg.value()))
                    total += 1
            # a little longer: anything beyond RECORD_COUNT is a duplicate
            for msg in consumer.consume(num_messages=1000, timeout=2.0):
                if not msg.error():
                    got[msg.partition()].append(int(msg.value()))
        finally:
            consumer.close()
        for p in range(PARTITIONS):
            want = list(range(p, RECORD_COUNT, PARTITIONS))
            self.assertEqual(len(got[p]), len(want), "partition %d: %d records, expected %d"
                             % (p, len(got[p]), len(want)))
            self.assertEqual(got[p], want, "partition %d: duplicates, losses or reordering" % p)

    def test_init_producer_id_v0_and_v4_give_distinct_ids(self):
        conn = raw_conn()
        try:
            e0, pid0, ep0 = init_producer_id(conn, 0)
            e4, pid4, ep4 = init_producer_id(conn, 4, producer_id=pid0, epoch=0)
        finally:
            conn.close()
        self.assertEqual((e0, ep0), (NONE, 0))
        self.assertEqual((e4, ep4), (NONE, 0))
        self.assertGreaterEqual(pid0, 0)
        self.assertGreater(pid4, pid0, "v4 with the old id must still get a new id")

    def test_ids_distinct_and_increasing_across_a_block(self):
        conns = [raw_conn() for _ in range(3)]  # likely on different shards
        try:
            ids = []
            for n in range(1200):
                err, pid, ep = init_producer_id(conns[n % 3], (0, 2, 5)[n % 3])
                self.assertEqual((err, ep), (NONE, 0), "call %d" % n)
                ids.append(pid)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(len(set(ids)), len(ids), "an id was handed out twice")
        self.assertEqual(ids, sorted(ids), "ids must increase")

    def test_transactional_id_is_refused(self):
        conn = raw_conn()
        try:
            for v in (0, 1, 3, 4, 5):
                err, pid, ep = init_producer_id(conn, v, transactional_id="txn-" + RUN_TAG)
                self.assertEqual((err, pid, ep), (COORDINATOR_NOT_AVAILABLE, -1, -1), "v%d" % v)
        finally:
            conn.close()

    def test_transaction_timeout_validated(self):
        conn = raw_conn()
        try:
            for timeout in (900001, 0, -1):
                err, _, _ = init_producer_id(conn, 4, transactional_id="txn-" + RUN_TAG,
                                             timeout_ms=timeout)
                self.assertEqual(err, INVALID_TRANSACTION_TIMEOUT, "timeout %d" % timeout)
            # not checked for an idempotent-only producer, as in Kafka
            err, _, _ = init_producer_id(conn, 4, timeout_ms=900001)
            self.assertEqual(err, NONE)
        finally:
            conn.close()

    def _raw_topic(self):
        topic = "it-idempotence-raw-%s-%s" % (RUN_TAG, self._testMethodName[-12:])
        create_topic(topic, 1)
        return topic

    def test_transactional_batch_rejected(self):
        topic = self._raw_topic()
        conn = raw_conn()
        try:
            _, pid, ep = init_producer_id(conn, 0)
            err, _ = produce_v3(conn, topic, 0,
                                idempotent_batch([b"t"], pid, ep, 0, transactional=True))
            self.assertEqual(err, INVALID_TXN_STATE)
        finally:
            conn.close()

    def test_sequence_zero_accepted(self):
        topic = self._raw_topic()
        conn = raw_conn()
        try:
            _, pid, ep = init_producer_id(conn, 0)
            err, base = produce_v3(conn, topic, 0, idempotent_batch([b"a", b"b"], pid, ep, 0))
            self.assertEqual((err, base), (NONE, 0))
        finally:
            conn.close()

    def test_resent_batch_answered_as_duplicate(self):
        topic = self._raw_topic()
        conn = raw_conn()
        try:
            _, pid, ep = init_producer_id(conn, 0)
            err, first = produce_v3(conn, topic, 0, idempotent_batch([b"c", b"d"], pid, ep, 0))
            self.assertEqual(err, NONE)
            err, again = produce_v3(conn, topic, 0, idempotent_batch([b"c", b"d"], pid, ep, 0))
            self.assertEqual((err, again), (NONE, first), "the duplicate must be answered "
                             "with the original base offset")
            err, nxt = produce_v3(conn, topic, 0, idempotent_batch([b"e"], pid, ep, 2))
            self.assertEqual((err, nxt), (NONE, first + 2), "the duplicate was stored again")
        finally:
            conn.close()

    def test_sequence_gap_and_stale_epoch_rejected(self):
        topic = self._raw_topic()
        conn = raw_conn()
        try:
            _, pid, ep = init_producer_id(conn, 0)
            err, _ = produce_v3(conn, topic, 0, idempotent_batch([b"f"], pid, ep, 0))
            self.assertEqual(err, NONE)
            err, _ = produce_v3(conn, topic, 0, idempotent_batch([b"g"], pid, ep, 5))
            self.assertEqual(err, OUT_OF_ORDER_SEQUENCE_NUMBER, "a sequence gap")
            err, _ = produce_v3(conn, topic, 0, idempotent_batch([b"h"], pid, ep + 1, 0))
            self.assertEqual(err, NONE, "a higher epoch starts again at sequence 0")
            err, _ = produce_v3(conn, topic, 0, idempotent_batch([b"i"], pid, ep, 1))
            self.assertEqual(err, INVALID_PRODUCER_EPOCH, "an epoch older than the last one")
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
