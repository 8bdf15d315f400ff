'use strict'
// A test bed of local services with real kernel-level slowness (see docs and the test bed
// notes): the demo's monitoring bot checks them, and tests use them to produce the waits that
// attribution must name. Loopback only, no root.
//
// Every factory is async and resolves once the service is ready; every result has close(),
// which resolves only once everything the service made is gone (child processes reaped,
// sockets closed, FIFOs unlinked). Services with a network endpoint run in a child process of
// their own (lib/cli/demo/host.js), so their timers do not wait on the client's event loop and
// their sockets do not show in the client's descriptors.
//
//   fullAcceptQueue()            TCP listener whose accept queue is full: SYNs are dropped
//   lateFifo({ openAfterMs, writeAfterMs, data })   a FIFO whose writer comes late
//   blockPool({ threads, holdMs })  threadpool workers blocked reading late FIFOs
//   stalledPeer({ resumeAfterMs })  a TCP peer that does not read
//   slowHttp({ delayMs })        an HTTP server that answers late (?ms=N per request)
//   cpuHog({ ms })               a synchronous busy loop in this process's event loop
//   slowChild({ ms })            a child process that takes ms to exit

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { invalidArgType, outOfRange } = require('../../errors')

const HOST_SCRIPT = path.join(__dirname, 'host.js')
const KILL_AFTER_MS = 2000

function checkMs (name, value, { optional = false } = {}) {
  if (value === undefined && optional) return
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isFinite(value) || value < 0 || value > 3600000) throw outOfRange(name, '>= 0 and <= 3600000', value)
}

function checkOptions (options) {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  return options
}

const closedOf = new WeakMap()

/** CLOCK_MONOTONIC in ms, the same in every process on the machine. */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6

// The late FIFO writer: argv openAfterMs waitMs file. It waits for a line with the start time
// (CLOCK_MONOTONIC ms), opens the FIFO for writing openAfterMs after it (the open returns once a
// reader has it open), writes $KS_FIFO_DATA waitMs after the open returned, and exits. A stdin
// closed before any line: it exits at once.
const FIFO_WRITER = `'use strict'
const fs = require('node:fs')
const openAfterMs = Number(process.argv[1])
const waitMs = Number(process.argv[2])
const file = process.argv[3]
const mono = () => Number(process.hrtime.bigint()) / 1e6
let line = ''
let started = false
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => {
  if (started) return
  line += d
  if (!line.includes('\\n')) return
  started = true
  const t0 = Number(line.trim())
  const from = Number.isFinite(t0) ? t0 : mono()
  setTimeout(() => {
    let fd
    try { fd = fs.openSync(file, 'w') } catch { process.exit(1) }
    setTimeout(() => {
      try { fs.writeSync(fd, process.env.KS_FIFO_DATA || '') } catch {}
      fs.closeSync(fd)
      process.exit(0)
    }, waitMs)
  }, Math.max(0, from + openAfterMs - mono()))
})
process.stdin.on('end', () => { if (!started) process.exit(0) })
process.stdin.on('error', () => {})
process.stdout.write('ready\\n')
`

/** Spawns and remembers a promise of the child's 'close' (exited, stdio closed). */
function spawnTracked (cmd, args, opts) {
  const child = spawn(cmd, args, opts)
  closedOf.set(child, new Promise((resolve) => {
    child.once('close', resolve)
    child.once('error', () => { if (child.pid === undefined) resolve() })
  }))
  return child
}

/** Resolves once the child has exited and its stdio closed, killing it first if asked. */
function reap (child, signal) {
  const closed = closedOf.get(child)
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    if (signal) child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS)
    timer.unref()
    closed.then(() => clearTimeout(timer))
  }
  return closed
}

/** Starts host.js with a service kind; resolves with its ready line and the child. */
function startHost (kind, opts) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [HOST_SCRIPT, kind, JSON.stringify(opts)], {
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    let done = false
    child.stdin.on('error', () => {})
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => { err += d })
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      if (done) return
      out += d
      const nl = out.indexOf('\n')
      if (nl < 0) return
      done = true
      let info
      try {
        info = JSON.parse(out.slice(0, nl))
      } catch (e) {
        reap(child, 'SIGKILL').then(() => reject(new Error(`service ${kind}: bad ready line ${JSON.stringify(out)}`)))
        return
      }
      child.stdout.resume()
      resolve({ child, info })
    })
    child.on('error', (e) => { if (!done) { done = true; reject(e) } })
    child.on('exit', (code, signal) => {
      if (done) return
      done = true
      child.once('close', () => reject(new Error(`service ${kind} exited (${signal || code}) before it was ready: ${err.trim()}`)))
    })
  })
}

/** Closes a host: EOF on its stdin asks it to exit; SIGKILL if it has not after a while. */
function closeHost (h) {
  const p = reap(h.child)
  h.child.stdin.end()
  return p
}

/**
 * A TCP listener (in its own process) with backlog 1 whose accept queue holds two connections
 * it never accepts: the kernel drops the SYN of every further connect, and the client retransmits
 * it after its initial RTO (1 s). `startAccepting(afterMs)` makes the listener accept (and hold)
 * everything afterMs from now, so a connect made before it completes on the retransmitted SYN.
 */
async function fullAcceptQueue (options) {
  const o = checkOptions(options)
  const host = o.host === undefined ? '127.0.0.1' : o.host
  if (typeof host !== 'string') throw invalidArgType('options.host', 'of type string', host)
  const h = await startHost('full-accept-queue', { host })
  let started = false
  return {
    host,
    port: h.info.port,
    address: `${host}:${h.info.port}`,
    pid: h.info.pid,
    backlog: h.info.backlog,
    queued: h.info.queued,
    startAccepting (afterMs = 0) {
      checkMs('afterMs', afterMs)
      if (started) return
      started = true
      h.child.stdin.write(`${Math.round(afterMs)}\n`)
    },
    close: () => closeHost(h)
  }
}

/** An HTTP server (own process) answering each request after delayMs, or after ?ms=N. */
async function slowHttp (options) {
  const o = checkOptions(options)
  const delayMs = o.delayMs === undefined ? 500 : o.delayMs
  checkMs('options.delayMs', delayMs)
  const host = o.host === undefined ? '127.0.0.1' : o.host
  const h = await startHost('slow-http', { host, delayMs })
  return {
    host,
    port: h.info.port,
    address: `${host}:${h.info.port}`,
    pid: h.info.pid,
    delayMs,
    url: (p = '/') => `http://${host}:${h.info.port}${p}`,
    close: () => closeHost(h)
  }
}

/**
 * A TCP peer (own process) that accepts with pauseOnConnect and does not read: a client that
 * writes a few MB fills the peer's receive buffer and its own send buffer. With resumeAfterMs
 * it reads the first chunk a client sends, stops reading for resumeAfterMs, then drains.
 */
async function stalledPeer (options) {
  const o = checkOptions(options)
  const resumeAfterMs = o.resumeAfterMs === undefined ? null : o.resumeAfterMs
  if (resumeAfterMs !== null) checkMs('options.resumeAfterMs', resumeAfterMs)
  const host = o.host === undefined ? '127.0.0.1' : o.host
  const h = await startHost('stalled-peer', { host, resumeAfterMs })
  return {
    host,
    port: h.info.port,
    address: `${host}:${h.info.port}`,
    pid: h.info.pid,
    resumeAfterMs,
    close: () => closeHost(h)
  }
}

let fifoSeq = 0

/**
 * A FIFO whose writer (a `sh` child, outside this process) opens it openAfterMs after start and
 * writes `data` writeAfterMs after start, then closes it; written() resolves once it has exited. A reader (fs.readFile) meanwhile
 * blocks a libuv worker in openat (wchan wait_for_partner), then in read. The clock starts at
 * the factory call, or at start() with { start: false }. close() kills a writer still waiting,
 * lets a reader still blocked in open see EOF, and unlinks the FIFO.
 */
async function lateFifo (options) {
  const o = checkOptions(options)
  const writeAfterMs = o.writeAfterMs === undefined ? 300 : o.writeAfterMs
  checkMs('options.writeAfterMs', writeAfterMs)
  const openAfterMs = o.openAfterMs === undefined ? writeAfterMs : o.openAfterMs
  checkMs('options.openAfterMs', openAfterMs)
  if (openAfterMs > writeAfterMs) throw outOfRange('options.openAfterMs', `<= options.writeAfterMs (${writeAfterMs})`, openAfterMs)
  const data = o.data === undefined ? 'ok\n' : o.data
  if (typeof data !== 'string') throw invalidArgType('options.data', 'of type string', data)
  const name = o.name === undefined ? `late-${++fifoSeq}.fifo` : o.name
  if (typeof name !== 'string' || name.includes('/') || name === '' || name === '.' || name === '..') {
    throw invalidArgType('options.name', 'a file name (string without /)', name)
  }
  const dir = o.dir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-testbed-')) : o.dir
  const ownDir = o.dir === undefined
  const file = path.join(dir, name)
  await new Promise((resolve, reject) => {
    const c = spawnTracked('mkfifo', ['-m', '600', file], { stdio: 'ignore' })
    c.on('error', reject)
    c.on('close', (code) => code === 0 ? resolve() : reject(new Error(`mkfifo ${file} exited ${code}`)))
  })
  // The writer is a Node process spawned now (a spawn costs tens of ms in a big process, and a
  // `sleep` forked after the start was late by as much again on a loaded machine): it says when
  // it listens, and start() sends it the CLOCK_MONOTONIC time of the start, so its timers run
  // from that instant, however late the line reaches it.
  const writer = spawnTracked(process.execPath, ['-e', FIFO_WRITER, String(openAfterMs), String(writeAfterMs - openAfterMs), file], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { ...process.env, KS_FIFO_DATA: data }
  })
  writer.on('error', () => {})
  writer.stdin.on('error', () => {})
  const writerDone = closedOf.get(writer)
  await new Promise((resolve) => {
    // 'ready' once it listens; or it died (then start() writes to nobody, written() resolves)
    writer.stdout.once('data', resolve)
    writerDone.then(resolve)
  })
  writer.stdout.resume()
  let started = false
  function start () {
    if (started) return
    started = true
    writer.stdin.end(`${monotonicMs()}\n`)
  }
  if (o.start !== false) start()
  let closing = null
  return {
    path: file,
    /** The writer process's pid (it exits once it has written). */
    pid: writer.pid,
    openAfterMs,
    writeAfterMs,
    data,
    start,
    /** Resolves when the writer has written and exited. */
    written: () => writerDone,
    close () {
      if (closing) return closing
      closing = (async () => {
        await reap(writer, 'SIGKILL')
        // A reader blocked in open() has a partner now, and sees EOF once it is closed again.
        try {
          const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
          fs.closeSync(fd)
        } catch {}
        fs.rmSync(ownDir ? dir : file, { recursive: true, force: true })
      })()
      return closing
    }
  }
}

/**
 * Blocks `threads` libuv workers (default: UV_THREADPOOL_SIZE or 4) in fs.readFile of FIFOs
 * whose writers come holdMs later, so anything else needing the pool queues meanwhile.
 * `settled` resolves when all reads are done; close() ends them early and cleans up.
 */
async function blockPool (options) {
  const o = checkOptions(options)
  const threads = o.threads === undefined ? (Number(process.env.UV_THREADPOOL_SIZE) || 4) : o.threads
  if (typeof threads !== 'number') throw invalidArgType('options.threads', 'of type number', threads)
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw outOfRange('options.threads', 'an integer >= 1 and <= 1024', threads)
  const holdMs = o.holdMs === undefined ? 500 : o.holdMs
  checkMs('options.holdMs', holdMs)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-pool-'))
  const fifos = []
  try {
    for (let i = 0; i < threads; i++) fifos.push(await lateFifo({ dir, name: `pool-${i}.fifo`, writeAfterMs: holdMs, start: false }))
  } catch (err) {
    await Promise.all(fifos.map((f) => f.close()))
    fs.rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const reads = fifos.map((f) => {
    f.start()
    return fs.promises.readFile(f.path, 'utf8').then(() => {}, () => {})
  })
  const settled = Promise.all(reads).then(() => {})
  return {
    threads,
    holdMs,
    paths: fifos.map((f) => f.path),
    settled,
    async close () {
      await Promise.all(fifos.map((f) => f.close()))
      await settled
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * A CPU hog for this process's event loop: spin() busy-loops ms of wall time synchronously;
 * after(delayMs) spins in a timer callback delayMs from now and resolves with when it ran
 * (performance.now() ms). close() cancels a pending after().
 */
async function cpuHog (options) {
  const o = checkOptions(options)
  const ms = o.ms === undefined ? 200 : o.ms
  checkMs('options.ms', ms)
  const timers = new Set()
  function spin () {
    const { performance } = require('node:perf_hooks')
    const startMs = performance.now()
    const end = startMs + ms
    let x = 0
    while (performance.now() < end) for (let i = 0; i < 1000; i++) x += i
    return { startMs, endMs: performance.now(), spins: x > 0 }
  }
  return {
    ms,
    spin,
    after (delayMs = 0) {
      checkMs('delayMs', delayMs)
      return new Promise((resolve) => {
        const t = setTimeout(() => { timers.delete(t); const r = spin(); resolve({ startMs: r.startMs, endMs: r.endMs }) }, delayMs)
        timers.add(t)
      })
    },
    async close () {
      for (const t of timers) clearTimeout(t)
      timers.clear()
    }
  }
}

/**
 * A slow child process: run() spawns `sh -c 'sleep <ms/1000>'` (argv in `command`) and resolves
 * with { code, signal } once it has exited and its stdio closed. close() kills and reaps any
 * still running.
 */
async function slowChild (options) {
  const o = checkOptions(options)
  const ms = o.ms === undefined ? 300 : o.ms
  checkMs('options.ms', ms)
  const argv = ['sh', '-c', `sleep ${(ms / 1000).toFixed(3)}`]
  const running = new Set()
  return {
    ms,
    command: argv,
    run () {
      return new Promise((resolve, reject) => {
        const c = spawnTracked(argv[0], argv.slice(1), { stdio: 'ignore' })
        running.add(c)
        c.on('error', (err) => { running.delete(c); reject(err) })
        c.on('close', (code, signal) => { running.delete(c); resolve({ code, signal }) })
      })
    },
    async close () {
      await Promise.all([...running].map((c) => reap(c, 'SIGKILL')))
    }
  }
}

module.exports = { fullAcceptQueue, slowHttp, stalledPeer, lateFifo, blockPool, cpuHog, slowChild }
