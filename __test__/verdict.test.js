'use strict'
// socketState().verdict judged over time, against real causes and what ss(8) reports for the
// same connection: a peer that never reads, a peer in another process reading steadily, a send
// buffer that limits a fast transfer, full accept queues (TCP and unix), and a lossy and a dead
// path between two network namespaces (root only; see netpath in helpers).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const net = require('node:net')
const { spawn, execFileSync } = require('node:child_process')
const { once } = require('node:events')
const ks = require('..')
const { tmpdir, hasTool, sleep, until } = require('./helpers')

const HAS_SS = hasTool('ss')
const HAS_PYTHON = hasTool('python3')
const noSs = !HAS_SS && 'ss (iproute2) is not installed'

/** `ss -tniH` for the loopback connection between these ports: the info text, '' when not found. */
function ssInfo (localPort, remotePort, args = ['-tniH']) {
  return execFileSync('ss', [...args, 'src', `127.0.0.1:${localPort}`, 'dst', `127.0.0.1:${remotePort}`], { encoding: 'utf8' }).replace(/\s+/g, ' ')
}
const ssNum = (info, key) => {
  const m = new RegExp(`${key}:(\\d+)`).exec(info)
  return m ? Number(m[1]) : 0
}

/** A child process running `code`; resolves with it once it printed its first line. */
async function child (t, args, opts = {}) {
  const c = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], ...opts })
  const exited = once(c, 'close')
  t.after(async () => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await exited
  })
  let buffered = ''
  const lines = []
  let wake = null
  c.stdout.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, i))
      buffered = buffered.slice(i + 1)
      if (wake) wake()
    }
  })
  c.nextLine = async (timeoutMs = 10000) => {
    const end = Date.now() + timeoutMs
    while (lines.length === 0) {
      if (Date.now() > end || c.exitCode !== null) throw new Error(`no line from ${args.join(' ')}`)
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 50) })
      wake = null
    }
    return lines.shift()
  }
  return c
}

/** A TCP server in another process: 'paused' never reads; 'rate' reads `mbps` MB/s steadily. */
async function peer (t, mode, mbps = 50) {
  const code = `
    const net = require('node:net')
    const server = net.createServer({ pauseOnConnect: true }, (c) => {
      if (${JSON.stringify(mode)} !== 'rate') return
      // a token bucket of ${mbps} MB/s refilled every 10 ms: reads until the budget is spent
      let budget = 0
      let read = 0
      c.on('data', (d) => { read += d.length; if (read >= budget) c.pause() })
      setInterval(() => { budget += ${mbps * 1e4}; if (read < budget) c.resume() }, 10).unref()
      c.on('error', () => {})
    })
    server.listen(0, '127.0.0.1', () => console.log(server.address().port))`
  const c = await child(t, [process.execPath, '-e', code])
  return Number(await c.nextLine())
}

/** Writes to `sock` as fast as it takes bytes, until stop(). */
function flood (sock) {
  const chunk = Buffer.alloc(256 * 1024, 1)
  const state = { on: true }
  const pump = () => { while (state.on && sock.write(chunk)); }
  sock.on('drain', pump)
  pump()
  return () => { state.on = false; sock.removeListener('drain', pump) }
}

async function connect (t, port) {
  const c = net.connect(port, '127.0.0.1')
  c.on('error', () => {})
  t.after(async () => {
    if (!c.destroyed) c.destroy()
    if (!c.closed) await once(c, 'close')
  })
  await once(c, 'connect')
  return c
}

test('a peer that never reads: peer-not-reading once the window stayed closed, as ss shows it', { skip: noSs }, async (t) => {
  const port = await peer(t, 'paused')
  const c = await connect(t, port)
  const stop = flood(c)
  t.after(stop)
  const seen = []
  const st = await until(() => {
    const s = ks.socketState(c)
    seen.push(s.verdict)
    return s.verdict === 'peer-not-reading' ? s : null
  }, 5000, 50)
  assert.ok(st, `verdicts seen: ${[...new Set(seen)].join(', ')}`)
  const info = ssInfo(c.localPort, c.remotePort)
  t.diagnostic(`ss: ${info.trim()}`)
  // the kernel's own account, as ss prints it: bytes wait unsent, the receive window limited
  // the transfer, and nothing was sent for at least 200 ms
  assert.ok(ssNum(info, 'notsent') > 0, 'ss notsent > 0')
  const rwnd = /rwnd_limited:\d+ms\((\d+(?:\.\d+)?)%\)/.exec(info)
  assert.ok(rwnd && Number(rwnd[1]) >= 50, `ss rwnd_limited share ${rwnd && rwnd[1]}%`)
  const lastsnd = ssNum(info, 'lastsnd')
  assert.ok(lastsnd >= 200, `ss lastsnd ${lastsnd} ms`)
  assert.ok(st.tcp.sndWindowBytes < st.tcp.sndMss, 'the peer\'s window is closed')
  // called again after the stall it stays: the interval is all window-limited
  await sleep(150)
  assert.equal(ks.socketState(c).verdict, 'peer-not-reading')
})

test('a peer in another process reading 50 MB/s steadily is not peer-not-reading', { skip: noSs }, async (t) => {
  const port = await peer(t, 'rate', 50)
  const c = await connect(t, port)
  const stop = flood(c)
  t.after(stop)
  await sleep(300)
  const verdicts = []
  let zeroWindow = 0
  const acked = []
  for (let i = 0; i < 10; i++) {
    await sleep(150)
    const s = ks.socketState(c)
    verdicts.push(s.verdict)
    if (s.tcp.sndWindowBytes < s.tcp.sndMss) zeroWindow++
    acked.push(ssNum(ssInfo(c.localPort, c.remotePort), 'bytes_acked'))
  }
  t.diagnostic(`verdicts ${verdicts.join(' ')}; closed window in ${zeroWindow}/10 snapshots; ss bytes_acked ${acked.join(' ')}`)
  // ss: the peer takes bytes all along (bytes_acked grows between every two readings)
  for (let i = 1; i < acked.length; i++) assert.ok(acked[i] > acked[i - 1], `ss bytes_acked grows (${acked[i - 1]} -> ${acked[i]})`)
  const rate = (acked[acked.length - 1] - acked[0]) / (9 * 0.15) / 1e6
  assert.ok(rate > 5, `the peer reads ${rate.toFixed(1)} MB/s`)
  assert.ok(!verdicts.includes('peer-not-reading'), verdicts.join(' '))
  assert.ok(!verdicts.includes(null))
})

test('a send buffer that limits a fast transfer: send-buffer-full, everything in flight (ss skmem)', { skip: (noSs || (!HAS_PYTHON && 'python3 is not installed')) }, async (t) => {
  // SO_SNDBUF 16 KiB (the kernel doubles it) set by python before connect; the reader drains
  // as fast as it can, so neither the window nor the network limits: the buffer does
  const c = await child(t, ['python3', path.join(__dirname, 'fixtures', 'small-sndbuf.py'), '16384',
    process.execPath, path.join(__dirname, 'fixtures', 'verdict-writer.js'), 'fd3', '150', '8'])
  const rows = []
  let skmem = null
  for (;;) {
    const row = JSON.parse(await c.nextLine())
    if (row.done) break
    rows.push(row)
    if (skmem === null) skmem = ssInfo(row.localPort, row.remotePort, ['-tmiH'])
  }
  t.diagnostic(`verdicts ${rows.map((r) => r.verdict).join(' ')}; ss ${skmem.trim()}`)
  const tb = /skmem:\([^)]*tb(\d+)/.exec(skmem)
  assert.ok(tb, 'ss shows skmem')
  assert.equal(rows[0].bufferBytes, Number(tb[1]), 'send.bufferBytes = ss skmem tb (sk_sndbuf)')
  assert.equal(ssNum(skmem, 'notsent'), 0, 'ss: nothing waits unsent, it is all in flight')
  const full = rows.filter((r) => r.verdict === 'send-buffer-full').length
  assert.ok(full >= rows.length / 2, `send-buffer-full in ${full}/${rows.length}`)
  for (const r of rows) {
    assert.ok(r.verdict === 'send-buffer-full' || r.verdict === 'ok' || r.verdict === 'app-queue-growing', r.verdict)
    assert.ok(r.rwndLimitedMs <= r.busyMs / 10, 'the window never limited it')
  }
})

/** A listener in another process with backlog 1 whose event loop is blocked: never accepts. */
async function blockedListener (t, where) {
  const code = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const server = require('node:net').createServer()
    server.listen({ ${where}, backlog: 1 }, () => {
      const before = ks.socketState(server)
      const a = server.address()
      console.log(typeof a === 'string' ? a : a.port)
      // the loop is blocked: nothing accepts; connections queue in the kernel
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500)
      const after = ks.socketState(server)
      console.log(JSON.stringify({ before: [before.verdict, before.acceptQueue], after: [after.verdict, after.acceptQueue] }))
    })`
  const c = await child(t, [process.execPath, '-e', code])
  return { c, address: await c.nextLine() }
}

test('a TCP listener whose accept queue is full: accept-queue-full, the queue as ss -tl shows it', { skip: noSs }, async (t) => {
  const { c, address } = await blockedListener(t, "port: 0, host: '127.0.0.1'")
  const port = Number(address)
  const clients = []
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1').on('error', () => {})
    clients.push(s)
    t.after(async () => { s.destroy(); if (!s.closed) await once(s, 'close') })
  }
  await sleep(400)
  const ss = execFileSync('ss', ['-tlnH', 'sport', `= :${port}`], { encoding: 'utf8' }).trim().split(/\s+/)
  const out = JSON.parse(await c.nextLine())
  t.diagnostic(`ss: ${ss.join(' ')}; kernelscope ${JSON.stringify(out)}`)
  assert.deepEqual(out.before, ['ok', { length: 0, backlog: 1 }])
  // ss -tl: Recv-Q is the accept queue, Send-Q the backlog; the kernel drops SYNs once
  // the queue holds more than the backlog
  assert.equal(out.after[0], 'accept-queue-full')
  assert.deepEqual(out.after[1], { length: Number(ss[1]), backlog: Number(ss[2]) })
  assert.ok(Number(ss[1]) > Number(ss[2]))
})

test('a unix listener whose accept queue is full: accept-queue-full, the queue as ss -xl shows it', { skip: noSs }, async (t) => {
  const dir = tmpdir()
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const sockPath = path.join(dir, 'l.sock')
  const { c } = await blockedListener(t, `path: ${JSON.stringify(sockPath)}`)
  // unix connect() does not wait for a full queue: the kernel says EAGAIN to the extra ones
  const results = []
  for (let i = 0; i < 3; i++) {
    const s = net.connect(sockPath)
    results.push(new Promise((resolve) => { s.on('connect', () => resolve('connected')); s.on('error', (e) => resolve(e.code)) }))
    t.after(async () => { s.destroy(); if (!s.closed) await once(s, 'close') })
  }
  t.diagnostic(`clients: ${(await Promise.all(results)).join(' ')}`)
  const ss = execFileSync('ss', ['-xlnH', 'src', sockPath], { encoding: 'utf8' }).trim().split(/\s+/)
  const out = JSON.parse(await c.nextLine())
  t.diagnostic(`ss: ${ss.join(' ')}; kernelscope ${JSON.stringify(out)}`)
  assert.deepEqual(out.before, ['ok', { length: 0, backlog: 1 }])
  assert.equal(out.after[0], 'accept-queue-full')
  assert.deepEqual(out.after[1], { length: Number(ss[2]), backlog: Number(ss[3]) })
})

// ---- a slow, lossy or dead path: two network namespaces and a user-space forwarder (root)
const notRoot = process.getuid() !== 0 && 'needs root (network namespaces and TUN devices)'
const noNetns = notRoot || (!HAS_PYTHON && 'python3 is not installed') || (!fs.existsSync('/dev/net/tun') && 'no /dev/net/tun') ||
  (!hasTool('ip') && 'ip (iproute2) is not installed') || noSs
let netSeq = 0

/** Namespaces <name>a (10.201.0.1) and <name>b (10.201.0.2), `delayMs` each way, `loss` dropped. */
async function netpath (t, delayMs, loss) {
  const name = `ks${process.pid % 100000}${netSeq++}`
  const fwd = spawn('python3', [path.join(__dirname, 'fixtures', 'netpath.py'), name, String(delayMs), String(loss)],
    { stdio: ['pipe', 'pipe', 'inherit'] })
  const gone = once(fwd, 'close')
  t.after(async () => {
    fwd.stdin.end() // the forwarder deletes both namespaces on EOF
    await gone
  })
  const [line] = await once(fwd.stdout, 'data')
  assert.equal(String(line).trim(), 'ready')
  const inNs = (side, args) => ['ip', 'netns', 'exec', name + side, ...args]
  return { name, fwd, inNs, ss: (args) => execFileSync('ip', ['netns', 'exec', `${name}a`, 'ss', ...args], { encoding: 'utf8' }).replace(/\s+/g, ' ') }
}

/** A TCP server on 10.201.0.2:5000 in namespace b that reads everything. */
async function nsReader (t, net) {
  const code = "require('node:net').createServer((c) => { c.resume(); c.on('error', () => {}) }).listen(5000, '10.201.0.2', () => console.log('up'))"
  const c = await child(t, net.inNs('b', [process.execPath, '-e', code]))
  assert.equal(await c.nextLine(), 'up')
}

test('a lossy path (5% loss, 40 ms rtt between namespaces): network-limited; ss shows the retransmits', { skip: noNetns }, async (t) => {
  const np = await netpath(t, 20, 0.05)
  await nsReader(t, np)
  const w = await child(t, np.inNs('a', [process.execPath, path.join(__dirname, 'fixtures', 'verdict-writer.js'), '5000', '250', '8']),
    { env: { ...process.env, KS_HOST: '10.201.0.2' } })
  const rows = []
  let ss = null
  for (;;) {
    const row = JSON.parse(await w.nextLine())
    if (row.done) break
    rows.push(row)
    if (rows.length === 4) ss = np.ss(['-tniH', 'dst', '10.201.0.2'])
  }
  t.diagnostic(`verdicts ${rows.map((r) => r.verdict).join(' ')}; ss ${ss.trim()}`)
  const rtt = /rtt:([\d.]+)\//.exec(ss)
  assert.ok(rtt && Number(rtt[1]) >= 30 && Number(rtt[1]) < 1000, `ss rtt ${rtt && rtt[1]} ms`)
  const retrans = /retrans:\d+\/(\d+)/.exec(ss)
  assert.ok(retrans && Number(retrans[1]) > 0, 'ss counts retransmits')
  assert.ok(rows[rows.length - 1].totalRetransmits >= Number(retrans[1]), 'kernelscope sees at least as many later')
  const limited = rows.filter((r) => r.verdict === 'network-limited').length
  assert.ok(limited >= rows.length * 0.75, `network-limited in ${limited}/${rows.length}`)
  assert.ok(!rows.some((r) => r.verdict === 'peer-not-reading'))
})

test('a dead path: a small write retransmitting is network-limited, a healthy one ok (ss: retrans, backoff)', { skip: noNetns }, async (t) => {
  const np = await netpath(t, 20, 0)
  await nsReader(t, np)
  const code = `
    const ks = require(${JSON.stringify(path.join(__dirname, '..'))})
    const c = require('node:net').connect(5000, '10.201.0.2', () => {
      c.write('x'.repeat(100))
      setTimeout(() => {
        const s = ks.socketState(c)
        console.log(JSON.stringify({ verdict: s.verdict, localPort: s.localPort, queued: s.send.queuedBytes }))
        process.stdin.once('data', () => {
          c.write('y'.repeat(100))
          const end = Date.now() + 4000
          const poll = setInterval(() => {
            const s = ks.socketState(c)
            if (s.tcp.retransmits >= 1 || Date.now() > end) {
              clearInterval(poll)
              console.log(JSON.stringify({ verdict: s.verdict, queued: s.send.queuedBytes, retransmits: s.tcp.retransmits, backoff: s.tcp.backoff, totalRetransmits: s.tcp.totalRetransmits }))
              c.destroy()
            }
          }, 50)
        })
      }, 300)
    })
    c.on('error', () => {})`
  const w = await child(t, np.inNs('a', [process.execPath, '-e', code]), { stdio: ['pipe', 'pipe', 'inherit'] })
  const healthy = JSON.parse(await w.nextLine())
  assert.equal(healthy.verdict, 'ok', 'delivered and acked')
  assert.equal(healthy.queued, 0)
  np.fwd.stdin.write('dead\n')
  await sleep(100)
  const t0 = Date.now()
  w.stdin.write('go\n')
  const ss = await until(() => {
    const out = np.ss(['-tniH', 'dst', '10.201.0.2'])
    return /backoff:\d+/.test(out) ? out : null
  }, 4000, 100)
  const stuck = JSON.parse(await w.nextLine())
  t.diagnostic(`after ${Date.now() - t0} ms: ${JSON.stringify(stuck)}; ss ${ss && ss.trim()}`)
  assert.ok(ss, 'ss shows the RTO backoff')
  assert.ok(/retrans:1\//.test(ss), 'ss: one segment being retransmitted')
  assert.equal(stuck.queued, 100, 'the 100 bytes are still unacked')
  assert.ok(stuck.retransmits >= 1)
  assert.equal(stuck.verdict, 'network-limited')
})
