'use strict'
// sample(), createSampler() and fdCount(): the process as a whole. The native side fills a
// reused Float64Array (NaN = not given by the kernel); the object is built here, in JS, which
// is several times cheaper than building it through napi.

const { native } = require('../native')
const { fromNative } = require('../errors')

// keep in step with src/process.rs `slot`
const LEN = 26
const buf = new Float64Array(LEN)

const v = (x) => (x !== x ? null : x) // eslint-disable-line no-self-compare

function fill () {
  try {
    native().sampleInto(buf)
  } catch (err) {
    throw fromNative(err)
  }
}

function sample () {
  fill()
  const b = buf
  return {
    pid: b[0],
    atMs: b[1],
    cpu: { userMs: v(b[2]), systemMs: v(b[3]) },
    contextSwitches: { voluntary: v(b[4]), involuntary: v(b[5]) },
    faults: { minor: v(b[6]), major: v(b[7]) },
    memory: {
      rssBytes: v(b[8]),
      virtualBytes: v(b[9]),
      peakRssBytes: v(b[10]),
      rssAnonBytes: v(b[11]),
      rssFileBytes: v(b[12])
    },
    io: {
      readCalls: v(b[13]),
      writeCalls: v(b[14]),
      readChars: v(b[15]),
      writeChars: v(b[16]),
      readBytes: v(b[17]),
      writeBytes: v(b[18]),
      cancelledWriteBytes: v(b[19])
    },
    scheduler: { runMs: v(b[20]), runqueueWaitMs: v(b[21]), timeslices: v(b[22]) },
    threads: v(b[23]),
    fdLimits: { soft: v(b[24]), hard: v(b[25]) }
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
  try {
    return native().fdCount()
  } catch (err) {
    throw fromNative(err)
  }
}

module.exports = { sample, createSampler, Sampler, fdCount, SAMPLE_SLOTS: LEN }
