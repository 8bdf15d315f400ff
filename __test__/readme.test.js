'use strict'
// Every README code block runs as written: each ```js block runs with node (kernelscope
// resolved the way a user's require/import resolves it: the package's own name and exports);
// the Quick start's ```js block type-checks under tsc --strict --checkJs against index.d.ts and
// each ```ts block under tsc --strict; each
// command of the ```sh block is what .ci/run runs, verbatim. Untagged blocks are program output
// or command-line synopses, not code.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')

function blocks (lang) {
  const out = []
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm
  let m
  while ((m = re.exec(readme)) !== null) {
    if (m[1] === lang) {
      const before = readme.slice(0, m.index)
      const heading = (before.match(/^## .*$/gm) || ['']).pop()
      out.push({ code: m[2], line: before.split('\n').length, heading })
    }
  }
  return out
}

// inside the package folder, so `require('kernelscope')` / `import 'kernelscope'` resolve
// through package.json "exports" as they do for a user (a gitignored folder)
function scratch (t) {
  fs.mkdirSync(path.join(root, '.cache'), { recursive: true })
  const dir = fs.mkdtempSync(path.join(root, '.cache', 'readme-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function tsc (dir, files, extra) {
  const bin = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  return spawnSync(process.execPath, [bin, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--types', 'node', '--skipLibCheck', ...extra, ...files], { cwd: dir, encoding: 'utf8', timeout: 120000 })
}

const hasTsc = fs.existsSync(path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'))

test('every ```js block of the README runs with node and exits 0', async (t) => {
  const js = blocks('js')
  assert.ok(js.length >= 2, 'the Quick start and the exporters')
  const dir = scratch(t)
  for (const [i, b] of js.entries()) {
    const file = path.join(dir, `block${i}.js`)
    fs.writeFileSync(file, b.code)
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 30000 })
    assert.equal(r.status, 0, `README.md:${b.line} exits ${r.status} (${r.signal}):\n${r.stderr}`)
  }
})

test('the Quick start type-checks (checkJs) and the ```ts block compiles under tsc --strict', { skip: !hasTsc && 'typescript is not installed (a devDependency)' }, async (t) => {
  const dir = scratch(t)
  const quick = blocks('js').filter((b) => b.heading === '## Quick start')
  assert.equal(quick.length, 1, 'one js block in the Quick start')
  const js = quick.map((b, i) => {
    const file = path.join(dir, `block${i}.js`)
    fs.writeFileSync(file, '// @ts-check\n' + b.code)
    return file
  })
  const ts = blocks('ts')
  assert.ok(ts.length >= 1, 'the README has a TypeScript block')
  // .mts: an ES module as a user's `import * as ks from 'kernelscope'` file would be
  const tsFiles = ts.map((b, i) => {
    const file = path.join(dir, `block${i}.mts`)
    fs.writeFileSync(file, b.code)
    return file
  })
  const r = tsc(dir, [...js, ...tsFiles], ['--allowJs', '--checkJs'])
  assert.equal(r.status, 0, `tsc --strict:\n${r.stdout}${r.stderr}`)
  // and the check can fail: the old Quick start line (cpuPercent may be null) does not compile
  const bad = path.join(dir, 'bad.mts')
  fs.writeFileSync(bad, "import * as ks from 'kernelscope'\nconsole.log(ks.createSampler().delta().cpuPercent.toFixed(1))\n")
  const rb = tsc(dir, [bad], [])
  assert.notEqual(rb.status, 0)
  assert.match(rb.stdout, /possibly 'null'/)
})

test('the README\'s install and test commands are what .ci/run runs, verbatim', () => {
  const sh = blocks('sh')
  assert.ok(sh.length >= 1)
  const ci = fs.readFileSync(path.join(root, '.ci', 'run'), 'utf8').split('\n').map((l) => l.trim())
  for (const b of sh) {
    for (const line of b.code.split('\n')) {
      const cmd = line.replace(/\s+#.*$/, '').trim()
      if (cmd === '') continue
      assert.ok(ci.includes(cmd), `.ci/run runs \`${cmd}\` (README.md:${b.line})`)
    }
  }
})
