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
const { tmpdir, hasTool, sleep } = require('./helpers')

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

test('degraded modes recover: sample() reopens its /proc files after EMFILE; fdCount() names open()', async () => {
  // in a child whose descriptor limit is small, so the shortage harms nobody else
  const { spawnSync } = require('node:child_process')
  const script = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const fs = require('node:fs')
    ks.fdsSync // loaded; nothing opened yet by sample()
    const held = []
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch (e) { if (e.code !== 'EMFILE') throw e }
    const out = {}
    const a = ks.sample()
    out.starved = { rss: a.memory.rssBytes, io: a.io.readCalls, runMs: a.scheduler.runMs, threads: a.threads }
    try { ks.fdCount(); out.fdCount = 'returned' } catch (e) { out.fdCount = { code: e.code, syscall: e.syscall } }
    for (const fd of held.splice(0, 8)) fs.closeSync(fd)
    const b = ks.sample()
    const statm = fs.readFileSync('/proc/self/statm', 'utf8').split(' ')
    out.recovered = { rss: b.memory.rssBytes, io: b.io.readCalls, runMs: b.scheduler.runMs, threads: b.threads }
    out.statmRss = Number(statm[1]) * 4096
    out.tasks = fs.readdirSync('/proc/self/task').length
    out.fds = fs.readdirSync('/proc/self/fd').length - 1
    out.fdCountAfter = ks.fdCount()
    console.log(JSON.stringify(out))`
  const r = spawnSync('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" -e "$0"`, script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(out.starved, { rss: null, io: null, runMs: null, threads: null }, 'no descriptor: the fields are null, not guessed')
  assert.deepEqual(out.fdCount, { code: 'EMFILE', syscall: 'open' })
  assert.ok(out.recovered.rss > 0 && Math.abs(out.recovered.rss - out.statmRss) <= out.statmRss * 0.2, `rss ${out.recovered.rss} vs statm ${out.statmRss}`)
  assert.ok(out.recovered.io > 0)
  assert.ok(out.recovered.runMs > 0)
  assert.equal(out.recovered.threads, out.tasks)
  // the four kept-open files are the process's own now: fdCount counts them like readdir does
  assert.equal(out.fdCountAfter, out.fds)
})

test('write(): settles when the stream is destroyed without a close event; a throwing Proxy rejects', async () => {
  const { Writable } = require('node:stream')
  // emitClose: false and a write that never completes: destroy() emits nothing at all
  const w = new Writable({ emitClose: false, highWaterMark: 4, write () {} })
  const p = ks.write(w, 'more than four bytes')
  const q = ks.write(w, 'queued behind the drain')
  setTimeout(() => w.destroy(), 20)
  // kernelscope's check timer is unref'd (it never keeps a process alive): this one does
  const alive = setInterval(() => {}, 1000)
  await assert.rejects(p, { code: 'ERR_STREAM_PREMATURE_CLOSE' })
  clearInterval(alive)
  await assert.rejects(q, (err) => typeof err.code === 'string')
  const hostile = new Proxy({}, { get () { throw new Error('trap') }, has () { throw new Error('trap') }, getPrototypeOf () { throw new Error('trap') } })
  let p2
  assert.doesNotThrow(() => { p2 = ks.write(hostile, 'x') })
  await assert.rejects(p2, { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => ks.watchBackpressure(hostile), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('watchBackpressure(): two trackers closed in creation order restore write; a destroyed stream stops stalling; a frozen stream is refused cleanly', async () => {
  const { Writable } = require('node:stream')
  const mk = () => new Writable({ highWaterMark: 4, write () {} }) // never drains
  const w = mk()
  const protoWrite = w.write
  const a = ks.watchBackpressure(w)
  const b = ks.watchBackpressure(w)
  w.write('123456')
  assert.equal(a.stats().writes, 1)
  assert.equal(b.stats().writes, 1)
  a.close()
  b.close()
  assert.equal(Object.prototype.hasOwnProperty.call(w, 'write'), false, 'no wrapper left on the stream')
  assert.equal(w.write, protoWrite)
  assert.equal(w.listenerCount('drain'), 0)
  assert.equal(w.listenerCount('close'), 0)

  // stalledMs stops growing once the stream is destroyed (with and without a 'close' event)
  for (const emitClose of [true, false]) {
    const s = new Writable({ emitClose, highWaterMark: 4, write () {} })
    const t = ks.watchBackpressure(s)
    s.write('123456')
    await sleep(30)
    s.destroy()
    await sleep(10)
    const at = t.stats().stalledMs
    await sleep(60)
    assert.equal(t.stats().stalledMs, at, `emitClose ${emitClose}: no stall after destroy`)
    assert.ok(at >= 25)
    t.close()
  }

  const frozen = Object.freeze(mk())
  assert.throws(() => ks.watchBackpressure(frozen), { code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' })
  assert.equal(frozen.listenerCount('drain'), 0)
  assert.equal(frozen.listenerCount('close'), 0)
})

test('LoopMonitor: methods called on something else throw a coded TypeError', () => {
  const { LoopMonitor } = ks
  for (const m of ['stats', 'history', 'reset', 'close']) {
    assert.throws(() => LoopMonitor.prototype[m].call({}), { code: 'ERR_INVALID_THIS', name: 'TypeError' }, m)
  }
  assert.throws(() => LoopMonitor.prototype.buckets.call(null, [1]), { code: 'ERR_INVALID_THIS' })
  assert.throws(() => Object.getOwnPropertyDescriptor(LoopMonitor.prototype, 'closed').get.call({}), { code: 'ERR_INVALID_THIS' })
})
