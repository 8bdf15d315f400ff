'use strict'
// What every framework's middleware shares: the options, one explained operation per request
// (attribute() from lib/attribution), the log line of a slow request and the Server-Timing
// header. The framework files only say when a request starts, ends and what its route is.

const { invalidArgType, outOfRange } = require('../errors')

let attributeFn = null
function attribute (name, fn, opts) {
  if (attributeFn === null) attributeFn = require('../attribution/explain').attribute
  return attributeFn(name, fn, opts)
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
  return { thresholdMs, logger, serverTiming, field }
}

/** The structured object logged for a slow request (pino-compatible: plain JSON values). */
function logObject (info, report) {
  return {
    method: info.method,
    route: info.route,
    status: info.status,
    wallMs: round(report.wallMs),
    outcome: report.outcome,
    breakdown: report.breakdown.filter((b) => b.ms > 0).map((b) => ({ kind: b.kind, target: b.target ?? null, ms: round(b.ms), evidence: b.evidence ?? null }))
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
  const big = report.breakdown.filter((b) => b.ms >= 0.1).sort((a, b) => b.ms - a.ms).slice(0, MAX_TIMING_ENTRIES)
  for (const b of big) {
    const name = 'ks-' + String(b.kind).replace(/[^A-Za-z0-9!#$%&'*+.^_`|~-]/g, '-')
    parts.push(b.target ? `${name};dur=${dur(b.ms)};desc=${quoted(b.target)}` : `${name};dur=${dur(b.ms)}`)
  }
  return parts.join(', ')
}

/** The handle of one request's operation: end() closes it; `report` resolves with its report. */
function handle () {
  let end
  const ended = new Promise((resolve) => { end = resolve })
  let resolveReport
  const report = new Promise((resolve) => { resolveReport = resolve })
  return { end, report, ended, resolveReport }
}

/**
 * Starts the explained operation of one request; `run` is called inside it (synchronously), so
 * the handler's work is owned by the operation. Returns the handle (given one, fills it).
 */
function track (name, run, h = handle()) {
  let started = false
  try {
    attribute(name, () => { started = true; run(); return h.ended }, { onReport: h.resolveReport })
  } catch (err) {
    if (started) throw err // the handler threw: the framework's error handling takes it
    // attribution unavailable (no addon on this platform): the request runs unobserved.
    h.resolveReport(null)
    run()
  }
  return h
}

module.exports = { middlewareOptions, logObject, log, serverTimingValue, track, handle, quoted }
