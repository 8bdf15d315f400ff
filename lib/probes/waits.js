'use strict'
// The wait sampler (src/sampler): while started, a kernelscope thread records what the libuv
// pool workers and this thread's loop are blocked in (state, syscall, target, wchan) as
// episodes in a ring. A WaitReader drains it in one call and keeps what it has seen.

const { native, call } = require('../native')
const { layout, enumStrings, orNull } = require('../layout')
const { roleHints } = require('./threads')

let E = null
let STATES = null
let hints = null

// How many starts of each interval this thread has not yet stopped: the addon hears only the
// first start and the last stop of an interval (it keeps the intervals each thread asked for),
// not one call per explained operation.
const started = new Map()

/** Asks for sampling at `intervalMs` (one explained operation); false when the sampler
 * thread could not be started. */
function startWaitSampler (intervalMs) {
  const n = started.get(intervalMs)
  if (n !== undefined) {
    started.set(intervalMs, n + 1)
    return true
  }
  if (hints === null) hints = roleHints()
  if (!call(native().samplerStart, intervalMs, hints)) {
    // no thread could be started: the addon's count is withdrawn, the next start tries again
    call(native().samplerStop, intervalMs)
    return false
  }
  started.set(intervalMs, 1)
  return true
}

/** Withdraws one startWaitSampler(intervalMs). */
function stopWaitSampler (intervalMs) {
  const n = started.get(intervalMs)
  if (n === undefined) return
  if (n > 1) {
    started.set(intervalMs, n - 1)
    return
  }
  started.delete(intervalMs)
  call(native().samplerStop, intervalMs)
}

const poke = supportedPoke()
function supportedPoke () {
  try {
    const fn = native().samplerPoke
    return typeof fn === 'function' ? fn : () => {}
  } catch {
    return () => {}
  }
}

/** Pool work was just queued: the sampler reads every pool worker at its next passes (a
 * worker parked in its futex is otherwise read every 4th pass). Never throws. */
function pokeWaitSampler () {
  try { poke() } catch {}
}

/** One reader per JS environment: drain() returns episodes new or changed since the last. */
class WaitReader {
  #seq = 0
  #strings = []
  #generation = -1

  drain () {
    if (E === null) {
      E = layout('samplerEpisode', ['SEQ', 'TID', 'ROLE', 'STATE', 'NR', 'NAME', 'TARGET', 'WCHAN',
        'FIRST_MS', 'LAST_MS', 'SAMPLES', 'OPEN'])
      STATES = enumStrings('threadStates')
    }
    let d = call(native().samplerDrain, this.#seq, this.#strings.length)
    const reset = d.generation !== this.#generation
    if (reset) {
      // a new run: sequence numbers and strings started again
      this.#generation = d.generation
      this.#seq = 0
      this.#strings = []
      d = call(native().samplerDrain, 0, 0)
    }
    for (const s of d.strings) this.#strings.push(s)
    const str = (i) => (i >= 0 && i < this.#strings.length ? this.#strings[i] : null)
    const b = d.episodes
    const out = []
    let firstOpen = d.nextSeq
    for (let k = 0; k < b.length; k += E.LEN) {
      const open = b[k + E.OPEN] === 1
      const seq = b[k + E.SEQ]
      if (open && seq < firstOpen) firstOpen = seq
      out.push({
        seq,
        tid: b[k + E.TID],
        role: b[k + E.ROLE] === 1 ? 'pool' : (b[k + E.TID] === d.tid ? 'loop' : 'other-loop'),
        state: STATES[b[k + E.STATE]] ?? 'unknown',
        nr: b[k + E.NR] < 0 ? null : b[k + E.NR],
        syscall: str(b[k + E.NAME]),
        target: str(b[k + E.TARGET]),
        wchan: str(b[k + E.WCHAN]),
        firstMs: b[k + E.FIRST_MS],
        lastMs: b[k + E.LAST_MS],
        samples: b[k + E.SAMPLES],
        open
      })
    }
    // open episodes are drained again next time, as they grow
    this.#seq = firstOpen
    return {
      // a new run: sequence numbers started again (episodes kept from an earlier one are not
      // of this run)
      reset,
      episodes: out,
      dropped: d.dropped,
      samples: d.samples,
      cpuMs: orNull(d.cpuMs),
      activeMs: d.activeMs
    }
  }
}

module.exports = { startWaitSampler, stopWaitSampler, pokeWaitSampler, WaitReader }
