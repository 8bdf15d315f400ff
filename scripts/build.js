#!/usr/bin/env node
// Builds the native addon from source (release) and puts it where the loader (native.js) looks
// first: ./kernelscope.<platform>.node, e.g. kernelscope.linux-x64-gnu.node.
//
//   node scripts/build.js               a build (`npm run build`)
//   node scripts/build.js --if-missing  the npm install hook (and pretest, prepack): nothing when
//                                        a binary for this platform already loads (a prebuilt
//                                        kernelscope-<platform> package, or an earlier build).
//                                        Without cargo it prints what to install and exits 0:
//                                        require('kernelscope') then loads with
//                                        ks.supported === false and the same advice.
//
// In a clone (@napi-rs/cli installed as a devDependency) the build goes through the CLI, which
// also writes the loader native.js and native.d.ts; in an installed package (no CLI, native.js
// shipped in the tarball) it calls cargo directly.
//
// The installed package has no @napi-rs/cli (a devDependency), so the install-time build calls
// cargo itself and copies the cdylib to the loader's file name. It downloads nothing but what
// cargo fetches for any Rust build (the crates in Cargo.lock, from crates.io or cargo's cache).
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const ifMissing = process.argv.includes('--if-missing')

/** The napi-rs platform name of this machine, as native.js and the npm/<name> packages use it. */
function platformName () {
  const arch = process.arch
  if (process.platform !== 'linux') return `${process.platform}-${arch}`
  // glibc reports its version in the process report; musl does not (what the loader checks too)
  const header = process.report && process.report.getReport().header
  const musl = header ? !header.glibcVersionRuntime : false
  return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
}

function loads () {
  try {
    require(path.join(root, 'native.js'))
    return true
  } catch {
    return false
  }
}

function fail (message, code = 1) {
  console.error(`kernelscope: ${message}`)
  process.exit(ifMissing ? 0 : code)
}

const nodeFile = path.join(root, `kernelscope.${platformName()}.node`)

if (ifMissing && loads()) {
  console.log('kernelscope: native addon present, skipping build')
  process.exit(0)
}
if (process.platform !== 'linux') {
  fail(`kernelscope reads Linux /proc and needs Linux; nothing to build on ${process.platform}`)
}

const cli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
if (fs.existsSync(cli)) {
  const args = [cli, 'build', '--platform', '--release', '--js', 'native.js', '--dts', 'native.d.ts']
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) fail(`native build failed (exit ${r.status}); see the cargo output above`, r.status || 1)
  process.exit(0)
}

const cargo = process.env.CARGO || 'cargo'
if (spawnSync(cargo, ['--version'], { stdio: 'ignore' }).status !== 0) {
  fail(`no prebuilt binary for ${platformName()} (the optional package kernelscope-${platformName()} is not installed)\n` +
    '  and no Rust toolchain to build one: install one with cargo (https://rustup.rs), then run\n' +
    '  `npm rebuild kernelscope` (in a clone of the repository: `npm run build`).\n' +
    '  Until then require(\'kernelscope\') loads with ks.supported === false.')
}
if (!fs.existsSync(path.join(root, 'native.js'))) {
  fail('native.js (the loader the napi-rs CLI writes) is missing: in a clone, `npm install` ' +
    'installs @napi-rs/cli and `npm run build` writes it')
}

// an install into node_modules builds in its own target dir and removes it afterwards (hundreds
// of MB of intermediate files); a clone keeps target/ for incremental builds
const installed = root.split(path.sep).includes('node_modules')
const ownTarget = installed && !process.env.CARGO_TARGET_DIR
console.log(`kernelscope: building the native addon from source with cargo (release, ${platformName()})`)
const r = spawnSync(cargo, ['build', '--release', '--locked', '--lib', '--message-format=json-render-diagnostics'],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
if (r.status !== 0) fail(`cargo build failed (exit ${r.status}); see the output above`, r.status || 1)
let lib = null
for (const line of r.stdout.split('\n')) {
  if (!line.startsWith('{')) continue
  let msg
  try { msg = JSON.parse(line) } catch { continue }
  if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'kernelscope' &&
    msg.target.kind.includes('cdylib')) {
    lib = msg.filenames.find((f) => f.endsWith('.so')) || lib
  }
}
if (lib === null) fail('cargo reported no cdylib for kernelscope')
fs.copyFileSync(lib, nodeFile)
if (ownTarget) fs.rmSync(path.join(root, 'target'), { recursive: true, force: true })
console.log(`kernelscope: built ${path.basename(nodeFile)}`)
if (!loads()) fail(`the freshly built ${path.basename(nodeFile)} does not load`)
