"""Retention deletes whole old segments by size and by time while producers
keep writing, and consumers see the log start offset move (confluent-kafka).

Needs the broker to check retention often: run.sh starts it with
log.retention.check.interval.ms=1000.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SEGMENT = 65536
RECORD = b"r" * 1000


def low_high(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "retention-probe",
                  "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


class Retention(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = os.environ["SLUICE_BOOTSTRAP"]
        cls.admin = AdminClient({"bootstrap.servers": cls.bootstrap})

    def create(self, name, config):
        fs = self.admin.create_topics([NewTopic(name, 1, 1, config=config)])
        fs[name].result(30)

    def produce(self, topic, count, timestamp_ms=None):
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5,
                      "batch.size": 16384, "acks": "all"})
        for i in range(count):
            kwargs = {"timestamp": timestamp_ms} if timestamp_ms else {}
            p.produce(topic, value=RECORD, key=b"%d" % i, **kwargs)
            if i % 1000 == 0:
                p.poll(0)
        self.assertEqual(p.flush(30), 0)

    def wait_low_above(self, topic, low_min, timeout_s=15):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            low, high = low_high(self.bootstrap, topic)
            if low > low_min:
                return low, high
            time.sleep(0.5)
        self.fail("log start offset of %s stayed at %d (high %d)" % (topic, low, high))

    def test_size_retention_keeps_about_retention_bytes(self):
        topic = "retention-bytes-%d" % int(time.time() * 1000)
        limit = 4 * SEGMENT
        self.create(topic, {"segment.bytes": str(SEGMENT), "retention.bytes": str(limit)})
        self.produce(topic, 2000)  # ~2 MB: ~30 segments
        low, high = self.wait_low_above(topic, 0)
        self.produce(topic, 500)   # producers keep writing while retention runs
        low2, high2 = self.wait_low_above(topic, low)
        self.assertEqual(high2, high + 500)
        kept_bytes = (high2 - low2) * (len(RECORD) + 80)
        self.assertLess(kept_bytes, limit + 3 * SEGMENT,
                        "kept %d records after retention.bytes=%d" % (high2 - low2, limit))
        # A consumer from the beginning starts at the new log start offset.
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "retention-reader",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            msg = None
            deadline = time.monotonic() + 15
            while msg is None and time.monotonic() < deadline:
                msg = c.poll(1.0)
                if msg is not None and msg.error():
                    msg = None
            self.assertIsNotNone(msg, "no record read after the offset reset")
            self.assertGreaterEqual(msg.offset(), low2)
        finally:
            c.close()

    def test_retention_altered_on_a_live_topic_takes_effect(self):
        from confluent_kafka.admin import ConfigResource
        topic = "retention-altered-%d" % int(time.time() * 1000)
        self.create(topic, {"segment.bytes": str(SEGMENT)})
        self.produce(topic, 1500)
        time.sleep(2)
        self.assertEqual(low_high(self.bootstrap, topic)[0], 0, "nothing to delete yet")
        res = ConfigResource("topic", topic, set_config={"segment.bytes": str(SEGMENT),
                                                          "retention.bytes": str(2 * SEGMENT)})
        list(self.admin.alter_configs([res]).values())[0].result(30)
        self.wait_low_above(topic, 0)

    def test_time_retention_deletes_expired_segments(self):
        topic = "retention-ms-%d" % int(time.time() * 1000)
        self.create(topic, {"segment.bytes": str(SEGMENT), "retention.ms": "60000"})
        old = int(time.time() * 1000) - 3600 * 1000
        self.produce(topic, 600, timestamp_ms=old)   # expired at once
        self.produce(topic, 100)                     # fresh, keeps the tail alive
        low, high = self.wait_low_above(topic, 0)
        self.assertEqual(high, 700)
        self.assertGreater(low, 300, "expired segments should be gone, start offset %d" % low)
        self.assertLessEqual(low, 600, "fresh records must stay, start offset %d" % low)


if __name__ == "__main__":
    unittest.main()
