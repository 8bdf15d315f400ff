'use strict'
// Loads the native addon. KERNELSCOPE_BINARY points the loader at a specific .node file (for
// tests and custom builds); otherwise the napi-rs generated loader (native.js) picks the local
// build or the per-platform package. Failure is not thrown here: `supported` becomes false and
// every call throws ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM with the reason.

const path = require('node:path')
const { unsupported, fromNative } = require('./errors')

/** The napi-rs platform name (the suffix of the kernelscope-<name> prebuilt packages). */
function platformName () {
  // glibc reports its version in the process report; musl does not
  const header = process.report && process.report.getReport().header
  return `linux-${process.arch}-${header && !header.glibcVersionRuntime ? 'musl' : 'gnu'}`
}

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
    // the napi-rs loader's own text for "no binary found" blames an npm bug: not the cause here
    const first = String(err && err.message).split('\n')[0]
    const why = first.startsWith('Cannot find native binding') ? 'no kernelscope binary for this platform' : first
    loadError = `the native addon did not load (${why}): ` +
      `no prebuilt package kernelscope-${platformName()} is installed and no source build loads; ` +
      'install a Rust toolchain with cargo (https://rustup.rs) and run `npm rebuild kernelscope` ' +
      '(in a clone of the repository: `npm run build`)'
  }
}

function native () {
  if (binding === null) throw unsupported(loadError)
  return binding
}

/**
 * `fn(...args)` (an addon function, or a thunk calling one) with the addon's tagged errors
 * turned into their public form (lib/errors.js fromNative): the one way lib/ calls the addon.
 */
function call (fn, ...args) {
  try {
    return fn(...args)
  } catch (err) {
    throw fromNative(err)
  }
}

/** `call` for an addon function returning a Promise: a throw becomes a rejection, and both
 * are in their public form. */
function callAsync (fn, ...args) {
  let promise
  try {
    promise = fn(...args)
  } catch (err) {
    return Promise.reject(fromNative(err))
  }
  return promise.then(null, (err) => { throw fromNative(err) })
}

module.exports = { native, call, callAsync, supported: binding !== null, loadError }
