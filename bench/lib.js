'use strict'
// Timing helpers shared by the benchmarks: interleaved rounds, medians, machine description.
const os = require('node:os')
const fs = require('node:fs')
const path = require('node:path')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Times each candidate `{ name, fn, async? }` in interleaved rounds: every round runs each
 * candidate `iterations` times back to back; the figure is the median over rounds of the mean
 * per call, in microseconds. Interleaving spreads the machine's noise over all candidates.
 */
async function compare (candidates, { rounds = 15, iterations = 2000, warmup = 200 } = {}) {
  for (const c of candidates) {
    for (let i = 0; i < warmup; i++) c.async ? await c.fn() : c.fn()
  }
  const per = new Map(candidates.map((c) => [c.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const c of candidates) {
      const n = c.iterations || iterations
      const t0 = process.hrtime.bigint()
      if (c.async) for (let i = 0; i < n; i++) await c.fn()
      else for (let i = 0; i < n; i++) c.fn()
      per.get(c.name).push(Number(process.hrtime.bigint() - t0) / 1e3 / n)
    }
  }
  return candidates.map((c) => ({ name: c.name, us: median(per.get(c.name)), note: c.note || '' }))
}

function machine () {
  const cpu = os.cpus()[0]
  return `${os.cpus().length} × ${cpu ? cpu.model.trim() : 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Linux ${os.release()}, Node ${process.version}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(us < 10 ? 2 : 1)} µs`)

/** A markdown table of results with each row's ratio to `base`. */
function table (rows, baseName, ratioLabel = 'ratio') {
  const base = rows.find((r) => r.name === baseName)
  const lines = [`| what | median per call | ${ratioLabel} | note |`, '| --- | ---: | ---: | --- |']
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.us)} | ${(r.us / base.us).toFixed(2)}× | ${r.note} |`)
  return lines.join('\n')
}

/** Prints a bench's markdown and keeps it in bench/results/<name>.md. */
function publish (name, markdown) {
  const text = `${markdown.trim()}\n`
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true })
  fs.writeFileSync(path.join(__dirname, 'results', `${name}.md`), text)
  process.stdout.write(`${text}\n`)
}

module.exports = { compare, machine, median, fmt, table, publish }
