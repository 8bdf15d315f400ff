'use strict'
// A model of libuv's threadpool scheduler (deps/uv/src/threadpool.c), replayed from the
// requests' submit and completion times to split each pool request's wait into queue and
// execution: one FIFO work queue served by `size` workers; getaddrinfo/getnameinfo are
// "slow I/O": they wait in a separate queue, represented in the main queue by one marker, and
// at most (size + 1) / 2 of them run at once; a worker that meets the marker at that cap moves
// it to the tail (or waits when nothing else is queued).

const MARKER = -1

function dnsCap (size) {
  return Math.floor((size + 1) / 2)
}

/**
 * `reqs`: [{ submitMs, doneMs (null = not done yet), slow }] in submit order. Returns
 * { starts: number[] (model exec start, never after doneMs), behind: number[][] (what ran
 * when each was submitted and was still running at its start), freedBy: number[] (whose end
 * let it start, -1 none), saturated: [fromMs, toMs][], inconsistent: number (requests that
 * finished before the model could have started them) }.
 */
function replay (reqs, size) {
  const cap = dnsCap(size)
  const n = reqs.length
  const starts = new Array(n).fill(null)
  const behind = new Array(n)
  const freedBy = new Array(n).fill(-1)
  const done = reqs.map((r) => (r.doneMs === null || r.doneMs === undefined ? Infinity : r.doneMs))
  const wq = []
  const slowPending = []
  let markerQueued = false
  let slowRunning = 0
  const running = [] // indices
  const saturated = []
  let satFrom = null
  let inconsistent = 0
  let si = 0
  let lastFreed = -1

  function take () {
    for (let guard = 0; guard <= wq.length + 1; guard++) {
      if (wq.length === 0) return null
      const h = wq[0]
      if (h !== MARKER) { wq.shift(); return { i: h, slow: false } }
      if (slowRunning >= cap) {
        if (wq.length === 1) return null
        wq.shift()
        wq.push(MARKER)
        continue
      }
      wq.shift()
      markerQueued = false
      if (slowPending.length === 0) continue
      const i = slowPending.shift()
      if (slowPending.length > 0) { wq.push(MARKER); markerQueued = true }
      return { i, slow: true }
    }
    return null
  }

  function dispatch (t) {
    while (running.length < size) {
      const w = take()
      if (w === null) break
      const i = w.i
      starts[i] = t
      if (lastFreed >= 0 && t > reqs[i].submitMs) freedBy[i] = lastFreed
      if (w.slow) slowRunning++
      reqs[i]._slowRun = w.slow
      running.push(i)
    }
    if (running.length >= size && satFrom === null) satFrom = t
  }
  // `behind`: what was running when each request was submitted (set at submit)

  while (si < n || running.length > 0) {
    let nextDone = Infinity
    let di = -1
    for (let k = 0; k < running.length; k++) {
      const i = running[k]
      const d = Math.max(done[i], starts[i])
      if (d < nextDone) { nextDone = d; di = k }
    }
    const nextSub = si < n ? reqs[si].submitMs : Infinity
    if (nextSub === Infinity && nextDone === Infinity) break
    if (nextSub <= nextDone) {
      const t = nextSub
      behind[si] = running.slice()
      if (reqs[si].slow) {
        slowPending.push(si)
        if (!markerQueued) { wq.push(MARKER); markerQueued = true }
      } else {
        wq.push(si)
      }
      si++
      lastFreed = -1
      dispatch(t)
    } else {
      const t = nextDone
      const i = running[di]
      running.splice(di, 1)
      if (reqs[i]._slowRun) slowRunning--
      lastFreed = i
      dispatch(t)
      lastFreed = -1
      if (satFrom !== null && running.length < size) { saturated.push([satFrom, t]); satFrom = null }
    }
  }
  if (satFrom !== null) saturated.push([satFrom, Infinity])
  for (let i = 0; i < n; i++) {
    if (starts[i] === null) {
      // finished, yet the model never had a free worker for it: it queued until the end
      if (done[i] !== Infinity) { starts[i] = Math.max(reqs[i].submitMs, done[i]); inconsistent++ }
    } else if (starts[i] > done[i]) { starts[i] = done[i]; inconsistent++ }
    if (behind[i] === undefined) behind[i] = []
    delete reqs[i]._slowRun
  }
  return { starts, behind, freedBy, saturated, inconsistent }
}

let size = null

/** UV_THREADPOOL_SIZE as libuv reads it at the pool's first use (1..1024, default 4); read from
 * the environment once, at the first call (the first explain), as docs/explain.md says. */
function poolSize () {
  if (size === null) {
    const v = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10)
    size = Number.isFinite(v) ? Math.min(1024, Math.max(1, v)) : 4
  }
  return size
}

module.exports = { replay, poolSize, dnsCap }
