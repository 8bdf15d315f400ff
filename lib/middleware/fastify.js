'use strict'
// kernelscope/fastify: `fastify.register(require('kernelscope/fastify'), options)`. onRequest
// opens one explained operation per request (the rest of the request runs inside it); with
// serverTiming onSend closes it and sets the header, else onResponse closes it; onResponse logs
// a slow request (request.log by default); request.<field> holds the report (null until then).

const { middlewareOptions, logObject, log, serverTimingValue, track, keyOf } = require('./core')

function plugin (fastify, options, done) {
  const { logger, ...rest } = options || {}
  const o = middlewareOptions(rest)
  if (logger !== undefined) middlewareOptions({ logger })
  const field = o.field
  const tracks = new WeakMap()
  fastify.decorateRequest(field, null)
  fastify.addHook('onRequest', (request, reply, next) => {
    tracks.set(request, track(`${request.method} ${request.url}`, next, undefined, o.gate, keyOf(request.method, request.url)))
  })
  if (o.serverTiming) {
    // The header must be set before the payload goes: the operation closes here.
    fastify.addHook('onSend', async (request, reply, payload) => {
      const t = tracks.get(request)
      if (t === undefined) return payload
      t.end()
      const report = await t.report
      request[field] = report
      if (report !== null) {
        try { reply.header('Server-Timing', serverTimingValue(report)) } catch {}
      }
      return payload
    })
  }
  // One hook less per request without serverTiming: the operation closes at onResponse.
  fastify.addHook('onResponse', async (request, reply) => {
    const t = tracks.get(request)
    if (t === undefined) return
    t.end()
    const report = await t.report
    request[field] = report
    if (report === null || report.wallMs < o.thresholdMs) return
    const route = (request.routeOptions && request.routeOptions.url) || request.url
    log(logger === undefined ? request.log : logger, field, logObject({ method: request.method, route, status: reply.statusCode }, report))
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
