'use strict'
// `kernelscope run` and `kernelscope report`, run as a user runs them (bin/kernelscope.js in a
// child process), the report checked against the programs' own readings, ajv and Chromium.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const Ajv2020 = require('ajv/dist/2020')
const { tmpdir } = require('./helpers')
const { render, chromiumPath } = require('./chromium')

const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')
const APP = path.join(__dirname, 'fixtures', 'run-app.js')
const ESM_APP = path.join(__dirname, 'fixtures', 'run-app.mjs')
const SCHEMA = require('../lib/report/schema.json')
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(SCHEMA)

/** Runs the CLI; resolves once it has exited and its stdio closed. onLine sees stdout lines. */
function cli (args, { cwd, onLine, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      const before = stdout.split('\n').length - 1
      stdout += d
      const lines = stdout.split('\n')
      for (let i = before; i < lines.length - 1; i++) if (onLine) onLine(lines[i], child)
    })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'))

test('run --report out.json records the program and its child Node process; the JSON validates', async () => {
  const dir = tmpdir()
  try {
    const out = path.join(dir, 'out.json')
    const r = await cli(['run', '--report', out, '--interval', '50', '--', 'node', APP], { cwd: dir })
    assert.equal(r.code, 0, r.stderr)
    const seen = JSON.parse(r.stdout.split('\n')[0])
    const doc = readJson(out)
    assert.equal(validate(doc), true, JSON.stringify(validate.errors))
    assert.deepEqual(doc.command, ['node', APP])
    assert.deepEqual(doc.exit, { code: 0, signal: null })
    const pids = doc.processes.map((p) => p.pid).sort()
    assert.deepEqual(pids, [seen.pid, seen.child].sort())
    const main = doc.processes.find((p) => p.pid === seen.pid)
    const child = doc.processes.find((p) => p.pid === seen.child)
    assert.equal(child.ppid, seen.pid)
    assert.equal(main.end.reason, 'exit')
    assert.equal(main.end.exitCode, 0)
    assert.ok(main.durationMs >= 400 && main.durationMs < 20000, `duration ${main.durationMs}`)
    // The 300 ms busy loop shows as one long loop turn, in the histogram's stats and a sample.
    assert.ok(main.loop.iterationMs.maxMs >= 250, `max turn ${main.loop.iterationMs.maxMs}`)
    assert.ok(main.samples.list.some((s) => s.loop && s.loop.maxIterationMs >= 250), 'a sample with the blocked turn')
    // The program counted its descriptors (/proc/self/fd) right after opening 8 of /dev/null.
    const peak = Math.max(...main.samples.list.map((s) => s.fds.count))
    assert.ok(peak >= seen.fds - 1, `peak ${peak} vs the program's own ${seen.fds}`)
    assert.ok(main.samples.list.some((s) => (s.fds.byType['char-device'] || 0) >= 8), 'the 8 /dev/null descriptors')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('run preloads into an ES module program', async () => {
  const dir = tmpdir()
  try {
    const out = path.join(dir, 'esm.json')
    const r = await cli(['run', '--report', out, '--interval', '50', '--', process.execPath, ESM_APP], { cwd: dir })
    assert.equal(r.code, 0, r.stderr)
    const seen = JSON.parse(r.stdout.split('\n')[0])
    const doc = readJson(out)
    assert.equal(validate(doc), true, JSON.stringify(validate.errors))
    assert.deepEqual(doc.processes.map((p) => p.pid), [seen.pid])
    assert.ok(doc.processes[0].samples.list.length >= 2)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

for (const target of ['program', 'kernelscope run']) {
  test(`SIGTERM to the ${target} mid-run still writes the report`, async () => {
    const dir = tmpdir()
    try {
      const out = path.join(dir, 'term.json')
      let pid = null
      const r = await cli(['run', '--report', out, '--interval', '50', '--', 'node', APP, 'forever'], {
        cwd: dir,
        onLine (line, runner) {
          if (line.startsWith('{')) pid = JSON.parse(line).pid
          if (line === 'ready') process.kill(target === 'program' ? pid : runner.pid, 'SIGTERM')
        }
      })
      assert.equal(r.code, 143, r.stderr)
      const doc = readJson(out)
      assert.equal(validate(doc), true, JSON.stringify(validate.errors))
      assert.deepEqual(doc.exit, { code: null, signal: 'SIGTERM' })
      const main = doc.processes.find((p) => p.pid === pid)
      assert.deepEqual(main.end, { reason: 'signal', exitCode: null, signal: 'SIGTERM' })
      assert.ok(main.samples.list.length >= 3)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
}

test('run refuses a command that is not Node.js, and bad options, with exit code 2', async () => {
  const dir = tmpdir()
  try {
    const out = path.join(dir, 'x.html')
    const ls = fs.realpathSync('/bin/ls')
    let r = await cli(['run', '--report', out, '--', ls, dir], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /is not a Node\.js program/)
    assert.equal(fs.existsSync(out), false)
    r = await cli(['run', '--interval', 'soon', '--', 'node', '-e', '0'], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--interval must be an integer/)
    r = await cli(['run'], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /no command given/)
    r = await cli(['run', '--', 'kernelscope-no-such-command-x'], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /command not found/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('report in.json -o out.html renders; bad input is refused with exit code 2', async () => {
  const dir = tmpdir()
  try {
    const json = path.join(dir, 'in.json')
    let r = await cli(['run', '--report', json, '--interval', '50', '--', 'node', '-e', 'setTimeout(() => {}, 200)'], { cwd: dir })
    assert.equal(r.code, 0, r.stderr)
    const html = path.join(dir, 'page.html')
    r = await cli(['report', json, '-o', html], { cwd: dir })
    assert.equal(r.code, 0, r.stderr)
    const text = fs.readFileSync(html, 'utf8')
    assert.match(text, /^<!DOCTYPE html>/)
    assert.match(text, /data-plot="loop-wait-histogram"/)
    const bad = path.join(dir, 'bad.json')
    const doc = readJson(json)
    doc.processes[0].samples = 'none'
    fs.writeFileSync(bad, JSON.stringify(doc))
    r = await cli(['report', bad, '-o', path.join(dir, 'bad.html')], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /\$\.processes\[0\]\.samples: must be object/)
    fs.writeFileSync(bad, '{ nope')
    r = await cli(['report', bad], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /is not JSON/)
    r = await cli(['report', path.join(dir, 'missing.json')], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /ENOENT/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('run --report out.html: headless Chromium renders the plots, no console error, no network request', { skip: chromiumPath() === null ? 'chromium is not installed (apt-get install chromium)' : false }, async () => {
  const dir = tmpdir()
  try {
    const out = path.join(dir, 'out.html')
    const r = await cli(['run', '--report', out, '--interval', '50', '--', 'node', APP], { cwd: dir })
    assert.equal(r.code, 0, r.stderr)
    const page = await render(out, `JSON.stringify([...document.querySelectorAll('svg.ks-plot')].map((s) => {
      const b = s.getBoundingClientRect()
      return { plot: s.dataset.plot, width: b.width, height: b.height, marks: s.querySelectorAll('rect.bar, polygon.area, rect.exec').length }
    }))`)
    const plots = JSON.parse(page.value)
    const byName = (n) => plots.filter((p) => p.plot === n)
    for (const name of ['loop-wait-histogram', 'loop-over-time', 'fds-over-time', 'threads-over-time']) {
      assert.equal(byName(name).length, 2, `${name} once per process: ${page.value}`)
      for (const p of byName(name)) {
        assert.ok(p.width > 300 && p.height > 100, `${name} rendered ${p.width}x${p.height}`)
        assert.ok(p.marks > 0, `${name} has marks`)
      }
    }
    assert.deepEqual(page.consoleErrors, [])
    assert.deepEqual(page.requests, ['file://' + out])
    assert.equal(page.png.subarray(1, 4).toString(), 'PNG')
    assert.ok(page.png.length > 20000, `screenshot ${page.png.length} bytes`)
    fs.writeFileSync(path.join(dir, 'shot.png'), page.png)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('run records every explained operation with its breakdown, and draws its waterfall', async () => {
  const dir = tmpdir()
  try {
    const out = path.join(dir, 'checks.json')
    const r = await cli(['run', '--report', out, '--interval', '50', '--', 'node', path.join(__dirname, 'fixtures', 'run-checks.js')], { cwd: dir })
    assert.equal(r.code, 0, r.stderr)
    const seen = JSON.parse(r.stdout.split('\n')[0])
    const doc = readJson(out)
    assert.equal(validate(doc), true, JSON.stringify(validate.errors))
    const main = doc.processes.find((p) => p.pid === seen.pid)
    assert.equal(main.operations.seen, 2)
    const names = main.operations.kept.map((o) => o.report.name)
    assert.deepEqual(names, ['read late fifo', 'short timer'], 'slowest first')
    const fifoOp = main.operations.kept[0].report
    assert.equal(fifoOp.wallMs, seen.walls[0])
    assert.ok(fifoOp.breakdown.some((b) => b.kind === 'fs' && b.target === seen.fifo), JSON.stringify(fifoOp.breakdown))
    const html = path.join(dir, 'checks.html')
    assert.equal((await cli(['report', out, '-o', html], { cwd: dir })).code, 0)
    const page = fs.readFileSync(html, 'utf8')
    assert.equal((page.match(/data-plot="waterfall"/g) || []).length, 2)
    assert.ok(page.includes(seen.fifo))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
