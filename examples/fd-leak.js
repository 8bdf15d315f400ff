// Leak hunting with the descriptor inventory: take one before and one after some code, print
// what it left open, grouped by type, then the sockets with their peers and states.
// Run: node examples/fd-leak.js
'use strict'
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const ks = require('..')

async function leakySuspect (dir, port) {
  // forgets to close a file, a directory handle and a socket
  fs.openSync(path.join(dir, 'forgotten.log'), 'a')
  fs.openSync(dir, 'r')
  await new Promise((resolve) => net.connect(port, '127.0.0.1', resolve))
}

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-leak-'))
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))

  const before = await ks.fds()
  await leakySuspect(dir, server.address().port)
  const after = await ks.fds({ fdinfo: true })
  const { opened, closed } = ks.diffFds(before, after)

  console.log(`${before.length} fds before, ${after.length} after: ${opened.length} opened, ${closed.length} closed`)
  for (const e of opened) {
    const where = e.socket
      ? `${e.socket.protocol} ${e.socket.localAddress}:${e.socket.localPort} -> ` +
        `${e.socket.remoteAddress}:${e.socket.remotePort} ${e.socket.state}`
      : e.target
    console.log(`  fd ${String(e.fd).padStart(3)}  ${e.type.padEnd(10)} ${where}  ${(e.flags || []).join('|')}`)
  }
  const byType = {}
  for (const e of after) byType[e.type] = (byType[e.type] || 0) + 1
  console.log('all descriptors by type:', byType)
  // the main loop's epoll instance is the one watching the server socket
  const listener = after.find((e) => e.socket && e.socket.state === 'listen' && e.socket.localPort === server.address().port)
  const loop = after.find((e) => e.type === 'epoll' && e.epoll.watches.some((w) => w.fd === listener.fd))
  if (loop) console.log(`the event loop's epoll fd ${loop.fd} watches fds ${loop.epoll.watches.map((w) => w.fd).join(', ')}`)
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

main()
