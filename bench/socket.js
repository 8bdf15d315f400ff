'use strict'
// socketState() per call against its own floor (the same syscalls with no object) and what a
// user would reach for instead (ss, /proc/net/tcp); then 1,000 sockets: 1,000 per-fd calls
// against one NETLINK_SOCK_DIAG dump (ks.fds({ sockets: true }) where that exists, and ss).
const fs = require('node:fs')
const net = require('node:net')
const { once } = require('node:events')
const { execFileSync, spawnSync } = require('node:child_process')
const { compare, machine, table, publish, fmt } = require('./lib')
const ks = require('..')
const native = require('../lib/native').native()
const { layout } = require('../lib/layout')

const hasSs = spawnSync('sh', ['-c', 'command -v ss']).status === 0

function tcpCount () {
  try {
    return fs.readFileSync('/proc/net/sockstat', 'utf8').match(/TCP: inuse (\d+)/)[1]
  } catch {
    return 'unknown'
  }
}

async function connections (n) {
  const server = net.createServer((s) => accepted.push(s))
  const accepted = []
  server.listen(0, '127.0.0.1', 4096)
  await once(server, 'listening')
  const port = server.address().port
  const clients = []
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, '127.0.0.1')
    clients.push(c)
    if (i % 50 === 49) await once(c, 'connect')
  }
  await Promise.all(clients.map((c) => (c.connecting ? once(c, 'connect') : null)))
  while (accepted.length < n) await new Promise((resolve) => setTimeout(resolve, 10))
  return { server, port, clients, accepted }
}

async function main () {
  // one established connection, a little data through it
  const one = await connections(1)
  const sock = one.clients[0]
  sock.write(Buffer.alloc(64 * 1024))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const fd = sock._handle.fd
  const buf = new Float64Array(layout('socket', []).LEN)
  const ssOne = () => execFileSync('ss', ['-tniH', 'src', `127.0.0.1:${sock.localPort}`], { encoding: 'utf8' })

  const rows = await compare([
    { name: 'ks.socketState(socket)', fn: () => ks.socketState(sock), note: 'established TCP: endpoints cached per handle; TCP_INFO, SO_MEMINFO, SIOCOUTQ, SIOCINQ, poll' },
    { name: 'ks.socketState(fd)', fn: () => ks.socketState(fd), note: 'numeric fd: + getsockname, getpeername, SO_TYPE, SO_PROTOCOL and the address text every call' },
    { name: 'floor: the same syscalls through napi, no object', fn: () => native.socketStateInto(fd, buf, true), note: 'socketStateInto(fd, buf, tcpQueuesOnly) alone' },
    { name: "socket's own writableLength & co.", fn: () => sock.writableLength + sock.writableHighWaterMark + (sock.writableNeedDrain ? 1 : 0), note: 'user space only: what Node alone can tell' }
  ], { rounds: 11, iterations: 5000 })
  // the heavy peers in their own rounds: interleaved with the µs calls they flush the caches
  // and inflate them
  const peers = await compare([
    { name: 'ks.socketState(socket)', fn: () => ks.socketState(sock), iterations: 200 },
    { name: 'read /proc/net/tcp', fn: () => fs.readFileSync('/proc/net/tcp', 'latin1'), iterations: 200, note: 'tx_queue/rx_queue of every IPv4 TCP socket in the namespace, text, unparsed' },
    ...(hasSs ? [{ name: 'spawn ss -tni for the socket', fn: ssOne, iterations: 5, note: 'the ground-truth tool, a process per look' }] : [])
  ], { rounds: 7, iterations: 200 })
  rows.push(...peers.slice(1).map((r) => ({ ...r, note: `${r.note} (separate rounds)` })))
  one.clients[0].destroy()
  one.accepted.forEach((s) => s.destroy())
  one.server.close()

  // 1,000 sockets in this process: 500 connections, both ends
  const many = await connections(500)
  const all = [...many.clients, ...many.accepted]
  const perFd = () => { for (const s of all) ks.socketState(s) }
  const perNumericFd = () => { for (const s of all) ks.socketState(s._handle.fd) }
  const hasFds = typeof ks.fds === 'function'
  const candidates = [
    { name: '1,000 × ks.socketState(socket)', fn: perFd, note: 'per-fd calls, identities cached' },
    { name: '1,000 × ks.socketState(fd)', fn: perNumericFd, note: 'per-fd calls, full identity each' }
  ]
  if (hasFds) {
    candidates.push({ name: 'ks.fds({ sockets: true })', fn: () => ks.fds({ sockets: true }), async: true, note: 'one NETLINK_SOCK_DIAG dump + the fd scan, off the event loop' })
    if (typeof ks.fdsSync === 'function') candidates.push({ name: 'ks.fdsSync({ sockets: true })', fn: () => ks.fdsSync({ sockets: true }), note: 'the same, synchronous' })
  }
  if (hasSs) candidates.push({ name: 'spawn ss -tni (all sockets)', fn: () => execFileSync('ss', ['-tniH'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }), note: 'one NETLINK_SOCK_DIAG dump by the tool, text' })
  const mrows = await compare(candidates, { rounds: 7, iterations: 5 })
  all.forEach((s) => s.destroy())
  many.server.close()

  const s = rows[0].us
  const floor = rows[2].us
  publish('socket', `
## Socket state (issue #5)

${machine()}

### socketState(), one established TCP socket

${table(rows, 'ks.socketState(socket)', 'vs socketState')}

socketState(socket) ${fmt(s)} median (target <= 2 µs), ${(s / floor).toFixed(2)}× its syscall floor.

/proc/net/tcp and ss cost grows with every TCP socket in the network namespace (${tcpCount()} here).

### 1,000 sockets (500 loopback connections, both ends in this process)

${table(mrows, '1,000 × ks.socketState(socket)', 'vs per-fd calls')}

A NETLINK_SOCK_DIAG dump walks every socket of its kind in the network namespace (${tcpCount()} TCP sockets in use during this run), the per-fd calls only this process's 1,000; the dump gives queues and endpoints, socketState() also TCP_INFO, buffer sizes and writability.
${hasFds ? '' : '\nOne NETLINK_SOCK_DIAG dump through kernelscope: pending: needs ks.fds() (issue #3); `ss -tni` above is the same dump done by a tool.\n'}
`)
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
