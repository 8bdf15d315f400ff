'use strict'
// ks.opentelemetry(): the real OpenTelemetry SDK (MeterProvider, a PeriodicExportingMetricReader
// and an InMemoryMetricExporter) collects the instruments; names, units and attributes are
// checked against the semantic conventions, values against the kernel's own files.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const {
  MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality
} = require('@opentelemetry/sdk-metrics')
const ks = require('..')
const { procFields, sleep } = require('./helpers')

/** Seconds this thread was on a CPU or waiting for one (/proc/thread-self/schedstat): not blocked. */
function notBlockedS () {
  const [run, queued] = require('node:fs').readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number)
  return (run + queued) / 1e9
}

async function collect (fn) {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 })
  const provider = new MeterProvider({ readers: [reader] })
  const meter = provider.getMeter('kernelscope-test')
  let calls = 0
  const wrapped = {
    ...Object.fromEntries(['createObservableCounter', 'createObservableUpDownCounter', 'createObservableGauge', 'removeBatchObservableCallback']
      .map((k) => [k, meter[k].bind(meter)])),
    addBatchObservableCallback (cb, obs) {
      calls++
      return meter.addBatchObservableCallback(cb, obs)
    }
  }
  const handle = ks.opentelemetry({ meter: wrapped })
  try {
    await fn()
    await reader.forceFlush()
    const metrics = new Map()
    for (const rm of exporter.getMetrics()) {
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) metrics.set(m.descriptor.name, m)
    }
    return { metrics, handle, calls }
  } finally {
    handle.close()
    await provider.shutdown()
  }
}

const point = (m, attrs = {}) => {
  const p = m.dataPoints.find((d) => Object.entries(attrs).every(([k, v]) => d.attributes[k] === v))
  assert.ok(p, `${m.descriptor.name} ${JSON.stringify(attrs)} missing`)
  return p.value
}

test('one batch callback; semantic-convention names, units and attributes; no nodejs.eventloop.*', async () => {
  const { metrics, handle, calls } = await collect(() => sleep(30))
  assert.equal(calls, 1, 'exactly one addBatchObservableCallback')
  assert.deepEqual([...metrics.keys()].sort(), handle.instruments.slice().sort())
  const want = {
    'process.unix.file_descriptor.count': ['{file_descriptor}', 'OBSERVABLE_UP_DOWN_COUNTER'],
    'process.thread.count': ['{thread}', 'OBSERVABLE_UP_DOWN_COUNTER'],
    'process.context_switches': ['{context_switch}', 'OBSERVABLE_COUNTER'],
    'process.paging.faults': ['{fault}', 'OBSERVABLE_COUNTER'],
    'process.disk.io': ['By', 'OBSERVABLE_COUNTER'],
    'kernelscope.eventloop.wait.duration': ['s', 'OBSERVABLE_COUNTER'],
    'kernelscope.file_descriptor.count': ['{file_descriptor}', 'OBSERVABLE_UP_DOWN_COUNTER'],
    'kernelscope.socket.queue.size': ['By', 'OBSERVABLE_UP_DOWN_COUNTER'],
    'kernelscope.thread.count': ['{thread}', 'OBSERVABLE_UP_DOWN_COUNTER']
  }
  for (const [name, [unit, type]] of Object.entries(want)) {
    const m = metrics.get(name)
    assert.ok(m, `${name} collected`)
    assert.equal(m.descriptor.unit, unit, name)
    assert.equal(m.descriptor.type, type, name)
  }
  for (const name of metrics.keys()) {
    assert.ok(name.startsWith('process.') || name.startsWith('kernelscope.'), name)
    assert.ok(!name.startsWith('nodejs.'), name)
  }
  const cs = metrics.get('process.context_switches')
  assert.deepEqual(cs.dataPoints.map((d) => d.attributes['process.context_switch.type']).sort(), ['involuntary', 'voluntary'])
  const status = procFields('/proc/self/status')
  assert.ok(point(cs, { 'process.context_switch.type': 'voluntary' }) >= status.voluntary_ctxt_switches)
  const pf = metrics.get('process.paging.faults')
  assert.deepEqual(pf.dataPoints.map((d) => d.attributes['system.paging.fault.type']).sort(), ['major', 'minor'])
  const q = metrics.get('kernelscope.socket.queue.size')
  assert.deepEqual(q.dataPoints.map((d) => d.attributes['network.io.direction']).sort(), ['receive', 'transmit'])
  const byType = metrics.get('kernelscope.file_descriptor.count')
  assert.ok(byType.dataPoints.every((d) => typeof d.attributes['kernelscope.file_descriptor.type'] === 'string'))
  // the total is the sum by type
  const total = point(metrics.get('process.unix.file_descriptor.count'))
  assert.equal(byType.dataPoints.reduce((s, d) => s + d.value, 0), total)
  assert.equal(point(metrics.get('process.thread.count')), fs.readdirSync('/proc/self/task').length)
  // no attribute anywhere carries an address or a port
  for (const m of metrics.values()) {
    for (const d of m.dataPoints) {
      for (const [k, v] of Object.entries(d.attributes)) {
        assert.ok(!/address|port|peer/.test(k), `${m.descriptor.name} has ${k}`)
        assert.ok(!/\d+\.\d+\.\d+\.\d+|:\d+$/.test(String(v)), `${m.descriptor.name} ${k}=${v}`)
      }
    }
  }
})

test('values follow the process: a timer wait, open files, and close() stops observing', async () => {
  const files = []
  let busy = 0
  const { metrics } = await collect(async () => {
    const busy0 = notBlockedS()
    await sleep(120)
    busy = notBlockedS() - busy0
    for (let i = 0; i < 50; i++) files.push(fs.openSync('/proc/self/stat', 'r'))
  })
  try {
    const waited = point(metrics.get('kernelscope.eventloop.wait.duration'))
    // less the part of the 120 ms the loaded machine kept this thread running or runnable
    assert.ok(waited >= 0.12 - busy - 0.01 && waited < 5, `waited ${waited} s, ${busy} s of the 120 ms running or runnable`)
    assert.ok(point(metrics.get('kernelscope.file_descriptor.count'), { 'kernelscope.file_descriptor.type': 'file' }) >= 50)
  } finally {
    for (const fd of files) fs.closeSync(fd)
  }
  assert.throws(() => ks.opentelemetry({ meter: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.opentelemetry(), { code: 'ERR_INVALID_ARG_TYPE' })
})
