'use strict'
// fds(), fdsSync(), diffFds(): the descriptor inventory. The native side (src/fds/) scans
// /proc/<pid>/fd and hands back a packed table (a Float64Array of fixed columns and two string
// channels, which carry any character: see strings() in lib/layout.js); the entries are built
// here, which is much cheaper than through napi.

const { native, call, callAsync, supported } = require('../native')
const { invalidArgType, internalError } = require('../errors')
const { optionsObject, optionalBoolean, optionalInteger } = require('../validate')
const { layout, enumStrings, strings, orNull: num } = require('../layout')

const C = supported
  ? layout('fdsColumns', ['FD', 'TYPE', 'INODE', 'BITS', 'LOCAL_PORT', 'REMOTE_PORT', 'SEND_Q', 'RECV_Q'])
  : null
const BIT = supported ? layout('fdsBits', ['ERROR', 'SOCKET', 'SOCKET_ERROR', 'FDINFO', 'LATE_ERROR']) : null
const SOCK = supported
  ? layout('fdsSocket', ['FAMILY', 'PROTOCOL', 'STATE', 'LOCAL_ADDRESS', 'REMOTE_ADDRESS', 'PATH'])
  : null
const TYPES = supported ? enumStrings('fdTypes') : []
/** fdinfo details, one JSON object the addon writes (src/fds/pack.rs fdinfo_json). */
function fdinfo (json) {
  try {
    return JSON.parse(json)
  } catch (err) {
    throw internalError(`the addon wrote fdinfo details that are not JSON (${err.message})`)
  }
}

// `text` holds each descriptor's target (and its error when BIT_ERROR); `extra` the strings
// its other bits announce, in the order LATE_ERROR, SOCKET (SOCK.LEN, in SOCK order),
// SOCKET_ERROR, FDINFO
function unpack (packed) {
  const nums = packed.nums
  const text = strings(packed.text, packed.textLens)
  const extra = strings(packed.extra, packed.extraLens)
  const ncol = C.LEN
  const n = nums.length / ncol
  const out = new Array(n)
  const sock = new Array(SOCK.LEN)
  for (let i = 0; i < n; i++) {
    const b = i * ncol
    const bits = nums[b + C.BITS]
    const target = text.next()
    let error = null
    let socket = null
    let socketError = null
    let info = null
    if (bits & BIT.ERROR) error = text.next()
    if (bits & BIT.LATE_ERROR) error = extra.next()
    if (bits & BIT.SOCKET) {
      for (let k = 0; k < SOCK.LEN; k++) sock[k] = extra.next()
      socket = {
        family: sock[SOCK.FAMILY],
        protocol: sock[SOCK.PROTOCOL],
        state: sock[SOCK.STATE],
        localAddress: sock[SOCK.LOCAL_ADDRESS],
        localPort: num(nums[b + C.LOCAL_PORT]),
        remoteAddress: sock[SOCK.REMOTE_ADDRESS],
        remotePort: num(nums[b + C.REMOTE_PORT]),
        path: sock[SOCK.PATH],
        sendQueueBytes: num(nums[b + C.SEND_Q]),
        recvQueueBytes: num(nums[b + C.RECV_Q])
      }
    }
    if (bits & BIT.SOCKET_ERROR) socketError = extra.next()
    if (bits & BIT.FDINFO) info = fdinfo(extra.next())
    out[i] = {
      fd: nums[b + C.FD],
      type: TYPES[nums[b + C.TYPE]] || 'unknown',
      target,
      inode: num(nums[b + C.INODE]),
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
  if (!text.done() || !extra.done()) throw internalError('the inventory has strings left over: the addon and lib/ disagree')
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
  return callAsync(() => native().fdsAsync(opts)).then(unpack)
}

/** The same inventory, computed on the calling thread. */
function fdsSync (options) {
  const opts = nativeOptions(options)
  return unpack(call(native().fdsSync, opts))
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

/**
 * For `kernelscope inspect --json`: another process's inventory (no fdinfo) with its entries
 * already written as JSON by the addon (src/fds/json.rs: the same text JSON.stringify() gives
 * of fdsSync()'s entries, without building them), the count, the counts by type (in the order
 * of first appearance, as counting the entries gives) and `socketOf(inode)`: the socket
 * object an entry with that inode holds, or undefined.
 */
function fdsJsonSync (options) {
  const opts = nativeOptions(options)
  const packed = call(native().fdsJsonSync, opts)
  const nums = packed.nums
  const n = nums.length / C.LEN
  const byType = {}
  for (let i = 0; i < n; i++) {
    const t = TYPES[nums[i * C.LEN + C.TYPE]] || 'unknown'
    byType[t] = (byType[t] || 0) + 1
  }
  let sockets = null
  const socketOf = (inode) => {
    if (sockets === null) {
      sockets = new Map()
      // few callers, once: the entries are built only when a socket is asked for
      for (const e of unpack(packed)) if (e.socket !== null && e.inode !== null) sockets.set(e.inode, e.socket)
    }
    return sockets.get(inode)
  }
  return { count: n, byType, json: packed.json, socketOf }
}

const FS = supported ? layout('fdSummary', ['COUNT', 'SEND_Q', 'RECV_Q', 'TCP_SOCKETS', 'TCP_RETRANS']) : null

/**
 * This process's descriptors counted by type, with its sockets' queued bytes and the TCP
 * retransmissions of each TCP socket: what a metrics scrape needs, without an inventory
 * (src/fd_summary.rs: getdents64 + one fstat per fd, no readlink for files or sockets).
 */
function fdSummary () {
  const b = call(() => native().fdSummary())
  const byType = {}
  for (let i = 0; i < TYPES.length; i++) byType[TYPES[i]] = b[FS.LEN + i]
  const pairs = FS.LEN + TYPES.length
  const tcp = new Array((b.length - pairs) / 2)
  for (let i = 0, k = pairs; k < b.length; i++, k += 2) tcp[i] = { inode: b[k], totalRetransmits: b[k + 1] }
  return {
    count: b[FS.COUNT],
    byType,
    sendQueueBytes: b[FS.SEND_Q],
    recvQueueBytes: b[FS.RECV_Q],
    tcpSockets: b[FS.TCP_SOCKETS],
    tcpTotalRetransmits: b[FS.TCP_RETRANS],
    tcp
  }
}

module.exports = { fds, fdsSync, fdsJsonSync, diffFds, fdSummary, FD_TYPES: TYPES }
