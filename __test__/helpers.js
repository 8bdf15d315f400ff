'use strict'
// Shared test helpers: independent readings of the kernel's own files, and small fixtures.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

/** "key: value" fields of a /proc file, as numbers where they parse. */
function procFields (file) {
  const out = {}
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([^:]+):\s*(\S+)/.exec(line)
    if (m) out[m[1]] = Number.isNaN(Number(m[2])) ? m[2] : Number(m[2])
  }
  return out
}

function tmpdir (prefix = 'kernelscope-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

function mkfifo (dir, name = 'test.fifo') {
  const p = path.join(dir, name)
  execFileSync('mkfifo', [p])
  return p
}

function hasTool (name) {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls fn() until it returns a truthy value or timeoutMs passes; returns the last value. */
async function until (fn, timeoutMs = 3000, everyMs = 20) {
  const end = Date.now() + timeoutMs
  let v
  while (!(v = fn()) && Date.now() < end) await sleep(everyMs)
  return v
}

function busy (ms) {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6))
  let x = 0
  while (process.hrtime.bigint() < end) x++
  return x
}

module.exports = { procFields, tmpdir, mkfifo, hasTool, sleep, until, busy }
