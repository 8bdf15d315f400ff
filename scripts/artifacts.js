#!/usr/bin/env node
// Builds the host target and puts its binary into its per-platform package
// (npm/<platform>/kernelscope.<platform>.node), the way napi-rs packages ship. Only the host's
// target is built here; the other targets of package.json `napi.targets` are built on machines of
// their own (a CI matrix job per target, each running this script) — never copied or faked.
//
//   node scripts/artifacts.js                 build + copy into npm/<platform>/
//   node scripts/artifacts.js --pack <dir>    also `npm pack` the main package and the host's
//                                             platform package into <dir>; prints both paths
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))

function platformName () {
  const header = process.report && process.report.getReport().header
  return `linux-${process.arch}-${header && !header.glibcVersionRuntime ? 'musl' : 'gnu'}`
}

function run (cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts })
  if (r.status !== 0) {
    console.error(`artifacts: ${cmd} ${args.join(' ')} failed (exit ${r.status})`)
    process.exit(r.status || 1)
  }
  return r
}

if (process.platform !== 'linux') {
  console.error(`artifacts: kernelscope is Linux only; nothing to build on ${process.platform}`)
  process.exit(1)
}
const platform = platformName()
const dir = path.join(root, 'npm', platform)
const platformPkg = path.join(dir, 'package.json')
if (!fs.existsSync(platformPkg)) {
  console.error(`artifacts: ${path.relative(root, dir)} does not exist: ${platform} is not in napi.targets`)
  process.exit(1)
}
if (require(platformPkg).version !== pkg.version || pkg.optionalDependencies[`kernelscope-${platform}`] !== pkg.version) {
  console.error(`artifacts: kernelscope-${platform} must be version ${pkg.version} and listed at it in optionalDependencies`)
  process.exit(1)
}

run(process.execPath, [path.join(__dirname, 'build.js')])
const file = `kernelscope.${platform}.node`
fs.copyFileSync(path.join(root, file), path.join(dir, file))
console.log(`artifacts: ${path.relative(root, path.join(dir, file))}`)

const at = process.argv.indexOf('--pack')
if (at !== -1) {
  const dest = path.resolve(process.argv[at + 1] || '.')
  fs.mkdirSync(dest, { recursive: true })
  const packed = []
  for (const cwd of [root, dir]) {
    const r = run('npm', ['pack', '--json', '--pack-destination', dest], { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
    packed.push(path.join(dest, JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0].filename))
  }
  for (const p of packed) console.log(p)
}
