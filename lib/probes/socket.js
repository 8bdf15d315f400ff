'use strict'
// socketState(): the kernel's queues, buffers and TCP_INFO for one socket, beside the stream's
// own user-space buffer, and a verdict on where the bytes are stuck. The native side fills a
// reused Float64Array (src/socket.rs); the object and the verdict are built here.

const net = require('node:net')
const dgram = require('node:dgram')
const { native, call, supported } = require('../native')
const { invalidArgType, outOfRange, codedError, internalError } = require('../errors')
const { layout, enumStrings, orNull: v } = require('../layout')

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
    const h = s._handle
    if (h && validFd(h.fd)) return h
    const next = s._parent || (h && h._parentWrap) || null
    s = next instanceof net.Socket && next !== s ? next : null
  }
  return null
}

/** { fd, stream } for whatever socketState() / the tracker was given; throws coded errors. */
function resolveTarget (target, name = 'socketOrFd') {
  if (typeof target === 'number') {
    if (!Number.isInteger(target)) throw outOfRange(name, 'an integer', target)
    if (target < 0 || target > 2147483647) throw outOfRange(name, '>= 0 && <= 2147483647', target)
    return { fd: target, stream: null, key: null }
  }
  if (target === null || typeof target !== 'object') throw invalidArgType(name, EXPECTED, target)

  if (target instanceof dgram.Socket) {
    const state = target[Object.getOwnPropertySymbols(target).find((s) => s.description === 'state symbol')]
    const handle = state && state.handle
    if (!handle) throw codedError('ERR_KERNELSCOPE_SOCKET_CLOSED', 'the dgram socket is closed')
    if (!validFd(handle.fd)) {
      throw codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the dgram socket has no kernel socket yet: bind() or send() first')
    }
    return { fd: handle.fd, stream: null, key: null }
  }

  if (target instanceof net.Server) {
    const h = target._handle
    if (!h || !validFd(h.fd)) throw codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the server is not listening')
    return { fd: h.fd, stream: null, key: null }
  }

  // http.IncomingMessage / ServerResponse / ClientRequest carry the connection as .socket; the
  // stream numbers are the message's own when it is writable (res, req on the client side).
  let stream = null
  let sock = target
  if (!(target instanceof net.Socket)) {
    if (!('socket' in target)) throw invalidArgType(name, EXPECTED, target)
    sock = target.socket
    if (typeof target.writableLength === 'number') stream = target
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
    if (sock.connecting || sock.pending || !sock._handle) {
      throw codedError('ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED', 'the socket has no kernel socket yet (not connected)')
    }
    throw codedError('ERR_KERNELSCOPE_NO_FD', 'the stream is not backed by a kernel socket (no file descriptor)')
  }
  // the handle keys the identity cache: it lives exactly as long as its kernel socket
  return { fd: handle.fd, stream, key: handle }
}

/**
 * The verdict, from a state object alone (exported for the docs' rule table tests):
 * 1. TCP with unsent bytes in the kernel (notSentBytes > 0):
 *    a. the peer's advertised window is below one MSS (tcpi_snd_wnd; where the kernel lacks it,
 *       zero-window probes are outstanding) -> 'peer-not-reading'
 *    b. a retransmission timeout is pending, the congestion state is recovery/loss, or the
 *       segments in flight fill the congestion window -> 'network-limited'
 *    c. the kernel refuses more bytes (no POLLOUT) -> 'send-buffer-full'
 * 2. Other sockets whose send buffer is full (no POLLOUT): a unix stream/seqpacket socket's
 *    bytes wait in the peer's receive queue -> 'peer-not-reading'; otherwise 'send-buffer-full'.
 * 3. The stream holds more than its highWaterMark in user space -> 'app-queue-growing'.
 * 4. Otherwise 'ok'.
 */
function verdictOf (s) {
  const t = s.tcp
  if (t !== null && s.protocol === 'tcp') {
    const notSent = s.send.notSentBytes !== null ? s.send.notSentBytes : t.notSentBytes
    if (notSent > 0) {
      const mss = t.sndMss > 0 ? t.sndMss : 1
      const windowClosed = t.sndWindowBytes !== null ? t.sndWindowBytes < mss : t.probes > 0
      if (windowClosed) return 'peer-not-reading'
      if (t.retransmits > 0 || t.caState === 'recovery' || t.caState === 'loss' ||
          (t.cwnd > 0 && t.unacked >= t.cwnd)) return 'network-limited'
      if (s.send.writable === false) return 'send-buffer-full'
    }
  } else if (s.send.writable === false) {
    const unixConnected = s.family === 'unix' && (s.protocol === 'stream' || s.protocol === 'seqpacket')
    return unixConnected ? 'peer-not-reading' : 'send-buffer-full'
  }
  const st = s.stream
  if (st !== null && st.writableLength > st.writableHighWaterMark) return 'app-queue-growing'
  return 'ok'
}

// Endpoints of established TCP sockets passed as objects, by handle: they cannot change, so
// later calls skip getsockname, getpeername and the type/protocol lookups (and a string).
const identities = new WeakMap()

function identityOf (b, text, fd) {
  const nl = text.indexOf('\n')
  const family = FAMILIES[b[S.FAMILY]] || 'other'
  const inet = family === 'IPv4' || family === 'IPv6'
  const local = b[S.HAS_LOCAL] === 1 ? text.slice(0, nl) : ''
  const hasRemote = b[S.HAS_REMOTE] === 1
  const remote = hasRemote ? text.slice(nl + 1) : ''
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
    verdict: 'ok'
  }
  s.verdict = verdictOf(s)
  return s
}

module.exports = { socketState, verdictOf, resolveTarget }
