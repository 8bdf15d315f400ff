'use strict'
// diagnostics_channel subscribers (≈0 cost: subscribed from the first explain until 1 s after
// the last one, and without an explain in flight a handler returns at once, the publisher
// having no operation in its AsyncLocalStorage): net.client.socket for the connect attempts of a
// socket (DNS-before-connect, per-IP attempts), http.client.* and undici:* for the wait on a
// response (socket-read), child_process for a child's argv. Each message is read in the
// publisher's async context, so the AsyncLocalStorage store names the operation.

const dc = require('node:diagnostics_channel')
const { als, now } = require('./hooks')
const { handleOf } = require('../node-internals')

function peerOf (socket) {
  if (socket && socket.remoteAddress) {
    const a = socket.remoteAddress
    return (a.includes(':') ? `[${a}]` : a) + ':' + socket.remotePort
  }
  return null
}

function hostPort (origin) {
  try {
    const u = new URL(origin)
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`
  } catch {
    return origin
  }
}

function add (op, rec) {
  for (let o = op; o !== null; o = o.parent) {
    if (!o.done) o.extra.push(rec)
  }
}

function onNetSocket (message) {
  const op = als.getStore()
  if (op === undefined) return
  const socket = message.socket
  const rec = { kind: 'connect-attempts', socket, attempts: [], lookupMs: null, host: null }
  add(op, rec)
  socket.once('lookup', (err, address, family, host) => {
    rec.lookupMs = now()
    rec.host = host ?? null
    if (err) rec.lookupError = err.code ?? String(err)
  })
  socket.on('connectionAttempt', (ip, port, family) => {
    rec.attempts.push({ address: ip, port, family, atMs: now(), error: null })
  })
  socket.on('connectionAttemptFailed', (ip, port, family, error) => {
    const a = rec.attempts.find((x) => x.address === ip && x.port === port && x.error === null)
    if (a !== undefined) a.error = (error && error.code) || 'error'
  })
}

function onHttpStart (message) {
  const op = als.getStore()
  if (op === undefined) return
  const request = message.request
  const rec = { kind: 'http', request, startMs: now(), headersMs: null, endMs: null, target: null, status: null }
  add(op, rec)
  request.once('response', (res) => {
    rec.headersMs = now()
    rec.status = res.statusCode
    rec.target = peerOf(request.socket) ?? rec.target
  })
  request.once('socket', (s) => { s.once('connect', () => { rec.target = peerOf(s) }) })
  rec.host = request.host ?? null
  rec.path = request.path ?? null
  rec.method = request.method ?? null
}

function onHttpFinish (message) {
  const request = message.request
  const op = als.getStore()
  const t = now()
  // the finish message may come from any context: find the request among running operations
  for (const o of live) {
    for (const r of o.extra) {
      if (r.kind === 'http' && r.request === request && r.endMs === null) {
        r.endMs = t
        r.target = peerOf(request.socket) ?? r.target
      }
    }
  }
  return op
}

const undiciRequests = new WeakMap()

function onUndiciCreate (message) {
  const op = als.getStore()
  if (op === undefined) return
  const rec = {
    kind: 'http',
    request: message.request,
    startMs: now(),
    headersMs: null,
    endMs: null,
    target: message.request && message.request.origin ? hostPort(String(message.request.origin)) : null,
    status: null,
    method: message.request && message.request.method,
    path: message.request && message.request.path
  }
  undiciRequests.set(message.request, rec)
  add(op, rec)
}

function onUndiciHeaders (message) {
  const rec = undiciRequests.get(message.request)
  if (rec === undefined) return
  rec.headersMs = now()
  rec.status = message.response && message.response.statusCode
}

function onUndiciEnd (message) {
  const rec = undiciRequests.get(message.request)
  if (rec === undefined) return
  rec.endMs = now()
}

function onUndiciConnected (message) {
  // the socket undici opened: its peer names the target of requests waiting on it
  const op = als.getStore()
  if (op === undefined || !message.socket) return
  for (const r of op.extra) {
    if (r.kind === 'http' && r.endMs === null && r.peer === undefined) r.peer = peerOf(message.socket)
  }
}

function onChild (message) {
  const op = als.getStore()
  if (op === undefined) return
  add(op, { kind: 'child', child: message.process, handle: message.process ? handleOf(message.process) : null })
}

const SUBS = [
  ['net.client.socket', onNetSocket],
  ['http.client.request.start', onHttpStart],
  ['http.client.response.finish', onHttpFinish],
  ['undici:request:create', onUndiciCreate],
  ['undici:request:headers', onUndiciHeaders],
  ['undici:request:trailers', onUndiciEnd],
  ['undici:request:error', onUndiciEnd],
  ['undici:client:connected', onUndiciConnected],
  ['child_process', onChild]
]

let subscribed = false
let live = null

function subscribe (liveOps) {
  live = liveOps
  if (subscribed) return
  for (const [name, fn] of SUBS) dc.subscribe(name, fn)
  subscribed = true
}

function unsubscribe () {
  if (!subscribed) return
  for (const [name, fn] of SUBS) dc.unsubscribe(name, fn)
  subscribed = false
}

module.exports = { subscribe, unsubscribe, peerOf }
