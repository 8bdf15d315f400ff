'use strict'
// Shared test helpers: independent readings of the kernel's own files, and small fixtures.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawn, spawnSync } = require('node:child_process')

/** "key: value" fields of a /proc file, as numbers where they parse. */
function procFields (file) {
  const out = {}
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([^:]+):\s*(\S+)/.exec(line)
    if (m) out[m[1]] = Number.isNaN(Number(m[2])) ? m[2] : Number(m[2])
  }
  return out
}

function tmpdir (prefix = 'kernelscope-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

function mkfifo (dir, name = 'test.fifo') {
  const p = path.join(dir, name)
  execFileSync('mkfifo', [p])
  return p
}

function hasTool (name) {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls fn() until it returns a truthy value or timeoutMs passes; returns the last value. */
async function until (fn, timeoutMs = 3000, everyMs = 20) {
  const end = Date.now() + timeoutMs
  let v
  while (!(v = fn()) && Date.now() < end) await sleep(everyMs)
  return v
}

/**
 * spawn() that records when the child is fully gone: `child.closed` resolves on 'close' (the
 * process reaped AND its stdio socketpairs closed), so cleanup can wait for it.
 */
function spawnChild (...args) {
  const child = spawn(...args)
  child.closed = new Promise((resolve) => child.once('close', resolve))
  child.on('error', () => {}) // a failed spawn also ends in 'close'
  return child
}

/**
 * Waits until a spawnChild('sleep', …) child sits in its sleep system call: past exec, the
 * dynamic loader and setlocale, which open and close descriptors of the child's (a scan of its
 * table before then races with them). True once it does; false after `timeoutMs`.
 */
async function untilSleeping (child, timeoutMs = 10000) {
  // nanosleep, clock_nanosleep: x86-64 35, 230; aarch64 101, 115
  const calls = process.arch === 'arm64' ? ['101', '115'] : ['35', '230']
  return until(() => {
    try {
      return calls.includes(fs.readFileSync(`/proc/${child.pid}/syscall`, 'latin1').split(' ')[0])
    } catch {
      return false
    }
  }, timeoutMs)
}

/** Kills a spawnChild() child (if still running) and waits until it is reaped and its stdio closed. */
async function stopChild (child, signal = 'SIGKILL') {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  await child.closed
}

/** Destroys a socket (net/tls/dgram-like stream) and waits for its 'close'. */
async function destroySocket (s) {
  if (s.closed) return
  const closed = new Promise((resolve) => s.once('close', resolve))
  s.destroy()
  await closed
}

/**
 * Closes a net/http/tls server and waits for its 'close' (emitted once its connections are gone;
 * net.Server emits it again for a server already closed or never listening, so this never hangs).
 */
function closeServer (server) {
  return new Promise((resolve) => server.close(() => resolve()))
}

/** This thread's CPU time in ms, from the kernel (/proc/thread-self/schedstat, ns on a CPU). */
function threadCpuMs () {
  return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
}

/** Spins until this thread has had `ms` of CPU time (not wall time: the machine may be loaded). */
function burnCpu (ms) {
  const start = threadCpuMs()
  let x = 0
  while (threadCpuMs() - start < ms) for (let i = 0; i < 10000; i++) x += i
  return x
}

/**
 * Why the unprivileged user (uid 65534) cannot run `node <file>` here, or null when it can: a
 * checkout or a Node runtime under a 0700 directory (mktemp -d, /root) is out of its reach.
 */
function nobodyCannotRun (file) {
  if (!hasTool('setpriv')) return 'no setpriv'
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e',
    'require("fs").accessSync(process.argv[1], require("fs").constants.R_OK)', file], { encoding: 'utf8' })
  if (r.status === 0) return null
  return `uid 65534 cannot run ${process.execPath} ${file} (a directory above it is not world-searchable)`
}

/**
 * A node binary and bin/kernelscope.js that uid 65534 can run: the originals when it can reach
 * them, else a copy of the package's runtime files (and a link or copy of node) in a directory
 * it may enter (a clone under a 0700 directory, or a cached Node under /root). Removed by the
 * returned remove(). Returns { node, bin, remove } or { skip } with the reason.
 */
function forNobody () {
  if (!hasTool('setpriv')) return { skip: 'no setpriv' }
  const root = path.join(__dirname, '..')
  const bin = path.join(root, 'bin', 'kernelscope.js')
  if (nobodyCannotRun(bin) === null) return { node: process.execPath, bin, remove () {} }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-nobody-'))
  const remove = () => fs.rmSync(dir, { recursive: true, force: true })
  try {
    fs.chmodSync(dir, 0o755)
    const pkg = path.join(dir, 'kernelscope')
    fs.mkdirSync(pkg, { mode: 0o755 })
    for (const name of fs.readdirSync(root)) {
      if (/^(index\.(js|mjs)|native\.js|package\.json|.*\.node)$/.test(name) || name === 'lib' || name === 'bin') {
        fs.cpSync(path.join(root, name), path.join(pkg, name), { recursive: true })
      }
    }
    let node = process.execPath
    const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', node, '-e', '0'])
    if (probe.status !== 0) {
      node = path.join(dir, 'node')
      try { fs.linkSync(process.execPath, node) } catch { fs.copyFileSync(process.execPath, node) }
      fs.chmodSync(node, 0o755)
    }
    spawnSync('chmod', ['-R', 'a+rX', dir])
    const out = { node, bin: path.join(pkg, 'bin', 'kernelscope.js'), remove }
    const check = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', node, out.bin, '--version'], { encoding: 'utf8' })
    if (check.status !== 0) { remove(); return { skip: `uid 65534 cannot run a copy of kernelscope either: ${check.stderr.trim()}` } }
    return out
  } catch (err) {
    remove()
    return { skip: `could not make a copy uid 65534 can run: ${err.message}` }
  }
}

module.exports = { forNobody, nobodyCannotRun, procFields, tmpdir, mkfifo, hasTool, sleep, until, untilSleeping, threadCpuMs, burnCpu, spawnChild, stopChild, destroySocket, closeServer }
