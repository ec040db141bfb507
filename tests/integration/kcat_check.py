#!/usr/bin/python3
"""Input generator and output checker for the kcat test in run.sh (stdlib only).

  kcat_check.py gen COUNT KEYS > lines
      COUNT lines "KEY:VALUE" for `kcat -P -K:`. Record i has key
      k<i % KEYS> and per-key sequence number s = i // KEYS; its value is
      "<key>.<s>." followed by a filler of i % 40 letters, so every value
      names its key and sequence.

  kcat_check.py check COUNT KEYS PARTITIONS [--save FILE | --compare FILE] < out
      Checks `kcat -C -e -f '%p %o %k %s\\n'` output: exactly COUNT records;
      each value is the one generated for its key and sequence; every
      (key, sequence) once; offsets contiguous from 0 in each partition; each
      key in one partition with its sequence numbers in order 0, 1, 2, ...;
      every partition used. --save writes the (partition, offset, key, value)
      listing; --compare requires the listing to equal a saved one (same
      records at the same offsets, e.g. after a broker restart).

  kcat_check.py metadata HOST:PORT TOPIC PARTITIONS < `kcat -L` output
      Requires one broker advertised at HOST:PORT and TOPIC with PARTITIONS
      partitions, each with that broker as leader and no error.

Exit status 0 if every check passed, 1 otherwise (the reasons are printed).
"""

import re
import sys

FILLER = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"


def value_for(key, seq, i):
    return "%s.%d.%s" % (key, seq, FILLER[:i % 40])


def gen(count, keys):
    out = sys.stdout
    for i in range(count):
        key = "k%d" % (i % keys)
        out.write("%s:%s\n" % (key, value_for(key, i // keys, i)))


class Problems:
    def __init__(self):
        self.items = []

    def add(self, text):
        self.items.append(text)

    def finish(self, ok_text):
        if not self.items:
            print(ok_text)
            return 0
        for text in self.items[:20]:
            print("FAIL: " + text)
        if len(self.items) > 20:
            print("FAIL: ... and %d more" % (len(self.items) - 20))
        return 1


def check(count, keys, partitions, save=None, compare=None):
    problems = Problems()
    next_offset = {}
    key_partition = {}
    key_next_seq = {}
    listing = []
    n = 0
    for line_no, line in enumerate(sys.stdin, 1):
        fields = line.rstrip("\n").split(" ")
        if len(fields) != 4:
            problems.add("line %d is not 'partition offset key value': %r" % (line_no, line[:80]))
            continue
        p, o, key, value = int(fields[0]), int(fields[1]), fields[2], fields[3]
        n += 1
        listing.append((p, o, key, value))
        if not 0 <= p < partitions:
            problems.add("line %d: partition %d out of range" % (line_no, p))
            continue
        if o != next_offset.get(p, 0):
            problems.add("partition %d: offset %d follows %d (must be contiguous from 0)"
                         % (p, o, next_offset.get(p, 0) - 1))
        next_offset[p] = o + 1
        m = re.fullmatch(r"(k\d+)\.(\d+)\.([A-Za-z]*)", value)
        if m is None or m.group(1) != key:
            problems.add("partition %d offset %d: value %r does not belong to key %r"
                         % (p, o, value[:60], key))
            continue
        seq = int(m.group(2))
        i = seq * keys + int(key[1:])
        if int(key[1:]) >= keys or i >= count or value != value_for(key, seq, i):
            problems.add("partition %d offset %d: value %r was never produced" % (p, o, value))
            continue
        if key_partition.setdefault(key, p) != p:
            problems.add("key %s in partitions %d and %d" % (key, key_partition[key], p))
        want = key_next_seq.get(key, 0)
        if seq != want:
            problems.add("key %s: sequence %d at partition %d offset %d, expected %d "
                         "(lost, duplicated or reordered)" % (key, seq, p, o, want))
        key_next_seq[key] = seq + 1
    if n != count:
        problems.add("read %d records, produced %d" % (n, count))
    for k in range(keys):
        key = "k%d" % k
        want = len(range(k, count, keys))
        if key_next_seq.get(key, 0) != want:
            problems.add("key %s: last sequence seen %d, expected %d records"
                         % (key, key_next_seq.get(key, 0), want))
    empty = [p for p in range(partitions) if p not in next_offset]
    if empty:
        problems.add("partitions %r received nothing (the keys should spread)" % empty)

    listing.sort()
    if save:
        with open(save, "w") as f:
            f.writelines("%d %d %s %s\n" % r for r in listing)
    if compare:
        with open(compare) as f:
            saved = [tuple(int(x) if j < 2 else x for j, x in enumerate(line.split()))
                     for line in f]
        if saved != listing:
            diff = [(a, b) for a, b in zip(saved, listing) if a != b][:5]
            problems.add("records differ from the saved listing (%d saved, %d now); first "
                         "differences (saved, now): %r" % (len(saved), len(listing), diff))
    per_partition = ", ".join("%d:%d" % (p, next_offset.get(p, 0)) for p in range(partitions))
    return problems.finish("kcat_check: %d records OK (per partition %s)" % (n, per_partition))


def metadata(address, topic, partitions):
    problems = Problems()
    text = sys.stdin.read()
    brokers = re.findall(r"^\s*broker (-?\d+) at (\S+)", text, re.M)
    if len(brokers) != 1 or brokers[0][1] != address:
        problems.add("expected exactly one broker at %s, kcat -L shows %r" % (address, brokers))
    broker_id = brokers[0][0] if brokers else None
    m = re.search(r'^\s*topic "%s" with (\d+) partitions:(.*)$' % re.escape(topic), text, re.M)
    if m is None:
        problems.add("topic %s not listed" % topic)
    else:
        if int(m.group(1)) != partitions or m.group(2).strip():
            problems.add("topic %s: %s partitions%s, expected %d"
                         % (topic, m.group(1), m.group(2), partitions))
        rest = text[m.end():].split("\n  topic ")[0]
        rows = re.findall(r"^\s*partition (\d+), leader (-?\d+), replicas: ([\d,]*), "
                          r"isrs: ([\d,]*)(.*)$", rest, re.M)
        if sorted(int(r[0]) for r in rows) != list(range(partitions)):
            problems.add("partition rows %r" % rows)
        for r in rows:
            if r[1] != broker_id or r[2] != broker_id or r[3] != broker_id or r[4].strip():
                problems.add("partition %s: leader %s replicas %s isrs %s%s (broker is %s)"
                             % (r[0], r[1], r[2], r[3], r[4], broker_id))
    return problems.finish("kcat_check: metadata OK (broker %s at %s, %s with %d partitions)"
                           % (broker_id, address, topic, partitions))


def main(argv):
    try:
        if argv[1] == "gen":
            gen(int(argv[2]), int(argv[3]))
            return 0
        if argv[1] == "check":
            opts = dict(zip(argv[5::2], argv[6::2]))
            return check(int(argv[2]), int(argv[3]), int(argv[4]),
                         save=opts.get("--save"), compare=opts.get("--compare"))
        if argv[1] == "metadata":
            return metadata(argv[2], argv[3], int(argv[4]))
    except (IndexError, ValueError) as e:
        print("kcat_check: bad arguments %r: %s" % (argv[1:], e))
        return 2
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
