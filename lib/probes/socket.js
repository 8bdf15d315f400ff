'use strict'
// socketState(): the kernel's queues, buffers and TCP_INFO for one socket, beside the stream's
// own user-space buffer, and a verdict on where the bytes are stuck. The native side fills a
// reused Float64Array (src/socket.rs); the object and the verdict are built here.

const net = require('node:net')
const dgram = require('node:dgram')
const { types } = require('node:util')
const { native, call, supported } = require('../native')
const { invalidArgType, outOfRange, codedError, internalError } = require('../errors')
const { layout, enumStrings, orNull: v } = require('../layout')
const { handleOf, handleFd, tlsParentOf, dgramHandleOf, serverListenedOnce } = require('../node-internals')

let S = null
let buf = null
let buildTcp = null
let tcpStates = null

function ensureLayout () {
  if (S !== null) return
  const l = layout('socket', ['FAMILY', 'TYPE', 'PROTOCOL', 'LOCAL_PORT', 'REMOTE_PORT', 'HAS_LOCAL',
    'HAS_REMOTE', 'LISTENING', 'SNDBUF', 'RCVBUF', 'OUTQ', 'OUTQNSD', 'INQ', 'WRITABLE', 'TCP_INFO_BYTES', 'TCP'])
  buf = new Float64Array(l.LEN)
  buildTcp = tcpBuilder(enumStrings('tcpFields'), l.TCP, l.TCP_INFO_BYTES)
  tcpStates = enumStrings('tcpStates')
  S = l
}

// The tcp object is built by a function generated once from the native field list: one object
// literal with constant slot indices is several times cheaper than adding ~55 keys in a loop,
// and the list lives in one place (src/parse/tcp_info.rs). Two variants: `full` for a kernel
// that returned every field (no NaN checks: half the cost), `partial` turning NaN into null.
function tcpBuilder (names, base, infoBytesSlot) {
  const gen = (checked) => {
    const val = (x) => (checked ? `${x} !== ${x} ? null : ${x}` : x)
    const parts = [`infoBytes: b[${infoBytesSlot}]`]
    names.forEach((name, i) => {
      if (!/^[A-Za-z]+$/.test(name)) throw internalError(`bad TCP_INFO field name ${name}`)
      const x = `b[${base + i}]`
      if (name === 'state') return // top-level `state`
      if (name === 'wscale') {
        parts.push(`sndWscale: ${checked ? `${x} !== ${x} ? null : ` : ''}${x} & 15`,
          `rcvWscale: ${checked ? `${x} !== ${x} ? null : ` : ''}${x} >> 4`)
      } else if (name === 'caState') {
        parts.push(`caState: ${checked ? `${x} !== ${x} ? null : ` : ''}(ca[${x}] || String(${x}))`)
      } else {
        parts.push(`${name}: ${val(x)}`)
      }
    })
    // eslint-disable-next-line no-new-func
    return new Function('b', 'ca', `return { ${parts.join(', ')} }`)
  }
  const full = gen(false)
  const partial = gen(true)
  const slots = base + names.length
  // every field present <=> no slot is NaN; checking the last (highest offset) field suffices
  // because the kernel truncates the struct, it never leaves holes
  return (b, ca) => (b[slots - 1] === b[slots - 1] ? full(b, ca) : partial(b, ca)) // eslint-disable-line no-self-compare
}

const FAMILIES = { 1: 'unix', 2: 'IPv4', 10: 'IPv6', 16: 'netlink', 17: 'packet' }
const INET_PROTOCOLS = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite', 255: 'raw', 262: 'mptcp' }
const TYPES = { 1: 'stream', 2: 'dgram', 3: 'raw', 5: 'seqpacket' }
const CA_STATES = ['open', 'disorder', 'cwr', 'recovery', 'loss']

const EXPECTED = 'a net.Socket, tls.TLSSocket, dgram.Socket, net.Server, http request/response or a file descriptor (integer)'

const validFd = (fd) => Number.isInteger(fd) && fd >= 0

// The kernel socket under a net.Socket: its own handle (TCPWrap, PipeWrap, or TLSWrap, which
// reports the fd of the stream it wraps), else the socket a TLSSocket was layered on.
function netSocketHandle (sock) {
  let s = sock
  for (let depth = 0; s && depth < 8; depth++) {
    const h = handleOf(s)
    if (h && validFd(handleFd(h))) return h
    const next = tlsParentOf(s)
    s = next instanceof net.Socket && next !== s ? next : null
  }
  return null
}

/** { fd, stream } for whatever socketState() / the tracker was given; throws coded errors. */
function resolveTarget (target, name = 'socketOrFd') {
  if (target !== null && typeof target === 'object') {
    // a Proxy can claim any prototype and run code on every property read: not a socket
    if (types.isProxy(target)) throw invalidArgType(name, EXPECTED, target)
    try {
      return resolveObject(target, name)
    } catch (err) {
      // a getter that throws (an object posing as a socket) is a wrong argument, not a crash
      if (err && typeof err.code === 'string') throw err
      throw invalidArgType(name, EXPECTED, target)
    }
  }
  return resolveObject(target, name)
}

function resolveObject (target, name) {
  if (typeof target === 'number') {
    if (!Number.isInteger(target)) throw outOfRange(name, 'an integer', target)
    if (target < 0 || target > 2147483647) throw outOfRange(name, '>= 0 && <= 2147483647', target)
    return { fd: target, stream: null, key: null }
  }
  if (target === null || typeof target !== 'object') throw invalidArgType(name, EXPECTED, target)

  if (target instanceof dgram.Socket) {
    const handle = dgramHandleOf(target)
    if (!handle) throw codedError('ERR_KERNELSCOPE_SOCKET_CLOSED', 'the dgram socket is closed')
    if (!validFd(handleFd(handle))) {
      throw codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the dgram socket has no kernel socket yet: bind() or send() first')
    }
    return { fd: handleFd(handle), stream: null, key: null }
  }

  if (target instanceof net.Server) {
    const h = handleOf(target)
    if (!validFd(handleFd(h))) {
      if (serverListenedOnce(target)) throw codedError('ERR_KERNELSCOPE_SOCKET_CLOSED', 'the server is closed')
      throw codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the server is not listening')
    }
    return { fd: handleFd(h), stream: null, key: null }
  }

  // http.IncomingMessage / ServerResponse / ClientRequest carry the connection as .socket; the
  // stream numbers are the message's own when it is writable (res, req on the client side).
  let stream = null
  let sock = target
  if (!(target instanceof net.Socket)) {
    if (!('socket' in target)) throw invalidArgType(name, EXPECTED, target)
    sock = target.socket
    if (typeof target.writableLength === 'number') stream = target
    // `.socket` that is something else than a socket (a `{ socket: {} }`, a Proxy): wrong type
    if (sock !== null && sock !== undefined && (!(sock instanceof net.Socket) || types.isProxy(sock))) {
      throw invalidArgType(`${name}.socket`, 'a net.Socket', sock)
    }
    if (!(sock instanceof net.Socket)) {
      const done = target.destroyed || target.writableFinished || target.complete
      throw done
        ? codedError('ERR_KERNELSCOPE_SOCKET_CLOSED', 'the message is finished and no longer has a socket')
        : codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the message has no socket yet')
    }
  }
  if (stream === null) stream = sock
  if (sock.destroyed) throw codedError('ERR_KERNELSCOPE_SOCKET_CLOSED', 'the socket is destroyed')
  const handle = netSocketHandle(sock)
  if (handle === null) {
    if (sock.connecting || sock.pending || !handleOf(sock)) {
      throw codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the socket has no kernel socket yet (not connected)')
    }
    throw codedError('ERR_KERNELSCOPE_NO_FD', 'the stream is not backed by a kernel socket (no file descriptor)')
  }
  // the handle keys the identity cache: it lives exactly as long as its kernel socket
  return { fd: handleFd(handle), stream, key: handle }
}

// The verdict is judged over an interval: from the previous call for the same socket at least
// MIN_INTERVAL_MS earlier to now, or, on the first call, since connect (TCP_INFO's counters
// start at 0 there). A kernel counter sampled twice a microsecond apart says nothing, so a
// socket's samples are kept every KEEP_EVERY_MS and the newest one old enough is the baseline.
const MIN_INTERVAL_MS = 100
const KEEP_EVERY_MS = 25
// A window closed this long with no new data sent is a peer that stopped reading: longer than
// TCP_RTO_MIN, the first zero-window probe's timer (a peer that reads keeps the window moving
// every few ms; measured: last data sent 0-4 ms ago with a reader at 50-400 MB/s)
const STALL_MS = 200

const d = (now, then) => (now === null || then === null ? null : now - then)

/**
 * What the interval shows, from the TCP_INFO counters now and at the baseline sample (null:
 * since connect, all counters 0). Every field is null where the kernel lacks the counter.
 */
function intervalOf (t, base, atMs) {
  const b = base || ZERO
  return {
    ms: base === null ? null : atMs - base.atMs,
    busyMs: d(t.busyMs, b.busyMs),
    rwndLimitedMs: d(t.rwndLimitedMs, b.rwndLimitedMs),
    sndbufLimitedMs: d(t.sndbufLimitedMs, b.sndbufLimitedMs),
    // retransmissions the peer reported as duplicates (DSACK) were spurious, not lost: a
    // loopback peer reopening a zero window draws a few
    retransmits: d(t.totalRetransmits, b.totalRetransmits) === null
      ? null
      : Math.max(0, d(t.totalRetransmits, b.totalRetransmits) - (d(t.dsackDups, b.dsackDups) || 0)),
    dataSegsOut: d(t.dataSegsOut, b.dataSegsOut),
    rtoTimeouts: d(t.totalRto, b.totalRto),
    bytesAcked: d(t.bytesAcked, b.bytesAcked)
  }
}
const ZERO = { atMs: 0, busyMs: 0, rwndLimitedMs: 0, sndbufLimitedMs: 0, totalRetransmits: 0, dsackDups: 0, dataSegsOut: 0, totalRto: 0, bytesAcked: 0 }

/**
 * The verdict from a state object and what its interval shows (`iv`: intervalOf() for TCP;
 * for other sockets { ms, base, accepted }: the baseline sample and the stream's bytes taken
 * by the kernel so far). Exported for the docs' rule table
 * tests; the rules, with the fields each uses, are in docs/socket.md.
 */
function verdictOf (s, iv = null) {
  const t = s.tcp
  if (s.protocol === 'tcp' && (s.family === 'IPv4' || s.family === 'IPv6')) {
    if (t === null) return null // TCP_INFO refused: unknown
    if (s.state === 'listen') return t.unacked > t.sacked ? 'accept-queue-full' : 'ok'
    if (s.state === 'syn-sent' || s.state === 'syn-recv') {
      return t.totalRetransmits > 0 || t.retransmits > 0 || t.backoff > 0 ? 'connecting' : 'ok'
    }
    const i = iv || intervalOf(t, null, 0)
    const notSent = s.send.notSentBytes !== null ? s.send.notSentBytes : t.notSentBytes
    const queued = s.send.queuedBytes > 0 || t.unacked > 0
    const mss = t.sndMss > 0 ? t.sndMss : 1
    const windowClosed = t.sndWindowBytes !== null ? t.sndWindowBytes < mss : t.probes > 0
    const rwndShare = i.busyMs > 0 && i.rwndLimitedMs !== null ? i.rwndLimitedMs / i.busyMs : null
    if (notSent > 0 && windowClosed && t.lastDataSentMs >= STALL_MS && (rwndShare === null || rwndShare >= 0.5)) {
      return 'peer-not-reading'
    }
    // losses now (an RTO pending, recovery, segments marked lost) with bytes still queued, or
    // in the interval: an RTO, or at least 1% of the data segments sent retransmitted
    if (queued && (t.retransmits > 0 || t.caState === 'recovery' || t.caState === 'loss' || t.lost > 0)) {
      return 'network-limited'
    }
    if (i.busyMs !== 0 && (i.rtoTimeouts > 0 || (i.retransmits > 0 &&
        (i.dataSegsOut === null || i.retransmits >= 0.01 * i.dataSegsOut)))) return 'network-limited'
    // the peer's window paced most of the busy time, and it is reading: the kernel is not the
    // bottleneck, the peer is (only the stream's own queue can still be a finding)
    const receiverPaced = rwndShare !== null && rwndShare >= 0.5
    if (!receiverPaced) {
      const sndbufShare = i.busyMs > 0 && i.sndbufLimitedMs !== null ? i.sndbufLimitedMs / i.busyMs : 0
      if (s.send.writable === false || sndbufShare >= 0.5) {
        // unsent bytes behind a full congestion window: the path, not the buffer
        return notSent > 0 && t.cwnd > 0 && t.unacked >= t.cwnd ? 'network-limited' : 'send-buffer-full'
      }
    }
  } else if (s.state === 'listen') {
    if (!s.acceptQueue) return null
    return s.acceptQueue.length > s.acceptQueue.backlog ? 'accept-queue-full' : 'ok'
  } else if (s.send.writable === false) {
    const unixConnected = s.family === 'unix' && (s.protocol === 'stream' || s.protocol === 'seqpacket')
    if (!unixConnected) return 'send-buffer-full'
    // a unix socket has no counters: the judgement needs a baseline where the buffer was full
    // too, and no byte accepted since (the stream's accepted bytes, else the queue unchanged)
    const base = iv && iv.base
    if (!base) return null
    if (base.writable !== false) return 'send-buffer-full'
    const moved = base.accepted !== null && iv.accepted !== null
      ? iv.accepted !== base.accepted
      : s.send.queuedBytes !== base.queuedBytes
    if (!moved) return 'peer-not-reading'
  }
  const st = s.stream
  if (st !== null && st.writableLength > st.writableHighWaterMark) return 'app-queue-growing'
  return 'ok'
}

// Samples per socket, for the interval: by libuv handle for sockets passed as objects (it
// lives exactly as long as its kernel socket), by fd number otherwise (checked against the
// endpoints and the counters, since a number can be reused by another socket).
const historyByHandle = new WeakMap()
const historyByFd = new Map()

function sampleOf (s, atMs, accepted) {
  const t = s.tcp
  return {
    atMs,
    busyMs: t ? t.busyMs : null,
    rwndLimitedMs: t ? t.rwndLimitedMs : null,
    sndbufLimitedMs: t ? t.sndbufLimitedMs : null,
    totalRetransmits: t ? t.totalRetransmits : null,
    dsackDups: t ? t.dsackDups : null,
    dataSegsOut: t ? t.dataSegsOut : null,
    totalRto: t ? t.totalRto : null,
    bytesAcked: t ? t.bytesAcked : null,
    segsOut: t ? t.segsOut : null,
    writable: s.send.writable,
    queuedBytes: s.send.queuedBytes,
    accepted
  }
}

function historyFor (key, s) {
  const ident = `${s.family} ${s.protocol} ${s.localAddress} ${s.localPort} ${s.remoteAddress} ${s.remotePort}`
  let h
  if (key !== null) {
    h = historyByHandle.get(key)
    if (h === undefined) historyByHandle.set(key, (h = { ident, samples: [] }))
  } else {
    h = historyByFd.get(s.fd)
    if (h === undefined) historyByFd.set(s.fd, (h = { ident, samples: [] }))
  }
  // another socket behind the same key (fd reused; a connecting socket's endpoints are set
  // at connect): start over
  const last = h.samples[h.samples.length - 1]
  if (h.ident !== ident || (last && s.tcp && last.segsOut !== null && s.tcp.segsOut < last.segsOut)) {
    h.ident = ident
    h.samples.length = 0
  }
  return h
}

/** The baseline for a call at atMs: the newest kept sample at least MIN_INTERVAL_MS old. */
function baselineOf (h, atMs) {
  const xs = h.samples
  for (let i = xs.length - 1; i >= 0; i--) {
    if (atMs - xs[i].atMs >= MIN_INTERVAL_MS) {
      if (i > 0) xs.splice(0, i) // older ones are never needed again
      return xs[0]
    }
  }
  return null
}

function remember (h, sample) {
  const xs = h.samples
  // the newest sample always stays; it replaces the one before it when that one is less than
  // KEEP_EVERY_MS after its own predecessor, so a tight loop of calls keeps a few samples
  const n = xs.length
  if (n >= 2 && sample.atMs - xs[n - 2].atMs < KEEP_EVERY_MS) xs[n - 1] = sample
  else xs.push(sample)
}

// Endpoints of established TCP sockets passed as objects, by handle: they cannot change, so
// later calls skip getsockname, getpeername and the type/protocol lookups (and a string).
const identities = new WeakMap()

function identityOf (b, text, fd) {
  const family = FAMILIES[b[S.FAMILY]] || 'other'
  const inet = family === 'IPv4' || family === 'IPv6'
  const local = b[S.HAS_LOCAL] === 1 ? text[0] : ''
  const hasRemote = b[S.HAS_REMOTE] === 1
  const remote = hasRemote ? text[1] : ''
  return {
    fd,
    family,
    protocol: inet ? (INET_PROTOCOLS[b[S.PROTOCOL]] || 'other') : (TYPES[b[S.TYPE]] || 'other'),
    hasRemote,
    localAddress: local === '' ? null : local,
    localPort: v(b[S.LOCAL_PORT]),
    remoteAddress: remote === '' ? null : remote,
    remotePort: v(b[S.REMOTE_PORT])
  }
}

function socketState (socketOrFd) {
  if (!supported) native() // throws ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM, before argument checks
  const { fd, stream, key } = resolveTarget(socketOrFd)
  ensureLayout()
  const b = buf
  let id = key === null ? undefined : identities.get(key)
  const into = native().socketStateInto
  if (id !== undefined && id.fd === fd) {
    call(into, fd, b, true)
  } else {
    id = identityOf(b, call(into, fd, b, false), fd)
  }
  const tcpInfo = id.protocol === 'tcp' && b[S.TCP_INFO_BYTES] > 0
  let state
  if (id.protocol === 'tcp') {
    const code = b[S.TCP] // tcpi_state is the first TCP_INFO field
    state = code !== code ? null : (tcpStates[code] || 'unknown') // eslint-disable-line no-self-compare
    if (key !== null && state === 'established') identities.set(key, id)
  } else if (b[S.LISTENING] === 1) {
    state = 'listen'
  } else {
    state = id.hasRemote ? 'established' : 'unconnected'
  }
  const w = b[S.WRITABLE]
  const s = {
    fd,
    family: id.family,
    protocol: id.protocol,
    state,
    localAddress: id.localAddress,
    localPort: id.localPort,
    remoteAddress: id.remoteAddress,
    remotePort: id.remotePort,
    send: {
      bufferBytes: v(b[S.SNDBUF]),
      queuedBytes: v(b[S.OUTQ]),
      notSentBytes: v(b[S.OUTQNSD]),
      writable: w !== w ? null : w === 1 // eslint-disable-line no-self-compare
    },
    recv: { bufferBytes: v(b[S.RCVBUF]), queuedBytes: v(b[S.INQ]) },
    tcp: tcpInfo ? buildTcp(b, CA_STATES) : null,
    stream: stream === null
      ? null
      : {
          writableLength: stream.writableLength,
          writableHighWaterMark: stream.writableHighWaterMark,
          writableNeedDrain: stream.writableNeedDrain === true
        },
    acceptQueue: null,
    verdict: null
  }
  if (state === 'listen') {
    if (s.tcp !== null) {
      // tcp_get_info() of a listener: unacked = sk_ack_backlog, sacked = sk_max_ack_backlog
      s.acceptQueue = { length: s.tcp.unacked, backlog: s.tcp.sacked }
    } else if (id.family === 'unix') {
      s.acceptQueue = unixAcceptQueue(fd)
    } else {
      s.acceptQueue = null
    }
  }
  const atMs = performance.now()
  const h = historyFor(key, s)
  const base = baselineOf(h, atMs)
  // bytes the kernel took from the stream so far (written minus what the stream still holds)
  const accepted = stream !== null && typeof stream.bytesWritten === 'number' && typeof stream.writableLength === 'number'
    ? stream.bytesWritten - stream.writableLength
    : null
  const iv = s.tcp !== null ? intervalOf(s.tcp, base, atMs) : { ms: base === null ? null : atMs - base.atMs, base, accepted }
  s.verdict = verdictOf(s, iv)
  remember(h, sampleOf(s, atMs, accepted))
  return s
}

// A unix listener's accept queue from unix_diag (SIOCINQ refuses listeners): null when
// netlink is refused.
function unixAcceptQueue (fd) {
  try {
    const [length, backlog] = call(native().unixQueues, fd)
    return { length, backlog }
  } catch {
    return null
  }
}

module.exports = { socketState, verdictOf, intervalOf, resolveTarget }
