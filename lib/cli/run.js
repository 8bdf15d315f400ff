'use strict'
// `kernelscope run [--report out.html|out.json] [--interval ms] -- <command>`: runs a Node.js
// command with kernelscope preloaded (NODE_OPTIONS=--require <this package>/lib/cli/register.js)
// into every Node.js process it starts, and writes one report of them all when it ends.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const EXIT_USAGE = 2
const REGISTER = path.join(__dirname, 'register.js')

const summary = 'run a Node.js command with kernelscope preloaded; write an HTML or JSON report at its end'
const usage = `usage: kernelscope run [options] -- <command> [args...]

Runs <command> (node, a node script, npm, or a shell script that starts node) with kernelscope
preloaded through NODE_OPTIONS=--require, in every Node.js process it starts (main threads only).
Records the event loop, threads and descriptors by type every interval and every explained
operation (ks.explain, ks.attribute, the middleware); writes the report when the command ends,
also when it is stopped by SIGINT or SIGTERM.

options:
  --report <file>          out.html (default kernelscope-report.html) or out.json
  --interval <ms>          sampling interval, 10..3600000 (default 1000)
  --max-samples <n>        samples kept per process, oldest dropped first (default 3600)
  --max-operations <n>     slowest explained operations kept per process (default 100)
  -h, --help

exit code: the command's (128 + signal number when a signal ended it); 2 for a usage error or a
command that is not Node.js.`

function usageError (msg) {
  process.stderr.write(`kernelscope run: ${msg}\n\n${usage}\n`)
  return EXIT_USAGE
}

function parseArgs (argv) {
  const opts = { report: 'kernelscope-report.html', intervalMs: 1000, maxSamples: 3600, maxOperations: 100, command: null, help: false }
  const ints = { '--interval': ['intervalMs', 10, 3600000], '--max-samples': ['maxSamples', 1, 1000000], '--max-operations': ['maxOperations', 0, 100000] }
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]
    let value
    if (a === '--') {
      opts.command = argv.slice(i + 1)
      break
    }
    if (a === '-h' || a === '--help') { opts.help = true; continue }
    const eq = a.indexOf('=')
    if (a.startsWith('--') && eq > 0) { value = a.slice(eq + 1); a = a.slice(0, eq) }
    const take = () => {
      if (value !== undefined) return value
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--report' || a === '-o') {
      opts.report = take()
      if (opts.report === '') throw new Error('--report needs a file name')
    } else if (ints[a]) {
      const [key, min, max] = ints[a]
      const raw = take()
      const n = Number(raw)
      if (!/^\d+$/.test(raw) || n < min || n > max) throw new Error(`${a} must be an integer from ${min} to ${max}, not '${raw}'`)
      opts[key] = n
    } else if (!a.startsWith('-')) {
      // No `--`: the command starts at the first word that is not an option.
      opts.command = argv.slice(i)
      break
    } else {
      throw new Error(`unknown option ${a}`)
    }
  }
  return opts
}

/** Where `cmd` is on PATH (or as given), or null. */
function which (cmd) {
  if (cmd.includes('/')) return fs.existsSync(cmd) ? path.resolve(cmd) : null
  for (const dir of (process.env.PATH || '').split(':')) {
    if (!dir) continue
    const p = path.join(dir, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      if (fs.statSync(p).isFile()) return p
    } catch {}
  }
  return null
}

/** 'node' | 'node-script' | 'script' (a #! that is not node: it may start node) | 'other'. */
function classify (file) {
  let real = file
  try { real = fs.realpathSync(file) } catch {}
  try {
    if (real === fs.realpathSync(process.execPath)) return 'node'
  } catch {}
  const head = Buffer.alloc(256)
  let n = 0
  try {
    const fd = fs.openSync(real, 'r')
    try { n = fs.readSync(fd, head, 0, head.length, 0) } finally { fs.closeSync(fd) }
  } catch {
    return 'other'
  }
  const text = head.subarray(0, n).toString('latin1')
  if (text.startsWith('#!')) {
    const line = text.slice(2).split('\n')[0]
    return /(^|[\s/])node(js)?(\s|$)/.test(line) ? 'node-script' : 'script'
  }
  if (text.startsWith('\x7fELF') && /^node(js)?([-_.]?\d[\w.]*)?$/.test(path.basename(real))) return 'node'
  return 'other'
}

function quoteOption (p) {
  return `"${p.replace(/(["\\])/g, '\\$1')}"`
}

function readRecords (dir) {
  const out = []
  const notes = []
  for (const f of fs.readdirSync(dir)) {
    if (!/^\d+\.json$/.test(f)) continue
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))
    } catch (err) {
      notes.push(`the record of pid ${f.slice(0, -5)} could not be read: ${err.message}`)
    }
  }
  return { records: out, notes }
}

async function main (argv) {
  let opts
  try {
    opts = parseArgs(argv)
  } catch (err) {
    return usageError(err.message)
  }
  if (opts.help) {
    process.stdout.write(usage + '\n')
    return 0
  }
  if (opts.command === null || opts.command.length === 0) return usageError('no command given (kernelscope run -- node app.js)')
  const [cmd, ...args] = opts.command
  const file = which(cmd)
  if (file === null) {
    process.stderr.write(`kernelscope run: ${cmd}: command not found\n`)
    return EXIT_USAGE
  }
  const kind = classify(file)
  if (kind === 'other') {
    process.stderr.write(`kernelscope run: ${cmd} (${file}) is not a Node.js program. kernelscope run records Node.js ` +
      'processes only (it preloads itself through NODE_OPTIONS); for any command, `kernelscope audit` traces what it does.\n')
    return EXIT_USAGE
  }
  const reportFile = path.resolve(opts.report)
  const asJson = reportFile.endsWith('.json')
  try {
    fs.accessSync(path.dirname(reportFile), fs.constants.W_OK)
  } catch (err) {
    return usageError(`cannot write the report in ${path.dirname(reportFile)}: ${err.code || err.message}`)
  }
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-run-'))
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ? process.env.NODE_OPTIONS + ' ' : ''}--require ${quoteOption(REGISTER)}`,
    KERNELSCOPE_RUN_DIR: runDir,
    KERNELSCOPE_INTERVAL_MS: String(opts.intervalMs),
    KERNELSCOPE_MAX_SAMPLES: String(opts.maxSamples),
    KERNELSCOPE_MAX_OPERATIONS: String(opts.maxOperations)
  }
  delete env.KERNELSCOPE_REPORT
  const child = spawn(file, args, { stdio: 'inherit', env, argv0: cmd })
  // The command decides when it ends: signals to us go on to it, and we wait for it.
  const forward = {}
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    forward[sig] = () => { try { child.kill(sig) } catch {} }
    process.on(sig, forward[sig])
  }
  const result = await new Promise((resolve) => {
    child.once('error', (err) => resolve({ error: err }))
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  for (const sig of Object.keys(forward)) process.removeListener(sig, forward[sig])
  if (result.error) {
    fs.rmSync(runDir, { recursive: true, force: true })
    process.stderr.write(`kernelscope run: could not start ${cmd}: ${result.error.message}\n`)
    return result.error.code === 'EACCES' ? 3 : EXIT_USAGE
  }
  const { records, notes } = readRecords(runDir)
  fs.rmSync(runDir, { recursive: true, force: true })
  if (records.length === 0) {
    const why = kind === 'script'
      ? `no Node.js process ran under ${cmd} (or none could load kernelscope): nothing was recorded`
      : 'the process left no record (killed by SIGKILL, or kernelscope could not load in it)'
    notes.push(why)
    process.stderr.write(`kernelscope run: ${why}\n`)
  }
  notes.push('Worker threads are not recorded separately: each process records its main thread\'s loop; its threads and descriptors include the workers\'.')
  const { assemble, renderHtml } = require('../report')
  const doc = assemble({
    processes: records,
    command: opts.command,
    exit: { code: result.code, signal: result.signal },
    limits: { intervalMs: opts.intervalMs, maxSamples: opts.maxSamples, maxOperations: opts.maxOperations },
    notes
  })
  try {
    fs.writeFileSync(reportFile, asJson ? JSON.stringify(doc, null, 1) + '\n' : renderHtml(doc))
    const ops = records.reduce((s, r) => s + r.operations.seen, 0)
    process.stderr.write(`kernelscope: report written to ${reportFile} (${records.length} process${records.length === 1 ? '' : 'es'}, ${ops} explained operation${ops === 1 ? '' : 's'})\n`)
  } catch (err) {
    process.stderr.write(`kernelscope run: could not write ${reportFile}: ${err.message}\n`)
  }
  if (result.signal) return 128 + (os.constants.signals[result.signal] || 0)
  return result.code === null ? 1 : result.code
}

module.exports = { summary, usage, main, classify, parseArgs }
