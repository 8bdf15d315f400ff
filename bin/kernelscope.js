#!/bin/sh
':' // ; case "$1" in inspect|top) unset NODE_EXTRA_CA_CERTS ;; esac; exec node "$0" "$@"
// The `kernelscope` command (lib/cli/main.js).
//
// Run as a program, the two lines above are a shell script; to JavaScript the second is a
// string and a comment. The script starts `node` from PATH on this file, as a
// `#!/usr/bin/env node` line would, except that inspect and top start without
// NODE_EXTRA_CA_CERTS: they make no TLS connection and start no program of the user's, and Node
// 20 parses every certificate of that file before any script runs (the system bundle, which
// some machines set there: 43 of the 71 ms of `node -e 0` on a 2-CPU Xeon, bench/results/cli.md).
// Every other command, and `node bin/kernelscope.js …`, keeps the environment as it is.
require('../lib/cli/main.js')
