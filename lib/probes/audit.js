'use strict'
// The tracer behind `kernelscope audit` (src/audit/): start a command under seccomp + ptrace in
// a dedicated native thread, poll for its outcome, forward signals to it. Only the audit CLI
// calls this; requiring kernelscope never starts a tracer.

const { native, call } = require('../native')

const POLL_MS = 5

// options: { file, argv, env, strict, sensitive: { files, dirs, names, namePrefixes }, maxEvents }
// Resolves { pid, outcome: Promise, forward(signal) } once the child is seized and running.
function startAudit (options) {
  const session = call(() => native().auditStart({
    file: options.file,
    argv: options.argv,
    env: options.env,
    strict: Boolean(options.strict),
    sensitiveFiles: options.sensitive.files,
    sensitiveDirs: options.sensitive.dirs,
    sensitiveNames: options.sensitive.names,
    sensitiveNamePrefixes: options.sensitive.namePrefixes,
    maxEvents: options.maxEvents
  }))
  const outcome = new Promise((resolve) => {
    const timer = setInterval(() => {
      const r = session.poll()
      if (r) {
        clearInterval(timer)
        resolve(r)
      }
    }, POLL_MS)
  })
  return {
    pid: session.pid,
    outcome,
    forward: (signal) => session.forward(signal)
  }
}

module.exports = { startAudit }
