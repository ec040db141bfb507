#!/usr/bin/env node
'use strict'
/*
 * KIP-848 consumer groups (group.protocol=consumer) against a real broker,
 * driven by @confluentinc/kafka-javascript (its bundled librdkafka 2.15, the
 * node-rdkafka style API so that every librdkafka property is set directly).
 * Run by tests/integration/test_groups_kip848.py.
 *
 *   node kip848_groups.js --bootstrap HOST:PORT [--case uniform|range|all]
 *                         [--scale F] [--log FILE] [--budget-s S]
 *
 * Each case has its own topics and group, and three consumers
 * (group.protocol=consumer, enable.auto.commit=false) in one process, so the
 * order in which their rebalance callbacks run is the order of events:
 *
 *   1. produce half of phase 1; start C0, C1, C2 together; the group settles
 *      (every partition owned, by the expected members, ConsumerGroupDescribe
 *      agrees); produce the other half; together they read every record.
 *   2. C2 commits and leaves (close: heartbeat with epoch -1); its partitions
 *      move to C0 and C1, who read the records produced after that.
 *   3. C0 and C1 commit and leave; records are produced; a new consumer C3 in
 *      the same group fetches the committed offsets (OffsetFetch) and resumes
 *      from them: it reads the new records and nothing older.
 *
 * Throughout:
 *   - a partition is never assigned to a member while another member still
 *     owns it (it must have run its revoke callback first: KIP-848 revokes
 *     before it assigns);
 *   - a member commits (OffsetCommit with its member epoch) the partitions it
 *     gives up in its revoke callback, so the next owner resumes exactly
 *     there: no record is consumed twice, every record is consumed, each at the
 *     partition and offset its delivery report gave;
 *   - no commit fails, no assignment is lost, the protocol is COOPERATIVE.
 *
 * Case "uniform": one 6-partition topic, group.remote.assignor unset (the
 * broker's default, which ConsumerGroupDescribe must name "uniform"); 2/2/2,
 * then 3/3 keeping what C0 and C1 had (sticky).
 * Case "range": group.remote.assignor=range, two 6-partition topics: each
 * member gets the same contiguous range of partition numbers of both topics,
 * ranges given in member id order.
 *
 * librdkafka's log (debug=cgrp, or JS848_DEBUG, e.g. "cgrp,protocol") goes to
 * --log; on failure the group-related lines are printed.
 * Exit status: 0 pass, 1 failure (reasons printed), 2 bad usage.
 */
const fs = require('fs')
const Kafka = require('@confluentinc/kafka-javascript')

const PARTITIONS = 6
const ERR_ASSIGN = Kafka.CODES.ERRORS.ERR__ASSIGN_PARTITIONS
const ERR_REVOKE = Kafka.CODES.ERRORS.ERR__REVOKE_PARTITIONS
const GROUP_STABLE = Kafka.ConsumerGroupStates.STABLE
const GROUP_TYPE_CONSUMER = Kafka.ConsumerGroupTypes.CONSUMER

// ------------------------------------------------------------------ helpers
function parseArgs (argv) {
  const opts = { case: 'all', scale: '1', 'budget-s': '110' }
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) usage(`bad argument ${argv[i]}`)
    opts[argv[i].slice(2)] = argv[i + 1]
  }
  if (!opts.bootstrap) usage('--bootstrap is required')
  if (!['uniform', 'range', 'all'].includes(opts.case)) usage(`bad --case ${opts.case}`)
  return opts
}

function usage (why) {
  console.error(`${why}\nusage: kip848_groups.js --bootstrap HOST:PORT [--case uniform|range|all] [--scale F] [--log FILE] [--budget-s S]`)
  process.exit(2)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const T0 = Date.now()
const ts = () => ((Date.now() - T0) / 1000).toFixed(2).padStart(7)
function say (...a) { console.log(`[${ts()}]`, ...a) }

class Failure extends Error {}

async function waitFor (cond, timeoutMs, what, detail) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (cond()) return
    await sleep(50)
  }
  throw new Failure(`timed out after ${timeoutMs / 1000}s waiting for ${what}` +
    (detail ? `\n    ${detail()}` : ''))
}

// A callback-style call as a promise, bounded in time.
function call (what, timeoutMs, fn) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure(`${what}: no answer in ${timeoutMs / 1000}s`)), timeoutMs)
    try {
      fn((err, res) => {
        clearTimeout(timer)
        if (err) reject(new Failure(`${what}: ${err.message || err} (code ${err.code})`))
        else resolve(res)
      })
    } catch (e) {
      clearTimeout(timer)
      reject(new Failure(`${what}: threw ${e.message} (code ${e.code})`))
    }
  })
}

const tpKey = (topic, partition) => `${topic}/${partition}`
const fmtTps = keys => [...keys].sort().join(' ') || '(none)'

// librdkafka's log lines, to --log.
let logStream = null
const fatalLogLines = [] // librdkafka's FATAL lines (logged whatever the debug contexts)
function rdLog (name, ev) {
  if (logStream) logStream.write(`[${ts()}] ${name} ${ev.severity} ${ev.fac}: ${ev.message}\n`)
  if (ev.fac === 'FATAL') fatalLogLines.push(`${name}: ${ev.message}`)
}

// ---------------------------------------------------------------- the case
class Case {
  constructor (opts, name, assignor, topicCount, counts) {
    const tag = `${process.pid}-${Date.now() % 1000000}`
    this.opts = opts
    this.name = name
    this.assignor = assignor // null: the broker's default
    this.topics = Array.from({ length: topicCount }, (_, i) => `it-kip848-${name}-${i}-${tag}`)
    this.group = `it-kip848-${name}-${tag}`
    this.counts = counts
    this.allTps = this.topics.flatMap(t => Array.from({ length: PARTITIONS }, (_, p) => tpKey(t, p)))
    this.owner = new Map() // tp -> member currently owning it (between its assign and revoke callbacks)
    this.records = new Map() // id -> { tp, offset } from the delivery report
    this.seen = new Map() // id -> member name that consumed it
    this.violations = [] // broken invariants, each a line
    this.notes = [] // client errors and other events worth printing
    this.members = []
    this.nextId = 0
    this.fatal = null // the first fatal client error: nothing to wait for after it
  }

  // waitFor that gives up at once on a fatal client error.
  wait (cond, timeoutMs, what, detail) {
    return waitFor(() => {
      if (this.fatal) throw new Failure(`fatal client error while waiting for ${what}: ${this.fatal}`)
      return cond()
    }, timeoutMs, what, detail)
  }

  onClientError (who, err) {
    const line = `${who}: ${err.message} (code ${err.code}${err.isFatal ? ', fatal' : ''})`
    if (this.notes.length < 200) this.notes.push(line)
    if ((err.isFatal || err.code === Kafka.CODES.ERRORS.ERR__FATAL) && !this.fatal) {
      this.fatal = line + (fatalLogLines.length ? ` [librdkafka: ${fatalLogLines[fatalLogLines.length - 1]}]` : '')
      say(`FATAL client error: ${line}`)
    }
  }

  violation (line) {
    if (this.violations.length < 50) say(`VIOLATION: ${line}`)
    this.violations.push(line)
  }

  check () {
    if (this.violations.length) {
      throw new Failure(`${this.violations.length} violation(s); first ones:\n    ` +
        this.violations.slice(0, 10).join('\n    '))
    }
  }

  // Produces `count` keyed records over the case's topics; resolves with their ids
  // once every delivery report arrived (any delivery error fails the case).
  async produce (phase, count) {
    const producer = new Kafka.Producer({
      'bootstrap.servers': this.opts.bootstrap,
      'client.id': `js848-${this.name}-producer`,
      dr_cb: true,
      acks: 'all',
      'linger.ms': 5,
      'message.timeout.ms': 20000,
      event_cb: true
    })
    producer.on('event.log', ev => rdLog('producer', ev))
    const ids = []
    let delivered = 0
    const errors = []
    producer.on('delivery-report', (err, report) => {
      const id = report.opaque
      if (err) {
        errors.push(`record ${id}: ${err.message} (${err.code})`)
      } else {
        this.records.set(id, { tp: tpKey(report.topic, report.partition), offset: report.offset })
      }
      delivered++
    })
    await call(`${this.name}: producer connect`, 15000, cb => producer.connect({}, cb))
    producer.setPollInterval(20)
    try {
      for (let i = 0; i < count; i++) {
        const id = this.nextId++
        ids.push(id)
        const topic = this.topics[id % this.topics.length]
        for (;;) {
          try {
            producer.produce(topic, null, Buffer.from(`${this.name}:${phase}:${id}`),
              Buffer.from(`k${id}`), null, id)
            break
          } catch (e) {
            if (e.code !== Kafka.CODES.ERRORS.ERR__QUEUE_FULL) throw e
            await sleep(5)
          }
        }
      }
      await call(`${this.name}: producer flush`, 25000, cb => producer.flush(20000, cb))
      await waitFor(() => delivered === count, 10000, `${count} delivery reports (have ${delivered})`)
    } finally {
      await call(`${this.name}: producer disconnect`, 10000, cb => producer.disconnect(cb)).catch(e => say(e.message))
    }
    if (errors.length) throw new Failure(`${errors.length} records not delivered: ${errors.slice(0, 3).join('; ')}`)
    say(`${this.name}: produced ${count} records (phase ${phase})`)
    return ids
  }

  consumedAll (ids) { return ids.every(id => this.seen.has(id)) }
  missing (ids) {
    const miss = ids.filter(id => !this.seen.has(id))
    const byTp = new Map()
    for (const id of miss) {
      const tp = this.records.get(id).tp
      byTp.set(tp, (byTp.get(tp) || 0) + 1)
    }
    return `${miss.length} of ${ids.length} not consumed; by partition: ` +
      [...byTp].map(([tp, n]) => `${tp}(owner ${this.owner.get(tp)?.name || 'none'}):${n}`).join(' ')
  }

  ownership () {
    return this.members.filter(m => m.running || m.owned.size)
      .map(m => `${m.name}=[${fmtTps(m.owned)}]`).join(' ') +
      ` unowned=[${fmtTps(this.allTps.filter(tp => !this.owner.has(tp)))}]`
  }

  // True when exactly `members` own every partition of the case and each owns some.
  settledOn (members) {
    if (this.allTps.some(tp => !members.includes(this.owner.get(tp)))) return false
    return members.every(m => m.owned.size > 0)
  }

  async describe () {
    const admin = Kafka.AdminClient.create({
      'bootstrap.servers': this.opts.bootstrap,
      'client.id': `js848-${this.name}-admin`,
      event_cb: true,
      debug: 'protocol' // the ConsumerGroupDescribe round trip, in the log
    }, { 'event.log': ev => rdLog(`js848-${this.name}-admin`, ev) })
    try {
      const res = await call(`${this.name}: describeGroups (ConsumerGroupDescribe)`, 15000,
        cb => admin.describeGroups([this.group], { timeout: 10000 }, cb))
      const g = res.groups[0]
      if (g.error) throw new Failure(`describeGroups ${this.group}: ${g.error.message} (code ${g.error.code})`)
      return g
    } finally {
      admin.disconnect()
    }
  }

  // ConsumerGroupDescribe must show a consumer group, Stable, with the active
  // members and the assignments they have (retried: a member's assignment is
  // what it acknowledged in its last heartbeat).
  async describeMatches (members, timeoutMs) {
    const deadline = Date.now() + timeoutMs
    let last = ''
    for (;;) {
      const g = await this.describe()
      const problems = []
      if (g.type !== GROUP_TYPE_CONSUMER) problems.push(`type ${g.type}, want ${GROUP_TYPE_CONSUMER} (consumer)`)
      if (g.state !== GROUP_STABLE) problems.push(`state ${g.state}, want ${GROUP_STABLE} (Stable)`)
      const want = this.assignor || 'uniform'
      if (g.partitionAssignor !== want) problems.push(`assignor '${g.partitionAssignor}', want '${want}'`)
      if (g.members.length !== members.length) {
        problems.push(`${g.members.length} members (${g.members.map(d => d.clientId).join(',')}), want ${members.length}`)
      }
      for (const m of members) {
        const d = g.members.find(x => x.clientId === m.clientId)
        if (!d) { problems.push(`no member with client id ${m.clientId}`); continue }
        m.memberId = d.memberId
        const got = fmtTps((d.assignment?.topicPartitions || []).map(tp => tpKey(tp.topic, tp.partition)))
        const tgt = fmtTps((d.targetAssignment?.topicPartitions || []).map(tp => tpKey(tp.topic, tp.partition)))
        if (got !== fmtTps(m.owned)) problems.push(`${m.name} assignment [${got}], client owns [${fmtTps(m.owned)}]`)
        if (tgt !== fmtTps(m.owned)) problems.push(`${m.name} target assignment [${tgt}], client owns [${fmtTps(m.owned)}]`)
      }
      if (!problems.length) {
        say(`${this.name}: ConsumerGroupDescribe agrees: ${g.members.length} members, Stable, assignor ${g.partitionAssignor}`)
        return g
      }
      last = problems.join('; ')
      if (Date.now() > deadline) throw new Failure(`ConsumerGroupDescribe of ${this.group}: ${last}`)
      await sleep(300)
    }
  }

  // The assignor's shape for the settled `members`.
  checkAssignment (members, before) {
    const counts = members.map(m => m.owned.size)
    if (this.assignor === 'range') {
      // Per topic: contiguous ranges, in member id order, first P % N one longer;
      // so the topics (equal partition counts) are co-partitioned.
      const order = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0))
      const n = order.length
      let start = 0
      order.forEach((m, i) => {
        const len = Math.floor(PARTITIONS / n) + (i < PARTITIONS % n ? 1 : 0)
        const want = fmtTps(this.topics.flatMap(t => Array.from({ length: len }, (_, k) => tpKey(t, start + k))))
        if (fmtTps(m.owned) !== want) {
          this.violation(`range: ${m.name} (member id ${m.memberId}, #${i} in member id order) owns [${fmtTps(m.owned)}], want [${want}]`)
        }
        start += len
      })
    } else {
      if (Math.max(...counts) - Math.min(...counts) > 1) {
        this.violation(`uniform: unbalanced assignment ${this.ownership()}`)
      }
      if (before) {
        // A member left a balanced group: only its partitions move (sticky).
        for (const m of members) {
          const lost = [...before.get(m)].filter(tp => !m.owned.has(tp))
          if (lost.length) this.violation(`uniform: ${m.name} lost [${fmtTps(lost)}] when another member left (not sticky)`)
        }
      }
    }
  }

  async run () {
    const c = this.counts
    say(`=== case ${this.name}: group ${this.group}, group.remote.assignor=${this.assignor || '(unset)'}, topics ${this.topics.join(', ')}`)
    const admin = Kafka.AdminClient.create({
      'bootstrap.servers': this.opts.bootstrap, 'client.id': `js848-${this.name}-admin`
    })
    try {
      for (const t of this.topics) {
        await call(`create topic ${t}`, 20000,
          cb => admin.createTopic({ topic: t, num_partitions: PARTITIONS, replication_factor: 1 }, 15000, cb))
      }
    } finally {
      admin.disconnect()
    }

    // ---- phase 1: three members share the work
    const phase1a = await this.produce(1, Math.floor(c.phase1 / 2))
    const [c0, c1, c2] = ['C0', 'C1', 'C2'].map(n => new Member(this, n))
    for (const m of [c0, c1, c2]) await m.start()
    await this.wait(() => this.settledOn([c0, c1, c2]), 40000,
      'the three members to own every partition between them', () => this.ownership())
    this.check()
    say(`${this.name}: settled: ${this.ownership()}`)
    await this.describeMatches([c0, c1, c2], 8000)
    this.checkAssignment([c0, c1, c2], null)
    const phase1b = await this.produce(1, c.phase1 - phase1a.length)
    const phase1 = phase1a.concat(phase1b)
    await this.wait(() => this.consumedAll(phase1), 30000, `every phase 1 record`, () => this.missing(phase1))
    for (const m of [c0, c1, c2]) {
      if (!phase1b.some(id => this.seen.get(id).member === m.name)) {
        this.violation(`${m.name} consumed none of the records produced once the group was settled`)
      }
    }
    this.check()
    say(`${this.name}: phase 1 read: ` + [c0, c1, c2].map(m => `${m.name} ${m.consumed}`).join(', '))

    // ---- phase 2: C2 leaves, C0 and C1 take its partitions over
    const gone = new Set(c2.owned)
    const before = new Map([c0, c1].map(m => [m, new Set(m.owned)]))
    await c2.leave()
    await this.wait(() => this.settledOn([c0, c1]), 30000,
      `C2's partitions [${fmtTps(gone)}] to move to C0 and C1`, () => this.ownership())
    this.check()
    say(`${this.name}: after C2 left: ${this.ownership()}`)
    await this.describeMatches([c0, c1], 8000)
    this.checkAssignment([c0, c1], before)
    const phase2 = await this.produce(2, c.phase2)
    await this.wait(() => this.consumedAll(phase2), 30000, 'every phase 2 record', () => this.missing(phase2))
    this.check()

    // ---- phase 3: C0 and C1 commit and leave; a new member resumes from the commits
    await c0.stop()
    await c1.stop()
    const committed = new Map()
    for (const m of [c0, c1]) {
      for (const [tp, off] of m.commitAll('before leaving')) committed.set(tp, off)
    }
    const wm = await this.watermarks()
    for (const tp of this.allTps) {
      if (committed.get(tp) !== wm.get(tp)) {
        this.violation(`before C0/C1 leave: position of ${tp} is ${committed.get(tp)}, high watermark ${wm.get(tp)}`)
      }
    }
    this.check()
    await c0.leave()
    await c1.leave()
    const phase3 = await this.produce(3, c.phase3)
    const c3 = new Member(this, 'C3')
    await c3.start()
    await this.wait(() => this.settledOn([c3]), 30000, 'C3 to own every partition', () => this.ownership())
    const fetched = await call('C3 committed() (OffsetFetch)', 15000,
      cb => c3.consumer.committed(this.allTps.map(k => {
        const i = k.lastIndexOf('/')
        return { topic: k.slice(0, i), partition: +k.slice(i + 1) }
      }), 10000, cb))
    for (const f of fetched) {
      const tp = tpKey(f.topic, f.partition)
      if (f.error) this.violation(`OffsetFetch ${tp}: ${f.error.message}`)
      else if (f.offset !== committed.get(tp)) this.violation(`OffsetFetch ${tp}: ${f.offset}, committed ${committed.get(tp)}`)
    }
    await this.wait(() => this.consumedAll(phase3), 30000, 'every phase 3 record (C3)', () => this.missing(phase3))
    for (const tp of this.allTps) {
      const first = c3.firstOffset.get(tp)
      if (first !== undefined && first !== committed.get(tp)) {
        this.violation(`C3 resumed ${tp} at offset ${first}, committed ${committed.get(tp)}`)
      }
    }
    await c3.leave()

    // ---- every record exactly once, where the broker said it was written
    if (this.seen.size !== this.records.size) {
      this.violation(`consumed ${this.seen.size} distinct records, produced ${this.records.size}`)
    }
    for (const [id, s] of this.seen) {
      const rec = this.records.get(id)
      if (rec && (rec.tp !== s.tp || rec.offset !== s.offset)) {
        this.violation(`record ${id} read by ${s.member} at ${s.tp}@${s.offset}, delivered at ${rec.tp}@${rec.offset}`)
      }
    }
    this.check()
    say(`=== case ${this.name}: PASS (${this.records.size} records, each consumed once)`)
  }

  async watermarks () {
    const m = this.members.find(x => x.consumer && x.consumer.isConnected())
    // In parallel: each ListOffsets waits behind the connection's long-poll Fetch.
    const highs = await Promise.all(this.allTps.map(tp => {
      const i = tp.lastIndexOf('/')
      return call(`watermarks ${tp}`, 10000,
        cb => m.consumer.queryWatermarkOffsets(tp.slice(0, i), +tp.slice(i + 1), 5000, cb))
    }))
    return new Map(this.allTps.map((tp, i) => [tp, highs[i].highOffset]))
  }

  async cleanup () {
    await Promise.all(this.members.map(m => m.leave().catch(e => say(`${m.name}: ${e.message}`))))
  }
}

// ------------------------------------------------------------- one member
class Member {
  constructor (tc, name) {
    this.tc = tc
    this.name = name
    this.clientId = `js848-${tc.name}-${name}`
    this.owned = new Set()
    this.pos = new Map() // tp -> next offset to process (last processed + 1)
    this.firstOffset = new Map() // tp -> first offset this member processed
    this.consumed = 0
    this.stale = 0
    this.running = false
    this.closing = false
    this.closed = false
    this.inflight = null
    tc.members.push(this)
  }

  config () {
    const conf = {
      'bootstrap.servers': this.tc.opts.bootstrap,
      'client.id': this.clientId,
      'group.id': this.tc.group,
      'group.protocol': 'consumer',
      'enable.auto.commit': false,
      'topic.metadata.refresh.interval.ms': 5000,
      event_cb: true,
      debug: process.env.JS848_DEBUG || 'cgrp',
      rebalance_cb: (err, assignment) => this.onRebalance(err, assignment)
    }
    if (this.tc.assignor) conf['group.remote.assignor'] = this.tc.assignor
    return conf
  }

  async start () {
    // Topic properties go in the topic config: librdkafka's default topic
    // config made from it replaces whatever the global config set.
    const c = new Kafka.KafkaConsumer(this.config(), { 'auto.offset.reset': 'earliest' })
    this.consumer = c
    c.on('event.log', ev => rdLog(this.clientId, ev))
    c.on('event.error', err => this.tc.onClientError(this.name, err))
    c.on('rebalance.error', err => this.tc.violation(`${this.name} rebalance.error: ${err.message}`))
    await call(`${this.name} connect`, 15000, cb => c.connect({}, cb))
    c.setDefaultConsumeTimeout(100)
    c.subscribe(this.tc.topics)
    this.running = true
    this.loop()
    say(`${this.name}: started (${this.clientId})`)
  }

  loop () {
    if (!this.running) return
    this.inflight = new Promise(resolve => {
      this.consumer.consume(500, (err, msgs) => {
        if (err) this.tc.onClientError(`${this.name} consume`, err)
        else for (const m of msgs) this.onMessage(m)
        resolve()
        setImmediate(() => this.loop())
      })
    })
  }

  onMessage (m) {
    const tp = tpKey(m.topic, m.partition)
    // A batch fetched before a revoke may reach JS after it: such records are
    // not ours any more; the next owner reads them from our commit.
    if (!this.owned.has(tp)) { this.stale++; return }
    // (Its delivery report may not have reached JS yet: where it was
    // written is checked at the end of the case.)
    const [caseName, , idText] = String(m.value).split(':')
    const id = Number(idText)
    if (caseName !== this.tc.name || !Number.isInteger(id) || id < 0 || id >= this.tc.nextId) {
      this.tc.violation(`${this.name} read an unknown record '${m.value}' at ${tp}@${m.offset}`)
    }
    const prev = this.tc.seen.get(id)
    if (prev) {
      this.tc.violation(`record ${id} consumed by ${this.name} at ${tp}@${m.offset}, already by ${prev.member} at ${prev.tp}@${prev.offset}`)
    } else {
      this.tc.seen.set(id, { member: this.name, tp, offset: m.offset })
    }
    const want = this.pos.get(tp)
    if (want !== undefined && m.offset !== want) {
      this.tc.violation(`${this.name} read ${tp}@${m.offset} after ${want - 1} (gap or repeat)`)
    }
    if (!this.firstOffset.has(tp)) this.firstOffset.set(tp, m.offset)
    this.pos.set(tp, m.offset + 1)
    this.consumed++
  }

  onRebalance (err, assignment) {
    const c = this.consumer
    const keys = assignment.map(tp => tpKey(tp.topic, tp.partition))
    try {
      const proto = c.rebalanceProtocol() // NONE once closing
      if (proto !== 'COOPERATIVE' && !this.closing) this.tc.violation(`${this.name}: rebalance protocol ${proto}, want COOPERATIVE (consumer protocol)`)
      if (err.code === ERR_ASSIGN) {
        say(`${this.name}: assigned [${fmtTps(keys)}]`)
        for (const tp of keys) {
          const other = this.tc.owner.get(tp)
          if (other && other !== this) {
            this.tc.violation(`${tp} assigned to ${this.name} while ${other.name} still owns it (not revoked first)`)
          }
          if (this.owned.has(tp)) this.tc.violation(`${tp} assigned to ${this.name} twice`)
          this.tc.owner.set(tp, this)
          this.owned.add(tp)
          this.pos.delete(tp) // resumes from the committed offset
        }
        c.incrementalAssign(assignment)
      } else if (err.code === ERR_REVOKE) {
        const lost = c.assignmentLost()
        say(`${this.name}: ${lost ? 'LOST' : 'revoked'} [${fmtTps(keys)}]`)
        if (lost) {
          this.tc.violation(`${this.name} lost [${fmtTps(keys)}] (fenced or session expired)`)
        } else if (!this.closing) {
          this.commit(keys, 'on revoke')
        }
        for (const tp of keys) {
          if (this.tc.owner.get(tp) !== this) this.tc.violation(`${tp} revoked from ${this.name}, which does not own it`)
          else this.tc.owner.delete(tp)
          this.owned.delete(tp)
        }
        c.incrementalUnassign(assignment)
      } else {
        this.tc.violation(`${this.name}: rebalance callback with ${err.message} (code ${err.code})`)
      }
    } catch (e) {
      this.tc.violation(`${this.name}: rebalance callback failed: ${e.message} (code ${e.code})`)
    }
  }

  // Commits the positions of `keys` (those with a position) synchronously.
  commit (keys, why) {
    const offsets = []
    for (const tp of keys) {
      if (!this.pos.has(tp)) continue
      const i = tp.lastIndexOf('/')
      offsets.push({ topic: tp.slice(0, i), partition: +tp.slice(i + 1), offset: this.pos.get(tp) })
    }
    if (!offsets.length) return offsets
    try {
      this.consumer.commitSync(offsets)
      say(`${this.name}: committed ${why}: ${offsets.map(o => `${o.topic}/${o.partition}@${o.offset}`).join(' ')}`)
    } catch (e) {
      this.tc.violation(`${this.name}: OffsetCommit ${why} failed: ${e.message} (code ${e.code})`)
    }
    return offsets
  }

  commitAll (why) {
    const offsets = this.commit([...this.owned], why)
    return offsets.map(o => [tpKey(o.topic, o.partition), o.offset])
  }

  async stop () {
    this.running = false
    if (this.inflight) await this.inflight
  }

  // Commits what it read and closes (KIP-848: a heartbeat with member epoch -1).
  async leave () {
    if (this.closed || !this.consumer) return
    await this.stop()
    if (this.consumer.isConnected()) {
      this.commitAll('before leaving')
      this.closing = true
      await call(`${this.name} disconnect`, 20000, cb => this.consumer.disconnect(cb))
    }
    this.closed = true
    say(`${this.name}: left (read ${this.consumed}, dropped ${this.stale} records of revoked partitions)`)
  }
}

// ------------------------------------------------------------------- main
function printLogExcerpt (file) {
  if (!file || !fs.existsSync(file)) return
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const interesting = lines.filter(l =>
    /FATAL|[Ee]rror|ERR_|[Ff]ail|UNSUPPORTED|FENCED|STALE|UNKNOWN_MEMBER|INVALID|[Rr]eject|ConsumerGroupHeartbeat (of|response)|OffsetCommit|OffsetFetch/.test(l))
  console.log(`----- librdkafka log (${file}, ${lines.length} lines): last lines about errors and group requests`)
  for (const l of interesting.slice(-40)) console.log('    ' + l.slice(0, 400))
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  if (opts.log) logStream = fs.createWriteStream(opts.log)
  const budgetMs = +opts['budget-s'] * 1000
  let current = null
  const watchdog = setTimeout(() => {
    say(`FAIL: still running after the budget of ${budgetMs / 1000}s`)
    if (current) {
      say(`ownership: ${current.ownership()}`)
      for (const n of current.notes.slice(-20)) say(`note: ${n}`)
    }
    printLogExcerpt(opts.log)
    process.exit(1)
  }, budgetMs)
  watchdog.unref()

  const scale = +opts.scale
  const n = x => Math.max(60, Math.round(x * scale))
  const cases = []
  if (opts.case !== 'range') cases.push(new Case(opts, 'uniform', null, 1, { phase1: n(20000), phase2: n(3000), phase3: n(1200) }))
  if (opts.case !== 'uniform') cases.push(new Case(opts, 'range', 'range', 2, { phase1: n(8000), phase2: n(2000), phase3: n(1200) }))
  say(`@confluentinc/kafka-javascript ${require('@confluentinc/kafka-javascript/package.json').version}, librdkafka ${Kafka.librdkafkaVersion}, bootstrap ${opts.bootstrap}`)

  const failed = []
  const summary = []
  for (const c of cases) {
    current = c
    try {
      await c.run()
      summary.push(`case ${c.name}: PASS`)
    } catch (e) {
      const why = e instanceof Failure ? e.message : e.stack
      say(`=== case ${c.name}: FAIL: ${why}`)
      say(`ownership: ${c.ownership()}`)
      failed.push(c.name)
      summary.push(`case ${c.name}: FAIL: ${why}`)
    }
    if (c.notes.length) {
      say(`${c.name}: client errors/notes (${c.notes.length}), last ones:`)
      for (const n of c.notes.slice(-15)) console.log(`    ${n}`)
    }
    await c.cleanup()
  }
  if (logStream) await new Promise(resolve => logStream.end(resolve))
  if (failed.length) printLogExcerpt(opts.log)
  console.log('----- summary')
  for (const line of summary) console.log(line)
  console.log(`kip848 cases: ${cases.length - failed.length} of ${cases.length} passed`)
  process.exit(failed.length ? 1 : 0)
}

main().catch(e => {
  console.error(e.stack)
  process.exit(1)
})
