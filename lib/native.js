'use strict'
// Loads the native addon. KERNELSCOPE_BINARY points the loader at a specific .node file (for
// tests and custom builds); otherwise the napi-rs generated loader (native.js) picks the local
// build or the per-platform package. Failure is not thrown here: `supported` becomes false and
// every call throws ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM with the reason.

const path = require('node:path')
const { unsupported } = require('./errors')

let binding = null
let loadError = null

if (process.platform !== 'linux') {
  loadError = `kernelscope reads Linux /proc and needs Linux; this is ${process.platform}/${process.arch}`
} else {
  try {
    binding = process.env.KERNELSCOPE_BINARY
      ? require(path.resolve(process.env.KERNELSCOPE_BINARY))
      : require('../native.js')
  } catch (err) {
    loadError = `the native addon did not load (${String(err && err.message).split('\n')[0]}); ` +
      'build it with `npm run build` or install the prebuilt package for ' +
      `${process.platform}-${process.arch}`
  }
}

function native () {
  if (binding === null) throw unsupported(loadError)
  return binding
}

module.exports = { native, supported: binding !== null, loadError }
