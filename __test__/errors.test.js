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

test('a KERNELSCOPE_SOCKDIAG typo is a coded error from fds() and fdsSync(), not a silent "auto"', () => {
  const script = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const out = {}
    try { ks.fdsSync(); out.sync = 'returned' } catch (e) { out.sync = [e.code, e.constructor.name, e.message] }
    ks.fds().then(() => { out.async = 'resolved' }, (e) => { out.async = [e.code, e.constructor.name] })
      .then(() => console.log(JSON.stringify(out)))
  `
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: { ...process.env, KERNELSCOPE_SOCKDIAG: 'procnt' }
  })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(out.sync.slice(0, 2), ['ERR_INVALID_ARG_VALUE', 'TypeError'])
  assert.match(out.sync[2], /KERNELSCOPE_SOCKDIAG.*"procnt"/)
  assert.deepEqual(out.async, ['ERR_INVALID_ARG_VALUE', 'TypeError'])
  // the documented values still work
  for (const mode of ['auto', 'procnet', 'off']) {
    const ok = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..'))}).fdsSync()`], {
      encoding: 'utf8',
      env: { ...process.env, KERNELSCOPE_SOCKDIAG: mode }
    })
    assert.equal(ok.status, 0, `${mode}: ${ok.stderr}`)
  }
})
