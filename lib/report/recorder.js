'use strict'
// Recorder: what `kernelscope run` keeps about one process while it runs — the loop, threads and
// descriptors sampled every interval into a ring buffer, and the explained operations (the
// slowest `maxOperations` kept whole, every one counted by name) — and the process record of
// the report (docs/report.md) built from it. Memory is bounded whatever the run's length.

const { monitorLoop } = require('../probes/loop')
const { threads } = require('../probes/threads')
const { fdSummary } = require('../probes/fds')
const { sample } = require('../probes/process')
const { optionsObject, optionalInteger } = require('../validate')

// Upper bounds of the loop wait histogram's buckets, ms; one more bucket counts what is above.
const WAIT_BOUNDS_MS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000]
const MAX_NAMES = 200
const OTHER_NAMES = '(other names)'

const DEFAULTS = { intervalMs: 1000, maxSamples: 3600, maxOperations: 100 }

function monotonicMs () {
  const [s, ns] = process.hrtime()
  return s * 1e3 + ns / 1e6
}

/** Fixed-capacity ring: push() drops the oldest once full and counts what it dropped. */
class Ring {
  constructor (capacity) {
    this.capacity = capacity
    this.items = []
    this.start = 0
    this.dropped = 0
  }

  push (item) {
    if (this.items.length < this.capacity) {
      this.items.push(item)
    } else {
      this.items[this.start] = item
      this.start = (this.start + 1) % this.capacity
      this.dropped++
    }
  }

  toArray () {
    return this.items.slice(this.start).concat(this.items.slice(0, this.start))
  }
}

function countBy (list, key) {
  const out = {}
  for (const item of list) {
    const k = item[key]
    out[k] = (out[k] || 0) + 1
  }
  return out
}

/** Records one process (the calling thread's loop); see docs/report.md for every field. */
class Recorder {
  constructor (options) {
    const opts = optionsObject(options)
    this.intervalMs = optionalInteger(opts, 'intervalMs', DEFAULTS.intervalMs, 10, 3600000)
    this.maxSamples = optionalInteger(opts, 'maxSamples', DEFAULTS.maxSamples, 1, 1000000)
    this.maxOperations = optionalInteger(opts, 'maxOperations', DEFAULTS.maxOperations, 0, 100000)
    this.startedAt = new Date()
    this.startMs = monotonicMs()
    this.samples = new Ring(this.maxSamples)
    this.errors = []
    this.kept = [] // the slowest operations, sorted by wallMs descending
    this.operationsSeen = 0
    this.byName = new Map()
    this.timer = null
    this.monitor = null
    this.last = null
    this.lastHistoryAtMs = -Infinity
    try {
      this.monitor = monitorLoop({ historySize: 4096 })
    } catch (err) {
      this.noteError('loop', err)
    }
  }

  noteError (what, err) {
    if (this.errors.length < 20) this.errors.push({ what, message: String(err && err.message ? err.message : err) })
  }

  /** Samples every intervalMs on an unref'd timer (the process's life is its own). */
  start () {
    if (this.timer !== null) return
    this.tick()
    this.timer = setInterval(() => this.tick(), this.intervalMs)
    this.timer.unref()
  }

  stop () {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** One sample: loop wait/work since the previous one, descriptors and threads now. */
  tick () {
    const atMs = monotonicMs()
    const s = { atMs, loop: null, fds: null, threads: null, cpu: null, rssBytes: null }
    if (this.monitor !== null) {
      try {
        const st = this.monitor.stats()
        const prev = this.last
        let maxIterationMs = null
        for (const h of this.monitor.history()) {
          // The turn in progress has no length yet: it is counted by the next sample.
          if (h.atMs <= this.lastHistoryAtMs || h.iterationMs === null) continue
          if (maxIterationMs === null || h.iterationMs > maxIterationMs) maxIterationMs = h.iterationMs
          this.lastHistoryAtMs = h.atMs
        }
        s.loop = {
          waitMs: st.idleMs - (prev ? prev.idleMs : 0),
          workMs: st.busyMs - (prev ? prev.busyMs : 0),
          iterations: st.iterations - (prev ? prev.iterations : 0),
          maxIterationMs
        }
        this.last = { idleMs: st.idleMs, busyMs: st.busyMs, iterations: st.iterations }
      } catch (err) {
        this.noteError('loop', err)
      }
    }
    try {
      const f = fdSummary()
      const byType = {}
      for (const k of Object.keys(f.byType)) if (f.byType[k] > 0) byType[k] = f.byType[k]
      s.fds = { count: f.count, byType }
    } catch (err) {
      this.noteError('fds', err)
    }
    try {
      const list = threads({ syscalls: true })
      let poolBlocked = 0
      for (const t of list) {
        if (t.role === 'libuv-worker' && t.syscall !== null && t.syscall.name !== 'futex') poolBlocked++
      }
      s.threads = { count: list.length, byState: countBy(list, 'state'), byRole: countBy(list, 'role'), poolBlocked }
    } catch (err) {
      this.noteError('threads', err)
    }
    try {
      const p = sample()
      s.cpu = { userMs: p.cpu.userMs, systemMs: p.cpu.systemMs }
      s.rssBytes = p.memory.rssBytes
    } catch (err) {
      this.noteError('process', err)
    }
    this.samples.push(s)
    return s
  }

  /** Takes one attribution report (SPEC §5); keeps it if it is among the slowest. */
  operation (report, endMs = monotonicMs()) {
    if (report === null || typeof report !== 'object') return
    const wallMs = typeof report.wallMs === 'number' && Number.isFinite(report.wallMs) ? report.wallMs : 0
    const name = typeof report.name === 'string' ? report.name : String(report.name)
    this.operationsSeen++
    let key = name
    if (!this.byName.has(key) && this.byName.size >= MAX_NAMES) key = OTHER_NAMES
    let agg = this.byName.get(key)
    if (agg === undefined) {
      agg = { name: key, count: 0, errors: 0, totalMs: 0, maxMs: 0 }
      this.byName.set(key, agg)
    }
    agg.count++
    if (report.outcome === 'error') agg.errors++
    agg.totalMs += wallMs
    if (wallMs > agg.maxMs) agg.maxMs = wallMs
    if (this.maxOperations === 0) return
    const full = this.kept.length >= this.maxOperations
    if (full && wallMs <= this.kept[this.kept.length - 1].report.wallMs) return
    const entry = { startMs: endMs - wallMs, report }
    let i = this.kept.length
    while (i > 0 && this.kept[i - 1].report.wallMs < wallMs) i--
    this.kept.splice(i, 0, entry)
    if (this.kept.length > this.maxOperations) this.kept.pop()
  }

  /** The process record of the report (docs/report.md), at this moment. */
  snapshot (end = {}) {
    const endMs = monotonicMs()
    let loop = null
    if (this.monitor !== null) {
      try {
        const st = this.monitor.stats()
        const b = this.monitor.buckets(WAIT_BOUNDS_MS.map((ms) => ms / 1000))
        const counts = []
        let below = 0
        for (const c of b.wait.counts) { counts.push(c - below); below = c }
        counts.push(b.wait.count - below)
        loop = {
          iterations: st.iterations,
          events: st.events,
          idleMs: st.idleMs,
          busyMs: st.busyMs,
          utilization: st.utilization,
          waitMs: st.waitMs,
          iterationMs: st.iterationMs,
          wakeups: st.wakeups,
          waitHistogram: { boundsMs: WAIT_BOUNDS_MS.slice(), counts }
        }
      } catch (err) {
        this.noteError('loop', err)
      }
    }
    const names = [...this.byName.values()].sort((a, b) => b.totalMs - a.totalMs)
    return {
      pid: process.pid,
      ppid: process.ppid,
      argv: process.argv.slice(),
      execArgv: process.execArgv.slice(),
      nodeVersion: process.version,
      startedAt: this.startedAt.toISOString(),
      startMs: this.startMs,
      endMs,
      durationMs: endMs - this.startMs,
      end: {
        reason: end.reason || 'snapshot',
        exitCode: end.exitCode === undefined ? null : end.exitCode,
        signal: end.signal || null
      },
      threadpoolSize: Math.min(1024, Math.max(1, Number.parseInt(process.env.UV_THREADPOOL_SIZE, 10) || 4)),
      loop,
      samples: {
        intervalMs: this.intervalMs,
        max: this.maxSamples,
        dropped: this.samples.dropped,
        list: this.samples.toArray()
      },
      operations: {
        seen: this.operationsSeen,
        max: this.maxOperations,
        kept: this.kept.map((e) => ({ startMs: e.startMs, report: e.report })),
        byName: names
      },
      errors: this.errors.slice()
    }
  }

  close () {
    this.stop()
    if (this.monitor !== null) {
      try { this.monitor.close() } catch {}
    }
  }
}

module.exports = { Recorder, Ring, WAIT_BOUNDS_MS, DEFAULTS, monotonicMs }
