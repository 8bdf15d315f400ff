'use strict'
// kernelscope/koa: `app.use(require('kernelscope/koa')(options))`, an async (ctx, next)
// middleware; the downstream middleware run inside one explained operation per request.

const { middlewareOptions, logObject, log, serverTimingValue, track, handle, keyOf } = require('./core')

function koa (options) {
  const o = middlewareOptions(options)
  return async function kernelscope (ctx, next) {
    let downstream
    const t = track(`${ctx.method} ${ctx.url}`, () => { downstream = next() }, handle(), o, keyOf(ctx.method, ctx.url))
    try {
      await downstream
    } finally {
      t.end()
      // known at once for a request only timed; a microtask or two later when explained
      const report = t.report !== undefined ? t.report : await new Promise((resolve) => t.onReport(resolve))
      if (report !== null) {
        if (o.serverTiming && !ctx.headerSent) {
          try { ctx.set('Server-Timing', serverTimingValue(report)) } catch {}
        }
        if (report.wallMs >= o.thresholdMs) {
          const emit = () => log(o.logger, o.field, logObject({ method: ctx.method, route: ctx._matchedRoute || ctx.path, status: ctx.status }, report))
          // The status is final once koa has responded.
          if (ctx.res.writableFinished) emit()
          else ctx.res.once('finish', emit).once('close', () => { if (!ctx.res.writableFinished) emit() })
        }
      }
    }
  }
}

module.exports = koa
module.exports.koa = koa
module.exports.default = koa
