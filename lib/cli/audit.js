'use strict'
// `kernelscope audit [--allow-…] -- <command…>`: runs a command under seccomp + ptrace
// (lib/probes/audit.js, src/audit/) and reports every exec, outbound connect and sensitive
// open in its process tree; exits with the command's status unless something unexpected
// happened. Exit codes are documented in `usage` and docs/audit.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const dns = require('node:dns')
const { startAudit } = require('../probes/audit')
const policy = require('../sentinel/policy')

const EXIT_USAGE = 2
const EXIT_VIOLATION = 90
const EXIT_SETUP = 91
const EXIT_NOT_EXECUTABLE = 126
const EXIT_NOT_FOUND = 127

const summary = 'run a command and report its execs, outbound connects and secret reads (ptrace + seccomp)'

const usage = `usage: kernelscope audit [options] -- <command> [args…]

Runs <command> with every process it starts traced (seccomp-bpf + ptrace, no root needed) and
reports each exec, each outbound connect (and sendto/sendmsg with a destination) and each open
of a sensitive path (~/.ssh/*, ~/.npmrc, ~/.aws/*, ~/.config/gcloud/*, ~/.docker/config.json,
.env files, /etc/shadow, …).

options:
  --allow-host H       expected destination: an address, a name (resolved now), addr:port,
                       [v6]:port or a subnet (10.0.0.0/8); repeatable
  --allow-command C    expected program: a name (sh, git) or an absolute path; repeatable
  --allow-path P       expected sensitive path (a file, or a directory and what is below); ~ is
                       $HOME; repeatable
  --strict             also follow every open to its end and check what the descriptor points
                       at (catches symlinks to secrets; slower)
  --json               print the report as JSON (to stdout; the table goes to stderr)
  --output FILE        write the report to FILE instead
  -h, --help           this text

Not counted as unexpected: the command's own exec(s) in its first process; everything npm,
npx, pnpm or yarn does itself outside a lifecycle script (reading .npmrc, the registry);
connects to unix sockets (listed, not judged). Events inside an install script's process tree
name the package and script (npm_package_name, npm_lifecycle_event).

exit codes:
  <status>  the command's own exit status, when nothing unexpected happened
  ${EXIT_VIOLATION}        something unexpected happened (the report says what)
  128+n     the command was killed by signal n (and nothing unexpected happened)
  ${EXIT_USAGE}         usage error (no command, unknown option)
  ${EXIT_SETUP}        setup failed (ptrace or seccomp refused, tracer error)
  ${EXIT_NOT_EXECUTABLE}       the command was found but could not be executed
  ${EXIT_NOT_FOUND}       the command was not found`

const PACKAGE_MANAGER = /^(npm|npx|pnpm|pnpx|yarn|yarnpkg|corepack|bun)(-cli)?(\.c?js)?$/

class UsageError extends Error {}

function parseArgs (argv) {
  const opts = { hosts: [], commands: [], paths: [], json: false, strict: false, output: null, command: [], help: false }
  let i = 0
  const value = (name) => {
    if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`)
    return argv[++i]
  }
  for (; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      opts.command = argv.slice(i + 1)
      return opts
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1
    const name = eq > 0 ? a.slice(0, eq) : a
    const inline = eq > 0 ? a.slice(eq + 1) : undefined
    const take = () => (inline !== undefined ? inline : value(name))
    switch (name) {
      case '--allow-host': opts.hosts.push(take()); break
      case '--allow-command': opts.commands.push(take()); break
      case '--allow-path': opts.paths.push(take()); break
      case '--output': opts.output = take(); break
      case '--json': opts.json = true; break
      case '--strict': opts.strict = true; break
      case '-h': case '--help': opts.help = true; break
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`)
        opts.command = argv.slice(i)
        return opts
    }
  }
  return opts
}

// The PATH search execvp would do, done here so "not found" is a clear message, not a code.
function resolveCommand (cmd, env) {
  const check = (p) => {
    let st
    try { st = fs.statSync(p) } catch { return null }
    if (st.isDirectory()) return { path: p, error: 'is a directory' }
    try { fs.accessSync(p, fs.constants.X_OK) } catch { return { path: p, error: 'permission denied' } }
    return { path: p, error: null }
  }
  if (cmd.includes('/')) {
    const p = path.resolve(cmd)
    return check(p) || { path: p, error: 'not found' }
  }
  let denied = null
  for (const dir of String(env.PATH || '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const r = check(path.join(dir || '.', cmd))
    if (r && r.error === null) return r
    if (r && !denied) denied = r
  }
  return denied || { path: cmd, error: 'not found' }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
// Bytes from the kernel as text: UTF-8 when they are, else each stray byte as \xNN.
function text (b) {
  if (b === null || b === undefined) return null
  try {
    return utf8.decode(b)
  } catch {
    let out = ''
    for (const c of Buffer.from(b).toString('latin1')) {
      const code = c.charCodeAt(0)
      out += code >= 0x80 ? '\\x' + code.toString(16).padStart(2, '0') : c
    }
    return out
  }
}

async function hostRules (specs) {
  const rules = []
  for (const spec of specs) {
    const r = policy.parseHost(spec)
    if (!r) throw new UsageError(`--allow-host: cannot parse '${spec}'`)
    if (!r.subnet && !require('node:net').isIP(r.host)) {
      try {
        r.addresses = (await dns.promises.lookup(r.host, { all: true })).map((a) => a.address)
      } catch (err) {
        throw new UsageError(`--allow-host: cannot resolve '${r.host}' (${err.code || err.message})`)
      }
    }
    rules.push(r)
  }
  return rules
}

const OPEN_ACCMODE = 3
function openMode (flags) {
  if (flags === null || flags === undefined) return null
  const acc = flags & OPEN_ACCMODE
  const mode = acc === 0 ? 'read' : acc === 1 ? 'write' : 'read-write'
  return flags & 0o100 ? mode + '+create' : mode
}

// Events from the tracer, judged: { …event, allowed, reason, package, lifecycle }.
function judge (outcome, rootPid, rules, home) {
  // audit itself may run inside an npm script ("audit": "kernelscope audit -- npm ci"): that
  // script's name is in every process's environment and says nothing about the command's tree
  const outer = [process.env.npm_package_name ?? null, process.env.npm_lifecycle_event ?? null]
  const procs = new Map()
  for (const p of outcome.processes) {
    let lifecycle = text(p.lifecycle)
    let pkg = text(p.package)
    if (lifecycle === outer[1] && pkg === outer[0]) {
      lifecycle = null
      pkg = null
    }
    procs.set(p.pid, {
      pid: p.pid,
      ppid: p.ppid ?? null,
      argv: p.argv.map(text),
      exe: text(p.exe),
      package: pkg,
      lifecycle,
      startMs: p.startMs,
      endMs: p.endMs ?? null,
      status: p.status ?? null,
      signal: p.signal ?? null
    })
  }
  const isPackageManager = (proc) => proc !== undefined && proc.lifecycle === null &&
    proc.argv.slice(0, 2).some((a) => PACKAGE_MANAGER.test(path.basename(a)))
  const events = outcome.events.map((e) => {
    const proc = procs.get(e.pid)
    const ev = {
      kind: e.kind,
      syscall: e.syscall,
      pid: e.pid,
      tid: e.tid,
      ppid: proc ? proc.ppid : null,
      timeMs: Math.round(e.timeMs * 1000) / 1000,
      evidence: e.evidence,
      package: proc ? proc.package : null,
      lifecycle: proc ? proc.lifecycle : null,
      process: proc ? proc.argv.slice(0, 3) : null
    }
    if (e.kind === 'exec') {
      Object.assign(ev, { file: text(e.path), argv: (e.argv || []).map(text), exe: text(e.exe), cwd: text(e.cwd) })
      if (e.formerTid !== undefined && e.formerTid !== null) ev.formerTid = e.formerTid
    } else if (e.kind === 'connect') {
      Object.assign(ev, { family: e.family, address: text(e.address), port: e.port ?? null })
      if (e.abstractSocket) ev.abstract = true
    } else {
      Object.assign(ev, { path: text(e.path), requested: text(e.rawPath), mode: openMode(e.flags) })
      if (e.target) ev.target = text(e.target)
      if (e.result !== undefined && e.result !== null) ev.result = e.result
    }
    let reason = null
    if (e.kind === 'exec' && e.pid === rootPid) reason = 'the command'
    else if (e.kind === 'exec' && policy.commandAllowed(rules.commands, ev)) reason = 'allowed command'
    else if (e.kind === 'connect' && e.family === 'unix') reason = 'unix socket'
    else if (e.kind === 'connect' && policy.hostAllowed(rules.hosts, ev)) reason = 'allowed host'
    else if (e.kind === 'open' && (policy.pathAllowed(rules.paths, ev.path) || (ev.target && policy.pathAllowed(rules.paths, ev.target)))) reason = 'allowed path'
    else if (isPackageManager(proc)) reason = 'package manager'
    ev.allowed = reason !== null
    ev.reason = reason
    return ev
  })
  return { events, processes: [...procs.values()] }
}

function describe (ev) {
  if (ev.kind === 'exec') return (ev.argv.length ? ev.argv : [ev.file]).map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')
  if (ev.kind === 'connect') {
    if (ev.family === 'unix') return `unix:${ev.abstract ? '@' : ''}${ev.address}`
    const host = ev.family === 'inet6' && ev.address.includes(':') ? `[${ev.address}]` : ev.address
    return `${host}:${ev.port}${ev.syscall === 'connect' ? '' : ` (${ev.syscall})`}`
  }
  return `${ev.path}${ev.target && ev.target !== ev.path ? ` -> ${ev.target}` : ''}${ev.mode ? ` (${ev.mode})` : ''}`
}

function table (report) {
  const rows = report.events.map((ev) => [
    ev.allowed ? 'ok' : 'UNEXPECTED',
    ev.kind,
    String(ev.pid),
    ev.process ? path.basename(ev.process[0] || '?') + (ev.process[1] ? ' ' + path.basename(ev.process[1]) : '') : '?',
    describe(ev) + (ev.lifecycle ? `  [${ev.lifecycle} of ${ev.package || '?'}]` : '') + (ev.allowed && ev.reason !== 'the command' ? `  (${ev.reason})` : '')
  ])
  const head = ['verdict', 'kind', 'pid', 'process', 'what']
  const widths = head.map((h, i) => Math.min(24, Math.max(h.length, ...rows.map((r) => r[i].length))))
  const line = (r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]) : c)).join('  ')
  const out = [line(head), ...rows.map(line)]
  const n = report.unexpected
  const ended = report.signal ? `killed by ${report.signalName}` : `exit status ${report.status}`
  out.push('', `kernelscope audit: ${report.command.join(' ')}: ${ended}; ${report.processes.length} process(es), ` +
    `${report.events.length} event(s), ${n} unexpected; exit ${report.exitCode}`)
  if (report.dropped) out.push(`(${report.dropped} events beyond the limit were not kept)`)
  return out.join('\n') + '\n'
}

function signalName (n) {
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] || `signal ${n}`
}

async function main (argv) {
  let opts
  try {
    opts = parseArgs(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`kernelscope audit: ${err.message}\n${usage}\n`)
    return EXIT_USAGE
  }
  if (opts.help) {
    process.stdout.write(usage + '\n')
    return 0
  }
  if (opts.command.length === 0) {
    process.stderr.write('kernelscope audit: no command given\nusage: kernelscope audit [options] -- <command> [args…]  (kernelscope audit --help)\n')
    return EXIT_USAGE
  }
  const home = process.env.HOME || os.homedir()
  let rules
  try {
    rules = {
      hosts: await hostRules(opts.hosts),
      commands: opts.commands.map((c) => (c.includes('/') ? path.resolve(policy.expandHome(c, home)) : c)),
      paths: opts.paths.map((p) => path.resolve(policy.expandHome(p, home)))
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`kernelscope audit: ${err.message}\n`)
    return EXIT_USAGE
  }
  const env = process.env
  const found = resolveCommand(opts.command[0], env)
  if (found.error === 'not found') {
    process.stderr.write(`kernelscope audit: ${opts.command[0]}: command not found\n`)
    return EXIT_NOT_FOUND
  }
  if (found.error) {
    process.stderr.write(`kernelscope audit: ${found.path}: ${found.error}\n`)
    return EXIT_NOT_EXECUTABLE
  }

  let run
  try {
    run = startAudit({
      file: found.path,
      argv: opts.command,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      strict: opts.strict,
      sensitive: policy.sensitivePaths(home)
    })
  } catch (err) {
    const hint = err.code === 'EPERM' ? ' (ptrace is refused here: kernel.yama.ptrace_scope, a container seccomp profile or a tracer already attached)' : ''
    process.stderr.write(`kernelscope audit: cannot start the tracer: ${err.message}${hint}\n`)
    return EXIT_SETUP
  }

  // Forward what is sent to audit itself; a terminal's ^C already reached the command (same
  // process group), forward() sees that and does not send it twice.
  const forwarded = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']
  const onSignal = (name) => { run.forward(os.constants.signals[name]) }
  for (const s of forwarded) process.on(s, onSignal)
  let outcome
  try {
    outcome = await run.outcome
  } finally {
    for (const s of forwarded) process.removeListener(s, onSignal)
  }

  if (outcome.error) {
    process.stderr.write(`kernelscope audit: tracer failed: ${outcome.error}\n`)
    return EXIT_SETUP
  }
  if (outcome.failedStage === 'exec') {
    const code = require('node:util').getSystemErrorName(-outcome.failedErrno)
    process.stderr.write(`kernelscope audit: ${found.path}: cannot execute (${code})\n`)
    return outcome.failedErrno === 2 ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE
  }
  if (outcome.failedStage) {
    const code = require('node:util').getSystemErrorName(-outcome.failedErrno)
    process.stderr.write(`kernelscope audit: setup failed: ${outcome.failedStage} refused (${code})\n`)
    return EXIT_SETUP
  }

  const judged = judge(outcome, run.pid, rules, home)
  const unexpected = judged.events.filter((e) => !e.allowed).length
  let exitCode
  if (unexpected > 0) exitCode = EXIT_VIOLATION
  else if (outcome.signal) exitCode = 128 + outcome.signal
  else exitCode = outcome.status ?? 0
  const report = {
    version: 1,
    command: opts.command,
    pid: run.pid,
    status: outcome.status ?? null,
    signal: outcome.signal ?? null,
    signalName: outcome.signal ? signalName(outcome.signal) : null,
    coreDumped: outcome.coreDumped,
    exitCode,
    unexpected,
    strict: opts.strict,
    elapsedMs: Math.round(outcome.elapsedMs * 10) / 10,
    stops: outcome.stops,
    dropped: outcome.dropped,
    events: judged.events,
    processes: judged.processes
  }
  const body = opts.json ? JSON.stringify(report, null, 2) + '\n' : table(report)
  if (opts.output) fs.writeFileSync(opts.output, body)
  else if (opts.json) process.stdout.write(body)
  else process.stderr.write(body)
  if (opts.json || opts.output) {
    if (unexpected > 0) process.stderr.write(`kernelscope audit: ${unexpected} unexpected event(s); exit ${exitCode}\n`)
  }
  if (outcome.signal) {
    process.stderr.write(`kernelscope audit: the command was killed by ${report.signalName}${outcome.coreDumped ? ' (core dumped)' : ''}\n`)
  }
  return exitCode
}

module.exports = { summary, usage, main, EXIT_VIOLATION, EXIT_SETUP, EXIT_NOT_FOUND, EXIT_NOT_EXECUTABLE }
