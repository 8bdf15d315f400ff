'use strict'
// threads(): roles, states, and the syscall a blocked thread sits in, checked against
// /proc/self/task read directly and a FIFO the test controls; the same in a worker_thread.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const ks = require('..')
const { tmpdir, mkfifo, until } = require('./helpers')

test('one entry per thread of /proc/self/task, main thread has role main', () => {
  const list = ks.threads()
  const tids = fs.readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b)
  assert.deepEqual(list.map((t) => t.tid).sort((a, b) => a - b), tids)
  const main = list.find((t) => t.tid === process.pid)
  assert.equal(main.role, 'main')
  assert.equal(list.filter((t) => t.role === 'main').length, 1)
  for (const t of list) {
    const comm = fs.readFileSync(`/proc/self/task/${t.tid}/comm`, 'utf8').trim()
    assert.equal(t.name, comm)
    assert.equal(typeof t.cpu.userMs, 'number')
    assert.equal(typeof t.contextSwitches.voluntary, 'number')
    assert.ok(t.runqueueWaitMs === null || t.runqueueWaitMs >= 0)
    assert.ok(['main', 'libuv-worker', 'v8-worker', 'delayed-task-scheduler', 'signal-inspector', 'worker-thread', 'other'].includes(t.role))
  }
  // an idle platform thread is asleep in futex; the scheduler runs its own loop in epoll
  const v8 = list.filter((t) => t.role === 'v8-worker')
  assert.ok(v8.length >= 1, 'v8 platform workers are found')
  for (const t of v8) if (t.syscall) assert.equal(t.syscall.name, 'futex')
  const sched = list.find((t) => t.role === 'delayed-task-scheduler')
  assert.ok(sched)
  assert.match(sched.syscall.name, /^epoll_p?wait2?$/)
  assert.equal(sched.syscall.args.length, 6)
  assert.match(sched.syscall.args[0], /^0x[0-9a-f]+$/)
})

test('syscalls: false leaves syscall null; bad options are ERR_INVALID_ARG_TYPE', () => {
  for (const t of ks.threads({ syscalls: false })) assert.equal(t.syscall, null)
  for (const bad of ['x', 1, null, [], () => {}]) {
    assert.throws(() => ks.threads(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  }
  assert.throws(() => ks.threads({ syscalls: 'yes' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
})

/** The FIFO scenario from the issue, usable on the main thread and in a worker. */
async function fifoScenario () {
  const dir = tmpdir()
  const fifo = mkfifo(dir)
  let w = null
  const read = fs.promises.readFile(fifo, 'utf8')
  try {
    const inOpen = await until(() => ks.threads().find((t) => t.syscall && t.syscall.name === 'openat' &&
      t.syscall.target === fifo), 10000)
    assert.ok(inOpen, 'a thread blocked in openat on the FIFO')
    const open = { role: inOpen.role, wchan: inOpen.wchan, state: inOpen.state, tid: inOpen.tid }
    // the kernel agrees: that thread's own syscall file says openat (257 on x86-64, 56 on aarch64)
    const nr = Number(fs.readFileSync(`/proc/self/task/${inOpen.tid}/syscall`, 'utf8').split(' ')[0])
    assert.equal(nr, inOpen.syscall.nr)
    // a writer opens: a worker (any of the pool) moves on to read() and blocks until data comes
    w = fs.openSync(fifo, 'w')
    const inRead = await until(() => ks.threads().find((t) => t.syscall && t.syscall.name === 'read' &&
      t.syscall.target === fifo), 10000)
    assert.ok(inRead, 'a thread then blocks in read on the FIFO')
    return { open, read: { role: inRead.role, wchan: inRead.wchan, target: inRead.syscall.target } }
  } finally {
    // always release the blocked worker, pass or fail
    if (w === null) w = fs.openSync(fifo, 'w')
    fs.writeSync(w, 'late data')
    fs.closeSync(w)
    assert.equal(await read, 'late data')
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function checkFifo (r) {
  assert.equal(r.open.role, 'libuv-worker')
  assert.equal(r.open.wchan, 'wait_for_partner')
  assert.equal(r.open.state, 'sleeping')
  assert.equal(r.read.role, 'libuv-worker')
  assert.match(r.read.wchan, /pipe_read/) // anon_pipe_read on 6.18, pipe_read before
  assert.ok(r.read.target.endsWith('test.fifo'), `read target ${r.read.target}`)
}

test('fs.readFile on a FIFO without writer: a libuv-worker in openat, then read', async () => {
  checkFifo(await fifoScenario())
})

test('the same in a worker_thread', { timeout: 30000 }, async () => {
  const code = `
    const { parentPort } = require('node:worker_threads')
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const scenario = ${fifoScenario.toString()}
    const assert = require('node:assert/strict')
    const fs = require('node:fs')
    const { tmpdir, mkfifo, until, burnCpu } = require(${JSON.stringify(path.join(__dirname, 'helpers.js'))})
    ;(async () => {
      const list = ks.threads()
      const me = list.find((t) => t.tid === Number(fs.readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]))
      const r = await scenario()
      // sample() from the worker: the whole process, bracketing /proc/self/io read directly
      const s0 = ks.sample()
      const syscr = Number(fs.readFileSync('/proc/self/io', 'utf8').split('\\n').find((l) => l.startsWith('syscr:')).split(' ')[1])
      const s1 = ks.sample()
      const bracket = s0.io.readCalls <= syscr && syscr <= s1.io.readCalls
      const listed = fs.readdirSync('/proc/self/fd').length - 1
      const c0 = ks.sample().cpu
      burnCpu(300)
      const c1 = ks.sample().cpu
      const cpuMs = c1.userMs + c1.systemMs - c0.userMs - c0.systemMs
      const m0 = ks.sample().memory.rssBytes
      const big = Buffer.allocUnsafe(200e6).fill(1)
      const rssGrew = ks.sample().memory.rssBytes - m0 + big[0] - 1
      parentPort.postMessage({ r, mainRole: list.find((t) => t.tid === process.pid).role, myRole: me && me.role,
        sample: s1.pid, threads: s1.threads, bracket, fdCount: ks.fdCount(), listed, cpuMs, rssGrew })
    })().catch((e) => parentPort.postMessage({ error: e.stack }))
  `
  const worker = new Worker(code, { eval: true })
  let msg
  try {
    msg = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  } finally {
    await worker.terminate()
  }
  assert.equal(msg.error, undefined, msg.error)
  checkFifo(msg.r)
  assert.equal(msg.mainRole, 'main')
  assert.equal(msg.myRole, 'worker-thread')
  assert.equal(msg.sample, process.pid)
  assert.ok(msg.threads >= 8, 'the worker samples the whole process')
  assert.ok(msg.bracket, 'io.readCalls brackets syscr in the worker too')
  assert.equal(msg.fdCount, msg.listed)
  assert.ok(msg.cpuMs >= 270 && msg.cpuMs <= 1000, `cpu over 300 ms of worker CPU: ${msg.cpuMs}`)
  assert.ok(msg.rssGrew >= 190e6, `rss grew ${msg.rssGrew} after 200 MB in the worker`)
})

test('threads exiting mid-scan never make the call fail', { timeout: 30000 }, async () => {
  let stop = false
  let spawned = 0
  const churn = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set once the scans are done
    while (!stop) {
      const w = new Worker('setTimeout(() => {}, Math.random() * 5)', { eval: true })
      spawned++
      await new Promise((resolve) => w.once('exit', resolve))
    }
  })()
  const churn2 = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set once the scans are done
    while (!stop) {
      const w = new Worker('1', { eval: true })
      spawned++
      setTimeout(() => w.terminate(), Math.random() * 10)
      await new Promise((resolve) => w.once('exit', resolve))
    }
  })()
  let scans = 0
  const end = Date.now() + 2500
  while (Date.now() < end) {
    const list = ks.threads()
    assert.ok(list.some((t) => t.role === 'main'))
    for (const t of list) assert.equal(typeof t.tid, 'number')
    scans++
    await new Promise((resolve) => setImmediate(resolve))
  }
  stop = true
  await Promise.all([churn, churn2])
  assert.ok(scans > 20 && spawned > 5, `${scans} scans while ${spawned} workers came and went`)
})

test('an fd argument is resolved to what /proc/self/fd says it is', () => {
  const sched = ks.threads().find((t) => t.role === 'delayed-task-scheduler')
  const fd = Number.parseInt(sched.syscall.args[0], 16)
  assert.equal(sched.syscall.target, fs.readlinkSync(`/proc/self/fd/${fd}`))
  assert.equal(sched.syscall.target, 'anon_inode:[eventpoll]')
})

test('the calling thread is reported running with syscall null (it is reading its own /proc files)', async () => {
  // the kernel's own view of this thread while it reads /proc: running, inside read()
  const self = fs.readFileSync('/proc/thread-self/stat', 'utf8')
  assert.equal(self.slice(self.lastIndexOf(')') + 2)[0], 'R')
  for (const opts of [{}, { syscalls: false }]) {
    const me = ks.threads(opts).find((t) => t.tid === process.pid)
    assert.equal(me.state, 'running')
    assert.equal(me.syscall, null)
    assert.equal(me.wchan, null)
  }
  // others still show their syscall: the scheduler thread sits in epoll_wait
  assert.ok(ks.threads().find((t) => t.role === 'delayed-task-scheduler').syscall)
  // the same for a worker thread calling threads(): its own entry, found by its tid
  const w = new Worker(`
    const fs = require('node:fs')
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const tid = Number(fs.readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0])
    const me = ks.threads().find((t) => t.tid === tid)
    require('node:worker_threads').parentPort.postMessage({ me })`, { eval: true })
  let msg
  try {
    msg = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  } finally {
    await w.terminate()
  }
  assert.equal(msg.me.role, 'worker-thread')
  assert.equal(msg.me.state, 'running')
  assert.equal(msg.me.syscall, null)
})
