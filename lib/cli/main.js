'use strict'
// The `kernelscope` command: dispatches to lib/cli/<command>.js. Each command module exports
// { summary, usage, main(argv) } where main resolves to the exit code. Exit codes shared by
// every command: 0 ok, 2 usage, 3 no permission or no such process (audit adds its own).

const path = require('node:path')

const COMMANDS = ['inspect', 'top', 'run', 'report', 'audit', 'demo']
const EXIT_USAGE = 2

function load (name) {
  return require(path.join(__dirname, name + '.js'))
}

function help (out) {
  const lines = ['usage: kernelscope <command> [options]', '', 'commands:']
  for (const name of COMMANDS) {
    let summary
    try { summary = load(name).summary } catch (err) { summary = `(unavailable: ${err.message.split('\n')[0]})` }
    lines.push(`  ${name.padEnd(9)} ${summary}`)
  }
  lines.push('', 'kernelscope <command> --help for its options; kernelscope --version')
  out.write(lines.join('\n') + '\n')
}

async function cli (argv) {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    help(cmd === undefined ? process.stderr : process.stdout)
    return cmd === undefined ? EXIT_USAGE : 0
  }
  if (cmd === '-v' || cmd === '--version') {
    process.stdout.write(require('../../package.json').version + '\n')
    return 0
  }
  if (!COMMANDS.includes(cmd)) {
    process.stderr.write(`kernelscope: unknown command '${cmd}'\n`)
    help(process.stderr)
    return EXIT_USAGE
  }
  if (cmd === 'inspect' || cmd === 'top') compileCache()
  return load(cmd).main(rest)
}

// Node 22.1+: V8's compiled code of our modules kept on disk (NODE_COMPILE_CACHE, or Node's
// directory under the temporary one) for the next start: about 6% of the CPU of an inspect on
// Node 24 (nothing where the function does not exist). For the commands that start no program
// of the user's: Node passes the setting on to child processes through the environment, which
// is put back as it was.
function compileCache () {
  const mod = require('node:module')
  if (typeof mod.enableCompileCache !== 'function') return
  const had = Object.prototype.hasOwnProperty.call(process.env, 'NODE_COMPILE_CACHE')
  const before = process.env.NODE_COMPILE_CACHE
  try {
    mod.enableCompileCache()
  } catch {}
  if (had) process.env.NODE_COMPILE_CACHE = before
  else delete process.env.NODE_COMPILE_CACHE
}

// a reader that stops reading (`kernelscope inspect <pid> --json | head`) ends the command
// quietly, as a closed pipe ends other commands, not with an unhandled EPIPE and its stack
process.stdout.on('error', (err) => {
  if (err && err.code === 'EPIPE') process.exit(process.exitCode || 0)
  throw err
})

cli(process.argv.slice(2)).then(
  (code) => { process.exitCode = typeof code === 'number' ? code : 0 },
  (err) => {
    process.stderr.write(`kernelscope: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 1
  }
)
