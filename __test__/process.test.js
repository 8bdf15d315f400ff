'use strict'
// sample(), createSampler(), fdCount() against the kernel's own files and strace.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')
const ks = require('..')
const { procFields, tmpdir, hasTool, sleep, burnCpu, spawnChild, stopChild } = require('./helpers')

const MiB = 1024 * 1024

test('sample() has every field, numbers in the units the names say', () => {
  const h0 = Number(process.hrtime.bigint()) / 1e6
  const s = ks.sample()
  const h1 = Number(process.hrtime.bigint()) / 1e6
  assert.equal(s.pid, process.pid)
  assert.ok(s.atMs >= h0 && s.atMs <= h1, `atMs ${s.atMs} on process.hrtime's clock [${h0}, ${h1}]`)
  const groups = {
    cpu: ['userMs', 'systemMs'],
    contextSwitches: ['voluntary', 'involuntary'],
    faults: ['minor', 'major'],
    memory: ['rssBytes', 'virtualBytes', 'peakRssBytes', 'rssAnonBytes', 'rssFileBytes'],
    io: ['readCalls', 'writeCalls', 'readChars', 'writeChars', 'readBytes', 'writeBytes', 'cancelledWriteBytes'],
    scheduler: ['runMs', 'runqueueWaitMs', 'timeslices'],
    fdLimits: ['soft', 'hard']
  }
  for (const [g, keys] of Object.entries(groups)) {
    assert.deepEqual(Object.keys(s[g]).sort(), [...keys].sort(), g)
    for (const k of keys) assert.equal(typeof s[g][k], 'number', `${g}.${k} is a number on this kernel`)
  }
  assert.equal(s.threads, fs.readdirSync('/proc/self/task').length)
  assert.ok(s.memory.peakRssBytes >= s.memory.rssBytes)
  assert.ok(s.cpu.userMs > 0)
})

test('memory and limits agree with /proc/self/status and /proc/self/limits', () => {
  const s = ks.sample()
  const st = procFields('/proc/self/status')
  const kB = 1024
  const near = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`)
  near(s.memory.rssBytes, st.VmRSS * kB, 2 * MiB, 'rss vs VmRSS')
  near(s.memory.rssAnonBytes, st.RssAnon * kB, 2 * MiB, 'rssAnon vs RssAnon')
  near(s.memory.rssFileBytes, (st.RssFile + st.RssShmem) * kB, 2 * MiB, 'rssFile vs RssFile+RssShmem')
  near(s.memory.virtualBytes, st.VmSize * kB, 8 * MiB, 'virtual vs VmSize')
  near(s.memory.peakRssBytes, st.VmHWM * kB, 2 * MiB, 'peak vs VmHWM')
  const limits = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
  const [soft, hard] = limits.slice('Max open files'.length).trim().split(/\s+/)
  assert.equal(s.fdLimits.soft, soft === 'unlimited' ? Infinity : Number(soft))
  assert.equal(s.fdLimits.hard, hard === 'unlimited' ? Infinity : Number(hard))
})

test('io.readCalls brackets syscr read straight from /proc/self/io', () => {
  for (let i = 0; i < 20; i++) {
    const s0 = ks.sample()
    const raw = procFields('/proc/self/io')
    const s1 = ks.sample()
    assert.ok(s0.io.readCalls <= raw.syscr && raw.syscr <= s1.io.readCalls,
      `${s0.io.readCalls} <= ${raw.syscr} <= ${s1.io.readCalls}`)
    assert.ok(s0.io.readChars <= raw.rchar && raw.rchar <= s1.io.readChars)
    assert.ok(s0.io.writeCalls <= raw.syscw && raw.syscw <= s1.io.writeCalls)
  }
})

function makeFile (bytes) {
  const dir = tmpdir()
  const file = path.join(dir, 'eight-mib.bin')
  fs.writeFileSync(file, Buffer.alloc(bytes, 7))
  return { dir, file }
}

test('streaming 8 MiB in 64 KiB chunks adds ~260 read calls (129 file reads + eventfd wakeups)', async (t) => {
  const { dir, file } = makeFile(8 * MiB)
  try {
    const s0 = ks.sample()
    let bytes = 0
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 64 * 1024 })) bytes += chunk.length
    const s1 = ks.sample()
    assert.equal(bytes, 8 * MiB)
    const reads = s1.io.readCalls - s0.io.readCalls
    // 128 full reads + 1 at EOF, plus about one 8-byte eventfd read per threadpool completion
    t.diagnostic(`read calls over the 8 MiB stream: ${reads}`)
    assert.ok(reads >= 129 && reads <= 300, `read calls over the stream: ${reads}`)
    assert.ok(s1.io.readChars - s0.io.readChars >= 8 * MiB, 'readChars counts the file bytes')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the same window agrees with strace -f -c', { timeout: 60000 }, async (t) => {
  if (!hasTool('strace')) return t.skip('strace not installed (apt-get install strace)')
  const { dir, file } = makeFile(8 * MiB)
  const out = path.join(dir, 'strace.txt')
  const child = spawnChild(process.execPath, [path.join(__dirname, 'fixtures', 'stream-reads.js'), file],
    { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  let tracer = null
  try {
    const { ready } = JSON.parse((await lines.next()).value)
    tracer = spawnChild('strace', ['-f', '-c', '-o', out, '-e', 'trace=read,pread64,readv,preadv,preadv2', '-p', String(ready)],
      { stdio: ['ignore', 'ignore', 'pipe'] })
    let errText = ''
    tracer.stderr.on('data', (d) => { errText += d })
    const tracerExit = new Promise((resolve) => tracer.on('exit', resolve))
    // strace prints "Process N attached with M threads" once all threads are traced
    const end = Date.now() + 10000
    while (!/attached/.test(errText) && tracer.exitCode === null && Date.now() < end) await sleep(20)
    if (!/attached/.test(errText)) {
      tracer.kill('SIGKILL')
      return t.skip(`strace could not attach (${errText.trim().split('\n')[0]}); needs ptrace rights`)
    }
    await sleep(100)
    child.stdin.write('go\n')
    const result = JSON.parse((await lines.next()).value)
    await sleep(50)
    tracer.kill('SIGINT')
    await tracerExit
    const summary = fs.readFileSync(out, 'utf8')
    const total = /(\d+)\s+(\d+\s+)?total\s*$/m.exec(summary)
    assert.ok(total, `strace summary:\n${summary}`)
    const calls = summary.split('\n').map((l) => l.trim().split(/\s+/))
      .filter((c) => /^(read|pread64|readv|preadv|preadv2)$/.test(c[c.length - 1]))
      .reduce((sum, c) => sum + Number(c[3]), 0)
    const ours = result.after - result.before
    t.diagnostic(`kernelscope ${ours} read calls, strace -f -c ${calls}`)
    assert.equal(result.bytes, 8 * MiB)
    assert.ok(ours >= 129 && ours <= 300, `kernelscope counted ${ours}`)
    // strace saw the whole attach period: our window plus a few reads around it
    assert.ok(calls >= ours - 5, `strace ${calls} >= kernelscope ${ours}`)
    assert.ok(calls <= ours * 1.15 + 10, `strace ${calls} close to kernelscope ${ours}\n${summary}`)
  } finally {
    // both processes reaped and their pipes closed before the next test
    if (tracer !== null) await stopChild(tracer)
    child.stdin.end('done\n')
    await stopChild(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('cpu grows by about the length of a 300 ms busy loop', () => {
  // the loop runs until the kernel says this thread had 300 ms of CPU (schedstat), so a loaded
  // machine stretches the wall time, not the CPU time
  const s0 = ks.sample()
  burnCpu(300)
  const s1 = ks.sample()
  const ms = (s1.cpu.userMs + s1.cpu.systemMs) - (s0.cpu.userMs + s0.cpu.systemMs)
  assert.ok(ms >= 270 && ms <= 1000, `cpu ms over a 300 ms busy loop: ${ms}`)
})

test('rssBytes grows after a 200 MB allocation, as VmRSS does', () => {
  const s0 = ks.sample()
  const st0 = procFields('/proc/self/status').VmRSS * 1024
  const big = Buffer.allocUnsafe(200 * 1e6).fill(1)
  const s1 = ks.sample()
  const st1 = procFields('/proc/self/status').VmRSS * 1024
  const grew = s1.memory.rssBytes - s0.memory.rssBytes
  assert.ok(grew >= 190e6, `rss grew ${grew}`)
  assert.ok(Math.abs(grew - (st1 - st0)) < 4 * MiB, `kernelscope ${grew} vs VmRSS ${st1 - st0}`)
  assert.ok(s1.memory.rssAnonBytes - s0.memory.rssAnonBytes >= 190e6, 'the growth is anonymous memory')
  assert.ok(s1.memory.peakRssBytes >= s1.memory.rssBytes)
  assert.equal(big[big.length - 1], 1)
})

test('voluntary context switches grow when the main thread sleeps', () => {
  // Atomics.wait is a futex wait: the thread blocks every time, whatever the load. (An awaited
  // setTimeout need not: its start is the loop's cached time, so after a long synchronous test
  // the first timer is already due and the loop polls without blocking: under two busy loops
  // the thread's own count grew by 3 in 2 of 40 rounds.)
  const cell = new Int32Array(new SharedArrayBuffer(4))
  const truth = () => procFields('/proc/thread-self/status').voluntary_ctxt_switches
  const t0 = truth()
  const s0 = ks.sample()
  for (let i = 0; i < 5; i++) Atomics.wait(cell, 0, 0, 5)
  const s1 = ks.sample()
  const t1 = truth()
  assert.ok(t1 - t0 >= 5, `the kernel counted ${t1 - t0} voluntary switches of this thread`)
  // getrusage counts every thread of the process, so at least this thread's five
  const vol = s1.contextSwitches.voluntary - s0.contextSwitches.voluntary
  assert.ok(vol >= 5, `kernelscope counted ${vol} voluntary switches over 5 futex waits`)
  assert.ok(s1.scheduler.timeslices >= s0.scheduler.timeslices + 5, 'main thread was scheduled again after each sleep')
})

test('createSampler().delta() gives differences and rates', async () => {
  const sampler = ks.createSampler()
  assert.ok(sampler instanceof ks.Sampler)
  const now = () => Number(process.hrtime.bigint()) / 1e6
  const tA = now()
  const first = sampler.sample()
  const tB = now()
  assert.equal(first.pid, process.pid)
  burnCpu(200)
  const tC = now()
  const d = sampler.delta()
  const tD = now()
  // bracketed by the clock read around both samples (a loaded machine may preempt anywhere)
  assert.ok(d.intervalMs >= tC - tB - 0.01 && d.intervalMs <= tD - tA + 0.01, `intervalMs ${d.intervalMs} in [${tC - tB}, ${tD - tA}]`)
  const cpuMs = d.cpu.userMs + d.cpu.systemMs
  assert.ok(cpuMs >= 180, `cpu ms ${cpuMs}`)
  assert.ok(Math.abs(d.cpuPercent - (cpuMs * 100) / d.intervalMs) < 1e-9)
  // the burn is 200 ms of this thread's CPU however long the wall clock took under load
  assert.ok(d.cpuPercent > 0 && d.cpuPercent < 250, `cpuPercent ${d.cpuPercent}`)
  assert.ok(d.readCallsPerSec >= 0)
  assert.equal(d.readCallsPerSec, (d.io.readCalls * 1000) / d.intervalMs)
  // the next delta starts where this one ended
  const fd = fs.openSync(__filename, 'r')
  const buf = Buffer.alloc(16)
  for (let i = 0; i < 50; i++) fs.readSync(fd, buf, 0, 16, 0)
  fs.closeSync(fd)
  const d2 = sampler.delta()
  assert.ok(d2.io.readCalls >= 50 && d2.io.readCalls < 70, `50 reads, counted ${d2.io.readCalls}`)
  assert.ok(d2.cpu.userMs + d2.cpu.systemMs < 100, 'the busy loop is not counted twice')
})

test('fdCount() equals the entries of /proc/self/fd and follows opens and closes', () => {
  // readdirSync holds one extra fd (the directory) while it lists
  const listed = () => fs.readdirSync('/proc/self/fd').length - 1
  assert.equal(ks.fdCount(), listed())
  const before = ks.fdCount()
  const fds = []
  for (let i = 0; i < 100; i++) fds.push(fs.openSync(__filename, 'r'))
  assert.equal(ks.fdCount(), before + 100)
  assert.equal(ks.fdCount(), listed())
  for (const fd of fds) fs.closeSync(fd)
  assert.equal(ks.fdCount(), before)
})

test('ESM import serves the same functions', async () => {
  const esm = await import('kernelscope')
  assert.equal(esm.sample, ks.sample)
  assert.equal(esm.default, ks)
  assert.equal(typeof esm.threads, 'function')
})
