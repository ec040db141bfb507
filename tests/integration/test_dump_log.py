"""`sluice dump-log` against segment files written by a running sluiced.

Records are produced with kcat to partition 0 of a fresh topic; then the
.log, .index and .timeindex files of that partition are dumped and the output
checked (batches, offsets, payloads). Copies of the files are then damaged in
a temporary directory (a flipped byte, a torn tail, a wrong index entry) and
dump-log must report each and exit non-zero. Standard library + kcat.

Environment (set by run.sh): SLUICE_BOOTSTRAP, SLUICE_CLI, SLUICE_DATA_DIR.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

BOOT = os.environ["SLUICE_BOOTSTRAP"]
CLI = os.environ["SLUICE_CLI"]
DATA = os.environ["SLUICE_DATA_DIR"]
TOPIC = "it-dump-log"
SEG = "%020d" % 0

BATCH_RE = re.compile(
    r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) baseSequence: (-?\d+) "
    r"lastSequence: (-?\d+) producerId: (-?\d+) producerEpoch: (-?\d+) "
    r"partitionLeaderEpoch: (-?\d+) isTransactional: (true|false) isControl: (true|false) "
    r"deleteHorizonMs: OptionalLong.empty position: (\d+) CreateTime: (\d+) size: (\d+) "
    r"magic: 2 compresscodec: (\w+) crc: (\d+) isvalid: (true|false)$")
RECORD_RE = re.compile(
    r"^\| offset: (\d+) CreateTime: (\d+) keySize: (-?\d+) valueSize: (-?\d+) "
    r"sequence: (-?\d+) headerKeys: \[([^\]]*)\](?: key: (\S*))?(?: payload: (.*))?$")


def kcat_produce(lines, *extra):
    subprocess.run(["kcat", "-P", "-b", BOOT, "-t", TOPIC, "-p", "0", "-K:",
                    "-X", "acks=all"] + list(extra),
                   input="".join(l + "\n" for l in lines).encode(), check=True, timeout=60)


def dump(*args):
    r = subprocess.run([CLI, "dump-log"] + list(args), capture_output=True, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    print("$ sluice dump-log %s  -> exit %d\n%s%s" % (" ".join(args), r.returncode, out,
                                                     r.stderr.decode("utf-8", "replace")))
    return r.returncode, out


def batches(out):
    return [BATCH_RE.match(l) for l in out.splitlines() if BATCH_RE.match(l)]


def records(out):
    return [RECORD_RE.match(l) for l in out.splitlines() if RECORD_RE.match(l)]


def seg_path(suffix):
    return os.path.join(DATA, TOPIC + "-0", SEG + suffix)


# What is produced: 3 keyed records with a header, then 5 more, then 200
# records of 200 bytes in batches of 10 (so the .index gets entries: one per
# 4096 bytes of log).
FIRST = ["k%d:first-%d" % (i, i) for i in range(3)]
SECOND = ["s%d:second value %d" % (i, i) for i in range(5)]
BULK = ["b%d:%s" % (i, ("bulk-%d-" % i).ljust(200, "x")) for i in range(200)]
ALL = FIRST + SECOND + BULK


def setup_module(module):
    kcat_produce(FIRST, "-H", "h=v")
    kcat_produce(SECOND)
    kcat_produce(BULK, "-X", "batch.num.messages=10", "-X", "linger.ms=0")
    deadline = time.time() + 30
    while time.time() < deadline:
        code, out = dump("--files", seg_path(".log"))
        b = batches(out)
        if b and int(b[-1].group(2)) == len(ALL) - 1:
            return
        time.sleep(0.5)
    raise AssertionError("the .log does not hold the %d records produced" % len(ALL))


def test_log_batches_and_records():
    code, out = dump("--files", seg_path(".log"), "--print-data-log")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Dumping " + seg_path(".log")
    assert lines[1] == "Log starting offset: 0"
    bs = batches(out)
    assert len(bs) >= 3, "3 kcat runs make at least 3 batches"
    next_offset, position = 0, 0
    for b in bs:
        base, last, count = int(b.group(1)), int(b.group(2)), int(b.group(3))
        assert base == next_offset and last - base + 1 == count
        assert int(b.group(11)) == position
        assert b.group(14) == "none" and b.group(16) == "true"
        next_offset, position = last + 1, position + int(b.group(13))
    assert next_offset == len(ALL)
    assert position == os.path.getsize(seg_path(".log"))
    # Batches never cross kcat runs (separate producers), though one run may be
    # split into several batches (kcat's linger): a batch ends at each run's end.
    lasts = {int(b.group(2)) for b in bs}
    assert len(FIRST) - 1 in lasts and len(FIRST) + len(SECOND) - 1 in lasts
    rs = records(out)
    assert len(rs) == len(ALL)
    for i, (r, line) in enumerate(zip(rs, ALL)):
        key, value = line.split(":", 1)
        assert int(r.group(1)) == i
        assert r.group(7) == key and r.group(8) == value
        assert int(r.group(3)) == len(key) and int(r.group(4)) == len(value)
        assert r.group(6) == ("h" if i < 3 else "")


def test_deep_iteration_without_payloads():
    code, out = dump("--files", seg_path(".log"), "--deep-iteration")
    assert code == 0
    rs = records(out)
    assert len(rs) == len(ALL)
    assert all(r.group(7) is None and r.group(8) is None for r in rs)


def test_index_and_timeindex_match_the_log():
    _, log_out = dump("--files", seg_path(".log"))
    last_at = {int(b.group(11)): int(b.group(2)) for b in batches(log_out)}
    code, out = dump("--files", seg_path(".index"))
    assert code == 0
    entries = re.findall(r"^offset: (\d+) position: (\d+)$", out, re.M)
    assert len(entries) >= 5, "200 x 200 bytes make more than 5 entries at 4096 bytes"
    for off, pos in entries:
        assert last_at[int(pos)] == int(off)
    assert "mismatch" not in out
    code, out = dump("--files", seg_path(".timeindex"))
    assert code == 0
    tentries = re.findall(r"^timestamp: (\d+) offset: (\d+)$", out, re.M)
    assert tentries and "mismatch" not in out and "monotonic" not in out
    assert all(int(o) in last_at.values() for _, o in tentries)
    code, out = dump("--files", seg_path(".index") + "," + seg_path(".timeindex"),
                     "--verify-index-only")
    assert code == 0 and "no mismatch" in out and "offset: " not in out
    code, out = dump("--files", seg_path(".index"), "--index-sanity-check")
    assert code == 0 and "passed sanity check." in out


def copy_segment(tmp, suffixes=(".log",)):
    for s in suffixes:
        shutil.copy(seg_path(s), os.path.join(tmp, SEG + s))
    return os.path.join(tmp, SEG + ".log")


def test_flipped_byte_is_invalid():
    with tempfile.TemporaryDirectory() as tmp:
        log = copy_segment(tmp)
        with open(log, "r+b") as f:
            f.seek(70)  # inside the records of the first batch
            b = f.read(1)
            f.seek(70)
            f.write(bytes([b[0] ^ 0x5A]))
        code, out = dump("--files", log)
        assert code != 0
        bs = batches(out)
        assert bs[0].group(16) == "false"
        assert all(b.group(16) == "true" for b in bs[1:])
        assert int(bs[-1].group(2)) == len(ALL) - 1, "the batches after it are still dumped"
        assert "Corrupt batch at position 0: CRC mismatch" in out


def test_torn_tail_is_reported():
    with tempfile.TemporaryDirectory() as tmp:
        log = copy_segment(tmp)
        _, out = dump("--files", log)
        bs = batches(out)
        cut = int(bs[1].group(11)) + 30  # 30 bytes into the second batch
        os.truncate(log, cut)
        code, out = dump("--files", log)
        assert code != 0
        bs = batches(out)
        assert len(bs) == 1 and bs[0].group(16) == "true"
        assert "Torn tail at position %s" % int(bs[0].group(13)) in out
        assert "Found 30 invalid bytes at the end of " + log in out
        # Fewer bytes than a batch header's length field.
        os.truncate(log, int(bs[0].group(13)) + 5)
        code, out = dump("--files", log)
        assert code != 0 and "Found 5 invalid bytes at the end of" in out


def test_index_mismatch_is_reported():
    with tempfile.TemporaryDirectory() as tmp:
        log = copy_segment(tmp, (".log", ".index", ".timeindex"))
        index = log[:-4] + ".index"
        with open(index, "r+b") as f:
            rel = int.from_bytes(f.read(4), "big")
            f.seek(0)
            f.write((rel + 1).to_bytes(4, "big"))
        code, out = dump("--files", index)
        assert code != 0
        assert re.search(r"^Index entry mismatch: offset: %d position: \d+ but the batch there "
                         r"has last offset %d$" % (rel + 1, rel), out, re.M)
        os.truncate(log, 100)
        code, out = dump("--files", index, "--verify-index-only")
        assert code != 0 and "is beyond the valid log" in out
        assert not re.search(r"^offset: ", out, re.M)
        code, out = dump("--files", log[:-4] + ".timeindex")
        assert code != 0 and "is not the last offset of a batch in the log" in out


def test_missing_file_and_usage():
    code, _ = dump("--files", "/nonexistent/%s.log" % SEG)
    assert code == 1
    code, _ = dump()
    assert code == 2
