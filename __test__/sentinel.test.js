'use strict'
// ks.sentinel(): a fake dependency's shell, connect and secret read, seen in-process with the
// stack of the call; checked against a server the test runs, the child's own exit, the bytes
// read, and the hooks being gone after close().

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const dc = require('node:diagnostics_channel')
const cp = require('node:child_process')
const { tmpdir, until } = require('./helpers')

const ks = require('..')
const FAKE = path.join(__dirname, 'fixtures', 'sentinel', 'fake-dep.js')
const skip = !ks.supported ? 'addon not built' : false

async function server () {
  const conns = []
  const srv = net.createServer((s) => { conns.push(s); s.on('error', () => {}); s.end() })
  await new Promise((resolve) => srv.listen(0, '127.0.0.2', resolve))
  return { port: srv.address().port, conns, close: () => new Promise((resolve) => srv.close(resolve)) }
}

// HOME points at a temporary directory with a .npmrc for the duration of fn
async function withHome (fn) {
  const home = tmpdir('ks-sentinel-home-')
  const secret = '//registry.example/:_authToken=' + Math.random().toString(36).slice(2) + '\n'
  fs.writeFileSync(path.join(home, '.npmrc'), secret)
  const saved = process.env.HOME
  process.env.HOME = home
  try {
    return await fn(home, secret)
  } finally {
    process.env.HOME = saved
    fs.rmSync(home, { recursive: true, force: true })
  }
}

async function runFake (port) {
  const r = require(FAKE)(port)
  const [code] = await Promise.all([
    new Promise((resolve) => r.child.on('close', resolve)),
    new Promise((resolve) => r.sock.on('close', resolve))
  ])
  return { ...r, code }
}

test('a fake dependency: shell, connect and .npmrc read reported, each with its stack', { skip }, async () => {
  const srv = await server()
  try {
    await withHome(async (home, secret) => {
      const alerts = []
      const s = ks.sentinel({ onEvent: (e) => alerts.push(e) })
      let r
      try {
        assert.equal(s.fanotify.ok, true, s.fanotify.error)
        r = await runFake(srv.port)
      } finally {
        s.close()
      }
      assert.equal(r.code, 0)
      assert.equal(r.secret, secret)
      await until(() => srv.conns.length === 1)
      const evs = s.events()
      assert.deepEqual(alerts, evs)
      const execs = evs.filter((e) => e.kind === 'exec')
      assert.equal(execs.length, 2)
      assert.deepEqual(execs[0].argv, ['/bin/sh', '-c', 'sh -c "exit 0"'])
      assert.equal(execs[0].evidence, 'execSync')
      assert.deepEqual(execs[1].argv, ['sh', '-c', 'exit 0'])
      assert.equal(execs[1].pid, r.child.pid)
      const conn = evs.filter((e) => e.kind === 'connect')
      assert.equal(conn.length, 1)
      assert.equal(conn[0].address, '127.0.0.2')
      assert.equal(conn[0].port, srv.port)
      assert.equal(srv.conns[0].remotePort, r.sock.localPort)
      const open = evs.filter((e) => e.kind === 'open')
      assert.equal(open.length, 1)
      assert.equal(open[0].path, path.join(home, '.npmrc'))
      assert.equal(open[0].pid, process.pid)
      assert.match(open[0].evidence, /^fanotify/)
      for (const e of evs) {
        assert.equal(e.allowed, false)
        assert.match(e.stack.split('\n')[0], /fake-dep\.js:\d+/, `${e.kind} stack: ${e.stack}`)
      }
    })
  } finally {
    await srv.close()
  }
})

test('allowed hosts, commands and paths are marked allowed and not alerted', { skip }, async () => {
  const srv = await server()
  try {
    await withHome(async () => {
      const alerts = []
      const s = ks.sentinel({ allow: { hosts: ['127.0.0.2'], commands: ['sh'], paths: ['~/.npmrc'] }, onEvent: (e) => alerts.push(e) })
      try {
        await runFake(srv.port)
      } finally {
        s.close()
      }
      await until(() => srv.conns.length === 1)
      const evs = s.events()
      assert.deepEqual(evs.map((e) => e.kind).sort(), ['connect', 'exec', 'exec', 'open'])
      assert.ok(evs.every((e) => e.allowed))
      assert.deepEqual(alerts, [])
    })
  } finally {
    await srv.close()
  }
})

test('a connection made below JavaScript is found by the socket poll (no stack)', { skip }, async () => {
  const srv = await server()
  // tcp_wrap directly: what a native addon's connect looks like to the JS hooks (nothing)
  // eslint-disable-next-line n/no-deprecated-api -- the point is to go below net.Socket
  const { TCP, TCPConnectWrap, constants } = process.binding('tcp_wrap')
  const s = ks.sentinel({ intervalMs: 20, watchPaths: [] })
  const handle = new TCP(constants.SOCKET)
  try {
    const req = new TCPConnectWrap()
    await new Promise((resolve) => { req.oncomplete = resolve; handle.connect(req, '127.0.0.2', srv.port) })
    await until(() => s.events().some((e) => e.kind === 'connect'), 3000)
    const [e] = s.events().filter((x) => x.kind === 'connect')
    assert.equal(e.address, '127.0.0.2')
    assert.equal(e.port, srv.port)
    assert.equal(e.stack, null)
    assert.equal(e.evidence, 'socket poll')
  } finally {
    s.close()
    await new Promise((resolve) => handle.close(resolve))
    await until(() => srv.conns.length === 1)
    await srv.close()
  }
})

test('close() removes every wrapper, subscription and mark', { skip }, () => {
  const before = {
    connect: net.Socket.prototype.connect,
    execSync: cp.execSync,
    spawnSync: cp.spawnSync,
    readFileSync: fs.readFileSync,
    promisesOpen: fs.promises.open,
    send: require('node:dgram').Socket.prototype.send
  }
  const s = ks.sentinel({ watchPaths: [] })
  assert.notEqual(net.Socket.prototype.connect, before.connect)
  assert.equal(dc.channel('child_process').hasSubscribers, true)
  s.close()
  s.close()
  assert.equal(net.Socket.prototype.connect, before.connect)
  assert.equal(cp.execSync, before.execSync)
  assert.equal(cp.spawnSync, before.spawnSync)
  assert.equal(fs.readFileSync, before.readFileSync)
  assert.equal(fs.promises.open, before.promisesOpen)
  assert.equal(require('node:dgram').Socket.prototype.send, before.send)
  assert.equal(dc.channel('child_process').hasSubscribers, false)
  assert.equal(dc.channel('net.client.socket').hasSubscribers, false)
})

test('dgram sends with a destination are connects', { skip }, async () => {
  const dgram = require('node:dgram')
  const recv = dgram.createSocket('udp4')
  await new Promise((resolve) => recv.bind(0, '127.0.0.2', resolve))
  const got = new Promise((resolve) => recv.once('message', resolve))
  const s = ks.sentinel({ watchPaths: [] })
  const sock = dgram.createSocket('udp4')
  try {
    await new Promise((resolve) => sock.send('x', recv.address().port, '127.0.0.2', resolve))
    await got
    const evs = s.events().filter((e) => e.kind === 'connect')
    assert.equal(evs.length, 1)
    assert.equal(evs[0].protocol, 'udp')
    assert.equal(evs[0].port, recv.address().port)
    assert.equal(evs[0].address, '127.0.0.2')
  } finally {
    s.close()
    await new Promise((resolve) => sock.close(resolve))
    await new Promise((resolve) => recv.close(resolve))
  }
})

test('bad options: coded errors', { skip }, () => {
  assert.throws(() => ks.sentinel(5), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.sentinel({ allow: { hosts: 'x' } }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.sentinel({ allow: { hosts: ['127.0.0.1:99999'] } }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.sentinel({ allow: { hosts: [''] } }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.sentinel({ intervalMs: 1 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => ks.sentinel({ onEvent: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.sentinel({ watchPaths: [1] }), { code: 'ERR_INVALID_ARG_TYPE' })
})
