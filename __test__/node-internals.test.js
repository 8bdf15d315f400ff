'use strict'
// lib/node-internals.js is the one place kernelscope reads Node internals. Each accessor is
// checked here on real objects against the kernel's own tables (/proc/self/fd, /proc/net/*), so
// a Node release that renames one fails this file on the Node matrix (scripts/node-matrix.js).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const tls = require('node:tls')
const dgram = require('node:dgram')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { createHook } = require('node:async_hooks')
const { Writable } = require('node:stream')
require('..')
const ni = require('../lib/node-internals')
const { tmpdir, destroySocket, closeServer } = require('./helpers')

/** The socket inode behind fd, from its /proc/self/fd link. */
function inodeOfFd (fd) {
  const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))
  assert.ok(m, `fd ${fd} is a socket`)
  return m[1]
}

/** The inode /proc/net/<table> lists for a local port (and state, hex, when given). */
function inodeOfPort (table, port, state) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of fs.readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length > 9 && f[1].endsWith(':' + hexPort) && (state === undefined || f[3] === state)) return f[9]
  }
  return null
}

/** Records async_hooks resources of the given types while fn runs. */
async function resourcesDuring (types, fn) {
  const seen = []
  const hook = createHook({
    init (id, type, trigger, resource) { if (types.includes(type)) seen.push({ type, resource }) }
  })
  hook.enable()
  try {
    await fn(seen)
  } finally {
    hook.disable()
  }
  return seen
}

async function tcpPair () {
  // the server's end reads, so the client's close ends it and server.close() can finish
  const server = net.createServer((s) => { s.on('error', () => {}); s.resume() })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = net.connect(server.address().port, '127.0.0.1')
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
  return { server, client }
}

test('net.Socket and net.Server: handle, fd, peer, listened-once', async () => {
  const server = net.createServer((s) => s.on('error', () => {}))
  assert.equal(ni.serverListenedOnce(server), false)
  assert.equal(ni.handleOf(server), null)
  const { server: s2, client } = await tcpPair()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const port = server.address().port
    const lfd = ni.handleFd(ni.handleOf(server))
    assert.ok(lfd >= 0)
    assert.equal(inodeOfFd(lfd), inodeOfPort('tcp', port, '0A'), 'the listener fd is the socket /proc/net/tcp lists as LISTEN')
    const cfd = ni.handleFd(ni.handleOf(client))
    assert.equal(inodeOfFd(cfd), inodeOfPort('tcp', client.localPort, '01'), 'the client fd is its ESTABLISHED socket')
    assert.equal(ni.handlePeer(ni.handleOf(client)), `127.0.0.1:${s2.address().port}`)
    assert.equal(ni.handleFd(null), -1)
    assert.equal(ni.handlePeer(null), null)
  } finally {
    await destroySocket(client)
    await closeServer(s2)
    await closeServer(server)
  }
  assert.equal(ni.handleOf(server), null)
  assert.equal(ni.serverListenedOnce(server), true, 'a closed server still says it listened')
})

test('a TLSSocket layered on a net.Socket: its parent, and the fd its TLSWrap reports', async () => {
  const { server, client } = await tcpPair()
  const t = new tls.TLSSocket(client)
  try {
    assert.equal(ni.tlsParentOf(t), client)
    assert.equal(ni.handleFd(ni.handleOf(t)), ni.handleFd(ni.handleOf(client)))
    const t2 = tls.connect({ socket: client, rejectUnauthorized: false })
    t2.on('error', () => {})
    assert.equal(ni.tlsParentOf(t2), client)
    await destroySocket(t2)
  } finally {
    await destroySocket(t)
    client.destroy()
    // the server's close waits for its end of the connection: the whole pair is gone
    await closeServer(server)
  }
})

test('dgram.Socket: its UDP handle and fd, null once closed', async () => {
  const u = dgram.createSocket('udp4')
  await new Promise((resolve) => u.bind(0, '127.0.0.1', resolve))
  const h = ni.dgramHandleOf(u)
  assert.ok(h, 'the state symbol holds the handle')
  assert.equal(inodeOfFd(ni.handleFd(h)), inodeOfPort('udp', u.address().port))
  await new Promise((resolve) => u.close(resolve))
  assert.equal(ni.dgramHandleOf(u), null)
})

test('async_hooks resources: connect target, write handle and bytes, readFile fd, timeout delay, child handle', async () => {
  const server = net.createServer((s) => { s.on('error', () => {}); s.resume() })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const dir = tmpdir()
  const file = path.join(dir, 'internals.txt')
  // 1 MB: Node 26 reads a small file in one request that has no ReadFileContext
  fs.writeFileSync(file, Buffer.alloc(1 << 20))
  let client = null
  let child = null
  let childHandle = null
  const fdPaths = []
  const hook = createHook({
    // what hooks.js does: the fd readFile's context holds, read after a callback ran (after
    // the close callback the fd is gone)
    after (id) { for (const r of fsReqs) { const fd = ni.fsReqFd(r); if (fd >= 0) { try { fdPaths.push(fs.readlinkSync(`/proc/self/fd/${fd}`)) } catch {} } } }
  })
  const fsReqs = []
  try {
    const seen = await resourcesDuring(['TCPCONNECTWRAP', 'WRITEWRAP', 'FSREQCALLBACK', 'Timeout', 'PROCESSWRAP'], async (seen) => {
      client = net.connect(port, '127.0.0.1')
      await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
      // more than the socket buffers take at once: the write goes async and gets a WRITEWRAP
      const payload = Buffer.alloc(16 << 20, 1)
      await new Promise((resolve) => client.write(payload, resolve))
      hook.enable()
      const done = new Promise((resolve, reject) => fs.readFile(file, (err) => (err ? reject(err) : resolve())))
      for (const s of seen) if (s.type === 'FSREQCALLBACK') fsReqs.push(s.resource)
      await done
      hook.disable()
      await new Promise((resolve) => setTimeout(resolve, 37))
      child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
      childHandle = ni.handleOf(child)
      await new Promise((resolve) => child.once('exit', resolve))
    })
    const connect = seen.find((s) => s.type === 'TCPCONNECTWRAP')
    assert.equal(ni.connectReqTarget(connect.resource), `127.0.0.1:${port}`)
    const write = seen.find((s) => s.type === 'WRITEWRAP')
    assert.equal(ni.writeReqHandle(write.resource), ni.handleOf(client))
    assert.equal(ni.writeReqBytes(write.resource), 16 << 20)
    assert.ok(fdPaths.includes(file), `readFile's context fd names the file: ${fdPaths}`)
    assert.ok(seen.some((s) => s.type === 'Timeout' && ni.timeoutDelayMs(s.resource) === 37))
    assert.ok(seen.some((s) => s.type === 'PROCESSWRAP' && s.resource === childHandle && childHandle !== null),
      'the child process handle is the PROCESSWRAP resource')
  } finally {
    hook.disable()
    if (client) await destroySocket(client)
    await closeServer(server)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  assert.equal(ni.connectReqTarget({}), null)
  assert.equal(ni.writeReqBytes({}), null)
  assert.equal(ni.fsReqFd({}), -1)
  assert.equal(ni.timeoutDelayMs({}), null)
})

test('Writable: whether it emits close when destroyed', () => {
  assert.equal(ni.writableEmitsClose(new Writable({ write (c, e, cb) { cb() } })), true)
  assert.equal(ni.writableEmitsClose(new Writable({ emitClose: false, write (c, e, cb) { cb() } })), false)
})
