'use strict'
// What inspect and top share: argument parsing, the exit codes, errors turned into one clear
// line on stderr, and the reading of another process (its /proc, nothing injected).

const { processInfo } = require('../probes/process')
const { threads } = require('../probes/threads')
const { fdsSync, fdsJsonSync } = require('../probes/fds')

const EXIT = Object.freeze({ OK: 0, USAGE: 2, NO_ACCESS: 3 })

class UsageError extends Error {}

/**
 * Splits argv into flags and positionals. `spec`: { name: 'boolean' | 'number' }. Unknown
 * flags and malformed values throw UsageError.
 */
function parseArgs (argv, spec) {
  const flags = {}
  const positionals = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break }
    if (a.startsWith('-') && a !== '-' && !/^-\d/.test(a)) {
      const eq = a.indexOf('=')
      const name = (eq === -1 ? a : a.slice(0, eq)).replace(/^--?/, '')
      const key = name === 'h' ? 'help' : name
      const type = spec[key]
      if (type === undefined) throw new UsageError(`unknown option '${a}'`)
      if (type === 'boolean') {
        if (eq !== -1) throw new UsageError(`option '--${key}' takes no value`)
        flags[key] = true
      } else {
        const raw = eq !== -1 ? a.slice(eq + 1) : argv[++i]
        if (raw === undefined || !/^\d+(\.\d+)?$/.test(raw)) throw new UsageError(`option '--${key}' needs a number`)
        flags[key] = Number(raw)
      }
      continue
    }
    positionals.push(a)
  }
  return { flags, positionals }
}

function parsePid (s) {
  if (s === undefined) throw new UsageError('missing <pid>')
  if (!/^[1-9]\d{0,9}$/.test(s) || Number(s) > 0x7fffffff) throw new UsageError(`'${s}' is not a process id (a positive integer)`)
  return Number(s)
}

/** The exit code and message for an error while reading pid; rethrows what is not ours. */
function failure (cmd, pid, err) {
  const code = err && err.code
  if (code === 'ENOENT' || code === 'ESRCH') return { exit: EXIT.NO_ACCESS, message: `kernelscope ${cmd}: no such process: ${pid}` }
  if (code === 'EACCES' || code === 'EPERM') {
    return {
      exit: EXIT.NO_ACCESS,
      message: `kernelscope ${cmd}: permission denied reading /proc/${pid} (${err.syscall || 'open'} ${code}): ` +
        'run as the same user as the process, or as root'
    }
  }
  throw err
}

/** Another process's inspection: process, threads (with syscalls), descriptors (with sockets). */
function readProcess (pid) {
  const info = processInfo(pid)
  const fds = fdsSync({ pid, sockets: true })
  const ths = threads({ pid, syscalls: true })
  const byInode = new Map()
  for (const e of fds) if (e.socket && e.inode !== null) byInode.set(e.inode, e.socket)
  describeSocketTargets(ths, (inode) => byInode.get(inode))
  return { info, threads: ths, fds }
}

/**
 * readProcess() for --json: the same reads in the same order, the descriptors as
 * { count, byType, json } (their entries already JSON text, see fdsJsonSync).
 */
function readProcessJson (pid) {
  const info = processInfo(pid)
  const fds = fdsJsonSync({ pid, sockets: true })
  const ths = threads({ pid, syscalls: true })
  describeSocketTargets(ths, fds.socketOf)
  return { info, threads: ths, fds }
}

// a thread's 'socket:[inode]' target is made readable by the socket tables
function describeSocketTargets (ths, socketOf) {
  for (const t of ths) {
    const target = t.syscall && t.syscall.target
    const m = target && /^socket:\[(\d+)\]$/.exec(target)
    const s = m && socketOf(Number(m[1]))
    if (s) t.syscall.target = `${target} ${socketText(s)}`
  }
}

function endpoint (addr, port) {
  if (addr === null) return null
  if (port === null) return addr
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`
}

function socketText (s) {
  const local = endpoint(s.localAddress, s.localPort)
  if (s.state === 'listen') return `listening ${local}`
  const peer = s.family === 'unix' ? s.remoteAddress : (s.remotePort ? endpoint(s.remoteAddress, s.remotePort) : null)
  return peer ? `${local || '(unnamed)'} -> ${peer}` : `${local || '(unnamed)'} ${s.state}`
}

function countByType (fds) {
  const out = {}
  for (const e of fds) out[e.type] = (out[e.type] || 0) + 1
  return out
}

function bytes (n) {
  if (n === null || n === undefined) return '-'
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? n : n.toFixed(1)}${u[i]}`
}

/** Fits text to `width` columns, marking a cut with '…'. */
function fit (s, width) {
  s = String(s === null || s === undefined ? '-' : s).replace(/[\x00-\x1f\x7f]/g, '?') // eslint-disable-line no-control-regex
  return s.length <= width ? s : (width <= 1 ? s.slice(0, width) : s.slice(0, width - 1) + '…')
}

/** Rows of cells as aligned columns within `width`: the last column takes what is left. */
function table (header, rows, width, fixed) {
  const n = header.length
  const w = new Array(n).fill(0)
  for (const r of [header, ...rows]) for (let i = 0; i < n - 1; i++) w[i] = Math.min(fixed[i], Math.max(w[i], String(r[i] === null || r[i] === undefined ? '-' : r[i]).length))
  const used = w.slice(0, n - 1).reduce((a, b) => a + b + 1, 0)
  w[n - 1] = Math.max(4, width - used)
  return [header, ...rows].map((r) => r.map((c, i) => i === n - 1 ? fit(c, w[i]) : fit(c, w[i]).padEnd(w[i])).join(' ').trimEnd())
}

function ms (n) {
  if (n === null || n === undefined) return '-'
  if (n < 1000) return `${Math.round(n)}ms`
  return `${(n / 1000).toFixed(1)}s`
}

function duration (s) {
  if (s === null || s === undefined) return '-'
  if (s < 60) return `${Math.round(s)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`
}

module.exports = { EXIT, UsageError, parseArgs, parsePid, failure, readProcess, readProcessJson, socketText, endpoint, countByType, bytes, fit, table, ms, duration }
