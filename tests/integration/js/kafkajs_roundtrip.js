#!/usr/bin/env node
'use strict'
/*
 * kafkajs 2.2.4 against a real broker, driven by tests/integration/run.sh.
 *
 *   node kafkajs_roundtrip.js produce --bootstrap HOST:PORT --topic T --count N --state FILE
 *       Creates T with 3 partitions through the admin client (it must not
 *       exist), then sends N records in batches of 1000 with acks=-1: keys,
 *       headers and null values. Each record goes to partition i % 3, so the
 *       offset of every record follows from the baseOffset the broker returns
 *       for its batch; FILE records them.
 *   node kafkajs_roundtrip.js verify --state FILE --dump DUMP
 *       Checks DUMP, the topic as read by `rdk_roundtrip --dump` (librdkafka:
 *       kafkajs's own consumer needs consumer groups), against FILE: exactly
 *       the acknowledged records, each at its offset, byte-identical.
 *
 * kafkajs cannot send a null header value (it measures the value with
 * Buffer.byteLength), so headers here are non-null; the C and Python tests
 * cover null header values.
 * Exit status: 0 pass, 1 failure (reasons printed), 2 bad usage.
 */
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const PARTITIONS = 3
const BATCH = 1000

function record (i, baseTs) {
  let key
  if (i % 10 === 3) key = null
  else if (i % 10 === 7) key = Buffer.alloc(0)
  else if (i % 10 === 9) {
    key = Buffer.alloc(8)
    key.writeBigUInt64BE(BigInt(i))
  } else key = Buffer.from(`jk-${i % 211}`)

  let value
  if (i % 9 === 4) value = null
  else if (i % 9 === 8) value = Buffer.alloc(0)
  else {
    const pad = Buffer.alloc(i % 150)
    for (let j = 0; j < pad.length; j++) pad[j] = (i * 13 + j * 7) & 0xff
    value = Buffer.concat([Buffer.from(`jv-${i}-`), pad])
  }

  // [name, Buffer] pairs in order; a name may repeat.
  let headers
  switch (i % 4) {
    case 0: headers = []; break
    case 1: headers = [['h', Buffer.from(`${i}`)]]; break
    case 2: headers = [['dup', Buffer.from('a')], ['dup', Buffer.from('b')]]; break
    default: headers = [['emp', Buffer.alloc(0)], ['bin', Buffer.from([0, 255, i & 0xff])]]
  }
  return { key, value, headers, timestamp: baseTs + (i % 100000) }
}

/* kafkajs wants headers as an object; repeated names become arrays. */
function headersObject (pairs) {
  const out = {}
  for (const [name, value] of pairs) {
    if (name in out) out[name] = [].concat(out[name], value)
    else out[name] = value
  }
  return out
}

function parseArgs (argv) {
  const opts = { command: argv[0] }
  for (let i = 1; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`)
    opts[argv[i].slice(2)] = argv[i + 1]
  }
  return opts
}

async function produce (opts) {
  const count = Number(opts.count)
  const kafka = new Kafka({
    clientId: 'sluice-it-kafkajs',
    brokers: [opts.bootstrap],
    logLevel: logLevel.WARN,
    connectionTimeout: 10000,
    requestTimeout: 60000
  })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const created = await admin.createTopics({
      topics: [{ topic: opts.topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: 30000
    })
    if (created !== true) throw new Error(`createTopics(${opts.topic}) returned ${created}: the topic already existed`)
    const md = await admin.fetchTopicMetadata({ topics: [opts.topic] })
    const parts = md.topics[0].partitions
    if (parts.length !== PARTITIONS) throw new Error(`${opts.topic} has ${parts.length} partitions, expected ${PARTITIONS}`)
  } finally {
    await admin.disconnect()
  }

  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false })
  await producer.connect()
  try {
    await sendAll(producer, opts, count)
  } finally {
    await producer.disconnect()
  }
}

/* Sends records 0..count-1 in batches and writes where each landed. */
async function sendAll (producer, opts, count) {
  const baseTs = Date.now() - 100000
  const acks = new Array(count)
  const started = Date.now()
  for (let first = 0; first < count; first += BATCH) {
    const last = Math.min(first + BATCH, count)
    const messages = []
    const perPartition = [[], [], []] // record indexes in send order
    for (let i = first; i < last; i++) {
      const r = record(i, baseTs)
      const partition = i % PARTITIONS
      perPartition[partition].push(i)
      messages.push({
        partition,
        key: r.key,
        value: r.value,
        headers: headersObject(r.headers),
        timestamp: String(r.timestamp)
      })
    }
    const results = await producer.send({ topic: opts.topic, acks: -1, timeout: 30000, messages })
    const seen = new Set()
    for (const res of results) {
      if (res.topicName !== opts.topic || res.errorCode !== 0) {
        throw new Error(`batch at record ${first}: ${JSON.stringify(res)}`)
      }
      seen.add(res.partition)
      const base = BigInt(res.baseOffset)
      perPartition[res.partition].forEach((i, k) => { acks[i] = [res.partition, Number(base + BigInt(k))] })
    }
    for (let p = 0; p < PARTITIONS; p++) {
      if (perPartition[p].length > 0 && !seen.has(p)) throw new Error(`batch at record ${first}: no result for partition ${p}`)
    }
  }
  fs.writeFileSync(opts.state, JSON.stringify({ topic: opts.topic, partitions: PARTITIONS, count, baseTs, acks }))
  console.log(`kafkajs: produced ${count} records in ${Date.now() - started} ms`)
}

function decodeField (text) {
  if (text === '~') return null
  if (!text.startsWith('x')) throw new Error(`bad dump field ${text}`)
  return Buffer.from(text.slice(1), 'hex')
}

function same (a, b) {
  if (a === null || b === null) return a === b
  return a.equals(b)
}

function show (b) {
  return b === null ? 'null' : `${b.length} bytes ${b.subarray(0, 24).toString('hex')}`
}

function verify (opts) {
  const state = JSON.parse(fs.readFileSync(opts.state, 'utf8'))
  const byPos = new Map()
  state.acks.forEach(([p, o], i) => {
    const k = `${p}:${o}`
    if (byPos.has(k)) throw new Error(`records ${byPos.get(k)} and ${i} acknowledged at the same offset ${k}`)
    byPos.set(k, i)
  })
  const lines = fs.readFileSync(opts.dump, 'utf8').split('\n').filter(l => l.length > 0)
  const problems = []
  const nextOffset = new Array(state.partitions).fill(0)
  const seen = new Set()
  for (const line of lines) {
    if (problems.length >= 20) break
    const f = line.split(' ')
    const p = Number(f[0]); const o = Number(f[1]); const ts = Number(f[2])
    const where = `partition ${p} offset ${o}`
    if (o !== nextOffset[p]) problems.push(`${where}: expected offset ${nextOffset[p]} (contiguous)`)
    nextOffset[p] = o + 1
    const i = byPos.get(`${p}:${o}`)
    if (i === undefined) { problems.push(`${where}: a record that was never acknowledged`); continue }
    seen.add(i)
    const want = record(i, state.baseTs)
    const key = decodeField(f[3]); const value = decodeField(f[4])
    const headers = []
    for (let h = 0; h < Number(f[5]); h++) {
      const [name, hv] = f[6 + h].split('=')
      headers.push([decodeField(name).toString(), decodeField(hv)])
    }
    if (!same(key, want.key)) problems.push(`${where}: record ${i} key ${show(key)}, expected ${show(want.key)}`)
    if (!same(value, want.value)) problems.push(`${where}: record ${i} value ${show(value)}, expected ${show(want.value)}`)
    const hGot = JSON.stringify(headers.map(([n, v]) => [n, v === null ? null : v.toString('hex')]))
    const hWant = JSON.stringify(want.headers.map(([n, v]) => [n, v.toString('hex')]))
    if (hGot !== hWant) problems.push(`${where}: record ${i} headers ${hGot}, expected ${hWant}`)
    if (ts !== want.timestamp) problems.push(`${where}: record ${i} timestamp ${ts}, expected ${want.timestamp}`)
  }
  if (lines.length !== state.count) problems.push(`the topic holds ${lines.length} records, ${state.count} were acknowledged`)
  if (problems.length === 0 && seen.size !== state.count) problems.push(`only ${seen.size} of ${state.count} records found`)
  if (problems.length > 0) {
    for (const p of problems.slice(0, 20)) console.log(`FAIL: ${p}`)
    return 1
  }
  console.log(`kafkajs: all ${state.count} records verified at their acknowledged offsets`)
  return 0
}

async function main () {
  let opts
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (e) {
    console.error(`kafkajs_roundtrip: ${e.message}`)
    return 2
  }
  if (opts.command === 'produce' && opts.bootstrap && opts.topic && opts.count && opts.state) {
    await produce(opts)
    return 0
  }
  if (opts.command === 'verify' && opts.state && opts.dump) return verify(opts)
  console.error('usage: kafkajs_roundtrip.js produce --bootstrap H:P --topic T --count N --state F\n' +
                '       kafkajs_roundtrip.js verify --state F --dump D')
  return 2
}

// Exit explicitly: a failed request can leave kafkajs sockets or retry timers
// that would keep node alive until run.sh's timeout.
main().then(code => process.exit(code), err => {
  console.log(`FAIL: ${err.stack || err}`)
  process.exit(1)
})
