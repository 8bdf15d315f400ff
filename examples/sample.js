// A first look at what kernelscope sees: one process sample and the thread table, taken while
// a libuv worker is blocked opening a FIFO that has no writer yet.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const ks = require('..')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-demo-'))
const fifo = path.join(dir, 'late-writer.fifo')
execFileSync('mkfifo', [fifo])

const sampler = ks.createSampler()
fs.readFile(fifo, 'utf8', (err, text) => {
  if (err) throw err
  console.log(`\nFIFO delivered ${JSON.stringify(text)}; ${ks.fdCount()} fds open now`)
  const d = sampler.delta()
  console.log(`over ${d.intervalMs.toFixed(0)} ms: cpu ${d.cpuPercent.toFixed(1)}%, ${d.io.readCalls} read calls, ` +
    `${d.contextSwitches.voluntary} voluntary switches`)
  fs.rmSync(dir, { recursive: true, force: true })
})

setTimeout(() => {
  const s = ks.sample()
  console.log(`pid ${s.pid}: rss ${(s.memory.rssBytes / 2 ** 20).toFixed(1)} MiB, cpu user ${s.cpu.userMs.toFixed(1)} ms ` +
    `system ${s.cpu.systemMs.toFixed(1)} ms, ${s.threads} threads, ${s.io.readCalls} read calls, fd limit ${s.fdLimits.soft}`)
  console.log('\nthreads while fs.readFile waits for a writer:')
  console.table(ks.threads().map((t) => ({
    tid: t.tid,
    role: t.role,
    state: t.state,
    syscall: t.syscall ? t.syscall.name : '',
    target: t.syscall && t.syscall.target ? t.syscall.target : '',
    wchan: t.wchan || ''
  })))
  fs.writeFileSync(fifo, 'hello from the late writer')
}, 200)
