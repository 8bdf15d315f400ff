'use strict'
// Entries of fds() that must be what the fd is (issue 11): no descriptor of the scan's own in
// the inventory (its directories, the helper thread's fdinfo files, the /proc/net fallback's
// tables), none mixed from two files when a number is closed and reused mid-scan, an O_PATH
// descriptor on a socket file reported as the path it holds, and a listener's backlog the same
// from netlink and /proc/net. Checked against /proc read directly, ls, lsof and ss.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { once } = require('node:events')
const { execFileSync, spawnSync } = require('node:child_process')
const { Worker } = require('node:worker_threads')

const ks = require('..')
const { tmpdir, hasTool, spawnChild, stopChild, closeServer, until } = require('./helpers')

const O_PATH = 0o10000000 // asm-generic (x86-64, aarch64)
const noPython = !hasTool('python3') && 'python3 is not installed'
const noSs = !hasTool('ss') && 'ss (iproute2) is not installed'

/** /proc/<pid>/fd read directly: fd -> link text (the readdir's own fd is closed by the readlinks). */
function procFds (pid = process.pid) {
  const out = new Map()
  for (const name of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), fs.readlinkSync(`/proc/${pid}/fd/${name}`))
    } catch {}
  }
  return out
}

/**
 * `ls -l /proc/<pid>/fd`: fd -> link text. Running ls from here opens descriptors of its own in
 * this process (spawnSync's pipes and loop), some closed before ls reads them: it then complains
 * of those and exits 1, and lists the rest.
 */
function lsFds (pid) {
  const out = new Map()
  const ls = spawnSync('ls', ['-l', `/proc/${pid}/fd`], { encoding: 'utf8' })
  assert.ok(ls.status === 0 || ls.status === 1, ls.stderr)
  for (const line of ls.stdout.split('\n')) {
    const m = / (\d+) -> (.*)$/.exec(line)
    if (m) out.set(Number(m[1]), m[2])
  }
  return out
}

/**
 * The inventory is exactly what /proc says was open both before and after it (nothing changed
 * meanwhile), each with /proc's link text; a map of what ls saw is checked too where given.
 */
function assertExact (inv, before, after, label, ls) {
  const byFd = new Map(inv.map((e) => [e.fd, e]))
  for (const [fd, target] of before) {
    if (after.get(fd) !== target) continue
    const e = byFd.get(fd)
    assert.ok(e, `${label}: fd ${fd} (${target}) is missing`)
    assert.equal(e.target, target, `${label}: fd ${fd}`)
    assert.equal(e.error, null, `${label}: fd ${fd}`)
  }
  for (const e of inv) {
    assert.ok(before.has(e.fd) && after.has(e.fd), `${label}: fd ${e.fd} is not open: ${JSON.stringify(e)}`)
    if (ls) assert.equal(ls.get(e.fd), e.target, `${label}: ls -l says fd ${e.fd} is ${ls.get(e.fd)}`)
  }
}

/** The first line a child prints. */
async function firstLine (stream) {
  let text = ''
  for await (const chunk of stream) {
    text += chunk
    if (text.includes('\n')) return text.slice(0, text.indexOf('\n'))
  }
  throw new Error(`the child ended after printing ${JSON.stringify(text)}`)
}

function withSockdiag (mode, fn) {
  process.env.KERNELSCOPE_SOCKDIAG = mode
  const done = () => { delete process.env.KERNELSCOPE_SOCKDIAG }
  try {
    const r = fn()
    if (r && typeof r.then === 'function') return r.finally(done)
    done()
    return r
  } catch (err) {
    done()
    throw err
  }
}

test('two inventories with nothing changed between them differ in nothing: 1,200 fds, fdinfo, netlink and /proc/net, own pid and own tid', async (t) => {
  const dir = tmpdir('ks-fds-truth-')
  const file = path.join(dir, 'held')
  fs.writeFileSync(file, 'x')
  const held = []
  for (let i = 0; i < 1200; i++) held.push(fs.openSync(file, 'r'))
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(async () => {
    for (const fd of held) fs.closeSync(fd)
    await closeServer(server)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  ks.fdsSync() // a big table seen once: the next scans probe it and share it with the helper thread
  const other = fs.readdirSync('/proc/self/task').map(Number).find((tid) => tid !== process.pid)
  assert.ok(other, 'a second thread of ours')
  let compared = 0
  for (const mode of ['auto', 'procnet']) {
    for (const fdinfo of [false, true]) {
      const label = `sockdiag ${mode}, fdinfo ${fdinfo}`
      let prev = null
      for (let i = 0; i < 16; i++) {
        const before = procFds()
        const inv = await withSockdiag(mode, () => (i % 2 ? ks.fds({ fdinfo }) : ks.fdsSync({ fdinfo })))
        const after = procFds()
        assertExact(inv, before, after, `${label}, round ${i}`)
        if (prev) {
          const { opened, closed } = ks.diffFds(prev, inv)
          assert.deepEqual([opened.map((e) => `${e.fd} ${e.target}`), closed.map((e) => `${e.fd} ${e.target}`)], [[], []],
            `${label}, round ${i}: nothing changed`)
          compared++
        }
        prev = inv
      }
      // our pid and another of our threads name the same table: the same inventory, and what
      // ls -l showed when no scan was in flight
      for (const pid of [process.pid, other]) {
        const ls = lsFds(process.pid)
        const before = procFds()
        const inv = withSockdiag(mode, () => ks.fdsSync({ pid, fdinfo }))
        const after = procFds()
        assertExact(inv, before, after, `${label}, { pid: ${pid === process.pid ? 'process.pid' : 'own tid'} }`, ls)
        const { opened, closed } = ks.diffFds(prev, inv)
        assert.deepEqual([opened.length, closed.length], [0, 0], `${label}, pid ${pid}: same as fds()`)
      }
    }
  }
  t.diagnostic(`${compared} pairs of inventories compared`)
})

// Files of each kind at known paths, for the churn: what a consistent entry for each must say.
function churnFiles (dir) {
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, 'x')
  return { dir, file, fifo, null: '/dev/null' }
}

// A worker that closes a number and opens another kind of file, which takes the same number
// (the lowest free), in a tight loop: directory, /dev/null, a file, a FIFO, a pipe end.
const CHURN = `
  const fs = require('fs'); const { parentPort, workerData: w } = require('worker_threads')
  const kinds = [
    () => fs.openSync(w.dir, 'r'),
    () => fs.openSync(w.null, 'w'),
    () => fs.openSync(w.file, 'r'),
    () => fs.openSync(w.fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK),
    () => fs.openSync('/proc/self/fd/' + w.pipe, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
  ]
  const held = kinds.map((k) => k())
  let stop = false
  let turns = 0
  parentPort.on('message', () => { stop = true })
  function spin () {
    for (let k = 0; k < (w.pause ? 20 : 2000); k++, turns++) {
      const slot = turns % held.length
      fs.closeSync(held[slot])
      held[slot] = kinds[(turns + 1 + (turns >> 3)) % kinds.length]()
    }
    // with pause: bursts between sleeps, so that scans find the process now still, now not
    if (!stop) return w.pause ? setTimeout(spin, 1 + (turns % 3)) : setImmediate(spin)
    for (const fd of held) fs.closeSync(fd)
    parentPort.postMessage(turns)
    parentPort.close()
  }
  spin()`

/** Every field of `e` agrees with the others and with the file its target names, or e.error says why not. */
function consistent (e, truth) {
  if (e.error !== null) return null
  if (e.type === 'socket') return e.target === `socket:[${e.inode}]` ? null : 'socket target'
  if (e.type === 'pipe') return e.target === `pipe:[${e.inode}]` ? null : 'pipe target'
  const want = truth.get(e.target)
  if (want === undefined) return null // not one of the churned files
  if (want.type !== e.type) return `type ${e.type}, ${e.target} is a ${want.type}`
  if (want.inode !== e.inode) return `inode ${e.inode}, ${e.target} is ${want.inode}`
  return null
}

function truthOf (files) {
  const kind = (st) => st.isDirectory() ? 'directory' : st.isCharacterDevice() ? 'char-device' : st.isFIFO() ? 'fifo' : 'file'
  return new Map(Object.values(files).map((p) => { const st = fs.statSync(p); return [p, { type: kind(st), inode: st.ino }] }))
}

async function churnAgainst (t, scan, pid, rounds, { pause = false, extra = 0 } = {}) {
  const files = churnFiles(tmpdir('ks-fds-churn-'))
  const truth = truthOf(files)
  let workers = []
  let child = null
  t.after(async () => {
    await Promise.all(workers.map((w) => w.terminate()))
    if (child) await stopChild(child)
    fs.rmSync(files.dir, { recursive: true, force: true })
  })
  const pipe = ks.fdsSync({ sockets: false }).find((e) => e.type === 'pipe').fd
  let target = process.pid
  if (pid === 'child') {
    // another process churning: fds({ pid }) reads its links and stats through them
    const script = `
      const { Worker } = require('worker_threads')
      const fs = require('fs')
      const pipe = fs.readdirSync('/proc/self/fd').find((n) => { try { return fs.readlinkSync('/proc/self/fd/' + n).startsWith('pipe:') } catch {} })
      for (let i = 0; i < ${extra}; i++) fs.openSync('/dev/zero', 'r')
      for (let i = 0; i < 2; i++) new Worker(${JSON.stringify(CHURN)}, { eval: true, workerData: { ...${JSON.stringify(files)}, pipe, pause: ${pause} } })
      process.stdout.write('ready\\n')`
    child = spawnChild(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    assert.equal(await firstLine(child.stdout), 'ready')
    target = child.pid
  } else {
    workers = [0, 1].map(() => {
      const w = new Worker(CHURN, { eval: true, workerData: { ...files, pipe } })
      // listened for now: a worker may be gone before the end of the scans is handled here
      w.done = once(w, 'message').then(([n]) => n)
      w.exited = once(w, 'exit')
      return w
    })
    await until(() => procFds().size > 10)
  }
  let entries = 0
  let errors = 0
  let churned = 0
  for (let i = 0; i < rounds; i++) {
    const inv = await scan(i, target)
    for (const e of inv) {
      entries++
      if (e.error !== null) errors++
      if (truth.has(e.target)) churned++
      const why = consistent(e, truth)
      assert.equal(why, null, `round ${i}: fd ${e.fd} mixes two files (${why}): ${JSON.stringify(e)}`)
    }
  }
  for (const w of workers) w.postMessage('stop')
  const turns = await Promise.all(workers.map((w) => w.done))
  await Promise.all(workers.map((w) => w.exited))
  workers = []
  t.diagnostic(`${entries} entries (${churned} of churned files), ${errors} with error; ${turns.join(' + ') || 'child'} reopenings`)
  assert.ok(churned > rounds, 'the scans saw the churned files')
}

test('a number closed and reused for another kind of file mid-scan: every entry is one file, or has error', async (t) => {
  await churnAgainst(t, (i) => i % 4 === 3 ? ks.fds({ fdinfo: i % 8 === 3 }) : ks.fdsSync({ sockets: i % 2 === 0 }), 'self', 800)
})

test('the same for another process read through { pid }', async (t) => {
  await churnAgainst(t, (i, pid) => i % 2 ? ks.fds({ pid }) : ks.fdsSync({ pid, sockets: false }), 'child', 600)
})

// A table of several chunks (CHUNK = 256) of a process whose threads now sleep, now churn: every
// entry must still be one file. (It caught a skip of the reuse check for chunks read while no
// thread of the target seemed to run: a thread running throughout need not show it.)
test('the same for another process with a big table that churns in bursts between sleeps', async (t) => {
  await churnAgainst(t, (i, pid) => i % 2 ? ks.fds({ pid, sockets: false }) : ks.fdsSync({ pid, sockets: false }), 'child', 400, { pause: true, extra: 700 })
})

// Python lines (json, os, resource and time imported) that open `file` 2,000 times into `fds`,
// the fd limit raised for it; or print {"skip": why} and sleep when the hard limit is too low.
function holdFiles (file) {
  return `soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < 2100:
    print(json.dumps({'skip': 'the hard RLIMIT_NOFILE (%d) is under 2,100' % hard}), flush=True)
    time.sleep(600)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
fds = [os.open(${JSON.stringify(file)}, os.O_RDONLY) for _ in range(2000)]`
}

// Another process's big table is read by two threads, the second through another thread of
// that process (/proc/<pid>/task/<tid>/fd: the same table, less contention). That thread can
// exit mid-scan: what it made look gone must be looked at again, not reported closed.
test('another process whose threads come and go: every one of its files listed, none reported closed', { skip: noPython }, async (t) => {
  const dir = tmpdir('ks-fds-tasks-')
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, 'x')
  const child = spawnChild('python3', ['-c', `import json, os, resource, threading, time
${holdFiles(file)}
print(json.dumps(fds), flush=True)
while True:
    t = threading.Thread(target=time.sleep, args=(0.002,))
    t.start()
    t.join()`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(async () => {
    await stopChild(child)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const said = JSON.parse(await firstLine(child.stdout))
  if (said.skip) { t.skip(said.skip); return }
  const held = new Set(said)
  assert.equal(held.size, 2000)
  const ino = fs.statSync(file).ino
  let tasksSeen = 0
  for (let i = 0; i < 150; i++) {
    tasksSeen = Math.max(tasksSeen, fs.readdirSync(`/proc/${child.pid}/task`).length)
    const inv = i % 2 ? await ks.fds({ pid: child.pid, sockets: false }) : ks.fdsSync({ pid: child.pid, sockets: false })
    const mine = inv.filter((e) => held.has(e.fd))
    const bad = mine.filter((e) => e.error !== null || e.target !== file || e.inode !== ino)
    assert.deepEqual(bad, [], `round ${i}: ${bad.length} of the process's files misreported, e.g. ${JSON.stringify(bad[0])}`)
    assert.equal(mine.length, 2000, `round ${i}: all 2000 listed`)
  }
  assert.ok(tasksSeen >= 2, 'the process had a second thread')
})

// A thread that unshares its descriptor table (unshare(CLONE_FILES)) keeps a copy under
// /proc/<pid>/task/<tid>/fd that drifts from the process's: the helper must not read that one.
test('another process with a thread that unshared its table: the inventory is the process\'s table', { skip: noPython }, async (t) => {
  const dir = tmpdir('ks-fds-unshare-')
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, 'x')
  const child = spawnChild('python3', ['-c', `import ctypes, json, os, resource, sys, threading, time
${holdFiles(file)}
libc = ctypes.CDLL(None, use_errno=True)
done = threading.Event()
def own_table():
    if libc.unshare(0x400) != 0:
        print(json.dumps({'skip': 'unshare(CLONE_FILES) refused: ' + os.strerror(ctypes.get_errno())}), flush=True)
        time.sleep(600)
    done.set()
    time.sleep(600)
threading.Thread(target=own_table, daemon=True).start()
done.wait()
null = os.open('/dev/null', os.O_RDONLY)
for fd in fds[::2]:
    os.dup2(null, fd)
os.close(null)
print(json.dumps(fds), flush=True)
time.sleep(600)`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(async () => {
    await stopChild(child)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const said = JSON.parse(await firstLine(child.stdout))
  if (said.skip) { t.skip(said.skip); return }
  assert.ok(Array.isArray(said), JSON.stringify(said))
  const tasks = fs.readdirSync(`/proc/${child.pid}/task`).map(Number).filter((n) => n !== child.pid)
  assert.equal(tasks.length, 1, 'one other thread')
  // the kernel's own views: the thread's copy still has the file where the process has /dev/null
  assert.equal(fs.readlinkSync(`/proc/${child.pid}/fd/${said[0]}`), '/dev/null')
  assert.equal(fs.readlinkSync(`/proc/${child.pid}/task/${tasks[0]}/fd/${said[0]}`), file)
  const truth = procFds(child.pid)
  for (const [label, inv] of [['fdsSync', ks.fdsSync({ pid: child.pid, sockets: false })], ['fds', await ks.fds({ pid: child.pid, sockets: false })]]) {
    const wrong = said.filter((fd) => {
      const e = inv.find((x) => x.fd === fd)
      return !e || e.target !== truth.get(fd)
    })
    assert.deepEqual(wrong.slice(0, 5), [], `${label}: ${wrong.length} of 2000 not the process's`)
  }
})

// Another process's path descriptor is described from a stat through its link and an lstat of
// the path it names, which must be the same file; when the path names another file here (a
// process in a mount namespace of its own, a tmpfs over the directory), the pinned file decides.
const noNamespace = (process.getuid() !== 0 && 'needs root (unshare -m, mount)') || (!hasTool('unshare') && 'unshare (util-linux) is not installed') ||
  (spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status !== 0 && 'unshare -m is refused here (no CAP_SYS_ADMIN?)')
test('another mount namespace\'s file at a path that here is another file: the entry is its file, not ours', { skip: noNamespace }, async (t) => {
  const dir = tmpdir('ks-fds-ns-')
  const here = path.join(dir, 'f')
  fs.writeFileSync(here, 'ours')
  const script = `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(here)}, 'r'); process.stdout.write(fd + '\\n'); setInterval(() => {}, 1e6)`
  const sh = `mount -t tmpfs kernelscope-test ${dir} || { echo skip: mount -t tmpfs failed; exit 0; }; echo theirs > ${here} && exec ${JSON.stringify(process.execPath)} -e "$0"`
  const child = spawnChild('unshare', ['-m', '--propagation', 'private', 'sh', '-c', sh, script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(async () => {
    await stopChild(child)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const line = await firstLine(child.stdout)
  if (line.startsWith('skip: ')) { t.skip(line.slice(6)); return }
  const fd = Number(line)
  assert.ok(Number.isInteger(fd), `child said ${JSON.stringify(line)}`)
  // the kernel's own answer: a stat through the link is the child's file; the path is ours here
  const theirs = fs.statSync(`/proc/${child.pid}/fd/${fd}`)
  const ours = fs.statSync(here)
  assert.equal(fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`), here)
  assert.notDeepEqual([theirs.dev, theirs.ino], [ours.dev, ours.ino], 'the namespace has a file of its own at that path')
  assert.equal(fs.readFileSync(`/proc/${child.pid}/fd/${fd}`, 'utf8'), 'theirs\n')
  for (const [label, inv] of [['fdsSync', ks.fdsSync({ pid: child.pid })], ['fds', await ks.fds({ pid: child.pid })]]) {
    const e = inv.find((x) => x.fd === fd)
    assert.ok(e, `${label}: fd ${fd} listed`)
    assert.equal(e.error, null, label)
    assert.equal(e.type, 'file', label)
    assert.equal(e.target, here, label)
    assert.equal(e.inode, theirs.ino, `${label}: the child's file (${theirs.ino}), not ours (${ours.ino})`)
  }
})

test('an O_PATH descriptor on a unix socket file is the path it holds, not a socket (lsof, readlink)', { skip: noPython }, async (t) => {
  const dir = tmpdir('ks-fds-opath-')
  const sock = path.join(dir, 'app.sock')
  const server = net.createServer()
  server.listen(sock)
  await once(server, 'listening')
  const own = fs.openSync(sock, O_PATH)
  const child = spawnChild('python3', ['-c', `import os, sys, time
fd = os.open(${JSON.stringify(sock)}, os.O_PATH)
print(fd, flush=True)
time.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(async () => {
    fs.closeSync(own)
    await stopChild(child)
    await closeServer(server)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const childFd = Number(await firstLine(child.stdout))
  const ino = fs.statSync(sock).ino
  const check = (e, label) => {
    assert.ok(e, `${label}: listed`)
    assert.equal(e.type, 'file', label)
    assert.equal(e.target, sock, label)
    assert.equal(e.inode, ino, label)
    assert.equal(e.socket, null, label)
    assert.equal(e.error, null, label)
  }
  check(ks.fdsSync().find((e) => e.fd === own), 'own fd')
  check((await ks.fds({ fdinfo: true })).find((e) => e.fd === own), 'own fd, fdinfo')
  const withInfo = ks.fdsSync({ fdinfo: true }).find((e) => e.fd === own)
  assert.ok(withInfo.flags.includes('O_PATH'), withInfo.flags.join())
  assert.equal(fs.readlinkSync(`/proc/self/fd/${own}`), sock)
  const theirs = ks.fdsSync({ pid: child.pid }).find((e) => e.fd === childFd)
  check(theirs, 'child fd')
  assert.equal(fs.readlinkSync(`/proc/${child.pid}/fd/${childFd}`), sock)
  // the listening socket itself stays a socket
  const listener = ks.fdsSync().find((e) => e.socket && e.socket.path === sock && e.socket.state === 'listen')
  assert.ok(listener && listener.type === 'socket' && listener.inode !== ino)
  // fdSummary counts it as a file too
  const summary = ks.fdSummary()
  const files = ks.fdsSync({ sockets: false }).filter((e) => e.type === 'file').length
  assert.equal(summary.byType.file, files)
  if (hasTool('lsof')) {
    // lsof: "python3 PID user 3u sock 254,0 0t0 <inode> can't identify protocol": the same node
    const out = spawnSync('lsof', ['-a', '-n', '-P', '-p', String(child.pid), '-d', String(childFd)], { encoding: 'utf8' }).stdout
    const row = out.split('\n').find((l) => l.split(/\s+/)[3] === `${childFd}u` || l.split(/\s+/)[3] === `${childFd}r`)
    assert.ok(row, out)
    assert.ok(row.split(/\s+/).includes(String(ino)), `lsof's NODE is the file's inode ${ino}: ${row}`)
  } else {
    t.diagnostic('lsof not installed: compared with readlink only')
  }
})

/** ss -ltn's Recv-Q and Send-Q of the listener on 127.0.0.1:port. */
function ssListener (port) {
  const out = execFileSync('ss', ['-Hltn', `( sport = :${port} )`], { encoding: 'utf8' }).trim().split('\n')
  assert.equal(out.length, 1, out.join('\n'))
  const [, recvQ, sendQ] = out[0].trim().split(/\s+/)
  return { recvQueueBytes: Number(recvQ), sendQueueBytes: Number(sendQ) }
}

test('a listener\'s queues are ss -ltn\'s Recv-Q and Send-Q from netlink and from /proc/net alike', { skip: noSs || noPython }, async (t) => {
  const server = net.createServer((s) => s.destroy())
  server.listen({ port: 0, host: '127.0.0.1', backlog: 77 })
  await once(server, 'listening')
  t.after(() => closeServer(server))
  const port = server.address().port
  // three connections the kernel completes while this thread, which would accept them, is busy
  // here: until the loop runs again they wait in the accept queue (Recv-Q)
  const client = spawnSync('python3', ['-c', `import socket
s = [socket.create_connection(('127.0.0.1', ${port})) for _ in range(3)]`])
  assert.equal(client.status, 0, String(client.stderr))
  const ss = ssListener(port)
  assert.deepEqual(ss, { recvQueueBytes: 3, sendQueueBytes: 77 })
  for (const mode of ['auto', 'procnet']) {
    const e = withSockdiag(mode, () => ks.fdsSync()).find((x) => x.socket && x.socket.localPort === port && x.socket.state === 'listen')
    assert.ok(e, mode)
    assert.deepEqual({ recvQueueBytes: e.socket.recvQueueBytes, sendQueueBytes: e.socket.sendQueueBytes }, ss, `sockdiag ${mode}`)
  }
  // another process's listener: netlink has its backlog, /proc/net has not (null, not 0)
  const child = spawnChild('python3', ['-c', `import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(5)
print(s.getsockname()[1], s.fileno(), flush=True)
time.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => stopChild(child))
  const [childPort, childFd] = (await firstLine(child.stdout)).split(' ').map(Number)
  const theirs = (mode) => withSockdiag(mode, () => ks.fdsSync({ pid: child.pid })).find((x) => x.fd === childFd).socket
  assert.equal(theirs('auto').sendQueueBytes, ssListener(childPort).sendQueueBytes)
  assert.equal(theirs('auto').sendQueueBytes, 5)
  assert.equal(theirs('procnet').sendQueueBytes, null)
  assert.equal(theirs('procnet').recvQueueBytes, 0)
})
