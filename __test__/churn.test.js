'use strict'
// Races and churn (issue 16): inventories and thread scans while other threads churn
// descriptors and threads; worker_threads that load kernelscope with probes in flight,
// terminated at random moments; process.exit() inside callbacks and a pending fds(); the module
// in a fork() child; SIGTERM mid-scan. Each runs in a child (fixtures/churn-child.js), so a
// crash (SIGSEGV, SIGABRT) or a hang is this test's failure, not the runner's.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { fork } = require('node:child_process')
const { spawnChild, stopChild, sleep } = require('./helpers')

const CHILD = path.join(__dirname, 'fixtures', 'churn-child.js')
const env = { ...process.env, NODE_TEST_CONTEXT: undefined }
const CRASH = /FATAL ERROR|Assertion failed|panicked|Segmentation fault|Aborted|core dumped|double free|corrupted/i

/** Runs one scenario; resolves { code, signal, out, err, result } once the child is reaped. */
async function run (t, args, { timeoutMs = 60000, onLine } = {}) {
  const child = spawnChild(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  t.after(() => stopChild(child))
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => {
    out += d
    if (onLine) for (const l of String(d).split('\n')) if (l) onLine(l, child)
  })
  child.stderr.on('data', (d) => { err += d })
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise((resolve) => child.once('close', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  const line = out.split('\n').find((l) => l.startsWith('RESULT '))
  assert.doesNotMatch(err, CRASH, `${args.join(' ')}: ${err.slice(-2000)}`)
  assert.notEqual(signal, 'SIGKILL', `${args.join(' ')}: hung (killed after ${timeoutMs} ms); stderr ${err.slice(-2000)}`)
  return { code, signal, out, err, result: line ? JSON.parse(line.slice(7)) : null }
}

test('inventories and thread scans while threads open and close thousands of fds and start and join threads', { timeout: 90000 }, async (t) => {
  const r = await run(t, ['scan-churn', '3000'])
  assert.equal(r.code, 0, r.err)
  const x = r.result
  t.diagnostic(JSON.stringify(x))
  // the child checked every scan: 40 files held throughout always listed with their paths, no fd
  // twice, the churning threads always in threads(); vanished descriptors are entries with an error
  for (const k of ['fdsSync', 'fds', 'threads', 'fdCount', 'fdSummary', 'sample']) assert.ok(x[k] >= 5, `${x[k]} ${k} scans`)
  assert.deepEqual(x.codes, {}, 'no scan threw: races are data')
  assert.ok(x.fdOps >= 10000, `${x.fdOps} descriptors opened and closed meanwhile`)
  assert.ok(x.threadOps >= 3, `${x.threadOps} threads started and joined meanwhile`)
})

test('worker_threads loading kernelscope with monitors, samplers, explains and fds() in flight, terminated at random moments', { timeout: 120000 }, async (t) => {
  const r = await run(t, ['workers', '30'], { timeoutMs: 100000 })
  assert.equal(r.code, 0, r.err)
  const x = r.result
  t.diagnostic(JSON.stringify({ ...x, extra: undefined }))
  assert.equal(x.started, 30)
  assert.deepEqual(x.errors, [], 'no worker failed')
  for (const c of Object.keys(x.exits)) assert.ok(c === '0' || c === '1', `worker exit code ${c}`)
  // once they are gone, what they made is gone: no descriptor, no thread left behind
  assert.deepEqual(x.extra, { fds: [], threads: [] })
  assert.ok(x.after.fds <= x.before.fds && x.after.threads <= x.before.threads, JSON.stringify([x.before, x.after]))
})

const EXITS = ['sync', 'immediate', 'then', 'explain', 'explain-pending', 'monitor', 'sentinel', 'worker', 'exit-handler']

test('process.exit() inside callbacks and inside a pending fds(): the status asked for, no crash, no hang', { timeout: 180000 }, async (t) => {
  for (const where of EXITS) {
    const r = await run(t, ['exit', where], { timeoutMs: 30000 })
    assert.equal(r.signal, null, `${where}: killed by ${r.signal}`)
    assert.equal(r.code, 7, `${where}: exit ${r.code}; ${r.err.slice(-1000)}`)
  }
})

test('the module in a child_process.fork child: its answers match its /proc', { timeout: 60000 }, async (t) => {
  const child = fork(CHILD, ['fork'], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  const closed = new Promise((resolve) => child.once('close', (c, s) => resolve([c, s])))
  t.after(async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await closed })
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  const msg = await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (c) => reject(new Error(`fork child exited ${c} before answering: ${err}`)))
  })
  assert.equal(msg.pid, child.pid)
  assert.equal(msg.firstPid, child.pid, 'sample().pid in the fork child is its own')
  // the child waits for our reply: its descriptors and threads hold still while we read them
  const links = new Map(fs.readdirSync(`/proc/${child.pid}/fd`).map((fd) => [Number(fd), fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`)]))
  const tasks = fs.readdirSync(`/proc/${child.pid}/task`).map(Number).sort()
  assert.deepEqual(msg.fds.map((e) => e[0]).sort((a, b) => a - b), [...links.keys()].sort((a, b) => a - b))
  assert.deepEqual(msg.asyncFds.slice().sort((a, b) => a - b), [...links.keys()].sort((a, b) => a - b))
  for (const [fd, , target] of msg.fds) assert.equal(target, links.get(fd), `fd ${fd}`)
  // the IPC channel is one of them: a unix socket
  assert.ok(msg.fds.some(([, type]) => type === 'socket'))
  assert.deepEqual(msg.tids.slice().sort(), tasks)
  assert.equal(msg.threads, tasks.length)
  assert.equal(msg.count, links.size)
  child.send('done')
  const [code, signal] = await closed
  assert.equal(signal, null)
  assert.equal(code, 0, err)
})

test('SIGTERM mid-scan: the default action or the handler\'s exit status, never a crash or a hang', { timeout: 120000 }, async (t) => {
  for (const [handler, i] of [['default', 0], ['default', 1], ['default', 2], ['handled', 0], ['handled', 1]]) {
    const delay = Math.floor(Math.random() * 150)
    const r = await run(t, ['sigterm', handler], {
      timeoutMs: 30000,
      onLine: (l, child) => { if (l === 'scanning') setTimeout(() => child.kill('SIGTERM'), delay) }
    })
    const what = `${handler} #${i} after ${delay} ms`
    if (handler === 'default') {
      assert.equal(r.signal, 'SIGTERM', `${what}: ${r.signal} ${r.code} ${r.err.slice(-1000)}`)
    } else {
      assert.equal(r.signal, null, `${what}: killed by ${r.signal}`)
      assert.equal(r.code, 3, `${what}: ${r.err.slice(-1000)}`)
    }
  }
  await sleep(0)
})
