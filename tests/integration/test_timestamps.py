"""message.timestamp.type and the CreateTime bounds, through real clients.

A LogAppendTime topic: kafka-python sends records with a timestamp two hours
old; the produce answer carries the broker's append time, and consumers (kafka-
python and kcat) see timestamp type LogAppendTime with a current timestamp.
A topic with message.timestamp.before.max.ms=3600000 refuses a record two hours
old (INVALID_TIMESTAMP) and takes a current one.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import subprocess
import time
import unittest

from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import InvalidTimestampError

HOUR_MS = 3600 * 1000


class Timestamps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = os.environ["SLUICE_BOOTSTRAP"]
        cls.admin = AdminClient({"bootstrap.servers": cls.bootstrap})

    def create(self, name, config):
        self.admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(30)

    def test_log_append_time_replaces_the_producer_timestamp(self):
        topic = "lat-%d" % int(time.time() * 1000)
        self.create(topic, {"message.timestamp.type": "LogAppendTime"})
        old = int(time.time() * 1000) - 2 * HOUR_MS
        p = KafkaProducer(bootstrap_servers=self.bootstrap)
        before = int(time.time() * 1000)
        md = p.send(topic, value=b"x", timestamp_ms=old).get(timeout=30)
        after = int(time.time() * 1000)
        p.close()
        self.assertTrue(before - 1000 <= md.timestamp <= after + 1000,
                        "the answer carries the append time, got %d" % md.timestamp)
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
                          consumer_timeout_ms=10000)
        c.assign([TopicPartition(topic, 0)])
        records = list(c)
        c.close()
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0].timestamp_type, 1, "LogAppendTime")
        self.assertTrue(before - 1000 <= records[0].timestamp <= after + 1000)
        out = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-e", "-q",
                              "-f", "%T\\n"], capture_output=True, text=True, timeout=60)
        self.assertEqual(int(out.stdout.strip()), records[0].timestamp)

    def test_before_max_ms_refuses_old_records(self):
        topic = "tsb-%d" % int(time.time() * 1000)
        self.create(topic, {"message.timestamp.before.max.ms": str(HOUR_MS)})
        p = KafkaProducer(bootstrap_servers=self.bootstrap, retries=0)
        try:
            with self.assertRaises(InvalidTimestampError):
                p.send(topic, value=b"old",
                       timestamp_ms=int(time.time() * 1000) - 2 * HOUR_MS).get(timeout=30)
            md = p.send(topic, value=b"new").get(timeout=30)
            self.assertEqual(md.offset, 0, "the refused record took no offset")
        finally:
            p.close()


if __name__ == "__main__":
    unittest.main()
