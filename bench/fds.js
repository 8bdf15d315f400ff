#!/usr/bin/env node
'use strict'
// Benchmark of the descriptor inventory: fds()/fdsSync() against what a Node user has without
// kernelscope — a JS readdir + readlink loop over /proc/self/fd (targets only), `lsof -p PID`
// (a whole process) and process.report.getReport() (libuv handles only) — in one process
// holding N descriptors (files, pipe ends, 2,000 TCP sockets). Interleaved rounds, medians,
// ratios. `node bench/fds.js` runs 10,000 and 100,000 fds (each in a child whose fd limit is
// raised with `ulimit -n`, which needs the privilege to raise the hard limit for 100k) and
// prints a markdown table; `--write` also stores it in bench/results/fds.md.

const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawnSync, execFileSync } = require('node:child_process')

const TCP_CONNECTIONS = 1000 // 1,000 client ends + 1,000 accepted ends = 2,000 TCP sockets
const PIPE_ENDS = 1000

// a small seeded PRNG (mulberry32), for reproducible shuffles
function mulberry32 (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const now = () => Number(process.hrtime.bigint()) / 1e6

async function setup (total) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ks-bench-fds-'))
  const file = path.join(dir, 'data')
  fs.writeFileSync(file, 'x')
  const server = net.createServer((s) => accepted.push(s))
  const accepted = []
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const clients = []
  for (let i = 0; i < TCP_CONNECTIONS; i += 100) {
    await Promise.all(Array.from({ length: 100 }, () => new Promise((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', resolve)
      c.on('error', reject)
      clients.push(c)
    })))
  }
  while (accepted.length < TCP_CONNECTIONS) await new Promise((resolve) => setTimeout(resolve, 5))
  // pipe ends: reopen one of libuv's pipes through /proc/self/fd
  const ks = require('..')
  const pipeFd = ks.fdsSync({ sockets: false }).find((e) => e.type === 'pipe').fd
  for (let i = 0; i < PIPE_ENDS; i++) fs.openSync(`/proc/self/fd/${pipeFd}`, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
  while (ks.fdCount() < total) fs.openSync(file, 'r')
  return { dir, count: ks.fdCount() }
}

function jsLoop () {
  const out = []
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push({ fd: Number(name), target: fs.readlinkSync(`/proc/self/fd/${name}`) })
    } catch {}
  }
  return out
}

// the Promise twin a user would write to stay off the event loop (readlink on the threadpool)
async function jsLoopAsync () {
  const fsp = fs.promises
  const names = await fsp.readdir('/proc/self/fd')
  const out = await Promise.all(names.map((name) => fsp.readlink(`/proc/self/fd/${name}`)
    .then((target) => ({ fd: Number(name), target }), () => null)))
  return out.filter(Boolean)
}

function lsof () {
  const t0 = now()
  const r = spawnSync('lsof', ['-n', '-P', '-p', String(process.pid)], { maxBuffer: 1 << 30 })
  if (r.error) throw r.error
  return now() - t0
}

async function measure (total, rounds) {
  const ks = require('..')
  const { count } = await setup(total)
  const hasLsof = spawnSync('lsof', ['-v']).status === 0
  const lsofEvery = total > 20000 ? 4 : 2 // lsof is slow: fewer of its runs, still interleaved
  const t = { fdsSync: [], fds: [], fdsNoSockets: [], fdinfo: [], jsLoop: [], jsLoopAsync: [], report: [], lsof: [] }
  // warm-up
  ks.fdsSync()
  await ks.fds()
  jsLoop()
  await jsLoopAsync()
  process.report.getReport()
  // every round runs each measurement once, in a fresh random order (seeded, so a rerun makes
  // the same orders): what runs just before a measurement (lsof walking /proc, a GC) colours
  // it, and a fixed order would give that to the same measurement every time
  const rand = mulberry32(0x6b73)
  let sample = null
  const ops = {
    fds: async () => { sample = await ks.fds() },
    jsLoop,
    jsLoopAsync,
    fdsSync: () => ks.fdsSync(),
    report: () => process.report.getReport(),
    fdsNoSockets: () => ks.fdsSync({ sockets: false }),
    fdinfo: () => ks.fdsSync({ fdinfo: true })
  }
  for (let r = 0; r < rounds; r++) {
    const names = Object.keys(ops).filter((k) => k !== 'fdinfo' || r % 2 === 0)
    if (hasLsof && r % lsofEvery === 0) names.push('lsof')
    for (let i = names.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [names[i], names[j]] = [names[j], names[i]]
    }
    for (const name of names) {
      if (name === 'lsof') {
        t.lsof.push(lsof())
        continue
      }
      const t0 = now()
      await ops[name]()
      t[name].push(now() - t0)
    }
  }
  // Warm: each measurement repeated back to back (blocks of 5, the first 2 of a block not
  // counted), the blocks of the two alternating. This is the steady state of a service that
  // takes inventories in a row; the shuffled rounds above include the cache misses left by
  // whatever ran just before.
  const warm = { fds: [], jsLoop: [], report: [] }
  if (hasLsof) warm.lsof = []
  for (let b = 0; b < 6; b++) {
    for (const name of Object.keys(warm)) {
      for (let i = 0; i < 5; i++) {
        if (name === 'lsof') {
          const ms = lsof()
          if (i >= 2) warm.lsof.push(ms)
          continue
        }
        const t0 = now()
        await ops[name]()
        if (i >= 2) warm[name].push(now() - t0)
      }
    }
  }
  const tcp = sample.filter((e) => e.socket && e.socket.protocol === 'tcp').length
  const med = {}
  for (const k of Object.keys(t)) med[k] = t[k].length ? median(t[k]) : null
  for (const k of Object.keys(warm)) med[`warm_${k}`] = median(warm[k])
  return { total: count, tcp, med, runs: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.length])) }
}

const f = (x) => (x === null ? 'n/a' : x < 10 ? x.toFixed(2) : x.toFixed(1))
const ratio = (a, b) => (a === null || b === null ? 'n/a' : `${(a / b).toFixed(1)}x`)

function table (results) {
  const lines = []
  lines.push('| fds open (TCP sockets) | `fds()` ms | `fdsSync()` ms | `fdsSync({ sockets: false })` ms | `fdsSync({ fdinfo: true })` ms | JS readdirSync+readlinkSync ms | JS fs.promises readdir+readlink ms | `process.report.getReport()` ms | `lsof -p PID` ms | lsof / fds() | sync readdir loop / fds() | fs.promises loop / fds() | getReport / fds() | `fdsSync()` µs per fd |')
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const r of results) {
    const m = r.med
    lines.push(`| ${r.total} (${r.tcp}) | ${f(m.fds)} | ${f(m.fdsSync)} | ${f(m.fdsNoSockets)} | ${f(m.fdinfo)} | ${f(m.jsLoop)} | ${f(m.jsLoopAsync)} | ${f(m.report)} | ${f(m.lsof)} | ${ratio(m.lsof, m.fds)} | ${ratio(m.jsLoop, m.fds)} | ${ratio(m.jsLoopAsync, m.fds)} | ${ratio(m.report, m.fds)} | ${(m.fdsSync * 1000 / r.total).toFixed(2)} |`)
  }
  lines.push('')
  lines.push('Warm, back to back: blocks of 5 calls of one kind, the first 2 of each block not counted, 6 blocks of each kind in turn (the steady state of a service taking inventories in a row; the table above includes what the previous, different, measurement left behind):')
  lines.push('')
  lines.push('| fds open | `fds()` ms | JS readdirSync+readlinkSync ms | `process.report.getReport()` ms | `lsof -p PID` ms | sync readdir loop / fds() | getReport / fds() | lsof / fds() |')
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const r of results) {
    const m = r.med
    const lsofMs = m.warm_lsof === undefined ? null : m.warm_lsof
    lines.push(`| ${r.total} | ${f(m.warm_fds)} | ${f(m.warm_jsLoop)} | ${f(m.warm_report)} | ${f(lsofMs)} | ${ratio(m.warm_jsLoop, m.warm_fds)} | ${ratio(m.warm_report, m.warm_fds)} | ${ratio(lsofMs, m.warm_fds)} |`)
  }
  return lines.join('\n')
}

async function main () {
  const child = process.argv.indexOf('--child')
  if (child !== -1) {
    const total = Number(process.argv[child + 1])
    const rounds = Number(process.argv[child + 2])
    const r = await measure(total, rounds)
    process.stdout.write(JSON.stringify(r) + '\n')
    process.exit(0)
  }
  const paired = process.argv.indexOf('--paired')
  if (paired !== -1) return pairedRuns(process.argv.slice(paired + 1))
  const inter = process.argv.indexOf('--interleaved')
  if (inter !== -1) return interleavedRun(process.argv.slice(inter + 1))
  const interChild = process.argv.indexOf('--interleaved-child')
  if (interChild !== -1) {
    const [before, after, rounds] = process.argv.slice(interChild + 1)
    process.stdout.write(JSON.stringify(await interleaved(before, after, Number(rounds))) + '\n')
    process.exit(0)
  }
  const sizes = [[10000, 21], [100000, 7]]
  const results = []
  const notes = []
  const hard = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim())
  for (let [total, rounds] of sizes) {
    const run = (n) => {
      const limit = n + 5000
      const cmd = `ulimit -Hn ${limit} 2>/dev/null; ulimit -n ${limit} && exec "$0" "$1" --child ${n} ${rounds}`
      return spawnSync('sh', ['-c', cmd, process.execPath, __filename], { encoding: 'utf8', maxBuffer: 1 << 26 })
    }
    const wanted = total
    let r = run(total)
    if (r.status !== 0 && Number.isFinite(hard) && hard < total + 5000) {
      // the hard limit cannot be raised here (no CAP_SYS_RESOURCE): the largest size allowed
      const allowed = Math.floor((hard - 5000) / 1000) * 1000
      notes.push(`${total} fds could not be opened here: the hard RLIMIT_NOFILE is ${hard} and cannot be raised ` +
        `(${r.stderr.trim().split('\n').pop()}); measured at ${allowed} fds instead, the most this machine allows.`)
      total = allowed
      r = run(total)
    }
    if (r.status !== 0) {
      process.stderr.write(`fds bench at ${total} fds failed:\n${r.stderr}\n`)
      continue
    }
    const result = JSON.parse(r.stdout.trim().split('\n').pop())
    results.push(result)
    if (total !== wanted) {
      // linear in the number of fds (one fstat, at most one readlink each; the socket dump
      // does not grow with files): an extrapolation, said to be one
      const perFd = (x) => x / result.total
      notes.push(`At ${wanted} fds, extrapolated linearly from ${result.total}: fds() about ` +
        `${Math.round(perFd(result.med.fds) * wanted)} ms (warm: ${Math.round(perFd(result.med.warm_fds) * wanted)} ms), ` +
        `lsof about ${result.med.lsof === null ? 'n/a' : Math.round(perFd(result.med.lsof) * wanted)} ms — an estimate, not a measurement.`)
    }
  }
  const lv = spawnSync('lsof', ['-v'], { encoding: 'utf8' })
  const lsofVersion = lv.error ? 'absent' : ((lv.stdout + lv.stderr).match(/revision: ([\d.]+)/) || [])[1] || 'unknown'

  const head = `Machine: ${os.cpus().length} CPUs (nproc ${os.availableParallelism()}), Linux ${os.release()}, Node ${process.version}, lsof ${lsofVersion}; ${new Date().toISOString()}.\n` +
    'Descriptors: 1,000 pipe ends, 2,000 TCP sockets (1,000 loopback connections, both ends), Node\'s own, and the rest one file opened again and again. ' +
    'Medians of interleaved rounds in one process, each round in a new random order (' + results.map((r) => `${r.total} fds: ${r.runs.fds} rounds, lsof ${r.runs.lsof}`).join('; ') + '); ' +
    'lsof is timed as a whole spawned process (`lsof -n -P -p PID`), everything else in-process. Lower is better; ratios = peer / `fds()`.\n'
  const out = `# Descriptor inventory benchmark\n\n${head}\n${table(results)}\n` +
    (notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : '')
  process.stdout.write(out)
  if (process.argv.includes('--write')) {
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true })
    fs.writeFileSync(path.join(__dirname, 'results', 'fds.md'), out)
  }
}

// `--paired BEFORE AFTER [pairs] [label]`: the same 10,000-fd measurement in children loading
// one build or the other, alternated (ABBA...), to compare two builds on a shared machine;
// writes bench/results/fds-paired.md with --write. BEFORE and AFTER are .node files (loaded
// through KERNELSCOPE_BINARY by this checkout's lib/) or checkouts (each measured by its own
// bench/fds.js, lib/ and addon: for a change to the JS side too).
async function pairedRuns ([before, after, pairs = '3', label = 'before / after']) {
  const rows = []
  const order = []
  for (let p = 0; p < Number(pairs); p++) order.push(...(p % 2 === 0 ? ['before', 'after'] : ['after', 'before']))
  for (const which of order) {
    const bin = which === 'before' ? before : after
    const tree = fs.statSync(bin).isDirectory()
    const script = tree ? path.join(path.resolve(bin), 'bench', 'fds.js') : __filename
    const env = tree ? { ...process.env } : { ...process.env, KERNELSCOPE_BINARY: bin }
    if (tree) delete env.KERNELSCOPE_BINARY
    const cmd = 'ulimit -n 15000 && exec "$0" "$1" --child 10000 21'
    const r = spawnSync('sh', ['-c', cmd, process.execPath, script], { encoding: 'utf8', maxBuffer: 1 << 26, env })
    if (r.status !== 0) throw new Error(`child (${which}) failed:\n${r.stderr}`)
    rows.push({ which, ...JSON.parse(r.stdout.trim().split('\n').pop()) })
  }
  const keys = [['fds', '`fds()`'], ['fdsSync', '`fdsSync()`'], ['fdsNoSockets', '`fdsSync({ sockets: false })`'],
    ['fdinfo', '`fdsSync({ fdinfo: true })`'], ['warm_fds', '`fds()` warm']]
  const lines = [`| run | build | ${keys.map((k) => `${k[1]} ms`).join(' | ')} |`, `| --- | --- | ${keys.map(() => '---').join(' | ')} |`]
  rows.forEach((r, i) => lines.push(`| ${i + 1} | ${r.which} | ${keys.map(([k]) => f(r.med[k])).join(' | ')} |`))
  const of = (which, k) => median(rows.filter((r) => r.which === which).map((r) => r.med[k]))
  lines.push(`| median | before | ${keys.map(([k]) => f(of('before', k))).join(' | ')} |`)
  lines.push(`| median | after | ${keys.map(([k]) => f(of('after', k))).join(' | ')} |`)
  lines.push(`| | after / before | ${keys.map(([k]) => `${(of('after', k) / of('before', k)).toFixed(2)}x`).join(' | ')} |`)
  const out = `# Descriptor inventory: paired builds (${label})\n\n` +
    `Machine: ${os.cpus().length} CPUs, Linux ${os.release()}, Node ${process.version}; ${new Date().toISOString()}. ` +
    `${rows.length} runs alternating the two builds (${order.join(', ')}), each a child holding ${rows[0].total} fds ` +
    `(${rows[0].tcp} TCP sockets) that takes the medians of 21 shuffled rounds and the warm blocks, as \`node bench/fds.js\` does. ` +
    'Lower is better; a ratio within about 10% of 1.00x is within this shared machine\'s noise.\n\n' + lines.join('\n') + '\n'
  process.stdout.write(out)
  if (process.argv.includes('--write')) {
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true })
    fs.writeFileSync(path.join(__dirname, 'results', 'fds-paired.md'), out)
  }
}

// `--interleaved BEFORE_DIR AFTER_DIR [rounds] [label]`: both checkouts loaded in one process
// holding 10,000 fds (two addons, each with its own lib/), their calls alternated within every
// round (ABBA), so that the load of a shared machine, which moves over seconds, falls on both
// alike: a finer comparison than --paired's separate processes, for a change of a few percent.
// Prints medians and the median of the per-round ratios; writes bench/results/fds-interleaved.md
// with --write.
async function interleaved (before, after, rounds) {
  await setup(10000)
  const builds = { before: require(path.resolve(before)), after: require(path.resolve(after)) }
  const ops = {
    fdsSync: (ks) => ks.fdsSync(),
    fds: (ks) => ks.fds(),
    fdinfo: (ks) => ks.fdsSync({ fdinfo: true }),
    noSockets: (ks) => ks.fdsSync({ sockets: false })
  }
  const t = {}
  for (const which of Object.keys(builds)) for (const op of Object.keys(ops)) t[`${which}.${op}`] = []
  for (const ks of Object.values(builds)) for (const op of Object.values(ops)) await op(ks) // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [name, op] of Object.entries(ops)) {
      const order = r % 2 === 0 ? ['before', 'after', 'after', 'before'] : ['after', 'before', 'before', 'after']
      for (const which of order) {
        const t0 = now()
        await op(builds[which])
        t[`${which}.${name}`].push(now() - t0)
      }
    }
  }
  return { total: builds.after.fdCount(), rounds, t }
}

async function interleavedRun ([before, after, rounds = '40', label = 'before / after']) {
  const cmd = 'ulimit -n 15000 && exec "$0" "$1" --interleaved-child "$2" "$3" "$4"'
  const r = spawnSync('sh', ['-c', cmd, process.execPath, __filename, before, after, rounds], { encoding: 'utf8', maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`child failed:\n${r.stderr}`)
  const { total, t } = JSON.parse(r.stdout.trim().split('\n').pop())
  const names = [['fds', '`fds()`'], ['fdsSync', '`fdsSync()`'], ['noSockets', '`fdsSync({ sockets: false })`'], ['fdinfo', '`fdsSync({ fdinfo: true })`']]
  const lines = ['| call | before ms (median) | after ms (median) | after / before (medians) | after / before (median of rounds) |', '| --- | --- | --- | --- | --- |']
  for (const [k, title] of names) {
    const b = t[`before.${k}`]
    const a = t[`after.${k}`]
    // each round measured each build twice: its ratio is the sum of the after calls over the before calls
    const perRound = []
    for (let i = 0; i + 1 < a.length; i += 2) perRound.push((a[i] + a[i + 1]) / (b[i] + b[i + 1]))
    lines.push(`| ${title} | ${f(median(b))} | ${f(median(a))} | ${(median(a) / median(b)).toFixed(2)}x | ${median(perRound).toFixed(2)}x |`)
  }
  const out = `# Descriptor inventory: two builds interleaved in one process (${label})\n\n` +
    `Machine: ${os.cpus().length} CPUs, Linux ${os.release()}, Node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${new Date().toISOString()}. ` +
    `One child holding ${total} fds (2,000 TCP sockets) loads both checkouts; ${rounds} rounds, each calling every form ` +
    'four times, the builds alternated (ABBA, then BAAB). Lower is better.\n\n' + lines.join('\n') + '\n'
  process.stdout.write(out)
  if (process.argv.includes('--write')) {
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true })
    fs.writeFileSync(path.join(__dirname, 'results', 'fds-interleaved.md'), out)
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
