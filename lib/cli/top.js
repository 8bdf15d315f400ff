'use strict'
// `kernelscope top <pid> [interval]`: a live view of any process the user may read, refreshed in
// place: CPU and syscall rates, threads by state and the syscalls they sit in, descriptors by
// type, socket queues. q or Ctrl-C quits; --json streams one object per interval instead.

const { EXIT, UsageError, parseArgs, parsePid, failure, readProcess, countByType, bytes, fit, table } = require('./common')

const summary = 'live view of a process: rates, threads and syscalls, descriptors, socket queues'
const usage = `usage: kernelscope top <pid> [interval] [--json] [--count N]

Refreshes every interval seconds (default 1, at least 0.1) from /proc/<pid>, nothing injected.
q or Ctrl-C quits.

  --json       one JSON object per interval on stdout (no screen control)
  --count N    stop after N intervals
  -h, --help   this text

exit codes: 0 ok (quit, or --count reached), 2 usage, 3 no such process (or it exited) or no
permission`

const rate = (now, prev, key, dt) => now[key] === null || prev === null || prev[key] === null || !(dt > 0) ? null : ((now[key] - prev[key]) * 1000) / dt

function frame (data, prev, atMs) {
  const { info, threads, fds } = data
  const dt = prev ? atMs - prev.atMs : null
  const cpu = prev && dt > 0 ? ((info.userMs + info.systemMs - prev.info.userMs - prev.info.systemMs) * 100) / dt : null
  const byState = {}
  const byRole = {}
  const syscalls = {}
  for (const t of threads) {
    byState[t.state] = (byState[t.state] || 0) + 1
    byRole[t.role] = (byRole[t.role] || 0) + 1
    const name = t.syscall ? t.syscall.name || `#${t.syscall.nr}` : (t.syscallError ? 'unknown' : 'running/none')
    syscalls[name] = (syscalls[name] || 0) + 1
  }
  let send = 0
  let recv = 0
  let sockets = 0
  for (const e of fds) {
    if (e.type !== 'socket') continue
    sockets++
    if (e.socket && e.socket.state !== 'listen') {
      send += e.socket.sendQueueBytes || 0
      recv += e.socket.recvQueueBytes || 0
    }
  }
  const p = prev && prev.info
  return {
    pid: info.pid,
    atMs,
    intervalMs: dt,
    command: info.cmdline.length ? info.cmdline.join(' ') : `[${info.comm}]`,
    state: info.state,
    cpuPercent: cpu,
    rssBytes: info.rssBytes,
    readCallsPerSec: rate(info, p || null, 'readCalls', dt),
    writeCallsPerSec: rate(info, p || null, 'writeCalls', dt),
    voluntarySwitchesPerSec: rate(info, p || null, 'voluntarySwitches', dt),
    involuntarySwitchesPerSec: rate(info, p || null, 'involuntarySwitches', dt),
    threads: {
      count: threads.length,
      byState,
      byRole,
      syscalls,
      list: threads.map((t) => ({ tid: t.tid, name: t.name, role: t.role, state: t.state, syscall: t.syscall ? t.syscall.name : null, syscallError: t.syscallError, target: t.syscall ? t.syscall.target : null, wchan: t.wchan }))
    },
    descriptors: { count: fds.length, byType: countByType(fds) },
    sockets: { count: sockets, sendQueueBytes: send, recvQueueBytes: recv }
  }
}

const num = (x, d = 0) => (x === null || x === undefined ? '-' : x.toFixed(d))
const pairs = (o) => Object.keys(o).sort((a, b) => o[b] - o[a]).map((k) => `${k} ${o[k]}`).join('  ')

function screen (f, width, height, intervalS, n) {
  const out = []
  const line = (s = '') => out.push(fit(s, width))
  line(`kernelscope top ${f.pid}  every ${intervalS}s  refresh ${n}  (q quits)  ${new Date().toISOString().slice(11, 19)}`)
  line(`  ${f.command}`)
  line(`  cpu ${num(f.cpuPercent, 1)}%  rss ${bytes(f.rssBytes)}  state ${f.state}`)
  line(`  syscalls/s read ${num(f.readCallsPerSec)}  write ${num(f.writeCallsPerSec)}  switches/s vol ${num(f.voluntarySwitchesPerSec)}  invol ${num(f.involuntarySwitchesPerSec)}`)
  line(`  fds ${f.descriptors.count}: ${pairs(f.descriptors.byType)}`)
  line(`  sockets ${f.sockets.count}  send-q ${bytes(f.sockets.sendQueueBytes)}  recv-q ${bytes(f.sockets.recvQueueBytes)}`)
  line(`  threads ${f.threads.count}: ${pairs(f.threads.byState)}`)
  line(`  in syscalls: ${pairs(f.threads.syscalls)}`)
  line()
  const rows = f.threads.list.map((t) => [t.tid, t.name, t.role, t.state, t.syscall || (t.syscallError ? '?' : '-'), t.target || t.wchan || ''])
  const lines = table(['TID', 'NAME', 'ROLE', 'STATE', 'SYSCALL', 'TARGET/WCHAN'], rows, width, [7, 15, 12, 10, 14])
  const room = Math.max(2, height - out.length - 1)
  out.push(...lines.slice(0, room))
  if (lines.length > room) out[out.length - 1] = fit(`… ${lines.length - room + 1} more threads`, width)
  return out
}

function main (argv) {
  let pid
  let intervalS = 1
  let flags
  try {
    const args = parseArgs(argv, { json: 'boolean', count: 'number', help: 'boolean' })
    flags = args.flags
    if (flags.help) { process.stdout.write(usage + '\n'); return Promise.resolve(EXIT.OK) }
    if (args.positionals.length > 2) throw new UsageError(`unexpected argument '${args.positionals[2]}'`)
    pid = parsePid(args.positionals[0])
    if (args.positionals[1] !== undefined) {
      const s = args.positionals[1]
      if (!/^\d+(\.\d+)?$/.test(s) || !(Number(s) >= 0.1) || Number(s) > 86400) throw new UsageError(`interval '${s}' must be a number of seconds >= 0.1`)
      intervalS = Number(s)
    }
    if (flags.count !== undefined && !(Number.isInteger(flags.count) && flags.count >= 1)) throw new UsageError('--count must be an integer >= 1')
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`kernelscope top: ${err.message}\n${usage.split('\n')[0]}\n(kernelscope top --help for more)\n`)
    return Promise.resolve(EXIT.USAGE)
  }
  const out = process.stdout
  const live = !flags.json && out.isTTY
  return new Promise((resolve) => {
    let prev = null
    let timer = null
    let done = false
    let n = 0
    const stdin = process.stdin
    const raw = live && stdin.isTTY && typeof stdin.setRawMode === 'function'
    const onKey = (buf) => {
      const k = buf.toString('latin1')
      if (k.includes('q') || k.includes('Q') || k.includes('\x03')) finish(EXIT.OK)
    }
    const onSignal = () => finish(EXIT.OK)
    function finish (code, message) {
      if (done) return
      done = true
      clearTimeout(timer)
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
      if (raw) {
        stdin.removeListener('data', onKey)
        stdin.setRawMode(false)
        stdin.pause()
      }
      if (live) out.write('\x1b[?25h\x1b[?1049l')
      if (message) process.stderr.write(message + '\n')
      out.write('', () => resolve(code))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    if (raw) {
      stdin.setRawMode(true)
      stdin.resume()
      stdin.on('data', onKey)
    }
    if (live) out.write('\x1b[?1049h\x1b[?25l')
    const tick = () => {
      if (done) return
      let f
      try {
        const data = readProcess(pid)
        const atMs = performance.now()
        f = frame(data, prev, atMs)
        prev = { atMs, info: data.info }
      } catch (err) {
        let fl
        try {
          fl = failure('top', pid, err)
        } catch (e) {
          fl = { exit: 1, message: `kernelscope top: ${e.message}` }
        }
        if (fl.exit === EXIT.NO_ACCESS && n > 0 && /no such process/.test(fl.message)) fl.message = `kernelscope top: process ${pid} exited`
        return finish(fl.exit, fl.message)
      }
      n++
      if (flags.json) {
        out.write(JSON.stringify(f) + '\n')
      } else if (live) {
        const lines = screen(f, out.columns || 80, out.rows || 24, intervalS, n)
        out.write('\x1b[H\x1b[2J' + lines.join('\r\n'))
      } else {
        out.write(screen(f, 80, 1000, intervalS, n).join('\n') + '\n\n')
      }
      if (flags.count !== undefined && n >= flags.count) return finish(EXIT.OK)
      timer = setTimeout(tick, intervalS * 1000)
    }
    tick()
  })
}

module.exports = { summary, usage, main, frame }
