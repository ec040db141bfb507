"""ListOffsets by timestamp through real clients: kafka-python's
offsets_for_times and kcat's `-o s@TS`, over records with known CreateTimes
spread across several batches (so the time index and the in-batch scan are
both exercised).

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import subprocess
import time
import unittest

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

COUNT = 300


class OffsetsForTimes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = os.environ["SLUICE_BOOTSTRAP"]
        cls.topic = "times-%d" % int(time.time() * 1000)
        cls.base = int(time.time() * 1000) - 10 * 60 * 1000
        p = KafkaProducer(bootstrap_servers=cls.bootstrap, linger_ms=0, batch_size=2000)
        for i in range(COUNT):
            p.send(cls.topic, value=b"v%d" % i, partition=0, timestamp_ms=cls.base + i * 1000)
            if i % 37 == 0:
                p.flush()  # several batches
        p.flush()
        p.close()

    def test_kafka_python_offsets_for_times(self):
        c = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            tp = TopicPartition(self.topic, 0)
            for i, query in ((0, self.base - 5000), (0, self.base), (43, self.base + 42500),
                             (150, self.base + 150000), (COUNT - 1, self.base + (COUNT - 1) * 1000)):
                got = c.offsets_for_times({tp: query})[tp]
                self.assertIsNotNone(got, "query %d" % query)
                self.assertEqual(got.offset, i, "query base+%d" % (query - self.base))
                self.assertEqual(got.timestamp, self.base + i * 1000)
            self.assertIsNone(c.offsets_for_times({tp: self.base + COUNT * 1000})[tp],
                              "a timestamp after every record has no offset")
        finally:
            c.close()

    def test_kcat_starts_at_a_timestamp(self):
        out = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", self.topic, "-p", "0",
                              "-o", "s@%d" % (self.base + 200500), "-c", "3", "-e",
                              "-f", "%o %s\\n"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["201 v201", "202 v202", "203 v203"])


if __name__ == "__main__":
    unittest.main()
