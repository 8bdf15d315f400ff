'use strict'
// fds(), fdsSync(), diffFds(): the descriptor inventory. The native side (src/fds.rs) scans
// /proc/<pid>/fd and hands back a packed table (a Float64Array of fixed columns and one
// NUL-separated string); the entries are built here, which is much cheaper than through napi.

const { native } = require('../native')
const { fromNative, invalidArgType } = require('../errors')
const { optionsObject, optionalBoolean, optionalInteger } = require('../validate')

// keep in step with src/parse/fdinfo.rs TYPE_NAMES and src/fds.rs col / bit / NULL_STR
const TYPES = ['file', 'directory', 'socket', 'pipe', 'fifo', 'char-device', 'block-device',
  'epoll', 'eventfd', 'timerfd', 'signalfd', 'inotify', 'pidfd', 'io_uring', 'anon', 'unknown']
const NCOL = 8
const BIT_ERROR = 1
const BIT_SOCKET = 2
const BIT_SOCKET_ERROR = 4
const BIT_FDINFO = 8
const BIT_LATE_ERROR = 16
const NULL_STR = '\u0001'

const num = (x) => (x !== x ? null : x) // eslint-disable-line no-self-compare
const str = (s) => (s === NULL_STR ? null : s)

// `text` holds each descriptor's target (and its error when BIT_ERROR); `extra` the strings
// its other bits announce, in the order LATE_ERROR, SOCKET (six), SOCKET_ERROR, FDINFO
function unpack (packed) {
  const nums = packed.nums
  const parts = packed.text.split('\0')
  const extra = packed.extra.length ? packed.extra.split('\0') : []
  const n = nums.length / NCOL
  const out = new Array(n)
  let k = 0
  let x = 0
  for (let i = 0; i < n; i++) {
    const b = i * NCOL
    const bits = nums[b + 3]
    const target = str(parts[k++])
    let error = null
    let socket = null
    let socketError = null
    let info = null
    if (bits & BIT_ERROR) error = parts[k++]
    if (bits & BIT_LATE_ERROR) error = extra[x++]
    if (bits & BIT_SOCKET) {
      socket = {
        family: extra[x],
        protocol: extra[x + 1],
        state: extra[x + 2],
        localAddress: str(extra[x + 3]),
        localPort: num(nums[b + 4]),
        remoteAddress: str(extra[x + 4]),
        remotePort: num(nums[b + 5]),
        path: str(extra[x + 5]),
        sendQueueBytes: num(nums[b + 6]),
        recvQueueBytes: num(nums[b + 7])
      }
      x += 6
    }
    if (bits & BIT_SOCKET_ERROR) socketError = extra[x++]
    if (bits & BIT_FDINFO) info = JSON.parse(extra[x++])
    out[i] = {
      fd: nums[b],
      type: TYPES[nums[b + 1]] || 'unknown',
      target,
      inode: num(nums[b + 2]),
      socket,
      socketError,
      position: info === null ? null : info.position,
      flags: info === null ? null : info.flags,
      epoll: info === null ? null : info.epoll,
      eventfd: info === null ? null : info.eventfd,
      timerfd: info === null ? null : info.timerfd,
      inotify: info === null ? null : info.inotify,
      error
    }
  }
  return out
}

function nativeOptions (options) {
  const opts = optionsObject(options)
  const sockets = optionalBoolean(opts, 'sockets', true)
  const fdinfo = optionalBoolean(opts, 'fdinfo', false)
  const pid = optionalInteger(opts, 'pid', undefined, 1, 0x7fffffff)
  return { pid, sockets, fdinfo, sockdiag: process.env.KERNELSCOPE_SOCKDIAG || 'auto' }
}

/** Every open descriptor, classified; the scan runs on a dedicated native thread. */
function fds (options) {
  let opts
  try {
    opts = nativeOptions(options)
  } catch (err) {
    return Promise.reject(err)
  }
  let promise
  try {
    promise = native().fdsAsync(opts)
  } catch (err) {
    return Promise.reject(fromNative(err))
  }
  return promise.then(unpack, (err) => { throw fromNative(err) })
}

/** The same inventory, computed on the calling thread. */
function fdsSync (options) {
  const opts = nativeOptions(options)
  let packed
  try {
    packed = native().fdsSync(opts)
  } catch (err) {
    throw fromNative(err)
  }
  return unpack(packed)
}

function entries (value, name) {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value)
  for (let i = 0; i < value.length; i++) {
    const e = value[i]
    if (e === null || typeof e !== 'object' || typeof e.fd !== 'number') {
      throw invalidArgType(`${name}[${i}]`, 'an fd entry (an object with a numeric fd)', e)
    }
  }
  return value
}

const identity = (e) => `${e.fd}:${e.inode === undefined ? null : e.inode}`

/**
 * What changed between two inventories: `opened` (in `after` only) and `closed` (in `before`
 * only). Identity is fd + inode, so a number closed and reused for something else is both.
 */
function diffFds (before, after) {
  entries(before, 'before')
  entries(after, 'after')
  const had = new Set()
  for (const e of before) had.add(identity(e))
  const has = new Set()
  const opened = []
  for (const e of after) {
    const id = identity(e)
    has.add(id)
    if (!had.has(id)) opened.push(e)
  }
  const closed = []
  for (const e of before) if (!has.has(identity(e))) closed.push(e)
  return { opened, closed }
}

module.exports = { fds, fdsSync, diffFds, FD_TYPES: TYPES }
