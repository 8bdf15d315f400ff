'use strict'
// The middleware in real express, fastify and koa servers with a real pino logger: a route that
// reads a late FIFO and one that connects to a SYN-dropping listener are logged once with what
// they waited on; a fast route is not; Server-Timing parses as the W3C grammar; a logger that
// throws never breaks the response.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const { Writable } = require('node:stream')
const ks = require('..')
const services = require('../lib/cli/demo/services')

const THRESHOLD_MS = 150

/** A pino logger writing JSON lines into an array. */
function pinoInto (lines) {
  const pino = require('pino')
  const stream = new Writable({
    write (chunk, enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l))
      cb()
    }
  })
  return pino({ level: 'info' }, stream)
}

// W3C Server-Timing: #( metric-name *( OWS ";" OWS param ) ), param = token "=" ( token / quoted-string )
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+"
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t \\x21-\\x7e])*"'
const METRIC = new RegExp(`^(${TOKEN})((?:[ \\t]*;[ \\t]*${TOKEN}[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))*)$`)
function parseServerTiming (value) {
  const out = []
  // split on commas outside quoted strings
  const parts = value.match(new RegExp(`(?:${QUOTED}|[^,"])+`, 'g'))
  for (const raw of parts) {
    const m = METRIC.exec(raw.trim())
    assert.ok(m, `not a server-timing metric: ${JSON.stringify(raw)}`)
    const params = {}
    for (const p of m[2].matchAll(new RegExp(`;[ \\t]*(${TOKEN})[ \\t]*=[ \\t]*(${TOKEN}|${QUOTED})`, 'g'))) {
      params[p[1]] = p[2].startsWith('"') ? p[2].slice(1, -1).replace(/\\(.)/g, '$1') : p[2]
    }
    out.push({ name: m[1], ...params })
  }
  return out
}

function connectOnce (port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve() })
    s.on('error', reject)
  })
}

// Each framework: build(opts, routes) -> Promise<{ url, close() }>
const FRAMEWORKS = {
  async express (opts, routes) {
    const express = require('express')
    const app = express()
    app.use(ks.middleware(opts))
    for (const [p, fn] of Object.entries(routes)) app.get(p, async (req, res) => res.send(await fn()))
    return listen(app.listen(0, '127.0.0.1'))
  },
  async fastify (opts, routes) {
    const fastify = require('fastify')({ logger: false })
    await fastify.register(require('kernelscope/fastify'), opts)
    for (const [p, fn] of Object.entries(routes)) fastify.get(p, async () => fn())
    await fastify.listen({ port: 0, host: '127.0.0.1' })
    return { url: `http://127.0.0.1:${fastify.server.address().port}`, close: () => fastify.close() }
  },
  async koa (opts, routes) {
    const Koa = require('koa')
    const app = new Koa()
    app.use(require('kernelscope/koa')(opts))
    app.use(async (ctx) => {
      const fn = routes[ctx.path]
      if (fn) ctx.body = await fn()
      else ctx.status = 404
    })
    return listen(app.listen(0, '127.0.0.1'))
  },
  async http (opts, routes) {
    const http = require('node:http')
    const mw = ks.middleware(opts)
    const server = http.createServer(mw.wrap(async (req, res) => {
      const fn = routes[req.url.split('?')[0]]
      if (!fn) { res.statusCode = 404; res.end(); return }
      res.end(String(await fn()))
    }))
    return listen(server.listen(0, '127.0.0.1'))
  }
}

function listen (server) {
  return new Promise((resolve) => server.once('listening', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve) })
  })))
}

const entriesOf = (lines) => lines.filter((l) => l.kernelscope)

for (const name of Object.keys(FRAMEWORKS)) {
  test(`${name}: slow routes are logged once with their waits, a fast one is not; Server-Timing parses`, async () => {
    const lines = []
    const logger = pinoInto(lines)
    let fifo = null
    const queue = await services.fullAcceptQueue()
    const app = await FRAMEWORKS[name]({ logger, thresholdMs: THRESHOLD_MS, serverTiming: true, explain: 'always' }, {
      '/fifo': async () => { fifo.start(); return fs.promises.readFile(fifo.path, 'utf8') },
      '/connect': async () => { queue.startAccepting(300); await connectOnce(queue.port); return 'connected' },
      '/fast': async () => 'fast'
    })
    try {
      fifo = await services.lateFifo({ writeAfterMs: 400, start: false, data: 'late' })
      let r = await fetch(app.url + '/fifo')
      assert.equal(r.status, 200)
      assert.equal(await r.text(), 'late')
      const timing = parseServerTiming(r.headers.get('server-timing'))
      assert.equal(timing[0].name, 'ks')
      assert.ok(Number(timing[0].dur) >= 300, JSON.stringify(timing))
      const fsTiming = timing.find((t) => t.name === 'ks-fs' && t.desc === fifo.path)
      assert.ok(fsTiming && Number(fsTiming.dur) >= 250, JSON.stringify(timing))

      const t0 = performance.now()
      r = await fetch(app.url + '/connect')
      const connectMs = performance.now() - t0
      assert.equal(r.status, 200)
      assert.ok(connectMs >= 800 && connectMs < 3000, `connect took ${connectMs}`)
      assert.ok(parseServerTiming(r.headers.get('server-timing')).some((t) => t.name === 'ks-tcp-connect'))

      r = await fetch(app.url + '/fast')
      assert.equal(await r.text(), 'fast')
      assert.ok(parseServerTiming(r.headers.get('server-timing')).length >= 1)
      await new Promise((resolve) => setTimeout(resolve, 100))

      const logged = entriesOf(lines)
      assert.deepEqual(logged.map((l) => l.kernelscope.route), ['/fifo', '/connect'], JSON.stringify(logged))
      const [f, c] = logged.map((l) => l.kernelscope)
      assert.equal(f.method, 'GET')
      assert.equal(f.status, 200)
      assert.ok(f.wallMs >= 300 && f.wallMs < 3000, `fifo wall ${f.wallMs}`)
      const fsPart = f.breakdown.find((b) => b.kind === 'fs' && b.target === fifo.path)
      assert.ok(fsPart, JSON.stringify(f.breakdown))
      assert.ok(fsPart.ms >= 250 && fsPart.ms <= f.wallMs, `fs ${fsPart.ms}`)
      assert.ok(fsPart.evidence && typeof fsPart.evidence === 'object')
      const tcp = c.breakdown.find((b) => b.kind === 'tcp-connect')
      assert.ok(tcp, JSON.stringify(c.breakdown))
      assert.equal(tcp.target, queue.address)
      assert.ok(tcp.ms >= 700 && tcp.ms < 3000, `tcp-connect ${tcp.ms}`)
      assert.equal(logged[0].level, 40, 'logged at warn')
    } finally {
      await app.close()
      if (fifo) await fifo.close()
      await queue.close()
    }
  })

  test(`${name}: a logger that throws never breaks the response; off by default, no header`, async () => {
    const logger = { warn () { throw new Error('logger down') }, info () { throw new Error('logger down') } }
    const app = await FRAMEWORKS[name]({ logger, thresholdMs: 0, explain: 'always' }, {
      '/wait': () => new Promise((resolve) => setTimeout(() => resolve('waited'), 30))
    })
    try {
      for (let i = 0; i < 3; i++) {
        const r = await fetch(app.url + '/wait')
        assert.equal(r.status, 200)
        assert.equal(await r.text(), 'waited')
        assert.equal(r.headers.get('server-timing'), null)
      }
    } finally {
      await app.close()
    }
  })
}

test('fastify: request.kernelscope is null until the operation closes, then the report; request.log by default', async () => {
  const lines = []
  const fastify = require('fastify')({ loggerInstance: pinoInto(lines) })
  await fastify.register(require('kernelscope/fastify'), { thresholdMs: 20, explain: 'always' })
  let during
  fastify.get('/slow', async (request) => {
    during = request.kernelscope
    await new Promise((resolve) => setTimeout(resolve, 60))
    return 'ok'
  })
  let after
  fastify.addHook('onResponse', async (request) => { after = request.kernelscope })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  try {
    const r = await fetch(`http://127.0.0.1:${fastify.server.address().port}/slow`)
    assert.equal(await r.text(), 'ok')
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(during, null)
    assert.equal(after.name, 'GET /slow')
    assert.ok(after.wallMs >= 50)
    const logged = entriesOf(lines)
    assert.equal(logged.length, 1)
    assert.equal(logged[0].kernelscope.route, '/slow')
    assert.ok(logged[0].reqId !== undefined, 'logged through request.log (carries reqId)')
  } finally {
    await fastify.close()
  }
})

test('fastify, explain: always: a request under thresholdMs gets the brief report (no breakdown built) unless serverTiming wants it', async () => {
  for (const serverTiming of [false, true]) {
    const fastify = require('fastify')({ logger: false })
    await fastify.register(require('kernelscope/fastify'), { thresholdMs: 200, explain: 'always', serverTiming, logger: { warn () {} } })
    const seen = []
    fastify.get('/fast', async () => 'fast')
    fastify.get('/slow', async () => { await new Promise((resolve) => setTimeout(resolve, 250)); return 'slow' })
    fastify.addHook('onResponse', (request, reply, done) => { seen.push(request.kernelscope); done() })
    await fastify.listen({ port: 0, host: '127.0.0.1' })
    try {
      const base = `http://127.0.0.1:${fastify.server.address().port}`
      assert.equal(await (await fetch(base + '/fast')).text(), 'fast')
      assert.equal(await (await fetch(base + '/slow')).text(), 'slow')
      const [fast, slowReport] = seen
      if (serverTiming) {
        assert.ok(Array.isArray(fast.breakdown), 'built for the header')
      } else {
        assert.deepEqual(Object.keys(fast).sort(), ['breakdown', 'explained', 'name', 'outcome', 'wallMs'])
        assert.equal(fast.breakdown, null)
        assert.equal(fast.explained, false)
        assert.equal(fast.outcome, 'ok')
        assert.equal(fast.name, 'GET /fast')
        assert.ok(fast.wallMs >= 0 && fast.wallMs < 200)
      }
      assert.ok(slowReport.wallMs >= 200)
      assert.ok(slowReport.breakdown.some((b) => b.kind === 'timer' && b.ms >= 150), JSON.stringify(slowReport.breakdown))
    } finally {
      await fastify.close()
    }
  }
})

for (const name of Object.keys(FRAMEWORKS)) {
  test(`${name}: by default a path is only timed until it has been slow once, then explained`, async () => {
    const lines = []
    const app = await FRAMEWORKS[name]({ logger: pinoInto(lines), thresholdMs: 100, serverTiming: true }, {
      '/slow': () => new Promise((resolve) => setTimeout(() => resolve('slow'), 150)),
      '/fast': async () => 'fast'
    })
    try {
      let r = await fetch(app.url + '/fast')
      assert.equal(r.headers.get('server-timing').split(',').length, 1, 'timed only: ks;dur')
      r = await fetch(app.url + '/slow?first')
      assert.equal(await r.text(), 'slow')
      assert.match(r.headers.get('server-timing'), /^ks;dur=\d/)
      r = await fetch(app.url + '/slow?second')
      assert.equal(await r.text(), 'slow')
      assert.ok(parseServerTiming(r.headers.get('server-timing')).some((t) => t.name === 'ks-timer'), r.headers.get('server-timing'))
      await new Promise((resolve) => setTimeout(resolve, 50))
      const logged = entriesOf(lines).map((l) => l.kernelscope)
      assert.equal(logged.length, 2, JSON.stringify(logged))
      assert.equal(logged[0].breakdown, null, 'the first slow request was only timed')
      assert.ok(logged[0].wallMs >= 130)
      const timer = logged[1].breakdown.find((b) => b.kind === 'timer')
      assert.ok(timer && timer.ms >= 100, JSON.stringify(logged[1].breakdown))
    } finally {
      await app.close()
    }
  })
}

test('middleware options are checked', () => {
  assert.throws(() => ks.middleware({ explain: 'sometimes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.middleware({ explainForMs: -5 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => ks.middleware({ thresholdMs: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => ks.middleware({ thresholdMs: '1' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.middleware({ logger: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.middleware({ serverTiming: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.middleware({ field: '' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.middleware().wrap(5), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => require('kernelscope/koa')(null), { code: 'ERR_INVALID_ARG_TYPE' })
})
