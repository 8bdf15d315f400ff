#!/usr/bin/env node
'use strict'
// Benchmarks of monitorLoop() against running without it and against its peers, in one run,
// interleaved rounds, medians: (1) cost per loop iteration (setImmediate spin), (2) loopback
// HTTP throughput with a monitor in the server (autocannon), (3) what monitorEventLoopDelay,
// @datadog/native-metrics and kernelscope report for a 100 ms idle wait and a 50 ms CPU block.
// Usage: node bench/loop.js [--quick]   (prints a markdown report)

const path = require('node:path')
const os = require('node:os')
const { fork, execFileSync } = require('node:child_process')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const ks = require(path.join(__dirname, '..'))

const quick = process.argv.includes('--quick')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
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
  const server = http.createServer((req, res) => res.end('hello world'))
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('message', (msg) => {
    if (msg.monitor && !monitor) monitor = ks.monitorLoop()
    if (!msg.monitor && monitor) {
      msg.iterations = monitor.stats().iterations
      monitor.close()
      monitor = null
    }
    process.send({ ack: true, iterations: msg.iterations })
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
  const child = fork(__filename, ['server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise((resolve) => child.once('message', (m) => resolve(m.port)))
  const set = (monitor) => new Promise((resolve) => {
    child.once('message', resolve)
    child.send({ monitor })
  })
  const duration = quick ? 2 : 3
  const pairs = quick ? 2 : 5
  const run = () => autocannon({ url: `http://127.0.0.1:${port}/`, connections: 20, duration })
  const res = { without: [], with: [] }
  await run() // warm-up
  for (let p = 0; p < pairs; p++) {
    // ABBA order so that drift over the run hits both sides alike
    for (const mode of p % 2 ? ['with', 'without'] : ['without', 'with']) {
      await set(mode === 'with')
      const r = await run()
      res[mode].push(r.requests.average)
    }
  }
  await set(false)
  child.disconnect()
  const a = median(res.without)
  const b = median(res.with)
  const paired = median(res.with.map((x, i) => x / res.without[i]))
  return [
    `### Loopback HTTP throughput (autocannon, 20 connections, ${duration} s × ${pairs} rounds each, ABBA)`,
    '',
    '| server | req/s (median) | rounds |',
    '| --- | ---: | --- |',
    `| without monitor | ${f(a, 0)} | ${res.without.map((x) => f(x, 0)).join(', ')} |`,
    `| with monitorLoop() | ${f(b, 0)} | ${res.with.map((x) => f(x, 0)).join(', ')} |`,
    '',
    `Ratio with / without: **${f(b / a, 3)}** (median / median), ${f(paired, 3)} (median of the per-pair ratios); target >= 0.98.`
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
        const maxWait = turns.reduce((a, it) => (it.waitMs > a.waitMs ? it : a), turns[0])
        const maxTurn = turns.reduce((a, it) => ((it.iterationMs || 0) > (a.iterationMs || 0) ? it : a), turns[0])
        return `waitMs max ${f(maxWait.waitMs)} (timeoutMs ${maxWait.timeoutMs === null ? 'null' : f(maxWait.timeoutMs)}, ` +
          `events ${maxWait.events}); iterationMs max ${f(maxTurn.iterationMs)} of which waitMs ${f(maxTurn.waitMs)}; ` +
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
  parts.push(await overhead(), '')
  parts.push(await throughput(), '')
  parts.push(await sideBySide(), '')
  console.log(parts.join('\n'))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
