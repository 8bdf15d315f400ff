'use strict'
// Restricted environments (issue 16): kernelscope in a child under a seccomp filter that denies
// process_vm_readv or socket(AF_NETLINK), with RLIMIT_NOFILE exhausted, as a uid that cannot
// read its own task/*/syscall, and as an unprivileged user whose /proc is mounted hidepid.
// Every probe must return (with null where the kernel refused) or throw a coded Error; what it
// does return is checked against /proc/<pid> read by this process while the child waits
// (fixtures/restricted-child.js). Parts that need root skip with a message when not root.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const { tmpdir, mkfifo, hasTool, sleep, until, spawnChild, stopChild, nobodyCannotRun, forNobody } = require('./helpers')

const CHILD = path.join(__dirname, 'fixtures', 'restricted-child.js')
const SECCOMP = path.join(__dirname, 'fixtures', 'seccomp-exec.py')
const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')
const OPENAT = { x64: 257, arm64: 56 }[process.arch]
const root = process.getuid() === 0
const PAGE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }))

const noSeccomp = (() => {
  if (!hasTool('python3')) return 'python3 is not installed (it installs the seccomp filter)'
  if (OPENAT === undefined) return `no syscall numbers for ${process.arch}`
  const r = spawnSync('python3', [SECCOMP, 'netlink', '--', 'true'], { encoding: 'utf8' })
  return r.status === 0 ? false : `seccomp filter not available: ${r.stderr.trim()}`
})()
const noRoot = !root && 'needs root (to change uid, mount /proc)'

// --- the truth, from /proc/<pid> -----------------------------------------------------------

const readOr = (file, fallback = null) => { try { return fs.readFileSync(file, 'latin1') } catch { return fallback } }

function truth (pid) {
  const tasks = new Map()
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const base = `/proc/${pid}/task/${tid}`
    const stat = readOr(`${base}/stat`)
    if (stat === null) continue
    const sc = readOr(`${base}/syscall`)
    const first = sc === null ? null : sc.trim().split(' ')[0]
    const wchan = readOr(`${base}/wchan`, '').trim()
    tasks.set(Number(tid), {
      comm: readOr(`${base}/comm`, '').replace(/\n$/, ''),
      nr: first === null || first === 'running' ? first : Number(first),
      wchan: wchan === '' || wchan === '0' ? null : wchan
    })
  }
  const fds = new Map()
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try { fds.set(Number(fd), fs.readlinkSync(`/proc/${pid}/fd/${fd}`)) } catch {}
  }
  const stat = readOr(`/proc/${pid}/stat`)
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const limits = /Max open files\s+(\d+)\s+(\d+)/.exec(readOr(`/proc/${pid}/limits`))
  const io = readOr(`/proc/${pid}/io`, '')
  return {
    tasks,
    fds,
    rssBytes: Number(readOr(`/proc/${pid}/statm`).split(' ')[1]) * PAGE,
    cpuMs: (Number(after[11]) + Number(after[12])) * 10, // utime + stime, USER_HZ = 100
    runMs: Number(readOr(`/proc/${pid}/schedstat`).split(' ')[0]) / 1e6,
    readCalls: Number((/syscr: (\d+)/.exec(io) || [])[1]),
    nofile: { soft: Number(limits[1]), hard: Number(limits[2]) },
    tcp: tcpRows()
  }
}

/** /proc/net/tcp rows by local port: { state, inode } (same network namespace as the child). */
function tcpRows () {
  const states = { '01': 'established', '0A': 'listen' }
  const rows = new Map()
  for (const line of fs.readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 10) continue
    rows.set(`${parseInt(f[1].split(':')[1], 16)}>${parseInt(f[2].split(':')[1], 16)}`, { state: states[f[3]] || f[3], inode: Number(f[9]) })
  }
  return rows
}

// --- driving the child -----------------------------------------------------------------------

/**
 * Runs restricted-child.js under `prefix` (a command that restricts, then execs what follows),
 * calls `onStep(msg)` for each of its steps and answers "go" once onStep settled. Returns every
 * step and how the child ended; kills it after `timeoutMs`.
 */
async function drive (t, prefix, cfg, onStep, { timeoutMs = 60000, node = process.execPath, child: file = CHILD } = {}) {
  const argv = [...prefix, node, file, JSON.stringify(cfg)]
  const child = spawnChild(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } })
  t.after(() => stopChild(child))
  const steps = []
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  let buf = ''
  let chain = Promise.resolve()
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (!line.startsWith('KS ')) continue
      const msg = JSON.parse(line.slice(3))
      steps.push(msg)
      chain = chain.then(() => onStep(msg)).then(() => { if (child.stdin.writable) child.stdin.write('go\n') }, (e) => {
        steps.push({ step: 'parent-failed', error: e })
        child.kill('SIGKILL')
      })
    }
  })
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise((resolve) => child.once('close', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  await chain
  const failed = steps.find((s) => s.step === 'parent-failed')
  if (failed) throw failed.error
  const crash = steps.find((s) => s.step === 'crash')
  assert.equal(crash, undefined, crash && crash.message)
  assert.equal(signal, null, `child killed by ${signal}; stderr: ${err.slice(-2000)}`)
  assert.equal(code, 0, `child exit ${code}; stderr: ${err.slice(-2000)}`)
  return steps
}

/** Opens a FIFO for writing once its reader is there (O_NONBLOCK: never hangs this process). */
async function feed (fifo, text) {
  let fd = null
  await until(() => {
    try { fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); return true } catch (e) {
      if (e.code !== 'ENXIO') throw e
      return false
    }
  }, 20000, 10)
  assert.notEqual(fd, null, `no reader opened ${fifo}`)
  fs.writeSync(fd, text)
  fs.closeSync(fd)
}

async function fifoPair (t) {
  const dir = tmpdir('ks-restricted-')
  fs.chmodSync(dir, 0o755) // the child may run as nobody
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const fifo = mkfifo(dir, 'a.fifo')
  const fifo2 = mkfifo(dir, 'b.fifo')
  fs.chmodSync(fifo, 0o666)
  fs.chmodSync(fifo2, 0o666)
  return { fifo, fifo2 }
}

// --- checks ----------------------------------------------------------------------------------

/** A result is a value or a coded Error; returns the value (undefined when it threw). */
function contract (name, r, allowed) {
  if (r.ok) return r.value
  assert.ok(r.isError, `${name}: threw a non-Error: ${r.message}`)
  assert.ok(typeof r.code === 'string' && r.code.length > 0, `${name}: uncoded ${r.name}: ${r.message}`)
  if (allowed) assert.ok(allowed.includes(r.code), `${name}: ${r.code} (${r.message}), expected ${allowed.join(' or ')}`)
  return undefined
}

/** Every leaf of a snapshot is a finite number or null: no NaN, no undefined, no guess. */
function leavesNumberOrNull (obj, where) {
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object') leavesNumberOrNull(v, `${where}.${k}`)
    else assert.ok(v === null || (typeof v === 'number' && Number.isFinite(v)), `${where}.${k} = ${v}`)
  }
}

const stable = (a, b, key) => {
  const out = new Map()
  for (const [tid, x] of a.tasks) {
    const y = b.tasks.get(tid)
    if (y && x[key] === y[key]) out.set(tid, x[key])
  }
  return out
}

/**
 * The probes' answers against /proc/<pid> read before and after them. `expect` says what this
 * environment must give: { codes: allowed error codes (default: none may throw), fifo:
 * expected target of the openat-blocked worker (undefined: no such worker), syscalls: false
 * when task syscall files are unreadable, sockets: true when our TCP sockets must be resolved }.
 */
function checkProbes (msg, before, after, expect) {
  const { results: r, pid, ports } = msg
  const codes = expect.codes
  const must = (name) => {
    if (!codes) assert.ok(r[name].ok, `${name} threw ${r[name].code}: ${r[name].message}`)
    return contract(name, r[name], codes)
  }

  const s = must('sample')
  if (s) {
    leavesNumberOrNull(s, 'sample()')
    assert.equal(s.pid, pid)
    const [lo, hi] = [before.tasks.size, after.tasks.size].sort((a, b) => a - b) // fds() may start its helper thread
    if (s.threads !== null) assert.ok(s.threads >= lo && s.threads <= hi, `sample().threads ${s.threads}: /proc/<pid>/task had ${before.tasks.size}, then ${after.tasks.size}`)
    if (s.memory.rssBytes !== null) assert.ok(Math.abs(s.memory.rssBytes - after.rssBytes) <= after.rssBytes * 0.2, `rss ${s.memory.rssBytes} vs statm ${after.rssBytes}`)
    assert.deepEqual(s.fdLimits, after.nofile, 'fdLimits = /proc/<pid>/limits')
    const cpu = s.cpu.userMs + s.cpu.systemMs
    assert.ok(cpu >= before.cpuMs - 20 && cpu <= after.cpuMs + 20, `cpu ${cpu} ms within /proc stat ${before.cpuMs}..${after.cpuMs}`)
    if (s.scheduler.runMs !== null) assert.ok(s.scheduler.runMs >= before.runMs - 1 && s.scheduler.runMs <= after.runMs + 1, `runMs ${s.scheduler.runMs} within schedstat ${before.runMs}..${after.runMs}`)
    if (s.io.readCalls !== null && Number.isFinite(after.readCalls)) assert.ok(s.io.readCalls >= before.readCalls && s.io.readCalls <= after.readCalls, `readCalls ${s.io.readCalls} within syscr ${before.readCalls}..${after.readCalls}`)
  }

  const fdCount = must('fdCount')
  if (fdCount !== undefined) assert.equal(fdCount, after.fds.size, 'fdCount() = /proc/<pid>/fd entries')
  const summary = must('fdSummary')
  if (summary !== undefined) assert.equal(summary, after.fds.size, 'fdSummary().count = /proc/<pid>/fd entries')

  for (const name of ['fdsSync', 'fds']) {
    const list = must(name)
    if (!list) continue
    assert.deepEqual(list.map((e) => e.fd).sort((a, b) => a - b), [...after.fds.keys()].sort((a, b) => a - b), `${name}(): the fds of /proc/<pid>/fd`)
    for (const e of list) {
      if (e.error === null) assert.equal(e.target, after.fds.get(e.fd), `${name}() fd ${e.fd} target`)
      if (e.type !== 'socket') continue
      const inode = Number(/socket:\[(\d+)\]/.exec(e.target)[1])
      const ours = [...after.tcp.entries()].find(([, row]) => row.inode === inode)
      if (!ours) continue
      if (e.socket === null) {
        assert.ok(!expect.sockets, `${name}() fd ${e.fd}: socket not resolved (${e.socketError})`)
        assert.equal(typeof e.socketError, 'string', `${name}() fd ${e.fd}: an unresolved socket says why`)
        continue
      }
      const [local, remote] = ours[0].split('>').map(Number)
      assert.equal(e.socket.localPort, local, `${name}() fd ${e.fd} localPort`)
      assert.equal(e.socket.remotePort, remote, `${name}() fd ${e.fd} remotePort`)
      assert.equal(e.socket.state, ours[1].state, `${name}() fd ${e.fd} state`)
    }
    if (expect.sockets) {
      const ports2 = list.filter((e) => e.socket).map((e) => e.socket.localPort)
      assert.ok(ports2.includes(ports.client) && ports2.includes(ports.server), `${name}(): our TCP sockets resolved (${ports2})`)
    }
  }

  const ss = must('socketState')
  if (ss) {
    assert.equal(ss.localPort, ports.client)
    assert.equal(ss.remotePort, ports.server)
    assert.equal(ss.state, after.tcp.get(`${ports.client}>${ports.server}`).state)
    assert.ok(ss.tcp !== null && ss.tcp.bytesSent >= 1000, 'TCP_INFO needs no descriptor of its own')
  }

  const th = must('threads')
  if (th) {
    // every thread there before and after, none that was in neither reading
    const tids = new Set(th.map((x) => x.tid))
    for (const tid of before.tasks.keys()) if (after.tasks.has(tid)) assert.ok(tids.has(tid), `threads() lists ${tid}`)
    for (const tid of tids) assert.ok(before.tasks.has(tid) || after.tasks.has(tid), `threads() lists ${tid}, which /proc/<pid>/task never had`)
    // A thread in the same call before and after the probe may still have woken in between (V8's
    // platform workers do): null (running) is then a true answer, another call or wchan is not.
    // A thread running at both readings constrains nothing: it may have slept in between (a
    // Node 24 worker seen running twice was in futex_do_wait at the probe, under load 8).
    const nrs = stable(before, after, 'nr')
    const wchans = stable(before, after, 'wchan')
    for (const [tid, w] of wchans) if (w === null) wchans.delete(tid)
    let told = 0
    let blocked = 0
    for (const x of th) {
      assert.equal(x.name, (after.tasks.get(x.tid) || before.tasks.get(x.tid)).comm, `thread ${x.tid} name = comm`)
      if (x.tid === pid) continue // the caller: reported running, it was running the scan
      if (wchans.has(x.tid) && x.wchan !== null) assert.equal(x.wchan, wchans.get(x.tid), `thread ${x.tid} wchan`)
      if (expect.syscalls === false) {
        // index.d.ts: syscall is null when none can be told; it never names a call it did not read
        assert.equal(x.syscall, null, `thread ${x.tid}: task syscall unreadable, no syscall claimed`)
        // ...and says it is unknown, with the refusal (not "not in a syscall")
        assert.match(String(x.syscallError), /^E[A-Z]+: \/proc\/self\/task\/\d+\/syscall$/, `thread ${x.tid} syscallError`)
      } else if (nrs.has(x.tid) && typeof nrs.get(x.tid) === 'number') {
        blocked++
        if (x.syscall !== null) {
          told++
          assert.equal(x.syscall.nr, nrs.get(x.tid), `thread ${x.tid} syscall nr`)
        }
      }
    }
    assert.ok(told >= blocked / 2, `threads(): ${told} of ${blocked} threads blocked throughout named their syscall`)
    if (expect.fifo !== undefined) {
      const tid = [...nrs].find(([, nr]) => nr === OPENAT)?.[0]
      assert.ok(tid, 'a worker is blocked in openat on the FIFO')
      const x = th.find((y) => y.tid === tid)
      if (expect.syscalls === false) {
        assert.equal(x.syscall, null)
      } else {
        assert.equal(x.syscall.name, 'openat')
        assert.equal(x.syscall.target, expect.fifo, 'openat target')
      }
    }
  }
}

function checkOthers (others, codes) {
  for (const [name, r] of Object.entries(others)) contract(name, r, codes)
  if (others.loop.ok) {
    assert.ok(others.loop.value.iterations >= 2, `loop monitor saw ${others.loop.value.iterations} iterations`)
    assert.equal(others.loop.value.history, others.loop.value.iterations)
  }
  if (others.processInfo.ok) assert.equal(typeof others.processInfo.value.state, 'string')
  // a scrape is served whatever the kernel refuses: what needs no descriptor is always there
  assert.ok(others.prometheus.ok, `prometheus scrape: ${others.prometheus.code} ${others.prometheus.message}`)
  assert.ok(others.prometheus.value.includes('kernelscope_context_switches_total'), others.prometheus.value.join(' '))
  assert.ok(others.opentelemetry.ok, `opentelemetry collect: ${others.opentelemetry.code} ${others.opentelemetry.message}`)
  assert.deepEqual(others.opentelemetry.value.errors, [])
  assert.ok(others.opentelemetry.value.names.includes('process.context_switches'), others.opentelemetry.value.names.join(' '))
}

function checkExplain (ex, fifo2) {
  assert.ok(ex.ok, `explain threw ${ex.code}: ${ex.message}`)
  const { value, report } = ex.value
  assert.equal(value, 'second')
  assert.equal(report.outcome, 'ok')
  assert.ok(report.wallMs >= 100 && report.wallMs <= ex.measuredMs + 5, `wallMs ${report.wallMs} (measured ${ex.measuredMs})`)
  const sum = report.breakdown.reduce((a, b) => a + b.ms, 0)
  assert.ok(Math.abs(sum - report.wallMs) <= Math.max(1, report.wallMs * 0.01), `breakdown sums to ${sum}, wall ${report.wallMs}`)
  for (const b of [...report.breakdown, ...report.requests]) {
    if (b.kind === 'fs' && b.target !== null) assert.equal(b.target, fifo2, 'an fs target, when given, is the file read')
  }
}

/**
 * The child and a node that uid 65534 can run: the originals when it can reach them, else
 * forNobody()'s copy of the package with the child and the exporters' packages added (a clone
 * under a 0700 directory, a cached Node under /root). { skip } when neither works.
 */
function nobodyChild (t) {
  if (nobodyCannotRun(CHILD) === null) return { node: process.execPath, child: CHILD, bin: BIN }
  const f = forNobody()
  if (f.skip) return f
  t.after(f.remove)
  if (f.bin === BIN) return { node: f.node, child: CHILD, bin: BIN } // the checkout is reachable after all
  const pkg = path.dirname(path.dirname(f.bin))
  const child = path.join(pkg, '__test__', 'fixtures', path.basename(CHILD))
  try {
    fs.mkdirSync(path.dirname(child), { recursive: true })
    fs.copyFileSync(CHILD, child)
    for (const m of ['prom-client', 'tdigest', 'bintrees', '@opentelemetry']) {
      fs.cpSync(path.join(__dirname, '..', 'node_modules', m), path.join(pkg, 'node_modules', m), { recursive: true })
    }
    spawnSync('chmod', ['-R', 'a+rX', pkg])
  } catch (err) {
    return { skip: `could not make a copy of the child uid 65534 can run: ${err.message}` }
  }
  return { node: f.node, child, bin: f.bin }
}

/** The FIFO flow: the child blocks a worker in openat, probes, then explains a second read. */
async function fifoRun (t, prefix, cfg, expect, runner = {}) {
  const { fifo, fifo2 } = await fifoPair(t)
  let before = null
  let probed = null
  const steps = await drive(t, prefix, { ...cfg, fifo, fifo2 }, async (msg) => {
    if (msg.step === 'blocked') {
      const blocked = await until(() => { const x = truth(msg.pid); return [...x.tasks.values()].some((k) => k.nr === OPENAT) && x }, 20000)
      assert.ok(blocked, 'the child blocked a worker in openat')
      before = blocked
    } else if (msg.step === 'probes') {
      const after = truth(msg.pid)
      checkProbes(msg, before, after, { ...expect, fifo: expect.fifoTarget })
      probed = msg
      await feed(fifo, 'first')
    } else if (msg.step === 'explain-started') {
      await sleep(150)
      await feed(fifo2, 'second')
    }
  }, runner)
  const done = steps.find((s) => s.step === 'done')
  assert.equal(done.read, 'first')
  checkExplain(done.explained, fifo2)
  checkOthers(done.others, expect.codes)
  return { probed, done }
}

// --- the environments ------------------------------------------------------------------------

test('seccomp denies process_vm_readv: threads() gives syscalls without path targets; every probe still answers', { skip: noSeccomp, timeout: 90000 }, async (t) => {
  await fifoRun(t, ['python3', SECCOMP, 'process_vm_readv', '--'], { mode: 'seccomp' }, { fifoTarget: null })
})

test('seccomp denies socket(AF_NETLINK): descriptors and sockets come from /proc/net; every probe still answers', { skip: noSeccomp, timeout: 90000 }, async (t) => {
  await fifoRun(t, ['python3', SECCOMP, 'netlink', '--'], { mode: 'seccomp' }, { sockets: true, fifoTarget: undefined })
})

test('RLIMIT_NOFILE exhausted: probes answer or throw EMFILE, kept-open files keep working, all recover when descriptors are free', { timeout: 90000 }, async (t) => {
  for (const warm of [false, true]) {
    let before = null
    let limit = null
    const seen = []
    const levels = warm ? [0, 1, 2, 3] : [0]
    await drive(t, ['sh', '-c', 'ulimit -n 64 && exec "$@"', 'sh'], { mode: 'rlimit', warm, levels }, (msg) => {
      if (msg.step === 'level') {
        before = truth(msg.pid)
        limit = before.nofile.soft
        return
      }
      if (msg.step !== 'probes') return
      const after = truth(msg.pid)
      const released = msg.level === 'released'
      checkProbes(msg, before, after, { codes: released ? undefined : ['EMFILE'], sockets: released })
      checkOthers(msg.others, released ? undefined : ['EMFILE'])
      const r = msg.results
      const s = r.sample.value
      seen.push(`${warm ? 'warm' : 'cold'} free=${msg.level}: ${Object.entries({ ...r, ...msg.others }).map(([k, v]) => `${k} ${v.ok ? 'ok' : v.code}`).join(', ')}`)
      if (released) {
        // recovery: every field the kernel gives is back (issue 11: sample() reopens its files)
        for (const k of ['rssBytes', 'virtualBytes']) assert.notEqual(s.memory[k], null, k)
        assert.notEqual(s.io.readCalls, null)
        assert.notEqual(s.scheduler.runMs, null)
        assert.notEqual(s.threads, null)
        return
      }
      // no probe keeps a descriptor: the table is as full as the child left it (numbers at or
      // above the limit were inherited open and do not count against it)
      assert.equal([...after.fds.keys()].filter((fd) => fd < limit).length, limit - msg.level, `descriptors open at free=${msg.level}`)
      if (msg.level === 0) {
        for (const k of ['fdCount', 'fdSummary', 'fdsSync', 'fds', 'threads']) assert.equal(r[k].code, 'EMFILE', `${k} without a free descriptor`)
        // the families that need /proc/self/fd are left out of the scrape, not the scrape
        assert.ok(!msg.others.prometheus.value.includes('kernelscope_file_descriptors'))
        assert.ok(!msg.others.opentelemetry.value.names.includes('process.unix.file_descriptor.count'))
      } else {
        assert.ok(msg.others.prometheus.value.includes('kernelscope_file_descriptors'), `free=${msg.level}: ${msg.others.prometheus.value}`)
        assert.ok(msg.others.opentelemetry.value.names.includes('process.unix.file_descriptor.count'))
      }
      if (msg.level >= 3) {
        for (const k of ['fdCount', 'fdSummary', 'fdsSync', 'fds', 'threads']) assert.ok(r[k].ok, `${k} with ${msg.level} free descriptors: ${r[k].code}`)
      }
      if (warm) {
        for (const k of ['rssBytes', 'virtualBytes']) assert.notEqual(s.memory[k], null, `warm ${k} at free=${msg.level}`)
        assert.notEqual(s.io.readCalls, null, 'warm: /proc/self/io stays open')
        assert.notEqual(s.threads, null, 'warm: /proc/self/task stays open')
      } else {
        assert.deepEqual([s.memory.rssBytes, s.io.readCalls, s.scheduler.runMs, s.threads], [null, null, null, null], 'cold: files never opened are null')
      }
      assert.equal(r.socketState.ok, true, 'socketState needs no descriptor')
    })
    for (const line of seen) t.diagnostic(line)
  }
})

test('task/*/syscall unreadable (setuid to nobody after start): threads() claims no syscall; the rest answers', { skip: noRoot, timeout: 90000 }, async (t) => {
  const runner = nobodyChild(t)
  if (runner.skip) return t.skip(runner.skip)
  await fifoRun(t, [], { mode: 'setuid' }, { syscalls: false, fifoTarget: null }, runner)
})

for (const hidepid of [1, 2]) {
  const why = noRoot || (!hasTool('unshare') && 'no unshare') || (!hasTool('setpriv') && 'no setpriv')
  test(`/proc mounted hidepid=${hidepid}, as nobody: another user's process is a coded ${hidepid === 2 ? 'ENOENT' : 'EPERM'}; our own probes answer`, { skip: why || false, timeout: 90000 }, async (t) => {
    const prefix = ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
      `mount -t proc -o hidepid=${hidepid} proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"`, 'sh']
    const runner = nobodyChild(t)
    if (runner.skip) return t.skip(runner.skip)
    const { probed } = await fifoRun(t, prefix, { mode: 'hidepid', other: process.pid }, { fifoTarget: undefined }, runner)
    // what /proc itself tells this user (hidepid=1: EPERM from proc_pid_permission; 2: the
    // directory is not there), and kernelscope says the same
    assert.equal(probed.otherVisible, hidepid === 1, `/proc lists ${process.pid} to nobody`)
    const code = probed.otherFdDir.code
    assert.ok(hidepid === 2 ? code === 'ENOENT' : ['EPERM', 'EACCES'].includes(code), `readdir /proc/<pid>/fd as nobody: ${code}`)
    for (const k of ['other', 'otherAsync', 'otherThreads']) {
      assert.equal(probed[k].ok, false, `${k} of root's process`)
      assert.equal(probed[k].code, code, `${k}: ${probed[k].message}`)
      assert.equal(typeof probed[k].syscall, 'string')
    }
    assert.equal(probed.otherInfo.ok, false)
    assert.equal(probed.otherInfo.code, code, `processInfo: ${probed.otherInfo.message}`)
    // and the CLI says so with exit 3
    const r = spawnSync(prefix[0], [...prefix.slice(1), runner.node, runner.bin, 'inspect', String(process.pid)], { encoding: 'utf8', timeout: 30000 })
    assert.equal(r.status, 3, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, new RegExp(`^kernelscope inspect: .*\\b${process.pid}\\b`))
  })
}
