'use strict'
// The demo's test bed (lib/cli/demo/services.js) makes the waits it claims, checked from outside
// the code under test: `ss` for listen queues and send queues, the timing of real connects and
// reads, /proc/self/task/*/syscall and wchan for blocked libuv workers.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const http = require('node:http')
const { execFileSync } = require('node:child_process')
const { performance } = require('node:perf_hooks')
const { hasTool, until, sleep } = require('./helpers')
const services = require('../lib/cli/demo/services')

const HAS_SS = hasTool('ss')

function ss (args) {
  return execFileSync('ss', args, { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '')
}

function alive (pid) {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** [{ tid, nr, wchan, target }] for this process's threads blocked in a syscall. */
function blockedThreads () {
  const out = []
  for (const tid of fs.readdirSync('/proc/self/task')) {
    let sc, wchan
    try {
      sc = fs.readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').trim().split(' ')
      wchan = fs.readFileSync(`/proc/self/task/${tid}/wchan`, 'utf8').trim()
    } catch { continue }
    if (sc[0] === 'running' || sc[0] === '-1') continue
    out.push({ tid: Number(tid), nr: Number(sc[0]), wchan })
  }
  return out
}

const OPENAT = 257

test('fullAcceptQueue: the accept queue is full (ss), a connect waits for the SYN retransmit, close() leaves nothing', { skip: !HAS_SS && 'ss (iproute2) is not installed' }, async () => {
  const l = await services.fullAcceptQueue()
  try {
    const [line] = ss(['-ltnH', `sport = :${l.port}`])
    assert.ok(line, 'the listener is in ss -ltn')
    const [state, recvQ, sendQ] = line.trim().split(/\s+/)
    assert.equal(state, 'LISTEN')
    assert.equal(Number(sendQ), 1, 'backlog 1 (ss Send-Q of a listener)')
    assert.equal(Number(recvQ), 2, 'two connections wait in the accept queue (ss Recv-Q)')

    const t0 = performance.now()
    const { ms, retrans } = await new Promise((resolve, reject) => {
      const c = net.connect(l.port, '127.0.0.1', () => {
        const ms = performance.now() - t0
        const info = ss(['-tniH', 'state', 'established', `sport = :${c.localPort}`]).join(' ')
        const m = /retrans:\d+\/(\d+)/.exec(info)
        c.destroy()
        c.on('close', () => resolve({ ms, retrans: m ? Number(m[1]) : 0 }))
      })
      c.on('error', reject)
      setImmediate(() => l.startAccepting(0))
    })
    assert.ok(ms >= 800 && ms <= 3500, `connect took ${ms} ms: the dropped SYN is retransmitted after ~1 s`)
    assert.ok(retrans >= 1, `ss -ti shows the retransmitted SYN (total retrans ${retrans})`)
  } finally {
    await l.close()
  }
  assert.equal(alive(l.pid), false, 'the listener process is reaped')
  assert.deepEqual(ss(['-ltnH', `sport = :${l.port}`]), [])
})

test('lateFifo: a reader blocks a libuv worker in openat (wait_for_partner) until the late writer', async () => {
  // the writer's clock starts once the reader is blocked: a first pool request (threads being
  // created) on a loaded machine could otherwise reach open() after the writer did
  const f = await services.lateFifo({ writeAfterMs: 400, data: 'late hello', start: false })
  const read = fs.promises.readFile(f.path, 'utf8')
  const inOpen = await until(() => blockedThreads().find((t) => t.nr === OPENAT && t.wchan === 'wait_for_partner'), 5000, 5)
  const t0 = performance.now()
  f.start()
  const text = await read
  const ms = performance.now() - t0
  assert.ok(inOpen, 'a thread of this process sat in openat, wchan wait_for_partner')
  assert.equal(text, 'late hello')
  assert.ok(ms >= 380 && ms <= 5000, `readFile took ${ms} ms for a writer at 400 ms`)
  await f.close()
  assert.equal(fs.existsSync(f.path), false, 'the FIFO is unlinked')
})

test('lateFifo: close() lets a reader still blocked in open() finish', async () => {
  const f = await services.lateFifo({ writeAfterMs: 60000 })
  const read = fs.promises.readFile(f.path, 'utf8')
  assert.ok(await until(() => blockedThreads().some((t) => t.nr === OPENAT && t.wchan === 'wait_for_partner'), 2000, 5))
  await f.close()
  assert.equal(await read, '', 'the reader saw EOF')
  assert.equal(fs.existsSync(f.path), false)
})

test('blockPool: every worker sits in openat on a FIFO and an fs.stat queues behind them', async () => {
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4
  const pool = await services.blockPool({ holdMs: 500 })
  // the writers' clocks start as the factory returns (it starts them after spawning all of
  // them: four Node spawns took 4.8 s under a load of 9, so a clock from before it is not theirs)
  const t0 = performance.now()
  try {
    assert.equal(pool.threads, size)
    const stat = fs.promises.stat(__filename)
    const all = await until(() => blockedThreads().filter((t) => t.nr === OPENAT && t.wchan === 'wait_for_partner').length === size, 2000, 5)
    assert.ok(all, `${size} threads in openat / wait_for_partner`)
    await stat
    const ms = performance.now() - t0
    assert.ok(ms >= 450 && ms <= 5000, `fs.stat waited ${ms} ms behind a pool held for 500 ms`)
    await pool.settled
  } finally {
    await pool.close()
  }
  for (const p of pool.paths) assert.equal(fs.existsSync(p), false)
})

test('stalledPeer: the send queue fills (ss Send-Q) while the peer does not read, drains once it does', { skip: !HAS_SS && 'ss (iproute2) is not installed' }, async () => {
  const peer = await services.stalledPeer({ resumeAfterMs: 600 })
  try {
    const t0 = performance.now() // the peer's clock starts when it accepts, after this connect
    const c = net.connect(peer.port, '127.0.0.1')
    await new Promise((resolve, reject) => { c.once('connect', resolve); c.once('error', reject) })
    const flushed = new Promise((resolve) => c.write(Buffer.alloc(16 * 2 ** 20), resolve))
    await sleep(300)
    const [line] = ss(['-tnH', 'state', 'established', `sport = :${c.localPort}`])
    const sendQ = Number(line.trim().split(/\s+/)[1])
    assert.ok(sendQ > 2 ** 20, `ss Send-Q ${sendQ} bytes while the peer does not read`)
    await flushed
    const ms = performance.now() - t0
    assert.ok(ms >= 560 && ms <= 8000, `16 MB flushed after ${ms} ms for a peer reading from 600 ms`)
    c.destroy()
    await new Promise((resolve) => c.once('close', resolve))
  } finally {
    await peer.close()
  }
  assert.equal(alive(peer.pid), false)
})

test('slowHttp: answers after delayMs, or after ?ms=N', async () => {
  const up = await services.slowHttp({ delayMs: 300 })
  const get = (url) => new Promise((resolve, reject) => {
    const t0 = performance.now()
    http.get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ ms: performance.now() - t0, body: JSON.parse(body) }))
    }).on('error', reject)
  })
  try {
    const slow = await get(up.url('/'))
    assert.ok(slow.ms >= 240 && slow.ms <= 3000, `slow answer after ${slow.ms} ms`)
    assert.equal(slow.body.delayMs, 300)
    const fast = await get(up.url('/?ms=0'))
    assert.equal(fast.body.delayMs, 0)
    assert.ok(fast.ms < slow.ms)
  } finally {
    await up.close()
  }
  assert.equal(alive(up.pid), false)
})

test('cpuHog and slowChild: a busy loop holds this event loop; a child takes its time', async () => {
  const hog = await services.cpuHog({ ms: 200 })
  const t0 = performance.now()
  // the hog's 0 ms timer first: due before the 10 ms one however late this line runs (set the
  // other way round, a 10 ms stall between the two lines made the 10 ms timer due first)
  const spun = hog.after(0)
  const timer = new Promise((resolve) => setTimeout(() => resolve(performance.now() - t0), 10))
  assert.ok(await timer >= 180, 'a 10 ms timer fired only after the 200 ms busy loop')
  const r = await spun
  assert.ok(r.endMs - r.startMs >= 199)
  await hog.close()

  const child = await services.slowChild({ ms: 300 })
  assert.deepEqual(child.command, ['sh', '-c', 'sleep 0.300'])
  const t1 = performance.now()
  const { code } = await child.run()
  const ms = performance.now() - t1
  assert.equal(code, 0)
  assert.ok(ms >= 280 && ms <= 3000, `child ran ${ms} ms`)
  await child.close()
})

test('services: bad options are coded errors', async () => {
  await assert.rejects(services.lateFifo({ writeAfterMs: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(services.lateFifo({ writeAfterMs: 'soon' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(services.lateFifo({ openAfterMs: 500, writeAfterMs: 100 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(services.slowHttp(null), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(services.blockPool({ threads: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(services.stalledPeer({ resumeAfterMs: Infinity }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(services.cpuHog({ ms: NaN }), { code: 'ERR_OUT_OF_RANGE' })
  const l = await services.fullAcceptQueue()
  try {
    assert.throws(() => l.startAccepting(-5), { code: 'ERR_OUT_OF_RANGE' })
  } finally {
    await l.close()
  }
})
