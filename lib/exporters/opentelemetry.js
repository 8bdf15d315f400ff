'use strict'
// opentelemetry(): kernelscope's metrics as observable instruments of an OpenTelemetry Meter,
// all read in ONE batch observable callback from one snapshot. Semantic-convention names,
// units and attributes where a convention exists (process.*), kernelscope.* otherwise; nothing
// @opentelemetry/instrumentation-runtime-node already reports (nodejs.eventloop.*), and no peer
// address ever becomes an attribute. The Meter is the caller's: @opentelemetry/api is not loaded.

const { METRICS, createSource, refusedByKernel } = require('../metrics')
const { LoopMonitor } = require('../probes/loop')
const { invalidArgType } = require('../errors')
const { optionsObject } = require('../validate')

const CREATE = {
  counter: 'createObservableCounter',
  updowncounter: 'createObservableUpDownCounter',
  gauge: 'createObservableGauge'
}

function attributesOf (otel, dims) {
  const map = otel.attributes
  if (!map) return {}
  const out = {}
  for (const k of Object.keys(map)) {
    const v = dims[k]
    const rename = otel.values && otel.values[k]
    out[map[k]] = rename && rename[v] !== undefined ? rename[v] : v
  }
  return out
}

/** Registers the instruments on `meter`; returns { instruments, close() }. */
function opentelemetry (options) {
  const opts = optionsObject(options)
  const meter = opts.meter
  if (meter === null || typeof meter !== 'object' || typeof meter.addBatchObservableCallback !== 'function' ||
    typeof meter.createObservableCounter !== 'function') {
    throw invalidArgType('options.meter', 'an OpenTelemetry Meter', meter)
  }
  if (opts.monitor !== undefined && opts.monitor !== false && !(opts.monitor instanceof LoopMonitor)) {
    throw invalidArgType('options.monitor', 'an instance of LoopMonitor or false', opts.monitor)
  }
  const source = createSource(opts.monitor, undefined)
  const snap = source.snap
  const used = []
  for (const def of METRICS) {
    if (def.otel === null) continue
    if (def.needs === 'loop' && !snap.hasLoop) continue
    const instrument = meter[CREATE[def.otel.instrument]](def.otel.name, {
      description: def.otel.note ? `${def.help} (${def.otel.note})` : def.help,
      unit: def.otel.unit
    })
    used.push({ def, instrument })
  }
  const callback = (result) => {
    const view = snap.view
    for (const { def, instrument } of used) {
      if (def.needs === 'loop' && !snap.hasLoop) continue
      // an instrument whose source the kernel refused this collection is left out of it
      let points
      try {
        points = def.type === 'histogram' ? null : def.values(view)
        if (points === null) result.observe(instrument, def.histogram(view).sumSeconds)
      } catch (err) {
        if (!refusedByKernel(err)) throw err
        continue
      }
      if (points !== null) for (const p of points) result.observe(instrument, p.value, attributesOf(def.otel, p.dims))
    }
  }
  const observables = used.map((u) => u.instrument)
  meter.addBatchObservableCallback(callback, observables)
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    meter.removeBatchObservableCallback(callback, observables)
    source.close()
  }
  return { instruments: used.map((u) => u.def.otel.name), close }
}

module.exports = { opentelemetry }
