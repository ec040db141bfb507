#!/usr/bin/env node
'use strict'
/*
 * kafkajs 2.2.4 consumer groups against a real broker (run by
 * tests/integration/test_groups_kafkajs.py).
 *
 *   node kafkajs_groups.js --bootstrap HOST:PORT [--count N]
 *
 * Creates a 6-partition topic, produces N keyed records (value "v<i>"), then
 * runs three consumers in one group (JoinGroup v5 with the KIP-394
 * MEMBER_ID_REQUIRED round trip, SyncGroup, Heartbeat, OffsetCommit/Fetch):
 *   - together they read every record;
 *   - the group settles: the latest assignments of the three members
 *     (GROUP_JOIN events) are disjoint, cover every partition, none empty;
 *   - one consumer disconnects (LeaveGroup): the two others take over every
 *     partition and read records produced afterwards on every partition.
 * Exit status: 0 pass, 1 failure (reason printed), 2 bad usage.
 */
const { Kafka, logLevel } = require('kafkajs')

const PARTITIONS = 6
const AFTER_LEAVE = 600

function parseArgs (argv) {
  const opts = { count: '6000' }
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      console.error(`bad argument ${argv[i]}`)
      process.exit(2)
    }
    opts[argv[i].slice(2)] = argv[i + 1]
  }
  if (!opts.bootstrap) {
    console.error('usage: kafkajs_groups.js --bootstrap HOST:PORT [--count N]')
    process.exit(2)
  }
  return opts
}

/* kafkajs logs every REBALANCE_IN_PROGRESS heartbeat answer as an error: the
   normal way a member learns of a rebalance. Everything else is printed. */
const quietLogger = () => ({ namespace, level, label, log }) => {
  const text = JSON.stringify(log)
  if (/rebalancing|re-joining/i.test(text)) return
  console.log(`${label} [${namespace}] ${text}`)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (cond()) return
    await sleep(100)
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`)
}

async function produce (producer, topic, first, count) {
  for (let start = first; start < first + count; start += 1000) {
    const messages = []
    for (let i = start; i < Math.min(start + 1000, first + count); i++) {
      messages.push({ key: `k${i}`, value: `v${i}` })
    }
    const res = await producer.send({ topic, acks: -1, timeout: 30000, messages })
    for (const r of res) {
      if (r.errorCode !== 0) throw new Error(`produce: ${JSON.stringify(r)}`)
    }
  }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  const count = Number(opts.count)
  const tag = `${process.pid}-${Date.now() % 100000000}`
  const topic = `it-groups-kafkajs-${tag}`
  const groupId = `it-groups-kafkajs-${tag}`
  const kafka = new Kafka({
    clientId: 'sluice-it-kafkajs-groups',
    brokers: [opts.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: quietLogger,
    connectionTimeout: 10000,
    requestTimeout: 30000
  })

  const admin = kafka.admin()
  await admin.connect()
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: 30000
    })
    if (created !== true) throw new Error(`createTopics(${topic}) returned ${created}`)
  } finally {
    await admin.disconnect()
  }

  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const consumers = []
  try {
    await produce(producer, topic, 0, count)

    // Started together, so that the three join the first generation (within
    // group.initial.rebalance.delay.ms) and all of them read part of the backlog.
    const starts = []
    for (let n = 0; n < 3; n++) {
      const name = `js-m${n}`
      const consumer = kafka.consumer({
        groupId,
        sessionTimeout: 10000,
        rebalanceTimeout: 20000,
        heartbeatInterval: 1000,
        retry: { retries: 10 }
      })
      const state = { name, consumer, assigned: new Set(), joins: 0, lastJoin: 0, read: new Map(), crashed: null }
      consumer.on(consumer.events.GROUP_JOIN, e => {
        const parts = e.payload.memberAssignment[topic] || []
        state.assigned = new Set(parts)
        state.joins++
        state.lastJoin = Date.now()
      })
      consumer.on(consumer.events.CRASH, e => { state.crashed = String(e.payload.error) })
      consumers.push(state)
      starts.push((async () => {
        await consumer.connect()
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            const v = message.value.toString()
            state.read.set(v, (state.read.get(v) || 0) + 1)
          }
        })
      })())
    }
    await Promise.all(starts)

    const readAll = (states, first, n) => {
      for (let i = first; i < first + n; i++) {
        if (!states.some(s => s.read.has(`v${i}`))) return false
      }
      return true
    }
    const progress = states => states.map(s => `${s.name}: ${s.read.size} read, assigned [${[...s.assigned]}]` +
      (s.crashed ? ` CRASHED ${s.crashed}` : '')).join('; ')

    try {
      await waitFor(() => readAll(consumers, 0, count), 90000, `three consumers to read ${count} records`)
    } catch (e) {
      throw new Error(`${e.message}: ${progress(consumers)}`)
    }

    // Settled: disjoint, complete, none empty, no join for 2 s.
    const settled = states => {
      const all = []
      for (const s of states) {
        if (s.assigned.size === 0) return false
        all.push(...s.assigned)
      }
      all.sort((a, b) => a - b)
      if (all.join(',') !== [...Array(PARTITIONS).keys()].join(',')) return false
      return states.every(s => Date.now() - s.lastJoin > 2000)
    }
    try {
      await waitFor(() => settled(consumers), 45000, 'the group to settle with three members')
    } catch (e) {
      throw new Error(`${e.message}: ${progress(consumers)}`)
    }
    console.log(`settled: ${progress(consumers)}`)

    const leaver = consumers[0]
    const survivors = consumers.slice(1)
    const leftAt = Date.now()
    await leaver.consumer.disconnect() // LeaveGroup
    try {
      await waitFor(() => settled(survivors), 30000, 'the survivors to take over every partition')
    } catch (e) {
      throw new Error(`${e.message}: ${progress(survivors)}`)
    }
    console.log(`after ${leaver.name} left (${(Date.now() - leftAt) / 1000}s): ${progress(survivors)}`)

    await produce(producer, topic, count, AFTER_LEAVE)
    try {
      await waitFor(() => readAll(survivors, count, AFTER_LEAVE), 30000, 'the survivors to read the records produced after the leave')
    } catch (e) {
      throw new Error(`${e.message}: ${progress(survivors)}`)
    }
    for (const s of consumers) {
      if (s.crashed) throw new Error(`${s.name} crashed: ${s.crashed}`)
    }
    let dups = 0
    for (const s of consumers) for (const c of s.read.values()) dups += c - 1
    console.log(`kafkajs groups: ${count + AFTER_LEAVE} records read by three members (${dups} re-read within a member)`)
  } finally {
    for (const s of consumers) {
      try { await s.consumer.disconnect() } catch (e) { }
    }
    await producer.disconnect()
  }
}

main().then(() => process.exit(0), e => {
  console.error(`FAIL: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
