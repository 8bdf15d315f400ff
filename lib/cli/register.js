'use strict'
// What `kernelscope run` preloads into every Node.js process of the command (NODE_OPTIONS=
// --require kernelscope/register): on the main thread, once per process, a Recorder samples the
// loop, threads and descriptors and keeps the explained operations; the process's record is
// written when it exits, or on SIGINT/SIGTERM. Under `run` the record goes to
// $KERNELSCOPE_RUN_DIR/<pid>.json, which `run` assembles into one report; preloaded by hand with
// KERNELSCOPE_REPORT=out.html|out.json, the process writes a report of its own.

const { isMainThread } = require('node:worker_threads')

const KEY = Symbol.for('kernelscope.register')
// The channel explain() publishes each finished report on (lib/attribution): a publish with no
// subscriber costs ~nothing, and the recorder needs no hold on attribution's internals.
const REPORT_CHANNEL = 'kernelscope:report'

function envInt (name, fallback) {
  const v = Number.parseInt(process.env[name] || '', 10)
  return Number.isFinite(v) && v >= 0 ? v : fallback
}

function start () {
  const fs = require('node:fs')
  const path = require('node:path')
  const dc = require('node:diagnostics_channel')
  const { Recorder, DEFAULTS } = require('../report/recorder')
  const runDir = process.env.KERNELSCOPE_RUN_DIR || null
  const ownReport = runDir === null ? process.env.KERNELSCOPE_REPORT || null : null
  if (runDir === null && ownReport === null) return null
  const limits = {
    intervalMs: Math.max(10, envInt('KERNELSCOPE_INTERVAL_MS', DEFAULTS.intervalMs)),
    maxSamples: Math.max(1, envInt('KERNELSCOPE_MAX_SAMPLES', DEFAULTS.maxSamples)),
    maxOperations: envInt('KERNELSCOPE_MAX_OPERATIONS', DEFAULTS.maxOperations)
  }
  const recorder = new Recorder(limits)
  recorder.start()
  const onReport = (msg) => {
    try {
      recorder.operation(msg && msg.report ? msg.report : msg)
    } catch {}
  }
  dc.subscribe(REPORT_CHANNEL, onReport)

  function write (end) {
    const record = recorder.snapshot(end)
    try {
      if (runDir !== null) {
        const file = path.join(runDir, `${process.pid}.json`)
        const tmp = `${file}.${process.pid}.tmp`
        fs.writeFileSync(tmp, JSON.stringify(record))
        fs.renameSync(tmp, file)
      } else {
        const { assemble, renderHtml } = require('../report')
        const doc = assemble({ processes: [record], limits, exit: null, notes: ['written by the process itself (kernelscope/register with KERNELSCOPE_REPORT)'] })
        fs.writeFileSync(ownReport, ownReport.endsWith('.json') ? JSON.stringify(doc, null, 1) + '\n' : renderHtml(doc))
      }
    } catch (err) {
      try { process.stderr.write(`kernelscope: could not write the report of pid ${process.pid}: ${err.message}\n`) } catch {}
    }
  }

  let done = false
  process.on('exit', (code) => {
    if (done) return
    done = true
    write({ reason: 'exit', exitCode: code })
    recorder.close()
  })
  for (const sig of ['SIGINT', 'SIGTERM']) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) {
        // The program handles the signal itself: record now (it may never exit cleanly) and
        // leave the rest to it; its 'exit', if it comes, records again.
        write({ reason: 'signal', signal: sig })
        return
      }
      done = true
      write({ reason: 'signal', signal: sig })
      recorder.close()
      // Die of the signal, as the program would have without us.
      process.removeListener(sig, onSignal)
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
  return recorder
}

if (isMainThread && globalThis[KEY] === undefined) {
  globalThis[KEY] = null
  try {
    globalThis[KEY] = start()
  } catch (err) {
    try { process.stderr.write(`kernelscope: not recording pid ${process.pid}: ${err.message}\n`) } catch {}
  }
}

module.exports = { REPORT_CHANNEL }
