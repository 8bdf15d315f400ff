'use strict'
// `kernelscope demo` (also `npm run demo`): the monitoring bot of SPEC section 8. 22 checks run
// at once against local services that are slow in the kernel (lib/cli/demo/services.js), each
// wrapped in ks.explain; the output names, per check, its wall time and what it waited on,
// then the loop's waits, the threads and the descriptors seen while the checks waited.
// Loopback only, no root, a few seconds.

const path = require('node:path')
const { spawn } = require('node:child_process')
const { performance } = require('node:perf_hooks')

const summary = 'run the monitoring-bot demo: 22 slow checks, each explained'
const usage = `usage: kernelscope demo [--json]

Starts local services that are slow in the kernel (a listener whose full accept queue drops
SYNs, FIFOs whose writers are late, a threadpool those reads fill, a slow HTTP upstream, a peer
that stops reading, a CPU hog, a slow child process), fires 22 checks at them at once, each in
ks.explain(), and prints per check its wall time and what it waited on, then the event loop's
wait histogram, the thread states and a descriptor summary. Loopback only, no root.

  --json    print the whole result (every check's report) as JSON on stdout
  -h, --help

The bot runs with UV_THREADPOOL_SIZE=4 (the demo restarts itself with it when it is not set).
Progress goes to stderr. Exit codes: 0 ok, 1 the demo could not run here, 2 usage.`

const POOL_ENV = '4'

function parse (argv) {
  const opts = { json: false, help: false }
  for (const a of argv) {
    if (a === '--json') opts.json = true
    else if (a === '-h' || a === '--help') opts.help = true
    else return { error: `kernelscope demo: unknown option '${a}'` }
  }
  return opts
}

/** Runs the demo again in a child whose libuv threadpool will have POOL_ENV threads. */
function reexec (argv) {
  return new Promise((resolve) => {
    const bin = path.join(__dirname, '..', '..', 'bin', 'kernelscope.js')
    const child = spawn(process.execPath, [...process.execArgv, bin, 'demo', ...argv], {
      stdio: 'inherit',
      env: { ...process.env, UV_THREADPOOL_SIZE: POOL_ENV }
    })
    child.on('error', (err) => {
      process.stderr.write(`kernelscope demo: could not start the bot process: ${err.message}\n`)
      resolve(1)
    })
    child.on('close', (code, signal) => resolve(signal ? 1 : code))
  })
}

function progress (err) {
  const tty = Boolean(err.isTTY)
  const t0 = performance.now()
  let lastLine = 0
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1) + ' s'
  return (ev) => {
    if (ev.type === 'services') {
      err.write(`kernelscope demo: local services ready (${secs()}): listener ${ev.services.listener.address} with a full ` +
        `accept queue, http ${ev.services.upstream.address}, peer ${ev.services.peer.address}, ${ev.services.fifos.length} FIFOs\n`)
    } else if (ev.type === 'start') {
      err.write(`kernelscope demo: ${ev.count} checks running at once, each in ks.explain()…\n`)
    } else if (ev.type === 'snapshot') {
      if (!tty) err.write(`kernelscope demo: threads and descriptors read at ${ev.atMs.toFixed(0)} ms\n`)
    } else if (ev.type === 'done') {
      if (tty) {
        err.write(`\r  ${ev.done}/${ev.count} checks done (${secs()}), last: ${ev.name} in ${ev.wallMs.toFixed(0)} ms\x1b[K`)
        if (ev.done === ev.count) err.write('\n')
      } else if (ev.done === ev.count || performance.now() - lastLine > 250) {
        lastLine = performance.now()
        err.write(`  ${ev.done}/${ev.count} checks done (${secs()})\n`)
      }
    }
  }
}

async function main (argv = []) {
  const opts = parse(argv)
  if (opts.error) {
    process.stderr.write(`${opts.error}\n${usage}\n`)
    return 2
  }
  if (opts.help) {
    process.stdout.write(usage + '\n')
    return 0
  }
  const ks = require('../..')
  if (!ks.supported) {
    process.stderr.write(`kernelscope demo: kernelscope does not run here (${ks.unsupportedReason}); ` +
      'the demo needs the native addon on Linux (npm install builds it with cargo)\n')
    return 1
  }
  if (typeof ks.explain !== 'function') {
    process.stderr.write('kernelscope demo: this build of kernelscope has no ks.explain()\n')
    return 1
  }
  if (process.env.UV_THREADPOOL_SIZE !== POOL_ENV) return reexec(argv)

  const bot = require('./demo/bot')
  const { render } = require('./demo/render')
  process.stderr.write('kernelscope demo: starting local services (a listener, an HTTP upstream, a stalled peer, FIFOs)…\n')
  const result = await bot.run(ks, { onProgress: progress(process.stderr) })
  if (opts.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
  } else {
    process.stdout.write(render(result))
  }
  return 0
}

module.exports = { summary, usage, main }
