'use strict'
// threads() roles when a worker_thread exists before the libuv pool starts (issue 11): the pool
// thread blocked in openat on a FIFO the test controls is 'libuv-worker', the worker_thread is
// not, on every Node (20 has no thread names; 22, 24 and 26 have). The truth comes from outside
// the child: its /proc/<pid>/task/<tid>/syscall read directly (openat, and the path argument
// read from /proc/<pid>/mem), its threads' comm on Node >= 22, and the worker's own tid. The
// unreadable case: the child setuid()s to another uid (non-dumpable: its syscall files are
// root's and mode 0400) and threads() must say the syscall is unknown, not "no syscall".
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { tmpdir, mkfifo, spawnChild, stopChild } = require('./helpers')

const FIXTURE = path.join(__dirname, 'fixtures', 'pool-roles.js')
const OPENAT = process.arch === 'arm64' ? 56 : 257
const NODE_MAJOR = Number.parseInt(process.versions.node, 10)

/** A NUL-terminated string at `addr` in process `pid`'s memory, read from /proc/<pid>/mem. */
function readString (pid, addr) {
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r')
  try {
    const buf = Buffer.alloc(4096)
    const n = fs.readSync(fd, buf, 0, buf.length, addr)
    const end = buf.subarray(0, n).indexOf(0)
    return buf.subarray(0, end < 0 ? n : end).toString('latin1')
  } finally {
    fs.closeSync(fd)
  }
}

/** The threads of `pid` the kernel shows inside openat(2) of `file`. */
function inOpenat (pid, file) {
  return fs.readdirSync(`/proc/${pid}/task`).map(Number).filter((tid) => {
    const f = fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'latin1').trim().split(' ')
    return Number(f[0]) === OPENAT && readString(pid, BigInt(f[2])) === file
  })
}

/** Runs the fixture; returns its report, the kernel's truth read while it waits, and cleans up. */
async function scenario (mode, uid) {
  const dir = tmpdir()
  const fifo = mkfifo(dir)
  // another uid opens the FIFO after setuid()
  fs.chmodSync(dir, 0o755)
  fs.chmodSync(fifo, 0o666)
  const child = spawnChild(process.execPath, [FIXTURE, fifo, mode, ...(uid === undefined ? [] : [String(uid)])], {
    env: { ...process.env, UV_THREADPOOL_SIZE: '4' },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  try {
    let out = ''
    const report = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d
        const nl = out.indexOf('\n')
        if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)))
      })
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before reporting: ${out}`)))
    })
    assert.equal(report.error, undefined, report.error)
    const truth = {
      openat: inOpenat(child.pid, fifo),
      comm: Object.fromEntries(fs.readdirSync(`/proc/${child.pid}/task`).map((tid) =>
        [tid, fs.readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'latin1').trim()])),
      syscallOwner: fs.statSync(`/proc/${child.pid}/task/${child.pid}/syscall`).uid
    }
    child.stdin.write('go\n')
    const code = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)))
    assert.equal(code, 0, 'the fixture read the FIFO and exited by itself')
    return { report, truth }
  } finally {
    await stopChild(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** What every scenario shows, on every Node. */
function checkRoles ({ report, truth }, list, label) {
  assert.equal(truth.openat.length, 1, `one thread is in openat on the FIFO (kernel): ${truth.openat}`)
  const [blocked] = truth.openat
  assert.deepEqual(report.blocked, [blocked], 'the fixture saw the same thread in wait_for_partner')
  const byTid = new Map(list.map((t) => [t.tid, t]))
  assert.equal(byTid.get(blocked).role, 'libuv-worker', `${label}: the thread blocked in openat is a libuv worker: ${JSON.stringify(list)}`)
  assert.notEqual(byTid.get(report.workerTid).role, 'libuv-worker', `${label}: the worker_thread is not a libuv worker`)
  assert.equal(list.filter((t) => t.role === 'libuv-worker').length, 4, `${label}: UV_THREADPOOL_SIZE=4 pool threads`)
  if (NODE_MAJOR >= 22) {
    // libuv names its threads there: the kernel's comm is the truth for the whole pool
    const named = Object.keys(truth.comm).filter((tid) => truth.comm[tid] === 'libuv-worker').map(Number).sort()
    assert.deepEqual(list.filter((t) => t.role === 'libuv-worker').map((t) => t.tid).sort(), named)
  }
}

for (const mode of ['park', 'busy']) {
  test(`a worker_thread ${mode === 'park' ? 'parked in Atomics.wait' : 'busy'} before the pool starts is not a libuv worker; the thread blocked in openat is`, { timeout: 60000 }, async () => {
    const r = await scenario(mode)
    const { report, truth } = r
    checkRoles(r, report.first, 'first call')
    checkRoles(r, report.last, 'settled')
    assert.equal(report.workerEverPool, false, `in none of ${report.calls} calls`)
    const blocked = report.last.find((t) => t.tid === truth.openat[0])
    assert.equal(blocked.syscall.name, 'openat')
    assert.ok(blocked.syscall.target.endsWith('test.fifo'), blocked.syscall.target)
    assert.equal(blocked.syscallError, null)
    // what the roles rest on: names from Node 22; on Node 20 the probe and the pool's stacks
    // (certain), never a guess for the blocked thread once settled
    const sources = new Set(report.last.filter((t) => t.role === 'libuv-worker').map((t) => t.roleSource))
    if (NODE_MAJOR >= 22) assert.deepEqual([...sources], ['name'])
    else {
      assert.ok([...sources].every((s) => s === 'pool-probe' || s === 'pool-stack'), [...sources].join())
      assert.ok(['pool-stack', 'pool-probe'].includes(blocked.roleSource), blocked.roleSource)
    }
  })
}

test('a process that is not dumpable (setuid): syscall unknown with its reason, the roles still right', {
  timeout: 60000,
  skip: process.getuid() !== 0 && 'needs root: the child setuid()s to uid 65534 to become non-dumpable (prctl(PR_SET_DUMPABLE) is not reachable from Node)'
}, async () => {
  const r = await scenario('park', 65534)
  const { report, truth } = r
  assert.equal(truth.syscallOwner, 0, 'the kernel gave the syscall files to root')
  checkRoles(r, report.first, 'first call')
  for (const t of report.first) {
    // refused is not "not in a syscall": null with the reason, for every thread but the one
    // calling threads() (the child's main thread, reported running)
    if (t.role === 'main') continue
    assert.equal(t.syscall, null)
    assert.match(t.syscallError, /^EACCES: \/proc\/self\/task\/\d+\/syscall$/)
  }
  const blocked = report.first.find((t) => t.tid === truth.openat[0])
  assert.equal(blocked.syscall, null)
  assert.match(blocked.syscallError, /^EACCES/)
})

test('threads() in a worker while the pool is saturated: terminate() is not held up by its probes', { timeout: 60000 }, async () => {
  // probes no pool thread took are withdrawn before threads() returns; one left queued would
  // make the worker's teardown wait for the pool (here: for ever, the FIFOs being released only
  // after terminate())
  const dir = tmpdir()
  const fifos = [mkfifo(dir, 'a.fifo'), mkfifo(dir, 'b.fifo')]
  const script = `
    const fs = require('node:fs')
    const { Worker } = require('node:worker_threads')
    const fifos = ${JSON.stringify(fifos)}
    const reads = fifos.map((f) => new Promise((resolve) => fs.readFile(f, () => resolve())))
    const blocked = () => fs.readdirSync('/proc/self/task').filter((t) => {
      try { return fs.readFileSync('/proc/self/task/' + t + '/wchan', 'latin1') === 'wait_for_partner' } catch { return false }
    }).length
    const wait = async () => { while (blocked() < 2) await new Promise((resolve) => setTimeout(resolve, 20)) }
    wait().then(() => {
      const w = new Worker('const ks = require(' + JSON.stringify(${JSON.stringify(path.join(__dirname, '..'))}) + '); ks.threads(); require("node:worker_threads").parentPort.postMessage(ks.threads().length)', { eval: true })
      w.once('message', async () => {
        const t0 = Date.now()
        await w.terminate()
        const ms = Date.now() - t0
        for (const f of fifos) fs.writeFileSync(f, 'x')
        await Promise.all(reads)
        console.log(JSON.stringify({ terminateMs: ms }))
      })
    })
  `
  const child = spawnChild(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '2' }, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000)
  try {
    await child.closed
  } finally {
    clearTimeout(timer)
    await stopChild(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  assert.equal(child.exitCode, 0, `the child finished by itself (it is killed after 30 s): ${out}`)
  const { terminateMs } = JSON.parse(out)
  assert.ok(terminateMs < 10000, `terminate() took ${terminateMs} ms`)
})
