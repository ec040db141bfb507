"""IncrementalAlterConfigs (key 44) on the wire: set, delete, append and
subtract on a topic, append refused on a non-list config, an unknown topic,
validate_only changing nothing. None of the installed clients (librdkafka 2.0,
kafka-python 2.0, kafkajs 2.2) sends this API, so the frames are built here;
DescribeConfigs through confluent-kafka checks the outcome.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import time
import unittest

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from test_bad_input import Conn, Reader, array, i8, i16, i32, string

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
INVALID_CONFIG, UNKNOWN_TOPIC_OR_PARTITION = 40, 3


def incremental_alter(conn, topic, ops, validate_only=False):
    configs = [string(name) + i8(op) + string(value) for name, op, value in ops]
    body = array([i8(2) + string(topic) + array(configs)]) + i8(1 if validate_only else 0)
    r = Reader(conn.request(44, 0, body))
    r.i32()
    out = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))
    return out[0][0], out[0][1]


class IncrementalAlter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = os.environ["SLUICE_BOOTSTRAP"]
        cls.admin = AdminClient({"bootstrap.servers": cls.bootstrap})
        host, port = cls.bootstrap.rsplit(":", 1)
        cls.conn = Conn(host, int(port))

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    def describe(self, topic):
        res = self.admin.describe_configs([ConfigResource("topic", topic)])
        return list(res.values())[0].result(30)

    def test_set_delete_append_subtract(self):
        topic = "incr-%d" % int(time.time() * 1000)
        self.admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "3600000"})])[
            topic].result(30)
        err, msg = incremental_alter(self.conn, topic, [("segment.bytes", SET, "2097152"),
                                                        ("cleanup.policy", APPEND, "compact")])
        self.assertEqual(err, 0, msg)
        cfg = self.describe(topic)
        self.assertEqual(cfg["retention.ms"].value, "3600000", "untouched overrides stay")
        self.assertEqual(cfg["segment.bytes"].value, "2097152")
        self.assertEqual(cfg["cleanup.policy"].value, "delete,compact")
        err, msg = incremental_alter(self.conn, topic, [("cleanup.policy", SUBTRACT, "delete"),
                                                        ("retention.ms", DELETE, None)])
        self.assertEqual(err, 0, msg)
        cfg = self.describe(topic)
        self.assertEqual(cfg["cleanup.policy"].value, "compact")
        self.assertEqual(cfg["retention.ms"].value, "604800000")
        err, msg = incremental_alter(self.conn, topic, [("retention.ms", APPEND, "5")])
        self.assertEqual(err, INVALID_CONFIG, msg)
        err, msg = incremental_alter(self.conn, topic, [("segment.bytes", SET, "1")])
        self.assertEqual(err, INVALID_CONFIG, msg)
        err, msg = incremental_alter(self.conn, topic, [("segment.bytes", SET, "4194304")],
                                     validate_only=True)
        self.assertEqual(err, 0, msg)
        self.assertEqual(self.describe(topic)["segment.bytes"].value, "2097152",
                         "validate_only must not change anything")

    def test_unknown_topic(self):
        err, _ = incremental_alter(self.conn, "no-such-topic-%d" % time.time(),
                                   [("retention.ms", SET, "1")])
        self.assertEqual(err, UNKNOWN_TOPIC_OR_PARTITION)


if __name__ == "__main__":
    unittest.main()
