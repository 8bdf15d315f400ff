'use strict'
// The report (docs/report.md): a versioned JSON document of one run's Node.js processes
// (assembled from each process's Recorder snapshot), its schema and its HTML rendering.

const { FORMAT, VERSION, SCHEMA, validateReport } = require('./schema')
const { renderHtml } = require('./html')
const { Recorder, DEFAULTS } = require('./recorder')

/** A report document from process records (Recorder#snapshot()), oldest process first. */
function assemble ({ processes, command = null, exit = null, limits = DEFAULTS, notes = [] }) {
  return {
    format: FORMAT,
    version: VERSION,
    createdAt: new Date().toISOString(),
    tool: { name: 'kernelscope', version: require('../../package.json').version },
    command,
    exit,
    limits: { intervalMs: limits.intervalMs, maxSamples: limits.maxSamples, maxOperations: limits.maxOperations },
    processes: processes.slice().sort((a, b) => a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : a.pid - b.pid),
    notes
  }
}

module.exports = { assemble, renderHtml, validateReport, Recorder, FORMAT, VERSION, SCHEMA, DEFAULTS }
