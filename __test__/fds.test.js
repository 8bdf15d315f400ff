'use strict'
// fds(), fdsSync(), diffFds() against independent truth: /proc/self/fd with readlink, `ss`,
// the kernel's fdinfo files, servers and files the test itself opens.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawnSync, execFileSync } = require('node:child_process')

const ks = require('..')
const { spawnChild, stopChild, destroySocket, closeServer, untilSleeping } = require('./helpers')

const hasSs = spawnSync('ss', ['-V']).status === 0

function tmpdir () {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ks-fds-'))
}

function listProcFds () {
  const fds = new Map()
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      fds.set(Number(name), fs.readlinkSync(`/proc/self/fd/${name}`))
    } catch {} // the readdir's own fd is gone by now
  }
  return fds
}

function listen (server, ...args) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(...args, () => resolve(server))
  })
}

function connectMany (port, n) {
  const sockets = []
  let done = 0
  return new Promise((resolve, reject) => {
    for (let i = 0; i < n; i++) {
      const s = net.connect(port, '127.0.0.1', () => {
        if (++done === n) resolve(sockets)
      })
      s.on('error', reject)
      sockets.push(s)
    }
  })
}

test('with thousands of files, pipes and sockets open, the inventory matches /proc/self/fd, readlink and ss', async (t) => {
  const dir = tmpdir()
  const file = path.join(dir, 'data.txt')
  fs.writeFileSync(file, 'hello')
  const files = []
  for (let i = 0; i < 1500; i++) files.push(fs.openSync(file, 'r'))
  // anonymous pipes: reopening a pipe through /proc/self/fd gives another descriptor of the
  // same pipe (Node's child stdio would be socketpairs, not pipes)
  const someInv = ks.fdsSync()
  const pipeFd = someInv.find((e) => e.type === 'pipe').fd
  const pipeFds = []
  for (let i = 0; i < 300; i++) pipeFds.push(fs.openSync(`/proc/self/fd/${pipeFd}`, fs.constants.O_RDWR | fs.constants.O_NONBLOCK))
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const fifoFds = []
  for (let i = 0; i < 200; i++) fifoFds.push(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK))
  const children = []
  for (let i = 0; i < 5; i++) {
    children.push(spawnChild('sleep', ['60'], { stdio: ['pipe', 'pipe', 'pipe'] }))
  }
  const accepted = []
  const server = net.createServer((s) => accepted.push(s))
  await listen(server, 0, '127.0.0.1')
  const port = server.address().port
  const clients = await connectMany(port, 300)
  const unixPath = path.join(dir, 'ks.sock')
  const userver = net.createServer((s) => accepted.push(s))
  await listen(userver, unixPath)
  const uclients = await new Promise((resolve) => {
    const c = net.connect(unixPath, () => resolve([c]))
  })
  // let the server side accept everything
  while (accepted.length < 301) await new Promise((resolve) => setTimeout(resolve, 10))

  // waits for everything to be gone (children reaped and their stdio socketpairs closed,
  // sockets and listeners closed) so the next test starts from a quiet table
  t.after(async () => {
    for (const fd of [...files, ...pipeFds, ...fifoFds]) fs.closeSync(fd)
    await Promise.all(children.map((c) => stopChild(c)))
    await Promise.all([...clients, ...uclients, ...accepted].map(destroySocket))
    await Promise.all([closeServer(server), closeServer(userver)])
    fs.rmSync(dir, { recursive: true, force: true })
  })

  // twice: the first scan lists /proc/self/fd with getdents64, the next (the table is now
  // known to be big) probes fd numbers with fstat; both must match /proc/self/fd
  let inventory
  for (let pass = 0; pass < 2; pass++) {
    const before = listProcFds()
    inventory = ks.fdsSync()
    const after = listProcFds()
    assert.ok(inventory.length > 2000, `inventory has ${inventory.length} entries`)
    const byFd = new Map(inventory.map((e) => [e.fd, e]))
    // every fd listed before and after (stable during the scan) is in the inventory, same target
    let checked = 0
    for (const [fd, target] of before) {
      if (after.get(fd) !== target) continue
      const e = byFd.get(fd)
      assert.ok(e, `fd ${fd} (${target}) missing from the inventory`)
      assert.equal(e.target, target, `fd ${fd}`)
      assert.equal(e.error, null)
      checked++
    }
    assert.ok(checked > 2000)
    // and the inventory lists nothing that is not there (our own scan fds excluded)
    for (const e of inventory) assert.ok(before.has(e.fd) || after.has(e.fd), `fd ${e.fd} is not open`)
    assert.deepEqual(inventory.map((e) => e.fd), [...inventory.map((e) => e.fd)].sort((a, b) => a - b))
  }
  const byFd = new Map(inventory.map((e) => [e.fd, e]))

  // a big table is scanned by two threads, each through its own /proc/<tid>/fd, and the socket
  // dump runs meanwhile: none of those descriptors is listed, and none outlives the scan
  for (let i = 0; i < 20; i++) {
    const count = ks.fdCount()
    const inv = i % 2 ? await ks.fds() : ks.fdsSync()
    assert.equal(ks.fdCount(), count, `round ${i}: the scan left descriptors open`)
    const own = inv.filter((e) => /^\/proc\/.*\/fd$/.test(e.target || '') || (e.socketError || '').includes('AF_NETLINK'))
    assert.deepEqual(own, [], `round ${i}: the scan listed its own descriptors`)
  }

  // fdinfo over the same big table (read by both threads): every entry has it
  const withInfo = await ks.fds({ fdinfo: true })
  const infoByFd = new Map(withInfo.map((e) => [e.fd, e]))
  for (const fd of files) {
    const e = infoByFd.get(fd)
    assert.equal(e.position, 0)
    assert.ok(e.flags.includes('O_RDONLY'), e.flags.join())
  }
  for (const e of withInfo) if (e.error === null) assert.ok(Array.isArray(e.flags), `fd ${e.fd} has fdinfo`)

  // classification
  for (const fd of files) {
    assert.equal(byFd.get(fd).type, 'file')
    assert.equal(byFd.get(fd).inode, fs.statSync(file).ino)
  }
  const pipes = inventory.filter((e) => e.type === 'pipe')
  assert.ok(pipes.length >= 300, `${pipes.length} pipe ends`)
  for (const p of pipes) assert.equal(p.target, `pipe:[${p.inode}]`)
  for (const fd of pipeFds) assert.equal(byFd.get(fd).type, 'pipe')
  for (const fd of fifoFds) {
    assert.equal(byFd.get(fd).type, 'fifo')
    assert.equal(byFd.get(fd).target, fifo)
  }
  // child stdio 'pipe' in Node is a socketpair: unix stream sockets
  for (const c of children) {
    const e = byFd.get(c.stdout._handle.fd)
    assert.equal(e.type, 'socket')
    assert.equal(e.socket.family, 'unix')
    assert.equal(e.socket.protocol, 'stream')
  }
  assert.ok(inventory.some((e) => e.type === 'epoll' && e.target === 'anon_inode:[eventpoll]'))
  assert.ok(inventory.some((e) => e.type === 'eventfd'))

  // sockets: every client shows the server's port, state established; the listener 'listen'
  const mine = inventory.filter((e) => e.type === 'socket' && e.socket && e.socket.protocol === 'tcp')
  const clientEntries = mine.filter((e) => e.socket.remotePort === port)
  assert.equal(clientEntries.length, 300)
  for (const e of clientEntries) {
    assert.equal(e.socket.state, 'established')
    assert.equal(e.socket.family, 'IPv4')
    assert.equal(e.socket.remoteAddress, '127.0.0.1')
    assert.equal(e.target, `socket:[${e.inode}]`)
  }
  const clientPorts = new Set(clients.map((c) => c.localPort))
  assert.deepEqual(new Set(clientEntries.map((e) => e.socket.localPort)), clientPorts)
  const listener = mine.filter((e) => e.socket.localPort === port && e.socket.state === 'listen')
  assert.equal(listener.length, 1)
  assert.equal(mine.filter((e) => e.socket.localPort === port && e.socket.state === 'established').length, 300)

  // unix: the client shows the server's path; the listener its own
  const ulisten = inventory.find((e) => e.socket && e.socket.family === 'unix' && e.socket.state === 'listen' && e.socket.path === unixPath)
  assert.ok(ulisten, 'unix listener')
  const uclient = inventory.filter((e) => e.socket && e.socket.family === 'unix' && e.socket.remoteAddress === unixPath)
  assert.ok(uclient.length >= 1, 'unix client shows the server path')

  if (!hasSs) {
    t.diagnostic('ss not installed: skipping the comparison with ss')
    return
  }
  // ss: the same established client ports, the same listener
  const established = execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' })
  const ssPorts = new Set(established.trim().split('\n').filter(Boolean).map((l) => Number(l.trim().split(/\s+/)[2].split(':').pop())))
  assert.deepEqual(ssPorts, clientPorts)
  const listening = execFileSync('ss', ['-Htln', `( sport = :${port} )`], { encoding: 'utf8' })
  assert.equal(listening.trim().split('\n').filter(Boolean).length, 1)
  // ss -x: the listener's inode matches ours
  const ux = execFileSync('ss', ['-Hxl'], { encoding: 'utf8' })
  const uxLine = ux.split('\n').find((l) => l.includes(unixPath))
  assert.ok(uxLine && uxLine.includes(` ${ulisten.inode} `), `ss -xl shows ${unixPath} with inode ${ulisten.inode}`)
})

test('fds() (Promise) gives the same inventory and settles off the event loop', async () => {
  const a = ks.fdsSync()
  const p = ks.fds()
  assert.ok(p instanceof Promise)
  const b = await p
  const key = (e) => `${e.fd} ${e.target}`
  const sa = new Set(a.map(key))
  const common = b.filter((e) => sa.has(key(e)))
  assert.ok(common.length >= a.length - 3, `${common.length} of ${a.length}`)
  assert.deepEqual(Object.keys(b[0]).sort(), ['epoll', 'error', 'eventfd', 'fd', 'flags', 'inode', 'inotify', 'position', 'socket', 'socketError', 'target', 'timerfd', 'type'])
})

test('fdinfo: position, decoded flags, the loop\'s epoll watch list, eventfd and inotify', async (t) => {
  const dir = tmpdir()
  const file = path.join(dir, 'log.txt')
  const fd = fs.openSync(file, 'a')
  fs.writeSync(fd, 'x'.repeat(1234))
  const watcher = fs.watch(dir, () => {})
  const server = net.createServer()
  await listen(server, 0, '127.0.0.1')
  t.after(async () => {
    fs.closeSync(fd)
    watcher.close()
    await closeServer(server)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  // libuv registers new watchers with epoll at the start of the next poll phase: wait until the
  // kernel shows the listening socket in an epoll instance (a loaded machine may take a while)
  const watched = (target) => fs.readdirSync('/proc/self/fdinfo').some((n) => {
    try {
      return new RegExp(`^tfd:\\s+${target}\\s`, 'm').test(fs.readFileSync(`/proc/self/fdinfo/${n}`, 'utf8'))
    } catch {
      return false // closed since the readdir
    }
  })
  for (let i = 0; i < 250 && !watched(server._handle.fd); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const inv = await ks.fds({ fdinfo: true })
  const byFd = new Map(inv.map((e) => [e.fd, e]))
  const f = byFd.get(fd)
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
  assert.equal(f.position, Number(/pos:\s+(\d+)/.exec(info)[1]))
  assert.equal(f.position, 1234)
  assert.ok(f.flags.includes('O_WRONLY') && f.flags.includes('O_APPEND') && f.flags.includes('O_CLOEXEC'), f.flags.join())
  assert.equal(f.epoll, null)

  // the loop's epoll instance watches the listening socket for EPOLLIN
  const listenFd = inv.find((e) => e.socket && e.socket.localPort === server.address().port).fd
  const loopEpoll = inv.find((e) => e.type === 'epoll' && e.epoll.watches.some((w) => w.fd === listenFd))
  assert.ok(loopEpoll, 'an epoll fd watches the listening socket')
  assert.ok(loopEpoll.epoll.watches.find((w) => w.fd === listenFd).events.includes('EPOLLIN'))
  // every watch is what the kernel prints
  const text = fs.readFileSync(`/proc/self/fdinfo/${loopEpoll.fd}`, 'utf8')
  const tfds = [...text.matchAll(/tfd:\s+(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b)
  assert.deepEqual(loopEpoll.epoll.watches.map((w) => w.fd).sort((a, b) => a - b), tfds)

  const ev = inv.find((e) => e.type === 'eventfd')
  assert.equal(typeof ev.eventfd.count, 'number')
  const ino = inv.find((e) => e.type === 'inotify')
  assert.ok(ino, 'fs.watch opened an inotify fd')
  assert.equal(ino.target, 'anon_inode:inotify')
  assert.ok(ino.inotify.watches.some((w) => w.inode === fs.statSync(dir).ino), 'a watch on the directory')
  assert.ok(ino.inotify.watches[0].events.length > 0)
})

test('diffFds finds a newly opened file and a closed one', async () => {
  const dir = tmpdir()
  const a = ks.fdsSync()
  const fd = fs.openSync(path.join(dir, 'new.txt'), 'w')
  const b = await ks.fds()
  const d1 = ks.diffFds(a, b)
  const opened = d1.opened.filter((e) => e.type === 'file')
  assert.ok(opened.some((e) => e.fd === fd && e.target === path.join(dir, 'new.txt')))
  fs.closeSync(fd)
  const c = ks.fdsSync()
  const d2 = ks.diffFds(b, c)
  assert.ok(d2.closed.some((e) => e.fd === fd))
  assert.ok(!d2.opened.some((e) => e.fd === fd))
  fs.rmSync(dir, { recursive: true, force: true })
  assert.throws(() => ks.diffFds('x', []), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.diffFds([], [{ fd: 'a' }]), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('wrong option types give ERR_INVALID_ARG_TYPE', async () => {
  assert.throws(() => ks.fdsSync(1), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.fdsSync(null), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.fdsSync({ sockets: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.fdsSync({ fdinfo: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.fdsSync({ pid: '1' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.fdsSync({ pid: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(ks.fds({ fdinfo: 'true' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(ks.fds([]), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('another process: its fds by pid; a missing pid is ENOENT', async (t) => {
  const child = spawnChild('sleep', ['30'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.after(() => stopChild(child))
  await new Promise((resolve) => child.once('spawn', resolve))
  // the child's loader and setlocale open and close files: scanned once it sleeps
  assert.ok(await untilSleeping(child), `sleep ${child.pid} is in its nanosleep`)
  const inv = await ks.fds({ pid: child.pid })
  for (const name of fs.readdirSync(`/proc/${child.pid}/fd`)) {
    const e = inv.find((x) => x.fd === Number(name))
    assert.ok(e)
    assert.equal(e.target, fs.readlinkSync(`/proc/${child.pid}/fd/${name}`))
  }
  // Node's stdio 'pipe' is a socketpair
  assert.equal(inv.find((e) => e.fd === 1).type, 'socket')
  assert.throws(() => ks.fdsSync({ pid: 0x7ffffff0 }), { code: 'ENOENT', syscall: 'open' })
  await assert.rejects(ks.fds({ pid: 0x7ffffff0 }), { code: 'ENOENT' })
  // a process whose fd links we may not read (needs ptrace read access): EACCES as a whole
  let refused = null
  for (const pid of [1, 2]) {
    try {
      if (fs.readdirSync(`/proc/${pid}/fd`).length === 0) continue
      fs.readlinkSync(`/proc/${pid}/fd/${fs.readdirSync(`/proc/${pid}/fd`)[0]}`)
    } catch (err) {
      if (err.code === 'EACCES') { refused = pid; break }
    }
  }
  if (refused === null) {
    t.diagnostic('no process here refuses its fd links to us: EACCES case not checked')
  } else {
    // that process is not ours and may open and close descriptors meanwhile: an fd gone between
    // its readdir and its readlink is ENOENT, not refused, so that scan is not refused "as a
    // whole" and returns entries that all carry an error; a scan of a still table throws
    let threw = 0
    for (let i = 0; i < 10 && threw === 0; i++) {
      try {
        const inv = ks.fdsSync({ pid: refused })
        assert.ok(inv.every((e) => e.error !== null), 'no link of a refused process resolves')
      } catch (err) {
        assert.equal(err.code, 'EACCES')
        assert.equal(err.syscall, 'readlink')
        threw++
      }
    }
    assert.equal(threw, 1, `pid ${refused}: EACCES as a whole`)
  }
})

test('another process with a big table (two scanning threads): every fd, targets equal readlink, fdinfo too', async (t) => {
  if (spawnSync('python3', ['-c', '1']).status !== 0) {
    t.skip('python3 not installed: it holds the descriptors')
    return
  }
  const dir = tmpdir()
  const script = [
    'import os, socket, sys, time',
    `d = ${JSON.stringify(dir)}`,
    'keep = []',
    'for i in range(1500): keep.append(open(os.path.join(d, "f%d" % (i % 50)), "w"))',
    'srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(200)',
    'for i in range(100): c = socket.create_connection(srv.getsockname()); keep.append(c); keep.append(srv.accept()[0])',
    'print("ready", flush=True)',
    'time.sleep(60)'
  ].join('\n')
  const child = spawnChild('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(async () => { await stopChild(child); fs.rmSync(dir, { recursive: true, force: true }) })
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve() })
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)))
  })
  const names = fs.readdirSync(`/proc/${child.pid}/fd`)
  assert.ok(names.length > 1700)
  for (const options of [{}, { fdinfo: true }]) {
    const inv = await ks.fds({ pid: child.pid, ...options })
    assert.equal(inv.length, names.length)
    const byFd = new Map(inv.map((e) => [e.fd, e]))
    for (const name of names) {
      const e = byFd.get(Number(name))
      assert.ok(e, `fd ${name}`)
      assert.equal(e.target, fs.readlinkSync(`/proc/${child.pid}/fd/${name}`))
      assert.equal(e.error, null)
      if (options.fdinfo) assert.ok(Array.isArray(e.flags), `fd ${name} has fdinfo flags`)
    }
    const files = inv.filter((e) => e.target.startsWith(dir))
    assert.equal(files.length, 1500)
    for (const e of files) assert.equal(e.type, 'file')
    if (options.fdinfo) for (const e of files) assert.ok(e.flags.includes('O_WRONLY'), e.flags.join())
    const tcp = inv.filter((e) => e.socket && e.socket.protocol === 'tcp')
    assert.equal(tcp.length, 201)
    assert.equal(tcp.filter((e) => e.socket.state === 'established').length, 200)
  }
})

test('every descriptor kind is classified (a Python process opens them; read through { pid })', async (t) => {
  if (spawnSync('python3', ['-c', '1']).status !== 0) {
    t.skip('python3 not installed: it makes the pidfd/timerfd/signalfd/io_uring fixture')
    return
  }
  const child = spawnChild('python3', [path.join(__dirname, 'fixtures', 'fd_zoo.py')], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.after(() => stopChild(child))
  let out = ''
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (out.includes('ready\n')) resolve() })
    child.once('exit', () => reject(new Error(`fixture exited early: ${out}`)))
  })
  const expected = new Map(out.trim().split('\n').filter((l) => l !== 'ready').map((l) => {
    const [name, fd] = l.split(' ')
    return [Number(fd), name]
  }))
  const inv = await ks.fds({ pid: child.pid, fdinfo: true })
  const byFd = new Map(inv.map((e) => [e.fd, e]))
  for (const [fd, type] of expected) {
    const e = byFd.get(fd)
    assert.ok(e, `${type} fd ${fd} listed`)
    assert.equal(e.type, type, `fd ${fd} ${e.target}`)
    assert.equal(e.target, fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`))
    assert.equal(e.error, null)
  }
  const fdOf = (type) => [...expected].find(([, t]) => t === type)[0]
  const of = (type) => byFd.get(fdOf(type))
  assert.equal(of('socket').socket.protocol, 'udp')
  assert.equal(of('socket').socket.localAddress, '127.0.0.1')
  assert.equal(of('socket').socket.state, 'unconnected')
  assert.deepEqual(of('epoll').epoll.watches.map((w) => [w.fd, w.events]), [[fdOf('pipe'), ['EPOLLIN', 'EPOLLERR', 'EPOLLHUP', 'EPOLLET']]]) // epoll_ctl always adds ERR and HUP
  assert.deepEqual(of('eventfd').eventfd, { count: 7, semaphore: false })
  assert.ok(of('eventfd').flags.includes('O_NONBLOCK'))
  const tfd = of('timerfd').timerfd
  assert.equal(tfd.clock, 'monotonic')
  assert.equal(tfd.intervalMs, 2000)
  assert.ok(tfd.valueMs > 50000 && tfd.valueMs <= 60000, `valueMs ${tfd.valueMs}`)
  assert.deepEqual(of('inotify').inotify.watches.map((w) => w.events), [['IN_CREATE', 'IN_DELETE']])
  assert.equal(of('char-device').flags[0], 'O_WRONLY')
  assert.ok(of('char-device').flags.includes('O_APPEND'))
  assert.ok(of('directory').flags.includes('O_DIRECTORY'))
  assert.equal(of('file').position, 0)
})

test('/proc/net fallback resolves sockets too', async (t) => {
  const server = net.createServer()
  await listen(server, 0, '127.0.0.1')
  const [client] = await connectMany(server.address().port, 1)
  t.after(async () => { await destroySocket(client); await closeServer(server) })
  process.env.KERNELSCOPE_SOCKDIAG = 'procnet'
  let inv
  try {
    inv = await ks.fds()
  } finally {
    delete process.env.KERNELSCOPE_SOCKDIAG
  }
  const e = inv.find((x) => x.socket && x.socket.localPort === client.localPort)
  assert.ok(e)
  assert.equal(e.socket.state, 'established')
  assert.equal(e.socket.remotePort, server.address().port)
  assert.ok(inv.some((x) => x.socket && x.socket.state === 'listen' && x.socket.localPort === server.address().port))
})

test('where neither netlink nor /proc/net works, socket is null with the reason, never a throw', async (t) => {
  const server = net.createServer()
  await listen(server, 0, '127.0.0.1')
  t.after(() => closeServer(server))
  process.env.KERNELSCOPE_SOCKDIAG = 'off'
  let inv
  try {
    inv = ks.fdsSync()
    await ks.fds() // the Promise form takes the same path
  } finally {
    delete process.env.KERNELSCOPE_SOCKDIAG
  }
  const sockets = inv.filter((e) => e.type === 'socket')
  assert.ok(sockets.length >= 1)
  for (const e of sockets) {
    assert.equal(e.socket, null)
    assert.match(e.socketError, /^socket tables unavailable: tcp: disabled/)
    assert.equal(e.target, `socket:[${e.inode}]`)
  }
})

test('fds() answers while the libuv threadpool is saturated', () => {
  const dir = tmpdir()
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const script = `
    const fs = require('fs'); const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    fs.readFile(${JSON.stringify(fifo)}, () => {}); fs.readFile(${JSON.stringify(fifo)}, () => {})
    setTimeout(async () => {
      const t0 = performance.now()
      let statDone = false
      fs.stat(__filename, () => { statDone = true })
      const inv = await ks.fds()
      const ms = performance.now() - t0
      console.log(JSON.stringify({ ms, n: inv.length, statDone }))
      // release the blocked readers (open of the writer end, then EOF) so the process can exit
      fs.closeSync(fs.openSync(${JSON.stringify(fifo)}, 'w'))
    }, 200)`
  // were fds() to use the pool it would never settle (the readers hold it until the FIFO gets a
  // writer, after fds() returns): the child's timeout tells that apart, the bound is only sanity
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '2' }, encoding: 'utf8', timeout: 60000 })
  fs.rmSync(dir, { recursive: true, force: true })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.statDone, false, 'the pool really was saturated')
  assert.ok(out.n > 5)
  assert.ok(out.ms < 15000, `fds() took ${out.ms} ms with the pool saturated`)
})

test('threads() reports the kernelscope-fds and kernelscope-fdh threads with role other', async () => {
  // a table of 1,024+ fds brings in the helper thread
  const opened = []
  while (ks.fdCount() < 1100) opened.push(fs.openSync(__filename, 'r'))
  try {
    await ks.fds()
    await ks.fds()
  } finally {
    for (const fd of opened) fs.closeSync(fd)
  }
  const threads = ks.threads({ syscalls: false })
  for (const name of ['kernelscope-fds', 'kernelscope-fdh']) {
    const t = threads.find((x) => x.name === name)
    assert.ok(t, `the ${name} thread exists after fds()`)
    assert.equal(t.role, 'other')
  }
})

test('churn: threads opening and closing fds while 1000 inventories run never throws', async (t) => {
  const { Worker } = require('node:worker_threads')
  const dir = tmpdir()
  const workers = []
  for (let i = 0; i < 2; i++) {
    workers.push(new Worker(`
      const fs = require('fs'); const net = require('net'); const { parentPort } = require('worker_threads')
      const file = ${JSON.stringify(path.join(dir, 'churn'))} + ${i}
      fs.writeFileSync(file, 'x')
      let stop = false
      parentPort.on('message', () => { stop = true })
      function spin () {
        for (let k = 0; k < 200; k++) fs.closeSync(fs.openSync(file, 'r'))
        const s = net.connect(1, '127.0.0.1'); s.on('error', () => {}); s.destroy()
        if (!stop) setImmediate(spin); else parentPort.close()
      }
      spin()`, { eval: true }))
  }
  // an assertion failing mid-loop must not leave the workers spinning
  t.after(async () => {
    await Promise.all(workers.map((w) => w.terminate()))
    fs.rmSync(dir, { recursive: true, force: true })
  })
  let errors = 0
  let entries = 0
  for (let i = 0; i < 1000; i += 4) {
    const batch = await Promise.all([
      ks.fds({ fdinfo: i % 8 === 0 }),
      ks.fds(),
      Promise.resolve(ks.fdsSync({ fdinfo: true })),
      Promise.resolve(ks.fdsSync())
    ])
    for (const inv of batch) {
      for (const e of inv) {
        entries++
        assert.ok(Number.isInteger(e.fd))
        if (e.error !== null) {
          errors++
          assert.equal(typeof e.error, 'string')
        } else {
          assert.equal(typeof e.target, 'string')
        }
      }
    }
  }
  for (const w of workers) w.postMessage('stop')
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))))
  t.diagnostic(`${entries} entries, ${errors} with error (fds that changed mid-scan)`)
})

test('churn with a big table: two threads per scan, scans from workers at once, stable fds always right, nothing left open', async (t) => {
  const { Worker } = require('node:worker_threads')
  const dir = tmpdir()
  const file = path.join(dir, 'stable')
  fs.writeFileSync(file, 'x')
  const stable = []
  while (ks.fdCount() < 1600) stable.push(fs.openSync(file, 'r'))
  const workers = []
  t.after(async () => {
    await Promise.all(workers.map((w) => w.terminate()))
    for (const fd of stable) fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  ks.fdsSync()
  const baseline = ks.fdCount()
  for (let i = 0; i < 2; i++) {
    workers.push(new Worker(`
      const fs = require('fs'); const { parentPort } = require('worker_threads')
      const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
      const file = ${JSON.stringify(path.join(dir, 'churn'))} + ${i}
      fs.writeFileSync(file, 'x')
      let stop = false
      let scans = 0
      parentPort.on('message', () => { stop = true })
      async function spin () {
        const open = []
        for (let k = 0; k < 50; k++) open.push(fs.openSync(file, 'r'))
        const inv = scans % 2 ? await ks.fds() : ks.fdsSync()
        if (!Array.isArray(inv) || inv.length < 1600) throw new Error('short inventory: ' + inv.length)
        scans++
        for (const fd of open) fs.closeSync(fd)
        if (!stop) setImmediate(spin); else { parentPort.postMessage(scans); parentPort.close() }
      }
      spin()`, { eval: true }))
  }
  const scansByWorkers = workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  }))
  // listened for now: a worker may be gone before its message is handled here
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))
  for (let i = 0; i < 150; i++) {
    const batch = await Promise.all([
      ks.fds(),
      ks.fds({ fdinfo: i % 5 === 0 }),
      Promise.resolve(ks.fdsSync(i % 7 === 0 ? { fdinfo: true } : {}))
    ])
    for (const inv of batch) {
      const byFd = new Map(inv.map((e) => [e.fd, e]))
      for (const fd of stable) {
        const e = byFd.get(fd)
        assert.ok(e, `stable fd ${fd} missing`)
        assert.equal(e.target, file)
        assert.equal(e.type, 'file')
      }
      for (const e of inv) assert.ok(e.error === null || typeof e.error === 'string')
    }
  }
  for (const w of workers) w.postMessage('stop')
  const scans = await Promise.all(scansByWorkers)
  await Promise.all(exited)
  t.diagnostic(`workers ran ${scans.join(' + ')} scans meanwhile`)
  assert.ok(scans.every((n) => n > 0))
  // every scan closed what it opened, whichever thread ran it
  assert.equal(ks.fdCount(), baseline)
})

test('a worker thread can run fds() and be terminated mid-call', async () => {
  const { Worker } = require('node:worker_threads')
  for (let i = 0; i < 5; i++) {
    const w = new Worker(`
      const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
      for (let k = 0; k < 20; k++) ks.fds({ fdinfo: true })
      ks.fds().then((inv) => require('worker_threads').parentPort.postMessage(inv.length))`, { eval: true })
    await new Promise((resolve) => setTimeout(resolve, 20 + i * 10))
    await w.terminate()
  }
  const w = new Worker(`
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    ks.fds().then((inv) => require('worker_threads').parentPort.postMessage(inv.length))`, { eval: true })
  const n = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  assert.ok(n > 3)
  await w.terminate()
})
