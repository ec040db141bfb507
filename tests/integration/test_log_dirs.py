"""Several log.dirs: partitions are spread over them, and a directory that
cannot be used is reported and taken offline without stopping the broker.

Starts its own broker (SLUICED) on a free loopback port with three log dirs,
the middle one impossible to create (its parent is a file), and kills it by PID
at the end. confluent-kafka produces and consumes; a restart keeps every
partition where it was.

Environment: SLUICED (broker binary), SLUICE_STATE_DIR (scratch space).
"""
import os
import socket
import subprocess
import tempfile
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from test_bad_input import Conn


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LogDirs(unittest.TestCase):
    def start(self):
        log = open(os.path.join(self.work, "broker.log"), "a")
        self.proc = subprocess.Popen(
            [os.environ["SLUICED"], "--override", "listeners=PLAINTEXT://%s" % self.boot,
             "--override", "log.dirs=%s" % ",".join(self.dirs)], stdout=log, stderr=log)
        # Ready means an ApiVersions answer from this broker: a stopped one's
        # listening socket can linger briefly while its io_uring is torn down.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                conn = Conn("127.0.0.1", self.port)
                conn.request(18, 0, b"")
                conn.close()
                return
            except OSError:
                self.assertIsNone(self.proc.poll(), "broker exited: " + self.log_text())
                time.sleep(0.05)
        self.fail("broker did not answer")

    def stop(self):
        self.proc.terminate()
        self.assertEqual(self.proc.wait(30), 0, self.log_text())

    def log_text(self):
        with open(os.path.join(self.work, "broker.log")) as f:
            return f.read()[-3000:]

    def setUp(self):
        self.work = tempfile.mkdtemp(dir=os.environ.get("SLUICE_STATE_DIR"))
        blocker = os.path.join(self.work, "not-a-dir")
        open(blocker, "w").close()
        self.dirs = [os.path.join(self.work, "a"), os.path.join(blocker, "x"),
                     os.path.join(self.work, "b")]
        self.port = free_port()
        self.boot = "127.0.0.1:%d" % self.port
        self.start()

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def placement(self, topic):
        where = {}
        for d in (self.dirs[0], self.dirs[2]):
            for name in os.listdir(d):
                if name.startswith(topic + "-"):
                    where[int(name.rsplit("-", 1)[1])] = d
        return where

    def test_offline_dir_is_reported_and_skipped(self):
        self.assertIn("is offline", self.log_text())
        admin = AdminClient({"bootstrap.servers": self.boot})
        admin.create_topics([NewTopic("spread", 6, 1)])["spread"].result(30)
        where = self.placement("spread")
        self.assertEqual(sorted(where), list(range(6)), "every partition in an online dir")
        self.assertEqual(set(where.values()), {self.dirs[0], self.dirs[2]}, "spread over both")
        p = Producer({"bootstrap.servers": self.boot, "acks": "all"})
        for i in range(600):
            p.produce("spread", value=b"%d" % i, partition=i % 6)
        self.assertEqual(p.flush(30), 0)
        self.stop()
        self.start()
        self.assertEqual(self.placement("spread"), where, "partitions stay where they were")
        c = Consumer({"bootstrap.servers": self.boot, "group.id": "log-dirs",
                      "enable.auto.commit": False})
        c.assign([TopicPartition("spread", p, 0) for p in range(6)])
        got = set()
        deadline = time.monotonic() + 30
        while len(got) < 600 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                got.add(int(m.value()))
        c.close()
        self.assertEqual(got, set(range(600)))
        self.stop()


if __name__ == "__main__":
    unittest.main()
