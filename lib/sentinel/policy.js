'use strict'
// What counts as sensitive, and the allow-lists (hosts, commands, paths), shared by sentinel()
// and `kernelscope audit`. Pure functions over plain values.

const os = require('node:os')
const path = require('node:path')
const net = require('node:net')

// Credentials a dependency has no business reading: exact files under HOME, whole directories,
// and file names wherever they are (.env, .env.local, ...).
const HOME_FILES = ['.npmrc', '.netrc', '.git-credentials', '.pgpass', '.pypirc', '.yarnrc',
  '.yarnrc.yml', '.docker/config.json', '.kube/config', '.config/gh/hosts.yml', '.bash_history']
const HOME_DIRS = ['.ssh', '.aws', '.config/gcloud', '.gnupg', '.azure']
const SYSTEM_FILES = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers']

function sensitivePaths (home = os.homedir()) {
  return {
    files: HOME_FILES.map((f) => path.join(home, f)).concat(SYSTEM_FILES),
    dirs: HOME_DIRS.map((d) => path.join(home, d)),
    names: ['.env'],
    namePrefixes: ['.env.']
  }
}

function isSensitive (abs, s) {
  if (s.files.includes(abs)) return true
  if (s.dirs.some((d) => abs === d || abs.startsWith(d + '/'))) return true
  const name = path.basename(abs)
  return s.names.includes(name) || s.namePrefixes.some((p) => name.startsWith(p))
}

function expandHome (p, home = os.homedir()) {
  if (p === '~') return home
  if (p.startsWith('~/')) return path.join(home, p.slice(2))
  return p
}

// 'H', 'H:port', '[v6]', '[v6]:port', 'a.b.c.d/n', 'v6/n' -> { host, port, subnet }
function parseHost (spec) {
  if (typeof spec !== 'string' || spec.length === 0) return null
  let host = spec
  let port = null
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec)
  if (br) {
    host = br[1]
    port = br[2] ? Number(br[2]) : null
  } else if (!net.isIP(spec) && /^[^:]+:\d+$/.test(spec)) {
    const i = spec.lastIndexOf(':')
    host = spec.slice(0, i)
    port = Number(spec.slice(i + 1))
  }
  if (port !== null && !(port >= 0 && port <= 65535)) return null
  const slash = host.indexOf('/')
  if (slash > 0) {
    const addr = host.slice(0, slash)
    const bits = Number(host.slice(slash + 1))
    const type = net.isIP(addr)
    if (!type || !Number.isInteger(bits) || bits < 0 || bits > (type === 4 ? 32 : 128)) return null
    const list = new net.BlockList()
    list.addSubnet(addr, bits, type === 4 ? 'ipv4' : 'ipv6')
    return { host, port, subnet: list }
  }
  return { host: host.toLowerCase(), port, subnet: null }
}

// rules: parsed hosts; dest: { address, port, host? } (host: the name the caller asked for)
function hostAllowed (rules, dest) {
  for (const r of rules) {
    if (r.port !== null && r.port !== dest.port) continue
    if (r.subnet) {
      const type = net.isIP(dest.address)
      if (type && r.subnet.check(dest.address, type === 4 ? 'ipv4' : 'ipv6')) return true
      continue
    }
    if (r.host === String(dest.address).toLowerCase()) return true
    if (dest.host && r.host === String(dest.host).toLowerCase()) return true
    if (r.addresses && r.addresses.includes(dest.address)) return true
  }
  return false
}

// A command rule with a slash is a path (the file executed or the binary); without one it is a
// program name compared with the basenames of argv[0], the file and the binary.
function commandAllowed (rules, { argv = [], file = null, exe = null }) {
  for (const r of rules) {
    if (r.includes('/')) {
      if (r === file || r === exe) return true
    } else {
      const names = [argv[0], file, exe].filter(Boolean).map((x) => path.basename(x))
      if (names.includes(r)) return true
    }
  }
  return false
}

// Path rules are absolute after ~ expansion; a rule allows itself and everything below it.
function pathAllowed (rules, abs) {
  return rules.some((r) => {
    const base = r.length > 1 && r.endsWith('/') ? r.slice(0, -1) : r
    return abs === base || abs.startsWith(base + '/')
  })
}

module.exports = { sensitivePaths, isSensitive, expandHome, parseHost, hostAllowed, commandAllowed, pathAllowed }
