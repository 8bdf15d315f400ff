'use strict'
// monitorLoop(): the calling thread's libuv loop, iteration by iteration — time blocked in
// epoll_wait, libuv's timeout, events, poll phase and whole turn. The hooks and the numbers live
// in Rust (src/loop_monitor.rs); this file validates, translates errors and shapes history().

const { native } = require('../native')
const { fromNative } = require('../errors')
const { optionsObject, optionalInteger } = require('../validate')

// keep in step with src/loop_monitor.rs HISTORY_FIELDS / MAX_HISTORY
const FIELDS = 6
const MAX_HISTORY = 1 << 20

const v = (x) => (x !== x ? null : x) // eslint-disable-line no-self-compare

function call (fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

/** Per-iteration timing of this thread's event loop; see docs/loop.md. */
class LoopMonitor {
  #native

  constructor (options) {
    const opts = optionsObject(options)
    const historySize = optionalInteger(opts, 'historySize', 1024, 1, MAX_HISTORY)
    const Native = native().NativeLoopMonitor
    this.#native = call(() => new Native(historySize))
  }

  /** Totals and histograms since the monitor started or was last reset. */
  stats () {
    return call(() => this.#native.stats())
  }

  /** The last `historySize` iterations, oldest first. */
  history () {
    const b = call(() => this.#native.history())
    const out = new Array(b.length / FIELDS)
    for (let i = 0, k = 0; k < b.length; i++, k += FIELDS) {
      out[i] = {
        atMs: b[k],
        timeoutMs: v(b[k + 1]),
        waitMs: b[k + 2],
        events: v(b[k + 3]),
        pollMs: b[k + 4],
        iterationMs: v(b[k + 5])
      }
    }
    return out
  }

  /** Forgets everything; counting starts again with the next iteration. */
  reset () {
    call(() => this.#native.reset())
  }

  /** Stops the hooks (when no other monitor on this thread needs them). Idempotent. */
  close () {
    call(() => this.#native.close())
  }

  /** true after close(), or once the thread's environment has been torn down. */
  get closed () {
    return call(() => this.#native.closed)
  }
}

function monitorLoop (options) {
  return new LoopMonitor(options)
}

module.exports = { monitorLoop, LoopMonitor }
