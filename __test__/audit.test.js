'use strict'
// `kernelscope audit`: the whole process tree of a command, checked against what the test
// itself controls (a server on 127.0.0.2 that counts connections, the files it wrote, the
// traced command's own exit status, /proc for leftovers).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { tmpdir, until, hasTool, forNobody } = require('./helpers')

const ks = require('..')
const BIN = path.join(__dirname, '..', 'bin', 'kernelscope.js')
const FIX = path.join(__dirname, 'fixtures', 'audit')
const VIOLATION = 90

const skip = !ks.supported ? 'addon not built' : false

function home () {
  const dir = tmpdir('ks-audit-home-')
  fs.writeFileSync(path.join(dir, '.npmrc'), '//registry.example/:_authToken=secret\n')
  return dir
}

// The test's environment without what `npm test` adds (npm_config_userconfig would point the
// audited npm at another .npmrc).
function cleanEnv () {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
}

// Runs `kernelscope audit <args>` and waits for it to be gone; the JSON report comes from a file.
function audit (args, { env = {}, cwd, onSpawn, json = true } = {}) {
  const out = path.join(tmpdir('ks-audit-out-'), 'report.json')
  const argv = [BIN, 'audit', ...(json ? ['--json', '--output', out] : []), ...args]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    if (onSpawn) onSpawn(child)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      let report = null
      try { report = JSON.parse(fs.readFileSync(out, 'utf8')) } catch {}
      fs.rmSync(path.dirname(out), { recursive: true, force: true })
      resolve({ code, signal, stdout, stderr, report })
    })
  })
}

async function server () {
  const conns = []
  const srv = net.createServer((s) => { conns.push(s.remotePort); s.on('error', () => {}); s.end() })
  await new Promise((resolve) => srv.listen(0, '127.0.0.2', resolve))
  return { port: srv.address().port, conns, close: () => new Promise((resolve) => srv.close(resolve)) }
}

function gone (pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z'
  } catch {
    return true
  }
}

const unexpected = (r) => r.report.events.filter((e) => !e.allowed)

test('a grandchild that lives a few ms: exec, connect and secret read reported, 20 runs of 20', { skip }, async () => {
  const h = home()
  const srv = await server()
  try {
    for (let i = 0; i < 20; i++) {
      const r = await audit(['--', process.execPath, path.join(FIX, 'grandchild.js')], { env: { HOME: h, KS_PORT: srv.port } })
      assert.equal(r.code, VIOLATION, `run ${i}: ${r.stderr}`)
      const bad = unexpected(r)
      const exec = bad.filter((e) => e.kind === 'exec').map((e) => path.basename(e.file))
      assert.deepEqual(exec.sort(), ['bash', 'cat', 'sh'], `run ${i}`)
      const conn = bad.filter((e) => e.kind === 'connect')
      assert.equal(conn.length, 1, `run ${i}`)
      assert.equal(conn[0].address, '127.0.0.2')
      assert.equal(conn[0].port, srv.port)
      const open = bad.filter((e) => e.kind === 'open')
      assert.equal(open.length, 1, `run ${i}`)
      assert.equal(open[0].path, path.join(h, '.npmrc'))
      assert.equal(open[0].mode, 'read')
      // the connecting and reading processes are grandchildren of the command
      const root = r.report.pid
      const byPid = new Map(r.report.processes.map((p) => [p.pid, p]))
      const sh = bad.find((e) => e.kind === 'exec' && e.file === '/bin/sh')
      assert.equal(sh.ppid, root)
      assert.equal(byPid.get(conn[0].pid).ppid, sh.pid)
      assert.equal(byPid.get(open[0].pid).ppid, sh.pid)
      for (const p of r.report.processes) assert.ok(gone(p.pid), `pid ${p.pid} left behind`)
    }
    await until(() => srv.conns.length === 20)
  } finally {
    await srv.close()
    fs.rmSync(h, { recursive: true, force: true })
  }
})

test('matching --allow-* flags: exit with the command\'s own status', { skip }, async () => {
  const h = home()
  const srv = await server()
  try {
    const r = await audit([
      '--allow-command', 'sh', '--allow-command', 'cat', '--allow-command', 'bash',
      '--allow-host', `127.0.0.2:${srv.port}`, '--allow-path', '~/.npmrc',
      '--', process.execPath, path.join(FIX, 'grandchild.js')
    ], { env: { HOME: h, KS_PORT: srv.port, KS_STATUS: '5' } })
    assert.equal(r.code, 5, r.stderr)
    assert.equal(r.report.unexpected, 0)
    // unix-socket connects are listed, not judged; what a shell makes of them depends on the machine
    // (nscd, sssd, systemd-userdb sockets), so only the judged events are compared
    const judged = r.report.events.filter((e) => (e.kind !== 'exec' || e.pid !== r.report.pid) && e.reason !== 'unix socket')
    assert.deepEqual(judged.map((e) => e.reason).sort(),
      ['allowed command', 'allowed command', 'allowed command', 'allowed host', 'allowed path'])
    // a host allowed on another port does not cover this one
    const r2 = await audit(['--allow-command', 'sh', '--allow-command', 'cat', '--allow-command', 'bash',
      '--allow-host', '127.0.0.2:1', '--allow-path', '~/.npmrc', '--', process.execPath, path.join(FIX, 'grandchild.js')],
    { env: { HOME: h, KS_PORT: srv.port } })
    assert.equal(r2.code, VIOLATION)
    assert.deepEqual(unexpected(r2).map((e) => e.kind), ['connect'])
    await until(() => srv.conns.length === 2)
  } finally {
    await srv.close()
    fs.rmSync(h, { recursive: true, force: true })
  }
})

test('npm install of a local package whose postinstall runs a shell and connects: named', { skip }, async () => {
  const h = home()
  const dir = tmpdir('ks-audit-npm-')
  const srv = await server()
  try {
    fs.mkdirSync(path.join(dir, 'evil'))
    fs.mkdirSync(path.join(dir, 'app'))
    fs.writeFileSync(path.join(dir, 'evil', 'package.json'), JSON.stringify({
      name: 'evil-dep',
      version: '1.0.0',
      scripts: { postinstall: `node -e "require('net').connect(${srv.port},'127.0.0.2').on('connect',function(){this.end()})"` }
    }))
    fs.writeFileSync(path.join(dir, 'app', 'package.json'), JSON.stringify({
      name: 'app', version: '1.0.0', dependencies: { 'evil-dep': 'file:../evil' }
    }))
    const r = await audit(['--', 'npm', 'install', '--offline', '--no-audit', '--no-fund', '--install-links', '--no-update-notifier'],
      { cwd: path.join(dir, 'app'), env: { HOME: h, npm_config_cache: path.join(dir, 'cache') } })
    assert.equal(r.code, VIOLATION, r.stderr)
    const bad = unexpected(r)
    const shell = bad.find((e) => e.kind === 'exec' && path.basename(e.file) === 'sh')
    assert.ok(shell, 'the postinstall shell')
    assert.equal(shell.package, 'evil-dep')
    assert.equal(shell.lifecycle, 'postinstall')
    const conn = bad.find((e) => e.kind === 'connect' && e.address === '127.0.0.2')
    assert.ok(conn, 'the postinstall connect')
    assert.equal(conn.port, srv.port)
    assert.equal(conn.package, 'evil-dep')
    // npm reading ~/.npmrc itself is not unexpected
    const npmrc = r.report.events.filter((e) => e.kind === 'open' && e.path === path.join(h, '.npmrc'))
    assert.ok(npmrc.length >= 1)
    assert.ok(npmrc.every((e) => e.allowed && e.reason === 'package manager'))
    assert.ok(bad.every((e) => e.package === 'evil-dep'), JSON.stringify(bad))
    await until(() => srv.conns.length === 1)
  } finally {
    await srv.close()
    fs.rmSync(h, { recursive: true, force: true })
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('vfork (posix_spawn) children are followed', { skip: skip || (!fs.existsSync('/usr/bin/python3') && 'no /usr/bin/python3') }, async () => {
  const h = home()
  try {
    const code = 'import os; os.waitpid(os.posix_spawn("/bin/cat", ["cat", os.environ["HOME"] + "/.npmrc"], os.environ), 0)'
    const st = spawnSync('strace', ['-f', '-e', 'trace=clone3,clone,vfork', '/usr/bin/python3', '-c', code], { encoding: 'utf8', env: { ...cleanEnv(), HOME: h } })
    if (st.status === 0) assert.match(st.stderr, /CLONE_VFORK|vfork/, 'python posix_spawn uses vfork here')
    const r = await audit(['--', '/usr/bin/python3', '-c', code], { env: { HOME: h } })
    assert.equal(r.code, VIOLATION, r.stderr)
    const bad = unexpected(r)
    assert.deepEqual(bad.map((e) => e.kind).sort(), ['exec', 'open'])
    assert.equal(bad.find((e) => e.kind === 'open').path, path.join(h, '.npmrc'))
    assert.equal(bad.find((e) => e.kind === 'exec').ppid, r.report.pid)
  } finally {
    fs.rmSync(h, { recursive: true, force: true })
  }
})

test('a connect from a worker thread carries the thread id', { skip }, async () => {
  const srv = await server()
  try {
    const r = await audit(['--', process.execPath, path.join(FIX, 'tricks.js'), 'thread'], { env: { KS_PORT: srv.port } })
    assert.equal(r.code, VIOLATION, r.stderr)
    const conn = unexpected(r).filter((e) => e.kind === 'connect')
    assert.equal(conn.length, 1)
    assert.equal(conn[0].pid, r.report.pid)
    assert.notEqual(conn[0].tid, conn[0].pid)
    assert.equal(conn[0].port, srv.port)
    await until(() => srv.conns.length === 1)
  } finally {
    await srv.close()
  }
})

test('UV_USE_IO_URING=1: io_uring is refused, so the read stays visible', { skip }, async () => {
  const h = home()
  try {
    const r = await audit(['--', process.execPath, path.join(FIX, 'tricks.js'), 'uring'], { env: { HOME: h, UV_USE_IO_URING: '1' } })
    assert.equal(r.code, VIOLATION, r.stderr)
    assert.deepEqual(unexpected(r).map((e) => [e.kind, e.path]), [['open', path.join(h, '.npmrc')]])
  } finally {
    fs.rmSync(h, { recursive: true, force: true })
  }
})

test('--strict catches a symlink to a secret; without it the harmless name passes', { skip }, async () => {
  const h = home()
  const link = path.join(tmpdir('ks-audit-link-'), 'harmless.txt')
  fs.symlinkSync(path.join(h, '.npmrc'), link)
  try {
    const plain = await audit(['--', process.execPath, path.join(FIX, 'tricks.js'), 'symlink'], { env: { HOME: h, KS_LINK: link } })
    assert.equal(plain.code, 0, plain.stderr)
    const strict = await audit(['--strict', '--', process.execPath, path.join(FIX, 'tricks.js'), 'symlink'], { env: { HOME: h, KS_LINK: link } })
    assert.equal(strict.code, VIOLATION, strict.stderr)
    const open = unexpected(strict)
    assert.equal(open.length, 1)
    assert.equal(open[0].path, link)
    assert.equal(open[0].target, fs.realpathSync(link))
    assert.equal(open[0].evidence, 'fd-link')
  } finally {
    fs.rmSync(h, { recursive: true, force: true })
    fs.rmSync(path.dirname(link), { recursive: true, force: true })
  }
})

test('SIGTERM to audit is forwarded to the command', { skip }, async () => {
  const r = await audit(['--', process.execPath, path.join(FIX, 'tricks.js'), 'term'], {
    onSpawn: (child) => child.stdout.on('data', (d) => { if (String(d).includes('ready')) child.kill('SIGTERM') })
  })
  assert.equal(r.signal, null)
  assert.equal(r.code, 7, r.stderr)
  assert.equal(r.report.status, 7)
})

test('SIGKILL of audit leaves no tracee behind', { skip }, async () => {
  let pids = null
  const r = await audit(['--', process.execPath, path.join(FIX, 'tricks.js'), 'sleeper'], {
    onSpawn: (child) => child.stdout.on('data', (d) => {
      pids = String(d).trim().split(' ').map(Number)
      child.kill('SIGKILL')
    })
  })
  assert.equal(r.signal, 'SIGKILL')
  assert.equal(pids.length, 2)
  await until(() => pids.every(gone), 5000)
})

test('bad input: no command, not found, not executable, crash, killed: documented codes', { skip }, async () => {
  const none = await audit([], { json: false })
  assert.equal(none.code, 2)
  assert.match(none.stderr, /no command given/)
  const missing = await audit(['--', 'ks-no-such-command-xyz'], { json: false })
  assert.equal(missing.code, 127)
  assert.match(missing.stderr, /ks-no-such-command-xyz: command not found/)
  const notExec = await audit(['--', '/etc/hostname'], { json: false })
  assert.equal(notExec.code, 126)
  const bad = await audit(['--bogus', '--', 'true'], { json: false })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /unknown option '--bogus'/)
  const crash = await audit(['--', '/bin/sh', '-c', 'kill -SEGV $$'])
  assert.equal(crash.code, 128 + 11)
  assert.equal(crash.report.signalName, 'SIGSEGV')
  assert.match(crash.stderr, /killed by SIGSEGV/)
  const killed = await audit(['--', '/bin/sh', '-c', 'kill -KILL $$'])
  assert.equal(killed.code, 128 + 9)
  for (const p of killed.report.processes) assert.ok(gone(p.pid), `pid ${p.pid} left behind`)
  const ok = await audit(['--', '/bin/sh', '-c', 'exit 3'])
  assert.equal(ok.code, 3)
  assert.equal(ok.report.unexpected, 0)
})

test('a process that outlives the command is still followed to its end', { skip }, async () => {
  const h = home()
  try {
    const r = await audit(['--', '/bin/sh', '-c', '(sleep 0.2; cat "$HOME/.npmrc" >/dev/null) & exit 4'], { env: { HOME: h } })
    assert.equal(r.code, VIOLATION, r.stderr)
    assert.equal(r.report.status, 4)
    assert.ok(unexpected(r).some((e) => e.kind === 'open' && e.path === path.join(h, '.npmrc')))
    for (const p of r.report.processes) assert.ok(gone(p.pid), `pid ${p.pid} left behind`)
  } finally {
    fs.rmSync(h, { recursive: true, force: true })
  }
})

test('no root needed: as an unprivileged user the tree is still traced', { skip: skip || (process.getuid() !== 0 ? 'already unprivileged (every other test proves it)' : (!hasTool('setpriv') && 'no setpriv')) }, (t) => {
  const nobody = forNobody()
  if (nobody.skip) { t.skip(nobody.skip); return }
  t.after(nobody.remove)
  const dir = tmpdir('ks-audit-nobody-')
  fs.chmodSync(dir, 0o777)
  try {
    const out = path.join(dir, 'r.json')
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', nobody.node, nobody.bin, 'audit', '--json', '--output', out,
      '--', '/bin/sh', '-c', 'echo x > "$HOME/.npmrc"; id -u'], { env: { ...cleanEnv(), HOME: dir }, encoding: 'utf8' })
    assert.equal(r.status, VIOLATION, r.stderr)
    assert.equal(r.stdout.trim(), '65534')
    const report = JSON.parse(fs.readFileSync(out, 'utf8'))
    assert.ok(report.events.some((e) => !e.allowed && e.kind === 'open' && e.path === path.join(dir, '.npmrc') && e.mode === 'write+create'))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('requiring kernelscope starts no tracer thread', { skip: skip || (!hasTool('true') && 'no true') }, () => {
  const tasks = fs.readdirSync('/proc/self/task').map((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim())
  assert.ok(!tasks.some((c) => c.startsWith('kernelscope-aud')), tasks.join())
})
