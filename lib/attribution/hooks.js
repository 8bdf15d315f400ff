'use strict'
// Which explained operation owns each libuv request: an AsyncLocalStorage holds the operation,
// and an async_hooks `init` reads it for the request types that wait on something (fs, DNS,
// connect, writes, children, timers, sockets). `before` marks when a request's callback ran,
// `after` how long it ran. Enabled only while an explain is in flight; no destroy hook (it
// costs 5-10x); `trackPromises: false` where the running Node has it (detected by behaviour).

const { AsyncLocalStorage, createHook } = require('node:async_hooks')
const { pokeWaitSampler } = require('../probes/waits')

// performance.now() is uv_hrtime() minus a fixed origin: one subtraction away from the
// CLOCK_MONOTONIC milliseconds the sampler and process.hrtime() use.
const { performance } = require('node:perf_hooks')
// The origin is taken from the tightest of a few brackets performance.now() | hrtime |
// performance.now(): a thread preempted between two bare reads (a loaded machine) would put
// every JS time that much behind the sampler's, and a worker would seem to stay in its call after
// the loop saw it complete.
const ORIGIN = (() => {
  let best = Infinity
  let origin = 0
  for (let i = 0; i < 9; i++) {
    const a = performance.now()
    const h = Number(process.hrtime.bigint()) / 1e6
    const b = performance.now()
    if (b - a < best) { best = b - a; origin = h - (a + b) / 2 }
    if (best < 0.005) break
  }
  return origin
})()
const now = () => performance.now() + ORIGIN

/** libuv pool work: 'fs' | 'dns' (getaddrinfo, the capped "slow I/O" kind) | 'work'. */
const POOL = {
  FSREQCALLBACK: 'fs',
  FSREQPROMISE: 'fs',
  FILEHANDLECLOSEREQ: 'fs',
  GETADDRINFOREQWRAP: 'dns',
  GETNAMEINFOREQWRAP: 'dns',
  PBKDF2REQUEST: 'work',
  SCRYPTREQUEST: 'work',
  RANDOMBYTESREQUEST: 'work',
  RANDOMPRIMEREQUEST: 'work',
  CHECKPRIMEREQUEST: 'work',
  HASHREQUEST: 'work',
  KEYGENREQUEST: 'work',
  ZLIB: 'work'
}

/** The request types recorded, with the kind they explain. */
const KIND = {
  FSREQCALLBACK: 'fs',
  FSREQPROMISE: 'fs',
  FILEHANDLECLOSEREQ: 'fs',
  GETADDRINFOREQWRAP: 'dns',
  GETNAMEINFOREQWRAP: 'dns',
  QUERYWRAP: 'dns',
  TCPCONNECTWRAP: 'tcp-connect',
  PIPECONNECTWRAP: 'tcp-connect',
  WRITEWRAP: 'socket-write',
  SHUTDOWNWRAP: 'socket-write',
  PROCESSWRAP: 'child-process',
  Timeout: 'timer',
  TCPWRAP: 'socket',
  PBKDF2REQUEST: 'work',
  SCRYPTREQUEST: 'work',
  RANDOMBYTESREQUEST: 'work',
  RANDOMPRIMEREQUEST: 'work',
  CHECKPRIMEREQUEST: 'work',
  HASHREQUEST: 'work',
  KEYGENREQUEST: 'work',
  ZLIB: 'work'
}

const als = new AsyncLocalStorage()

let promiseFree = null
/** Whether createHook({ trackPromises: false }) really leaves promises out (Node 22.24+,
 * 24.14+, 25.6+): tried once, not read from the version. */
function hooksCanSkipPromises () {
  if (promiseFree === null) {
    let seen = false
    try {
      const h = createHook({ init (id, type) { if (type === 'PROMISE') seen = true }, trackPromises: false })
      h.enable()
      Promise.resolve()
      h.disable()
      promiseFree = !seen
    } catch {
      promiseFree = false
    }
  }
  return promiseFree
}

/**
 * The recorder: `records` maps asyncId -> request record while its callback has not run;
 * `pool` lists every pool request seen (any owner) for the scheduler model; `blockers`
 * lists callbacks that ran long (who kept the loop busy).
 */
const state = {
  records: new Map(),
  sockets: new Map(), // TCPWRAP asyncId -> socket record (reads), kept while explains run
  pool: [],
  blockers: [],
  current: null,
  currentAt: 0
}

/** Callbacks at least this long are kept as possible blockers of other operations. */
const BLOCKER_MS = 2

function owners (op, rec) {
  for (let o = op; o !== null; o = o.parent) {
    if (o.done) continue
    o.requests.push(rec)
  }
}

// fs requests carry no path, but fs.readFile's open does: the fd its ReadFileContext holds
// right after the open's callback names the file (/proc/self/fd/<fd>), which tells apart
// requests the sampler saw at the same times. (fs/promises: the FileHandle's init cannot be
// tied to its own open reliably, and reading its fd inside init crashes Node 20-24; those
// requests are matched by timing alone.)
const { readlinkSync } = require('node:fs')
const { fsReqFd } = require('../node-internals')

function pathOfFd (fd) {
  if (typeof fd !== 'number' || fd < 0) return null
  try {
    return readlinkSync(`/proc/self/fd/${fd}`)
  } catch {
    return null
  }
}

/** Whether an operation enclosing the (finished) `op` still runs. */
function ownedAfter (op) {
  for (let o = op.parent; o !== null; o = o.parent) if (!o.done) return true
  return false
}

function init (asyncId, type, triggerAsyncId, resource) {
  const kind = KIND[type]
  if (kind === undefined) return
  const op = als.getStore() ?? null
  const pool = POOL[type]
  if (op === null && pool === undefined) return
  if (op !== null && op.done && (kind === 'timer' || kind === 'socket') && !ownedAfter(op)) {
    // a timer or socket made after its operation (and every enclosing one) ended, e.g. the
    // keep-alive timeout an HTTP server arms as a response finishes: no report can use it,
    // and with no destroy hook it would be kept until the last explain ends
    return
  }
  const rec = {
    id: asyncId,
    type,
    kind,
    op,
    startMs: now(),
    endMs: null,
    resource,
    trigger: triggerAsyncId,
    pool: pool ?? null,
    lastReadMs: null,
    reads: 0,
    fdPath: null,
    evidence: null
  }
  if (kind === 'socket') {
    state.sockets.set(asyncId, rec)
    if (op !== null) owners(op, rec)
    return
  }
  state.records.set(asyncId, rec)
  if (pool !== undefined && pool !== null) {
    state.pool.push(rec)
    pokeWaitSampler()
  }
  if (op !== null) owners(op, rec)
  if (kind === 'tcp-connect' && op !== null) onConnectInit(rec)
}

let onDone = () => {}
let onConnectInit = () => {}

function before (asyncId) {
  const t = now()
  let rec = state.records.get(asyncId)
  if (rec !== undefined) {
    if (rec.endMs === null) {
      rec.endMs = t
      if (rec.op !== null && (rec.kind === 'tcp-connect' || rec.kind === 'socket-write')) onDone(rec)
    }
    if (rec.kind !== 'timer') state.records.delete(asyncId)
  } else {
    rec = state.sockets.get(asyncId)
    if (rec === undefined) return
    if (rec.op !== null && rec.op.endMs !== null) return
    rec.lastReadMs = t
    rec.reads++
  }
  state.current = rec
  state.currentAt = t
}

function after (asyncId) {
  const rec = state.current
  if (rec === null || rec.id !== asyncId) return
  const t = now()
  if (rec.pool === 'fs' && rec.fdPath === null) {
    if (rec.resource !== null) rec.fdPath = pathOfFd(fsReqFd(rec.resource))
  }
  const ms = t - state.currentAt
  if (rec.op !== null) {
    rec.op.callbackMs += ms
    rec.op.cpu.push(state.currentAt, t)
  }
  if (ms >= BLOCKER_MS) state.blockers.push({ op: rec.op, type: rec.type, fromMs: state.currentAt, toMs: t })
  state.current = null
}

let hook = null
let enabled = false

function enable (callbacks) {
  onDone = callbacks.onDone
  onConnectInit = callbacks.onConnectInit
  if (hook === null) {
    const h = { init, before, after }
    if (hooksCanSkipPromises()) h.trackPromises = false
    hook = createHook(h)
  }
  if (!enabled) {
    hook.enable()
    enabled = true
  }
}

function disable () {
  if (enabled) {
    hook.disable()
    enabled = false
  }
  als.disable()
  state.records.clear()
  state.sockets.clear()
  state.pool = []
  state.blockers = []
  state.current = null
}

/**
 * Forgets the requests of a finished operation that no running one owns (its report is built):
 * a timer that never fired (an HTTP server's keep-alive timeout, one per request), a socket, a
 * request whose callback has not run. Without a destroy hook nothing else would ever drop
 * them while explains keep running. A forgotten timer that fires later is not named as a
 * blocker of others.
 */
function forget (op) {
  for (const rec of op.requests) {
    let owned = false
    for (let o = rec.op; o !== null; o = o.parent) {
      if (!o.done) { owned = true; break }
    }
    if (owned) continue
    const map = rec.kind === 'socket' ? state.sockets : state.records
    if (map.get(rec.id) === rec) map.delete(rec.id)
  }
}

/** Forgets pool requests and blockers that ended before `ms` (no running explain needs them). */
function prune (ms) {
  if (state.pool.length > 256) state.pool = state.pool.filter((r) => r.endMs === null || r.endMs >= ms)
  if (state.blockers.length > 256) state.blockers = state.blockers.filter((b) => b.toMs >= ms)
}

module.exports = { als, state, now, enable, disable, prune, forget, hooksCanSkipPromises, KIND, POOL }
