'use strict'
// sample() against what a user would reach for instead, and against its own floor: exactly
// the syscalls sample() makes, with no parsing and no object. threads() per thread.
const fs = require('node:fs')
const { compare, machine, table, publish, fmt } = require('./lib')
const ks = require('..')
const native = require('../lib/native').native()

async function main () {
  const pidusage = require('pidusage')
  const { procfs } = require('@stroncium/procfs')
  const promClient = require('prom-client')
  const register = new promClient.Registry()
  promClient.collectDefaultMetrics({ register })
  await pidusage(process.pid) // pidusage keeps state after its first call: measure steady state

  const rows = await compare([
    { name: 'kernelscope sample()', fn: () => ks.sample() },
    { name: 'floor: the raw syscalls sample() makes', fn: () => native.sampleSyscallFloor(), note: 'pread ×4 of kept-open /proc/self files, getrusage, getrlimit, clock_gettime; no parsing, no object' },
    { name: 'process.resourceUsage()', fn: () => process.resourceUsage(), note: 'getrusage only: no memory split, no io, no schedstat' },
    { name: 'process.memoryUsage()', fn: () => process.memoryUsage(), note: 'rss + V8 heap only' },
    { name: 'pidusage (steady state)', fn: () => pidusage(process.pid), async: true, iterations: 300, note: 'cpu %, memory; reads /proc/<pid>/stat and /proc/uptime per call' },
    { name: '@stroncium/procfs stat+statm+io', fn: () => { procfs.processStat(); procfs.processStatm(); procfs.processIo() }, iterations: 500, note: 'open/read/close + JS parse per file' },
    { name: 'prom-client default metrics', fn: () => register.metrics(), async: true, iterations: 100, note: 'collect + render of collectDefaultMetrics()' }
  ], { rounds: 15, iterations: 3000 })

  // threads(): cost per thread, with and without syscall decoding, against a JS loop reading
  // the same per-thread files (stat, status, schedstat, syscall, wchan) with readFileSync
  const nThreads = ks.threads().length
  const jsLoop = () => {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      for (const f of ['stat', 'status', 'schedstat', 'syscall', 'wchan']) fs.readFileSync(`/proc/self/task/${tid}/${f}`, 'latin1')
    }
  }
  const trows = (await compare([
    { name: 'kernelscope threads()', fn: () => ks.threads() },
    { name: 'kernelscope threads({ syscalls: false })', fn: () => ks.threads({ syscalls: false }) },
    { name: 'JS readFileSync of the same 5 files per thread', fn: jsLoop, note: 'raw text, no parsing, no roles, no targets' }
  ], { rounds: 11, iterations: 100 })).map((r) => ({ ...r, us: r.us / nThreads }))

  const s = rows[0].us
  const floor = rows[1].us
  publish('process', `
## Process sampling (issue #2)

${machine()}

### sample()

${table(rows, 'kernelscope sample()', 'vs sample()')}

sample() ${fmt(s)} median, ${(s / floor).toFixed(2)}× its syscall floor (targets: <= 5 µs, <= 1.5× the floor).

### threads(), per thread (${nThreads} threads)

${table(trows, 'kernelscope threads()', 'vs threads()')}

threads() with syscalls ${fmt(trows[0].us)} per thread (target <= 60 µs).
`)
}

main().catch((err) => { console.error(err); process.exit(1) })
