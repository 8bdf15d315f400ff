'use strict'
// bench/audit.js: `kernelscope audit` against strace (-f with and without --seccomp-bpf) and no
// tracing, on `npm install` of a local fixture with 30 local dependencies and on a script doing
// 20,000 opens and 200 connects; whole commands, interleaved rounds, medians. Then the
// sentinel's own cost: one poll, and CPU per second at its default interval.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { machine, median, publish } = require('./lib')

const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')
const hasStrace = spawnSync('strace', ['-V']).status === 0
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ks-bench-audit-'))
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
env.HOME = tmp

function fixture () {
  const app = path.join(tmp, 'app')
  fs.mkdirSync(app, { recursive: true })
  const deps = {}
  for (let i = 0; i < 30; i++) {
    const d = path.join(tmp, `dep-${i}`)
    fs.mkdirSync(d, { recursive: true })
    fs.writeFileSync(path.join(d, 'package.json'), JSON.stringify({ name: `dep-${i}`, version: '1.0.0', main: 'index.js' }))
    fs.writeFileSync(path.join(d, 'index.js'), `module.exports = ${i}\n`)
    for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(d, `f${f}.js`), '// filler\n'.repeat(50))
    deps[`dep-${i}`] = `file:../dep-${i}`
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: deps }))
  const script = path.join(tmp, 'opens.js')
  fs.writeFileSync(script, `
const fs = require('fs'); const net = require('net')
for (let i = 0; i < 20000; i++) fs.closeSync(fs.openSync(__filename, 'r'))
const srv = net.createServer((s) => s.end()).listen(0, '127.0.0.1', async () => {
  for (let i = 0; i < 200; i++) await new Promise((r) => net.connect(srv.address().port, '127.0.0.1').on('close', r).resume())
  srv.close()
})`)
  return { app, script }
}

const traceSet = 'trace=execve,connect,openat'
function commands (cmd) {
  const list = [
    { name: 'untraced', argv: cmd },
    { name: 'kernelscope audit', argv: [process.execPath, BIN, 'audit', '--output', '/dev/null', '--', ...cmd] }
  ]
  if (hasStrace) {
    list.push({ name: `strace -f -e ${traceSet}`, argv: ['strace', '-f', '-qq', '-o', '/dev/null', '-e', traceSet, ...cmd] })
    list.push({ name: `strace -f --seccomp-bpf -e ${traceSet}`, argv: ['strace', '-f', '-qq', '--seccomp-bpf', '-o', '/dev/null', '-e', traceSet, ...cmd] })
  }
  return list
}

function time (c, cwd, before) {
  if (before) before()
  const t0 = process.hrtime.bigint()
  const r = spawnSync(c.argv[0], c.argv.slice(1), { cwd, env, stdio: 'ignore' })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0 && !(c.name === 'kernelscope audit' && r.status === 90)) throw new Error(`${c.name} exited ${r.status}`)
  return ms
}

function bench (title, cmd, cwd, rounds, before) {
  const cs = commands(cmd)
  for (const c of cs) time(c, cwd, before) // warm-up
  const per = new Map(cs.map((c) => [c.name, []]))
  const ratios = new Map(cs.map((c) => [c.name, []]))
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...cs].reverse() : cs
    const got = new Map()
    for (const c of order) got.set(c.name, time(c, cwd, before))
    for (const c of cs) {
      per.get(c.name).push(got.get(c.name))
      ratios.get(c.name).push(got.get(c.name) / got.get('untraced'))
    }
  }
  const lines = [`### ${title}`, '', `${rounds} interleaved rounds (order alternating), median wall time of the whole command; ratio: median of per-round ratios to untraced.`, '',
    '| command | median wall | ratio to untraced |', '| --- | ---: | ---: |']
  for (const c of cs) lines.push(`| ${c.name} | ${median(per.get(c.name)).toFixed(0)} ms | ${median(ratios.get(c.name)).toFixed(2)}× |`)
  return lines.join('\n')
}

function sentinelCost () {
  const code = `
const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
const net = require('net')
const mode = process.argv[1]
const socks = []
const srv = net.createServer((s) => socks.push(s)).listen(0, '127.0.0.1', () => {
  for (let i = 0; i < 20; i++) socks.push(net.connect(srv.address().port, '127.0.0.1'))
  setTimeout(() => {
    const s = mode === 'sentinel' ? ks.sentinel() : null
    let pollUs = null
    if (s) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < 200; i++) s._poll()
      pollUs = Number(process.hrtime.bigint() - t0) / 1e3 / 200
    }
    const c0 = process.cpuUsage(); const w0 = process.hrtime.bigint()
    setTimeout(() => {
      const c = process.cpuUsage(c0); const w = Number(process.hrtime.bigint() - w0) / 1e3
      if (s) s.close()
      console.log(JSON.stringify({ cpuPct: (c.user + c.system) / w * 100, pollUs }))
      process.exit(0)
    }, 10000)
  }, 300)
})`
  const runs = { idle: [], sentinel: [] }
  const pollUs = []
  for (let r = 0; r < 3; r++) {
    for (const mode of ['idle', 'sentinel']) {
      const out = spawnSync(process.execPath, ['-e', code, mode], { encoding: 'utf8', env })
      const j = JSON.parse(out.stdout.trim().split('\n').pop())
      runs[mode].push(j.cpuPct)
      if (j.pollUs !== null) pollUs.push(j.pollUs)
    }
  }
  const idle = median(runs.idle)
  const sen = median(runs.sentinel)
  return ['### sentinel()', '',
    'A process holding 20 TCP connections and a listener, otherwise idle for 10 s, with and without `ks.sentinel()` at its default interval (1000 ms); 3 interleaved runs, medians.', '',
    '| what | median |', '| --- | ---: |',
    `| one poll (fanotify read + own sockets: /proc/self/fd, getsockname/getpeername) | ${median(pollUs).toFixed(0)} µs |`,
    `| CPU, idle process without sentinel | ${idle.toFixed(3)}% of a core |`,
    `| CPU, idle process with sentinel | ${sen.toFixed(3)}% of a core |`,
    `| sentinel's share | ${(sen - idle).toFixed(3)}% of a core |`].join('\n')
}

try {
  const { app, script } = fixture()
  const clean = () => {
    fs.rmSync(path.join(app, 'node_modules'), { recursive: true, force: true })
    fs.rmSync(path.join(app, 'package-lock.json'), { force: true })
  }
  const npm = ['npm', 'install', '--offline', '--no-audit', '--no-fund', '--install-links', '--no-update-notifier', `--cache=${path.join(tmp, 'cache')}`]
  const parts = [`## audit and sentinel\n\n${machine()}${hasStrace ? '' : ' (strace not installed: its rows are missing)'}.`]
  parts.push(bench('`npm install` of a local fixture with 30 dependencies (--offline, file: deps)', npm, app, 7, clean))
  parts.push(bench('A script doing 20,000 opens and 200 connects', [process.execPath, script], tmp, 9))
  parts.push(sentinelCost())
  publish('audit', parts.join('\n\n'))
} finally {
  fs.rmSync(tmp, { recursive: true, force: true })
}
