'use strict'
// sample(), createSampler() and fdCount(): the process as a whole. The native side fills a
// reused Float64Array (NaN = not given by the kernel); the object is built here, in JS, which
// is several times cheaper than building it through napi.

const { native, call, supported } = require('../native')
const { layout, orNull: v } = require('../layout')
const { invalidArgType, outOfRange } = require('../errors')

const S = supported
  ? layout('process', ['PID', 'AT_MS', 'USER_MS', 'SYSTEM_MS', 'VOLUNTARY', 'INVOLUNTARY', 'MINOR',
    'MAJOR', 'RSS', 'VIRTUAL', 'PEAK_RSS', 'RSS_ANON', 'RSS_FILE', 'READ_CALLS', 'WRITE_CALLS',
    'READ_CHARS', 'WRITE_CHARS', 'READ_BYTES', 'WRITE_BYTES', 'CANCELLED_WRITE_BYTES', 'RUN_MS',
    'RUNQUEUE_WAIT_MS', 'TIMESLICES', 'THREADS', 'FD_SOFT', 'FD_HARD'])
  : { LEN: 0 }
const buf = new Float64Array(S.LEN)

function fill () {
  call(native().sampleInto, buf)
}

function sample () {
  fill()
  const b = buf
  return {
    pid: b[S.PID],
    atMs: b[S.AT_MS],
    cpu: { userMs: v(b[S.USER_MS]), systemMs: v(b[S.SYSTEM_MS]) },
    contextSwitches: { voluntary: v(b[S.VOLUNTARY]), involuntary: v(b[S.INVOLUNTARY]) },
    faults: { minor: v(b[S.MINOR]), major: v(b[S.MAJOR]) },
    memory: {
      rssBytes: v(b[S.RSS]),
      virtualBytes: v(b[S.VIRTUAL]),
      peakRssBytes: v(b[S.PEAK_RSS]),
      rssAnonBytes: v(b[S.RSS_ANON]),
      rssFileBytes: v(b[S.RSS_FILE])
    },
    io: {
      readCalls: v(b[S.READ_CALLS]),
      writeCalls: v(b[S.WRITE_CALLS]),
      readChars: v(b[S.READ_CHARS]),
      writeChars: v(b[S.WRITE_CHARS]),
      readBytes: v(b[S.READ_BYTES]),
      writeBytes: v(b[S.WRITE_BYTES]),
      cancelledWriteBytes: v(b[S.CANCELLED_WRITE_BYTES])
    },
    scheduler: { runMs: v(b[S.RUN_MS]), runqueueWaitMs: v(b[S.RUNQUEUE_WAIT_MS]), timeslices: v(b[S.TIMESLICES]) },
    threads: v(b[S.THREADS]),
    fdLimits: { soft: v(b[S.FD_SOFT]), hard: v(b[S.FD_HARD]) }
  }
}

const sub = (a, b) => (a === null || b === null ? null : a - b)
const perSec = (d, ms) => (d === null || !(ms > 0) ? null : (d * 1000) / ms)

function diffGroup (now, prev) {
  const out = {}
  for (const k of Object.keys(now)) out[k] = sub(now[k], prev[k])
  return out
}

/** Keeps the previous snapshot and answers "what happened since then". */
class Sampler {
  #prev

  constructor () {
    this.#prev = sample()
  }

  /** A full snapshot; it becomes the baseline of the next delta(). */
  sample () {
    this.#prev = sample()
    return this.#prev
  }

  /** Differences since the previous sample()/delta() call, with rates per second. */
  delta () {
    const now = sample()
    const prev = this.#prev
    this.#prev = now
    const intervalMs = now.atMs - prev.atMs
    const cpu = diffGroup(now.cpu, prev.cpu)
    const io = diffGroup(now.io, prev.io)
    const contextSwitches = diffGroup(now.contextSwitches, prev.contextSwitches)
    const faults = diffGroup(now.faults, prev.faults)
    const cpuMs = cpu.userMs === null || cpu.systemMs === null ? null : cpu.userMs + cpu.systemMs
    return {
      pid: now.pid,
      atMs: now.atMs,
      intervalMs,
      cpu,
      contextSwitches,
      faults,
      io,
      scheduler: diffGroup(now.scheduler, prev.scheduler),
      memory: now.memory,
      memoryChange: diffGroup(now.memory, prev.memory),
      threads: now.threads,
      fdLimits: now.fdLimits,
      cpuPercent: cpuMs === null || !(intervalMs > 0) ? null : (cpuMs * 100) / intervalMs,
      readCallsPerSec: perSec(io.readCalls, intervalMs),
      writeCallsPerSec: perSec(io.writeCalls, intervalMs),
      readCharsPerSec: perSec(io.readChars, intervalMs),
      writeCharsPerSec: perSec(io.writeChars, intervalMs),
      readBytesPerSec: perSec(io.readBytes, intervalMs),
      writeBytesPerSec: perSec(io.writeBytes, intervalMs),
      voluntarySwitchesPerSec: perSec(contextSwitches.voluntary, intervalMs),
      involuntarySwitchesPerSec: perSec(contextSwitches.involuntary, intervalMs),
      minorFaultsPerSec: perSec(faults.minor, intervalMs),
      majorFaultsPerSec: perSec(faults.major, intervalMs)
    }
  }
}

function createSampler () {
  return new Sampler()
}

function fdCount () {
  return call(native().fdCount)
}

/**
 * Another process (or this one) as /proc/<pid> shows it: command line, state, memory, CPU,
 * limits, I/O counters (procfs crate, src/process_info.rs; a cold path). Throws ENOENT for a
 * pid that does not exist; fields the kernel refuses (another user's exe, io, environ) are null.
 */
function processInfo (pid) {
  if (typeof pid !== 'number') throw invalidArgType('pid', 'of type number', pid)
  if (!Number.isInteger(pid) || pid < 1 || pid > 0x7fffffff) throw outOfRange('pid', '>= 1 && <= 2147483647', pid)
  return call(native().processInfo, pid)
}

/** Read calls, write calls and context switches of the process into `out` (NaN: not given):
 * the counters of an explained operation (lib/attribution), two syscalls where sample() makes
 * seven. */
function kernelCountersInto (out) {
  call(native().kernelCountersInto, out)
}

module.exports = { sample, createSampler, Sampler, fdCount, processInfo, kernelCountersInto, SAMPLE_SLOTS: S.LEN }
