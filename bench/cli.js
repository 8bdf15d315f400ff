'use strict'
// `kernelscope inspect <pid> --json` as a whole command (node start-up included) against what an
// on-call engineer runs for the same picture, `lsof -p <pid>` and `ss -tanpi`, on a separate
// process holding 10,000 descriptors (files, pipes, loopback TCP connections). Whole commands
// timed from spawn to exit, interleaved, medians; their output goes to /dev/null.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { machine, median } = require('./lib')

const TARGET = `
const fs = require('fs'), net = require('net')
const file = process.argv[1]
const server = net.createServer((s) => { s.pause(); keep.push(s) })
const keep = []
server.listen(0, '127.0.0.1', async () => {
  for (let i = 0; i < 200; i++) {
    const c = net.connect(server.address().port, '127.0.0.1')
    await new Promise((r) => c.once('connect', r))
    keep.push(c)
  }
  while (fs.readdirSync('/proc/self/fd').length < 10000) keep.push(fs.openSync(file, 'r'))
  process.stdout.write('ready\\n')
})
process.stdin.resume(); process.stdin.on('end', () => process.exit(0))
`

// Node 20 parses every certificate of NODE_EXTRA_CA_CERTS at start-up, before any script runs
// (this machine sets it to the whole system bundle: ~34 ms of wall time). The command as npm
// installs it (bin/kernelscope.js run as a program) starts node without it for inspect and top;
// `node bin/kernelscope.js` keeps the environment as it is, and is timed too.
const CA = process.env.NODE_EXTRA_CA_CERTS
const noCa = { ...process.env }
delete noCa.NODE_EXTRA_CA_CERTS
// the command finds node on PATH, as installed: this node first
const withNode = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` }

function time (cmd, args, env = process.env) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(cmd, args, { stdio: ['ignore', fs.openSync('/dev/null', 'w'), 'pipe'], encoding: 'utf8', env })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return ms
}

async function main () {
  const have = (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0
  if (!have('lsof') || !have('ss')) {
    process.stdout.write('## kernelscope inspect vs lsof + ss (bench/cli.js)\n\nskipped: lsof or ss missing\n')
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ks-bench-cli-'))
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, 'x')
  const target = spawn(process.execPath, ['-e', TARGET, file], { stdio: ['pipe', 'pipe', 'inherit'] })
  await new Promise((resolve) => target.stdout.once('data', resolve))
  const pid = target.pid
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length
  const bin = path.join(__dirname, '..', 'bin', 'kernelscope.js')
  const ks = () => time(bin, ['inspect', String(pid), '--json'], withNode)
  const lsof = () => time('lsof', ['-p', String(pid)])
  const ss = () => time('ss', ['-tanpi'])
  const nodeNoCa = () => time(process.execPath, ['-e', '0'], noCa)
  const ksKeep = () => time(process.execPath, [bin, 'inspect', String(pid), '--json'])
  const nodeOnly = () => time(process.execPath, ['-e', '0'])
  // what any Node command with this scan pays: start-up and the modules inspect loads, and
  // the descriptor scan itself timed inside this (warm) process
  const loadOnly = () => time(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'cli', 'common.js'))})`], noCa)
  const { fdsJsonSync } = require('../lib/probes/fds')
  const scanOnly = () => {
    const t0 = process.hrtime.bigint()
    fdsJsonSync({ pid, sockets: true })
    return Number(process.hrtime.bigint() - t0) / 1e6
  }
  const rounds = Number(process.env.ROUNDS) || 11
  const r = { ks: [], lsof: [], ss: [], both: [], nodeNoCa: [], ksKeep: [], node: [], load: [], scan: [] }
  ks(); lsof(); ss() // warm the page cache and the dentries
  for (let i = 0; i < rounds; i++) {
    r.ks.push(ks())
    const a = lsof()
    const b = ss()
    r.lsof.push(a)
    r.ss.push(b)
    r.both.push(a + b)
    r.nodeNoCa.push(nodeNoCa())
    r.load.push(loadOnly())
    r.scan.push(scanOnly())
    if (CA) {
      r.ksKeep.push(ksKeep())
      r.node.push(nodeOnly())
    }
  }
  const per = (xs) => xs.map((k, i) => r.both[i] / k)
  const ratios = per(r.ks)
  const range = (xs) => `${median(xs).toFixed(1)}× (range ${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}×)`
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ')
  const bytes = spawnSync(process.execPath, [bin, 'inspect', String(pid), '--json'], { maxBuffer: 256 << 20 }).stdout.length
  target.stdin.end()
  await new Promise((resolve) => target.once('exit', resolve))
  fs.rmSync(dir, { recursive: true, force: true })
  const m = (xs) => `${median(xs).toFixed(0)} ms`
  process.stdout.write(`## kernelscope inspect vs lsof + ss at 10,000 descriptors (bench/cli.js)

${machine()}. Target: a separate Node process with ${fds} descriptors (files, 400 loopback TCP
sockets, its own pipes and epoll). Whole commands, spawn to exit (start-up included), output to
/dev/null; ${rounds} interleaved rounds, medians; the ratio is taken round by round.

| command | median wall time | note |
| --- | ---: | --- |
| \`kernelscope inspect <pid> --json\` | ${m(r.ks)} | the command as installed; process, threads with syscalls, every fd with sockets resolved; ${(bytes / 1e6).toFixed(1)} MB of JSON |
| \`lsof -p <pid>\` | ${m(r.lsof)} | |
| \`ss -tanpi\` | ${m(r.ss)} | TCP sockets with their processes and TCP_INFO |
| lsof + ss | ${m(r.both)} | what inspect replaces |
| \`node -e 0\`${CA ? ', NODE_EXTRA_CA_CERTS unset' : ''} | ${m(r.nodeNoCa)} | the start-up inside kernelscope's figure |
| \`node -e "require('lib/cli/common.js')"\` | ${m(r.load)} | start-up and the modules inspect loads (the addon among them) |
| \`fdsJsonSync({ pid, sockets: true })\` inside a running process | ${m(r.scan)} | the descriptor scan alone: readlink, stat through the link and lstat of the path per descriptor, on two threads |
${CA
? `| \`node bin/kernelscope.js inspect <pid> --json\`, NODE_EXTRA_CA_CERTS kept | ${m(r.ksKeep)} | |
| \`node -e 0\`, NODE_EXTRA_CA_CERTS kept | ${m(r.node)} | |
`
: ''}
Load average at the end: ${load}.${CA ? ` NODE_EXTRA_CA_CERTS was set (${CA}): Node 20 parses that bundle at start-up; the command drops it for inspect and top (bin/kernelscope.js).` : ''}

lsof + ss take **${range(ratios)}** as long as \`kernelscope inspect --json\` (median of the per-round ratios)${CA ? `; ${range(per(r.ksKeep))} as long as \`node bin/kernelscope.js inspect --json\` with NODE_EXTRA_CA_CERTS kept` : ''}.
The floor, lsof + ss against Node's start-up alone: ${range(per(r.nodeNoCa))}${CA ? `; with NODE_EXTRA_CA_CERTS kept ${range(per(r.node))}` : ''}.
Against start-up, modules and the scan (the two rows above it added round by round), what a Node command doing this scan could at best reach: ${range(r.both.map((b, i) => b / (r.load[i] + r.scan[i])))}; against the scan alone, what a command with no start-up at all could: ${range(per(r.scan))}.
`)
}

main().catch((err) => { console.error(err); process.exit(1) })
