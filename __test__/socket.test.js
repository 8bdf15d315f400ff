'use strict'
// socketState(), write() and watchBackpressure() against ss(8) and peers the test controls
// (a server that never reads, then reads and checks every byte's value and order).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const net = require('node:net')
const tls = require('node:tls')
const http = require('node:http')
const dgram = require('node:dgram')
const { once } = require('node:events')
const { execFileSync } = require('node:child_process')
const ks = require('..')
const { tmpdir, hasTool, sleep, until, spawnChild, stopChild, destroySocket, closeServer } = require('./helpers')

const MiB = 1024 * 1024
const HAS_SS = hasTool('ss')

// byte i of a transfer is i % 251: a prime period, so a lost, doubled or reordered chunk of any
// power-of-two size shows up at the peer
function patterned (offset, size) {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (offset + i) % 251
  return b
}

/** A TCP server whose connections start paused; `reader(sock)` verifies the stream it reads. */
async function pausedServer () {
  const conns = []
  const server = net.createServer({ pauseOnConnect: true }, (s) => conns.push(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, conns, port: server.address().port }
}

/** Reads a connection to the end, checking the pattern; resolves with the byte count. */
function verifyingReader (sock) {
  let offset = 0
  let bad = -1
  sock.on('data', (d) => {
    if (bad < 0) {
      for (let i = 0; i < d.length; i++) {
        if (d[i] !== (offset + i) % 251) { bad = offset + i; break }
      }
    }
    offset += d.length
  })
  sock.resume()
  return {
    get bytes () { return offset },
    get firstBadByte () { return bad }
  }
}

/** `ss -tni` for the connection with this local port: { sendQ, recvQ, notsent }. */
function ssLine (localPort) {
  const out = execFileSync('ss', ['-tniH', 'src', `127.0.0.1:${localPort}`], { encoding: 'utf8' })
  const [head, ...rest] = out.trim().split('\n')
  if (!head) return null
  const cols = head.trim().split(/\s+/)
  const info = rest.join(' ')
  const notsent = /notsent:(\d+)/.exec(info)
  return { recvQ: Number(cols[1]), sendQ: Number(cols[2]), notsent: notsent ? Number(notsent[1]) : 0, info }
}

// closes whatever a test opened even when an assertion fails midway (an open handle would keep
// the test process alive), and waits until it is gone: sockets and custom closers first, then
// the servers (whose close completes once their connections are gone)
function cleanup (t, ...things) {
  t.after(async () => {
    const servers = things.filter((x) => x instanceof net.Server)
    for (const x of things) {
      if (servers.includes(x)) continue
      try {
        if (typeof x.destroy === 'function') await destroySocket(x)
        else await x.close()
      } catch {}
    }
    await Promise.all(servers.map(closeServer))
  })
}

const within = (a, b, frac) => Math.abs(a - b) <= Math.max(1, Math.abs(b)) * frac

test('peer not reading: kernel queues agree with ss, verdict, ignored falses counted; then it drains to ok', { skip: !HAS_SS && 'ss (iproute2) is not installed' }, async (t) => {
  const { server, conns, port } = await pausedServer()
  const client = net.connect(port, '127.0.0.1')
  cleanup(t, client, server, { close: () => Promise.all(conns.map(destroySocket)) })
  await once(client, 'connect')
  await until(() => conns.length === 1)
  const tracker = ks.watchBackpressure(client)

  // write 40 MiB ignoring write()'s false, and count the ignored falses ourselves
  const TOTAL = 40 * MiB
  const CHUNK = MiB
  let waiting = false
  let expectIgnored = 0
  let expectStalls = 0
  client.on('drain', () => { waiting = false })
  for (let off = 0; off < TOTAL; off += CHUNK) {
    if (waiting) expectIgnored++
    if (!client.write(patterned(off, CHUNK)) && !waiting) {
      waiting = true
      expectStalls++
    }
  }

  // the paused peer's window closes; wait until the kernel's queue stops moving
  let prev = -1
  let st
  for (let i = 0; i < 100; i++) {
    await sleep(50)
    st = ks.socketState(client)
    if (st.send.notSentBytes === prev && st.tcp.sndWindowBytes === 0) break
    prev = st.send.notSentBytes
  }
  const ss = ssLine(client.localPort)
  const peerSs = ssLine(port)
  st = ks.socketState(client)

  t.diagnostic(`kernelscope queuedBytes ${st.send.queuedBytes} notSentBytes ${st.send.notSentBytes}; ` +
    `ss Send-Q ${ss.sendQ} notsent ${ss.notsent}; peer Recv-Q ${peerSs.recvQ}; writableLength ${st.stream.writableLength}; ` +
    `rttMs ${st.tcp.rttMs}; rwndLimitedMs ${st.tcp.rwndLimitedMs} sndbufLimitedMs ${st.tcp.sndbufLimitedMs}`)
  assert.equal(st.protocol, 'tcp')
  assert.equal(st.family, 'IPv4')
  assert.equal(st.state, 'established')
  assert.equal(st.localPort, client.localPort)
  assert.equal(st.remoteAddress, '127.0.0.1')
  assert.equal(st.remotePort, port)
  assert.ok(st.send.queuedBytes > 0, 'bytes wait in the kernel')
  assert.ok(within(st.send.queuedBytes, ss.sendQ, 0.1), `queuedBytes ${st.send.queuedBytes} vs ss Send-Q ${ss.sendQ}`)
  assert.ok(within(st.send.notSentBytes, ss.notsent, 0.1), `notSentBytes ${st.send.notSentBytes} vs ss notsent ${ss.notsent}`)
  assert.ok(st.send.notSentBytes <= st.send.queuedBytes)
  assert.ok(st.tcp.rttMs > 0, `rttMs ${st.tcp.rttMs}`)
  assert.ok(st.tcp.rwndLimitedMs > 0, 'limited by the receive window')
  assert.equal(st.tcp.infoBytes >= 104, true)
  assert.equal(st.send.writable, false, 'the kernel refuses more bytes')
  // the rest is in user space: acked bytes sit in the peer's receive queue (ss Recv-Q)
  assert.ok(within(st.tcp.bytesAcked - 1, peerSs.recvQ, 0.1), `bytesAcked ${st.tcp.bytesAcked} vs peer Recv-Q ${peerSs.recvQ}`)
  const accounted = st.stream.writableLength + st.send.queuedBytes + peerSs.recvQ
  assert.ok(Math.abs(accounted - TOTAL) <= CHUNK, `writableLength ${st.stream.writableLength} + kernel ${st.send.queuedBytes} + peer ${peerSs.recvQ} = ${accounted} ≈ ${TOTAL}`)
  assert.ok(st.stream.writableLength > TOTAL / 2)
  assert.equal(st.stream.writableNeedDrain, true)
  // the verdict is judged over the interval since the previous call: give it one in which the
  // peer went on not reading
  await sleep(300)
  assert.equal(ks.socketState(client).verdict, 'peer-not-reading')

  const s1 = tracker.stats()
  assert.equal(s1.writes, TOTAL / CHUNK)
  assert.equal(s1.writesIgnoringBackpressure, expectIgnored)
  assert.ok(expectIgnored > 30, `most writes ignored false (${expectIgnored})`)
  assert.equal(s1.stalls, expectStalls)
  assert.ok(s1.stalledMs > 0)
  assert.ok(s1.maxWritableLength >= st.stream.writableLength)
  // the peer's side: the acked bytes wait in its receive queue (SIOCINQ against ss Recv-Q)
  const peerSt = ks.socketState(conns[0])
  assert.ok(within(peerSt.recv.queuedBytes, peerSs.recvQ, 0.1), `peer recv.queuedBytes ${peerSt.recv.queuedBytes} vs ss Recv-Q ${peerSs.recvQ}`)
  assert.equal(peerSt.verdict, 'ok')

  // the peer reads now: every byte arrives in order, queues drain to 0, verdict ok
  const reader = verifyingReader(conns[0])
  await until(() => reader.bytes === TOTAL, 30000)
  assert.equal(reader.bytes, TOTAL)
  assert.equal(reader.firstBadByte, -1, 'every byte in order')
  const done = await until(() => {
    const s = ks.socketState(client)
    return s.send.queuedBytes === 0 && s.stream.writableLength === 0 ? s : null
  }, 5000)
  assert.ok(done, 'queues drained')
  assert.equal(done.send.notSentBytes, 0)
  assert.equal(done.verdict, 'ok', JSON.stringify(done.tcp))
  const s2 = tracker.stats()
  assert.ok(s2.stalledMs >= s1.stalledMs)
  tracker.close()
  client.destroy()
  server.close()
})

test('write() waits for drain: writableLength stays within one chunk of highWaterMark, bytes arrive in order', async (t) => {
  const { server, conns, port } = await pausedServer()
  const client = net.connect(port, '127.0.0.1')
  cleanup(t, client, server, { close: () => Promise.all(conns.map(destroySocket)) })
  await once(client, 'connect')
  await until(() => conns.length === 1)
  const tracker = ks.watchBackpressure(client)
  const hwm = client.writableHighWaterMark
  const CHUNK = 64 * 1024
  const TOTAL = 24 * MiB
  let maxLen = 0
  let off = 0
  // the peer stays paused for a while so write() really has to wait, then reads
  const resumeAt = setTimeout(() => { reader = verifyingReader(conns[0]) }, 300)
  let reader = null
  // sequential awaits for the first half ...
  while (off < TOTAL / 2) {
    await ks.write(client, patterned(off, CHUNK))
    off += CHUNK
    maxLen = Math.max(maxLen, client.writableLength)
  }
  // ... then many concurrent calls: they must queue, in order, behind the drain
  const pending = []
  while (off < TOTAL) {
    pending.push(ks.write(client, patterned(off, CHUNK)).then(() => { maxLen = Math.max(maxLen, client.writableLength) }))
    off += CHUNK
  }
  await Promise.all(pending)
  clearTimeout(resumeAt)
  if (reader === null) reader = verifyingReader(conns[0])
  await until(() => reader.bytes === TOTAL, 30000)
  assert.equal(reader.bytes, TOTAL, 'every byte delivered')
  assert.equal(reader.firstBadByte, -1, 'in order')
  const s = tracker.stats()
  assert.ok(maxLen <= hwm + CHUNK, `max writableLength ${maxLen} <= hwm ${hwm} + one chunk`)
  assert.ok(s.maxWritableLength <= hwm + CHUNK, `tracker saw ${s.maxWritableLength}`)
  assert.equal(s.writesIgnoringBackpressure, 0, 'write() never writes past a false')
  assert.equal(s.writes, TOTAL / CHUNK)
  assert.ok(s.stalls > 0, 'it did have to wait')
  tracker.close()
  client.destroy()
  server.close()
})

test('write() rejects when the stream is destroyed while it waits, and on a destroyed stream', async (t) => {
  const { server, conns, port } = await pausedServer()
  const client = net.connect(port, '127.0.0.1')
  cleanup(t, client, server, { close: () => Promise.all(conns.map(destroySocket)) })
  await once(client, 'connect')
  const big = Buffer.alloc(4 * MiB)
  let p
  // fill until the kernel takes no more (the peer does not read): a write whose bytes stay in
  // the stream's own buffer is then sure to be waiting when the stream is destroyed (a write the
  // kernel's autotuned buffers swallowed within the 50 ms would resolve instead)
  const earlier = []
  for (let i = 0; i < 64; i++) {
    if (p) earlier.push(p.catch(() => {}))
    p = ks.write(client, big)
    await new Promise((resolve) => setTimeout(resolve, 20))
    if (client.writableLength >= big.length) break
  }
  assert.ok(client.writableLength >= big.length, `the kernel took everything: ${client.writableLength}`)
  assert.equal(client.writableNeedDrain, true)
  const queued = ks.write(client, big) // queues behind the drain
  setTimeout(() => client.destroy(), 50)
  await assert.rejects(p, (err) => typeof err.code === 'string')
  await assert.rejects(queued, (err) => typeof err.code === 'string')
  await assert.rejects(ks.write(client, 'x'), { code: 'ERR_STREAM_DESTROYED' })
  await assert.rejects(ks.write({}, 'x'), { code: 'ERR_INVALID_ARG_TYPE' })
  await Promise.all(earlier)
  server.close()
})

test('watchBackpressure().close() leaves the socket exactly as it found it', async (t) => {
  const { server, conns, port } = await pausedServer()
  const client = net.connect(port, '127.0.0.1')
  cleanup(t, client, server, { close: () => Promise.all(conns.map(destroySocket)) })
  await once(client, 'connect')
  const drainListeners = client.listenerCount('drain')
  const protoWrite = client.write
  const tracker = ks.watchBackpressure(client)
  assert.notEqual(client.write, protoWrite)
  client.write('abc')
  tracker.close()
  assert.equal(Object.prototype.hasOwnProperty.call(client, 'write'), false)
  assert.equal(client.write, protoWrite)
  assert.equal(client.listenerCount('drain'), drainListeners)
  assert.equal(tracker.stats().writes, 1)
  client.write('def')
  assert.equal(tracker.stats().writes, 1, 'no counting after close')

  // an own write property (someone's wrapper) is put back as it was
  const own = function write (...a) { return protoWrite.apply(this, a) }
  client.write = own
  const t2 = ks.watchBackpressure(client)
  client.write('x')
  t2.close()
  assert.equal(client.write, own)
  assert.throws(() => ks.watchBackpressure('nope'), { code: 'ERR_INVALID_ARG_TYPE' })
  client.destroy()
  server.close()
})

test('TLS: the state of the TCP socket underneath, with the TLS stream\'s own buffer', { skip: !hasTool('openssl') && 'openssl is not installed (needed to make a test certificate)' }, async (t) => {
  const dir = tmpdir()
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  const server = tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (s) => {
    serverSide = s
  })
  let serverSide = null
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = server.address().port
  const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
  // the server's side never reads, so it would never see the client's FIN: destroyed here
  cleanup(t, client, server, { close: () => serverSide && destroySocket(serverSide) })
  await once(client, 'secureConnect')
  await until(() => serverSide !== null)
  client.write('hello')
  const st = ks.socketState(client)
  assert.equal(st.protocol, 'tcp')
  assert.equal(st.state, 'established')
  assert.equal(st.localPort, client.localPort)
  assert.equal(st.remotePort, port)
  assert.ok(st.tcp !== null && st.tcp.bytesSent > 0, 'the TLS handshake went through this socket')
  assert.equal(typeof st.stream.writableLength, 'number')
  assert.equal(st.stream.writableHighWaterMark, client.writableHighWaterMark)
  // the fd is the one of the TCP socket: ss sees the same endpoints
  const byFd = ks.socketState(st.fd)
  assert.equal(byFd.localPort, client.localPort)
  assert.equal(byFd.stream, null)
  const srv = ks.socketState(serverSide)
  assert.equal(srv.localPort, port)
  assert.equal(srv.remotePort, client.localPort)
  client.destroy()
  server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('http request and response give their connection\'s socket; the response\'s own buffer', async (t) => {
  let seen = null
  const server = http.createServer((req, res) => {
    const a = ks.socketState(req)
    const b = ks.socketState(res)
    seen = { a, b, remotePort: req.socket.remotePort }
    res.end('ok')
  })
  server.listen(0, '127.0.0.1')
  cleanup(t, server)
  await once(server, 'listening')
  const port = server.address().port
  await new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', agent: false }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject)
  })
  assert.ok(seen)
  assert.equal(seen.a.fd, seen.b.fd)
  assert.equal(seen.a.localPort, port)
  assert.equal(seen.a.remotePort, seen.remotePort)
  assert.equal(seen.a.protocol, 'tcp')
  assert.equal(typeof seen.b.stream.writableLength, 'number')
  server.close()
})

test('unix-domain socket: path endpoints, queues, no tcp part; a full buffer means the peer is not reading', async (t) => {
  const dir = tmpdir()
  const sockPath = path.join(dir, 's.sock')
  const { server, conns } = await (async (t) => {
    const conns = []
    const server = net.createServer({ pauseOnConnect: true }, (s) => conns.push(s))
    server.listen(sockPath)
    await once(server, 'listening')
    return { server, conns }
  })()
  const client = net.connect(sockPath)
  cleanup(t, client, server, { close: () => Promise.all(conns.map(destroySocket)) })
  await once(client, 'connect')
  await until(() => conns.length === 1)
  let st = ks.socketState(client)
  assert.equal(st.family, 'unix')
  assert.equal(st.protocol, 'stream')
  assert.equal(st.state, 'established')
  assert.equal(st.remoteAddress, sockPath)
  assert.equal(st.localAddress, null, 'the client is unnamed')
  assert.equal(st.localPort, null)
  assert.equal(st.tcp, null)
  assert.equal(st.send.notSentBytes, null, 'SIOCOUTQNSD is TCP only')
  assert.equal(typeof st.send.queuedBytes, 'number')
  assert.equal(typeof st.send.bufferBytes, 'number')
  const srv = ks.socketState(conns[0])
  assert.equal(srv.localAddress, sockPath)
  assert.equal(ks.socketState(server._handle.fd).state, 'listen')
  const ls = ks.socketState(server)
  assert.equal(ls.state, 'listen', 'a net.Server gives its listening socket')
  assert.deepEqual(ls.acceptQueue, { length: 0, backlog: 511 }, 'unix_diag: nothing waiting, Node\'s default backlog')
  assert.equal(ls.verdict, 'ok')

  for (let i = 0; i < 16; i++) client.write(Buffer.alloc(MiB))
  st = await until(() => { const s = ks.socketState(client); return s.send.writable === false ? s : null }, 5000)
  assert.ok(st, 'the send buffer fills')
  // a unix socket has no counters: one instant cannot tell a full buffer from a stalled peer
  // unless an earlier call saw it full too, and no byte was taken since
  await sleep(150)
  st = ks.socketState(client)
  assert.equal(st.verdict, 'peer-not-reading')
  const peer = ks.socketState(conns[0])
  assert.ok(peer.recv.queuedBytes > 0, `the bytes wait in the peer's receive queue (${peer.recv.queuedBytes})`)
  client.destroy()
  server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('UDP: endpoints and queues, no tcp and no stream part; unbound and closed sockets are coded errors', async (t) => {
  const a = dgram.createSocket('udp4')
  assert.throws(() => ks.socketState(a), { code: 'ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED' })
  a.bind(0, '127.0.0.1')
  await once(a, 'listening')
  const b = dgram.createSocket('udp4')
  cleanup(t, { close: () => { try { a.close() } catch {} } }, { close: () => { try { b.close() } catch {} } })
  b.bind(0, '127.0.0.1')
  await once(b, 'listening')
  let st = ks.socketState(a)
  assert.equal(st.protocol, 'udp')
  assert.equal(st.family, 'IPv4')
  assert.equal(st.state, 'unconnected')
  assert.equal(st.localPort, a.address().port)
  assert.equal(st.remoteAddress, null)
  assert.equal(st.tcp, null)
  assert.equal(st.stream, null)
  assert.equal(typeof st.recv.queuedBytes, 'number')
  assert.equal(typeof st.send.queuedBytes, 'number')
  assert.equal(st.send.notSentBytes, null)
  a.connect(b.address().port, '127.0.0.1')
  await once(a, 'connect')
  st = ks.socketState(a)
  assert.equal(st.state, 'established')
  assert.equal(st.remotePort, b.address().port)
  a.close()
  b.close()
  assert.throws(() => ks.socketState(a), { code: 'ERR_KERNELSCOPE_SOCKET_CLOSED' })
})

test('bad input: ENOTSOCK, EBADF, out of range, wrong types, destroyed and unconnected sockets', async (t) => {
  const fd = fs.openSync(__filename, 'r')
  assert.throws(() => ks.socketState(fd), { code: 'ENOTSOCK', syscall: 'getsockname' })
  fs.closeSync(fd)
  assert.throws(() => ks.socketState(fd), { code: 'EBADF', errno: -9 })
  assert.throws(() => ks.socketState(-1), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' })
  assert.throws(() => ks.socketState(2.5), { code: 'ERR_OUT_OF_RANGE' })
  for (const bad of ['3', {}, null, undefined, [], () => 3]) {
    assert.throws(() => ks.socketState(bad), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' })
  }
  assert.throws(() => ks.socketState(new net.Socket()), { code: 'ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED' })
  assert.throws(() => ks.socketState(net.createServer()), { code: 'ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED' }, 'a server not listening')
  const { server, conns, port } = await pausedServer()
  const c = net.connect(port, '127.0.0.1')
  cleanup(t, c, server, { close: () => Promise.all(conns.map(destroySocket)) })
  assert.throws(() => ks.socketState(c), { code: 'ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED' }, 'connect not yet started')
  await once(c, 'connect')
  assert.equal(ks.socketState(c).state, 'established')
  c.destroy()
  assert.throws(() => ks.socketState(c), { code: 'ERR_KERNELSCOPE_SOCKET_CLOSED' })
  server.close()
})

test('a numeric fd gives the same socket without a stream part', async (t) => {
  const { server, conns, port } = await pausedServer()
  const c = net.connect(port, '127.0.0.1')
  cleanup(t, c, server, { close: () => Promise.all(conns.map(destroySocket)) })
  await once(c, 'connect')
  const byFd = ks.socketState(c._handle.fd)
  const bySocket = ks.socketState(c)
  assert.equal(byFd.fd, bySocket.fd)
  assert.equal(byFd.localPort, c.localPort)
  assert.equal(byFd.stream, null)
  assert.notEqual(bySocket.stream, null)
  c.destroy()
  server.close()
})

test('the verdict rules, case by case (docs/socket.md)', () => {
  const { verdictOf } = require('../lib/probes/socket')
  const tcp = (t, send = {}, stream = null, state = 'established') => ({
    protocol: 'tcp',
    family: 'IPv4',
    state,
    send: { notSentBytes: 0, queuedBytes: 0, writable: true, ...send },
    tcp: {
      notSentBytes: 0,
      sndMss: 1000,
      sndWindowBytes: 65536,
      probes: 0,
      retransmits: 0,
      backoff: 0,
      caState: 'open',
      cwnd: 10,
      unacked: 0,
      sacked: 0,
      lost: 0,
      lastDataSentMs: 0,
      totalRetransmits: 0,
      ...t
    },
    stream
  })
  // the interval: busy / rwnd / sndbuf ms, retransmits (DSACK'd ones taken off), RTOs, data segments
  const iv = (x) => ({ ms: 200, busyMs: 200, rwndLimitedMs: 0, sndbufLimitedMs: 0, retransmits: 0, rtoTimeouts: 0, dataSegsOut: 1000, bytesAcked: 1e6, ...x })
  const paused = { sndWindowBytes: 0, lastDataSentMs: 400 }
  assert.equal(verdictOf(tcp({}), iv({ busyMs: 0 })), 'ok')
  // 1. window closed, nothing sent for >= 200 ms, the window limited most of the busy time
  assert.equal(verdictOf(tcp(paused, { notSentBytes: 5000, queuedBytes: 5000, writable: false }), iv({ rwndLimitedMs: 200 })), 'peer-not-reading')
  // ... on kernels before tcpi_snd_wnd, zero-window probes say the window is closed
  assert.equal(verdictOf(tcp({ sndWindowBytes: null, probes: 2, lastDataSentMs: 400 }, { notSentBytes: 5000 }), iv({ rwndLimitedMs: 190 })), 'peer-not-reading')
  // a peer reading steadily: its window reads 0 at this instant, but data went out 4 ms ago
  assert.equal(verdictOf(tcp({ sndWindowBytes: 0, lastDataSentMs: 4 }, { notSentBytes: 5000, queuedBytes: 5000, writable: false }), iv({ rwndLimitedMs: 180 })), 'ok')
  // 2. the network: an RTO pending, recovery, lost segments, or >= 1% retransmitted in the interval
  assert.equal(verdictOf(tcp({ retransmits: 1, backoff: 2 }, { queuedBytes: 100 }), iv({ busyMs: 200 })), 'network-limited')
  assert.equal(verdictOf(tcp({ caState: 'loss', unacked: 3 }, { notSentBytes: 5000, queuedBytes: 8000 }), iv({})), 'network-limited')
  assert.equal(verdictOf(tcp({}, { queuedBytes: 8000 }), iv({ retransmits: 30, dataSegsOut: 1000 })), 'network-limited')
  assert.equal(verdictOf(tcp({}, { queuedBytes: 8000 }), iv({ retransmits: 1, dataSegsOut: 1000 })), 'ok', '0.1% retransmitted is noise')
  assert.equal(verdictOf(tcp({}, {}), iv({ rtoTimeouts: 1 })), 'network-limited')
  // 3. the send buffer: everything in flight and the kernel refuses more, or the kernel's sndbuf_limited
  assert.equal(verdictOf(tcp({ unacked: 3 }, { queuedBytes: 300000, writable: false }), iv({})), 'send-buffer-full')
  assert.equal(verdictOf(tcp({ unacked: 3 }, { queuedBytes: 300000 }), iv({ sndbufLimitedMs: 150 })), 'send-buffer-full')
  // ... unless unsent bytes wait behind a full congestion window: the path
  assert.equal(verdictOf(tcp({ unacked: 10, cwnd: 10 }, { notSentBytes: 5000, queuedBytes: 15000, writable: false }), iv({})), 'network-limited')
  // ... or the peer's window paced the transfer (it reads; it is the slower side)
  assert.equal(verdictOf(tcp({ sndWindowBytes: 30000 }, { notSentBytes: 5000, queuedBytes: 5000, writable: false }), iv({ rwndLimitedMs: 150 })), 'ok')
  // 4. the stream's own queue
  const big = { writableLength: 100000, writableHighWaterMark: 16384, writableNeedDrain: true }
  assert.equal(verdictOf(tcp({}, {}, big), iv({})), 'app-queue-growing')
  assert.equal(verdictOf(tcp(paused, { notSentBytes: 1 }, big), iv({ rwndLimitedMs: 200 })), 'peer-not-reading', 'a kernel cause wins')
  // a closed window with nothing waiting is not a problem (yet)
  assert.equal(verdictOf(tcp(paused), iv({ busyMs: 0 })), 'ok')
  // connects and listeners
  assert.equal(verdictOf(tcp({ totalRetransmits: 1, backoff: 1 }, {}, null, 'syn-sent'), iv({})), 'connecting')
  assert.equal(verdictOf(tcp({}, {}, null, 'syn-sent'), iv({})), 'ok')
  assert.equal(verdictOf(tcp({ unacked: 2, sacked: 1 }, {}, null, 'listen'), null), 'accept-queue-full')
  assert.equal(verdictOf(tcp({ unacked: 1, sacked: 1 }, {}, null, 'listen'), null), 'ok')
  assert.equal(verdictOf({ ...tcp({}, {}, null, 'listen'), tcp: null }, null), null, 'TCP_INFO refused: unknown')
  const other = (family, protocol, writable, extra = {}) => ({ family, protocol, state: 'established', send: { notSentBytes: null, queuedBytes: 4096, writable }, tcp: null, stream: null, ...extra })
  assert.equal(verdictOf(other('unix', 'stream', false, { state: 'listen', acceptQueue: { length: 2, backlog: 1 } })), 'accept-queue-full')
  assert.equal(verdictOf(other('unix', 'stream', true, { state: 'listen', acceptQueue: { length: 1, backlog: 1 } })), 'ok')
  assert.equal(verdictOf(other('unix', 'stream', true, { state: 'listen', acceptQueue: null })), null)
  // a unix stream has no counters: full at both ends of the interval with nothing taken
  const base = { writable: false, queuedBytes: 4096, accepted: null }
  assert.equal(verdictOf(other('unix', 'stream', false), { ms: 300, base, accepted: null }), 'peer-not-reading')
  assert.equal(verdictOf(other('unix', 'stream', false), { ms: 300, base: { ...base, queuedBytes: 100 }, accepted: null }), 'ok', 'the peer took bytes')
  assert.equal(verdictOf(other('unix', 'stream', false), { ms: 300, base: { ...base, accepted: 10 }, accepted: 20 }), 'ok', 'the kernel took bytes from the stream')
  assert.equal(verdictOf(other('unix', 'stream', false), { ms: null, base: null, accepted: null }), null, 'one instant cannot tell')
  assert.equal(verdictOf(other('IPv4', 'udp', false)), 'send-buffer-full')
  assert.equal(verdictOf(other('IPv4', 'udp', true)), 'ok')
})

test('a connect whose SYN is dropped: answered in syn-sent, the SYN retransmit counted', async (t) => {
  // a listener with backlog 1 that never accepts (its process blocks its event loop): three
  // connections fill its queue, a further client's SYN is dropped and retransmitted after ~1 s
  // (TESTBED.md)
  const child = spawnChild(process.execPath, ['-e', `
    const server = require('node:net').createServer()
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      console.log(server.address().port)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000)
    })`])
  const fill = []
  cleanup(t, { close: () => stopChild(child) }, { close: () => Promise.all(fill.map(destroySocket)) })
  const [line] = await once(child.stdout, 'data')
  const port = Number(String(line).trim())
  for (let i = 0; i < 3; i++) fill.push(net.connect(port, '127.0.0.1').on('error', () => {}))
  await sleep(200)
  const c = net.connect(port, '127.0.0.1').on('error', () => {})
  fill.push(c)
  assert.throws(() => ks.socketState(c), { code: 'ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED' }, 'no kernel socket before the connect is issued')
  await sleep(50)
  const s1 = ks.socketState(c)
  assert.equal(s1.state, 'syn-sent')
  assert.equal(s1.remoteAddress, null, 'getpeername says ENOTCONN until the handshake completes')
  assert.equal(s1.verdict, 'ok', 'a connect in flight, no SYN lost yet')
  const s2 = await until(() => { const s = ks.socketState(c); return s.tcp.totalRetransmits >= 1 ? s : null }, 5000, 50)
  assert.ok(s2, 'the SYN was retransmitted within 5 s (the first retransmit is due after 1 s)')
  assert.equal(s2.state, 'syn-sent')
  assert.equal(s2.verdict, 'connecting', 'a connect retransmitting its SYN')
})

test('IPv6 and IPv4-mapped endpoints read the way Node itself shows them', async (t) => {
  let accepted = null
  const conns = []
  const server = net.createServer((s) => { accepted = accepted || s; conns.push(s) })
  server.listen(0, '::') // dual stack: an IPv4 client arrives as ::ffff:127.0.0.1
  // every server-side connection is closed in the same hook as the server (hooks run in order)
  cleanup(t, server, { close: () => Promise.all(conns.map(destroySocket)) })
  try {
    await once(server, 'listening')
  } catch (err) {
    t.skip(`no IPv6 here (${err.code})`)
    return
  }
  const port = server.address().port
  const c4 = net.connect(port, '127.0.0.1')
  cleanup(t, c4)
  await once(c4, 'connect')
  await until(() => accepted !== null)
  const s = ks.socketState(accepted)
  assert.equal(s.family, 'IPv6')
  assert.equal(s.localAddress, accepted.localAddress)
  assert.equal(s.remoteAddress, accepted.remoteAddress)
  assert.equal(s.remotePort, accepted.remotePort)
  const c6 = net.connect(port, '::1')
  cleanup(t, c6)
  await once(c6, 'connect')
  const s6 = ks.socketState(c6)
  assert.equal(s6.family, 'IPv6')
  assert.equal(s6.localAddress, c6.localAddress)
  assert.equal(s6.remoteAddress, '::1')
  assert.equal(s6.remotePort, port)
})

test('works inside a worker thread too', async (t) => {
  const { Worker } = require('node:worker_threads')
  const code = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const net = require('node:net')
    const { parentPort } = require('node:worker_threads')
    const server = net.createServer({ pauseOnConnect: true }).listen(0, '127.0.0.1', async () => {
      const c = net.connect(server.address().port, '127.0.0.1', async () => {
        const t = ks.watchBackpressure(c)
        await ks.write(c, Buffer.alloc(1024))
        const s = ks.socketState(c)
        t.close()
        parentPort.postMessage({ protocol: s.protocol, port: s.remotePort, expect: server.address().port, writes: t.stats().writes })
        c.destroy(); server.close()
      })
    })`
  const w = new Worker(code, { eval: true })
  cleanup(t, { close: () => w.terminate() })
  const [msg] = await once(w, 'message')
  assert.equal(msg.protocol, 'tcp')
  assert.equal(msg.port, msg.expect)
  assert.equal(msg.writes, 1)
  await w.terminate()
})

test('without the binary: socketState, write and watchBackpressure throw ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM', () => {
  const { spawnSync } = require('node:child_process')
  const script = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const out = {}
    for (const [name, call] of [['socketState', () => ks.socketState(1)], ['socketState bad arg', () => ks.socketState('x')],
      ['watchBackpressure', () => ks.watchBackpressure(process.stdout)]]) {
      try { call(); out[name] = 'returned' } catch (e) { out[name] = e.code }
    }
    ks.write(process.stdout, 'x').then(() => { out.write = 'resolved' }, (e) => { out.write = e.code })
      .then(() => console.log(JSON.stringify(out)))
  `
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, KERNELSCOPE_BINARY: '/nonexistent/kernelscope.node' },
    encoding: 'utf8'
  })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  for (const name of ['socketState', 'socketState bad arg', 'watchBackpressure', 'write']) {
    assert.equal(out[name], 'ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM', name)
  }
})
