'use strict'
// The error model: ks.supported, ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM when the addon cannot
// load (the loader pointed at a missing binary), Node-style argument errors.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const ks = require('..')

test('the addon loads here', () => {
  assert.equal(ks.supported, true)
  assert.equal(ks.unsupportedReason, null)
})

test('without the binary: require succeeds, supported is false, every call throws a coded error', () => {
  const script = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const out = { supported: ks.supported, reason: ks.unsupportedReason, calls: {} }
    for (const name of ['sample', 'fdCount', 'threads', 'createSampler']) {
      try { ks[name](); out.calls[name] = 'returned' } catch (e) { out.calls[name] = e.code + ' ' + e.constructor.name }
    }
    console.log(JSON.stringify(out))
  `
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, KERNELSCOPE_BINARY: '/nonexistent/kernelscope.node' },
    encoding: 'utf8'
  })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.supported, false)
  assert.match(out.reason, /did not load/)
  for (const name of ['sample', 'fdCount', 'threads', 'createSampler']) {
    assert.equal(out.calls[name], 'ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM Error', name)
  }
})

test('ESM import works without the binary too', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import * as ks from ${JSON.stringify(path.join(__dirname, '..', 'index.mjs'))}; console.log(ks.supported)`], {
    env: { ...process.env, KERNELSCOPE_BINARY: '/nonexistent/kernelscope.node' },
    encoding: 'utf8'
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'false')
})

test('the ESM entry exports exactly what require() does', async () => {
  const esm = await import('kernelscope')
  const named = Object.keys(esm).filter((k) => k !== 'default').sort()
  assert.deepEqual(named, Object.keys(ks).sort())
  for (const k of named) assert.equal(esm[k], ks[k], k)
})
