'use strict'
// eslint 9 flat config: standard style (neostandard) over every JS file we write; generated and
// installed files are left out. `npm run lint` runs it with cargo fmt and clippy.
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({
    ignores: ['native.js', 'target/**', 'node_modules/**', '**/*.d.ts', '**/*.d.mts'],
    ts: false
  }),
  {
    // the package is CommonJS (a top-level `return` is allowed, `require` is defined)
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' }
  }
]
