'use strict'
// Every reach into Node's undocumented internals (underscore properties, symbols, the fields of
// async_hooks resources) lives here, at the bottom layer, so that a Node release renaming one
// breaks one place: __test__/node-internals.test.js checks each accessor on real objects on the
// whole Node matrix. Each returns null (or the safe default named below) when the internal is
// absent, and never throws on a well-formed Node object.

/** The libuv handle wrap (TCPWrap, PipeWrap, TLSWrap, Process) of a net.Socket, net.Server or ChildProcess. */
function handleOf (obj) {
  return (obj && obj._handle) || null
}

/** The fd of a handle wrap (TCPWrap, PipeWrap, UDP, TLSWrap: the fd of the stream it wraps); -1 when it has none. */
function handleFd (handle) {
  const fd = handle && handle.fd
  return Number.isInteger(fd) && fd >= 0 ? fd : -1
}

/** What a TLSSocket was layered on: `_parent` (tls.connect({ socket })), else its TLSWrap's `_parentWrap`. */
function tlsParentOf (sock) {
  const h = handleOf(sock)
  return sock._parent || (h && h._parentWrap) || null
}

/** The UDP handle of a dgram.Socket, kept in its internal state object ('state symbol'); null once closed. */
function dgramHandleOf (sock) {
  const key = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol')
  const state = key === undefined ? undefined : sock[key]
  return (state && state.handle) || null
}

/** Whether a net.Server listened at some point: it keeps `_connectionKey` after close(). */
function serverListenedOnce (server) {
  return typeof server._connectionKey === 'string'
}

/** A handle's peer, '1.2.3.4:80' or '[::1]:80', from its getpeername(out); null when it has none. */
function handlePeer (handle) {
  try {
    const o = {}
    if (handle && typeof handle.getpeername === 'function' && handle.getpeername(o) === 0 && o.address) {
      return (o.address.includes(':') ? `[${o.address}]` : o.address) + ':' + o.port
    }
  } catch {}
  return null
}

/** WRITEWRAP / SHUTDOWNWRAP resources: the stream handle written to. */
function writeReqHandle (req) {
  return (req && req.handle) || null
}

/** WRITEWRAP: the bytes this write carries; null when not told. */
function writeReqBytes (req) {
  return req && typeof req.bytes === 'number' ? req.bytes : null
}

/** TCPCONNECTWRAP / PIPECONNECTWRAP: where the connect goes, '1.2.3.4:80', '[::1]:80' or a pipe path; null when not told. */
function connectReqTarget (req) {
  if (!req || req.address === undefined) return null
  const a = String(req.address)
  return (a.includes(':') ? `[${a}]` : a) + (req.port !== undefined ? ':' + req.port : '')
}

/**
 * FSREQCALLBACK of fs.readFile: the fd its ReadFileContext holds (after the open); -1 otherwise
 * (Node 26 reads a small regular file in one request without a context).
 */
function fsReqFd (req) {
  const fd = req && req.context && req.context.fd
  return typeof fd === 'number' && fd >= 0 ? fd : -1
}

/** A Timeout's delay in ms (`_idleTimeout`); null when not told. */
function timeoutDelayMs (timeout) {
  return timeout && typeof timeout._idleTimeout === 'number' ? timeout._idleTimeout : null
}

/** Whether a Writable emits 'close' when destroyed (its `_writableState.emitClose`; true when not told). */
function writableEmitsClose (stream) {
  return !(stream._writableState && stream._writableState.emitClose === false)
}

module.exports = {
  handleOf,
  handleFd,
  tlsParentOf,
  dgramHandleOf,
  serverListenedOnce,
  handlePeer,
  writeReqHandle,
  writeReqBytes,
  connectReqTarget,
  fsReqFd,
  timeoutDelayMs,
  writableEmitsClose
}
