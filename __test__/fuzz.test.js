'use strict'
// Hostile input to every export (discovered, not listed): run in a child process so a crash is a
// failure of this test, not the death of the runner. See fixtures/fuzz-child.js.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')

test('every export returns or throws a coded Error for hostile arguments', { timeout: 90000 }, async () => {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'fuzz-child.js')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { err += d })
  const killer = setTimeout(() => child.kill('SIGKILL'), 80000)
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  const lines = out.split('\n').filter(Boolean)
  const done = lines.find((l) => l.startsWith('DONE '))
  const failures = done ? JSON.parse(done.slice(5)) : null
  const last = lines.filter((l) => l.startsWith('CALL ')).pop()
  assert.ok(lines.length > 500, `only ${lines.length} calls made`)
  assert.ok(done, `child died (code ${code}, signal ${signal}) during: ${last}\n${err.slice(-2000)}`)
  assert.deepEqual(failures, [], `uncoded errors:\n${failures.map((f) => `${f.name}(${(f.args || []).join(', ')}): ${f.error}`).join('\n')}`)
  assert.equal(code, 0, err.slice(-2000))
})
