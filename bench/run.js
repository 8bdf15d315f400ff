'use strict'
// npm run bench: runs every bench/<area>.js in its own process, then writes bench/RESULTS.md
// from their tables (bench/results/<area>.md).
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { machine } = require('./lib')

const only = process.argv.slice(2)
const scripts = fs.readdirSync(__dirname)
  .filter((f) => f.endsWith('.js') && !['run.js', 'lib.js'].includes(f))
  .filter((f) => only.length === 0 || only.includes(path.basename(f, '.js')))
  .sort()
let failed = 0
for (const f of scripts) {
  console.log(`\n# bench/${f}`)
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, f)],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  process.stdout.write(r.stdout || '')
  if (r.status !== 0) {
    console.error(`bench/${f} failed`)
    failed++
  } else if ((r.stdout || '').trim()) {
    // every script prints its markdown; keep the latest in bench/results/<name>.md
    fs.writeFileSync(path.join(__dirname, 'results', `${path.basename(f, '.js')}.md`), `${r.stdout.trim()}\n`)
  }
}
const parts = fs.readdirSync(path.join(__dirname, 'results')).filter((f) => f.endsWith('.md')).sort()
  .map((f) => fs.readFileSync(path.join(__dirname, 'results', f), 'utf8').trim())
fs.writeFileSync(path.join(__dirname, 'RESULTS.md'),
  '# Benchmark results\n\nLatest `npm run bench` (each section says the machine it ran on; ' +
  `assembled ${machine()}). The machines are shared and noisy: read ratios, not absolutes.\n\n${parts.join('\n\n')}\n`)
process.exit(failed ? 1 : 0)
