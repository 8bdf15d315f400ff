'use strict'
// write(): a stream write that respects 'drain'; watchBackpressure(): counts the writes that
// ignore it. Pure JS on top of the Writable contract (write() returning false, 'drain').

const { Writable } = require('node:stream')
const { invalidArgType, codedError } = require('../errors')
const { native, supported } = require('../native')
const { writableEmitsClose } = require('../node-internals')

// A Proxy's traps or a getter may throw while we look: then it is not a stream we can use.
function isWritable (s) {
  try {
    return s !== null && typeof s === 'object' && typeof s.write === 'function' && typeof s.on === 'function'
  } catch {
    return false
  }
}

// A Writable created with emitClose: false emits nothing when destroyed: while a write waits
// on such a stream, it is checked every CLOSE_POLL_MS (an unref'd timer) instead.
const CLOSE_POLL_MS = 50

// Per stream: chunks waiting for a 'drain' (in call order) and the listeners that settle them.
const queues = new WeakMap()

function closedError (stream) {
  if (stream.writableEnded && !stream.destroyed) {
    return codedError('ERR_STREAM_WRITE_AFTER_END', 'write after end')
  }
  return codedError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed')
}

function prematureClose () {
  return codedError('ERR_STREAM_PREMATURE_CLOSE', 'the stream closed before the chunk was accepted')
}

/**
 * Writes `chunk` and resolves once the stream accepted it: at once when write() returned true,
 * after 'drain' when it returned false. While a drain is awaited, later calls queue behind it
 * (in order) instead of writing, so the stream's buffer never exceeds its highWaterMark by more
 * than one chunk. Rejects when the stream errors or closes first.
 */
function write (stream, chunk, encoding) {
  // pure JS, but the package's contract is that every call throws where the addon is missing
  if (!supported) {
    try {
      native()
    } catch (err) {
      return Promise.reject(err)
    }
  }
  if (!isWritable(stream)) return Promise.reject(invalidArgType('stream', 'a writable stream', stream))
  if (encoding !== undefined && typeof encoding !== 'string') {
    return Promise.reject(invalidArgType('encoding', 'of type string', encoding))
  }
  return new Promise((resolve, reject) => {
    const item = { chunk, encoding, resolve, reject }
    let q = queues.get(stream)
    if (q === undefined && !stream.writableNeedDrain) {
      writeNow(stream, item, null)
      return
    }
    if (q === undefined) q = startWaiting(stream)
    q.items.push(item)
  })
}

// Writes one item; returns false when the stream asked for a drain (the caller waits).
function writeNow (stream, item, q) {
  if (stream.destroyed || stream.writableEnded) {
    item.reject(closedError(stream))
    return true
  }
  let settled = false
  let ok
  try {
    ok = stream.write(item.chunk, item.encoding, (err) => {
      if (err && !settled) {
        settled = true
        item.reject(err)
      }
    })
  } catch (err) {
    settled = true
    item.reject(err)
    return true
  }
  if (ok !== false) {
    settled = true
    item.resolve()
    return true
  }
  // accepted into the buffer but over the mark: resolve on 'drain', reject on error/close
  if (q === null) q = startWaiting(stream)
  q.head = { settle: (err) => { if (!settled) { settled = true; err ? item.reject(err) : item.resolve() } } }
  return false
}

function startWaiting (stream) {
  const q = { items: [], head: null }
  const onDrain = () => {
    if (q.head !== null) {
      const h = q.head
      q.head = null
      h.settle(null)
    }
    while (q.items.length > 0) {
      const item = q.items.shift()
      if (!writeNow(stream, item, q)) return // waiting again; q stays registered
    }
    stop()
  }
  const onEnd = (err) => {
    stop()
    const e = err instanceof Error ? err : (stream.errored || prematureClose())
    if (q.head !== null) q.head.settle(e)
    for (const item of q.items) item.reject(e)
    q.items.length = 0
  }
  const onClose = () => onEnd(null)
  const poll = writableEmitsClose(stream)
    ? null
    : setInterval(() => { if (stream.destroyed) onEnd(null) }, CLOSE_POLL_MS)
  if (poll !== null) poll.unref()
  function stop () {
    if (poll !== null) clearInterval(poll)
    queues.delete(stream)
    stream.removeListener('drain', onDrain)
    stream.removeListener('error', onEnd)
    stream.removeListener('close', onClose)
  }
  stream.on('drain', onDrain)
  stream.on('error', onEnd)
  stream.on('close', onClose)
  queues.set(stream, q)
  return q
}

// Each tracker's write wrapper -> its tracker, to unwind a stack of trackers on one stream
// whichever order they are closed in.
const trackerOfWrapper = new WeakMap()

/** Tracks one writable stream's write() calls until close(). */
class BackpressureTracker {
  #stream
  #hadOwnWrite
  #ownWrite
  #wrapper
  #onDrain
  #onGone
  #closed = false
  #waiting = false
  #stallStart = 0
  #s = { writes: 0, writesIgnoringBackpressure: 0, stalls: 0, stalledMs: 0, maxWritableLength: 0 }

  constructor (stream) {
    this.#stream = stream
    this.#hadOwnWrite = Object.prototype.hasOwnProperty.call(stream, 'write')
    this.#ownWrite = this.#hadOwnWrite ? Object.getOwnPropertyDescriptor(stream, 'write') : null
    const original = stream.write
    const self = this
    const s = this.#s
    this.#s.maxWritableLength = stream.writableLength || 0
    this.#waiting = stream.writableNeedDrain === true
    if (this.#waiting) this.#startStall()
    this.#wrapper = function write (...args) {
      if (self.#closed) return original.apply(this, args)
      s.writes++
      // write() said false earlier and 'drain' has not come: this write ignores backpressure
      if (self.#waiting || stream.writableNeedDrain === true) s.writesIgnoringBackpressure++
      const ret = original.apply(this, args)
      const len = stream.writableLength
      if (len > s.maxWritableLength) s.maxWritableLength = len
      if (ret === false && !self.#waiting) {
        self.#waiting = true
        self.#startStall()
      }
      return ret
    }
    this.#onDrain = () => this.#endStall()
    // a destroyed stream stalls no more: 'close', or (emitClose: false) seen by stats()
    this.#onGone = () => this.#endStall()
    // install write first: a frozen or sealed stream refuses it, and then nothing is attached
    try {
      stream.write = this.#wrapper
    } catch {}
    if (stream.write !== this.#wrapper) {
      throw codedError('ERR_INVALID_ARG_VALUE', 'The "stream" argument must allow its write method to be replaced (it is frozen, sealed or write is read-only)', TypeError)
    }
    trackerOfWrapper.set(this.#wrapper, this)
    stream.on('drain', this.#onDrain)
    stream.on('close', this.#onGone)
  }

  #endStall () {
    if (this.#waiting) {
      this.#waiting = false
      this.#s.stalledMs += now() - this.#stallStart
    }
  }

  #startStall () {
    this.#s.stalls++
    this.#stallStart = now()
  }

  /** Counts since the tracker started; stalledMs includes a stall still going on. */
  stats () {
    if (this.#waiting && this.#stream.destroyed) this.#endStall()
    const s = { ...this.#s }
    if (this.#waiting && !this.#closed) s.stalledMs += now() - this.#stallStart
    return s
  }

  /**
   * Stops tracking and restores the stream: its own `write` property as it was (or none, when
   * write came from the prototype) and no listener of ours. If someone wrapped write after us,
   * their wrapper stays and ours becomes a pass-through.
   */
  close () {
    if (this.#closed) return
    this.#closed = true
    this.#endStall()
    const stream = this.#stream
    stream.removeListener('drain', this.#onDrain)
    stream.removeListener('close', this.#onGone)
    // unwind: while stream.write is the wrapper of a closed tracker, put back what that tracker
    // found (a tracker closed before a later one wrapped it over is undone here too)
    let t = trackerOfWrapper.get(stream.write)
    while (t !== undefined && t.#closed && t.#stream === stream) {
      if (t.#hadOwnWrite) Object.defineProperty(stream, 'write', t.#ownWrite)
      else delete stream.write
      t = trackerOfWrapper.get(stream.write)
    }
  }
}

const now = () => Number(process.hrtime.bigint()) / 1e6

function watchBackpressure (stream) {
  if (!supported) native() // throws ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM
  const expected = 'a writable stream (net.Socket, tls.TLSSocket, http.ServerResponse, …)'
  let ok
  try {
    ok = isWritable(stream) && (stream instanceof Writable || 'writableLength' in stream)
  } catch {
    ok = false
  }
  if (!ok) throw invalidArgType('stream', expected, stream)
  try {
    return new BackpressureTracker(stream)
  } catch (err) {
    // a getter or Proxy trap that threw while the tracker read the stream
    if (err && typeof err.code === 'string') throw err
    throw invalidArgType('stream', expected, stream)
  }
}

module.exports = { write, watchBackpressure, BackpressureTracker }
