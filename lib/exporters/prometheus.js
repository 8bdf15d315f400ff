'use strict'
// prometheus(): kernelscope_* pull collectors in a prom-client registry. Each family is a small
// registry-compatible metric object ({ name, help, type, get(), reset() }, what prom-client's
// Registry calls), not a subclass of prom-client's types: the values are read at scrape time
// from one shared snapshot, and the loop histograms come pre-bucketed from the LoopMonitor,
// which prom-client's Histogram cannot take.

const { METRICS, createSource, refusedByKernel } = require('../metrics')
const { LoopMonitor } = require('../probes/loop')
const { codedError, invalidArgType, outOfRange } = require('../errors')
const { optionsObject } = require('../validate')

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

function labelsOf (def, dims) {
  const map = def.prom.labels
  if (!map) return {}
  const out = {}
  for (const k of Object.keys(map)) out[map[k]] = dims[k]
  return out
}

class KernelscopeMetric {
  // private: a registry hands these objects out (getSingleMetric), their machinery stays unreachable
  #def
  #snap

  constructor (def, name, snap) {
    this.name = name
    this.help = def.help
    this.type = def.type
    // for prom-client's AggregatorRegistry (cluster): limits are the same in every worker
    this.aggregator = def.id === 'fd.limit' ? 'first' : def.type === 'gauge' && def.unit === '1' ? 'average' : 'sum'
    this.#def = def
    this.#snap = snap
  }

  get () {
    if (this === null || typeof this !== 'object' || !(#def in this)) {
      throw codedError('ERR_INVALID_THIS', 'Value of "this" must be a kernelscope metric', TypeError)
    }
    let values
    try {
      values = this.#values()
    } catch (err) {
      if (!refusedByKernel(err)) throw err
      values = [] // the kernel refused this family's source this scrape: the others are served
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  #values () {
    const def = this.#def
    if (def.type === 'histogram') {
      const h = def.histogram(this.#snap.view)
      const bounds = this.#snap.bounds
      const bucket = this.name + '_bucket'
      const out = new Array(bounds.length + 3)
      for (let i = 0; i < bounds.length; i++) out[i] = { metricName: bucket, labels: { le: bounds[i] }, value: h.counts[i] }
      out[bounds.length] = { metricName: bucket, labels: { le: '+Inf' }, value: h.count }
      out[bounds.length + 1] = { metricName: this.name + '_sum', labels: {}, value: h.sumSeconds }
      out[bounds.length + 2] = { metricName: this.name + '_count', labels: {}, value: h.count }
      return out
    }
    const points = def.values(this.#snap.view)
    return points.map((p) => ({ labels: labelsOf(def, p.dims), value: p.value }))
  }

  /** The values are the kernel's counters: nothing to reset. */
  reset () {}
}

function defaultRegistry () {
  try {
    return require('prom-client').register
  } catch (err) {
    const e = new Error('kernelscope.prometheus() without options.register needs prom-client (npm install prom-client)')
    e.code = 'ERR_KERNELSCOPE_PEER_MISSING'
    e.cause = err
    throw e
  }
}

/**
 * Adds kernelscope_* collectors to a prom-client registry. Returns { metrics, close() }; close()
 * (= unregister()) removes them and stops the loop monitor made for them.
 */
function prometheus (options) {
  const opts = optionsObject(options)
  const prefix = opts.prefix === undefined ? 'kernelscope_' : opts.prefix
  if (typeof prefix !== 'string') throw invalidArgType('options.prefix', 'of type string', prefix)
  if (prefix !== '' && !NAME_RE.test(prefix)) throw outOfRange('options.prefix', 'a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)', prefix)
  if (opts.monitor !== undefined && opts.monitor !== false && !(opts.monitor instanceof LoopMonitor)) {
    throw invalidArgType('options.monitor', 'an instance of LoopMonitor or false', opts.monitor)
  }
  let register = opts.register
  if (register === undefined) register = defaultRegistry()
  else if (register === null || typeof register !== 'object' || typeof register.registerMetric !== 'function' ||
    typeof register.removeSingleMetric !== 'function') {
    throw invalidArgType('options.register', 'a prom-client Registry', register)
  }
  const source = createSource(opts.monitor, opts.buckets)
  const names = []
  try {
    for (const def of METRICS) {
      if (def.prom === null) continue
      if (def.needs === 'loop' && !source.snap.hasLoop) continue
      const name = prefix + def.prom.name
      if (typeof register.getSingleMetric === 'function' && register.getSingleMetric(name) !== undefined) {
        const e = new Error(`A metric with the name ${name} has already been registered.`)
        e.code = 'ERR_KERNELSCOPE_METRIC_EXISTS'
        throw e
      }
      register.registerMetric(new KernelscopeMetric(def, name, source.snap))
      names.push(name)
    }
  } catch (err) {
    for (const n of names) register.removeSingleMetric(n)
    source.close()
    throw err
  }
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    for (const n of names) register.removeSingleMetric(n)
    source.close()
  }
  return { metrics: names.slice(), close, unregister: close }
}

module.exports = { prometheus }
