'use strict'
// The monitoring bot of the demo (SPEC section 8): 22 checks fired at once against local
// services that are slow in the kernel (services.js), each wrapped in ks.explain. While they
// run, one snapshot of the threads and the descriptors is taken (what is blocked where, which
// sockets are still connecting); at the end the loop monitor's waits.
//
// Every check declares what the test bed injected into it (`injected`: the kind of wait, its
// target, about how long; fromStart: the delay runs from the start of all checks, not of this
// one, whose startedAtMs says how much later it began) and every target it may legitimately touch (`own`): the demo prints
// what kernelscope found, and its test compares the two.

const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const dns = require('node:dns')
const http = require('node:http')
const path = require('node:path')
const { performance } = require('node:perf_hooks')
const services = require('./services')

const POOL_SIZE = 4 // the bot runs with UV_THREADPOOL_SIZE=4: four late FIFO reads fill the pool

// Injected delays (ms after the checks start). Only the timer check is due while the busy loop
// runs (250-600 ms); every other wait ends after it, so each check has one clear cause.
const FIFO_WRITERS = [['config', 700], ['feature-flags', 900], ['certs', 1100], ['inventory', 1300]]
const HTTP_SLOW = [['orders', 700], ['payments', 900], ['search', 1100]]
const HTTP_FAST = ['health', 'version']
const TCP_CHECKS = ['db-primary', 'cache', 'queue']
const DNS_CHECKS = 5
// The busy loop is a check of its own that starts 250 ms after the others (late enough that
// their connects are dispatched first) and is nothing but synchronous work.
const HOG = { afterMs: 250, ms: 350 }
const TIMER_MS = 270
const CHILD_MS = 700
const UPLOAD = { bytes: 8 * 2 ** 20, resumeAfterMs: 1000 }
const SNAPSHOT_AT_MS = 200

function httpGet (url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode, bytes: Buffer.byteLength(body) }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

function tcpConnect (port, host) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.destroy()
      socket.once('close', () => resolve({ connected: true }))
    })
  })
}

function upload (port, host, payload) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host })
    socket.once('error', reject)
    socket.once('connect', () => {
      // end() calls back once every byte is in the kernel's send queue, which the peer does
      // not drain until it starts reading.
      socket.end(payload, () => {
        socket.destroy()
        socket.once('close', () => resolve({ bytes: payload.length }))
      })
    })
  })
}

/** Starts the services; resolves with them and the 22 checks (not yet started). */
async function setUp () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-demo-'))
  const opened = []
  const keep = (s) => { opened.push(s); return s }
  try {
    const [listener, upstream, peer, hog, child] = await Promise.all([
      services.fullAcceptQueue().then(keep),
      services.slowHttp({ delayMs: 0 }).then(keep),
      services.stalledPeer({ resumeAfterMs: UPLOAD.resumeAfterMs }).then(keep),
      services.cpuHog({ ms: HOG.ms }).then(keep),
      services.slowChild({ ms: CHILD_MS }).then(keep)
    ])
    const fifos = []
    for (const [name, ms] of FIFO_WRITERS) {
      fifos.push(keep(await services.lateFifo({ dir, name: `${name}.fifo`, writeAfterMs: ms, data: `${name} v1\n`, start: false })))
    }
    const statDir = fs.mkdtempSync(path.join(dir, 'logs-'))
    const checks = []
    const add = (name, injected, own, run, startAfterMs = 0) => checks.push({ name, injected, own, run, startAfterMs })
    // allocated (and its pages touched) now, so the check's own work is the write
    const payload = Buffer.alloc(UPLOAD.bytes, 0x6b)

    FIFO_WRITERS.forEach(([name], i) => {
      const f = fifos[i]
      add(`file:${name}`, { kind: 'fs', target: f.path, ms: f.writeAfterMs, fromStart: true }, [f.path],
        () => fs.promises.readFile(f.path, 'utf8'))
    })
    for (let i = 1; i <= DNS_CHECKS; i++) {
      add(`dns:lookup-${i}`, { kind: 'threadpool-queue', target: 'localhost', ms: FIFO_WRITERS[0][1], fromStart: true }, ['localhost'],
        () => dns.promises.lookup('localhost'))
    }
    add('fs:stat-logs', { kind: 'threadpool-queue', target: statDir, ms: FIFO_WRITERS[0][1], fromStart: true }, [statDir],
      () => fs.promises.stat(statDir).then((s) => ({ isDirectory: s.isDirectory() })))
    for (const name of TCP_CHECKS) {
      add(`tcp:${name}`, { kind: 'tcp-connect', target: listener.address, ms: 1000 }, [listener.address],
        () => tcpConnect(listener.port, listener.host))
    }
    for (const [name, ms] of HTTP_SLOW) {
      add(`http:${name}`, { kind: 'socket-read', target: upstream.address, ms }, [upstream.address],
        () => httpGet(upstream.url(`/${name}?ms=${ms}`)))
    }
    for (const name of HTTP_FAST) {
      add(`http:${name}`, { kind: null, target: upstream.address, ms: 0 }, [upstream.address],
        () => httpGet(upstream.url(`/${name}?ms=0`)))
    }
    add('upload:metrics', { kind: 'socket-write', target: peer.address, ms: UPLOAD.resumeAfterMs }, [peer.address],
      () => upload(peer.port, peer.host, payload))
    add('cpu:render-report', { kind: 'cpu', target: null, ms: HOG.ms }, [],
      () => { const r = hog.spin(); return { busyMs: r.endMs - r.startMs } }, HOG.afterMs)
    // Added after the busy loop so that the busy loop's start timer (250 ms) is armed before this
    // 270 ms one: it is then always due first, however long starting the checks in between takes
    // on a loaded machine, and the heartbeat is due while it spins.
    add('timer:heartbeat', { kind: 'event-loop-blocked', target: null, ms: HOG.afterMs + HOG.ms - TIMER_MS }, [],
      () => new Promise((resolve) => setTimeout(() => resolve({ timerMs: TIMER_MS }), TIMER_MS)))
    add('exec:backup', { kind: 'child-process', target: child.command.join(' '), ms: CHILD_MS }, [child.command.join(' ')],
      () => child.run())

    return {
      dir,
      checks,
      services: { listener, upstream, peer, hog, child, fifos },
      startClocks () {
        for (const f of fifos) f.start()
      },
      async close () {
        await Promise.all(opened.map((s) => s.close()))
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await Promise.all(opened.map((s) => s.close()))
    fs.rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

/**
 * One of each kind of call, against fast targets, before the checks: a bot that has been running
 * has loaded its code paths (the first fs.promises.readFile alone costs ~20 ms of module loading
 * on the event loop), and the checks then start together.
 */
async function warmUp (ks, bed) {
  const { upstream } = bed.services
  await ks.explain('warm-up', () => Promise.all([
    fs.promises.readFile(__filename, 'utf8'),
    fs.promises.stat(bed.dir),
    dns.promises.lookup('localhost'),
    httpGet(upstream.url('/warm-up?ms=0')),
    tcpConnect(upstream.port, upstream.host),
    new Promise((resolve) => setTimeout(resolve, 1))
  ]))
}

/** Counts of descriptors by type, and sockets by protocol and state. */
function summarizeFds (entries) {
  const byType = {}
  const sockets = {}
  for (const e of entries) {
    byType[e.type] = (byType[e.type] || 0) + 1
    if (e.type === 'socket' && e.socket) {
      const key = `${e.socket.protocol || e.socket.family} ${e.socket.state || '?'}`
      sockets[key] = (sockets[key] || 0) + 1
    }
  }
  return { total: entries.length, byType, sockets }
}

function threadRows (list) {
  return list.map((t) => ({
    tid: t.tid,
    name: t.name,
    role: t.role,
    state: t.state,
    syscall: t.syscall ? t.syscall.name : null,
    target: t.syscall ? t.syscall.target : null,
    wchan: t.wchan
  }))
}

/**
 * Runs the bot: ks is the kernelscope module. onProgress(event) sees { type: 'services' },
 * { type: 'start', count }, { type: 'done', name, wallMs, done, count }, { type: 'snapshot' }.
 */
async function run (ks, { onProgress = () => {} } = {}) {
  const bed = await setUp()
  onProgress({ type: 'services', services: describeServices(bed) })
  await warmUp(ks, bed)
  const monitor = ks.monitorLoop()
  let snapshot = null
  let results
  let loop = null
  // How long starting the checks held the event loop (a loaded machine stretches it, and
  // every check's callbacks wait for it): the synchronous part, and the first setImmediate.
  const startup = { syncMs: null, firstImmediateMs: null }
  try {
    const count = bed.checks.length
    let done = 0
    onProgress({ type: 'start', count })
    const t0 = performance.now()
    bed.startClocks()
    const snap = new Promise((resolve) => {
      setTimeout(() => {
        const atMs = performance.now() - t0
        snapshot = { atMs, threads: threadRows(ks.threads()), fds: summarizeFds(ks.fdsSync()) }
        onProgress({ type: 'snapshot', atMs })
        resolve()
      }, SNAPSHOT_AT_MS)
    })
    const explainOne = (c) => { c.startedAtMs = performance.now() - t0; return ks.explain(c.name, c.run) }
    const later = (c) => new Promise((resolve) => setTimeout(resolve, c.startAfterMs)).then(() => explainOne(c))
    const running = bed.checks.map((c) => (c.startAfterMs > 0 ? later(c) : explainOne(c)).then((r) => {
      done++
      onProgress({ type: 'done', name: c.name, wallMs: r.report.wallMs, done, count })
      return { name: c.name, startedAtMs: c.startedAtMs, injected: c.injected, own: c.own, value: r.value, error: r.error, report: r.report }
    }))
    startup.syncMs = performance.now() - t0
    // The SYNs of the tcp checks have been sent (their connect() ran in a nextTick): the
    // listener may start accepting; each dropped SYN gets through on its retransmission.
    setImmediate(() => {
      startup.firstImmediateMs = performance.now() - t0
      bed.services.listener.startAccepting(250)
    })
    results = await Promise.all(running)
    await snap
  } finally {
    loop = { stats: monitor.stats(), history: monitor.history() }
    monitor.close()
    await bed.close()
  }
  const workers = snapshot.threads.filter((t) => t.role === 'libuv-worker').length
  return {
    node: process.version,
    pid: process.pid,
    threadpoolSize: POOL_SIZE,
    threadpoolWorkersSeen: workers,
    startup,
    services: describeServices(bed),
    checks: results.map((r) => ({
      name: r.name,
      startedAtMs: r.startedAtMs,
      injected: r.injected,
      own: r.own,
      outcome: r.report.outcome,
      error: r.error ? { message: r.error.message, code: r.error.code } : null,
      report: r.report
    })),
    loop,
    snapshot
  }
}

function describeServices (bed) {
  const s = bed.services
  return {
    dir: bed.dir,
    listener: { address: s.listener.address, backlog: s.listener.backlog, queued: s.listener.queued, pid: s.listener.pid },
    upstream: { address: s.upstream.address, pid: s.upstream.pid },
    peer: { address: s.peer.address, resumeAfterMs: s.peer.resumeAfterMs, pid: s.peer.pid },
    fifos: s.fifos.map((f) => ({ path: f.path, writeAfterMs: f.writeAfterMs })),
    hog: { afterMs: HOG.afterMs, ms: HOG.ms },
    child: { command: s.child.command, ms: s.child.ms },
    upload: { bytes: UPLOAD.bytes }
  }
}

module.exports = { run, POOL_SIZE }
