#!/usr/bin/env node
'use strict'
// Benchmarks of monitorLoop() against running without it and against its peers, in one run,
// interleaved rounds, medians: (1) cost per loop iteration (setImmediate spin), (2) loopback
// HTTP throughput with a monitor in the server (autocannon), (3) what monitorEventLoopDelay,
// @datadog/native-metrics and kernelscope report for a 100 ms idle wait and a 50 ms CPU block.
// Usage: node bench/loop.js [--quick] [--only=overhead|http|side]   (prints a markdown report)

const path = require('node:path')
const os = require('node:os')
const { fork, spawn, spawnSync, execFileSync } = require('node:child_process')
const { monitorEventLoopDelay, performance } = require('node:perf_hooks')

const ks = require(path.join(__dirname, '..'))

const quick = process.argv.includes('--quick')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const f = (x, d = 1) => (x === null || x === undefined ? 'n/a' : x.toFixed(d))
function busy (ms) {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6))
  while (process.hrtime.bigint() < end);
}
function shuffle (a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

let nativeMetrics = null
try {
  nativeMetrics = require('@datadog/native-metrics')
} catch {}

// ---- server mode: the HTTP server lives in a child so that the load generator does not share
// its loop; the parent switches the monitor on and off between rounds over IPC.
if (process.argv[2] === 'server') {
  const http = require('node:http')
  let monitor = null
  let served = 0
  let phases = []
  let phaseStart = 0
  let timer = null
  let cpu0 = 0
  const server = http.createServer((req, res) => { served++; res.end('hello world') })
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system }
  const toggle = () => {
    const now = performance.now()
    const cpu = cpuUs()
    phases.push({ on: monitor !== null, requests: served, ms: now - phaseStart, cpuUs: cpu - cpu0 })
    cpu0 = cpu
    if (monitor) {
      monitor.close()
      monitor = null
    } else {
      monitor = ks.monitorLoop()
    }
    served = 0
    phaseStart = now
  }
  process.on('message', (msg) => {
    if (msg.alternateMs) {
      phases = []
      served = 0
      phaseStart = performance.now()
      cpu0 = cpuUs()
      timer = setInterval(toggle, msg.alternateMs)
      process.send({ started: true })
    } else if (msg.stop) {
      clearInterval(timer)
      if (monitor) monitor.close()
      monitor = null
      process.send({ phases: phases.slice(1) }) // the first phase began before the load did
    }
  })
  process.on('disconnect', () => process.exit(0))
  return
}

function spin (n) {
  return new Promise((resolve) => {
    let i = 0
    const t0 = process.hrtime.bigint()
    const step = () => {
      if (++i < n) setImmediate(step)
      else resolve(Number(process.hrtime.bigint() - t0) / n)
    }
    setImmediate(step)
  })
}

async function overhead () {
  const n = quick ? 50000 : 200000
  const rounds = quick ? 5 : 15
  const variants = {
    without: async () => spin(n),
    kernelscope: async () => {
      const m = ks.monitorLoop()
      const ns = await spin(n)
      const it = m.stats().iterations
      m.close()
      if (it < n * 0.9) throw new Error(`monitor saw ${it} iterations of ${n}`)
      return ns
    }
  }
  if (nativeMetrics) {
    variants['@datadog/native-metrics'] = async () => {
      nativeMetrics.start()
      const ns = await spin(n)
      nativeMetrics.stop()
      return ns
    }
  }
  const results = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  await spin(n) // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const k of shuffle(Object.keys(variants))) results[k].push(await variants[k]())
  }
  const base = median(results.without)
  const rows = Object.keys(variants).map((k) => {
    const med = median(results[k])
    // paired: each round's cost minus the same round's baseline
    const paired = k === 'without' ? 0 : median(results[k].map((v, i) => v - results.without[i]))
    return `| ${k} | ${f(med, 0)} | ${k === 'without' ? '—' : f(med - base, 0)} | ${k === 'without' ? '—' : f(paired, 0)} | ${f(med / base, 3)} |`
  })
  return [
    `### Cost per loop iteration (setImmediate spin, ${n} iterations × ${rounds} interleaved rounds)`,
    '',
    '| run | ns / iteration (median) | overhead ns (median − median) | overhead ns (median of paired rounds) | ratio |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    'Target: kernelscope overhead <= 150 ns per iteration.'
  ].join('\n')
}

async function throughput () {
  const autocannon = require('autocannon')
  // The server runs in a child and switches its monitor on and off every `alternateMs` while one
  // long autocannon run loads it; each off/on pair of phases is compared with its neighbour, so
  // that the drift of a shared machine (other jobs, CPU migrations) cancels out.
  const pin = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0
  const child = pin
    ? spawn('taskset', ['-c', '1', process.execPath, __filename, 'server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : fork(__filename, ['server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise((resolve) => child.once('message', (m) => resolve(m.port)))
  const all = `0-${os.cpus().length - 1}`
  if (pin) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]) // load generator on CPU 0
  const ask = (msg) => new Promise((resolve) => { child.once('message', resolve); child.send(msg) })
  const duration = quick ? 5 : 20
  const alternateMs = 250
  const url = `http://127.0.0.1:${port}/`
  await autocannon({ url, connections: 20, duration: 1 }) // warm-up
  await ask({ alternateMs })
  const r = await autocannon({ url, connections: 20, duration })
  const { phases } = await ask({ stop: true })
  child.disconnect()
  if (pin) spawnSync('taskset', ['-a', '-p', '-c', all, String(process.pid)])
  const rate = (p) => p.requests / p.ms
  const ratios = []
  const cpuRatios = []
  for (let i = 0; i + 1 < phases.length; i += 2) {
    const [x, y] = [phases[i], phases[i + 1]]
    const off = x.on ? y : x
    const on = x.on ? x : y
    if (off.requests < 100 || on.requests < 100) continue // the load had not started or had stopped
    ratios.push(rate(on) / rate(off))
    cpuRatios.push((on.cpuUs / on.requests) / (off.cpuUs / off.requests))
  }
  const sum = (xs, k, on) => xs.filter((p) => p.on === on && p.requests >= 100).reduce((a, p) => a + p[k], 0)
  const offRate = sum(phases, 'requests', false) / sum(phases, 'ms', false) * 1000
  const onRate = sum(phases, 'requests', true) / sum(phases, 'ms', true) * 1000
  return [
    `### Loopback HTTP throughput (autocannon, 20 connections, ${duration} s; the server's monitor on/off every ${alternateMs} ms)`,
    '',
    '| server phases | req/s | phases |',
    '| --- | ---: | ---: |',
    `| without monitor | ${f(offRate, 0)} | ${phases.filter((p) => !p.on).length} |`,
    `| with monitorLoop() | ${f(onRate, 0)} | ${phases.filter((p) => p.on).length} |`,
    '',
    `Throughput with / without: **${f(median(ratios), 3)}** (median over ${ratios.length} adjacent off/on pairs; ` +
      `quartiles ${f(quantile(ratios, 0.25), 3)} … ${f(quantile(ratios, 0.75), 3)}); ${f(onRate / offRate, 3)} over all phases. Target >= 0.98.`,
    `Server CPU per request with / without: ${f(median(cpuRatios), 3)} (median of pairs). autocannon overall: ${f(r.requests.average, 0)} req/s.`,
    pin ? 'Server pinned to CPU 1, load generator to CPU 0 (taskset).' : 'Not pinned (no taskset).'
  ].join('\n')
}

async function sideBySide () {
  const scenarios = {
    '100 ms idle wait (setTimeout 100)': () => sleep(100),
    '50 ms CPU block (busy loop in a callback)': () => new Promise((resolve) => setImmediate(() => { busy(50); resolve() }))
  }
  // each tool watches its own run of the scenario, alone (monitorEventLoopDelay's own 10 ms timer
  // would otherwise chop the others' 100 ms wait into ten)
  const tools = {
    eld: {
      label: 'perf_hooks.monitorEventLoopDelay (resolution 10 ms)',
      start: () => { const h = monitorEventLoopDelay({ resolution: 10 }); h.enable(); return h },
      read: (h) => {
        h.disable()
        return `max delay ${f(h.max / 1e6)} ms, mean ${f(h.mean / 1e6)} ms (${h.count} samples); nothing about waiting`
      }
    },
    dd: {
      label: '@datadog/native-metrics `eventLoop`',
      start: () => { if (nativeMetrics) { nativeMetrics.start(); nativeMetrics.stats() } return null },
      read: () => {
        if (!nativeMetrics) return 'not installed'
        const e = nativeMetrics.stats().eventLoop
        nativeMetrics.stop()
        return `max ${f(e.max / 1e6)} ms, sum ${f(e.sum / 1e6)} ms over ${e.count} turns; nothing about waiting`
      }
    },
    ks: {
      label: 'kernelscope `monitorLoop()`',
      start: () => ks.monitorLoop({ historySize: 4096 }),
      read: (m, t0) => {
        const turns = m.history().filter((it) => it.atMs >= t0 - 1)
        const s = m.stats()
        m.close()
        const t = turns.reduce((a, it) => ((it.iterationMs || 0) > (a.iterationMs || 0) ? it : a), turns[0])
        return `longest turn: iterationMs ${f(t.iterationMs)} = waitMs ${f(t.waitMs)} in epoll_wait ` +
          `(timeoutMs ${t.timeoutMs === null ? 'null' : f(t.timeoutMs, 0)}, events ${t.events}) + ${f(t.iterationMs - t.waitMs)} ms work; ` +
          `whole window idleMs ${f(s.idleMs)} / busyMs ${f(s.busyMs)}`
      }
    }
  }
  const out = {}
  for (const [name, run] of Object.entries(scenarios)) {
    out[name] = {}
    for (const [key, tool] of Object.entries(tools)) {
      const h = tool.start()
      await sleep(25) // baseline samples for the delay timer
      const t0 = Number(process.hrtime.bigint()) / 1e6
      await run()
      await sleep(25)
      out[name][key] = tool.read(h, t0)
    }
  }
  const names = Object.keys(scenarios)
  return [
    '### Same workload, three tools (each watches its own run: 25 ms before + scenario + 25 ms after)',
    '',
    `| tool | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---').join(' | ')} |`,
    ...Object.entries(tools).map(([key, tool]) => `| ${tool.label} | ${names.map((n) => out[n][key]).join(' | ')} |`),
    '',
    'monitorEventLoopDelay measures how late its own timer fires: the block shows as delay, the idle wait',
    'as nothing (and its timer wakes the loop every 10 ms). native-metrics times the work of each turn and',
    'leaves the wait out. kernelscope reports both, apart: the time blocked in epoll_wait (waitMs, with',
    "libuv's timeout and the events that ended it) and the whole turn (iterationMs)."
  ].join('\n')
}

function machine () {
  let kernel = os.release()
  let cpu = (os.cpus()[0] || {}).model || 'unknown'
  try { kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim() } catch {}
  cpu = cpu.replace(/\s+/g, ' ')
  return `Machine: ${os.availableParallelism ? os.availableParallelism() : os.cpus().length} CPUs (nproc), ${cpu}, ` +
    `Linux ${kernel}, Node ${process.version} (libuv ${process.versions.uv}), ` +
    `@datadog/native-metrics ${nativeMetrics ? require('@datadog/native-metrics/package.json').version : 'absent'}; ` +
    `shared machine, other jobs running. ${new Date().toISOString()}`
}

async function main () {
  const parts = ['## Event-loop monitor (bench/loop.js)', '', machine(), '']
  const only = (process.argv.find((a) => a.startsWith('--only=')) || '').slice(7)
  if (!only || only === 'overhead') parts.push(await overhead(), '')
  if (!only || only === 'http') parts.push(await throughput(), '')
  if (!only || only === 'side') parts.push(await sideBySide(), '')
  console.log(parts.join('\n'))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
