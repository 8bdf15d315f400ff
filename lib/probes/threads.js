'use strict'
// threads(): every thread with its role, state, CPU, switches and the syscall it sits in.
// Synchronous on purpose: it must answer while the libuv threadpool is saturated, which is
// exactly when it is needed.

const { native, call } = require('../native')
const { optionsObject, optionalBoolean, optionalInteger } = require('../validate')

function flagValue (args, name) {
  let value
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === name && i + 1 < args.length) value = args[i + 1]
    else if (a.startsWith(name + '=')) value = a.slice(name.length + 1)
  }
  return value
}

// What Node started at boot, read once: role inference on Node 20 (where every thread is
// called "node") depends on it.
function roleHints () {
  const args = [...(process.env.NODE_OPTIONS || '').split(/\s+/).filter(Boolean), ...process.execArgv]
  const os = require('node:os')
  let v8 = Number.parseInt(flagValue(args, '--v8-pool-size') ?? '4', 10)
  if (!Number.isFinite(v8) || v8 < 0) v8 = 4
  if (v8 === 0) v8 = Math.max(1, (os.availableParallelism ? os.availableParallelism() : os.cpus().length) - 1)
  let pool = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '4', 10)
  if (!Number.isFinite(pool)) pool = 4
  pool = Math.min(1024, Math.max(1, pool))
  return {
    nodeMajor: Number.parseInt(process.versions.node, 10),
    v8PoolSize: v8,
    inspector: Boolean(process.features && process.features.inspector),
    threadpoolSize: pool
  }
}

let hints = null

const NAMED = /^(libuv-worker|V8Worker|DelayedTaskSche|SignalInspector|WorkerThread)/

// Another process: whether it is Node (its executable or argv[0]), and then its pool sizes
// from its NODE_OPTIONS, command line and UV_THREADPOOL_SIZE, and whether its Node names its
// threads (>= 22). nodeMajor 0 tells the addon it is not Node: roles are main / other.
function hintsFor (pid) {
  let info = null
  try {
    info = native().processInfo(pid)
  } catch {}
  const base = (s) => (s || '').split('/').pop()
  const isNode = info !== null && [base(info.exe), base(info.cmdline[0])].some((n) => /^node(js)?(\d+)?$/.test(n))
  if (!isNode) return { nodeMajor: 0, v8PoolSize: 0, inspector: false, threadpoolSize: 0 }
  let named = false
  try {
    const fs = require('node:fs')
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      if (NAMED.test(fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1'))) { named = true; break }
    }
  } catch {}
  const args = [...(info.nodeOptions || '').split(/\s+/).filter(Boolean), ...info.cmdline.slice(1)]
  let v8 = Number.parseInt(flagValue(args, '--v8-pool-size') ?? '4', 10)
  if (!Number.isFinite(v8) || v8 < 0) v8 = 4
  let pool = Number.parseInt(info.uvThreadpoolSize ?? '4', 10)
  if (!Number.isFinite(pool)) pool = 4
  return { nodeMajor: named ? 22 : 20, v8PoolSize: v8, inspector: true, threadpoolSize: Math.min(1024, Math.max(1, pool)) }
}

function threads (options) {
  const opts = optionsObject(options)
  const syscalls = optionalBoolean(opts, 'syscalls', true)
  const pid = optionalInteger(opts, 'pid', undefined, 1, 0x7fffffff)
  if (pid !== undefined && pid !== process.pid) {
    return call(native().threads, { syscalls, pid, hints: hintsFor(pid) })
  }
  if (hints === null) hints = roleHints()
  return call(native().threads, { syscalls, hints })
}

module.exports = { threads, roleHints }
