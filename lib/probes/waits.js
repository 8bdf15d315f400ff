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

function startWaitSampler (intervalMs) {
  if (hints === null) hints = roleHints()
  return call(native().samplerStart, intervalMs, hints)
}

function stopWaitSampler (intervalMs) {
  call(native().samplerStop, intervalMs)
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
    if (d.generation !== this.#generation) {
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
      episodes: out,
      dropped: d.dropped,
      samples: d.samples,
      cpuMs: orNull(d.cpuMs),
      activeMs: d.activeMs
    }
  }
}

module.exports = { startWaitSampler, stopWaitSampler, WaitReader }
