'use strict'
// The report: recorder bounds, the JSON schema (checked by ajv, and our own validator agreeing
// with it), and the HTML page's escaping.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const Ajv2020 = require('ajv/dist/2020')
const { Recorder, assemble, renderHtml, validateReport, SCHEMA } = require('../lib/report')

const ajv = new Ajv2020({ strict: false, allErrors: true })
const ajvValidate = ajv.compile(SCHEMA)

function attribution (name, wallMs, extra = {}) {
  return {
    name,
    wallMs,
    outcome: 'ok',
    breakdown: [{ kind: 'fs', target: '/tmp/late.fifo', ms: wallMs, count: 1, evidence: { wchan: 'wait_for_partner' } }],
    requests: [{ kind: 'fs', target: '/tmp/late.fifo', startMs: 1, queueMs: 0, execMs: wallMs - 1, endMs: wallMs, evidence: null }],
    kernel: null,
    pool: null,
    ...extra
  }
}

test('a recorder snapshot assembles into a report that validates against schema.json (ajv)', async () => {
  const r = new Recorder({ intervalMs: 20 })
  try {
    r.start()
    await new Promise((resolve) => setTimeout(resolve, 120))
    r.operation(attribution('check', 12.5))
    const doc = assemble({ processes: [r.snapshot({ reason: 'exit', exitCode: 0 })], command: ['node', 'x.js'], exit: { code: 0, signal: null } })
    assert.equal(ajvValidate(doc), true, JSON.stringify(ajvValidate.errors))
    assert.deepEqual(validateReport(doc), [])
    const p = doc.processes[0]
    assert.equal(p.pid, process.pid)
    assert.ok(p.samples.list.length >= 3, `samples: ${p.samples.list.length}`)
    // Independent truth for the descriptor count: /proc/self/fd read directly, within slack for
    // the descriptors the listing itself and the runtime open or close meanwhile.
    const last = p.samples.list[p.samples.list.length - 1]
    const now = fs.readdirSync('/proc/self/fd').length - 1
    assert.ok(Math.abs(last.fds.count - now) <= 3, `fds ${last.fds.count} vs /proc ${now}`)
    assert.equal(Object.values(last.fds.byType).reduce((a, b) => a + b, 0), last.fds.count)
    const tasks = fs.readdirSync('/proc/self/task').length
    assert.ok(Math.abs(last.threads.count - tasks) <= 2, `threads ${last.threads.count} vs /proc ${tasks}`)
    assert.ok(p.loop.iterations > 0)
    assert.equal(p.loop.waitHistogram.counts.length, p.loop.waitHistogram.boundsMs.length + 1)
    assert.equal(p.loop.waitHistogram.counts.reduce((a, b) => a + b, 0), p.loop.waitMs.count)
    assert.equal(p.operations.seen, 1)
    assert.equal(p.operations.kept[0].report.name, 'check')
  } finally {
    r.close()
  }
})

test('memory stays bounded: a ring of maxSamples, the slowest maxOperations kept, all counted', () => {
  const r = new Recorder({ maxSamples: 3, maxOperations: 2 })
  try {
    for (let i = 0; i < 5; i++) r.tick()
    const walls = [5, 50, 1, 30, 70, 2]
    for (const ms of walls) r.operation(attribution(`op-${ms}`, ms))
    const p = r.snapshot()
    assert.equal(p.samples.list.length, 3)
    assert.equal(p.samples.dropped, 2)
    const times = p.samples.list.map((s) => s.atMs)
    assert.deepEqual(times, times.slice().sort((a, b) => a - b), 'oldest first after wrapping')
    assert.deepEqual(p.operations.kept.map((o) => o.report.wallMs), [70, 50])
    assert.equal(p.operations.seen, walls.length)
    assert.equal(p.operations.byName.length, walls.length)
    const html = renderHtml(assemble({ processes: [p] }))
    assert.match(html, /The oldest 2 samples were dropped \(ring buffer of 3\)/)
    assert.match(html, /6 operations explained; the slowest 2 are kept \(cap 2\)/)
  } finally {
    r.close()
  }
})

test('our validator and ajv agree on broken reports', () => {
  const r = new Recorder()
  r.tick()
  r.operation(attribution('x', 3))
  const good = assemble({ processes: [r.snapshot()] })
  r.close()
  const breakers = [
    (d) => { d.version = 2 },
    (d) => { delete d.processes },
    (d) => { d.processes[0].pid = 'one' },
    (d) => { d.processes[0].samples.list[0].fds.count = -1 },
    (d) => { d.processes[0].end.reason = 'vanished' },
    (d) => { d.processes[0].operations.kept[0].report.outcome = 'maybe' },
    (d) => { d.processes[0].operations.kept[0].report.breakdown[0].ms = '3' },
    (d) => { d.processes[0].samples.list[0].threads.byState.running = 'many' },
    (d) => { d.limits.maxSamples = 1.5 }
  ]
  for (const br of breakers) {
    const d = structuredClone(good)
    br(d)
    assert.equal(ajvValidate(d), false, `ajv accepted ${br}`)
    assert.ok(validateReport(d).length > 0, `validateReport accepted ${br}`)
  }
  assert.equal(ajvValidate(good), true)
  assert.deepEqual(validateReport(good), [])
})

test('the HTML page escapes every string and fetches nothing', () => {
  const r = new Recorder()
  r.tick()
  const hostile = '</title><script>alert(1)</script><img src=http://127.0.0.1:9/x>\u0000\n"\'&'
  r.operation(attribution(hostile, 10, {
    breakdown: [{ kind: 'tcp-connect', target: hostile, ms: 10, count: 1, evidence: { note: hostile } }],
    requests: [{ kind: 'tcp-connect', target: hostile, startMs: 0, queueMs: 0, execMs: 10, endMs: 10, evidence: null }]
  }))
  const html = renderHtml(assemble({ processes: [r.snapshot()], command: ['node', hostile] }))
  r.close()
  assert.doesNotMatch(html, /<script/i)
  assert.doesNotMatch(html, /<img/i)
  assert.equal(html.includes(String.fromCharCode(0)), false)
  assert.match(html, /&lt;\/title&gt;&lt;script&gt;/)
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/)
  // No reference to anything outside the page (the SVG namespace is an identifier, not a fetch).
  const refs = html.match(/(?:src|href)=["'][^"'#][^"']*/gi) || []
  assert.deepEqual(refs, [])
  for (const plot of ['loop-wait-histogram', 'loop-over-time', 'fds-over-time', 'threads-over-time', 'waterfall']) {
    assert.match(html, new RegExp(`data-plot="${plot}"`))
  }
})

test('Recorder rejects bad options with coded errors', () => {
  assert.throws(() => new Recorder({ intervalMs: 'fast' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => new Recorder({ maxSamples: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => new Recorder(5), { code: 'ERR_INVALID_ARG_TYPE' })
})
