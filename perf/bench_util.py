"""perf/bench_util.py — what the perf/ Python scripts share: reading a socket
to the byte, and a process's CPU time from /proc. Standard library only.

Imported by perf/scale.py and perf/groups_bench.py, which put perf/ on
sys.path themselves so that they run from any working directory.
"""

import os


def recv_exact(sock, n):
    """Exactly n bytes from sock; ConnectionError if the peer closes first."""
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed")
        out += chunk
    return out


def cpu_seconds(pid):
    """User + system CPU seconds used so far by process pid (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
