'use strict'
// Cases where kernelscope's primitives once disagreed with the outside tools (issue 11): unix
// names holding NUL or newline bytes, odd arguments, counters documented against the wrong
// /proc file. Each is checked against ss(8) or /proc read directly.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const net = require('node:net')
const { once } = require('node:events')
const { execFileSync } = require('node:child_process')
const ks = require('..')
const { tmpdir, hasTool } = require('./helpers')

const noSs = !hasTool('ss') && 'ss (iproute2) is not installed'

/** ss -xlp's name column for the listener this process holds on `fd`. */
function ssUnixName (fd) {
  // names may hold newlines: ss prints them raw, so match the line carrying our pid and fd and
  // take the local-address field (the fifth) from the joined text
  const out = execFileSync('ss', ['-xlpH'], { encoding: 'latin1' })
  const mark = `pid=${process.pid},fd=${fd})`
  const at = out.indexOf(mark)
  assert.ok(at >= 0, `ss lists fd ${fd}`)
  const start = out.lastIndexOf('u_', at)
  const cols = out.slice(start, at).split(/ +/)
  return cols.slice(4, cols.length - 4).join(' ')
}

async function listen (t, where) {
  const server = net.createServer()
  server.listen(where)
  await once(server, 'listening')
  t.after(() => new Promise((resolve) => { server.close(resolve); server.closeAllConnections?.() }))
  return server
}

test('abstract unix names with NUL bytes read as ss shows them; a path with a newline is whole', { skip: noSs }, async (t) => {
  const dir = tmpdir()
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const nlPath = path.join(dir, 'a\nb.sock')
  const withNl = await listen(t, nlPath)
  const abstract = await listen(t, `\0ks-${process.pid}\0odd`)
  const s1 = ks.socketState(withNl)
  assert.equal(s1.localAddress, nlPath, 'not cut at the newline')
  assert.equal(s1.remoteAddress, null)
  const s2 = ks.socketState(abstract)
  const ssName = ssUnixName(abstract._handle.fd)
  t.diagnostic(`ss: ${JSON.stringify(ssName)}; kernelscope ${JSON.stringify(s2.localAddress)}`)
  // ss writes every NUL as '@'; Node 20 pads the name to the 108 bytes of sun_path, which ss
  // prints as '@'s and kernelscope drops
  assert.equal(s2.localAddress, `@ks-${process.pid}@odd`)
  assert.equal(ssName.replace(/@+$/, ''), s2.localAddress.replace(/@+$/, ''))
  assert.ok(!s2.localAddress.includes('\0'))
  // a client connected to it names its peer the same way
  const c = net.connect(`\0ks-${process.pid}\0odd`)
  await once(c, 'connect')
  const s3 = ks.socketState(c)
  c.destroy()
  await once(c, 'close')
  assert.equal(s3.remoteAddress, s2.localAddress)
  assert.equal(s3.state, 'established')
})

test('odd arguments are ERR_INVALID_ARG_TYPE; a closed server is SOCKET_CLOSED', async (t) => {
  const odd = [
    { socket: {} },
    { socket: 42 },
    new Proxy({}, { getPrototypeOf: () => net.Socket.prototype }),
    new Proxy({}, { get () { throw new Error('trap') }, has () { throw new Error('trap') }, getPrototypeOf () { throw new Error('trap') } }),
    Object.create(net.Socket.prototype, { _handle: { get () { throw new Error('getter') } } })
  ]
  for (const bad of odd) assert.throws(() => ks.socketState(bad), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' })
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  assert.equal(ks.socketState(server).state, 'listen')
  await new Promise((resolve) => server.close(resolve))
  assert.throws(() => ks.socketState(server), { code: 'ERR_KERNELSCOPE_SOCKET_CLOSED' })
  assert.throws(() => ks.socketState(net.createServer()), { code: 'ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED' })
})

test('sample().contextSwitches counts every thread: the sum of task/*/status, not /proc/self/status', async () => {
  // work on the threadpool makes the pool threads switch; the main thread's own count stays small
  await Promise.all(Array.from({ length: 4 }, async () => { for (let i = 0; i < 300; i++) await fs.promises.stat('/') }))
  const before = sumTasks()
  const s = ks.sample().contextSwitches.voluntary
  const after = sumTasks()
  const mainOnly = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])
  // exited threads count in getrusage and not in task/, so >= the live sum taken before
  assert.ok(s >= before.live, `sample ${s} >= live threads' sum ${before.live}`)
  assert.ok(s <= after.live + 1000, `sample ${s} close to the live threads' sum ${after.live}`)
  assert.ok(s > mainOnly, `more than the main thread alone (${mainOnly})`)
})

function sumTasks () {
  let live = 0
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      live += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))[1])
    } catch {} // a thread that exited meanwhile
  }
  return { live }
}
