"""confluent-kafka-python (Debian's 1.7.0 on librdkafka 2.0.2) against a real broker.

Run by tests/integration/run.sh with /usr/bin/python3 -m pytest, in two steps
around a broker restart:
  test_produce_then_consume  creates a 5-partition topic with AdminClient,
                             produces COUNT records (keys, headers, nulls) with
                             acks=all, reads them back with assign() and
                             compares every record; saves where each landed.
  test_after_restart         reads the topic again and requires the same
                             records at the same offsets.
Environment: SLUICE_BOOTSTRAP (host:port), SLUICE_STATE_DIR (scratch dir),
SLUICE_RECORD_COUNT (default 100000).
"""

import os
import time

from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, KafkaError,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

import it_records

TOPIC = "it-confluent"
PARTITIONS = 5
STATE = "confluent_kafka"
# confluent-kafka 1.7.0 aborts the interpreter after reading null header
# values (see it_records.make_record); the C test covers them.
LIMITS = {"null_header_values": False}
COUNT = int(os.environ.get("SLUICE_RECORD_COUNT", "100000"))
READ_TIMEOUT_S = 300


def wait_topic_ready(admin, topic, partitions, timeout_s=30):
    """Polls metadata until topic has `partitions` partitions with leaders."""
    deadline = time.monotonic() + timeout_s
    last = "no metadata"
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=10)
        t = md.topics.get(topic)
        if t is None:
            last = "topic not listed"
        elif t.error is not None:
            last = "topic error %s" % t.error
        elif len(t.partitions) != partitions:
            last = "%d partitions" % len(t.partitions)
        elif any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
            last = "a partition has no leader"
        else:
            return
        time.sleep(0.2)
    raise AssertionError("topic %s not ready after %ds: %s" % (topic, timeout_s, last))


def produce(base_ts):
    """Produces COUNT records; returns acks[i] = (partition, offset)."""
    producer = Producer({"bootstrap.servers": it_records.bootstrap(), "acks": "all",
                         "linger.ms": 10, "message.timeout.ms": 60000,
                         "client.id": "it-confluent-producer"})
    acks = [None] * COUNT
    errors = []

    def on_delivery(err, msg, i):
        if err is not None:
            errors.append("record %d: %s" % (i, err))
        elif msg.offset() is None or msg.offset() < 0:
            errors.append("record %d acknowledged without offset" % i)
        else:
            acks[i] = (msg.partition(), msg.offset())

    for i in range(COUNT):
        key, value, headers, ts = it_records.make_record(i, base_ts, **LIMITS)
        while True:
            try:
                producer.produce(TOPIC, key=key, value=value, headers=headers or None,
                                 timestamp=ts,
                                 on_delivery=lambda err, msg, i=i: on_delivery(err, msg, i))
                break
            except BufferError:
                producer.poll(0.1)
        if i % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    assert remaining == 0, "%d records still undelivered after 120 s" % remaining
    assert not errors, "%d delivery failures, first: %s" % (len(errors), errors[:5])
    missing = [i for i, a in enumerate(acks) if a is None]
    assert not missing, "%d records without delivery report, first %s" % (len(missing), missing[:5])
    return acks


def read_and_compare(state):
    """Reads every partition from the beginning with assign() and compares
    each record with what was acknowledged at its offset."""
    topic, partitions = state["topic"], state["partitions"]
    check = it_records.StreamCheck(state, **LIMITS)
    consumer = Consumer({"bootstrap.servers": it_records.bootstrap(),
                         "group.id": "it-confluent-verify",  # needed by assign(); never joined
                         "enable.auto.commit": False, "auto.offset.reset": "error",
                         "check.crcs": True, "client.id": "it-confluent-consumer"})
    try:
        admin = AdminClient({"bootstrap.servers": it_records.bootstrap()})
        wait_topic_ready(admin, topic, partitions)
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            assert (low, high) == (0, check.high[p]), (
                "partition %d watermarks (%d, %d), expected (0, %d)" % (p, low, high, check.high[p]))

        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + READ_TIMEOUT_S
        while not check.done():
            assert time.monotonic() < deadline, "after %ds: %s" % (READ_TIMEOUT_S, check.progress())
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error() is not None:
                    assert msg.error().code() in (KafkaError._TRANSPORT,
                                                  KafkaError._ALL_BROKERS_DOWN), (
                        "consumer error: %s" % msg.error())
                    continue
                ts_type, ts = msg.timestamp()
                check.visit(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers(),
                            ts, ts_type == TIMESTAMP_CREATE_TIME)
        check.assert_ok()
    finally:
        consumer.close()


def test_produce_then_consume():
    admin = AdminClient({"bootstrap.servers": it_records.bootstrap()})
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS,
                                            replication_factor=1)], operation_timeout=30)
    futures[TOPIC].result(timeout=60)  # raises KafkaException on any error
    wait_topic_ready(admin, TOPIC, PARTITIONS)

    base_ts = int(time.time() * 1000) - 100000
    acks = produce(base_ts)
    it_records.save_state(STATE, TOPIC, PARTITIONS, base_ts, acks)
    read_and_compare(it_records.load_state(STATE))


def test_after_restart():
    read_and_compare(it_records.load_state(STATE))
