'use strict'
// A Prometheus scrape of kernelscope's collectors against one of prom-client's
// collectDefaultMetrics(), each in its own registry, with 1,000 descriptors open (files and a
// few sockets): `await registry.metrics()` as a server's /metrics handler runs it.
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const promClient = require('prom-client')
const ks = require('..')
const { compare, machine, table, publish } = require('./lib')

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ks-bench-metrics-'))
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, 'x')
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const clients = []
  for (let i = 0; i < 10; i++) {
    const c = net.connect(server.address().port, '127.0.0.1')
    await new Promise((resolve) => c.once('connect', resolve))
    clients.push(c)
  }
  const opened = []
  while (fs.readdirSync('/proc/self/fd').length < 1000) opened.push(fs.openSync(file, 'r'))
  const fdsNow = ks.fdCount()

  const ours = new promClient.Registry()
  const exporter = ks.prometheus({ register: ours })
  const defaults = new promClient.Registry()
  promClient.collectDefaultMetrics({ register: defaults })
  const series = async (r) => (await r.metrics()).split('\n').filter((l) => l && !l.startsWith('#')).length

  const rows = await compare([
    { name: 'prom-client collectDefaultMetrics() scrape', async: true, fn: () => defaults.metrics(), note: `${await series(defaults)} series` },
    { name: 'kernelscope prometheus() scrape', async: true, fn: () => ours.metrics(), note: `${await series(ours)} series, loop histograms included` }
  ], { rounds: 15, iterations: 50, warmup: 20 })
  exporter.close()
  for (const fd of opened) fs.closeSync(fd)
  for (const c of clients) c.destroy()
  server.close()
  fs.rmSync(dir, { recursive: true, force: true })
  publish('metrics', `## Metrics scrape at 1,000 descriptors (bench/metrics.js)

${machine()}. ${fdsNow} descriptors open (files, 21 loopback TCP sockets). One \`await registry.metrics()\`
per call, the two registries interleaved, 15 rounds of 50, median of the per-round means.

${table(rows, 'prom-client collectDefaultMetrics() scrape', 'vs prom-client defaults')}

kernelscope's descriptor count by type is one fstat per slot of the fd table in the addon
(fdSummary()); prom-client's \`process_open_fds\` readdirs /proc/self/fd through libuv on every
scrape, besides its other collectors (heap spaces, GC, event-loop lag, /proc/self/status).`)
}

main().catch((err) => { console.error(err); process.exit(1) })
