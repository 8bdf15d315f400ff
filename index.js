'use strict'
// The public entry of kernelscope: a flat list of exports. Native work lives in the addon
// (src/), everything else in lib/, one file per concern.

const { native, supported, loadError } = require('./lib/native')
const { sample, createSampler, Sampler, fdCount, processInfo } = require('./lib/probes/process')
const { threads } = require('./lib/probes/threads')
const { monitorLoop, LoopMonitor } = require('./lib/probes/loop')
const { socketState } = require('./lib/probes/socket')
const { write, watchBackpressure } = require('./lib/probes/backpressure')
const { fds, fdsSync, diffFds, fdSummary } = require('./lib/probes/fds')
const { prometheus } = require('./lib/exporters/prometheus')
const { opentelemetry } = require('./lib/exporters/opentelemetry')
const { explain, attribute } = require('./lib/attribution/explain')
const { middleware } = require('./lib/middleware/http')
const { sentinel } = require('./lib/sentinel')

// Tells threads() which thread hosts a worker_threads environment. Its failure (a bug) only
// makes roles less exact, so it must not break require(): it is reported as a warning.
if (supported) {
  try {
    native().registerThread(require('node:worker_threads').isMainThread)
  } catch (err) {
    process.emitWarning(`kernelscope: this thread's role could not be registered (${err && err.message})`,
      { code: 'KERNELSCOPE_REGISTER_THREAD' })
  }
}

module.exports = {
  supported,
  unsupportedReason: supported ? null : loadError,
  sample,
  createSampler,
  Sampler,
  fdCount,
  processInfo,
  threads,
  monitorLoop,
  LoopMonitor,
  socketState,
  write,
  watchBackpressure,
  fds,
  fdsSync,
  diffFds,
  fdSummary,
  prometheus,
  opentelemetry,
  explain,
  attribute,
  middleware,
  sentinel
}
