// The monitoring bot of the README (`npm run demo`, `kernelscope demo`): 22 checks at once
// against local services that are slow in the kernel, each in ks.explain(). The checks are in
// lib/cli/demo/bot.js, the services in lib/cli/demo/services.js. `node examples/bot.js --json`
// prints every report.
'use strict'
const { main } = require('../lib/cli/demo')

main(process.argv.slice(2)).then((code) => { process.exitCode = code })
