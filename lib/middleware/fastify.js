'use strict'
// kernelscope/fastify: `fastify.register(require('kernelscope/fastify'), options)`. onRequest
// opens one operation per request (explained, or only timed) (the rest of the request runs inside it); with
// serverTiming onSend closes it and sets the header, else onResponse closes it; onResponse logs
// a slow request (request.log by default); request.<field> holds the report (null until then).

const { middlewareOptions, logObject, log, serverTimingValue, track, handle, keyOf, timedReport } = require('./core')

// request[kTrack] of a request only timed: fastify times it (reply.elapsedTime, from the clock
// reads it makes anyway for an onResponse hook), so it needs no operation of its own
const TIMED = Object.freeze({ timed: true })

function plugin (fastify, options, done) {
  const { logger, ...rest } = options || {}
  const o = middlewareOptions(rest)
  if (logger !== undefined) middlewareOptions({ logger })
  const field = o.field
  // the request's operation, on the request itself (a decorator: no shape change, no WeakMap)
  const kTrack = Symbol('kernelscope.operation')
  fastify.decorateRequest(field, null)
  fastify.decorateRequest(kTrack, null)
  const gate = o.gate
  // fastify >= 4.25 has reply.elapsedTime (looked for once, on the first request)
  let timedByFastify = o.serverTiming ? false : null
  fastify.addHook('onRequest', (request, reply, next) => {
    if (timedByFastify === null) timedByFastify = 'elapsedTime' in reply
    if (timedByFastify && !gate.explainsRequest(request.method, request.url)) {
      request[kTrack] = TIMED
      return next()
    }
    const h = handle()
    request[kTrack] = h
    track(`${request.method} ${request.url}`, next, h, o, keyOf(request.method, request.url))
  })
  if (o.serverTiming) {
    // The header must be set before the payload goes: the operation closes here.
    fastify.addHook('onSend', (request, reply, payload, next) => {
      const h = request[kTrack]
      if (h === null) return next(null, payload)
      h.onReport((report) => {
        request[field] = report
        if (report !== null) {
          try { reply.header('Server-Timing', serverTimingValue(report)) } catch {}
        }
        next(null, payload)
      })
      h.end()
    })
  }
  // One hook less per request without serverTiming: the operation closes at onResponse.
  fastify.addHook('onResponse', (request, reply, next) => {
    const h = request[kTrack]
    if (h === null) return next()
    if (h === TIMED) {
      const report = timedReport(`${request.method} ${request.url}`, reply.elapsedTime)
      request[field] = report
      if (report.wallMs >= o.thresholdMs) {
        gate.slow(keyOf(request.method, request.url))
        const route = (request.routeOptions && request.routeOptions.url) || request.url
        log(logger === undefined ? request.log : logger, field, logObject({ method: request.method, route, status: reply.statusCode }, report))
      }
      return next()
    }
    h.onReport((report) => {
      request[field] = report
      if (report !== null && report.wallMs >= o.thresholdMs) {
        const route = (request.routeOptions && request.routeOptions.url) || request.url
        log(logger === undefined ? request.log : logger, field, logObject({ method: request.method, route, status: reply.statusCode }, report))
      }
      next()
    })
    h.end()
  })
  done()
}

let wrapped = null
function fastifyPlugin () {
  if (wrapped === null) {
    const fp = require('fastify-plugin')
    wrapped = fp(plugin, { fastify: '>=4', name: 'kernelscope' })
  }
  return wrapped
}

// fastify.register() reads the plugin's skip-override and metadata symbols from what it is
// given: export the fastify-plugin-wrapped function itself (fastify-plugin required lazily,
// on the first require of this file).
module.exports = fastifyPlugin()
module.exports.default = module.exports
module.exports.fastifyPlugin = module.exports
