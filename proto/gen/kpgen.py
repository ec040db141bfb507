#!/usr/bin/env python3
"""kpgen.py — generates sluice's Kafka message codecs from proto/messages/*.kp.

    python3 proto/gen/kpgen.py --out-dir DIR proto/messages/*.kp

writes DIR/kp_messages.h and DIR/kp_messages.c (C11, targeting proto/kp_codec.h).
Python 3 standard library only. Any error in a description stops generation
with "file:line: message" and exit status 1; nothing is written then.

THE .kp LANGUAGE
================
One file per API, holding its request and its response; or a file of `data`
blocks (versioned structs that are not API messages, below). Indentation
(spaces only) nests structs. `#` starts a comment; `-- text` at the end of a field line
is the field's documentation (copied into the generated header).

    # Produce: append record batches to partitions.
    api Produce 0                 # Kafka's API name (CamelCase) and API key
    versions 0-9                  # valid versions, inclusive
    flexible 9+                   # first flexible version, or `flexible none`

    request
      TransactionalId  string  v3+  nullable  default null  -- null unless transactional
      Acks             int16
      TimeoutMs        int32
      TopicData        []TopicProduceData
        Name           string
        PartitionData  []PartitionProduceData
          Index        int32
          Records      records  nullable

    response
      Responses        []TopicProduceResponse
        ...
      ThrottleTimeMs   int32  v1+

Field line:   Name  Type  [vRANGE]  [nullable [vRANGE]]  [default VALUE]  [tag N [vRANGE]]  [-- doc]

  Name      Kafka's field name. The C member is its snake_case (ThrottleTimeMs ->
            throttle_time_ms, TopicID -> topic_id).
  Type      int8 int16 int32 int64 uint16 uint32 float64 bool uuid
            string bytes records (records = bytes that a writer may keep out of line)
            []T       array of a primitive T
            []Name    array of struct Name; its fields follow, indented
            Name      a single (embedded) struct Name; its fields follow, indented
            A struct type without an indented block refers to a struct defined
            elsewhere in the same request/response (inline, or with `struct Name`
            at the top level of the section, Kafka's "common structs").
  vRANGE    v3+ (3 and later), v0-5 (0 to 5), v7 (only 7). Default: every version.
            A range reaching outside `versions` is clipped to it. A field that
            exists in none of `versions` (one of Kafka's later versions) stays a
            member of the C struct, so code can be written ahead of a version
            bump, but is never read or written.
  nullable  the field may be null in these versions (default: all the field's
            versions). strings, bytes, records, arrays and single structs. A
            nullable struct is written as an int8 presence marker (-1 null, 1
            present; a reader takes any negative as null), then the struct if
            present; in its versions that are not nullable, as the bare struct.
            A tagged nullable struct must be nullable in all its tagged versions.
  default   -1, 0x7fffffff, true, false, 2.5, "text", null (nullable fields;
            a nullable struct is null by default whether or not it says so).
            Without one: 0, false, empty string / bytes / array, zero uuid.
  tag N     in these versions (default: all the field's versions, which must be
            flexible) the field is a tagged field with tag N: it sits in the
            struct's tagged-field section and is written only when it differs from
            its default. In the field's other versions it is a regular field.

Section lines: `request`, `response`, and inside a section `struct Name` followed
by an indented block of fields (a common struct).

DATA BLOCKS (versioned data that is not an API message: the record keys and
values of __consumer_offsets). A file holds one or more, each:

    # Kafka: OffsetCommitValue, coordinator-value, apiKey 1.
    data OffsetCommitValue 1      # Kafka's name, [record type: Kafka's apiKey]
    versions 0-4
    flexible 4+
    offset           int64        # fields at the top level, as in a section
    leaderEpoch      int32  v3+  default -1
    ...
    struct Common                 # common structs allowed, as in a section
      ...

`versions` and `flexible` come before the fields; the next `data` line ends
the block. The optional number is Kafka's "apiKey" of a coordinator-key or
coordinator-value record: the record type, which is the int16 prefix of the
record key. The int16 prefix of a record (key: record type; value: version) is
not part of the struct; callers read and write it.

Checked at generation time: unknown types and structs, duplicate fields or
tags, defaults out of range for their type, `default null` on a field that is
not nullable, tagged fields outside flexible versions, structs never used, C
keywords as member names, struct arrays whose elements could take zero bytes
on the wire in some version (the decoder's count check assumes >= 1), and C
type names that two descriptions would both generate. Not supported (the
generator says so): arrays of records.

Adding an API: write proto/messages/<api>.kp from Kafka's message JSON (facts,
not text), rebuild; the round-trip, truncation and mutation tests in
tests/unit/test_proto_messages.c cover it through the reflection schema (data
blocks too, through kp_data_schemas[]).

Encoding rules the generated code follows (KAFKA-PROTOCOL.md §1): in flexible
versions strings, bytes, records and arrays use the compact forms (uvarint N+1,
0 = null) and every struct, the top level included, ends with a tagged-field
section (uvarint count, then uvarint tag, uvarint size, value; tags ascending).

WHAT IS GENERATED (naming contract)
===================================
For API `ListOffsets` (snake list_offsets) and each of request / response:

  kp_list_offsets_request_t                 the top-level struct
  kp_list_offsets_request_list_offsets_topic_t
                                            nested struct ListOffsetsTopic; also
  kp_list_offsets_request_topics_t          an alias named after the field (Topics)
                                            when that name is unambiguous
  void   kp_X_init(kp_X_t *m)               every struct: zero, then defaults
  int    kp_X_decode(kp_reader_t *r, kp_arena_t *a, int16_t version, kp_X_t *out)
  size_t kp_X_size(const kp_X_t *m, int16_t version)
  int    kp_X_encode(kp_writer_t *w, const kp_X_t *m, int16_t version)

For data block `OffsetCommitValue` (snake offset_commit_value):

  kp_offset_commit_value_t                  the struct (no _request/_response)
  kp_group_metadata_value_member_metadata_t nested struct MemberMetadata of
  kp_group_metadata_value_members_t         GroupMetadataValue, and its alias
  kp_offset_commit_value_init/_decode/_size/_encode   as for a request

Members: scalars by value (bool, int*_t, uint*_t, double), kp_str_t, kp_bytes_t
(bytes and records), kp_uuid_t, embedded structs by value, arrays as
`T *name; int32_t name_count;` (count -1 and NULL: null array). A struct field
that is nullable in any version is a pointer `T *name;`: NULL is null. init
leaves it NULL; decode allocates it in the arena (always, in versions where it
is not nullable); encode writes NULL as null, or as the struct's defaults in a
version where it is not nullable.

Plus KP_API_<NAME> key constants, kp_api_descs[] (sorted by key),
kp_api_desc_count, kp_api_desc_find(), a reflection schema of every struct
(kp_api_schemas[], kp_api_schema_find()) that tests and tools walk generically;
for data blocks KP_DATA_TYPE_<NAME> record-type constants, kp_data_schemas[]
(sorted by name, with record type, versions and the same reflection schema),
kp_data_schema_count, kp_data_schema_find(name).
"""

import argparse
import os
import re
import sys
import textwrap

MAXV = 0x7FFF

PRIMS = {
    # name: (C type, fixed wire size or None, reflection enum)
    'int8': ('int8_t', 1, 'KP_TYPE_INT8'),
    'int16': ('int16_t', 2, 'KP_TYPE_INT16'),
    'int32': ('int32_t', 4, 'KP_TYPE_INT32'),
    'int64': ('int64_t', 8, 'KP_TYPE_INT64'),
    'uint16': ('uint16_t', 2, 'KP_TYPE_UINT16'),
    'uint32': ('uint32_t', 4, 'KP_TYPE_UINT32'),
    'float64': ('double', 8, 'KP_TYPE_FLOAT64'),
    'bool': ('bool', 1, 'KP_TYPE_BOOL'),
    'uuid': ('kp_uuid_t', 16, 'KP_TYPE_UUID'),
    'string': ('kp_str_t', None, 'KP_TYPE_STRING'),
    'bytes': ('kp_bytes_t', None, 'KP_TYPE_BYTES'),
    'records': ('kp_bytes_t', None, 'KP_TYPE_RECORDS'),
}
INT_RANGES = {
    'int8': (-(1 << 7), (1 << 7) - 1),
    'int16': (-(1 << 15), (1 << 15) - 1),
    'int32': (-(1 << 31), (1 << 31) - 1),
    'int64': (-(1 << 63), (1 << 63) - 1),
    'uint16': (0, (1 << 16) - 1),
    'uint32': (0, (1 << 32) - 1),
}
C_KEYWORDS = set('''auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static
struct switch typedef union unsigned void volatile while bool true false'''.split())


class KpError(Exception):
    pass


def fail(where, msg):
    raise KpError('%s: %s' % (where, msg))


def snake(name):
    s = re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1_\2', name)
    s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', s)
    return s.lower()


# ---------------------------------------------------------------------------
# Version ranges
# ---------------------------------------------------------------------------

class VRange:
    """Inclusive range of versions; empty when lo > hi."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text, where):
        t = text[1:] if text.startswith('v') else text
        if t == 'none':
            return VRange(1, 0)
        m = re.fullmatch(r'(\d+)(\+|-(\d+))?', t)
        if not m:
            fail(where, 'bad version range %r (want v3+, v0-5 or v7)' % text)
        lo = int(m.group(1))
        if m.group(2) == '+':
            hi = MAXV
        elif m.group(3) is not None:
            hi = int(m.group(3))
        else:
            hi = lo
        if lo > MAXV or hi > MAXV or lo > hi:
            fail(where, 'bad version range %r' % text)
        return VRange(lo, hi)

    @property
    def empty(self):
        return self.lo > self.hi

    def __and__(self, o):
        return VRange(max(self.lo, o.lo), min(self.hi, o.hi))

    def contains(self, v):
        return self.lo <= v <= self.hi

    def covers(self, o):
        return o.empty or (not self.empty and self.lo <= o.lo and o.hi <= self.hi)

    def minus(self, o):
        """self \\ o as a list of non-empty ranges."""
        if self.empty:
            return []
        if o.empty or o.hi < self.lo or o.lo > self.hi:
            return [self]
        out = []
        if o.lo > self.lo:
            out.append(VRange(self.lo, o.lo - 1))
        if o.hi < self.hi:
            out.append(VRange(o.hi + 1, self.hi))
        return out

    def __str__(self):
        if self.empty:
            return 'none'
        if self.hi == MAXV:
            return 'v%d+' % self.lo
        if self.lo == self.hi:
            return 'v%d' % self.lo
        return 'v%d-%d' % (self.lo, self.hi)


def vcond(rng, ctx):
    """C condition on `version` that selects rng within ctx; None when always."""
    r = rng & ctx
    if r.empty:
        return 'false'
    parts = []
    if r.lo > ctx.lo:
        parts.append('version >= %d' % r.lo)
    if r.hi < ctx.hi:
        parts.append('version <= %d' % r.hi)
    return ' && '.join(parts) if parts else None


def vcond_list(ranges, ctx):
    conds = []
    for r in ranges:
        c = vcond(r, ctx)
        if c is None:
            return None
        if c != 'false':
            conds.append(c)
    if not conds:
        return 'false'
    if len(conds) == 1:
        return conds[0]
    return ' || '.join('(%s)' % c for c in conds)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

class Field:
    def __init__(self, where, name, typ):
        self.where = where
        self.name = name
        self.snake = snake(name)
        self.typ = typ           # primitive name or struct name (element type for arrays)
        self.is_array = False
        self.struct = None       # Struct for struct-typed fields
        self.versions = None
        self.nullable = VRange(1, 0)
        self.nullable_all = False
        self.default = None      # (kind, value) after parsing
        self.default_tok = None
        self.tag = None
        self.tag_versions = None
        self.doc = ''
        self.children = []       # raw child items (inline struct definition)

    @property
    def is_struct(self):
        return self.struct is not None

    @property
    def is_ptr(self):
        """A single struct that is nullable in some version: a pointer member."""
        return self.struct is not None and not self.is_array and not self.nullable.empty


class Struct:
    def __init__(self, where, name):
        self.where = where
        self.name = name
        self.snake = snake(name)
        self.fields = []
        self.cname = None    # C type name without _t
        self.aliases = []
        self.need_is_default = False


class Message:
    def __init__(self, api, kind):
        self.api = api
        self.kind = kind
        self.top = None
        self.structs = {}        # name -> Struct (nested only)
        if kind == 'data':
            self.prefix = 'kp_%s' % api.snake
        else:
            self.prefix = 'kp_%s_%s' % (api.snake, kind)


class Api:
    """An `api` (request and response) or a `data` block (one struct, msgs['data'])."""

    def __init__(self, path, kind='api'):
        self.path = path
        self.kind = kind
        self.name = None
        self.key = None          # API key; for data the record type or None
        self.versions = None
        self.flexible = None
        self.doc = ''
        self.msgs = {}

    @property
    def snake(self):
        return snake(self.name)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

class Tok:
    def __init__(self, text, quoted):
        self.text, self.quoted = text, quoted

    def __repr__(self):
        return repr(self.text)


def tokenize(line, where):
    """Returns (tokens, doc)."""
    toks, i, n = [], 0, len(line)
    while i < n:
        c = line[i]
        if c in ' \t':
            i += 1
        elif c == '#':
            break
        elif c == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    fail(where, 'unterminated string')
                if line[j] == '\\' and j + 1 < n:
                    buf.append(line[j + 1])
                    j += 2
                elif line[j] == '"':
                    break
                else:
                    buf.append(line[j])
                    j += 1
            toks.append(Tok(''.join(buf), True))
            i = j + 1
        else:
            j = i
            while j < n and line[j] not in ' \t"#':
                j += 1
            word = line[i:j]
            if word == '--':
                return toks, line[j:].strip()
            toks.append(Tok(word, False))
            i = j
    return toks, ''


class Line:
    def __init__(self, where, indent, toks, doc):
        self.where, self.indent, self.toks, self.doc = where, indent, toks, doc
        self.children = []


def read_lines(path):
    out = []
    with open(path, encoding='utf-8') as f:
        for no, raw in enumerate(f, 1):
            where = '%s:%d' % (path, no)
            raw = raw.rstrip('\n')
            if '\t' in raw[:len(raw) - len(raw.lstrip())]:
                fail(where, 'indent with spaces, not tabs')
            toks, doc = tokenize(raw, where)
            if not toks:
                if doc:
                    fail(where, 'documentation without a field')
                continue
            out.append(Line(where, len(raw) - len(raw.lstrip(' ')), toks, doc))
    return out


def build_tree(lines):
    """Nests lines by indentation; returns the top-level lines."""
    root = Line('', -1, [], '')
    stack = [root]
    for ln in lines:
        while ln.indent <= stack[-1].indent:
            stack.pop()
        parent = stack[-1]
        if parent.children and parent.children[0].indent != ln.indent:
            fail(ln.where, 'inconsistent indentation')
        parent.children.append(ln)
        stack.append(ln)
    return root.children


def parse_field(api, ln):
    toks = ln.toks
    if len(toks) < 2:
        fail(ln.where, 'a field needs a name and a type')
    name, typ = toks[0].text, toks[1].text
    if toks[0].quoted or not re.fullmatch(r'[A-Za-z][A-Za-z0-9]*', name):
        fail(ln.where, 'bad field name %r' % name)
    f = Field(ln.where, name, typ)
    f.doc = ln.doc
    if typ.startswith('[]'):
        f.is_array = True
        f.typ = typ[2:]
    if f.typ not in PRIMS and not re.fullmatch(r'[A-Z][A-Za-z0-9]*', f.typ):
        fail(ln.where, 'unknown type %r' % typ)
    i = 2
    while i < len(toks):
        t = toks[i]
        word = t.text
        if not t.quoted and re.fullmatch(r'v\d.*', word):
            if f.versions is not None:
                fail(ln.where, 'versions given twice')
            f.versions = VRange.parse(word, ln.where)
            i += 1
        elif word == 'nullable' and not t.quoted:
            if i + 1 < len(toks) and re.fullmatch(r'v\d.*', toks[i + 1].text):
                f.nullable = VRange.parse(toks[i + 1].text, ln.where)
                i += 2
            else:
                f.nullable_all = True
                i += 1
        elif word == 'default' and not t.quoted:
            if i + 1 >= len(toks):
                fail(ln.where, 'default needs a value')
            f.default_tok = toks[i + 1]
            i += 2
        elif word == 'tag' and not t.quoted:
            if i + 1 >= len(toks) or not re.fullmatch(r'\d+', toks[i + 1].text):
                fail(ln.where, 'tag needs a number')
            f.tag = int(toks[i + 1].text)
            i += 2
            if i < len(toks) and re.fullmatch(r'v\d.*', toks[i].text):
                f.tag_versions = VRange.parse(toks[i].text, ln.where)
                i += 1
        else:
            fail(ln.where, 'unexpected %r' % word)
    if f.versions is None:
        f.versions = VRange(0, MAXV)
    if f.nullable_all:
        f.nullable = VRange(f.versions.lo, f.versions.hi)
    if f.tag is not None and f.tag_versions is None:
        f.tag_versions = VRange(f.versions.lo, f.versions.hi)
    if f.tag is None:
        f.tag_versions = VRange(1, 0)
    f.children = ln.children
    return f


def parse_struct_body(api, msg, st, lines):
    for ln in lines:
        if ln.toks[0].text == 'struct':
            fail(ln.where, '`struct` blocks belong at the top level of a section')
        f = parse_field(api, ln)
        st.fields.append(f)
        if f.typ not in PRIMS and f.children:
            if f.typ in msg.structs:
                fail(ln.where, 'struct %s defined twice' % f.typ)
            sub = Struct(ln.where, f.typ)
            msg.structs[f.typ] = sub
            parse_struct_body(api, msg, sub, f.children)
        elif f.children:
            fail(ln.where, 'only struct fields take an indented block')


def parse_section(api, kind, where, children):
    """Builds api.msgs[kind] from the lines of a section (or a data block)."""
    msg = Message(api, kind)
    msg.top = Struct(where, api.name + ('' if kind == 'data' else kind.capitalize()))
    fields = []
    for child in children:
        if child.toks[0].text == 'struct':
            if len(child.toks) != 2 or not child.children:
                fail(child.where, 'want: struct Name, then indented fields')
            name = child.toks[1].text
            if name in msg.structs:
                fail(child.where, 'struct %s defined twice' % name)
            st = Struct(child.where, name)
            msg.structs[name] = st
            parse_struct_body(api, msg, st, child.children)
        else:
            fields.append(child)
    parse_struct_body(api, msg, msg.top, fields)
    api.msgs[kind] = msg


def parse_file(path):
    """Returns the units of a file: one api, or one or more data blocks."""
    units = []
    cur = None
    data_lines = {}          # data unit -> (where, body lines)
    for ln in build_tree(read_lines(path)):
        kw = ln.toks[0].text
        args = [t.text for t in ln.toks[1:]]
        if kw == 'api':
            if units:
                fail(ln.where, 'one api per file, and no data blocks with it')
            if len(args) != 2 or not re.fullmatch(r'[A-Z][A-Za-z0-9]*', args[0]) \
                    or not re.fullmatch(r'\d+', args[1]):
                fail(ln.where, 'want: api Name Key')
            cur = Api(path)
            cur.name, cur.key, cur.doc = args[0], int(args[1]), ln.doc
            units.append(cur)
        elif kw == 'data':
            if units and units[0].kind == 'api':
                fail(ln.where, 'data blocks do not share a file with an api')
            if len(args) not in (1, 2) or not re.fullmatch(r'[A-Z][A-Za-z0-9]*', args[0]) \
                    or (len(args) == 2 and not re.fullmatch(r'\d+', args[1])):
                fail(ln.where, 'want: data Name [RecordType]')
            cur = Api(path, 'data')
            cur.name, cur.doc = args[0], ln.doc
            cur.key = int(args[1]) if len(args) == 2 else None
            if cur.key is not None and cur.key > 0x7FFF:
                fail(ln.where, 'record type out of range')
            if ln.children:
                fail(ln.where, 'the fields of a data block are not indented under it')
            units.append(cur)
            data_lines[cur] = (ln.where, [])
        elif cur is None:
            fail(ln.where, 'a file starts with `api Name Key` or `data Name`')
        elif kw in ('versions', 'flexible'):
            if cur.kind == 'data' and data_lines[cur][1]:
                fail(ln.where, '%s comes before the fields' % kw)
            if len(args) != 1:
                fail(ln.where, 'want: versions 0-12' if kw == 'versions'
                     else 'want: flexible 9+ or flexible none')
            if kw == 'versions':
                if cur.versions is not None:
                    fail(ln.where, 'versions given twice')
                cur.versions = VRange.parse(args[0], ln.where)
                if cur.versions.hi == MAXV or cur.versions.empty:
                    fail(ln.where, 'valid versions must be a closed range')
            else:
                if cur.flexible is not None:
                    fail(ln.where, 'flexible given twice')
                cur.flexible = VRange.parse(args[0], ln.where)
        elif kw in ('request', 'response') and cur.kind == 'api':
            if args:
                fail(ln.where, 'unexpected words after %s' % kw)
            if cur.versions is None or cur.flexible is None:
                fail(ln.where, 'api, versions and flexible come before %s' % kw)
            if kw in cur.msgs:
                fail(ln.where, '%s given twice' % kw)
            parse_section(cur, kw, ln.where, ln.children)
        elif cur.kind == 'data':
            if cur.versions is None or cur.flexible is None:
                fail(ln.where, 'versions and flexible come before the fields of %s' % cur.name)
            data_lines[cur][1].append(ln)
        else:
            fail(ln.where, 'unknown keyword %r' % kw)
    if not units:
        fail(path, 'empty description')
    for u in units:
        if u.versions is None or u.flexible is None:
            fail(path, '%s: versions and flexible are required' % u.name)
        if u.kind == 'api':
            for kw in ('request', 'response'):
                if kw not in u.msgs:
                    fail(path, 'no %s section' % kw)
        else:
            where, lines = data_lines[u]
            parse_section(u, 'data', where, lines)
    return units


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------

def parse_default(f):
    t = f.default_tok
    where = f.where
    if t is None:
        return None
    if not t.quoted and t.text == 'null':
        if f.nullable.empty:
            fail(where, 'default null needs a nullable field')
        if f.typ not in ('string', 'bytes', 'records') and not f.is_array and not f.is_struct:
            fail(where, 'only strings, bytes, arrays and structs can default to null')
        return ('null', None)
    if f.is_array or f.is_struct:
        fail(where, 'arrays and structs only take default null')
    if f.typ in INT_RANGES:
        try:
            v = int(t.text, 0)
        except ValueError:
            fail(where, 'bad integer default %r' % t.text)
        lo, hi = INT_RANGES[f.typ]
        if t.quoted or not lo <= v <= hi:
            fail(where, 'default %r out of range for %s' % (t.text, f.typ))
        return ('int', v)
    if f.typ == 'float64':
        try:
            return ('float', float(t.text))
        except ValueError:
            fail(where, 'bad float default %r' % t.text)
    if f.typ == 'bool':
        if t.text not in ('true', 'false') or t.quoted:
            fail(where, 'bool default is true or false')
        return ('bool', t.text == 'true')
    if f.typ == 'string':
        if not t.quoted:
            fail(where, 'string defaults are quoted (or null)')
        return ('str', t.text)
    fail(where, 'type %s takes no default' % f.typ)


def check_api(api):
    valid = api.versions
    if not api.flexible.empty and api.flexible.hi != MAXV:
        fail(api.path, 'flexible versions must be open-ended (N+)')
    for msg in api.msgs.values():
        for st in [msg.top] + list(msg.structs.values()):
            check_struct(api, msg, st)
        # every nested struct reachable, struct arrays never empty on the wire
        used = set()

        def walk(st):
            for f in st.fields:
                if f.is_struct and f.struct.name not in used:
                    used.add(f.struct.name)
                    walk(f.struct)
        walk(msg.top)
        for name, st in msg.structs.items():
            if name not in used:
                fail(st.where, 'struct %s is never used' % name)
        check_min_sizes(api, msg.top, valid)


def check_struct(api, msg, st):
    valid = api.versions
    names, snakes, tags = set(), set(), {}
    for f in st.fields:
        if f.name in names or f.snake in snakes:
            fail(f.where, 'field %s defined twice in %s' % (f.name, st.name))
        names.add(f.name)
        snakes.add(f.snake)
        if f.snake in C_KEYWORDS or f.snake.endswith('_count'):
            fail(f.where, 'field name %s makes a bad C member name' % f.name)
        if f.typ not in PRIMS:
            if f.typ not in msg.structs:
                fail(f.where, 'unknown struct %s' % f.typ)
            f.struct = msg.structs[f.typ]
        if not f.nullable.empty:
            if f.typ not in ('string', 'bytes', 'records') and not f.is_array \
                    and not f.is_struct:
                fail(f.where, 'only strings, bytes, records, arrays and structs are nullable')
            if f.is_ptr and f.tag is not None \
                    and not f.nullable.covers(f.tag_versions & f.versions & valid):
                fail(f.where, 'a tagged nullable struct must be nullable in all its tagged '
                     'versions')
        if f.is_array and f.typ == 'records':
            fail(f.where, 'arrays of records are not supported')
        if f.tag is not None:
            tv = f.tag_versions & valid
            if tv.empty:
                fail(f.where, 'tag versions outside the valid versions')
            if not f.versions.covers(f.tag_versions):
                fail(f.where, 'tag versions must be within the field versions')
            if not api.flexible.covers(tv):
                fail(f.where, 'tagged fields exist only in flexible versions')
            if f.tag in tags:
                fail(f.where, 'tag %d used twice in %s' % (f.tag, st.name))
            if f.tag > 0xFFFFFFFF:
                fail(f.where, 'tag too large')
            tags[f.tag] = f
        f.default = parse_default(f)


def min_size(api, st, v):
    flex = api.flexible.contains(v)
    n = 1 if flex else 0
    for f in st.fields:
        if not f.versions.contains(v) or f.tag_versions.contains(v):
            continue
        if f.is_array:
            n += 1 if flex else 4
        elif f.is_ptr and f.nullable.contains(v):
            n += 1
        elif f.is_struct:
            n += min_size(api, f.struct, v)
        elif f.typ == 'string':
            n += 1 if flex else 2
        elif f.typ in ('bytes', 'records'):
            n += 1 if flex else 4
        else:
            n += PRIMS[f.typ][1]
    return n


def check_min_sizes(api, st, ctx):
    for f in st.fields:
        if not f.is_struct:
            continue
        fr = f.versions & ctx
        if f.is_array:
            for v in range(fr.lo, fr.hi + 1):
                if min_size(api, f.struct, v) < 1:
                    fail(f.where, 'elements of %s take no bytes in version %d; the '
                         'array count check would reject them' % (f.name, v))
        check_min_sizes(api, f.struct, fr)


def assign_names(msg):
    """C names of nested structs, plus field-named aliases where unambiguous."""
    for st in msg.structs.values():
        st.cname = '%s_%s' % (msg.prefix, st.snake)
    msg.top.cname = msg.prefix
    taken = {st.cname for st in msg.structs.values()} | {msg.prefix}
    by_field = {}
    for st in [msg.top] + list(msg.structs.values()):
        for f in st.fields:
            if f.is_struct:
                by_field.setdefault(f.snake, set()).add(f.struct.name)
    for fsnake, targets in sorted(by_field.items()):
        if len(targets) != 1:
            continue
        st = msg.structs[next(iter(targets))]
        alias = '%s_%s' % (msg.prefix, fsnake)
        if alias in taken:
            continue
        taken.add(alias)
        st.aliases.append(alias)


def check_c_names(units):
    """Struct type names must be unique across all units (a data block's names
    could meet an API's); field-named aliases that would clash are dropped."""
    owner = {}
    for u in units:
        for msg in u.msgs.values():
            for st in [msg.top] + list(msg.structs.values()):
                if st.cname in owner:
                    fail(st.where, 'C type %s_t also comes from %s' % (st.cname, owner[st.cname]))
                owner[st.cname] = st.where
    for u in units:
        for msg in u.msgs.values():
            for st in [msg.top] + list(msg.structs.values()):
                keep = []
                for alias in st.aliases:
                    if alias not in owner:
                        owner[alias] = st.where
                        keep.append(alias)
                st.aliases = keep


# ---------------------------------------------------------------------------
# C emission helpers
# ---------------------------------------------------------------------------

class Out:
    def __init__(self):
        self.lines = []
        self.ind = 0

    def __call__(self, text=''):
        if text:
            self.lines.append('    ' * self.ind + text)
        else:
            self.lines.append('')

    def block(self, lines):
        for ln in lines:
            self(ln)

    def text(self):
        return '\n'.join(self.lines) + '\n'


def c_string(s):
    out = []
    for b in s.encode('utf-8'):
        ch = chr(b)
        if ch in '\\"':
            out.append('\\' + ch)
        elif 32 <= b < 127 and ch != '?':
            out.append(ch)
        else:
            out.append('\\%03o' % b)
    return '"%s"' % ''.join(out)


def c_int(typ, v):
    if typ == 'int64':
        if v == -(1 << 63):
            return 'INT64_MIN'
        return 'INT64_C(%d)' % v
    if typ == 'int32' and v == -(1 << 31):
        return 'INT32_MIN'
    if typ == 'uint32':
        return 'UINT32_C(%d)' % v
    return '%d' % v


def c_default(f):
    """C expression of a non-struct, non-array field's default."""
    d = f.default
    if f.typ in INT_RANGES:
        return c_int(f.typ, d[1] if d else 0)
    if f.typ == 'float64':
        return repr(d[1]) if d else '0.0'
    if f.typ == 'bool':
        return 'true' if d and d[1] else 'false'
    raise AssertionError(f.typ)


def field_comment(f, valid):
    bits = [str(f.versions)]
    if (f.versions & valid).empty:
        bits[0] += ' (beyond the described versions: never on the wire)'
    if not f.nullable.empty:
        bits.append('nullable %s' % f.nullable)
    if f.default is not None:
        kind, v = f.default
        if kind == 'null':
            bits.append('default null')
        elif kind == 'str':
            bits.append('default %s' % c_string(v))
        elif kind == 'bool':
            bits.append('default %s' % ('true' if v else 'false'))
        elif kind == 'int' and abs(v) > 9999:
            bits.append('default %s' % hex(v) if v > 0 else 'default %d' % v)
        else:
            bits.append('default %s' % v)
    if f.tag is not None:
        bits.append('tag %d %s' % (f.tag, f.tag_versions))
    s = ', '.join(bits)
    if f.doc:
        s += ': ' + f.doc
    return s


class Gen:
    """Emits the C for one message (request or response)."""

    def __init__(self, msg):
        self.msg = msg
        self.api = msg.api
        self.valid = msg.api.versions
        self.uid = 0

    def fresh(self, base):
        self.uid += 1
        return '%s%d' % (base, self.uid)

    # flex expression for code that runs in versions `ctx`
    def flex_in(self, ctx):
        fl = self.api.flexible
        c = ctx & self.valid
        if fl.covers(c):
            return 'true'
        if (fl & c).empty:
            return 'false'
        return 'flex'

    def null_in(self, f, ctx):
        """C condition, valid within ctx, that f is nullable ('true'/'false' if fixed)."""
        c = ctx & self.valid & f.versions
        n = f.nullable & c
        if n.empty:
            return 'false'
        cond = vcond(f.nullable, c)
        return 'true' if cond is None else cond

    # ----- read ---------------------------------------------------------
    def read_value(self, f, tgt, cnt, R, ctx, o):
        flex = self.flex_in(ctx)
        nul = self.null_in(f, ctx)
        if f.is_array:
            n, i = self.fresh('n'), self.fresh('i')
            o('{')
            o.ind += 1
            o('int32_t %s;' % n)
            o('KP_TRY(kp_read_count(%s, %s, &%s));' % (R, flex, n))
            if nul != 'true':
                cond = '%s < 0' % n
                if nul != 'false':
                    cond += ' && !(%s)' % nul
                o('if (%s) {' % cond)
                o('    rc = SL_ERR_PROTO; /* null where the field is not nullable */')
                o('    goto err_parse;')
                o('}')
            o('%s = NULL;' % tgt)
            o('%s = -1;' % cnt)
            o('if (%s > 0) {' % n)
            o.ind += 1
            o('%s = kp_arena_alloc(a, (size_t)%s * sizeof(*%s));' % (tgt, n, tgt))
            o('if (!%s) {' % tgt)
            o('    rc = SL_ERR_LIMIT;')
            o('    goto err_parse;')
            o('}')
            o.ind -= 1
            o('}')
            o('if (%s >= 0) {' % n)
            o.ind += 1
            o('%s = %s;' % (cnt, n))
            o('for (int32_t %s = 0; %s < %s; %s++) {' % (i, i, n, i))
            o.ind += 1
            el = '%s[%s]' % (tgt, i)
            if f.is_struct:
                o('%s_init(&%s);' % (f.struct.cname, el))
                o('KP_TRY(%s_read(%s, a, version, &%s));' % (f.struct.cname, R, el))
            else:
                self.read_scalar(f.typ, el, R, flex, 'false', o)
            o.ind -= 1
            o('}')
            o.ind -= 1
            o('}')
            o.ind -= 1
            o('}')
        elif f.is_ptr:
            P = f.struct.cname
            o('{')
            o.ind += 1
            if nul != 'false':
                mk = self.fresh('mk')
                o('int8_t %s = 1;' % mk)
                if nul == 'true':
                    o('KP_TRY(kp_read_int8(%s, &%s)); /* presence: -1 null, else present */'
                      % (R, mk))
                else:
                    o('if (%s)' % nul)
                    o('    KP_TRY(kp_read_int8(%s, &%s)); /* presence: -1 null, else present */'
                      % (R, mk))
                o('%s = NULL;' % tgt)
                o('if (%s >= 0) {' % mk)
            else:
                o('%s = NULL;' % tgt)
                o('{')
            o.ind += 1
            o('%s = kp_arena_alloc(a, sizeof(*%s));' % (tgt, tgt))
            o('if (!%s) {' % tgt)
            o('    rc = SL_ERR_LIMIT;')
            o('    goto err_parse;')
            o('}')
            o('%s_init(%s);' % (P, tgt))
            o('KP_TRY(%s_read(%s, a, version, %s));' % (P, R, tgt))
            o.ind -= 1
            o('}')
            o.ind -= 1
            o('}')
        elif f.is_struct:
            o('KP_TRY(%s_read(%s, a, version, &%s));' % (f.struct.cname, R, tgt))
        else:
            self.read_scalar(f.typ, tgt, R, flex, nul, o)

    def read_scalar(self, typ, tgt, R, flex, nul, o):
        if typ in ('string', 'bytes', 'records'):
            fn = 'kp_read_str' if typ == 'string' else 'kp_read_byt'
            o('KP_TRY(%s(%s, %s, &%s));' % (fn, R, flex, tgt))
            if nul != 'true':
                cond = '%s.len < 0' % tgt
                if nul != 'false':
                    cond += ' && !(%s)' % nul
                o('if (%s) {' % cond)
                o('    rc = SL_ERR_PROTO; /* null where the field is not nullable */')
                o('    goto err_parse;')
                o('}')
        else:
            o('KP_TRY(kp_read_%s(%s, &%s));' % (typ, R, tgt))

    # ----- size ---------------------------------------------------------
    def norm(self, typ, v, nul):
        fn = 'kp_str_nonnull' if typ == 'string' else 'kp_bytes_nonnull'
        if nul == 'true':
            return v
        if nul == 'false':
            return '%s(%s)' % (fn, v)
        return '((%s) ? %s : %s(%s))' % (nul, v, fn, v)

    def norm_count(self, cnt, nul):
        if nul == 'true':
            return cnt
        if nul == 'false':
            return '(%s < 0 ? 0 : %s)' % (cnt, cnt)
        return '(%s < 0 && !(%s) ? 0 : %s)' % (cnt, nul, cnt)

    def size_value(self, f, tgt, cnt, acc, ctx, o):
        flex = self.flex_in(ctx)
        nul = self.null_in(f, ctx)
        if f.is_array:
            c, i = self.fresh('c'), self.fresh('i')
            o('{')
            o.ind += 1
            o('int32_t %s = %s;' % (c, self.norm_count(cnt, nul)))
            o('%s += kp_count_size(%s, %s);' % (acc, c, flex))
            el = '%s[%s]' % (tgt, i)
            if f.is_struct:
                o('for (int32_t %s = 0; %s < %s; %s++)' % (i, i, c, i))
                o('    %s += %s_sz(&%s, version);' % (acc, f.struct.cname, el))
            elif PRIMS[f.typ][1] is not None:
                o('if (%s > 0)' % c)
                o('    %s += (size_t)%s * %d;' % (acc, c, PRIMS[f.typ][1]))
            else:
                o('for (int32_t %s = 0; %s < %s; %s++)' % (i, i, c, i))
                fn = 'kp_str_size' if f.typ == 'string' else 'kp_bytes_size'
                o('    %s += %s(%s, %s);' % (acc, fn, self.norm(f.typ, el, 'false'), flex))
            o.ind -= 1
            o('}')
        elif f.is_ptr:
            self.ptr_value(f, tgt, nul, o,
                           lambda o2, p: o2('%s += %s_sz(%s, version);' % (acc, f.struct.cname, p)),
                           lambda o2: o2('%s += 1;' % acc))
        elif f.is_struct:
            o('%s += %s_sz(&%s, version);' % (acc, f.struct.cname, tgt))
        elif f.typ == 'string':
            o('%s += kp_str_size(%s, %s);' % (acc, self.norm('string', tgt, nul), flex))
        elif f.typ in ('bytes', 'records'):
            o('%s += kp_bytes_size(%s, %s);' % (acc, self.norm(f.typ, tgt, nul), flex))
        else:
            o('%s += %d;' % (acc, PRIMS[f.typ][1]))

    # ----- write --------------------------------------------------------
    def write_value(self, f, tgt, cnt, ctx, o):
        flex = self.flex_in(ctx)
        nul = self.null_in(f, ctx)
        if f.is_array:
            c, i = self.fresh('c'), self.fresh('i')
            o('{')
            o.ind += 1
            o('int32_t %s = %s;' % (c, self.norm_count(cnt, nul)))
            o('ASSERT(%s <= 0 || %s != NULL);' % (c, tgt))
            o('kp_write_count(w, %s, %s);' % (flex, c))
            o('for (int32_t %s = 0; %s < %s; %s++)' % (i, i, c, i))
            el = '%s[%s]' % (tgt, i)
            o.ind += 1
            if f.is_struct:
                o('%s_write(w, &%s, version);' % (f.struct.cname, el))
            else:
                self.write_scalar(f.typ, el, flex, 'false', o)
            o.ind -= 1
            o.ind -= 1
            o('}')
        elif f.is_ptr:
            self.ptr_value(f, tgt, nul, o,
                           lambda o2, p: o2('%s_write(w, %s, version);' % (f.struct.cname, p)),
                           lambda o2: o2('kp_write_int8(w, %s != NULL ? 1 : -1);' % tgt))
        elif f.is_struct:
            o('%s_write(w, &%s, version);' % (f.struct.cname, tgt))
        else:
            self.write_scalar(f.typ, tgt, flex, nul, o)

    def ptr_value(self, f, tgt, nul, o, body, marker):
        """Size or write a nullable struct field: in versions where it is nullable an
        int8 presence marker, then the struct if present; where it is not nullable
        the struct itself, its defaults standing in for NULL."""
        P = f.struct.cname
        if nul == 'true':
            marker(o)
            o('if (%s != NULL)' % tgt)
            o.ind += 1
            body(o, tgt)
            o.ind -= 1
            return
        d, p = self.fresh('dflt'), self.fresh('p')
        o('{')
        o.ind += 1
        o('%s_t %s;' % (P, d))
        o('const %s_t *%s = %s;' % (P, p, tgt))
        if nul != 'false':
            o('if (%s) {' % nul)
            o.ind += 1
            marker(o)
            o.ind -= 1
            o('} else if (%s == NULL) {' % p)
        else:
            o('if (%s == NULL) {' % p)
        o('    %s_init(&%s);' % (P, d))
        o('    %s = &%s;' % (p, d))
        o('}')
        o('if (%s != NULL)' % p)
        o.ind += 1
        body(o, p)
        o.ind -= 1
        o.ind -= 1
        o('}')

    def write_scalar(self, typ, tgt, flex, nul, o):
        if typ == 'string':
            o('kp_write_str(w, %s, %s);' % (flex, self.norm(typ, tgt, nul)))
        elif typ == 'bytes':
            o('kp_write_byt(w, %s, %s);' % (flex, self.norm(typ, tgt, nul)))
        elif typ == 'records':
            o('kp_write_records(w, %s, %s);' % (flex, self.norm(typ, tgt, nul)))
        elif typ == 'uuid':
            o('kp_write_uuid(w, &%s);' % tgt)
        else:
            o('kp_write_%s(w, %s);' % (typ, tgt))

    # ----- defaults -----------------------------------------------------
    def differs(self, f, tgt, cnt, nul):
        """C expression: the (normalized) value differs from the field's default."""
        d = f.default
        if f.is_array:
            c = self.norm_count(cnt, nul)
            return '%s >= 0' % c if d and d[0] == 'null' else '%s != 0' % c
        if f.is_ptr:
            # a nullable struct defaults to null; tagged ones are nullable wherever
            # they are tagged (checked), and is_default treats every field so
            if nul == 'true':
                return '%s != NULL' % tgt
            f.struct.need_is_default = True
            return '(%s != NULL && !%s_is_default(%s))' % (tgt, f.struct.cname, tgt)
        if f.is_struct:
            f.struct.need_is_default = True
            return '!%s_is_default(&%s)' % (f.struct.cname, tgt)
        if f.typ in ('string', 'bytes', 'records'):
            v = self.norm(f.typ, tgt, nul)
            if d and d[0] == 'null':
                return '%s.len >= 0' % v
            if d and d[0] == 'str' and d[1] != '':
                return '!kp_str_eq(%s, %s)' % (v, c_string(d[1]))
            return '%s.len != 0' % v
        if f.typ == 'uuid':
            return '!kp_uuid_is_zero(&%s)' % tgt
        if f.typ == 'bool':
            return '%s != %s' % (tgt, c_default(f))
        return '%s != %s' % (tgt, c_default(f))


# ---------------------------------------------------------------------------
# Per-struct emission
# ---------------------------------------------------------------------------

def struct_order(msg):
    """Nested structs before the structs that embed or reference them; top last."""
    order, seen = [], set()

    def visit(st):
        if st.name in seen:
            return
        seen.add(st.name)
        for f in st.fields:
            if f.is_struct:
                visit(f.struct)
        order.append(st)
    visit(msg.top)
    return order


def emit_typedefs(msg, h):
    for st in struct_order(msg):
        is_top = st is msg.top
        if is_top and msg.kind == 'data':
            h('/* %s. */' % msg.api.name)
        elif is_top:
            h('/* %s %s. */' % (msg.api.name, msg.kind))
        else:
            h('/* %s.%s */' % (msg.top.name, st.name))
        h('typedef struct {')
        h.ind += 1
        if not st.fields:
            h('char unused_; /* no fields in any version */')
        for f in st.fields:
            for line in textwrap.wrap(field_comment(f, msg.api.versions), 88):
                h('/* %s */' % line)
            if f.is_struct:
                ctype = f.struct.cname + '_t'
            else:
                ctype = PRIMS[f.typ][0]
            if f.is_array:
                h('%s *%s;' % (ctype, f.snake))
                h('int32_t %s_count;' % f.snake)
            elif f.is_ptr:
                h('%s *%s; /* NULL: null */' % (ctype, f.snake))
            else:
                h('%s %s;' % (ctype, f.snake))
        h.ind -= 1
        h('} %s_t;' % st.cname)
        h('void %s_init(%s_t *m);' % (st.cname, st.cname))
        for alias in st.aliases:
            h('typedef %s_t %s_t;' % (st.cname, alias))
            h('static inline void %s_init(%s_t *m)' % (alias, alias))
            h('{')
            h('    %s_init(m);' % st.cname)
            h('}')
        if is_top:
            p = st.cname
            h('int %s_decode(kp_reader_t *r, kp_arena_t *a, int16_t version, %s_t *out);' % (p, p))
            h('size_t %s_size(const %s_t *m, int16_t version);' % (p, p))
            h('int %s_encode(kp_writer_t *w, const %s_t *m, int16_t version);' % (p, p))
        h()


def emit_struct_code(gen, st, c):
    msg, api, valid = gen.msg, gen.api, gen.valid
    P = st.cname
    flex_needed = not api.flexible.empty and not api.flexible.covers(valid)
    flex_decl = 'const bool flex = %s;' % (vcond(api.flexible, valid) or 'true')
    regular, tagged = [], []
    for f in st.fields:
        fv = f.versions & valid
        tv = f.tag_versions & fv
        reg = fv.minus(tv)
        if reg:
            regular.append((f, vcond_list(reg, valid), fv))
        if not tv.empty:
            tagged.append((f, vcond(tv, valid & api.flexible), tv))
    tagged.sort(key=lambda t: t[0].tag)
    has_tag_section = not api.flexible.empty
    tag_section_cond = vcond(api.flexible, valid)

    # init
    c('void %s_init(%s_t *m)' % (P, P))
    c('{')
    c.ind += 1
    c('ASSERT(m != NULL);')
    c('memset(m, 0, sizeof(*m));')
    for f in st.fields:
        t = 'm->' + f.snake
        d = f.default
        if f.is_array:
            if d and d[0] == 'null':
                c('%s_count = -1;' % t)
        elif f.is_ptr:
            pass  # NULL (null) until set
        elif f.is_struct:
            c('%s_init(&%s);' % (f.struct.cname, t))
        elif f.typ == 'string':
            if d and d[0] == 'null':
                c('%s = KP_STR_NULL;' % t)
            elif d and d[1]:
                c('%s = (kp_str_t){%s, %d};' % (t, c_string(d[1]), len(d[1].encode('utf-8'))))
        elif f.typ in ('bytes', 'records'):
            if d and d[0] == 'null':
                c('%s = KP_BYTES_NULL;' % t)
        elif d is not None and f.typ != 'uuid':
            if d[1] not in (0, False, 0.0):
                c('%s = %s;' % (t, c_default(f)))
    c.ind -= 1
    c('}')
    c()

    # read
    body = Out()
    body.ind = 1
    for f, cond, fv in regular:
        tgt = 'm->' + f.snake
        if cond == 'false':
            continue
        if cond:
            body('if (%s) {' % cond)
            body.ind += 1
        gen.read_value(f, tgt, tgt + '_count', 'r', fv, body)
        if cond:
            body.ind -= 1
            body('}')
    if has_tag_section:
        if tag_section_cond:
            body('if (%s) {' % ('flex' if flex_needed else tag_section_cond))
            body.ind += 1
        if not tagged:
            body('KP_TRY(kp_read_tagged_skip(r));')
        else:
            body('uint32_t ntag;')
            body('KP_TRY(kp_read_uvarint(r, &ntag));')
            body('if (ntag > KP_MAX_TAGGED_FIELDS) {')
            body('    rc = SL_ERR_LIMIT;')
            body('    goto err_parse;')
            body('}')
            body('for (uint32_t t = 0; t < ntag; t++) {')
            body.ind += 1
            body('uint32_t tag, tsize;')
            body('KP_TRY(kp_read_uvarint(r, &tag));')
            body('KP_TRY(kp_read_uvarint(r, &tsize));')
            body('if (tsize > kp_reader_remaining(r)) {')
            body('    rc = SL_ERR_PROTO;')
            body('    goto err_parse;')
            body('}')
            body('kp_reader_t sub = {r->p, r->p + tsize};')
            body('r->p += tsize;')
            body('switch (tag) {')
            for f, cond, tv in tagged:
                tgt = 'm->' + f.snake
                body('case %d:' % f.tag)
                body.ind += 1
                if cond:
                    body('if (%s) {' % cond)
                    body.ind += 1
                gen.read_value(f, tgt, tgt + '_count', '&sub', tv, body)
                if cond:
                    body.ind -= 1
                    body('}')
                body('break;')
                body.ind -= 1
            body('default: /* unknown tags are skipped */')
            body('    break;')
            body('}')
            body.ind -= 1
            body('}')
        if tag_section_cond:
            body.ind -= 1
            body('}')
    text = '\n'.join(body.lines)
    uses_rc = 'err_parse' in text or 'KP_TRY' in text
    c('static int %s_read(kp_reader_t *r, kp_arena_t *a, int16_t version, %s_t *m)' % (P, P))
    c('{')
    c.ind += 1
    if uses_rc:
        c('int rc;')
    if flex_needed and 'flex' in re.findall(r'\bflex\b', text):
        c(flex_decl)
    c('(void)r;')
    c('(void)a;')
    c('(void)version;')
    c('(void)m;')
    c.ind -= 1
    c.block(body.lines)
    c.ind += 1
    c('return 0;')
    c.ind -= 1
    if uses_rc:
        c('err_parse:')
        c('    return rc;')
    c('}')
    c()

    # size
    body = Out()
    body.ind = 1
    for f, cond, fv in regular:
        tgt = 'm->' + f.snake
        if cond == 'false':
            continue
        if cond:
            body('if (%s) {' % cond)
            body.ind += 1
        gen.size_value(f, tgt, tgt + '_count', 'n', fv, body)
        if cond:
            body.ind -= 1
            body('}')
    if has_tag_section:
        if tag_section_cond:
            body('if (%s) {' % ('flex' if flex_needed else tag_section_cond))
            body.ind += 1
        if not tagged:
            body('n += 1; /* empty tagged-field section */')
        else:
            body('uint32_t ntag = 0;')
            body('size_t tn = 0;')
            for f, cond, tv in tagged:
                tgt = 'm->' + f.snake
                nul = gen.null_in(f, tv)
                dif = gen.differs(f, tgt, tgt + '_count', nul)
                full = '(%s) && (%s)' % (cond, dif) if cond else dif
                body('if (%s) {' % full)
                body.ind += 1
                body('size_t s = 0;')
                gen.size_value(f, tgt, tgt + '_count', 's', tv, body)
                body('ntag++;')
                body('tn += kp_uvarint_size(%dU) + kp_uvarint_size((uint32_t)s) + s;' % f.tag)
                body.ind -= 1
                body('}')
            body('n += kp_uvarint_size(ntag) + tn;')
        if tag_section_cond:
            body.ind -= 1
            body('}')
    text = '\n'.join(body.lines)
    c('static size_t %s_sz(const %s_t *m, int16_t version)' % (P, P))
    c('{')
    c.ind += 1
    c('size_t n = 0;')
    if flex_needed and re.search(r'\bflex\b', text):
        c(flex_decl)
    c('(void)m;')
    c('(void)version;')
    c.ind -= 1
    c.block(body.lines)
    c('    return n;')
    c('}')
    c()

    # write
    body = Out()
    body.ind = 1
    for f, cond, fv in regular:
        tgt = 'm->' + f.snake
        if cond == 'false':
            continue
        if cond:
            body('if (%s) {' % cond)
            body.ind += 1
        gen.write_value(f, tgt, tgt + '_count', fv, body)
        if cond:
            body.ind -= 1
            body('}')
    if has_tag_section:
        if tag_section_cond:
            body('if (%s) {' % ('flex' if flex_needed else tag_section_cond))
            body.ind += 1
        if not tagged:
            body('kp_write_uvarint(w, 0); /* empty tagged-field section */')
        else:
            body('uint32_t ntag = 0;')
            names = []
            for f, cond, tv in tagged:
                tgt = 'm->' + f.snake
                nul = gen.null_in(f, tv)
                dif = gen.differs(f, tgt, tgt + '_count', nul)
                full = '(%s) && (%s)' % (cond, dif) if cond else dif
                b = 'has_%s' % f.snake
                names.append((f, b, tv))
                body('const bool %s = %s;' % (b, full))
                body('ntag += %s;' % b)
            body('kp_write_uvarint(w, ntag);')
            for f, b, tv in names:
                tgt = 'm->' + f.snake
                body('if (%s) {' % b)
                body.ind += 1
                body('size_t s = 0;')
                gen.size_value(f, tgt, tgt + '_count', 's', tv, body)
                body('kp_write_uvarint(w, %dU);' % f.tag)
                body('kp_write_uvarint(w, (uint32_t)s);')
                gen.write_value(f, tgt, tgt + '_count', tv, body)
                body.ind -= 1
                body('}')
        if tag_section_cond:
            body.ind -= 1
            body('}')
    text = '\n'.join(body.lines)
    c('static void %s_write(kp_writer_t *w, const %s_t *m, int16_t version)' % (P, P))
    c('{')
    c.ind += 1
    if flex_needed and re.search(r'\bflex\b', text):
        c(flex_decl)
    c('(void)w;')
    c('(void)m;')
    c('(void)version;')
    c.ind -= 1
    c.block(body.lines)
    c('}')
    c()


def emit_is_default(gen, st, c):
    P = st.cname
    c('static bool %s_is_default(const %s_t *m)' % (P, P))
    c('{')
    conds = []
    for f in st.fields:
        tgt = 'm->' + f.snake
        conds.append('!(%s)' % gen.differs(f, tgt, tgt + '_count', 'true'))
    if not conds:
        c('    (void)m;')
        c('    return true;')
    else:
        c('    return %s;' % ('\n        && '.join(conds)))
    c('}')
    c()


def emit_message_c(msg, c):
    gen = Gen(msg)
    order = struct_order(msg)
    c('/* ---- %s %s ---- */' % (msg.api.name, msg.kind))
    c()
    for st in order:
        P = st.cname
        c('static int %s_read(kp_reader_t *r, kp_arena_t *a, int16_t version, %s_t *m);' % (P, P))
        c('static size_t %s_sz(const %s_t *m, int16_t version);' % (P, P))
        c('static void %s_write(kp_writer_t *w, const %s_t *m, int16_t version);' % (P, P))
    c()
    body = Out()
    for st in order:
        emit_struct_code(gen, st, body)
    # is_default functions are needed by tagged struct fields, and by the
    # structs those contain; emit them (prototyped) for every struct that needs one.
    changed = True
    while changed:
        changed = False
        for st in order:
            if st.need_is_default:
                for f in st.fields:
                    if f.is_struct and not f.is_ptr and not f.struct.need_is_default:
                        f.struct.need_is_default = True
                        changed = True
    for st in order:
        if st.need_is_default:
            c('static bool %s_is_default(const %s_t *m);' % (st.cname, st.cname))
            emit_is_default(gen, st, body)
    c.block(body.lines)
    lo, hi = msg.api.versions.lo, msg.api.versions.hi
    P = msg.top.cname
    c('int %s_decode(kp_reader_t *r, kp_arena_t *a, int16_t version, %s_t *out)' % (P, P))
    c('{')
    c('    ASSERT(r != NULL && a != NULL && out != NULL);')
    c('    %s_init(out);' % P)
    c('    if (version < %d || version > %d)' % (lo, hi))
    c('        return SL_ERR_PROTO;')
    c('    return %s_read(r, a, version, out);' % P)
    c('}')
    c()
    c('size_t %s_size(const %s_t *m, int16_t version)' % (P, P))
    c('{')
    c('    ASSERT(m != NULL);')
    c('    ASSERT(version >= %d && version <= %d);' % (lo, hi))
    c('    return %s_sz(m, version);' % P)
    c('}')
    c()
    c('int %s_encode(kp_writer_t *w, const %s_t *m, int16_t version)' % (P, P))
    c('{')
    c('    ASSERT(w != NULL && m != NULL);')
    c('    ASSERT(version >= %d && version <= %d);' % (lo, hi))
    c('#ifndef NDEBUG')
    c('    size_t before = kp_writer_total_len(w);')
    c('#endif')
    c('    %s_write(w, m, version);' % P)
    c('    if (kp_writer_overflowed(w))')
    c('        return SL_ERR_NOSPACE;')
    c('    DEBUG_ASSERT(kp_writer_total_len(w) - before == %s_sz(m, version));' % P)
    c('    return 0;')
    c('}')
    c()
    # reflection
    for st in order:
        P = st.cname
        c('static void %s_init_any(void *m)' % P)
        c('{')
        c('    %s_init(m);' % P)
        c('}')
        c()
        if st.fields:
            c('static const kp_field_desc_t %s_fields[] = {' % P)
            for f in st.fields:
                v = f.versions & msg.api.versions
                nl = f.nullable & v
                tv = f.tag_versions & v
                typ = 'KP_TYPE_STRUCT' if f.is_struct else PRIMS[f.typ][2]
                cnt = 'offsetof(%s_t, %s_count)' % (P, f.snake) if f.is_array else '0'
                sub = '&%s_desc' % f.struct.cname if f.is_struct else 'NULL'
                c('    {"%s", %s, %s, offsetof(%s_t, %s), %s, %d, %d, %d, %d, %d, %d, %d, %s, %s},' % (
                    f.name, typ, 'true' if f.is_array else 'false', P, f.snake, cnt,
                    v.lo, v.hi, nl.lo if not nl.empty else 1, nl.hi if not nl.empty else 0,
                    f.tag if f.tag is not None else -1,
                    tv.lo if not tv.empty else 1, tv.hi if not tv.empty else 0, sub,
                    'true' if f.is_ptr else 'false'))
            c('};')
        c('static const kp_struct_desc_t %s_desc = {' % P)
        c('    "%s_t", sizeof(%s_t), %s_init_any, %s, %d,' % (
            P, P, P, ('%s_fields' % P) if st.fields else 'NULL', len(st.fields)))
        c('};')
        c()
    c('static int %s_decode_any(kp_reader_t *r, kp_arena_t *a, int16_t version, void *out)' % P)
    c('{')
    c('    return %s_decode(r, a, version, out);' % P)
    c('}')
    c()
    c('static size_t %s_size_any(const void *m, int16_t version)' % P)
    c('{')
    c('    return %s_size(m, version);' % P)
    c('}')
    c()
    c('static int %s_encode_any(kp_writer_t *w, const void *m, int16_t version)' % P)
    c('{')
    c('    return %s_encode(w, m, version);' % P)
    c('}')
    c()


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

H_PREAMBLE = '''/*
 * kp_messages.h — GENERATED by proto/gen/kpgen.py from the .kp files in
 * proto/messages/.
 * Do not edit; change the .kp description (or the generator) instead.
 *
 * C structs, decoders, encoders and size functions for every Kafka request and
 * response described in proto/messages/, the API table (keys, version ranges,
 * first flexible version) and a reflection schema of every struct.
 *
 * Per top-level message X (kp_<api>_request / kp_<api>_response / kp_<data>):
 *   kp_X_init(m)                  zero m, then set the description's defaults.
 *   kp_X_decode(r, a, version, m) init m, then decode the body (never the header)
 *                                 at version. Returns 0, SL_ERR_PROTO (malformed or
 *                                 truncated body, null in a non-nullable field, a
 *                                 version outside the valid range) or SL_ERR_LIMIT
 *                                 (a named limit, or the arena, ran out). Fields
 *                                 absent in `version` keep their defaults; unknown
 *                                 tagged fields are skipped. On success r stands
 *                                 after the body; trailing bytes are the caller's
 *                                 business. On failure m holds partial data.
 *   kp_X_size(m, version)         exact encoded size, counting records that the
 *                                 writer may keep out of line.
 *   kp_X_encode(w, m, version)    0, or SL_ERR_NOSPACE if the writer overflowed.
 *                                 Fields absent in `version` are not written;
 *                                 tagged fields only when they differ from their
 *                                 default; null in a field that is not nullable in
 *                                 `version` is written as empty.
 *   Encoding or sizing at a version outside the valid range is a bug (ASSERT).
 *
 * Ownership: a decoded message lives in two places the caller owns: its arrays
 * and nullable structs (and nothing else) in the arena `a`, and its strings,
 * bytes and records as views into the reader's buffer. Both must outlive every
 * use of the message.
 * For encoding, the caller owns everything m points to.
 *
 * Invariants of every message: an array member T *x with int32_t x_count has
 * x_count == -1 and x == NULL (null), x_count == 0 (empty; x may be NULL), or
 * x_count > 0 and x pointing at x_count initialized elements. A kp_str_t or
 * kp_bytes_t has len == -1 (null) or len >= 0 bytes at ptr. A nullable struct
 * member T *x is NULL (null) or points at an initialized T.
 */
#ifndef KP_MESSAGES_H
#define KP_MESSAGES_H

#include <stddef.h>

#include "kp_codec.h"

/* ---------------------------------------------------------------------------
 * API table
 * ------------------------------------------------------------------------- */

typedef struct {
    int16_t key;
    const char *name;     /* Kafka's API name, e.g. "ApiVersions" */
    int16_t min_version;  /* valid versions described, inclusive */
    int16_t max_version;
    int16_t flexible_min; /* first flexible version, -1 if never flexible */
} kp_api_desc_t;

/* Every described API, sorted by key. */
extern const kp_api_desc_t kp_api_descs[];
extern const size_t kp_api_desc_count;
/* The descriptor of api key `key`, or NULL if it is not described. */
const kp_api_desc_t *kp_api_desc_find(int16_t key);

/* ---------------------------------------------------------------------------
 * Reflection: a description of every generated struct, for code that handles
 * all messages alike (tests, dumps). Version ranges are clipped to the API's
 * valid versions; an empty range has min > max.
 * ------------------------------------------------------------------------- */

typedef enum {
    KP_TYPE_INT8,
    KP_TYPE_INT16,
    KP_TYPE_INT32,
    KP_TYPE_INT64,
    KP_TYPE_UINT16,
    KP_TYPE_UINT32,
    KP_TYPE_FLOAT64,
    KP_TYPE_BOOL,
    KP_TYPE_STRING,
    KP_TYPE_BYTES,
    KP_TYPE_RECORDS,
    KP_TYPE_UUID,
    KP_TYPE_STRUCT,
    KP_TYPE_COUNT
} kp_type_t;

typedef struct kp_struct_desc kp_struct_desc_t;

typedef struct {
    const char *name;      /* Kafka's field name */
    kp_type_t type;        /* of the value, or of each element of an array */
    bool is_array;
    size_t offset;         /* of the member (of the pointer, for arrays) */
    size_t count_offset;   /* arrays: of the int32_t count */
    int16_t min_version, max_version;   /* versions the field exists in */
    int16_t nullable_min, nullable_max; /* versions it may be null in */
    int32_t tag;                        /* -1 if never tagged */
    int16_t tag_min, tag_max;           /* versions it is tagged in */
    const kp_struct_desc_t *sub;        /* KP_TYPE_STRUCT: the struct */
    bool is_ptr; /* a nullable struct: the member is a pointer, NULL when null */
} kp_field_desc_t;

struct kp_struct_desc {
    const char *name; /* C type name */
    size_t size;      /* sizeof the C type */
    void (*init)(void *m);
    const kp_field_desc_t *fields;
    size_t field_count;
};

typedef struct {
    const kp_struct_desc_t *desc;
    int (*decode)(kp_reader_t *r, kp_arena_t *a, int16_t version, void *out);
    size_t (*size)(const void *m, int16_t version);
    int (*encode)(kp_writer_t *w, const void *m, int16_t version);
} kp_msg_schema_t;

typedef struct {
    int16_t key;
    kp_msg_schema_t request;
    kp_msg_schema_t response;
} kp_api_schema_t;

/* Parallel to kp_api_descs: kp_api_schemas[i] describes kp_api_descs[i]. */
extern const kp_api_schema_t kp_api_schemas[];
const kp_api_schema_t *kp_api_schema_find(int16_t key);

/* ---------------------------------------------------------------------------
 * Versioned data that is not an API message (`data` blocks): the record keys
 * and values of __consumer_offsets. Each has kp_X_init/_decode/_size/_encode
 * like a request. The int16 that prefixes such a record key (Kafka's record
 * type) or value (the value's version) is not part of the struct: the caller
 * reads and writes it.
 * ------------------------------------------------------------------------- */

typedef struct {
    const char *name;     /* Kafka's name, e.g. "OffsetCommitKey" */
    int16_t record_type;  /* Kafka's apiKey of a coordinator record: the record
                           * type, the int16 prefix of the record key; -1: none */
    int16_t min_version;  /* valid versions, inclusive */
    int16_t max_version;
    int16_t flexible_min; /* first flexible version, -1 if never flexible */
    kp_msg_schema_t schema;
} kp_data_schema_t;

/* Every data block, sorted by name. */
extern const kp_data_schema_t kp_data_schemas[];
extern const size_t kp_data_schema_count;
/* The data schema named `name` (Kafka's name), or NULL. */
const kp_data_schema_t *kp_data_schema_find(const char *name);
'''


def generate(apis, datas=()):
    apis = sorted(apis, key=lambda a: a.key)
    datas = sorted(datas, key=lambda d: d.name)
    h = Out()
    h.lines.extend(H_PREAMBLE.rstrip('\n').split('\n'))
    h()
    h('/* API keys. */')
    for api in apis:
        h('#define KP_API_%s %d' % (api.snake.upper(), api.key))
    h('#define KP_API_DESC_COUNT %d' % len(apis))
    h()
    h('/* Record types (Kafka\'s apiKey of coordinator records) of the data blocks. */')
    for d in datas:
        if d.key is not None:
            h('#define KP_DATA_TYPE_%s %d' % (d.snake.upper(), d.key))
    h('#define KP_DATA_SCHEMA_COUNT %d' % len(datas))
    h()
    for api in apis:
        h('/* ' + '=' * 74 + ' */')
        h('/* %s (key %d): versions %d-%d, flexible %s%s */' % (
            api.name, api.key, api.versions.lo, api.versions.hi,
            str(api.flexible).lstrip('v') if not api.flexible.empty else 'never',
            (' -- ' + api.doc) if api.doc else ''))
        h()
        for kind in ('request', 'response'):
            emit_typedefs(api.msgs[kind], h)
    for d in datas:
        h('/* ' + '=' * 74 + ' */')
        h('/* data %s%s: versions %d-%d, flexible %s%s */' % (
            d.name, '' if d.key is None else ' (record type %d)' % d.key,
            d.versions.lo, d.versions.hi,
            str(d.flexible).lstrip('v') if not d.flexible.empty else 'never',
            (' -- ' + d.doc) if d.doc else ''))
        h()
        emit_typedefs(d.msgs['data'], h)
    h('#endif /* KP_MESSAGES_H */')

    c = Out()
    c('/* kp_messages.c — GENERATED by proto/gen/kpgen.py from proto/messages/<name>.kp. Do not edit. */')
    c('#include "sl_base.h"')
    c()
    c('#include <stddef.h>')
    c('#include <string.h>')
    c()
    c('#include "kp_messages.h"')
    c()
    for api in apis:
        for kind in ('request', 'response'):
            emit_message_c(api.msgs[kind], c)
    for d in datas:
        emit_message_c(d.msgs['data'], c)
    c('const kp_api_desc_t kp_api_descs[] = {')
    for api in apis:
        c('    {%d, "%s", %d, %d, %d},' % (api.key, api.name, api.versions.lo, api.versions.hi,
                                          -1 if api.flexible.empty else api.flexible.lo))
    c('};')
    c('const size_t kp_api_desc_count = %d;' % len(apis))
    c('_Static_assert(sizeof(kp_api_descs) / sizeof(kp_api_descs[0]) == KP_API_DESC_COUNT,')
    c('               "one descriptor per API");')
    c()
    c('const kp_api_schema_t kp_api_schemas[] = {')
    for api in apis:
        parts = []
        for kind in ('request', 'response'):
            P = api.msgs[kind].top.cname
            parts.append('{&%s_desc, %s_decode_any, %s_size_any, %s_encode_any}' % (P, P, P, P))
        c('    {%d, %s,' % (api.key, parts[0]))
        c('     %s},' % parts[1])
    c('};')
    c('_Static_assert(sizeof(kp_api_schemas) / sizeof(kp_api_schemas[0]) == KP_API_DESC_COUNT,')
    c('               "one schema per API");')
    c()
    c('/* Index of api key `key` in the tables, or -1. */')
    c('static int api_index(int16_t key)')
    c('{')
    c('    switch (key) {')
    for i, api in enumerate(apis):
        c('    case %d:' % api.key)
        c('        return %d;' % i)
    c('    default:')
    c('        return -1;')
    c('    }')
    c('}')
    c()
    c('const kp_api_desc_t *kp_api_desc_find(int16_t key)')
    c('{')
    c('    int i = api_index(key);')
    c('    return i < 0 ? NULL : &kp_api_descs[i];')
    c('}')
    c()
    c('const kp_api_schema_t *kp_api_schema_find(int16_t key)')
    c('{')
    c('    int i = api_index(key);')
    c('    return i < 0 ? NULL : &kp_api_schemas[i];')
    c('}')
    c()
    if datas:
        c('const kp_data_schema_t kp_data_schemas[] = {')
        for d in datas:
            P = d.msgs['data'].top.cname
            c('    {"%s", %d, %d, %d, %d,' % (
                d.name, -1 if d.key is None else d.key, d.versions.lo, d.versions.hi,
                -1 if d.flexible.empty else d.flexible.lo))
            c('     {&%s_desc, %s_decode_any, %s_size_any, %s_encode_any}},' % (P, P, P, P))
        c('};')
    else:
        c('const kp_data_schema_t kp_data_schemas[1];')
    c('const size_t kp_data_schema_count = %d;' % len(datas))
    c()
    c('const kp_data_schema_t *kp_data_schema_find(const char *name)')
    c('{')
    c('    ASSERT(name != NULL);')
    c('    for (size_t i = 0; i < kp_data_schema_count; i++)')
    c('        if (strcmp(kp_data_schemas[i].name, name) == 0)')
    c('            return &kp_data_schemas[i];')
    c('    return NULL;')
    c('}')
    return h.text(), c.text()


def main(argv):
    ap = argparse.ArgumentParser(description='Generate Kafka message codecs from .kp files.')
    ap.add_argument('--out-dir', required=True)
    ap.add_argument('specs', nargs='+')
    args = ap.parse_args(argv)
    try:
        apis, datas, keys, names = [], [], {}, {}
        for path in sorted(args.specs):
            for api in parse_file(path):
                check_api(api)
                if api.kind == 'api':
                    if api.key in keys:
                        fail(path, 'api key %d also in %s' % (api.key, keys[api.key]))
                    keys[api.key] = path
                if api.snake in names:
                    fail(path, '%s %s also in %s' % (api.kind, api.name, names[api.snake]))
                names[api.snake] = path
                for msg in api.msgs.values():
                    assign_names(msg)
                (apis if api.kind == 'api' else datas).append(api)
        check_c_names(apis + datas)
        htext, ctext = generate(apis, datas)
    except KpError as e:
        sys.stderr.write('kpgen: %s\n' % e)
        return 1
    except OSError as e:
        sys.stderr.write('kpgen: %s\n' % e)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    for name, text in (('kp_messages.h', htext), ('kp_messages.c', ctext)):
        path = os.path.join(args.out_dir, name)
        tmp = path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
