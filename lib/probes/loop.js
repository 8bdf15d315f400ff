'use strict'
// monitorLoop(): the calling thread's libuv loop, iteration by iteration — time blocked in
// epoll_wait, libuv's timeout, events, poll phase and whole turn. The hooks and the numbers live
// in Rust (src/loop_monitor.rs); this file validates, translates errors and shapes history().

const { native, call, supported } = require('../native')
const { invalidArgType, outOfRange, codedError } = require('../errors')
const { optionsObject, optionalInteger } = require('../validate')
const { layout, constant, orNull: v } = require('../layout')

const H = supported
  ? layout('loopHistory', ['AT_MS', 'TIMEOUT_MS', 'WAIT_MS', 'EVENTS', 'POLL_MS', 'ITERATION_MS'])
  : null
const MAX_HISTORY = supported ? constant('loopMaxHistory') : 1

let countersOf = null

/** Per-iteration timing of this thread's event loop; see docs/loop.md. */
class LoopMonitor {
  #native

  // for explain() (not public): iterations and idle ms into `out`, without stats()'s histogram
  // summaries
  static {
    countersOf = (monitor, out) => { call(() => LoopMonitor.#of(monitor).countersInto(out)) }
  }

  // the native monitor of `self`, or a coded TypeError when `self` is not a LoopMonitor
  // (LoopMonitor.prototype.stats.call({}))
  static #of (self) {
    if (self === null || typeof self !== 'object' || !(#native in self)) {
      throw codedError('ERR_INVALID_THIS', 'Value of "this" must be of type LoopMonitor', TypeError)
    }
    return self.#native
  }

  constructor (options) {
    const Native = native().NativeLoopMonitor // throws first where the addon is missing
    const opts = optionsObject(options)
    const historySize = optionalInteger(opts, 'historySize', 1024, 1, MAX_HISTORY)
    this.#native = call(() => new Native(historySize))
  }

  /** Totals and histograms since the monitor started or was last reset. */
  stats () {
    return call(() => LoopMonitor.#of(this).stats())
  }

  /**
   * Cumulative histograms for Prometheus: for wait, poll and iteration time, how many values
   * are <= each bound (seconds, ascending), with the count and the sum in seconds. Read from the
   * monitor's own log-linear buckets: a value within 1/32 below a bound may be counted at the
   * next bound, never at an earlier one.
   */
  buckets (boundsSeconds) {
    LoopMonitor.#of(this)
    const bounds = checkBounds(boundsSeconds, 'boundsSeconds')
    const ns = new Float64Array(bounds.length)
    for (let i = 0; i < bounds.length; i++) ns[i] = bounds[i] * 1e9
    const b = call(() => LoopMonitor.#of(this).buckets(ns))
    const n = bounds.length
    const one = (k) => ({ counts: Array.from(b.subarray(k, k + n)), count: b[k + n], sumSeconds: b[k + n + 1] })
    return { wait: one(0), poll: one(n + 2), iteration: one(2 * (n + 2)) }
  }

  /** The last `historySize` iterations, oldest first. */
  history () {
    const b = call(() => LoopMonitor.#of(this).history())
    const n = H.LEN
    const out = new Array(b.length / n)
    for (let i = 0, k = 0; k < b.length; i++, k += n) {
      out[i] = {
        atMs: b[k + H.AT_MS],
        timeoutMs: v(b[k + H.TIMEOUT_MS]),
        waitMs: b[k + H.WAIT_MS],
        events: v(b[k + H.EVENTS]),
        pollMs: b[k + H.POLL_MS],
        iterationMs: v(b[k + H.ITERATION_MS])
      }
    }
    return out
  }

  /** Forgets everything; counting starts again with the next iteration. */
  reset () {
    call(() => LoopMonitor.#of(this).reset())
  }

  /** Stops the hooks (when no other monitor on this thread needs them). Idempotent. */
  close () {
    call(() => LoopMonitor.#of(this).close())
  }

  /** true after close(), or once the thread's environment has been torn down. */
  get closed () {
    return call(() => LoopMonitor.#of(this).closed)
  }
}

function checkBounds (value, name) {
  if (!Array.isArray(value) && !(value instanceof Float64Array)) {
    throw invalidArgType(name, 'an instance of Array', value)
  }
  for (let i = 0; i < value.length; i++) {
    const x = value[i]
    if (typeof x !== 'number') throw invalidArgType(`${name}[${i}]`, 'of type number', x)
    if (!(x > 0) || x === Infinity || (i > 0 && !(x > value[i - 1]))) {
      throw outOfRange(`${name}[${i}]`, 'finite, > 0 and greater than the bound before it', x)
    }
  }
  return value
}

function monitorLoop (options) {
  return new LoopMonitor(options)
}

/** `out[0]` = iterations, `out[1]` = idle ms of `monitor` (lib/attribution, per explain). */
function loopCountersInto (monitor, out) {
  countersOf(monitor, out)
}

module.exports = { monitorLoop, LoopMonitor, checkBounds, loopCountersInto }
