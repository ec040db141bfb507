"""Topic configs at creation and DescribeConfigs, through real admin clients.

confluent-kafka-python (librdkafka) creates a topic with overrides, has an
invalid value rejected with INVALID_CONFIG, and describes topic and broker
configs: values, sources (topic override, explicit broker setting, default)
and synonyms. kafka-python describes the same topic. The broker is started by
run.sh with its defaults; the test only reads what it does not set itself.

Environment: SLUICE_BOOTSTRAP (host:port).
"""
import os
import time
import unittest

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

TOPIC_CONFIG, STATIC_BROKER, DEFAULT = 1, 4, 5


class Configs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bootstrap = os.environ["SLUICE_BOOTSTRAP"]
        cls.admin = AdminClient({"bootstrap.servers": cls.bootstrap})
        cls.topic = "configs-%d" % int(time.time() * 1000)
        fs = cls.admin.create_topics([NewTopic(cls.topic, 2, 1, config={
            "retention.ms": "3600000", "cleanup.policy": "compact,delete",
            "max.message.bytes": "2000000"})])
        fs[cls.topic].result(30)

    def describe(self, kind, name):
        res = self.admin.describe_configs([ConfigResource(kind, name)])
        return list(res.values())[0].result(30)

    def test_overrides_are_reported_as_topic_configs(self):
        cfg = self.describe("topic", self.topic)
        self.assertEqual(cfg["retention.ms"].value, "3600000")
        self.assertEqual(cfg["retention.ms"].source, TOPIC_CONFIG)
        self.assertEqual(cfg["cleanup.policy"].value, "compact,delete")
        self.assertEqual(cfg["max.message.bytes"].value, "2000000")
        synonyms = [(s.name, s.source) for s in cfg["retention.ms"].synonyms.values()]
        self.assertIn(("retention.ms", TOPIC_CONFIG), synonyms)
        self.assertTrue(any(n == "log.retention.ms" for n, _ in synonyms), synonyms)

    def test_inherited_values_come_from_the_broker(self):
        cfg = self.describe("topic", self.topic)
        self.assertEqual(cfg["segment.bytes"].value, "1073741824")
        self.assertEqual(cfg["segment.bytes"].source, DEFAULT)
        self.assertEqual(cfg["min.insync.replicas"].value, "1")
        self.assertIn(cfg["unclean.leader.election.enable"].value, ("false",))

    def test_broker_resource_lists_explicit_settings_as_static(self):
        cfg = self.describe("broker", "1")
        self.assertEqual(cfg["listeners"].source, STATIC_BROKER)  # run.sh sets it
        self.assertEqual(cfg["message.max.bytes"].value, "1048588")
        self.assertEqual(cfg["message.max.bytes"].source, DEFAULT)

    def test_invalid_and_unknown_configs_are_rejected(self):
        for config in ({"retention.ms": "soon"}, {"cleanup.policy": "sometimes"},
                       {"no.such.config": "1"}, {"segment.bytes": "1"}):
            name = "bad-config-%d" % int(time.time() * 1e6)
            fs = self.admin.create_topics([NewTopic(name, 1, 1, config=config)])
            with self.assertRaises(KafkaException) as ctx:
                fs[name].result(30)
            self.assertEqual(ctx.exception.args[0].code(), 40, "%r: %r" % (config, ctx.exception))
            md = self.admin.list_topics(timeout=10)
            self.assertNotIn(name, md.topics, "a rejected topic must not be created")

    def test_unknown_topic_is_an_error(self):
        with self.assertRaises(KafkaException):
            self.describe("topic", "no-such-topic-%d" % time.time())

    def test_sluice_configs_describe_prints_overrides_and_all(self):
        import subprocess
        cli = os.environ.get("SLUICE_CLI")
        if not cli:
            self.fail("SLUICE_CLI is not set: run through tests/integration/run.sh")
        base = [cli, "configs", "--bootstrap-server", self.bootstrap, "--describe"]
        out = subprocess.run(base + ["--topic", self.topic], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "Dynamic configs for topic %s are:" % self.topic)
        self.assertEqual(sorted(l.split("=")[0].strip() for l in lines[1:]),
                         ["cleanup.policy", "max.message.bytes", "retention.ms"])
        self.assertIn("retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
                      "retention.ms=3600000", out.stdout)
        out = subprocess.run(base + ["--entity-type", "topics", "--entity-name", self.topic,
                                     "--all"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("segment.bytes=1073741824 sensitive=false", out.stdout)
        out = subprocess.run(base + ["--topic", "no-such-topic"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("does not host this topic", out.stderr)

    def test_alter_configs_from_admin_client_is_visible_in_sluice_configs(self):
        import subprocess
        topic = "alter-%d" % int(time.time() * 1000)
        self.admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "3600000"})])[
            topic].result(30)
        res = ConfigResource("topic", topic, set_config={"segment.bytes": "1048576",
                                                          "cleanup.policy": "compact"})
        list(self.admin.alter_configs([res]).values())[0].result(30)
        cfg = self.describe("topic", topic)
        self.assertEqual(cfg["segment.bytes"].value, "1048576")
        self.assertEqual(cfg["cleanup.policy"].value, "compact")
        # AlterConfigs replaces the whole set: retention.ms is back to its default.
        self.assertNotEqual(cfg["retention.ms"].source, TOPIC_CONFIG)
        out = subprocess.run([os.environ["SLUICE_CLI"], "configs", "--bootstrap-server",
                              self.bootstrap, "--describe", "--topic", topic],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("segment.bytes=1048576", out.stdout)
        self.assertIn("cleanup.policy=compact", out.stdout)
        self.assertNotIn("retention.ms=", out.stdout)
        # Invalid values are refused and change nothing.
        bad = ConfigResource("topic", topic, set_config={"segment.bytes": "x"})
        with self.assertRaises(KafkaException):
            list(self.admin.alter_configs([bad]).values())[0].result(30)
        self.assertEqual(self.describe("topic", topic)["segment.bytes"].value, "1048576")
        # The sluice CLI alters too (add + delete), and the admin client sees it.
        out = subprocess.run([os.environ["SLUICE_CLI"], "configs", "--bootstrap-server",
                              self.bootstrap, "--alter", "--topic", topic, "--add-config",
                              "retention.ms=1000,flush.messages=5", "--delete-config",
                              "segment.bytes"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        cfg = self.describe("topic", topic)
        self.assertEqual((cfg["retention.ms"].value, cfg["retention.ms"].source),
                         ("1000", TOPIC_CONFIG))
        self.assertEqual(cfg["flush.messages"].value, "5")
        self.assertNotEqual(cfg["segment.bytes"].source, TOPIC_CONFIG)

    def test_topics_describe_shows_overrides(self):
        import subprocess
        base = [os.environ["SLUICE_CLI"], "topics", "--bootstrap-server", self.bootstrap,
                "--describe"]
        out = subprocess.run(base + ["--topic", self.topic], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        head = out.stdout.splitlines()[0]
        self.assertIn("Configs: cleanup.policy=compact,delete,max.message.bytes=2000000,"
                      "retention.ms=3600000", head)
        plain = "plain-%d" % int(time.time() * 1000)
        self.admin.create_topics([NewTopic(plain, 1, 1)])[plain].result(30)
        out = subprocess.run(base + ["--topics-with-overrides"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Topic: %s\t" % self.topic, out.stdout)
        self.assertNotIn("Topic: %s\t" % plain, out.stdout)

    def test_broker_configs_are_not_dynamic(self):
        res = ConfigResource("broker", "1", set_config={"num.partitions": "3"})
        with self.assertRaises(KafkaException) as ctx:
            list(self.admin.alter_configs([res]).values())[0].result(30)
        self.assertEqual(ctx.exception.args[0].code(), 40)

    def test_kafka_python_sees_the_same_values(self):
        from kafka.admin import ConfigResource as KPResource, ConfigResourceType, KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            resp = admin.describe_configs([KPResource(ConfigResourceType.TOPIC, self.topic)])
            entries = {e[0]: e[1] for e in resp[0].resources[0][4]}
            self.assertEqual(entries["retention.ms"], "3600000")
            self.assertEqual(entries["cleanup.policy"], "compact,delete")
        finally:
            admin.close()


if __name__ == "__main__":
    unittest.main()
