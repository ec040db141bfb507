"""A second broker on the same log dir or the same listener address is refused
at start-up with a clear message (Kafka's log dir .lock; the listener is
checked without SO_REUSEPORT, which would otherwise let two brokers share the
port silently), and the first broker keeps serving.

Starts its own brokers (groups_util.OwnBroker; SLUICED, SLUICE_STATE_DIR).
"""
import os
import subprocess
import tempfile
import unittest

from groups_util import OwnBroker, free_port, _api_versions_round_trip


class SecondBroker(unittest.TestCase):

    def setUp(self):
        self.first = OwnBroker()
        self.first.start()

    def tearDown(self):
        self.first.cleanup()

    def start_second(self, port, data):
        return subprocess.run(
            [os.environ["SLUICED"], "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
             "--override", "log.dirs=%s" % data], capture_output=True, text=True, timeout=60)

    def test_same_log_dir_is_refused(self):
        out = self.start_second(free_port(), self.first.data)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("another sluiced (or Kafka) process is using this log dir",
                      out.stdout + out.stderr)
        _api_versions_round_trip(self.first.port)

    def test_same_address_is_refused(self):
        data = tempfile.mkdtemp(prefix="second-", dir=os.environ.get("SLUICE_STATE_DIR"))
        out = self.start_second(self.first.port, data)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("the address is in use by another process", out.stdout + out.stderr)
        _api_versions_round_trip(self.first.port)


if __name__ == "__main__":
    unittest.main()
