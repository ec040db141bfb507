"""kafka-python (Debian's 2.0.2, pure Python) against a real broker.

kafka-python picks its protocol versions from the broker version it infers
from ApiVersions (KAFKA-PROTOCOL.md §2), so api_version is left to
auto-detection here, as users leave it. Run by tests/integration/run.sh in two
steps around a broker restart:
  test_produce_then_consume  produces to a topic that does not exist yet, so
                             the broker auto-creates it with num.partitions=4,
                             then reads everything back with assign() +
                             seek_to_beginning() and compares every record.
  test_after_restart         reads the topic again: same records, same offsets.
Environment: SLUICE_BOOTSTRAP, SLUICE_STATE_DIR, SLUICE_RECORD_COUNT
(default 100000), SLUICE_AUTO_PARTITIONS (the broker's num.partitions, 4).
"""

import os
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import it_records

TOPIC = "it-kafka-python-autocreated"
# What kafka-python 2.0.2 refuses to send (see it_records.make_record).
LIMITS = {"null_header_values": False, "null_key_and_value": False}
STATE = "kafka_python"
COUNT = int(os.environ.get("SLUICE_RECORD_COUNT", "100000"))
AUTO_PARTITIONS = int(os.environ.get("SLUICE_AUTO_PARTITIONS", "4"))
READ_TIMEOUT_S = 300


def produce(base_ts):
    """Produces COUNT records to TOPIC (auto-created); returns acks."""
    producer = KafkaProducer(bootstrap_servers=it_records.bootstrap(), acks="all",
                             linger_ms=10, batch_size=65536, max_block_ms=60000,
                             request_timeout_ms=60000, client_id="it-kafka-python-producer")
    try:
        version = producer.config["api_version"]
        assert version >= (0, 11), (
            "kafka-python inferred broker version %r from ApiVersions: below 0.11 it sends "
            "Produce v2 with magic-1 messages and cannot send headers (see "
            "KAFKA-PROTOCOL.md §2 quirk 2)" % (version,))
        futures = []
        for i in range(COUNT):
            key, value, headers, ts = it_records.make_record(i, base_ts, **LIMITS)
            futures.append(producer.send(TOPIC, key=key, value=value, headers=headers,
                                         timestamp_ms=ts))
        producer.flush(timeout=180)
        acks, errors = [], []
        for i, future in enumerate(futures):
            try:
                md = future.get(timeout=0)
                acks.append((md.partition, md.offset))
            except Exception as e:  # KafkaError subclasses, KafkaTimeoutError
                errors.append("record %d: %r" % (i, e))
                acks.append(None)
        assert not errors, "%d delivery failures, first: %s" % (len(errors), errors[:5])
        partitions = producer.partitions_for(TOPIC)
        assert partitions == set(range(AUTO_PARTITIONS)), (
            "auto-created topic has partitions %r, expected num.partitions=%d"
            % (partitions, AUTO_PARTITIONS))
        return acks
    finally:
        producer.close(timeout=30)


def read_and_compare(state):
    """Reads every partition from the beginning with assign() +
    seek_to_beginning() and compares each record with what was acknowledged
    at its offset."""
    topic, partitions = state["topic"], state["partitions"]
    check = it_records.StreamCheck(state, **LIMITS)
    consumer = KafkaConsumer(bootstrap_servers=it_records.bootstrap(), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             check_crcs=True, client_id="it-kafka-python-consumer")
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        begin = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps)
        got = [(begin[tp], end[tp]) for tp in tps]
        want = [(0, h) for h in check.high]
        assert got == want, "watermarks (low, high) per partition %r, expected %r" % (got, want)

        deadline = time.monotonic() + READ_TIMEOUT_S
        while not check.done():
            assert time.monotonic() < deadline, "after %ds: %s" % (READ_TIMEOUT_S, check.progress())
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for r in records:
                    check.visit(r.partition, r.offset, r.key, r.value, r.headers, r.timestamp,
                                r.timestamp_type == 0)
        check.assert_ok()
    finally:
        consumer.close()


def test_produce_then_consume():
    base_ts = int(time.time() * 1000) - 100000
    acks = produce(base_ts)
    it_records.save_state(STATE, TOPIC, AUTO_PARTITIONS, base_ts, acks)
    read_and_compare(it_records.load_state(STATE))


def test_after_restart():
    read_and_compare(it_records.load_state(STATE))
