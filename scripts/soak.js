#!/usr/bin/env node
// npm run soak: the long runs of issue 16. Each phase calls one part of the API many times and
// measures this process's resident memory (/proc/self/statm), descriptors (/proc/self/fd) and
// threads (/proc/self/task) after a warm-up tenth, at 55% and at the end (each after a GC and a
// settle). A leak grows memory in proportion to the calls, so the bound applies to the second
// half (55% -> end): the first holds one-off growth to a steady state (the allocator's arenas).
// The bound is on RSS less V8's heap reservation (which grows its young generation up to
// 16 MB under allocation pressure and keeps it) and, apart, on the V8 heap in use after a GC.
// Descriptors and threads must be back at the warm count. Prints progress, exits 1 when a phase exceeds its
// bound, and writes the figures between the soak markers of docs/reliability.md. Phases yield to the event loop every 100 calls, as a program
// does between requests: Node runs napi finalizers (the inventories' Float64Array buffers)
// from the loop, so a synchronous burst holds its results until the loop turns (measured in
// the 'fdsSync() bursts' phase).
//
//   npm run soak                       everything (several minutes on a loaded 2-core machine)
//   node scripts/soak.js --scale 0.1   a tenth of every count (a quick look; docs not written)
//   node scripts/soak.js sample fds    only the phases named (docs not written)
'use strict'
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

if (typeof global.gc !== 'function') {
  // the measurements need a full GC before each reading: run again with it exposed
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status === null ? 1 : r.status)
}

const ROOT = path.join(__dirname, '..')
const ks = require(ROOT)
const args = process.argv.slice(2)
const scaleAt = args.indexOf('--scale')
const scale = scaleAt >= 0 ? Number(args[scaleAt + 1]) : 1
const only = args.filter((a, i) => !a.startsWith('--') && (scaleAt < 0 || i !== scaleAt + 1))
const full = scale === 1 && only.length === 0
const PAGE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout) || 4096
const MB = 1024 * 1024
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function reading () {
  const rss = Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * PAGE
  const m = process.memoryUsage()
  return {
    rss,
    heap: m.heapUsed,
    // what is not V8's heap: native allocations (kernelscope's, Node's, libuv's), code, stacks
    native: rss - m.heapTotal,
    fds: fs.readdirSync('/proc/self/fd').length - 1, // less readdir's own
    threads: fs.readdirSync('/proc/self/task').length
  }
}

/** A reading after a full GC and a short settle (sampler threads stop within an interval). */
async function settled () {
  for (let i = 0; i < 3; i++) {
    global.gc()
    await sleep(50)
  }
  return reading()
}

/**
 * Runs `step(i)` n times (awaited when it returns a promise), reading after n/10 (warm), at
 * 55% (mid) and at the end. `bounds`: { rssMB } allowed growth from mid to end, { yieldEvery }
 * calls between two turns of the event loop (100); descriptors and threads must come back to
 * the warm count exactly.
 */
async function phase (name, n, step, bounds) {
  n = Math.max(10, Math.round(n * scale))
  const warmAt = Math.max(1, Math.floor(n / 10))
  const midAt = Math.max(warmAt + 1, Math.floor(n * 0.55))
  const t0 = performance.now()
  let warm = null
  let mid = null
  let lastPrint = 0
  const start = await settled()
  for (let i = 0; i < n; i++) {
    const r = step(i)
    if (r && typeof r.then === 'function') await r
    if ((i + 1) % (bounds.yieldEvery || 100) === 0) await new Promise((resolve) => setImmediate(resolve))
    if (i + 1 === warmAt) warm = await settled()
    if (i + 1 === midAt) mid = await settled()
    const now = performance.now()
    if (now - lastPrint > 5000 || i + 1 === n) {
      lastPrint = now
      const m = reading()
      process.stdout.write(`  ${name}: ${i + 1}/${n}  rss ${(m.rss / MB).toFixed(1)} MB  fds ${m.fds}  threads ${m.threads}\n`)
    }
  }
  const seconds = (performance.now() - t0) / 1000
  const end = await settled()
  const growMB = (end.native - mid.native) / MB
  const heapMB = (end.heap - mid.heap) / MB
  const problems = []
  if (growMB > bounds.rssMB) problems.push(`RSS less V8 heap grew ${growMB.toFixed(1)} MB in the second half (bound ${bounds.rssMB} MB)`)
  if (heapMB > bounds.rssMB) problems.push(`V8 heap in use grew ${heapMB.toFixed(1)} MB in the second half (bound ${bounds.rssMB} MB)`)
  if (end.fds !== warm.fds) problems.push(`descriptors ${warm.fds} -> ${end.fds}`)
  if (end.threads > warm.threads) problems.push(`threads ${warm.threads} -> ${end.threads}`)
  const row = { name, calls: n, seconds, start, warm, mid, end, growMB, heapMB, bounds, problems }
  process.stdout.write(`${problems.length ? 'FAIL' : 'ok  '} ${name}: ${n} calls in ${seconds.toFixed(1)} s; rss ${(warm.rss / MB).toFixed(1)} -> ${(mid.rss / MB).toFixed(1)} -> ${(end.rss / MB).toFixed(1)} MB (second half: less V8 heap ${sign(growMB)}, heap in use ${sign(heapMB)}), fds ${warm.fds} -> ${end.fds}, threads ${warm.threads} -> ${end.threads}${problems.length ? ' — ' + problems.join('; ') : ''}\n`)
  return row
}

async function tcpPair () {
  const server = net.createServer((s) => s.on('data', () => {}))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = net.connect(server.address().port, '127.0.0.1')
  await new Promise((resolve) => client.once('connect', resolve))
  client.write('x'.repeat(10000))
  return {
    server,
    client,
    close: async () => {
      client.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

/** A child scenario of the churn suite (`node churn-child.js workers N`): its RESULT line. */
function childResult (args, timeoutMs) {
  const r = spawnSync(process.execPath, [path.join(ROOT, '__test__', 'fixtures', 'churn-child.js'), ...args],
    { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * MB })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('RESULT '))
  return { status: r.status, signal: r.signal, stderr: (r.stderr || '').slice(-2000), result: line ? JSON.parse(line.slice(7)) : null }
}

const PHASES = {
  async sample () {
    return [await phase('sample()', 1e6, () => ks.sample(), { rssMB: 4 })]
  },
  async fds () {
    // a table of a few hundred descriptors of several kinds, sockets included
    const pair = await tcpPair()
    const held = []
    for (let i = 0; i < 100; i++) held.push(fs.openSync('/dev/null', 'r'))
    const rows = [
      await phase('fds() (fdinfo every 10th)', 2e4, (i) => ks.fds({ fdinfo: i % 10 === 0 }), { rssMB: 8 }),
      await phase('fdsSync()', 5e3, () => ks.fdsSync(), { rssMB: 8 }),
      // 1,000 calls between two turns of the loop: each holds its result buffer until then;
      // the memory is freed at the turn and reused by the next burst (flat from warm to end)
      await phase('fdsSync() bursts of 1,000 without yielding', 5e3, () => ks.fdsSync(), { rssMB: 8, yieldEvery: 1000 }),
      await phase('threads()', 5e3, () => ks.threads(), { rssMB: 8 })
    ]
    for (const fd of held) fs.closeSync(fd)
    await pair.close()
    return rows
  },
  async monitors () {
    return [await phase('monitorLoop() open/close', 1e4, async () => {
      const m = ks.monitorLoop({ historySize: 64 })
      await new Promise((resolve) => setImmediate(resolve))
      m.stats()
      m.history()
      m.close()
    }, { rssMB: 8 })]
  },
  async socketState () {
    const pair = await tcpPair()
    const row = await phase('socketState()', 1e5, (i) => ks.socketState(i % 4 === 3 ? pair.server : pair.client), { rssMB: 8 })
    await pair.close()
    return [row]
  },
  async explain () {
    const file = path.join(os.tmpdir(), `kernelscope-soak-${process.pid}`)
    fs.writeFileSync(file, 'x'.repeat(4096))
    const ops = [
      () => fs.promises.readFile(file),
      () => new Promise((resolve) => setImmediate(resolve)),
      () => fs.promises.stat(file),
      () => new Promise((resolve) => setTimeout(resolve, 0))
    ]
    const row = await phase('explain()', 1e4, (i) => ks.explain('soak', ops[i % ops.length]), { rssMB: 8 })
    fs.rmSync(file, { force: true })
    return [row]
  },
  async exporters () {
    const { Registry } = require('prom-client')
    const register = new Registry()
    const prom = ks.prometheus({ register })
    const a = await phase('prometheus scrape', 1e3, () => register.metrics(), { rssMB: 8 })
    prom.close()
    const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require('@opentelemetry/sdk-metrics')
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 })
    const provider = new MeterProvider({ readers: [reader] })
    const otel = ks.opentelemetry({ meter: provider.getMeter('soak') })
    const b = await phase('OpenTelemetry collect', 1e3, async () => {
      const { errors } = await reader.collect()
      if (errors.length) throw new Error(`collect: ${errors.join('; ')}`)
    }, { rssMB: 8 })
    otel.close()
    await provider.shutdown()
    return [a, b]
  },
  async workers () {
    // in a child (fixtures/churn-child.js, the churn suite's scenario at soak size): it reports
    // its own descriptors and threads before and after, and a crash is its exit status
    const n = Math.max(10, Math.round(200 * scale))
    const t0 = performance.now()
    process.stdout.write(`  worker churn: ${n} workers in a child ...\n`)
    const r = childResult(['workers', String(n)], 20 * 60 * 1000)
    const seconds = (performance.now() - t0) / 1000
    const x = r.result
    const problems = []
    if (r.status !== 0) problems.push(`child exit ${r.status} ${r.signal || ''}: ${r.stderr}`)
    if (x && x.errors.length) problems.push(`worker errors: ${x.errors.join(' | ')}`)
    if (x && (x.extra.fds.length || x.extra.threads.length)) problems.push(`left behind: ${JSON.stringify(x.extra)}`)
    const row = { name: 'worker_threads churn', calls: n, seconds, child: x, problems }
    process.stdout.write(`${problems.length ? 'FAIL' : 'ok  '} worker churn: ${n} workers (${x ? x.up : '?'} started their probes before termination) in ${seconds.toFixed(1)} s; fds ${x && x.before.fds} -> ${x && x.after.fds}, threads ${x && x.before.threads} -> ${x && x.after.threads}${problems.length ? ' — ' + problems.join('; ') : ''}\n`)
    return [row]
  }
}

// --- docs/reliability.md ---------------------------------------------------------------------

const fmt = (b) => `${(b / MB).toFixed(1)}`
const sign = (mb) => `${mb >= 0 ? '+' : ''}${mb.toFixed(1)}`

function figures (rows, total, first, last) {
  const lines = []
  lines.push(`Measured by \`npm run soak\` on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model.trim()}), load average ${os.loadavg()[0].toFixed(1)} at the end, Linux ${os.release()}. Whole run ${(total / 60).toFixed(1)} min.`)
  lines.push('')
  lines.push('| phase | calls | seconds | per call | RSS at 10% → 55% → end (MB) | RSS less V8 heap, 55% → end | V8 heap in use, 55% → end | bound, each (MB) | descriptors 10% → end | threads 10% → end | result |')
  lines.push('| --- | ---: | ---: | ---: | --- | --- | --- | ---: | --- | --- | --- |')
  for (const r of rows) {
    if (r.child) {
      const x = r.child
      lines.push(`| ${r.name} (in a child; ${x.up} of ${r.calls} had started their probes when terminated or exiting) | ${r.calls} | ${r.seconds.toFixed(1)} | ${(r.seconds * 1000 / r.calls).toFixed(0)} ms | — | — | — | — | ${x.before.fds} → ${x.after.fds} | ${x.before.threads} → ${x.after.threads} | ${r.problems.length ? 'FAIL: ' + r.problems.join('; ') : `ok (exit codes ${JSON.stringify(x.exits)}; Node's own fs.promises leaks of terminated workers: ${x.nodeLeaks})`} |`)
      continue
    }
    const per = r.seconds / r.calls
    const perText = per < 1e-3 ? `${(per * 1e6).toFixed(1)} µs` : `${(per * 1e3).toFixed(2)} ms`
    lines.push(`| ${r.name} | ${r.calls.toLocaleString('en-US')} | ${r.seconds.toFixed(1)} | ${perText} | ${fmt(r.warm.rss)} → ${fmt(r.mid.rss)} → ${fmt(r.end.rss)} | ${fmt(r.mid.native)} → ${fmt(r.end.native)} (${sign(r.growMB)}) | ${fmt(r.mid.heap)} → ${fmt(r.end.heap)} (${sign(r.heapMB)}) | ${r.bounds.rssMB} | ${r.warm.fds} → ${r.end.fds} | ${r.warm.threads} → ${r.end.threads} | ${r.problems.length ? 'FAIL: ' + r.problems.join('; ') : 'ok'} |`)
  }
  lines.push('')
  lines.push(`The whole process: RSS ${fmt(first.rss)} → ${fmt(last.rss)} MB, descriptors ${first.fds} → ${last.fds}, threads ${first.threads} → ${last.threads} (first reading before any phase, last after all of them; what stays is what loading each part costs once: prom-client, the OpenTelemetry SDK, the libuv pool, kernelscope's helper threads, sample()'s four kept-open /proc files).`)
  return lines.join('\n')
}

function writeDocs (text) {
  const file = path.join(ROOT, 'docs', 'reliability.md')
  const doc = fs.readFileSync(file, 'utf8')
  const begin = '<!-- soak:begin (written by scripts/soak.js) -->'
  const end = '<!-- soak:end -->'
  const a = doc.indexOf(begin)
  const b = doc.indexOf(end)
  if (a < 0 || b < a) throw new Error(`docs/reliability.md has no ${begin} ... ${end} block`)
  fs.writeFileSync(file, `${doc.slice(0, a + begin.length)}\n${text}\n${doc.slice(b)}`)
  process.stdout.write(`soak: figures written to ${path.relative(process.cwd(), file)}\n`)
}

async function main () {
  const names = only.length ? only : Object.keys(PHASES)
  for (const n of names) if (!PHASES[n]) throw new Error(`no phase ${n} (phases: ${Object.keys(PHASES).join(', ')})`)
  const t0 = performance.now()
  const first = await settled()
  const rows = []
  for (const n of names) {
    process.stdout.write(`soak: ${n}\n`)
    rows.push(...await PHASES[n]())
  }
  const last = await settled()
  const total = (performance.now() - t0) / 1000
  const failed = rows.filter((r) => r.problems.length)
  process.stdout.write(`soak: ${rows.length} phases in ${(total / 60).toFixed(1)} min, ${failed.length} over their bounds\n`)
  if (full) writeDocs(figures(rows, total, first, last))
  process.exit(failed.length ? 1 : 0)
}

main().catch((err) => {
  process.stderr.write(`soak: ${err && err.stack}\n`)
  process.exit(1)
})
