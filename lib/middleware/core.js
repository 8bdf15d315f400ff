'use strict'
// What every framework's middleware shares: the options, one explained operation per request
// (attribute() from lib/attribution), the log line of a slow request and the Server-Timing
// header. The framework files only say when a request starts, ends and what its route is.

const { performance } = require('node:perf_hooks')
const { invalidArgType, outOfRange } = require('../errors')

let attributeFn = null
function attributeRequest (name, fn, onReport, briefUnderMs) {
  if (attributeFn === null) attributeFn = require('../attribution/explain').attributeRequest
  return attributeFn(name, fn, onReport, briefUnderMs)
}

const MAX_TIMING_ENTRIES = 8

/** Validated options; logger may be null (fastify then uses request.log). */
function middlewareOptions (options) {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  const thresholdMs = options.thresholdMs === undefined ? 500 : options.thresholdMs
  if (typeof thresholdMs !== 'number') throw invalidArgType('options.thresholdMs', 'of type number', thresholdMs)
  if (!(thresholdMs >= 0 && thresholdMs <= 3600000)) throw outOfRange('options.thresholdMs', '>= 0 and <= 3600000', thresholdMs)
  const logger = options.logger === undefined ? null : options.logger
  if (logger !== null && (typeof logger !== 'object' && typeof logger !== 'function')) throw invalidArgType('options.logger', 'an object with .warn or .info', logger)
  if (logger !== null && typeof logger.warn !== 'function' && typeof logger.info !== 'function') throw invalidArgType('options.logger', 'an object with .warn or .info', logger)
  const serverTiming = options.serverTiming === undefined ? false : options.serverTiming
  if (typeof serverTiming !== 'boolean') throw invalidArgType('options.serverTiming', 'of type boolean', serverTiming)
  const field = options.field === undefined ? 'kernelscope' : options.field
  if (typeof field !== 'string' || field === '') throw invalidArgType('options.field', 'a non-empty string', field)
  const explain = options.explain === undefined ? 'after-slow' : options.explain
  if (explain !== 'after-slow' && explain !== 'always') throw invalidArgType('options.explain', "'after-slow' or 'always'", explain)
  const explainForMs = options.explainForMs === undefined ? 60000 : options.explainForMs
  if (typeof explainForMs !== 'number') throw invalidArgType('options.explainForMs', 'of type number', explainForMs)
  if (!(explainForMs >= 0 && explainForMs <= 86400000)) throw outOfRange('options.explainForMs', '>= 0 and <= 86400000', explainForMs)
  const gate = new Gate(explain, explainForMs)
  gate.thresholdMs = thresholdMs
  return { thresholdMs, logger, serverTiming, field, gate }
}

const MAX_KEYS = 1000

/**
 * Which requests are explained. 'always': every one. 'after-slow' (default): a request is only
 * timed (two clock reads) until its method and path have been slow once; then that method and
 * path are explained for explainForMs. Explaining costs more than a fast route (async_hooks,
 * the wait sampler, the process's counters: bench/RESULTS.md).
 */
class Gate {
  constructor (mode, forMs) {
    this.always = mode === 'always'
    this.forMs = forMs
    this.until = new Map() // key -> performance.now() until which it is explained
  }

  explains (key) {
    if (this.always) return true
    if (this.until.size === 0) return false
    const t = this.until.get(key)
    if (t === undefined) return false
    if (performance.now() < t) return true
    this.until.delete(key)
    return false
  }

  /** explains(keyOf(method, url)), the key built only where some path is being explained. */
  explainsRequest (method, url) {
    if (this.always) return true
    if (this.until.size === 0) return false
    return this.explains(keyOf(method, url))
  }

  slow (key) {
    if (this.always) return
    if (this.until.size >= MAX_KEYS && !this.until.has(key)) this.until.clear()
    this.until.set(key, performance.now() + this.forMs)
  }
}

function keyOf (method, url) {
  const q = url.indexOf('?')
  return method + ' ' + (q < 0 ? url : url.slice(0, q))
}

/** The report of a request that was only timed (its route had not been slow before). */
function timedReport (name, wallMs) {
  return { name, wallMs, outcome: null, breakdown: null, explained: false }
}

/** The structured object logged for a slow request (pino-compatible: plain JSON values). */
function logObject (info, report) {
  return {
    method: info.method,
    route: info.route,
    status: info.status,
    wallMs: round(report.wallMs),
    outcome: report.outcome,
    // null: only timed ('after-slow': this method and path are explained from now on)
    breakdown: report.breakdown === null
      ? null
      : report.breakdown.filter((b) => b.ms > 0).map((b) => ({ kind: b.kind, target: b.target ?? null, ms: round(b.ms), evidence: b.evidence ?? null }))
  }
}

function round (ms) { return Math.round(ms * 1000) / 1000 }

/** Logs one object under `field`; a logger that throws never reaches the response. */
function log (logger, field, obj) {
  if (logger === null) return
  try {
    const fn = typeof logger.warn === 'function' ? logger.warn : logger.info
    fn.call(logger, { [field]: obj }, `slow request: ${obj.method} ${obj.route} ${Math.round(obj.wallMs)} ms`)
  } catch {}
}

// RFC 9110 quoted-string: qdtext is HTAB, SP, 0x21, 0x23-0x5B, 0x5D-0x7E (and obs-text, which
// header values in Node may not carry); '"' and '\' as quoted-pairs; anything else %-escaped.
function quoted (s) {
  let out = '"'
  for (const ch of String(s)) {
    const c = ch.codePointAt(0)
    if (ch === '"' || ch === '\\') out += '\\' + ch
    else if (c === 0x25) out += '%25'
    else if (c === 0x09 || (c >= 0x20 && c <= 0x7e)) out += ch
    else out += encodeURIComponent(ch).replace(/[!'()*]/g, (x) => '%' + x.charCodeAt(0).toString(16).toUpperCase())
  }
  return out + '"'
}

function dur (ms) { return (Math.round(ms * 10) / 10).toString() }

/** W3C Server-Timing: `ks;dur=<wall>`, then the largest parts as `ks-<kind>;dur=…;desc="target"`. */
function serverTimingValue (report) {
  const parts = [`ks;dur=${dur(report.wallMs)}`]
  if (report.breakdown === null) return parts[0]
  const big = report.breakdown.filter((b) => b.ms >= 0.1).sort((a, b) => b.ms - a.ms).slice(0, MAX_TIMING_ENTRIES)
  for (const b of big) {
    const name = 'ks-' + String(b.kind).replace(/[^A-Za-z0-9!#$%&'*+.^_`|~-]/g, '-')
    parts.push(b.target ? `${name};dur=${dur(b.ms)};desc=${quoted(b.target)}` : `${name};dur=${dur(b.ms)}`)
  }
  return parts.join(', ')
}

const noop = () => {}

/**
 * One request's operation: `end()` closes it (idempotent); `onReport(fn)` has `fn` called once
 * with its report (null where attribution is unavailable) — at once when it is known,
 * synchronously from end() for a request that is only timed, a microtask or two after end()
 * for an explained one. One listener at a time; no promise is made for a request.
 */
class RequestHandle {
  constructor () {
    this.end = noop
    this.report = undefined
    this.listener = null
  }

  deliver (report) {
    if (this.report !== undefined) return
    this.report = report
    const fn = this.listener
    if (fn !== null) {
      this.listener = null
      fn(report)
    }
  }

  onReport (fn) {
    if (this.report !== undefined) fn(this.report)
    else this.listener = fn
  }
}

function handle () {
  return new RequestHandle()
}

/**
 * Starts the operation of one request into `h`; `run` is called inside it (synchronously), so
 * the handler's work is owned by the operation. `o`: middlewareOptions(); `key`: keyOf().
 * Only timed (o.gate): two clock reads. Explained: attribute(); a request faster than
 * thresholdMs gets the brief report (no breakdown is built) unless serverTiming wants one.
 */
function track (name, run, h, o, key) {
  const gate = o.gate
  if (!gate.explains(key)) {
    const t0 = performance.now()
    let open = true
    h.end = () => {
      if (!open) return
      open = false
      const report = timedReport(name, performance.now() - t0)
      if (report.wallMs >= gate.thresholdMs) gate.slow(key)
      h.deliver(report)
    }
    run()
    return h
  }
  let started = false
  let close = noop
  const ended = new Promise((resolve) => { close = resolve })
  h.end = () => close()
  try {
    attributeRequest(name, () => { started = true; run(); return ended }, (report) => h.deliver(report), o.serverTiming ? -1 : o.thresholdMs)
  } catch (err) {
    if (started) throw err // the handler threw: the framework's error handling takes it
    // attribution unavailable (no addon on this platform): the request runs unobserved.
    h.end = noop
    h.deliver(null)
    run()
  }
  return h
}

module.exports = { middlewareOptions, logObject, log, serverTimingValue, track, handle, keyOf, timedReport, quoted, Gate, RequestHandle }
