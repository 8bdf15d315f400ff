#!/usr/bin/env node
// Builds the native addon from source (release) with the napi-rs CLI, writing the loader to
// native.js. `--if-missing` (the npm install hook) skips the build when a binary for this
// platform already loads, so prebuilt packages install without a Rust toolchain.
'use strict'
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

function loads () {
  try {
    require(path.join(root, 'native.js'))
    return true
  } catch {
    return false
  }
}

if (process.argv.includes('--if-missing') && loads()) {
  console.log('kernelscope: native addon present, skipping build')
  process.exit(0)
}

const cli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
if (!require('node:fs').existsSync(cli)) {
  console.error('kernelscope: no prebuilt binary for this platform and @napi-rs/cli is not installed;\n' +
    '  install it (npm i -D @napi-rs/cli) and a Rust toolchain (https://rustup.rs), then run `npm run build`.\n' +
    '  Without the addon, require(\'kernelscope\') still loads with ks.supported === false.')
  process.exit(process.argv.includes('--if-missing') ? 0 : 1)
}
const args = [cli, 'build', '--platform', '--release', '--js', 'native.js', '--dts', 'native.d.ts']
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
if (r.status !== 0) {
  console.error('kernelscope: native build failed (exit ' + r.status + '); see the cargo output above')
  process.exit(r.status || 1)
}
