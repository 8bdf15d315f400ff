'use strict'
// explain() and attribute(): run an operation with its requests recorded (hooks.js,
// channels.js), the wait sampler on (lib/probes/waits.js) and the pool replayed (pool.js), then
// lay every millisecond of its wall time on one cause. See docs/explain.md.

const hooks = require('./hooks')
const channels = require('./channels')
const { replay, poolSize, dnsCap } = require('./pool')
const { startWaitSampler, stopWaitSampler, WaitReader } = require('../probes/waits')
const { kernelCountersInto } = require('../probes/process')
const { monitorLoop, loopCountersInto } = require('../probes/loop')
const { socketState } = require('../probes/socket')
const { invalidArgType, outOfRange } = require('../errors')
const { handleOf, handleFd, handlePeer, writeReqHandle, writeReqBytes, connectReqTarget, timeoutDelayMs } = require('../node-internals')

const { als, now, state } = hooks

const live = new Set()
let reader = null
let monitor = null
let episodes = new Map() // seq -> episode (the sampler's, kept while explains run)
let samplerCpu = null
let nextId = 1
const syncRuns = [] // { op, fromMs, toMs }: explains' synchronous parts that ran long

const DEFAULT_INTERVAL_MS = 2

// Every finished report is published here ({ report }): `kernelscope run`'s recorder subscribes
// (lib/cli/register.js). Without a subscriber a publish costs nothing measurable.
const reportChannel = require('node:diagnostics_channel').channel('kernelscope:report')

// ---------------------------------------------------------------------------------------------
// lifetime: the hooks and the sampler are on while at least one explain is in flight, and are
// switched off in the check phase after the last one ended (a setImmediate) unless another has
// begun by then: a server whose requests each end within one loop iteration would otherwise
// switch everything off and on again between every two requests (and the sampler thread could
// exit and be started again). The channel subscriptions, the loop monitor and the sampler's
// reader stay for LINGER_MS after the last explain ended (an unref'd timer).

const LINGER_MS = 1000
let lingering = false // channels, monitor and reader are set up
let lastEndMs = 0
let lingerTimer = null

function activate () {
  hooks.enable({ onDone, onConnectInit })
  if (!lingering) {
    channels.subscribe(live)
    reader = new WaitReader()
    try {
      monitor = monitorLoop({ historySize: 16 })
    } catch {
      monitor = null
    }
    lingering = true
  }
}

let active = false
let offImmediate = null
const deferredStops = [] // intervals of the sampler starts to withdraw at offIfIdle()

function scheduleOff () {
  if (offImmediate === null) offImmediate = setImmediate(offIfIdle)
}

function offIfIdle () {
  offImmediate = null
  for (const intervalMs of deferredStops.splice(0)) {
    try { stopWaitSampler(intervalMs) } catch {}
  }
  if (live.size === 0 && active) {
    active = false
    deactivate()
  }
}

function deactivate () {
  hooks.disable()
  episodes = new Map()
  syncRuns.length = 0
  lastEndMs = now()
  if (lingerTimer === null) armLinger(LINGER_MS)
}

function armLinger (ms) {
  lingerTimer = setTimeout(() => {
    lingerTimer = null
    if (live.size > 0) return // an explain runs: its end arms the timer again
    const left = lastEndMs + LINGER_MS - now()
    if (left > 1) armLinger(left)
    else tearDown()
  }, ms)
  lingerTimer.unref()
}

function tearDown () {
  channels.unsubscribe()
  if (monitor !== null) {
    try { monitor.close() } catch {}
  }
  monitor = null
  reader = null
  lingering = false
}

const kbuf = new Float64Array(3)
const lbuf = new Float64Array(2)
const orNull = (x) => (Number.isNaN(x) ? null : x)

// The last reading of the process's counters (all of them, at one instant): an operation that
// starts or ends within REUSE_MS after it takes it for that end of its window. The counters are
// process-wide, so each end of the window is moved earlier by at most REUSE_MS; an operation
// shorter than that may get one reading for both ends (its counters are then 0). Operations in
// flight together (a server's requests) share one reading a millisecond instead of one a loop
// turn or more (kernelCountersInto is two syscalls, ~5-10 us: in a --cpu-prof of a loaded
// Node 24 server attributing every request, fresh end readings were 4.5 us a request before
// this rule and 0.4 us after; whole-server CPU on a quiet machine moved within its noise).
const REUSE_MS = 1
let lastCounters = null
let lastCountersAt = -Infinity

/** The process-wide counters (kernelCountersInto: /proc/self/io and getrusage; the loop
 * monitor's totals). A reading at most REUSE_MS old serves. */
function kernelNow () {
  const t = now()
  if (t - lastCountersAt <= REUSE_MS && lastCounters !== null) return lastCounters
  const k = { readCalls: null, writeCalls: null, contextSwitches: null, loopIdleMs: null, loopIterations: null }
  try {
    kernelCountersInto(kbuf)
    k.readCalls = orNull(kbuf[0])
    k.writeCalls = orNull(kbuf[1])
    k.contextSwitches = orNull(kbuf[2])
  } catch {}
  if (monitor !== null) {
    try {
      loopCountersInto(monitor, lbuf)
      k.loopIterations = orNull(lbuf[0])
      k.loopIdleMs = orNull(lbuf[1])
    } catch {}
  }
  lastCounters = k
  lastCountersAt = t
  return k
}

function begin (name, opts) {
  if (!active) {
    activate()
    active = true
  }
  const parent = als.getStore() ?? null
  const op = {
    id: nextId++,
    name,
    parent,
    startMs: now(),
    endMs: null,
    syncEndMs: null,
    requests: [],
    extra: [],
    cpu: [],
    callbackMs: 0,
    done: false,
    intervalMs: opts.intervalMs,
    sampling: false,
    k0: null
  }
  live.add(op)
  try {
    op.sampling = startWaitSampler(opts.intervalMs)
  } catch {
    op.sampling = false
  }
  op.k0 = kernelNow()
  op.startMs = now()
  return op
}

let drainedAt = -Infinity

/** Takes the sampler's new episodes. `fresh`: always; else a drain less than `intervalMs` old
 * stands (the sampler can have added one pass since). */
function drainSampler (fresh, intervalMs) {
  if (reader === null) return
  const t = now()
  if (!fresh && t - drainedAt < intervalMs) return
  try {
    const d = reader.drain()
    if (d.reset) episodes = new Map()
    for (const e of d.episodes) episodes.set(e.seq, e)
    samplerCpu = { cpuMs: d.cpuMs, activeMs: d.activeMs, samples: d.samples, dropped: d.dropped }
    drainedAt = now()
  } catch {}
}

/**
 * Resolves once the sampler has taken two whole samples after this call (counted, not timed: on
 * a loaded machine its thread may run late, and a fixed wait then ends before it saw a worker
 * leave its call), or after 25 intervals at most (min 50 ms) if it does not.
 */
function samplesAfter (intervalMs) {
  drainSampler(true, intervalMs)
  const from = samplerCpu ? samplerCpu.samples : null
  const deadline = now() + Math.max(50, 25 * intervalMs)
  return new Promise((resolve) => {
    const check = () => {
      drainSampler(true, intervalMs)
      const n = samplerCpu ? samplerCpu.samples : null
      if (from === null || n === null || n >= from + 2 || now() >= deadline) resolve()
      else setTimeout(check, intervalMs)
    }
    setTimeout(check, 2 * intervalMs + 1)
  })
}

function hasPoolWork (op) {
  for (const r of op.requests) if (r.pool !== null && r.pool !== undefined) return true
  return false
}

/** Ends `op` and builds its report. An operation shorter than `briefUnderMs` (the
 * middleware's threshold: nobody reads its breakdown) gets the brief form, built from its wall
 * time alone, unless `kernelscope run` records the reports. */
function finish (op, outcome, endMs, briefUnderMs = -1) {
  op.endMs = endMs ?? now()
  op.done = true
  const brief = op.endMs - op.startMs < briefUnderMs && !reportChannel.hasSubscribers
  let report
  let k1 = null
  if (!brief) {
    k1 = kernelNow()
    // an operation that made pool requests is matched with what the sampler saw up to now;
    // for one that made none (its report reads the sampler only for the loop thread and the
    // pool's saturation) the last drain stands when it is less than one interval old
    drainSampler(hasPoolWork(op), op.intervalMs)
    op.drainedMs = drainedAt === -Infinity ? now() : drainedAt
  }
  live.delete(op)
  try {
    report = brief
      ? { name: op.name, wallMs: round(op.endMs - op.startMs), outcome, breakdown: null, explained: false }
      : build(op, outcome, k1)
  } finally {
    hooks.forget(op)
    if (live.size === 0) {
      // the last one: the sampler's start is withdrawn, and the rest switched off, at the
      // check phase, unless another explain has begun by then
      if (op.sampling) deferredStops.push(op.intervalMs)
      scheduleOff()
    } else if (op.sampling) {
      try { stopWaitSampler(op.intervalMs) } catch {}
    }
    // what no running (or later) explain needs
    let oldest = live.size === 0 ? now() : Infinity
    for (const o of live) if (o.startMs < oldest) oldest = o.startMs
    hooks.prune(oldest)
    for (const [seq, e] of episodes) if (!e.open && e.lastMs < oldest - 10) episodes.delete(seq)
  }
  if (!brief && reportChannel.hasSubscribers) {
    try { reportChannel.publish({ report }) } catch {}
  }
  return report
}

// ---------------------------------------------------------------------------------------------
// evidence read when a request completes (its callback is about to run; the fd is still open)

function socketRecordOf (connectRec) {
  return state.sockets.get(connectRec.trigger) ?? null
}

function onConnectInit (rec) {
  rec.target = connectReqTarget(rec.resource)
}

function tcpEvidence (fd) {
  try {
    const s = socketState(fd)
    return s
  } catch {
    return null
  }
}

function onDone (rec) {
  if (rec.kind === 'tcp-connect') {
    const sock = socketRecordOf(rec)
    const fd = sock ? handleFd(sock.resource) : -1
    const ev = { synRetransmits: null, rttMs: null }
    if (fd >= 0) {
      const s = tcpEvidence(fd)
      if (s !== null && s.tcp !== null) {
        ev.synRetransmits = s.tcp.totalRetransmits
        ev.rttMs = s.tcp.rttMs
      }
      ev.state = s && s.state
    }
    rec.evidence = ev
  } else if (rec.kind === 'socket-write') {
    const h = writeReqHandle(rec.resource)
    rec.target = handlePeer(h)
    const fd = handleFd(h)
    const ev = { sendQueueBytes: null, notSentBytes: null, verdict: null, bytes: null }
    ev.bytes = writeReqBytes(rec.resource)
    if (fd >= 0) {
      const s = tcpEvidence(fd)
      if (s !== null) {
        ev.sendQueueBytes = s.send.queuedBytes
        ev.notSentBytes = s.send.notSentBytes
        ev.verdict = s.verdict
        if (s.tcp !== null) {
          ev.rwndLimitedMs = s.tcp.rwndLimitedMs ?? null
          ev.sndbufLimitedMs = s.tcp.sndbufLimitedMs ?? null
          // TCP_INFO accumulates since connect: over a write that waited `ms`, a receive
          // window that limited the sender most of that time is a peer that stopped reading
          const ms = rec.endMs - rec.startMs
          if (ms >= 10 && ev.rwndLimitedMs !== null && ev.rwndLimitedMs >= ms * 0.5) ev.verdict = 'peer-not-reading'
          else if (ms >= 10 && ev.sndbufLimitedMs !== null && ev.sndbufLimitedMs >= ms * 0.5) ev.verdict = 'send-buffer-full'
        }
      }
    }
    rec.evidence = ev
  }
}

// ---------------------------------------------------------------------------------------------
// the sampler's view: which worker sat in which call while a pool request ran

const IDLE_CALLS = new Set(['futex'])

/** Busy pool episodes in a window; consecutive ones of one thread in the same call on the same
 * target (a state flip in the middle) are joined into one. */
function busyPoolEpisodes (fromMs, toMs) {
  const list = []
  for (const e of episodes.values()) {
    if (e.role !== 'pool') continue
    if (e.lastMs < fromMs || e.firstMs > toMs) continue
    if (e.syscall !== null && IDLE_CALLS.has(e.syscall)) continue
    list.push(e)
  }
  list.sort((a, b) => a.tid - b.tid || a.seq - b.seq)
  const out = []
  for (const e of list) {
    const last = out[out.length - 1]
    if (last !== undefined && last.tid === e.tid && last.lastSeq + 1 === e.seq &&
        last.syscall === e.syscall && last.target === e.target) {
      last.lastMs = e.lastMs
      last.samples += e.samples
      last.lastSeq = e.seq
      last.open = e.open
      if (e.wchan !== null) last.wchan = last.wchan ?? e.wchan
    } else {
      out.push({ ...e, lastSeq: e.seq })
    }
  }
  return out
}

/** The calls the pool workers sat in longest during [fromMs, toMs] (one per thread). */
function workersDuring (fromMs, toMs) {
  const best = new Map()
  for (const e of busyPoolEpisodes(fromMs, toMs)) {
    const ms = Math.min(e.lastMs, toMs) - Math.max(e.firstMs, fromMs)
    const b = best.get(e.tid)
    if (b === undefined || ms > b.ms) best.set(e.tid, { syscall: e.syscall, target: e.target, ms })
  }
  return [...best.values()].sort((a, b) => b.ms - a.ms).map((w) => ({ syscall: w.syscall, target: w.target, ms: round(Math.max(0, w.ms)) }))
}

function loopEpisodes (fromMs, toMs) {
  const out = []
  for (const e of episodes.values()) {
    if (e.role !== 'loop') continue
    if (e.lastMs < fromMs || e.firstMs > toMs) continue
    out.push(e)
  }
  return out
}

// What a worker's call can be for each kind of pool request: getaddrinfo talks to a resolver
// (a UDP/TCP socket: socket, connect, sendto, poll, recvfrom...) or reads /etc (hosts,
// resolv.conf, nsswitch.conf); fs work is a call on a file, never on the resolver's socket.
const RESOLVER_CALLS = new Set(['socket', 'connect', 'sendto', 'sendmsg', 'sendmmsg', 'recvfrom', 'recvmsg',
  'recvmmsg', 'poll', 'ppoll', 'select', 'pselect6', 'futex', 'bind', 'getsockname', 'setsockopt'])

function kindFits (req, e) {
  if (req.slow) {
    if (e.syscall === null) return e.target === null
    if (RESOLVER_CALLS.has(e.syscall)) return true
    return e.target !== null && e.target.startsWith('/etc/')
  }
  return e.syscall === null || !RESOLVER_CALLS.has(e.syscall)
}

/** Pairs pool requests with the sampled episodes that fit them best (one each). An episode
 * goes only to a request of a kind that makes that call, which the pool model has executing
 * on a worker when the episode began, and (once the request is done) which ended when it did;
 * with the file known (the opened fd's path), only an episode on that file. */
function matchEpisodes (reqs, starts, interval, nowMs, drainedMs) {
  if (reqs.length === 0) return new Map()
  let lo = Infinity
  const hi = nowMs
  for (let i = 0; i < reqs.length; i++) {
    if (reqs[i].submitMs < lo) lo = reqs[i].submitMs
  }
  const eps = busyPoolEpisodes(lo, hi)
  const pairs = []
  const slack = 2 * interval
  const doneOf = (i) => {
    const finished = reqs[i].doneMs !== null && reqs[i].doneMs !== undefined
    return finished ? reqs[i].doneMs : hi
  }
  /** Whether episode e can be request i's at all (its kind, its file, its window). */
  const admissible = (i, e) => {
    const s = starts[i]
    const d = doneOf(i)
    const known = reqs[i].path ?? null
    if (known !== null && e.target !== null && e.target !== known) return false
    if (known === null && reqs[i].paths !== null && e.target !== null && !reqs[i].paths.has(e.target)) return false
    if (!kindFits(reqs[i], e)) return false
    // an fs request: a worker seen still in the call after the loop saw the request complete
    // (seenMs, never refined from an earlier match) was doing another request's (a sample's
    // time is taken before its read; both are CLOCK_MONOTONIC). Not for DNS: one worker's consecutive lookups polling
    // the same server are one episode.
    if (reqs[i].fs && reqs[i].seenMs !== null && e.lastMs > reqs[i].seenMs + 0.5) return false
    // the worker entered the call while the request executed (the model's start, not its
    // submit: an episode from before that was another request's)
    if (e.firstMs < s - slack || e.firstMs > d + slack) return false
    return true
  }
  for (let i = 0; i < reqs.length; i++) {
    const s = starts[i]
    if (s === null || s === undefined) continue // the model never had it on a worker
    const finished = reqs[i].doneMs !== null && reqs[i].doneMs !== undefined
    const d = doneOf(i)
    for (const e of eps) {
      if (!admissible(i, e)) continue
      const a = e.firstMs - interval
      // an episode still open when the sampler was drained (after the operation ended) lasts
      // at least until then: it fits a request that completed earlier that much worse
      const b = e.open ? Math.max(e.lastMs + interval, hi, drainedMs) : e.lastMs + interval
      const overlap = Math.min(b, d) - Math.max(a, s)
      if (overlap <= 0) continue
      // a good fit starts when the request started executing and ends when it completed; the
      // loop sees a completion only once it polls again, so of a gap between the episode's
      // end and the seen completion, the time the sampler saw the loop thread busy is no misfit
      const late = b < d ? Math.max(0, d - b - loopBusyMs(b, d)) : b - d
      const score = overlap - late - Math.abs(a - s)
      if (score > 0) pairs.push({ i, e, score, finished })
    }
  }
  // a finished request's window is known at both ends: its fits go first, an unfinished
  // one's (open-ended) fit is a guess and takes what is left
  pairs.sort((x, y) => (y.finished - x.finished) || y.score - x.score)
  const byReq = new Map()
  const used = new Set()
  for (const p of pairs) {
    if (byReq.has(p.i) || used.has(p.e)) continue
    byReq.set(p.i, p.e)
    used.add(p.e)
  }
  uncross(byReq, reqs, slack, admissible)
  return byReq
}

const LOOP_WAITS = new Set(['epoll_wait', 'epoll_pwait', 'epoll_pwait2'])

/** How long in [fromMs, toMs] the sampler saw the loop thread busy (running, or in a call
 * that is not its epoll wait): time in which it could not have seen a completion. */
function loopBusyMs (fromMs, toMs) {
  let ms = 0
  for (const e of loopEpisodes(fromMs, toMs)) {
    if (e.syscall !== null && LOOP_WAITS.has(e.syscall)) continue
    // samples [firstMs, lastMs]: the episode lasted about one interval past its last sample
    ms += Math.max(0, Math.min(e.lastMs, toMs) - Math.max(e.firstMs, fromMs))
  }
  return ms
}

/**
 * The loop runs pool completions in the order the workers finished them (libuv's done queue),
 * so fs requests the loop saw complete in one order waited in episodes that ended in the same
 * order. When the loop was late (blocked) the seen times all crowd at its next turn and the
 * score's end-to-end fit can pair two FIFO opens crosswise; this undoes any such crossing where
 * each episode is admissible for the other request. An unfinished request and an open episode
 * sort last; ends closer than two sampling intervals are not ordered.
 */
function uncross (byReq, reqs, slack, admissible) {
  const fsPairs = [...byReq].filter(([i]) => reqs[i].fs)
  if (fsPairs.length < 2) return
  const seen = (i) => reqs[i].seenMs ?? Infinity
  const ended = (e) => e.open ? Infinity : e.lastMs
  for (let pass = 0, swapped = true; swapped && pass < fsPairs.length; pass++) {
    swapped = false
    for (let x = 0; x < fsPairs.length; x++) {
      for (let y = x + 1; y < fsPairs.length; y++) {
        const [i, ei] = fsPairs[x]
        const [j, ej] = fsPairs[y]
        const si = seen(i)
        const sj = seen(j)
        if (si === sj) continue
        const [first, later, eFirst, eLater] = si < sj ? [i, j, ei, ej] : [j, i, ej, ei]
        // crossed: the request seen done first holds the episode that ended later
        if (!(ended(eFirst) > ended(eLater) + slack)) continue
        if (!admissible(first, eLater) || !admissible(later, eFirst)) continue
        byReq.set(first, eLater)
        byReq.set(later, eFirst)
        fsPairs[x] = [fsPairs[x][0], byReq.get(fsPairs[x][0])]
        fsPairs[y] = [fsPairs[y][0], byReq.get(fsPairs[y][0])]
        swapped = true
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the report

function describeRequest (rec) {
  const who = rec.op ? rec.op.name : 'unexplained code'
  return `${rec.pool === 'dns' ? 'dns' : rec.pool === 'work' ? rec.type : 'fs'} ${rec.target ?? rec.seenTarget ?? '(unknown)'} of ${who}`
}

function targetOf (rec) {
  if (rec.target !== undefined && rec.target !== null) return rec.target
  const r = rec.resource
  if (rec.type === 'GETADDRINFOREQWRAP' || rec.type === 'GETNAMEINFOREQWRAP') {
    return r && r.hostname !== undefined ? String(r.hostname) : (r && r.host !== undefined ? `${r.host}:${r.port}` : null)
  }
  if (rec.type === 'QUERYWRAP') return r && r.hostname !== undefined ? String(r.hostname) : null
  return null
}

const round = (x) => Math.round(x * 1000) / 1000

function build (op, outcome, k1) {
  const t0 = op.startMs
  const t1 = op.endMs
  const interval = op.intervalMs
  const size = poolSize()
  const segs = [] // { kind, target, from, to, cls, end, req, evidence }
  const reqOut = []
  const push = (seg) => {
    const from = Math.max(seg.from, t0)
    const to = Math.min(seg.to, t1)
    if (to > from) segs.push({ ...seg, from, to })
  }

  // the pool: every request anyone submitted, replayed; what the sampler saw refines ends
  const poolRecs = state.pool.filter((r) => r.startMs <= t1 && (r.endMs === null || r.endMs >= t0 - 5000))
  const phantoms = phantomWork(poolRecs)
  const all = phantoms.concat(poolRecs).sort((a, b) => a.startMs - b.startMs)
  // files each operation is known to have opened: its other fs requests (fstat, read, close
  // of those files) can only have waited on one of them
  const opened = new Map()
  for (const r of all) {
    if (r.fdPath === null || r.fdPath === undefined || r.op === null) continue
    let set = opened.get(r.op)
    if (set === undefined) opened.set(r.op, (set = new Set()))
    set.add(r.fdPath)
  }
  const input = all.map((r) => ({
    submitMs: r.startMs,
    doneMs: r.doneMs ?? r.endMs,
    slow: r.pool === 'dns',
    fs: r.pool === 'fs',
    seenMs: r.endMs ?? null,
    path: r.fdPath ?? null,
    paths: r.pool === 'fs' && r.op !== null ? opened.get(r.op) ?? null : null
  }))
  let model = replay(input, size)
  const matched = matchEpisodes(input, model.starts, interval, t1, op.drainedMs ?? t1)
  let refined = false
  for (const r of all) { r.sampled = null; r.seenTarget = null } // this build's match only, never an earlier one's
  for (const [i, e] of matched) {
    const r = all[i]
    if (r.phantom) continue
    // a path is kept only from a finished request's closed episode: one still open can yet
    // turn out to be another request's (two FIFO opens look alike until one completes)
    if ((r.target === undefined || r.target === null) && r.pool === 'fs') {
      if (r.fdPath !== null && r.fdPath !== undefined) r.target = r.fdPath
      else if (r.endMs !== null && !e.open && e.target !== null) r.target = e.target
    }
    // meanwhile (this report's names of what others waited behind) it is this build's best fit
    if (r.pool === 'fs' && e.target !== null) r.seenTarget = e.target
    r.sampled = { syscall: e.syscall, wchan: e.wchan, state: e.state, samples: e.samples, target: e.target, tid: e.tid }
    // the worker went idle well before the callback ran: the loop was late
    // (the work ended after its last sample and before the next: lastMs + interval is the
    // latest it can have ended, so the loop's part is a lower bound)
    if (!e.open && r.endMs !== null && e.lastMs + interval * 2 < r.endMs) {
      const d = Math.min(r.endMs, e.lastMs + interval)
      if (r.doneMs !== d) { r.doneMs = d; input[i].doneMs = d; refined = true }
    }
  }
  if (refined) model = replay(input, size)
  for (const r of all) if (r.target === undefined && r.pool === 'dns') r.target = targetOf(r)

  const poolIndex = new Map(all.map((r, i) => [r, i]))

  for (const rec of op.requests) {
    const end = rec.endMs ?? t1
    const target = targetOf(rec)
    if (rec.pool !== null && rec.pool !== undefined) {
      const i = poolIndex.get(rec)
      const start = i !== undefined && model.starts[i] !== null ? model.starts[i] : rec.startMs
      const done = Math.min(rec.doneMs ?? end, end)
      const kind = rec.pool === 'work' ? 'cpu' : rec.pool
      const tgt = rec.pool === 'work' ? `threadpool ${rec.type}` : target ?? (rec.pool === 'fs' ? rec.seenTarget ?? null : null)
      let queueEv = null
      if (start - rec.startMs > 0.05) {
        const behind = new Set()
        if (i !== undefined && model.freedBy[i] >= 0) behind.add(model.freedBy[i])
        if (i !== undefined) for (const j of model.behind[i]) behind.add(j)
        const names = [...behind].map((j) => describeRequest(all[j]))
        const freed = i !== undefined && model.freedBy[i] >= 0 ? all[model.freedBy[i]] : null
        const why = freed !== null && freed.pool === 'dns' && rec.pool === 'dns' &&
          model.behind[i].filter((j) => all[j].pool !== 'dns').length < size
          ? 'getaddrinfo-cap'
          : 'pool-full'
        queueEv = { queuedBehind: names, reason: why, poolSize: size, dnsConcurrencyCap: dnsCap(size) }
        // what the sampler saw the workers in meanwhile (the calls that held them)
        const seen = workersDuring(rec.startMs, start)
        if (seen.length > 0) queueEv.workersIn = seen
        push({ kind: 'threadpool-queue', target: names[0] ?? 'threadpool', from: rec.startMs, to: start, cls: 2, end, req: rec, evidence: queueEv })
      }
      const ev = rec.sampled
        ? { syscall: rec.sampled.syscall, wchan: rec.sampled.wchan, samples: rec.sampled.samples, type: rec.type }
        : { type: rec.type, sampled: false }
      // what the worker's call was about: the DNS server it polled, the file it read
      if (rec.sampled && rec.sampled.target !== null && rec.sampled.target !== tgt) ev.on = rec.sampled.target
      push({ kind, target: tgt, from: start, to: done, cls: 2, end, req: rec, evidence: ev })
      if (end - done > 0.05) {
        push({ kind: 'event-loop-blocked', target: null, from: done, to: end, cls: 3, end, req: rec, evidence: null, due: done })
      }
      reqOut.push({ rec, kind, target: tgt, start: rec.startMs, queueMs: start - rec.startMs, execMs: done - start, end: rec.endMs, evidence: queueEv ? { ...ev, ...queueEv } : ev })
    } else if (rec.kind === 'timer') {
      if (rec.endMs === null) continue
      const delay = Math.max(1, timeoutDelayMs(rec.resource) ?? 1)
      const due = rec.startMs + delay
      const tgt = `setTimeout ${delay} ms`
      push({ kind: 'timer', target: tgt, from: rec.startMs, to: Math.min(due, end), cls: 2, end, req: rec, evidence: { delayMs: delay } })
      if (end - due > 1) push({ kind: 'event-loop-blocked', target: null, from: due, to: end, cls: 3, end, req: rec, evidence: null, due })
      reqOut.push({ rec, kind: 'timer', target: tgt, start: rec.startMs, queueMs: null, execMs: Math.min(due, end) - rec.startMs, end: rec.endMs, evidence: { delayMs: delay, lateMs: Math.max(0, end - due) } })
    } else if (rec.kind === 'tcp-connect') {
      const ev = { ...(rec.evidence ?? { synRetransmits: null }) }
      const att = op.extra.find((x) => x.kind === 'connect-attempts' && x.socket && handleOf(x.socket) && socketRecordOf(rec) && handleOf(x.socket) === socketRecordOf(rec).resource)
      if (att !== undefined && att.attempts.length > 0) ev.attempts = att.attempts.map((a) => ({ address: a.address, port: a.port, atMs: round(a.atMs - t0), error: a.error }))
      if (rec.endMs === null) ev.pending = true
      push({ kind: 'tcp-connect', target: rec.target ?? null, from: rec.startMs, to: end, cls: 2, end, req: rec, evidence: ev })
      reqOut.push({ rec, kind: 'tcp-connect', target: rec.target ?? null, start: rec.startMs, queueMs: null, execMs: end - rec.startMs, end: rec.endMs, evidence: ev })
    } else if (rec.kind === 'socket-write') {
      const tgt = rec.target ?? handlePeer(writeReqHandle(rec.resource))
      const ev = rec.evidence ?? {}
      push({ kind: 'socket-write', target: tgt, from: rec.startMs, to: end, cls: 2, end, req: rec, evidence: ev })
      reqOut.push({ rec, kind: 'socket-write', target: tgt, start: rec.startMs, queueMs: null, execMs: end - rec.startMs, end: rec.endMs, evidence: ev })
    } else if (rec.kind === 'child-process') {
      const c = op.extra.find((x) => x.kind === 'child' && x.handle === rec.resource) ??
        op.extra.find((x) => x.kind === 'child' && x.child && handleOf(x.child) === rec.resource)
      const argv = c && c.child && Array.isArray(c.child.spawnargs) && c.child.spawnargs.length > 0 ? c.child.spawnargs : null
      const tgt = argv !== null ? argv.join(' ') : null
      const ev = { argv, pid: c && c.child ? c.child.pid ?? null : null, exitCode: c && c.child ? c.child.exitCode : null, signal: c && c.child ? c.child.signalCode : null }
      push({ kind: 'child-process', target: tgt, from: rec.startMs, to: end, cls: 2, end, req: rec, evidence: ev })
      reqOut.push({ rec, kind: 'child-process', target: tgt, start: rec.startMs, queueMs: null, execMs: end - rec.startMs, end: rec.endMs, evidence: ev })
    } else if (rec.kind === 'dns') {
      push({ kind: 'dns', target, from: rec.startMs, to: end, cls: 2, end, req: rec, evidence: { type: rec.type } })
      reqOut.push({ rec, kind: 'dns', target, start: rec.startMs, queueMs: null, execMs: end - rec.startMs, end: rec.endMs, evidence: { type: rec.type } })
    } else if (rec.kind === 'socket') {
      if (rec.reads === 0 || rec.lastReadMs === null) continue
      const conn = op.requests.find((x) => x.kind === 'tcp-connect' && x.trigger === rec.id)
      const from = conn && conn.endMs !== null ? conn.endMs : rec.startMs
      const tgt = handlePeer(rec.resource) ?? (conn ? conn.target : null)
      rec.target = tgt
      const ev = { reads: rec.reads }
      push({ kind: 'socket-read', target: tgt, from, to: rec.lastReadMs, cls: 1, end: rec.lastReadMs, req: rec, evidence: ev })
      reqOut.push({ rec, kind: 'socket-read', target: tgt, start: from, queueMs: null, execMs: rec.lastReadMs - from, end: rec.lastReadMs, evidence: ev })
    }
  }
  for (const x of op.extra) {
    if (x.kind !== 'http') continue
    const end = x.endMs ?? x.headersMs ?? t1
    const tgt = x.target ?? x.peer ?? (x.host ? String(x.host) : null)
    const ev = { method: x.method ?? null, path: x.path ?? null, status: x.status ?? null, headersMs: x.headersMs === null ? null : round(x.headersMs - x.startMs) }
    push({ kind: 'socket-read', target: tgt, from: x.startMs, to: end, cls: 1, end, req: x, evidence: ev })
    reqOut.push({ rec: x, kind: 'socket-read', target: tgt, start: x.startMs, queueMs: null, execMs: end - x.startMs, end: x.endMs, evidence: ev })
  }

  // the operation's own synchronous work, and its callbacks
  if (op.syncEndMs !== null) push({ kind: 'cpu', target: 'synchronous', from: t0, to: op.syncEndMs, cls: 4, end: op.syncEndMs, req: op, evidence: null })
  for (let k = 0; k < op.cpu.length; k += 2) {
    push({ kind: 'cpu', target: 'callbacks', from: op.cpu[k], to: op.cpu[k + 1], cls: 4, end: op.cpu[k + 1], req: op, evidence: null })
  }

  // who kept the loop busy while something of ours was due
  for (const s of segs) {
    if (s.kind !== 'event-loop-blocked') continue
    const by = blockersOf(s.from, s.to, op)
    s.target = by.length > 0 ? by[0].by : 'event loop'
    s.evidence = { dueMs: round(s.due - t0), blockedBy: by.slice(0, 5).map((b) => ({ by: b.by, ms: round(b.ms) })) }
  }

  const breakdown = sweep(segs, t0, t1)
  const requests = reqOut
    .sort((a, b) => a.start - b.start)
    .map((r) => ({
      kind: r.kind,
      target: r.target ?? null,
      startMs: round(r.start - t0),
      queueMs: r.queueMs === null ? null : round(Math.max(0, r.queueMs)),
      execMs: round(Math.max(0, r.execMs)),
      endMs: r.end === null || r.end === undefined ? null : round(r.end - t0),
      evidence: r.evidence ?? null
    }))

  let saturatedMs = 0
  for (const [a, b] of model.saturated) saturatedMs += Math.max(0, Math.min(b, t1) - Math.max(a, t0))

  const k0 = op.k0
  const d = (a, b) => (a === null || b === null ? null : b - a)
  return {
    name: op.name,
    wallMs: round(t1 - t0),
    outcome,
    breakdown,
    requests,
    kernel: {
      readCalls: d(k0.readCalls, k1.readCalls),
      writeCalls: d(k0.writeCalls, k1.writeCalls),
      contextSwitches: d(k0.contextSwitches, k1.contextSwitches),
      loopWaitMs: k0.loopIdleMs === null || k1.loopIdleMs === null ? null : round(k1.loopIdleMs - k0.loopIdleMs),
      loopIterations: d(k0.loopIterations, k1.loopIterations)
    },
    pool: { size, dnsConcurrencyCap: dnsCap(size), saturatedMs: round(saturatedMs) },
    sampler: op.sampling
      ? { intervalMs: interval, samples: countSamples(t0, t1), cpuMs: samplerCpu ? round(samplerCpu.cpuMs) : null }
      : null
  }
}

function countSamples (t0, t1) {
  let n = 0
  for (const e of episodes.values()) if (e.role === 'loop' && e.lastMs >= t0 && e.firstMs <= t1) n += e.samples
  return n
}

/** Pool workers the sampler found busy at its start with work no hook saw (submitted before
 * the first explain began): they occupy a worker until the sampler saw it go idle. */
function phantomWork (poolRecs) {
  let firstSubmit = Infinity
  for (const r of poolRecs) if (r.startMs < firstSubmit) firstSubmit = r.startMs
  // each pool thread's first episode (lowest seq), in the order the threads are first met
  const first = new Map()
  for (const e of episodes.values()) {
    if (e.role !== 'pool') continue
    const f = first.get(e.tid)
    if (f === undefined || e.seq < f.seq) first.set(e.tid, e)
  }
  const out = []
  for (const [tid, f] of first) {
    if (f.syscall === null || IDLE_CALLS.has(f.syscall)) continue
    if (f.firstMs >= firstSubmit) continue
    // busy from before anything we saw: until its first idle episode
    let endMs = null
    let endSeq = Infinity
    for (const e of episodes.values()) {
      if (e.role === 'pool' && e.tid === tid && e.seq < endSeq && e.syscall !== null && IDLE_CALLS.has(e.syscall)) {
        endMs = e.firstMs
        endSeq = e.seq
      }
    }
    out.push({ phantom: true, pool: 'fs', type: 'unknown', op: null, startMs: -Infinity, endMs, doneMs: endMs, target: f.target ?? `${f.syscall} on thread ${tid}`, resource: null })
  }
  return out
}

function blockersOf (from, to, op) {
  const acc = new Map()
  const add = (by, a, b) => {
    const ms = Math.min(b, to) - Math.max(a, from)
    if (ms <= 0) return
    acc.set(by, (acc.get(by) ?? 0) + ms)
  }
  for (const b of state.blockers) {
    if (b.op === op) continue
    add(b.op ? b.op.name : `unexplained ${b.type} callback`, b.fromMs, b.toMs)
  }
  for (const r of syncRuns) if (r.op !== op) add(r.op.name, r.fromMs, r.toMs)
  let running = 0
  for (const e of loopEpisodes(from, to)) {
    if (e.syscall !== null && e.syscall !== 'epoll_wait' && e.syscall !== 'epoll_pwait' && e.syscall !== 'epoll_pwait2' && e.samples >= 2) {
      add(`blocking ${e.syscall}${e.target ? ' ' + e.target : ''} on the loop thread`, e.firstMs, e.lastMs)
    } else if (e.state === 'running' && e.syscall === null) {
      running += Math.min(e.lastMs, to) - Math.max(e.firstMs, from)
    }
  }
  const out = [...acc].map(([by, ms]) => ({ by, ms })).sort((a, b) => b.ms - a.ms)
  // the sampler saw the loop thread running code no hook attributed (a promise continuation,
  // a callback from before the first explain): named last, as what is known
  if (running > 0) out.push({ by: 'code running on the loop thread (no explained owner)', ms: running })
  return out
}

/** Every instant of [t0, t1] on one segment: the highest class, then the request that ended
 * last (the critical path); what none covers is 'unattributed'. */
function sweep (segs, t0, t1) {
  if (segs.length <= 1) return sweepOne(segs[0], t0, t1)
  const cuts = new Set([t0, t1])
  for (const s of segs) { cuts.add(s.from); cuts.add(s.to) }
  const xs = [...cuts].sort((a, b) => a - b)
  const groups = new Map()
  const order = []
  for (let k = 0; k + 1 < xs.length; k++) {
    const a = xs[k]
    const b = xs[k + 1]
    if (b <= a) continue
    let best = null
    for (const s of segs) {
      if (s.from > a || s.to < b) continue
      if (best === null || s.cls > best.cls || (s.cls === best.cls && s.end > best.end)) best = s
    }
    const kind = best === null ? 'unattributed' : best.kind
    const target = best === null ? null : best.target ?? null
    const key = kind + '\u0000' + (target ?? '')
    let g = groups.get(key)
    if (g === undefined) {
      g = { kind, target, ms: 0, reqs: new Set(), evidence: best === null ? null : best.evidence ?? null }
      groups.set(key, g)
      order.push(g)
    }
    g.ms += b - a
    if (best !== null) g.reqs.add(best.req)
  }
  const out = order
    .map((g) => ({ kind: g.kind, target: g.target, ms: round(g.ms), count: g.kind === 'unattributed' ? 0 : g.reqs.size, evidence: plain(g.evidence) }))
    .filter((g) => g.ms > 0)
    .sort((x, y) => y.ms - x.ms)
  return out
}

/** sweep() of at most one segment (most of a server's requests: their synchronous part), with
 * the same result without the cuts, groups and sort. */
function sweepOne (seg, t0, t1) {
  if (seg === undefined) {
    const ms = round(t1 - t0)
    return ms > 0 ? [{ kind: 'unattributed', target: null, ms, count: 0, evidence: null }] : []
  }
  // push() clamped it into [t0, t1] with from < to; the rest, before then after it, is unattributed
  const own = { kind: seg.kind, target: seg.target ?? null, ms: round(seg.to - seg.from), count: 1, evidence: plain(seg.evidence) }
  let rest = 0
  if (seg.from > t0) rest += seg.from - t0
  if (t1 > seg.to) rest += t1 - seg.to
  const none = { kind: 'unattributed', target: null, ms: round(rest), count: 0, evidence: null }
  const order = seg.from > t0 ? [none, own] : [own, none]
  return order.filter((g) => g.ms > 0).sort((x, y) => y.ms - x.ms)
}

function plain (v) {
  if (v === null || v === undefined) return null
  return JSON.parse(JSON.stringify(v))
}

// ---------------------------------------------------------------------------------------------
// the public functions

function checkArgs (name, fn, options, fnName) {
  if (typeof name !== 'string') throw invalidArgType('name', 'a string', name)
  if (typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn)
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgType('options', 'an object', options)
  const o = options ?? {}
  let intervalMs = DEFAULT_INTERVAL_MS
  if (o.intervalMs !== undefined) {
    if (typeof o.intervalMs !== 'number' || Number.isNaN(o.intervalMs)) throw invalidArgType('options.intervalMs', 'a number', o.intervalMs)
    if (!(o.intervalMs >= 0.5 && o.intervalMs <= 1000)) throw outOfRange('options.intervalMs', '>= 0.5 and <= 1000', o.intervalMs)
    intervalMs = o.intervalMs
  }
  if (fnName === 'attribute' && typeof o.onReport !== 'function') throw invalidArgType('options.onReport', 'a function', o.onReport)
  return { intervalMs, onReport: o.onReport }
}

function runSync (op, fn) {
  try {
    return als.run(op, fn)
  } finally {
    op.syncEndMs = now()
    if (op.syncEndMs - op.startMs >= 2) syncRuns.push({ op, fromMs: op.startMs, toMs: op.syncEndMs })
  }
}

/** Runs `fn` and explains where its time went; never rejects because `fn` failed. */
async function explain (name, fn, options) {
  const opts = checkArgs(name, fn, options, 'explain')
  const op = begin(name, opts)
  let value
  let error
  let outcome = 'ok'
  try {
    const r = runSync(op, fn)
    value = r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function' ? await r : r
  } catch (err) {
    error = err
    outcome = 'error'
  }
  // the sampler's next samples show which worker left its call when fn's pool requests
  // completed (a worker still in the call at that time was another request's): when one
  // completed within the last two intervals, wait for them, outside any operation, with the
  // wall time taken now
  const endMs = now()
  op.endMs = endMs // (what happens after it, e.g. a socket's last reads, is not the operation's)
  const recent = endMs - 2 * op.intervalMs - 1
  if (op.sampling && op.requests.some((r) => r.pool !== null && r.pool !== undefined && r.endMs !== null && r.endMs >= recent)) await als.exit(() => samplesAfter(op.intervalMs))
  const report = finish(op, outcome, endMs)
  return { value, error, report }
}

/** Runs `fn` as it is (its return value, its throw) and hands the report to `onReport`. */
function attribute (name, fn, options) {
  return attributed(name, fn, checkArgs(name, fn, options, 'attribute'), -1)
}

/** attribute() for the middleware (lib/middleware/core.js): `onReport` a function, and an
 * operation shorter than `briefUnderMs` gets the brief report (finish()). */
function attributeRequest (name, fn, onReport, briefUnderMs) {
  return attributed(name, fn, { intervalMs: DEFAULT_INTERVAL_MS, onReport }, briefUnderMs)
}

function attributed (name, fn, opts, briefUnderMs) {
  const op = begin(name, opts)
  const deliver = (outcome) => {
    let report
    try {
      report = finish(op, outcome, undefined, briefUnderMs)
    } catch (err) {
      process.emitWarning(`kernelscope: attribute() could not build the report: ${err && err.message}`)
      return
    }
    try {
      opts.onReport(report)
    } catch (err) {
      process.nextTick(() => { throw err })
    }
  }
  let r
  try {
    r = runSync(op, fn)
  } catch (err) {
    deliver('error')
    throw err
  }
  if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
    r.then(() => deliver('ok'), () => deliver('error'))
    return r
  }
  deliver('ok')
  return r
}

module.exports = { explain, attribute, attributeRequest }
