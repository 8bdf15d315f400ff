'use strict'
// ks.middleware(options): per-request attribution for node:http handlers, express and connect.
// `app.use(ks.middleware(opts))`, or `http.createServer(ks.middleware(opts).wrap(handler))`.
// Each request runs inside one explained operation; a request slower than thresholdMs is logged
// once with what it waited on; with serverTiming the response carries the breakdown.

const { performance } = require('node:perf_hooks')
const { middlewareOptions, logObject, log, serverTimingValue, track, handle: newHandle, keyOf, timedReport } = require('./core')

function routeOf (req) {
  if (req.route && typeof req.route.path === 'string') return (req.baseUrl || '') + req.route.path
  const url = req.originalUrl || req.url || ''
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function middleware (options) {
  const o = middlewareOptions(options)
  const logger = o.logger

  const gate = o.gate

  function handle (req, res, next) {
    const method = req.method
    const url = req.url
    if (!o.serverTiming && !gate.explainsRequest(method, url)) {
      // Only timed (the path has not been slow): two clock reads and one listener. 'close' is
      // the one event a response always emits (after 'finish', and when the connection goes
      // first); the report, the key and the name are made only for a slow request.
      const t0 = performance.now()
      res.on('close', () => {
        const wallMs = performance.now() - t0
        if (wallMs < o.thresholdMs) return
        gate.slow(keyOf(method, url))
        log(logger, o.field, logObject({ method, route: routeOf(req), status: res.statusCode }, timedReport(`${method} ${url}`, wallMs)))
      })
      next()
      return
    }
    // Everything that watches the response is in place before the handler runs (inside
    // track(), synchronously): a handler may end the response at once.
    const t = newHandle()
    // with serverTiming: the body held back until the report is known
    let send = null
    t.onReport((report) => {
      if (send !== null) {
        const s = send
        send = null
        s(report)
      }
      if (report === null || report.wallMs < o.thresholdMs) return
      const done = () => log(logger, o.field, logObject({ method, route: routeOf(req), status: res.statusCode }, report))
      if (res.writableFinished || res.destroyed) done()
      else { res.once('finish', done); res.once('close', () => { if (!res.writableFinished) done() }) }
    })
    const end = () => t.end()
    if (o.serverTiming) {
      // The header must go before the body: end() sends it once the report is known (at once
      // for a request only timed, a microtask or two after the operation closes otherwise).
      const origEnd = res.end
      res.end = function (...args) {
        res.end = origEnd
        if (res.headersSent) {
          end()
          return origEnd.apply(this, args)
        }
        const s = (report) => {
          try {
            if (report !== null && !res.headersSent) res.setHeader('Server-Timing', serverTimingValue(report))
          } catch {}
          origEnd.apply(res, args)
        }
        if (t.report !== undefined) s(t.report)
        else send = s
        end()
        return this
      }
    }
    // on, not once: end() is idempotent, and once() would wrap each listener
    res.on('finish', end)
    res.on('close', end)
    track(`${method} ${url}`, next, t, o, keyOf(method, url))
  }

  const none = () => {}
  // next is called with no arguments (handle() never passes any)
  function mw (req, res, next) {
    handle(req, res, typeof next === 'function' ? next : none)
  }
  /** A node:http request listener with attribution around `handler(req, res)`. */
  mw.wrap = function wrap (handler) {
    if (typeof handler !== 'function') {
      const { invalidArgType } = require('../errors')
      throw invalidArgType('handler', 'a function', handler)
    }
    return function (req, res) { handle(req, res, () => handler.call(this, req, res)) }
  }
  return mw
}

module.exports = { middleware, routeOf }
