"""A segment corrupted in the middle is recovered to its last valid batch after
an unclean stop, and the broker serves the rest and keeps appending.

Starts its own broker (SLUICED) on a free port, writes 5 batches of 10 records
with raw Produce requests, kills the broker with SIGKILL, flips one byte inside
the third batch of the segment file, restarts, and checks: the high watermark
is 20, a fetch returns exactly the first two batches, a new batch lands at
offset 20, and kcat reads 30 records.

Environment: SLUICED (broker binary), SLUICE_STATE_DIR (scratch space).
"""
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from test_bad_input import Conn, record_batch
from test_cross_shard import create_topic, fetch, produce, stamped

TOPIC = "corrupt-me"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CorruptSegment(unittest.TestCase):
    def start(self):
        log = open(os.path.join(self.work, "broker.log"), "a")
        self.proc = subprocess.Popen(
            [os.environ["SLUICED"], "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
             "--override", "log.dirs=%s" % self.data], stdout=log, stderr=log)
        # Ready means an ApiVersions answer: after a SIGKILL the dead broker's
        # listening socket lingers briefly (its io_uring is torn down
        # asynchronously) and can take a connection it will only reset.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                conn = Conn("127.0.0.1", self.port)
                conn.request(18, 0, b"")
                return conn
            except OSError:
                self.assertIsNone(self.proc.poll(), "broker exited")
                time.sleep(0.05)
        self.fail("broker did not answer")

    def setUp(self):
        self.work = tempfile.mkdtemp(dir=os.environ.get("SLUICE_STATE_DIR"))
        self.data = os.path.join(self.work, "data")
        self.port = free_port()

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def test_recovers_to_the_last_valid_batch(self):
        conn = self.start()
        create_topic(conn, TOPIC, 1)
        ts = int(time.time() * 1000)
        batches = [record_batch([(b"k%d" % n, b"v%d-%d" % (n, i), []) for i in range(10)], ts)
                   for n in range(5)]
        for n, b in enumerate(batches):
            self.assertEqual(produce(conn, TOPIC, [b])[0], (0, 10 * n))
        conn.close()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

        seg = os.path.join(self.data, TOPIC + "-0", "%020d.log" % 0)
        with open(seg, "r+b") as f:
            data = f.read()
            pos = 0
            starts = []
            while pos + 12 <= len(data):
                starts.append(pos)
                pos += 12 + struct.unpack(">i", data[pos + 8:pos + 12])[0]
            self.assertEqual(len(starts), 5, "five batches on disk")
            victim = starts[2] + 70  # inside the records of the third batch (CRC-covered)
            f.seek(victim)
            f.write(bytes([data[victim] ^ 0xFF]))

        conn = self.start()
        got = fetch(conn, TOPIC, {0: 0})[0]
        self.assertEqual(got[:2], (0, 20), "high watermark after recovery")
        self.assertEqual(got[2], stamped(batches[0], 0) + stamped(batches[1], 10),
                         "exactly the two valid batches are served")
        extra = record_batch([(b"after", b"recovery-%d" % i, []) for i in range(10)], ts)
        self.assertEqual(produce(conn, TOPIC, [extra])[0], (0, 20), "appends continue at 20")
        conn.close()
        with open(os.path.join(self.work, "broker.log")) as f:
            log = f.read()
        self.assertRegex(log, "(?i)truncat", "the broker reports the truncation")
        out = subprocess.run(["kcat", "-C", "-b", "127.0.0.1:%d" % self.port, "-t", TOPIC, "-e",
                              "-q", "-f", "%o %s\\n"], capture_output=True, text=True, timeout=60)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), 30, out.stderr)
        self.assertEqual(lines[19], "19 v1-9")
        self.assertEqual(lines[20], "20 recovery-0")
        self.proc.terminate()
        self.assertEqual(self.proc.wait(30), 0)


if __name__ == "__main__":
    unittest.main()
