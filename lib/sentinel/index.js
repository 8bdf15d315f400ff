'use strict'
// ks.sentinel(): watches this process's own behaviour, in-process and unprivileged: child
// processes (child_process diagnostics channel + wrapped spawnSync/execSync/execFileSync),
// outbound connections (net.client.socket, undici:client:beforeConnect, a wrapped
// net.Socket.prototype.connect, dgram sends with a destination, and a poll of our own sockets for
// what native code opens), and opens of sensitive files (fanotify marks; fs wrappers only give
// the JS stack, or stand in where fanotify is refused). close() undoes every hook.

const dc = require('node:diagnostics_channel')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { codedError, invalidArgType, outOfRange } = require('../errors')
const policy = require('./policy')
const watch = require('../probes/watch')

const DEFAULT_INTERVAL_MS = 1000
const HINT_WINDOW_MS = 5000
const MAX_EVENTS = 10000
const SELF = __filename

// The JS stack at the call, without node internals and without this file.
function callStack () {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 40
  const raw = new Error().stack
  Error.stackTraceLimit = limit
  return raw.split('\n').slice(1).map((l) => l.trim()).filter((l) =>
    l.startsWith('at ') && !l.includes('(node:') && !l.startsWith('at node:') && !l.includes(SELF) &&
    !l.includes('diagnostics_channel')).join('\n')
}

function stringList (v, name) {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgType(name, 'an array of strings', v)
  return v
}

// Files to mark by default: the sensitive files that exist now, including those inside the
// sensitive directories (one level), and .env files in the working directory.
function defaultWatchPaths (home) {
  const s = policy.sensitivePaths(home)
  const out = s.files.filter((f) => fs.existsSync(f))
  for (const d of s.dirs) {
    let names = []
    try { names = fs.readdirSync(d) } catch {}
    for (const n of names) {
      const p = path.join(d, n)
      try { if (fs.statSync(p).isFile()) out.push(p) } catch {}
    }
  }
  let cwd = []
  try { cwd = fs.readdirSync(process.cwd()) } catch {}
  for (const n of cwd) if (n === '.env' || n.startsWith('.env.')) out.push(path.resolve(n))
  return out
}

class Sentinel {
  // private (#): nothing of its machinery is reachable from an instance but events(),
  // close() and fanotify
  #closed
  #commands
  #events
  #fan
  #hints
  #hosts
  #jsPeers
  #listening
  #onEvent
  #paths
  #pendingUndici
  #seenPeers
  #sensitive
  #sockets
  #timer
  #undo
  #watched

  constructor (options = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options)
    const allow = options.allow === undefined ? {} : options.allow
    if (allow === null || typeof allow !== 'object') throw invalidArgType('options.allow', 'an object', allow)
    const home = os.homedir()
    this.#hosts = stringList(allow.hosts, 'options.allow.hosts').map((h) => {
      const r = policy.parseHost(h)
      if (!r) throw invalidArgType('options.allow.hosts', 'host, host:port, [v6]:port or a subnet', h)
      return r
    })
    this.#commands = stringList(allow.commands, 'options.allow.commands')
    this.#paths = stringList(allow.paths, 'options.allow.paths').map((p) => path.resolve(policy.expandHome(p, home)))
    const watchPaths = options.watchPaths === undefined ? defaultWatchPaths(home) : stringList(options.watchPaths, 'options.watchPaths')
    this.#watched = new Set(watchPaths.map((p) => path.resolve(policy.expandHome(p, home))))
    this.#sensitive = policy.sensitivePaths(home) // computed once: fs.readFileSync also serves require()
    const interval = options.intervalMs === undefined ? DEFAULT_INTERVAL_MS : options.intervalMs
    if (typeof interval !== 'number') throw invalidArgType('options.intervalMs', 'a number', interval)
    if (!(interval >= 10 && interval <= 3600000)) throw outOfRange('options.intervalMs', '>= 10 and <= 3600000', interval)
    if (options.onEvent !== undefined && typeof options.onEvent !== 'function') throw invalidArgType('options.onEvent', 'a function', options.onEvent)
    this.#onEvent = options.onEvent || null
    this.#events = []
    this.#undo = []
    this.#hints = [] // { path, stack, at }
    this.#pendingUndici = [] // { host, port, at }
    this.#sockets = new WeakSet()
    this.#seenPeers = new Map() // socket inode -> true: seen by a poll (or there at start)
    this.#listening = new Set() // local ports of our listening sockets: what arrives there is inbound
    this.#jsPeers = [] // { address, port, at } from JS-level events, to attribute polled sockets
    this.#closed = false
    this.fanotify = null // { ok, error }

    this.#hookChildProcess()
    this.#hookNet()
    this.#hookDgram()
    this.#hookFs()
    this.#startFanotify()
    this.#baselineSockets()
    this.#timer = setInterval(() => this.#poll(), interval)
    this.#timer.unref()
  }

  #emit (ev) {
    if (this.#events.length >= MAX_EVENTS) this.#events.shift()
    this.#events.push(ev)
    if (!ev.allowed && this.#onEvent) {
      try { this.#onEvent(ev) } catch (err) { process.nextTick(() => { throw err }) }
    }
    return ev
  }

  // --- exec -------------------------------------------------------------------------------
  #exec (argv, file, pid, stack, evidence) {
    const ev = { kind: 'exec', file, argv, pid, stack, evidence, time: Date.now() }
    ev.allowed = policy.commandAllowed(this.#commands, ev)
    return this.#emit(ev)
  }

  #hookChildProcess () {
    const onChild = ({ process: child }) => {
      if (this.#closed) return
      const stack = callStack()
      // the channel fires in the ChildProcess constructor: argv and pid are known once spawn() ran
      process.nextTick(() => {
        const argv = child.spawnargs || []
        const ev = this.#exec(argv.slice(), child.spawnfile || argv[0] || null, child.pid ?? null, stack, 'child_process channel')
        if (child.pid === undefined) child.once('spawn', () => { ev.pid = child.pid })
      })
    }
    dc.subscribe('child_process', onChild)
    this.#undo.push(() => dc.unsubscribe('child_process', onChild))

    const cp = require('node:child_process')
    const self = this
    const wrap = (name, argvOf) => {
      const original = cp[name]
      const wrapped = function (...args) {
        const result = original.apply(this, args)
        if (!self.#closed) {
          const argv = argvOf(args)
          const pid = result && typeof result === 'object' && 'pid' in result ? result.pid : null
          self.#exec(argv, argv[0], pid ?? null, callStack(), name)
        }
        return result
      }
      cp[name] = wrapped
      this.#undo.push(() => { if (cp[name] === wrapped) cp[name] = original })
    }
    const shellArgv = (cmd, opts) => [typeof opts?.shell === 'string' ? opts.shell : '/bin/sh', '-c', String(cmd)]
    wrap('spawnSync', ([file, args, opts]) => {
      if (!Array.isArray(args)) { opts = args; args = [] }
      return opts?.shell ? shellArgv([file, ...args].join(' '), opts) : [String(file), ...args.map(String)]
    })
    // execSync and execFileSync reach spawnSync through an internal reference: wrapped too,
    // and their inner spawnSync is not wrapped a second time (it is not the export)
    wrap('execSync', ([cmd, opts]) => shellArgv(cmd, opts))
    wrap('execFileSync', ([file, args, opts]) => {
      if (!Array.isArray(args)) { opts = args; args = [] }
      return opts?.shell ? shellArgv([file, ...args].join(' '), opts) : [String(file), ...args.map(String)]
    })
  }

  // --- connect ----------------------------------------------------------------------------
  #connect (dest, stack, evidence) {
    const ev = { kind: 'connect', ...dest, stack, evidence, time: Date.now() }
    ev.allowed = policy.hostAllowed(this.#hosts, { address: ev.address, port: ev.port, host: ev.host })
    this.#jsPeers.push({ address: ev.address, host: ev.host, port: ev.port, at: Date.now() })
    return this.#emit(ev)
  }

  #hookNet () {
    const self = this
    const proto = net.Socket.prototype
    const original = proto.connect
    const wrapped = function (...args) {
      if (!self.#closed && !self.#sockets.has(this)) self.#socketConnect(this, args)
      return original.apply(this, args)
    }
    proto.connect = wrapped
    this.#undo.push(() => { if (proto.connect === wrapped) proto.connect = original })

    // a socket the channel announces but whose connect bypassed the prototype (kept a
    // reference to the original): reported from its options on the next tick
    const onNet = ({ socket }) => {
      if (this.#closed) return
      const stack = callStack()
      process.nextTick(() => {
        if (this.#sockets.has(socket)) return
        this.#sockets.add(socket)
        socket.once('connect', () => {
          this.#connect({ host: null, address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily, protocol: 'tcp' }, stack, 'net.client.socket')
        })
      })
    }
    dc.subscribe('net.client.socket', onNet)
    this.#undo.push(() => dc.unsubscribe('net.client.socket', onNet))

    // fetch() (undici) connects later, from its own pool: the host is known here
    const onUndici = ({ connectParams }) => {
      if (this.#closed || !connectParams) return
      const port = Number(connectParams.port) || (connectParams.protocol === 'https:' ? 443 : 80)
      const host = connectParams.hostname || connectParams.host
      this.#pendingUndici.push({ host, port, at: Date.now() })
      this.#connect({ host, address: net.isIP(host) ? host : null, port, family: null, protocol: 'tcp' }, callStack(), 'undici:client:beforeConnect')
    }
    dc.subscribe('undici:client:beforeConnect', onUndici)
    this.#undo.push(() => dc.unsubscribe('undici:client:beforeConnect', onUndici))
  }

  #socketConnect (socket, args) {
    let opts = args[0]
    if (Array.isArray(opts)) opts = opts[0] // net.connect passes normalized [options, cb]
    let host = null
    let port = null
    let unix = null
    if (opts !== null && typeof opts === 'object') {
      if (opts.path) unix = String(opts.path)
      host = opts.host ?? null
      port = opts.port ?? null
    } else if (typeof opts === 'string' && !/^\d+$/.test(opts)) {
      unix = opts
    } else {
      port = opts
      if (typeof args[1] === 'string') host = args[1]
    }
    if (unix !== null) return // local IPC, not an outbound connection
    this.#sockets.add(socket)
    port = Number(port)
    if (host === null || host === undefined) host = 'localhost'
    // undici already reported this one (with fetch's stack)
    const u = this.#pendingUndici.findIndex((p) => p.host === host && p.port === port)
    if (u >= 0) {
      this.#pendingUndici.splice(u, 1)
      return
    }
    const ev = this.#connect({ host, address: net.isIP(host) ? host : null, port, family: net.isIP(host) ? (net.isIP(host) === 4 ? 'inet' : 'inet6') : null, protocol: 'tcp' },
      callStack(), 'net.Socket.prototype.connect')
    // a name: the address once resolved (and the verdict again: the address may be allowed)
    if (ev.address === null) {
      socket.once('connect', () => {
        ev.address = socket.remoteAddress ?? null
        ev.family = socket.remoteFamily === 'IPv6' ? 'inet6' : 'inet'
        this.#jsPeers.push({ address: ev.address, port: ev.port, at: Date.now() })
      })
    }
  }

  #hookDgram () {
    const dgram = require('node:dgram')
    const self = this
    const proto = dgram.Socket.prototype
    const seen = new WeakMap()
    const report = (sock, port, address, evidence) => {
      const key = `${address}|${port}`
      let set = seen.get(sock)
      if (!set) { set = new Set(); seen.set(sock, set) }
      if (set.has(key)) return
      set.add(key)
      const family = net.isIP(address) === 6 ? 'inet6' : 'inet'
      self.#connect({ host: address, address: net.isIP(address) ? address : null, port: Number(port), family, protocol: 'udp' }, callStack(), evidence)
    }
    const send = proto.send
    const wrappedSend = function (buffer, offset, length, port, address, cb) {
      if (!self.#closed) {
        let connected = false
        try { this.remoteAddress(); connected = true } catch {}
        if (!connected) {
          let p = offset
          let a = length
          if (address || (port && typeof port !== 'function')) { p = port; a = address }
          if (typeof p === 'number' || typeof p === 'string') {
            report(this, p, typeof a === 'string' ? a : (this.type === 'udp6' ? '::1' : '127.0.0.1'), 'dgram.send')
          }
        }
      }
      return send.apply(this, arguments)
    }
    const connect = proto.connect
    const wrappedConnect = function (port, address) {
      if (!self.#closed) report(this, port, typeof address === 'string' ? address : (this.type === 'udp6' ? '::1' : '127.0.0.1'), 'dgram.connect')
      return connect.apply(this, arguments)
    }
    proto.send = wrappedSend
    proto.connect = wrappedConnect
    this.#undo.push(() => {
      if (proto.send === wrappedSend) proto.send = send
      if (proto.connect === wrappedConnect) proto.connect = connect
    })
  }

  // --- open -------------------------------------------------------------------------------
  #openHint (p, via) {
    if (this.#closed || p === null || p === undefined) return
    let abs
    try {
      abs = path.resolve(p instanceof URL ? require('node:url').fileURLToPath(p) : Buffer.isBuffer(p) ? p.toString() : String(p))
    } catch { return }
    if (!this.#watched.has(abs) && !policy.isSensitive(abs, this.#sensitive)) return
    const hint = { path: abs, stack: callStack(), at: Date.now(), via }
    if (this.fanotify && this.fanotify.ok && this.#watched.has(abs)) {
      this.#hints.push(hint)
      if (this.#hints.length > 256) this.#hints.shift()
    } else {
      this.#open(abs, process.pid, hint.stack, `fs wrapper (${via})`)
    }
  }

  #open (p, pid, stack, evidence) {
    const ev = { kind: 'open', path: p, pid, stack, evidence, time: Date.now() }
    ev.allowed = policy.pathAllowed(this.#paths, p)
    return this.#emit(ev)
  }

  #hookFs () {
    const self = this
    const names = ['open', 'openSync', 'readFile', 'readFileSync', 'createReadStream']
    for (const name of names) {
      const original = fs[name]
      const wrapped = function (p, ...rest) {
        self.#openHint(typeof p === 'number' ? null : p, name)
        return original.call(this, p, ...rest)
      }
      fs[name] = wrapped
      this.#undo.push(() => { if (fs[name] === wrapped) fs[name] = original })
    }
    for (const name of ['open', 'readFile']) {
      const original = fs.promises[name]
      const wrapped = function (p, ...rest) {
        self.#openHint(p && typeof p === 'object' && typeof p.fd === 'number' ? null : p, 'promises.' + name)
        return original.call(this, p, ...rest)
      }
      fs.promises[name] = wrapped
      this.#undo.push(() => { if (fs.promises[name] === wrapped) fs.promises[name] = original })
    }
  }

  #startFanotify () {
    if (this.#watched.size === 0) {
      this.fanotify = { ok: false, error: 'nothing to watch' }
      return
    }
    try {
      this.#fan = watch.watchOpens([...this.#watched])
      const failed = this.#fan.marks().filter((m) => m.errno !== null && m.errno !== undefined)
      this.fanotify = { ok: true, error: null, unmarked: failed.map((m) => m.path) }
    } catch (err) {
      this.#fan = null
      this.fanotify = { ok: false, error: `${err.code || 'ERROR'}: ${err.message}` }
    }
  }

  #drainFanotify () {
    if (!this.#fan) return
    let evs
    try { evs = this.#fan.read() } catch { return }
    const now = Date.now()
    this.#hints = this.#hints.filter((h) => now - h.at < HINT_WINDOW_MS)
    for (const e of evs) {
      if (e.path === null || e.path === undefined) continue
      const i = e.pid === process.pid ? this.#hints.findIndex((h) => h.path === e.path) : -1
      const hint = i >= 0 ? this.#hints.splice(i, 1)[0] : null
      this.#open(e.path, e.pid === 0 ? null : e.pid, hint ? hint.stack : null, hint ? `fanotify + fs wrapper (${hint.via})` : 'fanotify')
    }
  }

  // --- native connections: our own sockets, polled ------------------------------------------
  #baselineSockets () {
    try {
      for (const s of watch.ownSockets()) {
        this.#seenPeers.set(s.inode, true)
        if (s.listening) this.#listening.add(s.localPort)
      }
    } catch {}
  }

  // Only sockets not seen before come back from the native side (one readlink per known one).
  #pollSockets () {
    let socks
    try { socks = watch.ownSockets([...this.#seenPeers.keys()]) } catch { return }
    for (const s of socks) {
      if (s.listening) {
        this.#listening.add(s.localPort)
        this.#seenPeers.set(s.inode, true)
      }
    }
    const listening = this.#listening
    const now = Date.now()
    this.#jsPeers = this.#jsPeers.filter((p) => now - p.at < 60000)
    for (const s of socks) {
      if (this.#seenPeers.has(s.inode) || s.peerAddress === null || s.peerAddress === undefined) continue
      this.#seenPeers.set(s.inode, true)
      if (s.protocol === 'tcp' && listening.has(s.localPort)) continue // accepted, inbound
      const js = this.#jsPeers.findIndex((p) => p.port === s.peerPort && (p.address === s.peerAddress || p.address === null))
      if (js >= 0) continue // JS made it: already reported with its stack
      this.#connect({ host: null, address: s.peerAddress, port: s.peerPort, family: s.family, protocol: s.protocol, fd: s.fd }, null, 'socket poll')
    }
    if (this.#seenPeers.size > 4096) {
      // forget closed sockets: a full listing says which are still there
      let live = null
      try { live = new Set(watch.ownSockets().map((s) => s.inode)) } catch {}
      if (live) for (const k of this.#seenPeers.keys()) if (!live.has(k)) this.#seenPeers.delete(k)
    }
  }

  #poll () {
    if (this.#closed) return
    this.#drainFanotify()
    this.#pollSockets()
  }

  static #check (self) {
    if (self === null || typeof self !== 'object' || !(#closed in self)) {
      throw codedError('ERR_INVALID_THIS', 'Value of "this" must be of type Sentinel', TypeError)
    }
  }

  /** Every event so far (kernel events still queued are read first). */
  events () {
    Sentinel.#check(this)
    this.#poll()
    return this.#events.slice()
  }

  /** Removes every wrapper, channel subscription, mark and the timer. Idempotent. */
  close () {
    Sentinel.#check(this)
    if (this.#closed) return
    this.#poll()
    this.#closed = true
    clearInterval(this.#timer)
    for (const undo of this.#undo.reverse()) undo()
    this.#undo = []
    if (this.#fan) { this.#fan.close(); this.#fan = null }
  }
}

function sentinel (options) {
  return new Sentinel(options)
}

module.exports = { sentinel, Sentinel, DEFAULT_INTERVAL_MS }
