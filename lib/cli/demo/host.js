'use strict'
// A local service with real kernel-level slowness, run as its own process so that its timers and
// its event loop are not the client's: `node host.js <kind> <json options>`. It prints one JSON
// line when ready ({ port, pid }), then serves until its stdin closes (the parent went away or
// closed it), and exits. Spawned by services.js; requires nothing of kernelscope.
//
// Kinds:
//   full-accept-queue  a TCP listener with backlog 1 whose accept queue is filled by two
//                      connections from a worker thread of its own while its event loop is
//                      blocked; the loop then stays blocked in a read of stdin,
//                      so it accepts nothing and the kernel drops every further SYN. A line
//                      "<ms>\n" on stdin makes it wait ms, then accept (and hold) everything.
//   slow-http          an HTTP server answering every request after delayMs (or ?ms=N).
//   stalled-peer       a TCP server that accepts with pauseOnConnect and never reads, or reads
//                      one chunk, stops for resumeAfterMs, then reads (and discards) the rest.

const net = require('node:net')
const http = require('node:http')
const fs = require('node:fs')

const kind = process.argv[2]
const opts = JSON.parse(process.argv[3] || '{}')
const host = opts.host || '127.0.0.1'
const held = new Set()

function ready (server, extra) {
  process.stdout.write(JSON.stringify({ port: server.address().port, pid: process.pid, ...extra }) + '\n')
}

function exitWhenStdinCloses () {
  process.stdin.on('data', () => {})
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
}

function hold (socket) {
  held.add(socket)
  socket.on('error', () => {})
  socket.on('close', () => held.delete(socket))
}

if (kind === 'full-accept-queue') {
  const { Worker } = require('node:worker_threads')
  const server = net.createServer({ pauseOnConnect: true }, hold)
  // backlog 1: the kernel queues up to backlog + 1 = 2 completed connections (Node turns a
  // backlog of 0 into its default, 511).
  server.listen({ host, port: 0, backlog: 1 }, () => {
    const port = server.address().port
    // The two connections that fill the queue come from a worker thread while this thread's
    // event loop is blocked: were it to run, it would accept them.
    const flag = new Int32Array(new SharedArrayBuffer(4))
    const filler = new Worker(`
      const net = require('node:net')
      const { workerData: { host, port, flag } } = require('node:worker_threads')
      let n = 0
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ host, port }, () => { if (++n === 2) { Atomics.store(flag, 0, 1); Atomics.notify(flag, 0) } })
        s.on('error', () => { Atomics.store(flag, 0, 2); Atomics.notify(flag, 0) })
      }`, { eval: true, workerData: { host, port, flag } })
    filler.on('error', () => {})
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 10000)
    if (Atomics.load(flag, 0) !== 1) {
      process.stderr.write('host.js: the filler connections failed\n')
      process.exit(1)
    }
    ready(server, { backlog: 1, queued: 2 })
    // Block the event loop (so nothing is accepted) until the parent says when to accept.
    const buf = Buffer.alloc(64)
    let line = ''
    while (!line.includes('\n')) {
      let n = 0
      try {
        n = fs.readSync(0, buf, 0, buf.length, null)
      } catch (err) {
        if (err.code === 'EAGAIN') continue
        process.exit(0)
      }
      if (n === 0) process.exit(0)
      line += buf.toString('utf8', 0, n)
    }
    const waitMs = Math.max(0, Number(line.trim()) || 0)
    if (waitMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, waitMs)
    exitWhenStdinCloses()
    // The loop now runs: the queued connections (and every retransmitted SYN) are accepted.
  })
} else if (kind === 'slow-http') {
  const delayMs = Number(opts.delayMs) || 0
  const server = http.createServer((req, res) => {
    const m = /[?&]ms=(\d+)/.exec(req.url)
    const ms = m ? Number(m[1]) : delayMs
    req.resume()
    const t = setTimeout(() => {
      const body = JSON.stringify({ ok: true, delayMs: ms }) + '\n'
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }, ms)
    res.on('close', () => clearTimeout(t))
  })
  server.keepAliveTimeout = 1000
  server.on('connection', hold)
  server.listen({ host, port: 0 }, () => { ready(server); exitWhenStdinCloses() })
} else if (kind === 'stalled-peer') {
  const resumeAfterMs = opts.resumeAfterMs == null ? null : Number(opts.resumeAfterMs)
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    hold(socket)
    if (resumeAfterMs === null) return
    // The stall is timed from the client's first bytes (not from the connection, which a busy
    // client may write on much later): read one chunk, stop reading for resumeAfterMs, drain.
    let t = null
    socket.once('data', () => {
      socket.pause()
      t = setTimeout(() => { socket.on('data', () => {}); socket.resume() }, resumeAfterMs)
    })
    socket.resume()
    socket.on('close', () => clearTimeout(t))
  })
  server.listen({ host, port: 0 }, () => { ready(server); exitWhenStdinCloses() })
} else {
  process.stderr.write(`host.js: unknown service kind ${JSON.stringify(kind)}\n`)
  process.exit(2)
}
