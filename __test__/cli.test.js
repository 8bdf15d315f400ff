'use strict'
// The kernelscope command, run as users run it (bin/kernelscope.js in a child process) on other
// processes the test starts: a Node service with a libuv worker blocked on a FIFO and a TCP
// listener, and a Python process with sockets. Checked against /proc/<pid>/task and the ports the
// services report; `top` runs in a real terminal (tmux) and quits on q.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFile, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const { tmpdir, mkfifo, hasTool, until, forNobody } = require('./helpers')

const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')

function run (args, opts = {}) {
  return new Promise((resolve) => {
    execFile(opts.cmd || process.execPath, opts.cmd ? args : [BIN, ...args], { maxBuffer: 64 << 20, ...opts.exec }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr })
    })
  })
}

/** Starts a child that prints one JSON line; resolves { child, info, stop() } (stop waits for exit). */
async function service (cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  let buf = ''
  child.stdout.setEncoding('utf8')
  while (!buf.includes('\n')) {
    const [chunk] = await once(child.stdout, 'data')
    buf += chunk
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = once(child, 'exit')
    child.kill('SIGKILL')
    await gone
  }
  return { child, info: JSON.parse(buf.split('\n')[0]), stop }
}

// the kernel's own view of a thread's syscall: /proc/<pid>/task/<tid>/syscall, first field
function syscallNr (pid, tid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0]
  } catch {
    return null
  }
}
const OPENAT = process.arch === 'arm64' ? '56' : '257'

async function nodeService (t) {
  const dir = tmpdir()
  const fifo = mkfifo(dir)
  const svc = await service(process.execPath, [path.join(__dirname, 'fixtures', 'fifo-server.js'), fifo])
  t.after(async () => {
    await svc.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const pid = svc.child.pid
  // wait until the kernel shows a thread in openat (the worker reached the FIFO)
  const blocked = await until(() => fs.readdirSync(`/proc/${pid}/task`).find((tid) => syscallNr(pid, tid) === OPENAT), 5000)
  assert.ok(blocked, 'a thread of the service sits in openat')
  return { pid, fifo, port: svc.info.port, blockedTid: Number(blocked) }
}

test('inspect --json of a separate Node process: the libuv worker in openat on the FIFO, and the listening port', async (t) => {
  const svc = await nodeService(t)
  const r = await run(['inspect', String(svc.pid), '--json'])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.process.pid, svc.pid)
  assert.equal(out.process.cmdline[0], process.execPath)
  assert.equal(out.process.threads, fs.readdirSync(`/proc/${svc.pid}/task`).length)
  const worker = out.threads.find((th) => th.tid === svc.blockedTid)
  assert.ok(worker, 'the blocked thread is listed')
  assert.equal(worker.role, 'libuv-worker')
  assert.equal(worker.syscall.name, 'openat')
  assert.equal(worker.syscall.target, svc.fifo)
  assert.equal(worker.wchan, fs.readFileSync(`/proc/${svc.pid}/task/${svc.blockedTid}/wchan`, 'utf8'))
  assert.equal(out.threads.find((th) => th.tid === svc.pid).role, 'main')
  const listener = out.descriptors.entries.find((e) => e.socket && e.socket.state === 'listen')
  assert.ok(listener, 'a listening socket')
  assert.equal(listener.socket.localPort, svc.port)
  assert.equal(listener.socket.localAddress, '127.0.0.1')
  assert.equal(out.descriptors.count, fs.readdirSync(`/proc/${svc.pid}/fd`).length)
  assert.equal(out.descriptors.byType.socket, out.descriptors.entries.filter((e) => e.type === 'socket').length)
  assert.equal(out.process.limits.openFiles.soft, Number(fs.readFileSync(`/proc/${svc.pid}/limits`, 'utf8').match(/Max open files\s+(\d+)/)[1]))
})

// a process holding descriptors whose JSON needs every escape: odd file names (quote,
// backslash, newline, tab, control bytes, DEL, a byte that is not UTF-8, U+2028, an emoji), a
// deleted file, a directory, /dev/null, a FIFO, a pipe, TCP, UDP and unix sockets (an abstract
// name with NULs, a path with a newline)
const ODD = `
const fs = require('fs'), net = require('net'), dgram = require('dgram'), path = require('path')
const dir = process.argv[1]
const keep = []
const names = ['q"uote', 'back\\\\slash', 'new\\nline', 'tab\\there', 'ctl\\x01\\x1f', 'del\\x7f', 'sep\\u2028', 'emoji\\u{1f600}']
for (const n of names) keep.push(fs.openSync(path.join(dir, n), 'w'))
keep.push(fs.openSync(Buffer.concat([Buffer.from(dir + '/bad'), Buffer.from([0xff, 0xfe]), Buffer.from('x')]), 'w'))
const gone = path.join(dir, 'deleted'); keep.push(fs.openSync(gone, 'w')); fs.unlinkSync(gone)
keep.push(fs.openSync(dir, 'r'), fs.openSync('/dev/null', 'r'), fs.openSync(process.argv[2], fs.constants.O_RDWR))
const u = dgram.createSocket('udp4'); keep.push(u)
const tcp = net.createServer((s) => keep.push(s))
const abs = net.createServer(); const named = net.createServer()
tcp.listen(0, '127.0.0.1', () => u.bind(0, '127.0.0.1', () => abs.listen('\\0ks\\0json', () => named.listen(path.join(dir, 'un\\nix.sock'), () => {
  const c = net.connect(tcp.address().port, '127.0.0.1', () => { keep.push(c); setTimeout(() => process.stdout.write('{}\\n'), 100) })
}))))
process.stdin.resume()
`

test('inspect --json writes exactly what JSON.stringify gives of fdsSync({ pid }) entries, odd names, sockets and all', async (t) => {
  const ks = require('..')
  const dir = tmpdir()
  const fifo = mkfifo(dir)
  const svc = await service(process.execPath, ['-e', ODD, dir, fifo])
  t.after(async () => {
    await svc.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const pid = svc.child.pid
  const r = await run(['inspect', String(pid), '--json'])
  assert.equal(r.code, 0, r.stderr)
  // the text is JSON.stringify's own: no other escapes, no spaces, one trailing newline
  const out = JSON.parse(r.stdout)
  assert.equal(JSON.stringify(out) + '\n', r.stdout)
  const fds = ks.fdsSync({ pid })
  const byType = {}
  for (const e of fds) byType[e.type] = (byType[e.type] || 0) + 1
  assert.equal(JSON.stringify(out.descriptors), JSON.stringify({ count: fds.length, byType, entries: fds }))
  const targets = out.descriptors.entries.map((e) => e.target)
  for (const n of ['q"uote', 'back\\slash', 'new\nline', 'tab\there', 'ctl\x01\x1f', 'del\x7f', 'sep\u2028', 'emoji\u{1f600}', 'bad\ufffd\ufffdx']) {
    assert.ok(targets.includes(path.join(dir, n)), `${JSON.stringify(n)} in ${JSON.stringify(targets)}`)
  }
  assert.ok(targets.includes(path.join(dir, 'deleted') + ' (deleted)'))
  assert.ok(out.descriptors.entries.some((e) => e.socket && e.socket.localAddress === '@ks@json'))
  assert.ok(out.descriptors.entries.some((e) => e.socket && e.socket.localAddress === path.join(dir, 'un\nix.sock')))
  for (const type of ['file', 'directory', 'char-device', 'fifo', 'pipe', 'socket', 'epoll']) assert.ok(byType[type] > 0, `${type} in ${JSON.stringify(byType)}`)
})

test('a reader that stops reading (| head) ends inspect --json quietly, not with an EPIPE stack', async (t) => {
  // 3,000 descriptors: ~600 kB of JSON, far more than a pipe holds
  const svc = await service(process.execPath, ['-e', "for (let i = 0; i < 3000; i++) require('fs').openSync('/dev/null', 'r'); process.stdout.write('{}\\n'); process.stdin.resume()"])
  t.after(() => svc.stop())
  const child = spawn(process.execPath, [BIN, 'inspect', String(svc.child.pid), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => { stderr += d })
  // read a first chunk, then close our end, as head -c does
  await once(child.stdout, 'data')
  child.stdout.destroy()
  const [code] = await once(child, 'exit')
  assert.equal(stderr, '')
  assert.equal(code, 0)
})

test('the table fits 80 columns and names the worker, the FIFO and the port', async (t) => {
  const svc = await nodeService(t)
  const r = await run(['inspect', String(svc.pid)])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  for (const l of lines) assert.ok([...l].length <= 80, `${[...l].length} columns: ${l}`)
  assert.match(r.stdout, /^PROCESS \d+/)
  const worker = lines.find((l) => l.startsWith(`${svc.blockedTid} `))
  assert.ok(worker, r.stdout)
  assert.match(worker, /libuv-worker/)
  assert.match(worker, /openat/)
  assert.ok(worker.includes(path.basename(svc.fifo)) || worker.includes('…'), worker)
  assert.ok(r.stdout.includes(`listening 127.0.0.1:${svc.port}`), r.stdout)
  const wide = await run(['inspect', String(svc.pid), '--width', '200'])
  assert.ok(wide.stdout.split('\n').find((l) => l.startsWith(`${svc.blockedTid} `)).includes(svc.fifo))
})

test('inspect of a Python process: its sockets, listening and connected', { skip: !hasTool('python3') && 'python3 not installed' }, async (t) => {
  const code = [
    'import socket, json, sys',
    'l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)',
    'c = socket.create_connection(l.getsockname()); a, _ = l.accept()',
    'c.sendall(b"x" * 1000)',
    'u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))',
    'print(json.dumps({"listen": l.getsockname()[1], "client": c.getsockname()[1], "udp": u.getsockname()[1]}), flush=True)',
    'sys.stdin.read()'
  ].join('\n')
  const svc = await service('python3', ['-c', code])
  t.after(() => svc.stop())
  const r = await run(['inspect', String(svc.child.pid), '--json'])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  const sockets = out.descriptors.entries.filter((e) => e.socket).map((e) => e.socket)
  const listen = sockets.find((s) => s.state === 'listen')
  assert.equal(listen.localPort, svc.info.listen)
  const client = sockets.find((s) => s.localPort === svc.info.client)
  assert.equal(client.state, 'established')
  assert.equal(client.remotePort, svc.info.listen)
  const accepted = sockets.find((s) => s.remotePort === svc.info.client)
  assert.equal(accepted.state, 'established')
  assert.equal(accepted.recvQueueBytes, 1000) // sent, never read
  const udp = sockets.find((s) => s.protocol === 'udp')
  assert.equal(udp.localPort, svc.info.udp)
  // not Node: roles are main and other
  assert.ok(out.threads.every((th) => th.role === (th.tid === svc.child.pid ? 'main' : 'other')))
  assert.match(out.process.comm, /python/)
})

test('top in a terminal (tmux) refreshes in place and quits on q', { skip: !hasTool('tmux') && 'tmux not installed' }, async (t) => {
  const svc = await nodeService(t)
  const dir = tmpdir()
  const session = `kstop${process.pid}`
  const rcFile = path.join(dir, 'rc')
  const tmux = (...a) => spawnSync('tmux', ['-L', session, ...a], { encoding: 'utf8' })
  t.after(() => {
    tmux('kill-server')
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const cmd = `'${process.execPath}' '${BIN}' top ${svc.pid} 0.2; echo $? > '${rcFile}'`
  const started = tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', cmd)
  assert.equal(started.status, 0, started.stderr)
  const pane = () => tmux('capture-pane', '-p', '-t', session).stdout || ''
  const refresh = (s) => Number((/refresh (\d+)/.exec(s) || [])[1])
  const first = await until(() => refresh(pane()) >= 1 && pane(), 10000)
  assert.ok(first, 'top drew a screen')
  assert.match(first, new RegExp(`kernelscope top ${svc.pid}`))
  assert.match(first, /libuv-worker/)
  const later = await until(() => refresh(pane()) >= refresh(first) + 2 && pane(), 10000)
  assert.ok(later, 'the screen refreshed')
  // in place: one header on the screen, not one per refresh
  assert.equal(later.split('\n').filter((l) => l.startsWith('kernelscope top')).length, 1)
  assert.match(later, /openat/)
  tmux('send-keys', '-t', session, 'q')
  const rc = await until(() => fs.existsSync(rcFile) && fs.readFileSync(rcFile, 'utf8').trim(), 10000)
  assert.equal(rc, '0', 'top quit on q with exit code 0')
})

test('top --json streams one object per interval, with rates from the second on', async (t) => {
  const svc = await nodeService(t)
  const r = await run(['top', String(svc.pid), '0.1', '--json', '--count', '3'])
  assert.equal(r.code, 0, r.stderr)
  const frames = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(frames.length, 3)
  assert.equal(frames[0].cpuPercent, null)
  for (const f of frames.slice(1)) {
    assert.ok(f.intervalMs >= 80, `${f.intervalMs} ms`)
    assert.ok(f.cpuPercent >= 0)
    assert.ok(f.readCallsPerSec >= 0)
  }
  assert.ok(frames.every((f) => f.threads.syscalls.openat >= 1 && f.descriptors.byType.socket >= 1 && f.pid === svc.pid))
})

test('bad input: unknown flags, non-numeric and missing pids (2), no such process (3), --help and --version (0)', async () => {
  const cases = [
    [['inspect', '1', '--bogus'], 2, /unknown option '--bogus'/],
    [['inspect', 'abc'], 2, /'abc' is not a process id/],
    [['inspect'], 2, /missing <pid>/],
    [['inspect', '-5'], 2, /not a process id/],
    [['top', '1', '--nope'], 2, /unknown option/],
    [['top', '1', 'fast'], 2, /interval 'fast'/],
    [['top', 'x1'], 2, /not a process id/],
    [['inspect', '2147483646'], 3, /no such process: 2147483646/],
    [['top', '2147483646', '--json'], 3, /no such process/],
    [['nosuchcommand'], 2, /unknown command/]
  ]
  for (const [args, code, re] of cases) {
    const r = await run(args)
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, re, args.join(' '))
    assert.equal(r.stdout, '', args.join(' '))
  }
  for (const cmd of ['inspect', 'top']) {
    const r = await run([cmd, '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, new RegExp(`^usage: kernelscope ${cmd} <pid>`))
  }
  const v = await run(['--version'])
  assert.equal(v.stdout.trim(), require('../package.json').version)
})

test("another user's process: permission denied, exit 3", { skip: process.getuid() !== 0 ? 'needs root (to run the command as nobody)' : (!hasTool('setpriv') && 'no setpriv') }, async (t) => {
  const nobody = forNobody()
  if (nobody.skip) { t.skip(nobody.skip); return }
  t.after(nobody.remove)
  const svc = await nodeService(t) // runs as root
  const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', nobody.node, nobody.bin]
  for (const args of [['inspect', String(svc.pid)], ['top', String(svc.pid), '--json', '--count', '1']]) {
    const r = await run([...asNobody, ...args], { cmd: 'setpriv' })
    assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`)
    assert.match(r.stderr, new RegExp(`permission denied reading /proc/${svc.pid}`))
    assert.equal(r.stdout, '')
  }
})

// bin/kernelscope.js run as a program starts node from PATH through its #! line (a shell
// script to the kernel, a comment to Node), without NODE_EXTRA_CA_CERTS for inspect and top.
// Checked in the command's own environment as the kernel keeps it (/proc/<pid>/environ).
test('run as a program, inspect and top start node without NODE_EXTRA_CA_CERTS; other commands keep it', async (t) => {
  const dir = tmpdir()
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const bundle = path.join(dir, 'no-such-bundle.pem')
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: bundle }
  const r = await run(['inspect', String(process.pid), '--json'], { cmd: BIN, exec: { env } })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).process.pid, process.pid)
  // Node warns of a NODE_EXTRA_CA_CERTS file it cannot load, where it loads it at start-up
  assert.doesNotMatch(r.stderr, /extra certs/i)
  const top = spawn(BIN, ['top', String(process.pid), '0.2', '--json', '--count', '100'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(top, 'exit')
  t.after(async () => {
    if (top.exitCode === null && top.signalCode === null) top.kill('SIGKILL')
    await exited
  })
  await once(top.stdout, 'data')
  const environ = fs.readFileSync(`/proc/${top.pid}/environ`, 'latin1').split('\0')
  assert.equal(fs.realpathSync(`/proc/${top.pid}/exe`), fs.realpathSync(process.execPath), 'the shell exec-ed node')
  assert.ok(environ.includes(`PATH=${env.PATH}`), 'the environment given, otherwise')
  assert.ok(!environ.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')), 'top runs without NODE_EXTRA_CA_CERTS')
  top.kill('SIGTERM')
  await exited
  // run: the user's program gets the environment as it was
  const report = path.join(dir, 'r.json')
  const prog = path.join(dir, 'prog.js')
  fs.writeFileSync(prog, "require('fs').writeFileSync(process.argv[2], String(process.env.NODE_EXTRA_CA_CERTS))")
  const said = path.join(dir, 'said')
  const rr = await run(['run', '--report', report, '--', 'node', prog, said], { cmd: BIN, exec: { env } })
  assert.equal(rr.code, 0, rr.stderr)
  assert.equal(fs.readFileSync(said, 'utf8'), bundle)
})
