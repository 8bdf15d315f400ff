'use strict'
// The type declarations cover the package: every export of require('kernelscope') is declared
// in index.d.ts, re-exported by index.mjs (and so typed by index.d.mts), and used in the type
// test (__test__/types/index.test-d.ts, compiled with tsc --strict by `npm run lint`).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const read = (f) => fs.readFileSync(path.join(root, f), 'utf8')

test('every export is declared in index.d.ts and used by the type test', () => {
  const names = Object.keys(require('..'))
  assert.ok(names.length > 10)
  const dts = read('index.d.ts')
  const typeTest = read('__test__/types/index.test-d.ts')
  const used = new Set(typeTest.match(/[A-Za-z_$][\w$]*/g))
  for (const name of names) {
    assert.match(dts, new RegExp(`^export (declare )?(function|const|class|let) ${name}\\b`, 'm'), `index.d.ts declares ${name}`)
    assert.ok(used.has(name), `__test__/types/index.test-d.ts uses ${name}`)
  }
})

test('the package maps import and require to their own declarations', () => {
  const pkg = JSON.parse(read('package.json'))
  const dot = pkg.exports['.']
  assert.equal(dot.import.types, './index.d.mts')
  assert.equal(dot.require.types, './index.d.ts')
  for (const f of [dot.import.types, dot.require.types, dot.import.default, dot.require.default]) {
    assert.ok(fs.existsSync(path.join(root, f)), f)
    assert.ok(pkg.files.includes(f.slice(2)), `${f} is packed`)
  }
})
