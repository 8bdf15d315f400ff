'use strict'
// Bytes in names (issue 11): unix socket names holding NULs, newlines, a byte that is not UTF-8
// or the byte 0x01, and files named so, next to TCP and UDP sockets, in this process, in a Node
// child and in a Python child (which binds names with their exact length, trailing NULs
// included; Node 20 pads `listen('\0name')` to the 108 bytes of sun_path). Every socket of each
// process is checked in fds(), fdsSync(), fds({ fdinfo: true }), fds({ pid }) and the
// /proc/net fallback against ss (-xlpn, -xpn, -tuanp) parsed here, its name against the form
// docs/fds.md gives; file targets against readlink of /proc/<pid>/fd and lsof; socketState()
// against fds().
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const ks = require('..')
const zoo = require('./fixtures/names-zoo')
const { tmpdir, hasTool, spawnChild } = require('./helpers')

const skip = (!hasTool('ss') && 'ss (iproute2) is not installed') ||
  (spawnSync('python3', ['-c', '1']).status !== 0 && 'python3 is not installed (it binds the exact-length names)')

const SUN_PATH = 108
const UNIX_TYPE = { u_str: 'stream', u_dgr: 'dgram', u_seq: 'seqpacket' }
const ssState = (s) => ({ ESTAB: 'established', UNCONN: 'unconnected' })[s] || s.toLowerCase()
/**
 * What `cmd` prints, read as latin1 (one character a byte). Its output goes through a file, not a
 * pipe: Node's stdio pipes are unix socketpairs, which ss would list among this process's sockets.
 */
function run (cmd, args) {
  const file = path.join(outDir, 'out')
  const fd = fs.openSync(file, 'w')
  try {
    const r = spawnSync(cmd, args, { stdio: ['ignore', fd, 'inherit'] })
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.error || r.signal || r.status}`)
  } finally {
    fs.closeSync(fd)
  }
  return fs.readFileSync(file, 'latin1')
}
let outDir

const usersOf = (text) => [...(text || '').matchAll(/pid=(\d+),fd=(\d+)/g)].map((m) => ({ pid: Number(m[1]), fd: Number(m[2]) }))

/**
 * ss's unix sockets (ss -xlpn and ss -xpn), by inode. ss prints a name's bytes raw (read here
 * as latin1, one character a byte), newlines too: a record runs from a netid at the start of a
 * line to the next one.
 */
function ssUnix () {
  const byInode = new Map()
  for (const flags of ['-xlpnH', '-xpnH']) {
    const out = run('ss', [flags])
    for (const rec of out.split(/\n(?=u_(?:str|dgr|seq) )/)) {
      if (!rec.trim()) continue
      const m = /^(u_str|u_dgr|u_seq) +(\S+) +(\d+) +(\d+) +(.*) (\d+) +(\S+) (\d+)(?: +users:\((.*)\))? *\n?$/s.exec(rec)
      assert.ok(m, `an ss record this test reads: ${JSON.stringify(rec)}`)
      byInode.set(Number(m[6]), {
        protocol: UNIX_TYPE[m[1]],
        state: ssState(m[2]),
        recvQ: Number(m[3]),
        sendQ: Number(m[4]),
        name: m[5],
        peer: Number(m[8]),
        users: usersOf(m[9])
      })
    }
  }
  return byInode
}

function endpoint (text) {
  const i = text.lastIndexOf(':')
  const address = text.slice(0, i).replace(/^\[(.*)\]$/, '$1')
  const port = text.slice(i + 1)
  return { address, port: port === '*' ? 0 : Number(port) }
}

/** ss -tuanp: TCP and UDP sockets with their owners. */
function ssInet () {
  const rows = []
  for (const line of run('ss', ['-tuanpH']).split('\n')) {
    const m = /^(tcp|udp) +(\S+) +(\d+) +(\d+) +(\S+) +(\S+)(?: +users:\((.*)\))?/.exec(line)
    if (!m) continue
    rows.push({
      protocol: m[1],
      state: ssState(m[2]),
      recvQ: Number(m[3]),
      sendQ: Number(m[4]),
      local: endpoint(m[5]),
      peer: endpoint(m[6]),
      users: usersOf(m[7])
    })
  }
  return rows
}

/**
 * The name kernelscope shows for the name ss printed: ss's text (every NUL as '@'), as UTF-8
 * with U+FFFD for bytes that are not, except that a name filling all of sun_path loses its
 * trailing '@'s (Node 20's padding NULs; docs/fds.md). '*' is ss's "unnamed".
 */
function shown (ssName) {
  if (ssName === '*') return null
  let n = ssName
  if (n[0] === '@' && n.length >= SUN_PATH) n = n.replace(/@+$/, '') || '@'
  return Buffer.from(n, 'latin1').toString('utf8')
}

function expectedUnix (rec, table, procnet) {
  const local = shown(rec.name)
  const peer = rec.peer ? table.get(rec.peer) : undefined
  // /proc/net/unix has no peers and no queues
  const remote = procnet || !peer ? null : shown(peer.name)
  return {
    family: 'unix',
    protocol: rec.protocol,
    state: rec.state,
    localAddress: local,
    localPort: null,
    remoteAddress: remote,
    remotePort: null,
    path: local ?? remote,
    sendQueueBytes: procnet ? null : rec.sendQ,
    recvQueueBytes: procnet ? null : rec.recvQ
  }
}

function expectedInet (row, procnet, own) {
  return {
    family: row.local.address.includes(':') ? 'IPv6' : 'IPv4',
    protocol: row.protocol,
    state: row.state,
    localAddress: row.local.address,
    localPort: row.local.port,
    remoteAddress: row.peer.address === '*' ? '0.0.0.0' : row.peer.address,
    remotePort: row.peer.port,
    path: null,
    // /proc/net/tcp gives a listener no backlog (its tx_queue column is 0): our own listeners
    // have it from TCP_INFO, another process's have none
    sendQueueBytes: procnet && row.state === 'listen' && row.protocol === 'tcp' && !own ? null : row.sendQ,
    recvQueueBytes: row.recvQ
  }
}

/** ss's view of the sockets `pid` holds, keyed by fd. */
function ssOf (pid, ux, inet) {
  const byFd = new Map()
  for (const [inode, rec] of ux) {
    // (users left out: ss's own stderr may be one of the sockets, shared with ss)
    for (const u of rec.users) if (u.pid === pid) byFd.set(u.fd, { kind: 'unix', inode, rec: { ...rec, users: null } })
  }
  for (const row of inet) {
    for (const u of row.users) if (u.pid === pid) byFd.set(u.fd, { kind: 'inet', row: { ...row, users: null } })
  }
  return byFd
}

/** Every socket of `inv` (pid's inventory) against ss, both ways; the names it showed. */
function checkSockets (label, inv, pid, truth, { procnet = false } = {}) {
  const listed = ssOf(pid, truth.ux, truth.inet)
  const sockets = inv.filter((e) => e.type === 'socket')
  assert.equal(sockets.length, listed.size, `${label}: as many sockets as ss gives pid ${pid}`)
  const names = new Set()
  for (const e of sockets) {
    const s = listed.get(e.fd)
    assert.ok(s, `${label}: fd ${e.fd} (${e.target}) is a socket ss lists for pid ${pid}`)
    assert.equal(e.error, null, `${label}: fd ${e.fd}`)
    assert.equal(e.socketError, null, `${label}: fd ${e.fd}`)
    if (s.kind === 'unix') {
      assert.equal(e.inode, s.inode, `${label}: fd ${e.fd}`)
      assert.equal(e.target, `socket:[${s.inode}]`)
      assert.deepEqual(e.socket, expectedUnix(s.rec, truth.ux, procnet), `${label}: fd ${e.fd}, ss name ${JSON.stringify(s.rec.name)}`)
      names.add(e.socket.localAddress).add(e.socket.remoteAddress)
    } else {
      const want = expectedInet(s.row, procnet, pid === process.pid)
      assert.deepEqual(e.socket, want, `${label}: fd ${e.fd}`)
    }
  }
  return names
}

/** lsof's NAME of `fd` in `pid`, its escapes (\n, \xHH) turned back into bytes, read as UTF-8. */
function lsofName (pid, fd) {
  const out = run('lsof', ['-w', '-a', '-p', String(pid), '-d', String(fd), '-F', 'n'])
  const line = out.split('\n').find((l) => l.startsWith('n'))
  const raw = line.slice(1).replace(/\\(x[0-9a-f]{2}|n|t)/g, (_, e) => e === 'n' ? '\n' : e === 't' ? '\t' : String.fromCharCode(parseInt(e.slice(1), 16)))
  return Buffer.from(raw, 'latin1').toString('utf8')
}

function checkFiles (label, inv, pid, files, expected) {
  const byFd = new Map(inv.map((e) => [e.fd, e]))
  files.forEach((fd, i) => {
    const e = byFd.get(fd)
    assert.ok(e, `${label}: file fd ${fd} listed`)
    assert.equal(e.type, 'file')
    assert.equal(e.error, null)
    assert.equal(e.target, expected[i], `${label}: fd ${fd}`)
    // the kernel's link read directly, decoded as Node decodes it by default (U+FFFD)
    assert.equal(e.target, fs.readlinkSync(`/proc/${pid}/fd/${fd}`))
    assert.equal(e.target, fs.readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'buffer' }).toString('utf8'))
    if (hasTool('lsof')) assert.equal(lsofName(pid, fd), e.target, `${label}: lsof fd ${fd}`)
  })
}

async function withSockdiag (mode, fn) {
  process.env.KERNELSCOPE_SOCKDIAG = mode
  try {
    return await fn()
  } finally {
    delete process.env.KERNELSCOPE_SOCKDIAG
  }
}

/** A fixture child; resolves with it and the JSON line it prints once everything is open. */
async function start (cleanup, cmd, args, cwd) {
  const child = spawnChild(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'inherit'] })
  cleanup.push(async () => {
    // stdin's end asks it to close everything and exit; killed if it has not within 10 s
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000)
    await child.closed
    clearTimeout(timer)
  })
  let out = ''
  const info = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve(JSON.parse(out))
    })
    child.once('exit', (code) => reject(new Error(`${cmd} fixture exited (${code}) before it was ready: ${out}`)))
  })
  return { child, info }
}

test('names with NULs, newlines and odd bytes: every socket right in fds(), fdsSync(), fdinfo, { pid }, /proc/net and socketState(), against ss', { skip }, async (t) => {
  const dir = tmpdir('kernelscope-names-')
  outDir = dir
  // undone last made first, each waited for: servers closed, children reaped
  const cleanup = [() => fs.rmSync(dir, { recursive: true, force: true })]
  t.after(async () => { while (cleanup.length) await cleanup.pop()() })
  const tag = (role) => `${process.pid}-${role}`
  const own = await zoo.open(dir, tag('self'))
  cleanup.push(() => own.close())
  const node = await start(cleanup, process.execPath, [path.join(__dirname, 'fixtures', 'names-zoo.js'), dir, tag('node')], dir)
  const py = await start(cleanup, 'python3', [path.join(__dirname, 'fixtures', 'names_zoo.py'), dir, tag('py')], dir)

  const nodeNames = (role) => [`@ks-${tag(role)}@a@b`, path.join(dir, `n\nl-${tag(role)}.sock`)]
  const pyFull = `@ks-${tag('py')}-`
  const pyNames = [
    `@ks-${tag('py')}@x@@`, // exact length: its trailing NULs are part of it, '@' as ss shows them
    pyFull + 'q'.repeat(SUN_PATH - pyFull.length), // fills sun_path, no padding to drop
    path.join(dir, `f\uFFFDo\nx-${tag('py')}.sock`), // byte 0xff: U+FFFD, as Node decodes it
    path.join(dir, `end-${tag('py')}\n`),
    '\x01', // once the channel's null mark: a socket so named read as unnamed
    `@ks-${tag('py')}-dgram@`
  ]
  const nodeFiles = (role) => [path.join(dir, `file\nname-\u{1F600}-${tag(role)}`), path.join(dir, `bad\uFFFD-${tag(role)}`)]

  const before = { ux: ssUnix(), inet: ssInet() }
  const runs = [
    ['fdsSync()', process.pid, () => ks.fdsSync()],
    ['fds()', process.pid, () => ks.fds()],
    ['fds({ fdinfo: true })', process.pid, () => ks.fds({ fdinfo: true })],
    ['fdsSync({ fdinfo: true })', process.pid, () => ks.fdsSync({ fdinfo: true })],
    ['node child fds({ pid })', node.child.pid, () => ks.fds({ pid: node.child.pid })],
    ['node child fds({ pid, fdinfo: true })', node.child.pid, () => ks.fds({ pid: node.child.pid, fdinfo: true })],
    ['python child fds({ pid })', py.child.pid, () => ks.fds({ pid: py.child.pid })],
    ['python child fdsSync({ pid, fdinfo: true })', py.child.pid, () => ks.fdsSync({ pid: py.child.pid, fdinfo: true })]
  ]
  const results = []
  for (const [label, pid, take] of runs) results.push([label, pid, await take(), false])
  for (const [label, pid, take] of runs) {
    results.push([`${label} from /proc/net`, pid, await withSockdiag('procnet', take), true])
  }
  // ss again: the sockets did not change while the inventories were taken
  const after = { ux: ssUnix(), inet: ssInet() }
  for (const pid of [process.pid, node.child.pid, py.child.pid]) {
    assert.deepEqual(ssOf(pid, after.ux, after.inet), ssOf(pid, before.ux, before.inet), `pid ${pid}: ss the same before and after`)
  }

  for (const [label, pid, inv, procnet] of results) {
    const names = checkSockets(label, inv, pid, before, { procnet })
    const want = pid === process.pid ? nodeNames('self') : pid === node.child.pid ? nodeNames('node') : pyNames
    for (const n of want) assert.ok(names.has(n), `${label}: shows ${JSON.stringify(n)}; it shows ${JSON.stringify([...names])}`)
    if (label.includes('fdinfo')) {
      for (const e of inv) assert.ok(Array.isArray(e.flags) || e.error, `${label}: fd ${e.fd} has its fdinfo flags`)
    }
    const files = pid === process.pid ? own.files : pid === node.child.pid ? node.info.files : py.info.files
    const fileNames = pid === process.pid ? nodeFiles('self') : pid === node.child.pid ? nodeFiles('node') : [path.join(dir, `py\uFFFD\nfile-${tag('py')}`), path.join(dir, `py\uFFFD\uFFFD\uFFFD\uFFFD-${tag('py')}`)]
    checkFiles(label, inv, pid, files, fileNames)
  }

  // socketState(): the same names as fds(), for every socket of this process
  const mine = results[0][2].filter((e) => e.socket)
  assert.ok(mine.length >= 8, `${mine.length} sockets`)
  for (const e of mine) {
    const s = ks.socketState(e.fd)
    assert.equal(s.family, e.socket.family, `fd ${e.fd}`)
    assert.equal(s.localAddress, e.socket.localAddress, `fd ${e.fd}`)
    assert.equal(s.localPort, e.socket.localPort, `fd ${e.fd}`)
    if (e.socket.family === 'unix' || e.socket.state === 'established') {
      assert.equal(s.remoteAddress, e.socket.remoteAddress, `fd ${e.fd}`)
      assert.equal(s.remotePort, e.socket.remotePort, `fd ${e.fd}`)
    }
    if (e.socket.protocol !== 'udp') assert.equal(s.state, e.socket.state, `fd ${e.fd}`)
  }
})
