'use strict'
// One snapshot per scrape, shared by every collector: the first collector that asks takes it
// (only the parts some metric needs), the others of the same scrape reuse it, and it is dropped
// in the next microtask — a prom-client registry calls every metric's get() synchronously in
// one loop, and an OpenTelemetry batch callback reads it once. Counters that need memory
// between scrapes (TCP retransmits per socket, utilization since the last scrape) live here.

const { sample } = require('../probes/process')
const { fdSummary } = require('../probes/fds')
const { threads } = require('../probes/threads')

class Snapshotter {
  #monitor
  #bounds
  #current = null
  #prevLoop = null
  #retrans = new Map()
  #retransTotal = 0

  /** `monitor`: a LoopMonitor (or null: no loop metrics); `bounds`: histogram bounds, seconds. */
  constructor (monitor, bounds) {
    this.#monitor = monitor
    this.#bounds = bounds
  }

  /** The current scrape's parts as properties (taken on first read): what catalog functions get. */
  get view () {
    const self = this
    return {
      get sample () { return self.get('sample') },
      get fds () { return self.get('fds') },
      get threads () { return self.get('threads') },
      get loop () { return self.get('loop') }
    }
  }

  get bounds () {
    return this.#bounds
  }

  get hasLoop () {
    return this.#monitor !== null && !this.#monitor.closed
  }

  /** The snapshot of the current scrape; `part` is 'sample' | 'fds' | 'threads' | 'loop'. */
  get (part) {
    if (this.#current === null) {
      this.#current = {}
      queueMicrotask(() => { this.#current = null })
    }
    const c = this.#current
    // a part the kernel refused is refused once per scrape: its error is kept with the rest
    if (!(part in c)) {
      try {
        c[part] = { value: this.#take(part) }
      } catch (error) {
        c[part] = { error }
      }
    }
    if (c[part].error !== undefined) throw c[part].error
    return c[part].value
  }

  #take (part) {
    switch (part) {
      case 'sample': return sample()
      case 'fds': return this.#fds()
      case 'threads': return this.#threads()
      case 'loop': return this.#loop()
      default: throw new RangeError(`no snapshot part ${part}`)
    }
  }

  #fds () {
    const s = fdSummary()
    // a socket seen for the first time brings all its retransmissions; one that closed since
    // the last scrape is forgotten (what it retransmitted after that scrape is not counted)
    const next = new Map()
    for (const t of s.tcp) {
      const prev = this.#retrans.get(t.inode)
      const d = prev === undefined ? t.totalRetransmits : t.totalRetransmits - prev
      if (d > 0) this.#retransTotal += d
      next.set(t.inode, Math.max(t.totalRetransmits, prev === undefined ? 0 : prev))
    }
    this.#retrans = next
    return { ...s, retransmits: this.#retransTotal }
  }

  #threads () {
    const groups = new Map()
    for (const t of threads({ syscalls: false })) {
      const key = t.state + '\0' + t.role
      const g = groups.get(key)
      if (g) g.value++
      else groups.set(key, { dims: { state: t.state, role: t.role }, value: 1 })
    }
    return [...groups.values()]
  }

  #loop () {
    const m = this.#monitor
    const h = m.buckets(this.#bounds)
    const st = m.stats()
    const prev = this.#prevLoop
    this.#prevLoop = st
    const busy = st.busyMs - (prev ? prev.busyMs : 0)
    const idle = st.idleMs - (prev ? prev.idleMs : 0)
    return {
      wait: h.wait,
      poll: h.poll,
      iteration: h.iteration,
      wakeups: st.wakeups,
      iterations: st.iterations,
      utilization: busy >= 0 && idle >= 0 && busy + idle > 0 ? busy / (busy + idle) : null
    }
  }
}

/**
 * True for the kernel's refusal surfaced by a probe (a system error: EMFILE when the process is
 * out of descriptors, EACCES/EPERM on a restricted /proc): an exporter leaves out the families
 * that need the refused part for that scrape and serves the rest. Anything else is a bug and
 * propagates.
 */
function refusedByKernel (err) {
  return err instanceof Error && typeof err.syscall === 'string' && typeof err.errno === 'number'
}

module.exports = { Snapshotter, refusedByKernel }
