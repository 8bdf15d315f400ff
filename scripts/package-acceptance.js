#!/usr/bin/env node
// The package as a user gets it, installed into brand-new folders outside the repository:
//   1. `npm install kernelscope-<v>.tgz kernelscope-<platform>-<v>.tgz` (the two tarballs
//      `npm pack` makes, as the registry would serve them): require() and import work, and cargo
//      is never invoked (a `cargo` on PATH that records any call and fails);
//   2. the main tarball alone: the install builds from source with cargo, require/import work;
//   3. the main tarball alone with no cargo on PATH: the install exits 0, ks.supported is false
//      and ks.unsupportedReason names what to install.
// Slow (case 2 is a clean release build): `.ci/run` runs it once; `npm run test:package`.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const assert = require('node:assert/strict')

const root = path.join(__dirname, '..')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-package-'))
const keep = process.argv.includes('--keep')

function run (cmd, args, opts = {}) {
  const t0 = Date.now()
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60 * 1000, ...opts })
  r.ms = Date.now() - t0
  return r
}

function check (r, what) {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`)
  return r
}

/** A PATH without any directory that holds a `cargo`, plus `extra` first. */
function pathWithoutCargo (extra = []) {
  const dirs = process.env.PATH.split(path.delimiter).filter((d) => d && !fs.existsSync(path.join(d, 'cargo')))
  return [...extra, path.dirname(process.execPath), ...dirs].join(path.delimiter)
}

function freshProject (name) {
  const dir = path.join(work, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `acceptance-${name}`, version: '1.0.0', private: true }))
  return dir
}

const probe = `
  const ks = require('kernelscope')
  const out = { supported: ks.supported, reason: ks.unsupportedReason }
  if (ks.supported) {
    const s = ks.sample()
    out.pid = s.pid === process.pid
    out.threads = ks.threads().some((t) => t.role === 'main')
    out.fds = ks.fdsSync().length > 2
  }
  console.log(JSON.stringify(out))`
const esmProbe = `
  import * as ks from 'kernelscope'
  import def from 'kernelscope'
  console.log(JSON.stringify({ supported: ks.supported, same: def.sample === ks.sample, pid: ks.supported ? ks.sample().pid === process.pid : null }))`

function probeIn (dir, env) {
  const cjs = JSON.parse(check(run(process.execPath, ['-e', probe], { cwd: dir, env }), 'require(\'kernelscope\')').stdout)
  const esm = JSON.parse(check(run(process.execPath, ['--input-type=module', '-e', esmProbe], { cwd: dir, env }), 'import kernelscope').stdout)
  return { cjs, esm }
}

const npmInstall = ['install', '--no-audit', '--no-fund', '--no-package-lock']
const results = []
try {
  // the two tarballs, as `npm pack` makes them
  const packs = path.join(work, 'packs')
  const a = check(run(process.execPath, [path.join(__dirname, 'artifacts.js'), '--pack', packs], { cwd: root }), 'artifacts --pack')
  const [mainTgz, platformTgz] = a.stdout.trim().split('\n').slice(-2)
  assert.ok(fs.existsSync(mainTgz) && fs.existsSync(platformTgz), `tarballs ${mainTgz} ${platformTgz}`)
  const listing = check(run('tar', ['-tzf', mainTgz]), 'tar -t').stdout.split('\n')
  for (const f of ['package/native.js', 'package/Cargo.toml', 'package/Cargo.lock', 'package/build.rs', 'package/src/lib.rs', 'package/scripts/build.js', 'package/LICENSE']) {
    assert.ok(listing.includes(f), `the main tarball carries ${f}`)
  }
  assert.deepEqual(listing.filter((f) => /\.node$|^package\/(__test__|bench|target|npm|examples)\//.test(f)), [], 'no binary, test, bench or build output')

  // 1. main + platform package: a cargo that records any call and fails
  {
    const shim = path.join(work, 'shim')
    fs.mkdirSync(shim)
    const marker = path.join(work, 'cargo-was-called')
    fs.writeFileSync(path.join(shim, 'cargo'), `#!/bin/sh\necho "$@" >> '${marker}'\nexit 101\n`, { mode: 0o755 })
    const env = { ...process.env, PATH: pathWithoutCargo([shim]) }
    const dir = freshProject('prebuilt')
    const r = check(run('npm', [...npmInstall, mainTgz, platformTgz], { cwd: dir, env }), 'npm install main + platform tarballs')
    assert.equal(fs.existsSync(marker), false, `cargo was invoked: ${fs.existsSync(marker) && fs.readFileSync(marker, 'utf8')}`)
    const p = probeIn(dir, env)
    assert.deepEqual(p.cjs, { supported: true, reason: null, pid: true, threads: true, fds: true })
    assert.deepEqual(p.esm, { supported: true, same: true, pid: true })
    const pkgDir = path.join(dir, 'node_modules', 'kernelscope')
    assert.deepEqual(fs.readdirSync(pkgDir).filter((f) => f.endsWith('.node')), [], 'the binary comes from the platform package')
    // the command as npm links it (node_modules/.bin/kernelscope, a link to the package's bin
    // file, which finds node on PATH)
    const bin = path.join(dir, 'node_modules', '.bin', 'kernelscope')
    const cmdEnv = { ...env, PATH: `${path.dirname(process.execPath)}:${env.PATH}` }
    const inspect = check(run(bin, ['inspect', String(process.pid), '--json'], { cwd: dir, env: cmdEnv }), 'node_modules/.bin/kernelscope inspect')
    assert.equal(JSON.parse(inspect.stdout).process.pid, process.pid)
    results.push(`prebuilt: npm install main + ${path.basename(platformTgz)} in ${(r.ms / 1000).toFixed(1)} s, cargo not invoked, require + import work, node_modules/.bin/kernelscope inspect works`)
  }

  // 2. main tarball alone, cargo on PATH: built at install
  {
    const dir = freshProject('source')
    const env = { ...process.env }
    delete env.CARGO_TARGET_DIR // the package builds in its own target dir and removes it
    const r = check(run('npm', [...npmInstall, '--foreground-scripts', mainTgz], { cwd: dir, env }), 'npm install main tarball (source build)')
    assert.match(r.stdout + r.stderr, /building the native addon from source with cargo/)
    const pkgDir = path.join(dir, 'node_modules', 'kernelscope')
    const built = fs.readdirSync(pkgDir).filter((f) => f.endsWith('.node'))
    assert.equal(built.length, 1, `one built binary: ${built}`)
    assert.equal(fs.existsSync(path.join(pkgDir, 'target')), false, 'the build directory is removed')
    const p = probeIn(dir, env)
    assert.deepEqual(p.cjs, { supported: true, reason: null, pid: true, threads: true, fds: true })
    assert.deepEqual(p.esm, { supported: true, same: true, pid: true })
    results.push(`source: npm install main tarball alone built ${built[0]} with cargo in ${(r.ms / 1000).toFixed(1)} s, require + import work`)
  }

  // 3. main tarball alone, no cargo anywhere on PATH
  {
    const env = { ...process.env, PATH: pathWithoutCargo() }
    assert.notEqual(run('sh', ['-c', 'command -v cargo'], { env }).status, 0, 'cargo is off PATH')
    const dir = freshProject('nocargo')
    const r = check(run('npm', [...npmInstall, '--foreground-scripts', mainTgz], { cwd: dir, env }), 'npm install without cargo')
    assert.match(r.stdout + r.stderr, /install one with cargo \(https:\/\/rustup\.rs\)/)
    const p = probeIn(dir, env)
    assert.equal(p.cjs.supported, false)
    assert.match(p.cjs.reason, /kernelscope-linux-\w+-(gnu|musl) is installed/)
    assert.match(p.cjs.reason, /install a Rust toolchain with cargo \(https:\/\/rustup\.rs\) and run `npm rebuild kernelscope`/)
    assert.equal(p.esm.supported, false)
    results.push(`no cargo: install exit 0 in ${(r.ms / 1000).toFixed(1)} s, supported === false, reason: ${p.cjs.reason}`)
  }
  for (const line of results) console.log(`package-acceptance: ok ${line}`)
} catch (err) {
  for (const line of results) console.log(`package-acceptance: ok ${line}`)
  console.error(`package-acceptance: FAILED (work dir kept: ${work})\n${err.stack}`)
  process.exit(1)
}
if (!keep) fs.rmSync(work, { recursive: true, force: true })
