"""Running out of file descriptors is a world error, not a reason to spin.

A broker of this test's own with RLIMIT_NOFILE at 80 gets 120 connections:
accepts beyond the limit fail with EMFILE; the broker must back off (not
retry in a hot loop, not flood its log), keep serving the connections it
has, and accept again once descriptors are free.

Environment (set by run.sh): SLUICED, SLUICE_STATE_DIR.
"""

import os
import resource
import socket
import struct
import subprocess
import tempfile
import time

from groups_util import free_port, _api_versions_round_trip


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def api_versions_on(s, correlation):
    client = b"fd"
    body = struct.pack(">hhih", 18, 0, correlation, len(client)) + client
    s.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
    data = s.recv(size, socket.MSG_WAITALL)
    return struct.unpack(">ih", data[:6])


def test_descriptor_exhaustion_backs_off_and_recovers():
    work = tempfile.mkdtemp(prefix="fd-limit-", dir=os.environ.get("SLUICE_STATE_DIR"))
    port = free_port()
    log_path = os.path.join(work, "broker.log")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (80, 80))

    log = open(log_path, "wb")
    proc = subprocess.Popen([os.environ["SLUICED"],
                             "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
                             "--override", "log.dirs=%s" % os.path.join(work, "data")],
                            stdout=log, stderr=log, preexec_fn=limit)
    socks = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _api_versions_round_trip(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "broker did not start"
                time.sleep(0.05)
        for _ in range(120):  # the kernel's backlog takes them; accept() runs out
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(1)
        t0 = cpu_ticks(proc.pid)
        time.sleep(2)
        ticks = cpu_ticks(proc.pid) - t0
        hz = os.sysconf("SC_CLK_TCK")
        assert ticks < hz // 2, "broker used %d ticks in 2 s while out of descriptors" % ticks
        # The first connections were accepted and are served.
        assert api_versions_on(socks[0], 11) == (11, 0)
        with open(log_path, "rb") as f:
            warnings = f.read().count(b"accept failed")
        assert 1 <= warnings <= 20, "%d accept warnings in ~3 s" % warnings
        for s in socks:
            s.close()
        socks = []
        time.sleep(0.5)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(10)
        assert api_versions_on(s, 12) == (12, 0), "accepting again once descriptors are free"
        s.close()
        assert proc.poll() is None
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
