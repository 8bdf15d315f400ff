'use strict'
// `kernelscope inspect <pid>`: one look at any process the user may read, from outside, with
// nothing injected: the process, its threads and the syscall each sits in, its descriptors by
// type and its sockets. A table fitted to the terminal (80 columns when not one), or --json.

const { EXIT, UsageError, parseArgs, parsePid, failure, readProcess, readProcessJson, socketText, countByType, bytes, fit, table, ms, duration } = require('./common')

const summary = 'one look at a process: threads and their syscalls, descriptors, sockets'
const usage = `usage: kernelscope inspect <pid> [--json] [--width N]

Reads /proc/<pid> of any process you may read (yours, or any as root), Node or not; nothing is
injected into it.

  <pid>        the process
  --json       one JSON object: { process, threads, descriptors: { count, byType, entries } }
  --width N    table width in columns (default: the terminal's, 80 when not a terminal)
  -h, --help   this text

exit codes: 0 ok, 2 usage, 3 no such process or no permission`

function toJson ({ info, threads, fds }) {
  return {
    process: info,
    threads,
    descriptors: { count: fds.length, byType: countByType(fds), entries: fds }
  }
}

function render ({ info, threads, fds }, width) {
  const out = []
  const line = (s = '') => out.push(fit(s, width))
  const cmd = info.cmdline.length ? info.cmdline.join(' ') : `[${info.comm}]`
  line(`PROCESS ${info.pid}  ${info.comm}  state ${info.state}  ppid ${info.ppid}  uid ${info.uid ?? '-'}`)
  line(`  cmd     ${cmd}`)
  if (info.exe) line(`  exe     ${info.exe}`)
  line(`  memory  rss ${bytes(info.rssBytes)}  peak ${bytes(info.peakRssBytes)}  virtual ${bytes(info.virtualBytes)}`)
  line(`  cpu     user ${ms(info.userMs)}  system ${ms(info.systemMs)}  up ${duration(info.elapsedSeconds)}  switches ${info.voluntarySwitches ?? '-'}/${info.involuntarySwitches ?? '-'} (vol/invol)`)
  const lim = info.limits
  const pair = (p) => p ? `${p.soft === Infinity ? 'unlimited' : p.soft}/${p.hard === Infinity ? 'unlimited' : p.hard}` : '-'
  if (lim) line(`  limits  open files ${pair(lim.openFiles)}  processes ${pair(lim.processes)}`)
  if (info.readCalls !== null) line(`  io      ${info.readCalls} read / ${info.writeCalls} write syscalls, ${bytes(info.readChars)} / ${bytes(info.writeChars)}`)
  line()
  line(`THREADS ${threads.length}`)
  const trows = threads.map((t) => [t.tid, t.name, t.role, t.state, t.syscall ? t.syscall.name || `#${t.syscall.nr}` : (t.syscallError ? '?' : '-'), t.wchan || '-',
    t.syscall ? t.syscall.target || '' : ''])
  out.push(...table(['TID', 'NAME', 'ROLE', 'STATE', 'SYSCALL', 'WCHAN', 'TARGET'], trows, width, [7, 15, 12, 10, 14, 16]))
  line()
  const by = countByType(fds)
  line(`DESCRIPTORS ${fds.length}  ` + Object.keys(by).sort((a, b) => by[b] - by[a]).map((k) => `${k} ${by[k]}`).join('  '))
  const sockets = fds.filter((e) => e.type === 'socket')
  if (sockets.length) {
    line()
    line(`SOCKETS ${sockets.length}`)
    const srows = sockets.map((e) => {
      const s = e.socket
      if (!s) return [e.fd, '-', '-', '-', '-', e.socketError || e.target]
      return [e.fd, s.protocol === 'tcp' || s.protocol === 'udp' ? s.protocol + (s.family === 'IPv6' ? '6' : '') : 'unix/' + s.protocol,
        s.state, s.sendQueueBytes ?? '-', s.recvQueueBytes ?? '-', socketText(s)]
    })
    out.push(...table(['FD', 'PROTO', 'STATE', 'SEND-Q', 'RECV-Q', 'ENDPOINTS'], srows, width, [6, 12, 11, 8, 8]))
  }
  const others = fds.filter((e) => e.type !== 'socket')
  if (others.length) {
    line()
    line('OTHER DESCRIPTORS' + (others.length > 40 ? ` (first 40 of ${others.length}; --json for all)` : ''))
    out.push(...table(['FD', 'TYPE', 'TARGET'], others.slice(0, 40).map((e) => [e.fd, e.type, e.target || e.error]), width, [6, 12]))
  }
  return out.join('\n') + '\n'
}

async function main (argv) {
  let args
  let pid
  try {
    args = parseArgs(argv, { json: 'boolean', width: 'number', help: 'boolean' })
    if (args.flags.help) { process.stdout.write(usage + '\n'); return EXIT.OK }
    if (args.positionals.length > 1) throw new UsageError(`unexpected argument '${args.positionals[1]}'`)
    pid = parsePid(args.positionals[0])
    if (args.flags.width !== undefined && !(Number.isInteger(args.flags.width) && args.flags.width >= 40)) throw new UsageError('--width must be an integer >= 40')
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`kernelscope inspect: ${err.message}\n${usage.split('\n')[0]}\n(kernelscope inspect --help for more)\n`)
    return EXIT.USAGE
  }
  let data
  try {
    data = args.flags.json ? readProcessJson(pid) : readProcess(pid)
  } catch (err) {
    const f = failure('inspect', pid, err)
    process.stderr.write(f.message + '\n')
    return f.exit
  }
  if (args.flags.json) {
    await writeJson(data)
    return EXIT.OK
  }
  const width = args.flags.width || (process.stdout.isTTY && process.stdout.columns) || 80
  const text = render(data, width)
  await new Promise((resolve) => process.stdout.write(text, resolve))
  return EXIT.OK
}

/**
 * The text of JSON.stringify(toJson(data)) + '\n', with the descriptor entries written as the
 * addon wrote them (a Buffer): 10,000 entries are neither built nor serialized in JS.
 */
function writeJson ({ info, threads, fds }) {
  const head = `{"process":${JSON.stringify(info)},"threads":${JSON.stringify(threads)},` +
    `"descriptors":{"count":${fds.count},"byType":${JSON.stringify(fds.byType)},"entries":`
  process.stdout.write(head)
  process.stdout.write(fds.json)
  return new Promise((resolve) => process.stdout.write('}}\n', resolve))
}

module.exports = { summary, usage, main, render, toJson }
