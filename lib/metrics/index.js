'use strict'
// lib/metrics: the catalog and the shared per-scrape snapshot, for the exporters above.

const { METRICS, DEFAULT_BUCKETS } = require('./catalog')
const { Snapshotter, refusedByKernel } = require('./snapshot')
const { monitorLoop, checkBounds } = require('../probes/loop')

/**
 * What an exporter needs: the snapshotter and whether it owns the loop monitor. `monitor`:
 * a LoopMonitor of the caller's (kept open), false (no loop metrics) or undefined (one is
 * made for this exporter and closed with it).
 */
function createSource (monitor, buckets, name = 'options') {
  const bounds = buckets === undefined ? DEFAULT_BUCKETS : checkBounds(buckets, `${name}.buckets`)
  let own = false
  let m = null
  if (monitor === undefined) {
    m = monitorLoop({ historySize: 1 })
    own = true
  } else if (monitor !== false) {
    m = monitor
  }
  const snap = new Snapshotter(m, Object.freeze(Array.from(bounds)))
  return {
    snap,
    close () {
      if (own && m !== null) m.close()
    }
  }
}

module.exports = { METRICS, DEFAULT_BUCKETS, createSource, refusedByKernel }
